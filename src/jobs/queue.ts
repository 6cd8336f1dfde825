import { Queue, type ConnectionOptions } from 'bullmq';
import { chunkCount } from '../inference/embedding-store.js';
import type { Speed } from '../types.js';
import {
  correctJobId,
  embedJobId,
  QUEUES,
  type CorrectPayload,
  type CorrectResult,
  type EmbedPayload,
  type EmbedResult,
  type ExpireJobsPayload,
  type RenderPayload,
  type RenderResult,
  renderJobId,
  type TrackPayload,
  type TrackResult,
  type WebhookPayload,
  type WebhookResult,
  webhookJobId,
} from './payloads.js';

/**
 * BullMQ behind one class: the API enqueues and inspects through it, the
 * worker schedules housekeeping through it. Nothing else imports `Queue`.
 */

export type TrackQueue = Queue<
  TrackPayload | CorrectPayload | EmbedPayload | RenderPayload,
  TrackResult | CorrectResult | EmbedResult | RenderResult,
  'track' | 'correct' | 'embed' | 'render'
>;
export type MaintenanceQueue = Queue<ExpireJobsPayload, unknown, 'expire-jobs'>;
export type WebhookQueue = Queue<WebhookPayload, WebhookResult, 'webhook'>;

export interface QueueRepositoryOptions {
  connection: ConnectionOptions;
  /** Tries per job for failures that are not the input's fault. */
  attempts: number;
  /** First retry delay; doubles each try. */
  backoffMs?: number;
  /** Tries of one webhook delivery, and its first retry delay (doubling). */
  webhooks?: { attempts: number; backoffMs: number };
}

const RETENTION_SCHEDULER = 'expire-jobs';

export class QueueRepository {
  readonly track: TrackQueue;
  readonly maintenance: MaintenanceQueue;
  readonly webhook: WebhookQueue;

  constructor(private readonly options: QueueRepositoryOptions) {
    // The JobStore is the record of every job; BullMQ only keeps recent ones for the dashboard.
    const keep = { removeOnComplete: { age: 7 * 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600, count: 1000 } };
    this.track = new Queue(QUEUES.track, { connection: options.connection, defaultJobOptions: keep });
    this.maintenance = new Queue(QUEUES.maintenance, { connection: options.connection, defaultJobOptions: { ...keep, removeOnComplete: { count: 50 } } });
    // Connection trouble is reported by the callers' failing commands (and /readyz), not as unhandled events.
    this.webhook = new Queue(QUEUES.webhook, { connection: options.connection, defaultJobOptions: keep });
    for (const queue of [this.track, this.maintenance, this.webhook]) queue.on('error', () => undefined);
  }

  /**
   * Enqueues a submission in one atomic step: its tracking job (BullMQ id =
   * the job's UUID, so adding twice is a no-op) and, behind it, one embed job
   * per chunk of frames after the first, for idle workers to encode ahead.
   * Embed jobs are best effort (one attempt): the tracking pass encodes
   * whatever they did not. A `fast` job gets none: its pass encodes only key
   * frames, so helpers encoding every frame would only take workers away.
   */
  async addTrack(payload: TrackPayload, frames: number, speed?: Speed): Promise<void> {
    // Chunk 0 is the tracking pass's own first chunk: helpers start at chunk 1.
    const helpers = speed === 'fast' ? 0 : chunkCount(frames, payload.chunkFrames) - 1;
    const embed = (chunk: number) => ({
      name: 'embed' as const,
      data: { jobId: payload.jobId, input: payload.input, embeddings: payload.embeddings, chunkFrames: payload.chunkFrames, chunk },
      opts: { jobId: embedJobId(payload.jobId, chunk), attempts: 1 },
    });
    await this.track.addBulk([
      {
        name: 'track',
        data: payload,
        opts: { jobId: payload.jobId, attempts: this.options.attempts, backoff: { type: 'exponential', delay: this.options.backoffMs ?? 10_000 } },
      },
      ...Array.from({ length: helpers }, (_, i) => embed(i + 1)),
    ]);
  }

  /** Enqueues correction K of a job (BullMQ id per revision, so filing it twice is a no-op). */
  async addCorrect(payload: CorrectPayload): Promise<void> {
    await this.track.add('correct', payload, {
      jobId: correctJobId(payload.jobId, payload.revision),
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs ?? 10_000 },
    });
  }

  /**
   * Enqueues a render from one masks revision. While one is waiting or
   * running, the same file and revision again is a no-op; a finished one
   * (failed, or skipped) is replaced, since the render record was queued again.
   */
  async addRender(payload: RenderPayload): Promise<void> {
    const jobId = renderJobId(payload);
    const state = await this.track.getJobState(jobId);
    if (state === 'completed' || state === 'failed') await this.track.remove(jobId);
    await this.track.add('render', payload, {
      jobId,
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs ?? 10_000 },
    });
  }

  /** Enqueues the delivery of a job's end to its webhook (adding the same end twice is a no-op). */
  async addWebhook(payload: WebhookPayload): Promise<void> {
    const { attempts, backoffMs } = this.options.webhooks ?? { attempts: 5, backoffMs: 2000 };
    await this.webhook.add('webhook', payload, { jobId: webhookJobId(payload), attempts, backoff: { type: 'exponential', delay: backoffMs } });
  }

  /**
   * Takes a job (and its embed jobs) out of the queue if no worker holds its
   * tracking pass. Returns false when a worker is running it (it then notices
   * the cancelled record and stops).
   */
  async removeTrack(jobId: string, frames: number, chunkFrames: number): Promise<boolean> {
    await this.removeEmbedJobs(jobId, frames, chunkFrames);
    const state = await this.track.getJobState(jobId);
    if (state === 'unknown') return true;
    if (state === 'active') return false;
    return (await this.track.remove(jobId)) === 1;
  }

  /**
   * Drops a job's embed jobs that no worker has started (running ones see the
   * job is over and stop; finished ones stay for the dashboard).
   */
  async removeEmbedJobs(jobId: string, frames: number, chunkFrames: number): Promise<void> {
    const chunks = chunkCount(frames, chunkFrames);
    const removeIfPending = async (id: string) => {
      const state = await this.track.getJobState(id);
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized') await this.track.remove(id);
    };
    await Promise.all(Array.from({ length: chunks - 1 }, (_, i) => removeIfPending(embedJobId(jobId, i + 1)).catch(() => undefined)));
  }

  async trackCounts(): Promise<Record<string, number>> {
    return this.track.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  }

  /** Runs the retention sweep every `everyMs` (idempotent: one scheduler whatever the number of workers). */
  async scheduleRetention(everyMs: number): Promise<void> {
    await this.maintenance.upsertJobScheduler(RETENTION_SCHEDULER, { every: everyMs }, { name: 'expire-jobs', data: {} });
  }

  async unscheduleRetention(): Promise<void> {
    await this.maintenance.removeJobScheduler(RETENTION_SCHEDULER);
  }

  all(): Queue[] {
    return [this.track, this.maintenance, this.webhook];
  }

  async close(): Promise<void> {
    await Promise.all([this.track.close(), this.maintenance.close(), this.webhook.close()]);
  }
}
