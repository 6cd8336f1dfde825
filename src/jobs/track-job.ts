import { readFile, rm } from 'node:fs/promises';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { MediaErrorCode } from '../media/index.js';
import type { Metrics } from '../metrics.js';
import { parsePrompts } from '../prompts.js';
import { InferenceError, RunAbortedError, type Inference, type TrackProgressMessage } from '../inference/inference-process.js';
import type { JobStore } from './job-store.js';
import { jobPaths, resolveUnder } from './layout.js';
import { exists } from '../util/fs.js';
import { zipDirectory } from './package.js';
import type { TrackPayload, TrackResult } from './payloads.js';
import type { QueueRepository } from './queue.js';
import { EMPTY_PROGRESS, type JobError, type JobProgress, type JobStage } from './record.js';

/**
 * The `track` job: video + prompts -> overlay.mp4, masks.json, masks.zip.
 *
 * Stages, each safe to run again after a crash or retry:
 *   tracking   trackVideo in the inference child, its embeddings through the
 *              job's embedding store (helpers may have encoded chunks ahead);
 *              skipped when its outputs are already complete (they are
 *              written atomically, PNG folder last)
 *   packaging  zip the PNG folder into masks.zip (atomic), then drop the folder
 *
 * The record in the JobStore is written from here, inside the job: running,
 * progress (every second), succeeded. Failures are recorded and rethrown, so
 * BullMQ still sees them: input problems as UnrecoverableError (no retry),
 * anything else as is (retried with backoff until the last attempt, which
 * records `failed`).
 *
 * Cancellation: DELETE marks the record cancelled; the once-a-second progress
 * write is guarded by the state, so it notices within a second and aborts the
 * run. Shutdown aborts with reason 'shutdown': the job goes back to the queue.
 */

export const CANCELLED = 'cancelled';
export const SHUTDOWN = 'shutdown';

/** MediaError codes that mean "this input cannot be processed": retrying will not help. */
const INPUT_MEDIA_CODES: ReadonlySet<MediaErrorCode> = new Set<MediaErrorCode>([
  'not_found',
  'not_a_video',
  'no_video_stream',
  'zero_frames',
  'truncated',
  'too_large',
  'frame_size_mismatch',
  'bad_image',
  'duplicate_frame_name',
]);

export interface TrackJobDeps {
  config: Config;
  store: JobStore;
  queues: QueueRepository;
  inference: Inference;
  metrics: Metrics;
  logger: Logger;
}

/** An UnrecoverableError that carries the user-facing code. */
function inputError(error: JobError): UnrecoverableError {
  return Object.assign(new UnrecoverableError(error.message), { code: error.code });
}

/** What the job's record says about a failure; user-safe messages only. */
export function describeFailure(error: unknown): { jobError: JobError; unrecoverable: boolean } {
  // Retried (space may be freed), but said plainly.
  if ((error as { code?: unknown } | undefined)?.code === 'ENOSPC') {
    return { jobError: { code: 'disk_full', message: 'the server ran out of disk space while processing the job' }, unrecoverable: false };
  }
  if (error instanceof InferenceError) {
    if (error.kind === 'MediaError' && error.code && INPUT_MEDIA_CODES.has(error.code as MediaErrorCode)) {
      return { jobError: { code: error.code, message: error.message }, unrecoverable: true };
    }
    if (error.kind === 'PromptsError') return { jobError: { code: 'invalid_prompts', message: error.message }, unrecoverable: true };
  }
  if (error instanceof UnrecoverableError) {
    const code = (error as { code?: unknown }).code;
    return { jobError: { code: typeof code === 'string' ? code : 'unprocessable', message: error.message }, unrecoverable: true };
  }
  return { jobError: { code: 'internal', message: 'the job failed on the server; see the server logs' }, unrecoverable: false };
}

/** Tracks progress and turns it into the record's progress (percent, ETA). */
class ProgressClock {
  stage: JobStage = 'starting';
  private framesDone = 0;
  private framesTotal: number;
  private trackingStarted = 0;

  constructor(video: { frames: number }) {
    this.framesTotal = video.frames;
  }

  startTracking(): void {
    this.stage = 'tracking';
    this.trackingStarted = performance.now();
  }

  onFrames(p: TrackProgressMessage): void {
    this.framesDone = p.framesDone;
    this.framesTotal = p.framesTotal;
  }

  skipTracking(): void {
    this.framesDone = this.framesTotal;
  }

  snapshot(): JobProgress {
    const fraction = this.framesTotal ? this.framesDone / this.framesTotal : 0;
    let percent = 0;
    if (this.stage === 'tracking') percent = 95 * fraction;
    else if (this.stage === 'packaging') percent = 95;
    else if (this.stage === 'done') percent = 100;
    let etaSeconds: number | null = null;
    if (this.stage === 'tracking' && this.framesDone > 0) {
      const perFrame = (performance.now() - this.trackingStarted) / 1000 / this.framesDone;
      etaSeconds = Math.round(perFrame * (this.framesTotal - this.framesDone) * 10) / 10;
    } else if (this.stage === 'packaging' || this.stage === 'done') etaSeconds = 0;
    return { percent: Math.round(percent * 10) / 10, framesDone: this.framesDone, framesTotal: this.framesTotal, etaSeconds };
  }
}

export function createTrackProcessor(deps: TrackJobDeps) {
  const { config, store, queues, inference, metrics, logger } = deps;

  return async function processTrack(job: Job<TrackPayload, TrackResult, 'track'>, token?: string, signal?: AbortSignal): Promise<TrackResult> {
    const { jobId } = job.data;
    const log = logger.child({ jobId, attempt: job.attemptsMade + 1 });
    const files = jobPaths(config.dataDir, jobId);
    const input = resolveUnder(config.dataDir, job.data.input);
    const outDir = resolveUnder(config.dataDir, job.data.outDir);
    const pngDir = resolveUnder(config.dataDir, job.data.pngDir);
    const embeddingsDir = resolveUnder(config.dataDir, job.data.embeddings);
    const overlay = files.overlay;
    const masks = files.masks;
    const pngZip = files.pngZip;

    const record = await store.get(jobId);
    if (!record || record.state === 'cancelled') {
      await rm(files.dir, { recursive: true, force: true });
      throw new UnrecoverableError(CANCELLED);
    }
    const startedAt = Date.now();
    const clock = new ProgressClock(record.video);
    const running = await store.update(
      jobId,
      // attemptsStarted also counts starts that ended without a failure (a worker that died, a hand-back).
      { state: 'running', stage: 'starting', progress: clock.snapshot(), attempts: Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1), startedAt: record.startedAt ?? startedAt, error: null },
      { only: ['queued', 'running'] },
    );
    if (!running.applied) {
      await rm(files.dir, { recursive: true, force: true });
      throw new UnrecoverableError(CANCELLED);
    }
    if (record.attempts === 0) metrics.stageSeconds.observe({ stage: 'queue_wait' }, (startedAt - record.createdAt) / 1000);
    log.info({ frames: record.video.frames }, 'job started');

    // One controller for every way a run stops early: BullMQ's signal (shutdown) and the record (DELETE).
    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason ?? SHUTDOWN);
    if (signal?.aborted) forward();
    signal?.addEventListener('abort', forward, { once: true });

    let lastPercent = -1;
    let beating = false;
    const beat = async () => {
      if (beating) return; // a slow Redis must not pile writes up
      beating = true;
      try {
        const progress = clock.snapshot();
        const outcome = await store.update(jobId, { stage: clock.stage, progress }, { only: ['running'] });
        if (!outcome.applied && !controller.signal.aborted) controller.abort(CANCELLED);
        if (progress.percent !== lastPercent) {
          lastPercent = progress.percent;
          await job.updateProgress(progress);
        }
      } catch (error) {
        log.warn({ err: error }, 'could not record progress');
      } finally {
        beating = false;
      }
    };
    const heartbeat = setInterval(() => void beat(), 1000);

    try {
      const prompts = parsePrompts(await readFile(resolveUnder(config.dataDir, job.data.prompts), 'utf8'), config.limits.maxObjects);
      let video = record.video;
      let embeddingStats: TrackResult['embeddings'];

      // Stage: tracking (skipped when a previous attempt completed it).
      const trackingDone = (await exists(overlay)) && (await exists(masks)) && ((await exists(pngDir)) || (await exists(pngZip)));
      clock.startTracking();
      if (trackingDone) {
        clock.skipTracking();
        log.info('tracking outputs already complete: skipping to packaging');
      } else {
        const trackStart = performance.now();
        const embeddings = { dir: embeddingsDir, chunkFrames: job.data.chunkFrames, owner: `track:${jobId}`, windowFrames: config.embedWindowFrames };
        const outcome = await inference.track({ input, prompts, outDir, pngDir, embeddings }, { signal: controller.signal, onProgress: (p) => clock.onFrames(p) });
        const seconds = (performance.now() - trackStart) / 1000;
        video = outcome.video;
        embeddingStats = outcome.embeddings;
        metrics.stageSeconds.observe({ stage: 'tracking' }, seconds);
        metrics.framesProcessed.inc(outcome.frames);
        metrics.trackingFps.observe(outcome.frames / seconds);
        log.info({ frames: outcome.frames, seconds: Number(seconds.toFixed(1)), fps: Number((outcome.frames / seconds).toFixed(2)), embeddings: outcome.embeddings }, 'tracked');
      }
      await queues.removeEmbedJobs(jobId, video.frames, job.data.chunkFrames);
      await rm(embeddingsDir, { recursive: true, force: true });
      if (controller.signal.aborted) throw new RunAbortedError(controller.signal.reason);

      // Stage: packaging.
      clock.stage = 'packaging';
      await beat();
      if (!(await exists(pngZip))) {
        const packStart = performance.now();
        await zipDirectory(pngDir, pngZip, { signal: controller.signal });
        metrics.stageSeconds.observe({ stage: 'packaging' }, (performance.now() - packStart) / 1000);
      }
      await rm(pngDir, { recursive: true, force: true });

      clock.stage = 'done';
      const finishedAt = Date.now();
      const done = await store.update(
        jobId,
        { state: 'succeeded', stage: 'done', progress: clock.snapshot(), video, artifacts: ['overlay', 'masks', 'pngZip'], finishedAt },
        { only: ['running'] },
      );
      if (!done.applied) throw new RunAbortedError(CANCELLED);
      metrics.stageSeconds.observe({ stage: 'total' }, (finishedAt - record.createdAt) / 1000);
      metrics.jobsFinished.inc({ result: 'succeeded' });
      log.info({ seconds: (finishedAt - startedAt) / 1000 }, 'job succeeded');
      return { frames: video.frames, seconds: (finishedAt - startedAt) / 1000, embeddings: embeddingStats };
    } catch (error) {
      const aborted = error instanceof RunAbortedError || controller.signal.aborted;
      const reason = error instanceof RunAbortedError ? error.reason : controller.signal.reason;
      if (aborted && reason === SHUTDOWN && token) {
        // Hand the job back: another worker (or this one after a restart) starts it again.
        await store.update(jobId, { state: 'queued', stage: 'queued', progress: EMPTY_PROGRESS }, { only: ['running'] });
        await job.moveToWait(token);
        log.info('job handed back to the queue (shutdown)');
        throw new WaitingError();
      }
      if (aborted && reason !== SHUTDOWN) {
        // Cancelled by DELETE: the record already says so; the files go.
        await rm(files.dir, { recursive: true, force: true });
        metrics.jobsFinished.inc({ result: 'cancelled' });
        log.info('job cancelled');
        throw new UnrecoverableError(CANCELLED);
      }
      const { jobError, unrecoverable } = describeFailure(error);
      const final = unrecoverable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final) {
        await store.update(jobId, { state: 'failed', error: jobError, finishedAt: Date.now() }, { only: ['queued', 'running'] });
        await rm(files.dir, { recursive: true, force: true });
        metrics.jobsFinished.inc({ result: 'failed' });
        log.warn({ err: error, code: jobError.code }, 'job failed');
      } else {
        await store.update(jobId, { state: 'queued', stage: 'queued', progress: EMPTY_PROGRESS }, { only: ['running'] });
        log.warn({ err: error }, 'job attempt failed; it will be retried');
      }
      throw unrecoverable && !(error instanceof UnrecoverableError) ? inputError(jobError) : error;
    } finally {
      clearInterval(heartbeat);
      signal?.removeEventListener('abort', forward);
    }
  };
}
