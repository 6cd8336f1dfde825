import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Storage } from '../storage/storage.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { InferencePool } from '../inference/inference-process.js';
import type { JobStore } from './job-store.js';
import { createEmbedProcessor } from './embed-job.js';
import {
  QUEUES,
  type CorrectPayload,
  type CorrectResult,
  type EmbedPayload,
  type EmbedResult,
  type ExpireJobsPayload,
  type RenderPayload,
  type RenderResult,
  type TrackPayload,
  type TrackResult,
} from './payloads.js';
import { createRenderProcessor } from './render-job.js';
import { createCorrectProcessor } from './correct-job.js';
import type { QueueRepository } from './queue.js';
import { expireJobs } from './retention.js';
import { createTrackProcessor, SHUTDOWN } from './track-job.js';
import type { WorkerRegistry } from './worker-registry.js';
import { Workspaces } from './workspace.js';
import { isTerminal } from './record.js';

type TrackQueuePayload = TrackPayload | CorrectPayload | EmbedPayload | RenderPayload;
type TrackQueueResult = TrackResult | CorrectResult | EmbedResult | RenderResult;
type TrackQueueName = 'track' | 'correct' | 'embed' | 'render';
type TrackQueueJob = Job<TrackQueuePayload, TrackQueueResult, TrackQueueName>;

function isEmbedJob(job: TrackQueueJob): job is Job<EmbedPayload, EmbedResult, 'embed'> {
  return job.name === 'embed';
}

function isRenderJob(job: TrackQueueJob): job is Job<RenderPayload, RenderResult, 'render'> {
  return job.name === 'render';
}

function isCorrectJob(job: TrackQueueJob): job is Job<CorrectPayload, CorrectResult, 'correct'> {
  return job.name === 'correct';
}

/**
 * A worker process's job machinery: the BullMQ workers (tracking passes,
 * embedding chunks, corrections and renders, and the retention sweep), the inference children they
 * hand the CPU work to, and
 * the announcement in Redis that tells API processes a model is loaded.
 */

export interface WorkerServiceDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  connection: ConnectionOptions;
  store: JobStore;
  queues: QueueRepository;
  registry: WorkerRegistry;
  /** Environment of the inference children (default: this process's). */
  inferenceEnv?: NodeJS.ProcessEnv;
  storage: Storage;
  redis: Redis;
  redisUrl: string;
}

const ANNOUNCE_EVERY_MS = 5000;
const RETENTION_EVERY_MS = 15 * 60_000;

export class WorkerService {
  readonly id = randomUUID();
  private readonly inference: InferencePool;
  private readonly workspaces: Workspaces;
  private readonly trackWorker: Worker<TrackQueuePayload, TrackQueueResult, TrackQueueName>;
  private readonly maintenanceWorker: Worker<ExpireJobsPayload, Awaited<ReturnType<typeof expireJobs>>, 'expire-jobs'>;
  private announcer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private closing: Promise<void> | undefined;

  constructor(private readonly deps: WorkerServiceDeps) {
    const { config, logger, metrics, connection, store, queues, storage } = deps;
    this.inference = new InferencePool(config.workerConcurrency, { logger, env: deps.inferenceEnv });
    const workspaces = (this.workspaces = new Workspaces(storage, config.dataDir, deps.redis, deps.redisUrl, async (id) => {
      const record = await store.get(id);
      return !record || isTerminal(record.state);
    }));
    const processTrack = createTrackProcessor({ config, store, queues, inference: this.inference, metrics, logger, workspaces });
    const processEmbed = createEmbedProcessor({ config, store, inference: this.inference, metrics, logger, workspaces });
    const processCorrect = createCorrectProcessor({ config, store, queues, inference: this.inference, metrics, logger, workspaces });
    const processRender = createRenderProcessor({ store, metrics, logger, workspaces });
    const processJob = (job: TrackQueueJob, token?: string, signal?: AbortSignal): Promise<TrackQueueResult> => {
      if (isEmbedJob(job)) return processEmbed(job, token, signal);
      if (isRenderJob(job)) return processRender(job, token, signal);
      if (isCorrectJob(job)) return processCorrect(job, token, signal);
      return processTrack(job as Job<TrackPayload, TrackResult, 'track'>, token, signal);
    };
    this.trackWorker = new Worker(QUEUES.track, processJob, {
      connection,
      autorun: false,
      concurrency: config.workerConcurrency,
      name: `${hostname()}:${process.pid}`,
    });
    this.maintenanceWorker = new Worker(
      QUEUES.maintenance,
      async () => expireJobs({ dataDir: config.dataDir, storage, retentionHours: config.retentionHours, store, logger }),
      { connection, autorun: false, concurrency: 1 },
    );
    for (const worker of [this.trackWorker, this.maintenanceWorker]) {
      worker.on('error', (error) => logger.error({ err: error }, 'queue worker error'));
    }
    // Failures outside the processor (a job that stalled too often) still end up in the record.
    this.trackWorker.on('failed', (job, error) => void this.recordStalledFailure(job, error));
  }

  private async recordStalledFailure(job: TrackQueueJob | undefined, error: Error): Promise<void> {
    // A failed chunk is the tracking pass's to make up; a correction and a render record their own.
    if (!job || isEmbedJob(job) || isCorrectJob(job) || isRenderJob(job)) return;
    try {
      if ((await job.getState()) !== 'failed') return;
      await this.deps.store.update(
        job.data.jobId,
        { state: 'failed', error: { code: 'internal', message: 'the job failed on the server; see the server logs' }, finishedAt: Date.now() },
        { only: ['queued', 'running'] },
      );
    } catch (recordError) {
      this.deps.logger.error({ err: recordError, cause: error.message }, 'could not record a failed job');
    }
  }

  /** True when every inference child has its model loaded. */
  get ready(): boolean {
    return this.inference.ready;
  }

  /** Loads the model(s), then starts taking jobs. */
  async start(): Promise<void> {
    const { config, logger, queues } = this.deps;
    await this.announce();
    this.announcer = setInterval(() => void this.announce(), ANNOUNCE_EVERY_MS);
    await this.inference.start();
    await this.announce();
    if (config.retentionHours > 0) await queues.scheduleRetention(RETENTION_EVERY_MS);
    else await queues.unscheduleRetention();
    void this.trackWorker.run().catch((error) => logger.error({ err: error }, 'track worker stopped'));
    void this.maintenanceWorker.run().catch((error) => logger.error({ err: error }, 'maintenance worker stopped'));
    logger.info({ worker: this.id, concurrency: config.workerConcurrency }, 'worker taking jobs');
  }

  private async announce(): Promise<void> {
    try {
      await this.deps.registry.announce(
        { id: this.id, host: hostname(), pid: process.pid, modelLoaded: this.inference.ready, startedAt: this.startedAt },
        ANNOUNCE_EVERY_MS * 3,
      );
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'could not announce the worker');
    }
  }

  /**
   * Stops taking jobs; a running job gets `graceMs` to finish, then it is
   * aborted and handed back to the queue. Idempotent.
   */
  close(graceMs = this.deps.config.shutdownGraceMs): Promise<void> {
    this.closing ??= (async () => {
      const { logger, registry } = this.deps;
      clearInterval(this.announcer);
      const handBack = setTimeout(() => {
        logger.info('shutdown grace period over: handing running jobs back to the queue');
        this.trackWorker.cancelAllJobs(SHUTDOWN);
      }, graceMs);
      await Promise.all([this.trackWorker.close(), this.maintenanceWorker.close()]);
      clearTimeout(handBack);
      await this.inference.close();
      await this.workspaces.close().catch((error) => logger.warn({ err: error }, 'could not remove the scratch directory'));
      await registry.remove(this.id).catch(() => undefined);
    })();
    return this.closing;
  }
}
