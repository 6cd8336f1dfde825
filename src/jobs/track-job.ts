import { rm } from 'node:fs/promises';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Config } from '../config.js';
import type { Inference, RunningRun, TrackProgressMessage } from '../inference/inference-process.js';
import { RunAbortedError } from '../inference/inference-process.js';
import { videoSummary } from '../inference/inference-protocol.js';
import type { ObjectChange, SessionObject } from '../pipeline/tracking-session.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { parseCorrection, parsePrompts } from '../prompts.js';
import { removeTemporaryFiles } from '../util/atomic.js';
import type { VideoMeta } from '../types.js';
import { exists } from '../util/fs.js';
import { enforceEmbeddingBudget } from './embedding-budget.js';
import { CANCELLED, endingFor, Heartbeat, inputError, SHUTDOWN } from './job-run.js';
import type { JobStore } from './job-store.js';
import { decodeJobVideo } from './job-video.js';
import { correctionFile } from './layout.js';
import { zipDirectory } from './package.js';
import type { TrackPayload, TrackResult } from './payloads.js';
import type { QueueRepository } from './queue.js';
import { queueRenders } from './render-job.js';
import { waitForRoom } from './redis-errors.js';
import { ARTIFACT_NAMES, EMPTY_PROGRESS, isTerminal, type JobProgress, type JobRecord, type JobStage } from './record.js';
import type { JobWorkspace, Workspaces } from './workspace.js';

export { CANCELLED, describeFailure, SHUTDOWN } from './job-run.js';

/**
 * The `track` job: video + prompts -> overlay.mp4, masks.json, masks.zip,
 * and the frame records a correction starts from.
 *
 * Stages, each safe to run again after a crash or retry:
 *   tracking   the first run of the tracking session in the inference child,
 *              its embeddings through the job's embedding store (helpers may
 *              have encoded chunks ahead; kept afterwards for corrections when
 *              CORRECTIONS_KEEP_EMBEDDINGS); skipped when its outputs are
 *              already complete (they are written atomically, PNG folder last)
 *   packaging  zip the PNG folder into masks.zip (atomic), then drop the folder
 *
 * Corrections posted while it runs are sent to the child, which applies them
 * at its next frame boundary; any it did not get to are left to their
 * `correct` jobs.
 *
 * The record in the JobStore is written from here: running, progress (every
 * second), succeeded. How a run that ends early is recorded is job-run.ts's
 * decision (endingFor), carried out by `end` below.
 */

export interface TrackJobDeps {
  config: Config;
  store: JobStore;
  queues: QueueRepository;
  inference: Inference;
  metrics: Metrics;
  logger: Logger;
  workspaces: Workspaces;
}

type TrackJob = Job<TrackPayload, TrackResult, 'track'>;

/** What the tracking stage leaves for the next ones. */
interface TrackOutcome {
  video: JobRecord['video'];
  /** The session's objects after the run (none when a previous attempt had completed it). */
  objects?: SessionObject[];
  /** Corrections applied during the run: the newest revision, and what they re-tracked. */
  revision: number;
  changes: ObjectChange[];
  embeddings?: TrackResult['embeddings'];
}

/** Tracks progress and turns it into the record's progress (percent, ETA, newest final frame). */
export class ProgressClock {
  stage: JobStage = 'starting';
  private framesDone = 0;
  private framesTotal: number;
  private lastFrame: number | null = null;
  private started = 0;

  constructor(video: { frames: number }) {
    this.framesTotal = video.frames;
  }

  begin(stage: JobStage): void {
    this.stage = stage;
    this.started = performance.now();
  }

  onFrames(p: TrackProgressMessage): void {
    this.framesDone = p.framesDone;
    this.framesTotal = p.framesTotal;
    if (p.lastFrame !== undefined) this.lastFrame = p.lastFrame;
  }

  /** Every frame's masks are final (a finished run, or one skipped because its outputs are complete). */
  allFinal(frames: number): void {
    this.framesDone = this.framesTotal;
    this.lastFrame = frames - 1;
  }

  snapshot(): JobProgress {
    const fraction = this.framesTotal ? this.framesDone / this.framesTotal : 0;
    const working = this.stage === 'tracking' || this.stage === 'correcting';
    let percent = 0;
    if (working) percent = 95 * fraction;
    else if (this.stage === 'packaging') percent = 95;
    else if (this.stage === 'done') percent = 100;
    let etaSeconds: number | null = null;
    if (working && this.framesDone > 0) {
      const perFrame = (performance.now() - this.started) / 1000 / this.framesDone;
      etaSeconds = Math.round(perFrame * (this.framesTotal - this.framesDone) * 10) / 10;
    } else if (this.stage === 'packaging' || this.stage === 'done') etaSeconds = 0;
    return { percent: Math.round(percent * 10) / 10, framesDone: this.framesDone, framesTotal: this.framesTotal, etaSeconds, lastFrame: this.lastFrame };
  }
}

export function createTrackProcessor(deps: TrackJobDeps) {
  return async function processTrack(job: TrackJob, token?: string, signal?: AbortSignal): Promise<TrackResult> {
    const run = new TrackRun(deps, job, token, signal);
    const record = await run.start();
    if (record === 'finished') {
      await run.stop();
      return { frames: 0, seconds: 0 };
    }
    try {
      const outcome = await run.track(record);
      await run.pack();
      return await run.finish(record, outcome);
    } catch (error) {
      return await run.end(error);
    } finally {
      await run.stop();
    }
  };
}

/** One attempt of a track job, as named steps. */
class TrackRun {
  private readonly workspace: JobWorkspace;
  private readonly files;
  /** Object storage: frame records 0..publishedThrough are uploaded (the API serves only those). */
  private publishedThrough = -1;
  /** The upload of the newest frames in flight, and whether the run is over (no more uploads: its objects may be deleted). */
  private publishing: Promise<void> = Promise.resolve();
  private ended = false;
  private readonly controller = new AbortController();
  private clock: ProgressClock | undefined;
  private heartbeat: Heartbeat | undefined;
  private readonly log;
  private readonly forward = () => this.controller.abort(this.signal?.reason ?? SHUTDOWN);
  /** The running run in the child, and the newest correction sent to it. */
  private child: RunningRun | undefined;
  private sentRevision = 0;
  private startedAt = Date.now();

  constructor(
    private readonly deps: TrackJobDeps,
    private readonly job: TrackJob,
    private readonly token: string | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.workspace = deps.workspaces.open(job.data.jobId);
    this.files = this.workspace.files;
    this.log = deps.logger.child({ jobId: job.data.jobId, attempt: job.attemptsMade + 1 });
  }

  private path(relative: string): string {
    return this.workspace.local(relative);
  }

  /**
   * Marks the record running (unless it was cancelled meanwhile) and starts the heartbeat.
   * 'finished': the first run's end is recorded already and BullMQ gives the job again because it
   * never heard of it (Redis refused the completion at maxmemory, the worker died just then): the
   * artifacts are the job's, nothing is to be done or deleted.
   */
  async start(): Promise<JobRecord | 'finished'> {
    const { store, metrics } = this.deps;
    const { jobId } = this.job.data;
    const record = await store.get(jobId);
    if (record && record.state !== 'cancelled' && record.revisionDone >= 0) {
      this.log.warn({ state: record.state }, 'the job has finished before: nothing to do');
      return 'finished';
    }
    const attempts = Math.max(this.job.attemptsStarted ?? 0, this.job.attemptsMade + 1); // also counts starts that ended without a failure
    this.clock = new ProgressClock(record?.video ?? { frames: 0 });
    const running =
      record && record.state !== 'cancelled'
        ? await this.untilRedisHasRoom(() =>
            store.update(
              jobId,
              { state: 'running', stage: 'starting', progress: this.clock!.snapshot(), attempts, startedAt: record.startedAt ?? this.startedAt, error: null },
              { only: ['queued', 'running'] },
            ),
          )
        : undefined;
    if (!record || !running?.applied) {
      await this.workspace.removeJob();
      throw new UnrecoverableError(CANCELLED);
    }
    if (record.attempts === 0) metrics.stageSeconds.observe({ stage: 'queue_wait' }, (this.startedAt - record.createdAt) / 1000);
    this.log.info({ frames: record.video.frames }, 'job started');
    if (this.signal?.aborted) this.forward();
    this.signal?.addEventListener('abort', this.forward, { once: true });
    this.heartbeat = new Heartbeat({
      store,
      jobId,
      controller: this.controller,
      snapshot: () => ({ stage: this.clock!.stage, progress: this.visible(this.clock!.snapshot()) }),
      onPercent: async (progress) => this.job.updateProgress(progress),
      onBeat: async () => {
        await this.publishFrames();
        await this.sendCorrections();
      },
      onError: (error) => this.log.warn({ err: error }, 'could not record progress'),
    });
    return record;
  }

  /** Stage tracking: the first run in the child, unless a previous attempt completed it. */
  async track(record: JobRecord): Promise<TrackOutcome> {
    const { config, queues } = this.deps;
    const data = this.job.data;
    const clock = this.clock!;
    clock.begin('tracking');
    const { keys, storage } = this.workspace;
    const done = (await this.workspace.has(keys.overlay)) && (await this.workspace.has(keys.masks)) && ((await this.workspace.has(keys.pngZip)) || (await exists(this.files.pngDir)));
    let outcome: TrackOutcome = { video: record.video, revision: 0, changes: [] };
    if (done) this.log.info('tracking outputs already complete: skipping to packaging');
    else outcome = await this.runTracking(await this.decodedVideo(record));
    clock.allFinal(outcome.video.frames);
    // The helpers' chunks were queued for the frames the upload listed (more than decode, in a damaged file).
    const listed = Math.max(outcome.video.frames, record.video.frames);
    await this.untilRedisHasRoom(() => queues.removeEmbedJobs(data.jobId, listed, data.chunkFrames));
    if (!config.keepEmbeddings) await storage.deletePrefix(`${data.embeddings}/`);
    else await enforceEmbeddingBudget(storage, config.embeddingBudgetBytes, (id) => this.idle(id), this.log);
    if (this.controller.signal.aborted) throw new RunAbortedError(this.controller.signal.reason);
    return outcome;
  }

  /**
   * The video as it decodes (job-video.ts), before any frame is processed. When frames in the middle do
   * not decode, the record says so: its frames and warnings are what the status, corrections and
   * renders go by from now on.
   */
  private async decodedVideo(record: JobRecord): Promise<VideoMeta> {
    const meta = await decodeJobVideo(this.workspace, this.controller.signal);
    if (meta.frames === record.video.frames) return meta;
    this.log.warn({ frames: meta.frames, listed: record.video.frames, warnings: meta.warnings }, 'frames of the video do not decode');
    const patch = { video: videoSummary(meta), warnings: meta.warnings, progress: { ...this.clock!.snapshot(), framesTotal: meta.frames } };
    await this.untilRedisHasRoom(() => this.deps.store.update(this.job.data.jobId, patch, { only: ['running'] }));
    return meta;
  }

  /** The first run in the child; its outputs stored (uploaded, on object storage). */
  private async runTracking(video: VideoMeta): Promise<TrackOutcome> {
    const { config, inference, metrics } = this.deps;
    const data = this.job.data;
    const clock = this.clock!;
    const prompts = parsePrompts(await this.workspace.mustRead(data.prompts), config.limits.maxObjects);
    const started = performance.now();
    const embeddings = { ...this.workspace.embeddings(data.embeddings, data.chunkFrames, `track:${data.jobId}`), windowFrames: config.embedWindowFrames, keep: config.keepEmbeddings };
    const request = { ...(await this.sessionFiles()), prompts, embeddings, video };
    // An earlier attempt whose inference child was killed (SIGKILL, OOM killer) left its work in progress.
    const left = [...(await removeTemporaryFiles(request.outDir)), ...(await removeTemporaryFiles(request.results))];
    if (left.length) this.log.info({ files: left }, 'removed the temporary files of an earlier attempt');
    const result = await inference.track(request, {
      signal: this.controller.signal,
      onProgress: (p) => clock.onFrames(p),
      onStarted: (child) => {
        this.child = child;
        void this.sendCorrections();
      },
    });
    this.child = undefined;
    const seconds = (performance.now() - started) / 1000;
    metrics.stageSeconds.observe({ stage: 'tracking' }, seconds);
    metrics.framesProcessed.inc(result.frames);
    metrics.trackingFps.observe(result.frames / seconds);
    this.log.info({ frames: result.frames, seconds: Number(seconds.toFixed(1)), embeddings: result.embeddings, corrections: result.revision }, 'tracked');
    const { keys } = this.workspace;
    // The frames the beats did not publish; all of them when corrections during the run may have rewritten some.
    await this.publishing.catch(() => undefined);
    const published = result.revision > 0 ? -1 : this.publishedThrough;
    await this.workspace.uploadAll(data.results, (name) => Number.parseInt(name, 10) > published);
    await this.workspace.upload(keys.overlay);
    await this.workspace.upload(keys.masks);
    await this.workspace.upload(keys.instances);
    await this.workspace.writeText(data.session, JSON.stringify({ objects: result.objects }));
    return { video: result.video, objects: result.objects, revision: result.revision, changes: result.changes, embeddings: result.embeddings };
  }

  /** Object storage: uploads the frame records that became final since the last beat. */
  private publishFrames(): Promise<void> {
    this.publishing = this.publishing.catch(() => undefined).then(() => this.uploadNewFrames());
    return this.publishing;
  }

  /** Frames become final in order (lastFrame: every frame up to it is), so they go up in order. */
  private async uploadNewFrames(): Promise<void> {
    const last = this.clock?.snapshot().lastFrame;
    if (this.ended || !this.workspace.remote || last === null || last === undefined) return;
    while (this.publishedThrough < last && !this.ended) {
      await this.workspace.upload(`${this.job.data.results}/${this.publishedThrough + 1}.json`);
      this.publishedThrough++;
    }
  }

  /** The progress the API may show: on object storage, no frame beyond the uploaded ones. */
  private visible(progress: JobProgress): JobProgress {
    if (!this.workspace.remote || progress.lastFrame === null || this.clock?.stage !== 'tracking') return progress;
    return { ...progress, lastFrame: this.publishedThrough < 0 ? null : Math.min(this.publishedThrough, progress.lastFrame) };
  }

  /** Another job neither tracking nor correcting (this one counts as idle: its tracking is over). */
  private async idle(id: string): Promise<boolean> {
    if (id === this.job.data.jobId) return true;
    const record = await this.deps.store.get(id);
    return !record || isTerminal(record.state);
  }

  private async sessionFiles() {
    const data = this.job.data;
    return {
      input: await this.workspace.input(),
      results: this.path(data.results),
      pending: this.path(data.pending),
      outDir: this.path(data.outDir),
      pngDir: this.path(data.pngDir),
    };
  }

  /** Corrections posted since the last look go to the running child, in revision order. */
  private async sendCorrections(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const record = await this.deps.store.get(this.job.data.jobId);
    for (let revision = this.sentRevision + 1; record && revision <= record.revision; revision++) {
      const text = await this.workspace.readText(correctionFile(this.job.data.corrections, revision));
      if (text === undefined) return; // still being filed: next beat
      if (!child.correct({ revision, correction: parseCorrection(JSON.parse(text)) })) return;
      this.sentRevision = revision;
    }
  }

  /** Stage packaging: the PNG folder into masks.zip. */
  async pack(): Promise<void> {
    this.clock!.stage = 'packaging';
    await this.heartbeat!.beat();
    const { keys } = this.workspace;
    if (!(await this.workspace.has(keys.pngZip))) {
      const started = performance.now();
      await zipDirectory(this.files.pngDir, this.files.pngZip, { signal: this.controller.signal });
      await this.workspace.upload(keys.pngZip);
      this.deps.metrics.stageSeconds.observe({ stage: 'packaging' }, (performance.now() - started) / 1000);
    }
    await rm(this.files.pngDir, { recursive: true, force: true });
  }

  /** Records success: revision `outcome.revision` is done (still correcting if a newer correction waits). */
  async finish(record: JobRecord, outcome: TrackOutcome): Promise<TrackResult> {
    const { store, metrics } = this.deps;
    this.clock!.stage = 'done';
    const finishedAt = Date.now();
    const progress = this.clock!.snapshot();
    const lastCorrection = outcome.revision > 0 ? { revision: outcome.revision, changes: outcome.changes } : undefined;
    const objects = outcome.objects?.length; // corrections during the run may have added some
    await this.untilRedisHasRoom(() => queueRenders(store, this.deps.queues, this.job.data.jobId, outcome.revision));
    const applied = await this.untilRedisHasRoom(() =>
      store.finishRevision(this.job.data.jobId, outcome.revision, { progress, video: outcome.video, objects, artifacts: [...ARTIFACT_NAMES], lastCorrection }),
    );
    if (!applied) throw new RunAbortedError(CANCELLED);
    metrics.stageSeconds.observe({ stage: 'total' }, (finishedAt - record.createdAt) / 1000);
    metrics.jobsFinished.inc({ result: 'succeeded' });
    this.log.info({ seconds: (finishedAt - this.startedAt) / 1000 }, 'job succeeded');
    return { frames: outcome.video.frames, seconds: (finishedAt - this.startedAt) / 1000, embeddings: outcome.embeddings };
  }

  /** Carries out endingFor's decision, then rethrows what BullMQ must see. */
  async end(error: unknown): Promise<never> {
    const { store, metrics } = this.deps;
    // No frame may be uploaded after the job's objects are deleted below.
    this.ended = true;
    await this.publishing.catch(() => undefined);
    const { jobId } = this.job.data;
    const ending = endingFor(error, {
      aborted: this.controller.signal.aborted,
      reason: this.controller.signal.reason,
      canHandBack: this.token !== undefined,
      attemptsMade: this.job.attemptsMade,
      attempts: this.job.opts.attempts ?? 1,
    });
    if (ending.action === 'hand-back') {
      // Another worker (or this one after a restart) starts it again.
      await this.untilRedisHasRoom(() => store.update(jobId, { state: 'queued', stage: 'queued', progress: EMPTY_PROGRESS }, { only: ['running'] }));
      await this.job.moveToWait(this.token!);
      this.log.info('job handed back to the queue (shutdown)');
      throw new WaitingError();
    }
    if (ending.action === 'cancel') {
      // Cancelled by DELETE: the record already says so; the files go.
      await this.workspace.removeJob();
      metrics.jobsFinished.inc({ result: 'cancelled' });
      this.log.info('job cancelled');
      throw new UnrecoverableError(CANCELLED);
    }
    if (ending.action === 'fail') {
      await this.untilRedisHasRoom(() => store.update(jobId, { state: 'failed', error: ending.jobError, finishedAt: Date.now() }, { only: ['queued', 'running'] }));
      await this.workspace.removeJob();
      metrics.jobsFinished.inc({ result: 'failed' });
      this.log.warn({ err: error, code: ending.jobError.code }, 'job failed');
      throw ending.unrecoverable && !(error instanceof UnrecoverableError) ? inputError(ending.jobError) : error;
    }
    await this.untilRedisHasRoom(() => store.update(jobId, { state: 'queued', stage: 'queued', progress: EMPTY_PROGRESS }, { only: ['running'] }));
    this.log.warn({ err: error }, 'job attempt failed; it will be retried');
    throw error;
  }

  /**
   * A write the job's outcome depends on, done again while Redis is at maxmemory (see whileRedisFull):
   * the job waits for memory instead of failing its attempt. A shutdown stops the wait.
   */
  private untilRedisHasRoom<T>(write: () => Promise<T>): Promise<T> {
    return waitForRoom(this.log, 'the job', this.signal)(write);
  }

  /** The attempt is over: no more beats; its scratch files go (the job's stored files stay). */
  async stop(): Promise<void> {
    this.heartbeat?.stop();
    this.signal?.removeEventListener('abort', this.forward);
    await this.workspace.dispose().catch((error) => this.log.warn({ err: error }, 'could not remove scratch files'));
  }
}
