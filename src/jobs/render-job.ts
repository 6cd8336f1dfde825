import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DelayedError, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { masksResults, renderVideos, type MasksDocument } from '../output/render.js';
import type { RenderSpec } from '../output/render-spec.js';
import { endingFor } from './job-run.js';
import type { JobStore } from './job-store.js';
import { renderKey, renderPayload } from './layout.js';
import type { RenderPayload, RenderResult } from './payloads.js';
import type { QueueRepository } from './queue.js';
import type { RenderRecord } from './record.js';
import { jobVideo } from './job-video.js';
import { waitForRoom } from './redis-errors.js';
import type { JobWorkspace, Workspaces } from './workspace.js';

/**
 * The `render` job: one render (cutout.webm, matte.mp4, ...) of a job from a
 * masks revision's masks.json and the source video: ffmpeg and painting, no
 * model. What to render is the job's render record; the file goes under
 * out/renders/<revision>/, and the record says `succeeded` only if it is
 * still for that revision: a correction that finished meanwhile has queued
 * the render again from its own masks, and the older file is dropped.
 */

export interface RenderJobDeps {
  store: JobStore;
  metrics: Metrics;
  logger: Logger;
  workspaces: Workspaces;
}

type RenderJob = Job<RenderPayload, RenderResult, 'render'>;

/** How long a render whose masks revision is not finished yet waits before it looks again. */
const TURN_DELAY_MS = 1000;

export function specOf(render: RenderRecord): RenderSpec {
  const { output, objects, feather, effect } = render;
  return { output, feather, ...(objects ? { objects } : {}), ...(effect ? { effect } : {}) };
}

export function createRenderProcessor(deps: RenderJobDeps) {
  const { store, logger, workspaces } = deps;

  return async function processRender(job: RenderJob, token?: string, signal?: AbortSignal): Promise<RenderResult> {
    const { jobId, file, revision } = job.data;
    const record = await store.get(jobId);
    if (!record || record.state === 'failed' || record.state === 'cancelled') return { skipped: 'job over' };
    const render = record.renders?.find((r) => r.file === file);
    if (!render || render.revision !== revision) return { skipped: 'superseded' };
    if (record.revisionDone < revision) {
      // The revision's masks are still being made (the render was queued just before the revision finished).
      if (!token) throw new Error('a render whose masks are not finished needs a lock token to wait');
      await job.moveToDelayed(Date.now() + TURN_DELAY_MS, token);
      throw new DelayedError();
    }
    const log = logger.child({ jobId, render: file, revision });
    await store.patchRender(jobId, file, { state: 'running' }, revision);
    const workspace = workspaces.open(jobId);
    const started = performance.now();
    try {
      const bytes = await renderFile(workspace, job.data, specOf(render), signal);
      const result = await recordRender(deps, workspace, job.data, render.fileRevision);
      const seconds = (performance.now() - started) / 1000;
      deps.metrics.stageSeconds.observe({ stage: 'rendering' }, seconds);
      log.info({ seconds: Number(seconds.toFixed(2)), bytes, result: result ?? 'succeeded' }, 'render made');
      return result ? { skipped: result } : { bytes };
    } catch (error) {
      return await endRender(error, { job, token, signal, store, log });
    } finally {
      await workspace.dispose().catch((error) => log.warn({ err: error }, 'could not remove scratch files'));
    }
  };
}

/** Renders into the workspace and uploads; returns the file's size. */
async function renderFile(workspace: JobWorkspace, data: RenderPayload, spec: RenderSpec, signal?: AbortSignal): Promise<number> {
  const input = await workspace.input();
  const meta = await jobVideo(workspace, input, signal);
  const results = masksResults(JSON.parse(await workspace.mustRead(data.masks)) as MasksDocument);
  const key = renderKey(data.jobId, data.revision, data.file);
  const local = workspace.local(key);
  // A job deleted meanwhile gets its folders back here; recordRender removes them again.
  await mkdir(path.dirname(local), { recursive: true });
  await renderVideos({ input, meta, results }, [{ spec, path: local }], { signal });
  const { size } = await stat(local);
  await workspace.upload(key);
  return size;
}

/**
 * Records the render as made from its revision. When it is not (a newer
 * revision queued it again, or the job was deleted meanwhile) the file goes,
 * and with a deleted job everything of it. Returns why it was not recorded.
 */
async function recordRender(deps: RenderJobDeps, workspace: JobWorkspace, data: RenderPayload, previous: number | undefined): Promise<RenderResult['skipped']> {
  const { jobId, file, revision } = data;
  const key = renderKey(jobId, revision, file);
  // A made file is recorded even while Redis is full (failing would make it again, and leave it `running`).
  const recorded = await waitForRoom(deps.logger.child({ jobId, file }), 'the render')(() =>
    deps.store.patchRender(jobId, file, { state: 'succeeded', fileRevision: revision, error: null }, revision),
  );
  if (recorded) {
    if (previous !== undefined && previous !== revision) await workspace.storage.delete(renderKey(jobId, previous, file)).catch(() => undefined);
    return undefined;
  }
  if (!(await deps.store.get(jobId))) {
    await workspace.removeJob();
    return 'job over';
  }
  await workspace.storage.delete(key);
  return 'superseded';
}

async function endRender(error: unknown, context: { job: RenderJob; token?: string; signal?: AbortSignal; store: JobStore; log: Logger }): Promise<never> {
  const { job, token, signal, store, log } = context;
  const ending = endingFor(error, {
    aborted: signal?.aborted ?? false,
    reason: signal?.reason,
    canHandBack: token !== undefined,
    attemptsMade: job.attemptsMade,
    attempts: job.opts.attempts ?? 1,
  });
  const { jobId, file, revision } = job.data;
  if (ending.action === 'hand-back') {
    await store.patchRender(jobId, file, { state: 'queued' }, revision);
    await job.moveToWait(token!);
    throw new WaitingError();
  }
  if (ending.action === 'cancel') throw new UnrecoverableError('cancelled');
  if (ending.action === 'retry') {
    log.warn({ err: error }, 'render attempt failed; it will be retried');
    await store.patchRender(jobId, file, { state: 'queued' }, revision);
    throw error;
  }
  await waitForRoom(log, 'the failed render')(() => store.patchRender(jobId, file, { state: 'failed', error: ending.jobError }, revision));
  log.warn({ err: error, code: ending.jobError.code }, 'render failed');
  throw ending.unrecoverable ? new UnrecoverableError(ending.jobError.message) : error;
}

/**
 * Every render of a job, queued again to be made from revision `revision`'s
 * masks: called by the track and correct jobs before they mark the revision
 * done (a render job waits for that), so no render is left showing older masks.
 */
export async function queueRenders(store: JobStore, queues: QueueRepository, jobId: string, revision: number): Promise<void> {
  const record = await store.get(jobId);
  for (const render of record?.renders ?? []) {
    await store.patchRender(jobId, render.file, { state: 'queued', revision, error: null });
    await queues.addRender(renderPayload(jobId, render.file, revision));
  }
}
