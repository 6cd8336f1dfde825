import { rm } from 'node:fs/promises';
import { DelayedError, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Config } from '../config.js';
import type { Inference } from '../inference/inference-process.js';
import { sessionObjects, type SessionObject } from '../pipeline/tracking-session.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { parseCorrection, parsePrompts } from '../prompts.js';
import type { Speed } from '../types.js';
import { CANCELLED, endingFor, Heartbeat, SHUTDOWN } from './job-run.js';
import type { JobStore } from './job-store.js';
import { zipDirectory } from './package.js';
import type { CorrectPayload, CorrectResult } from './payloads.js';
import { ARTIFACT_NAMES, isTerminal } from './record.js';
import type { QueueRepository } from './queue.js';
import { waitForRoom } from './redis-errors.js';
import { queueRenders } from './render-job.js';
import { ProgressClock } from './track-job.js';
import { jobVideo } from './job-video.js';
import type { JobWorkspace, Workspaces } from './workspace.js';

/**
 * The `correct` job: correction K of a tracked job. Corrections apply in
 * revision order: K waits (delayed a moment) until K-1 is done and the first
 * run has finished; one the first run already applied at a frame boundary
 * is skipped. The inference child re-tracks what K changed from the kept
 * embeddings and renders the artifacts again (each replaced atomically);
 * here the PNGs are zipped and the session's objects saved.
 *
 * A correction that fails for good leaves the job succeeded with the masks
 * of the revision before, and says why in `lastCorrection.error`. A DELETE
 * while it runs cancels the job as it does any running job.
 */

export interface CorrectJobDeps {
  config: Config;
  store: JobStore;
  queues: QueueRepository;
  inference: Inference;
  metrics: Metrics;
  logger: Logger;
  workspaces: Workspaces;
}

type CorrectJob = Job<CorrectPayload, CorrectResult, 'correct'>;

/** How long a correction whose turn has not come waits before it looks again. */
const TURN_DELAY_MS = 1000;

export function createCorrectProcessor(deps: CorrectJobDeps) {
  const { config, store, queues, inference, metrics, logger, workspaces } = deps;

  return async function processCorrect(job: CorrectJob, token?: string, signal?: AbortSignal): Promise<CorrectResult> {
    const { jobId, revision } = job.data;
    const log = logger.child({ jobId, revision });
    const record = await store.get(jobId);
    if (!record || (isTerminal(record.state) && record.state !== 'succeeded')) return { changes: [], skipped: 'job over' };
    if (record.revisionDone >= revision) return { changes: [], skipped: 'applied' };
    // Its turn: the revision before is done (the first run's is 0).
    if (record.revisionDone < revision - 1) {
      if (!token) throw new Error('a correction whose turn has not come needs a lock token to wait');
      await job.moveToDelayed(Date.now() + TURN_DELAY_MS, token);
      throw new DelayedError();
    }

    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason ?? SHUTDOWN);
    if (signal?.aborted) forward();
    signal?.addEventListener('abort', forward, { once: true });
    const clock = new ProgressClock(record.video);
    clock.begin('correcting');
    clock.allFinal(record.video.frames);
    const heartbeat = new Heartbeat({
      store,
      jobId,
      controller,
      snapshot: () => ({ stage: clock.stage, progress: clock.snapshot() }),
      onPercent: async (progress) => job.updateProgress(progress),
      onError: (error) => log.warn({ err: error }, 'could not record progress'),
    });
    const started = performance.now();
    const workspace = workspaces.open(jobId);
    try {
      const outcome = await inference.correct(await correctRequest(workspace, job.data, config.limits.maxObjects), { signal: controller.signal });
      await zipDirectory(workspace.local(job.data.pngDir), workspace.files.pngZip, { signal: controller.signal });
      await rm(workspace.local(job.data.pngDir), { recursive: true, force: true });
      // The new records and artifacts, each replaced whole; the zip last, as the first run does.
      await workspace.uploadAll(job.data.results);
      for (const name of ARTIFACT_NAMES) await workspace.upload(workspace.keys[name]);
      await workspace.writeText(job.data.session, JSON.stringify({ objects: outcome.objects }));
      clock.stage = 'done';
      // Done work is recorded even if Redis is full just now (a failed attempt would do it all again).
      const untilRoom = waitForRoom(log, 'the correction', signal);
      await untilRoom(() => queueRenders(store, queues, jobId, revision));
      await untilRoom(() =>
        store.finishRevision(jobId, revision, { progress: clock.snapshot(), objects: outcome.objects.length, artifacts: [...ARTIFACT_NAMES], lastCorrection: { revision, changes: outcome.changes } }),
      );
      const seconds = (performance.now() - started) / 1000;
      metrics.stageSeconds.observe({ stage: 'correcting' }, seconds);
      log.info({ seconds: Number(seconds.toFixed(1)), changes: outcome.changes, embeddings: outcome.embeddings }, 'correction applied');
      return { changes: outcome.changes };
    } catch (error) {
      return await endCorrection(error, { job, token, controller, store, log, workspace });
    } finally {
      heartbeat.stop();
      signal?.removeEventListener('abort', forward);
      await workspace.dispose().catch((error) => log.warn({ err: error }, 'could not remove scratch files'));
    }
  };
}

/** What the child needs for a correction: the job's files fetched into the workspace (object storage), its session and the correction. */
async function correctRequest(workspace: JobWorkspace, data: CorrectPayload, maxObjects: number) {
  // The records the correction starts from (object storage: the newest revision's, fetched).
  await workspace.fetchAll(data.results);
  const input = await workspace.input();
  return {
    input,
    video: await jobVideo(workspace, input),
    results: workspace.local(data.results),
    pending: workspace.local(data.pending),
    outDir: workspace.local(data.outDir),
    pngDir: workspace.local(data.pngDir),
    ...(await sessionState(data, (key) => workspace.mustRead(key), maxObjects)),
    correction: parseCorrection(JSON.parse(await workspace.mustRead(data.correction))),
    embeddings: workspace.embeddings(data.embeddings, data.chunkFrames, `correct:${data.jobId}`),
  };
}

/**
 * The session a correction continues: its objects after the newest revision
 * (the submitted prompts' before the first run saved them), and the job's
 * speed, which only the submitted prompts hold (session.json keeps objects).
 */
export async function sessionState(
  data: Pick<CorrectPayload, 'session' | 'prompts'>,
  read: (key: string) => Promise<string>,
  maxObjects: number,
): Promise<{ objects: SessionObject[]; speed?: Speed }> {
  const submitted = parsePrompts(await read(data.prompts), maxObjects);
  const saved = await read(data.session).catch(() => undefined);
  const objects = saved ? (JSON.parse(saved) as { objects: SessionObject[] }).objects : sessionObjects(submitted.objects);
  return { objects, speed: submitted.speed };
}

/** A correction that stopped early: handed back, cancelled with its job, retried, or failed (the job keeps the masks it had). */
async function endCorrection(
  error: unknown,
  context: { job: CorrectJob; token?: string; controller: AbortController; store: JobStore; log: Logger; workspace: JobWorkspace },
): Promise<never> {
  const { job, token, controller, store, log } = context;
  const ending = endingFor(error, {
    aborted: controller.signal.aborted,
    reason: controller.signal.reason,
    canHandBack: token !== undefined,
    attemptsMade: job.attemptsMade,
    attempts: job.opts.attempts ?? 1,
  });
  if (ending.action === 'hand-back') {
    await job.moveToWait(token!);
    throw new WaitingError();
  }
  if (ending.action === 'cancel') {
    // Cancelled with its job by DELETE: the job's files go, as for a cancelled first run.
    await context.workspace.removeJob();
    throw new UnrecoverableError(CANCELLED);
  }
  if (ending.action === 'retry') {
    log.warn({ err: error }, 'correction attempt failed; it will be retried');
    throw error;
  }
  const { revision, jobId } = job.data;
  // Recorded even while Redis is full: otherwise the job would say `correcting` for ever.
  await waitForRoom(log, 'the failed correction')(() => store.finishRevision(jobId, revision, { lastCorrection: { revision, changes: [], error: ending.jobError } }));
  log.warn({ err: error, code: ending.jobError.code }, 'correction failed');
  throw ending.unrecoverable ? new UnrecoverableError(ending.jobError.message) : error;
}
