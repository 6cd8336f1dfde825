import { mkdir } from 'node:fs/promises';
import { DelayedError, type Job } from 'bullmq';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { openEmbeddingStore } from '../inference/open-embedding-store.js';
import type { Inference } from '../inference/inference-process.js';
import { readStoredVideo } from './job-video.js';
import type { JobStore } from './job-store.js';
import type { EmbedPayload, EmbedResult } from './payloads.js';
import { isTerminal } from './record.js';
import type { Workspaces } from './workspace.js';

/**
 * The `embed` job: a helper encodes one chunk of a job's frames into its
 * embedding store, ahead of that job's tracking pass (shared-embeddings.ts).
 * It is best effort: it skips a chunk that is done, claimed, already passed
 * by the tracker, or whose job is over, and it gives way (delayed a moment)
 * when the chunk is further ahead than EMBED_WINDOW_FRAMES, so helpers never
 * fill the disk faster than the tracker consumes. A failure costs nothing but
 * time: the tracking pass encodes whatever is missing.
 */

export interface EmbedJobDeps {
  config: Config;
  store: JobStore;
  inference: Inference;
  metrics: Metrics;
  logger: Logger;
  workspaces: Workspaces;
}

/** How long a chunk that is too far ahead, or whose video is not decoded yet, waits before it is looked at again. */
const AHEAD_DELAY_MS = 1000;

export function createEmbedProcessor(deps: EmbedJobDeps) {
  const { config, store, inference, metrics, logger, workspaces } = deps;

  return async function processEmbed(job: Job<EmbedPayload, EmbedResult, 'embed'>, token?: string, signal?: AbortSignal): Promise<EmbedResult> {
    const { jobId, chunk, chunkFrames } = job.data;
    const log = logger.child({ jobId, chunk });
    const record = await store.get(jobId);
    if (!record || isTerminal(record.state)) return { encoded: 0, skipped: 'job over' };

    const workspace = workspaces.open(jobId);
    const ref = workspace.embeddings(job.data.embeddings, chunkFrames, `embed:${jobId}:${chunk}`);
    if (!workspace.remote) {
      try {
        await mkdir(ref.dir); // not recursive: a deleted job's directory must not come back
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return { encoded: 0, skipped: 'job over' };
        if (code !== 'EEXIST') throw error;
      }
    }
    const embeddings = openEmbeddingStore(ref, workspaces.storage, workspaces.redis);
    if (await embeddings.isDone(chunk)) return { encoded: 0, skipped: 'done' };
    // The track job decodes the video before its first frame: until then no chunk's frames are sure
    // (a frame that does not decode shifts every one after it).
    const video = await readStoredVideo(workspaces.storage, workspace.keys.video);
    if (!video) return giveWay(job, token, 'video not decoded yet');
    const cursor = await embeddings.readCursor();
    const { start, end } = embeddings.chunkRange(chunk, video.frames);
    if (start >= video.frames) return { encoded: 0, skipped: 'beyond the video' };
    if (end <= cursor) return { encoded: 0, skipped: 'consumed' };
    if (start >= cursor + config.embedWindowFrames) return giveWay(job, token, 'ahead');

    // Stop when the worker shuts down or the job ends (cancelled, failed, finished).
    const controller = new AbortController();
    const forward = () => controller.abort('shutdown');
    if (signal?.aborted) forward();
    signal?.addEventListener('abort', forward, { once: true });
    const watch = setInterval(() => {
      void store.get(jobId).then(
        (now) => {
          if (!now || isTerminal(now.state)) controller.abort('job over');
        },
        () => undefined,
      );
    }, 1000);
    const started = performance.now();
    try {
      const outcome = await inference.embed(
        { input: await workspace.input(), video, embeddings: ref, chunk },
        { signal: controller.signal },
      );
      if (outcome.encoded > 0) {
        metrics.stageSeconds.observe({ stage: 'embed_chunk' }, (performance.now() - started) / 1000);
        log.debug({ encoded: outcome.encoded, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) }, 'chunk encoded');
      }
      return outcome;
    } catch (error) {
      if (controller.signal.aborted) return { encoded: 0, skipped: String(controller.signal.reason) };
      log.warn({ err: error }, 'could not encode a chunk; the tracking pass will');
      throw error;
    } finally {
      clearInterval(watch);
      signal?.removeEventListener('abort', forward);
      await sweepAfterJob(deps, jobId, job.data.embeddings);
    }
  };
}

/** Looks at the chunk again in a moment (BullMQ's delay); without a token (called directly), skips it. */
async function giveWay(job: Job<EmbedPayload, EmbedResult, 'embed'>, token: string | undefined, why: string): Promise<EmbedResult> {
  if (!token) return { encoded: 0, skipped: why };
  await job.moveToDelayed(Date.now() + AHEAD_DELAY_MS, token);
  throw new DelayedError();
}

/**
 * A helper may have written a frame after the job was deleted (the watch
 * looks once a second): once the job is gone, or over without a result,
 * its embeddings go again, so nothing is left behind. The worker's copy of
 * the input goes once the job is over.
 */
async function sweepAfterJob(deps: EmbedJobDeps, jobId: string, embeddingsKey: string): Promise<void> {
  try {
    const now = await deps.store.get(jobId);
    if (now && !isTerminal(now.state)) return;
    if (!now || now.state !== 'succeeded') await deps.workspaces.storage.deletePrefix(`${embeddingsKey}/`);
    await deps.workspaces.forgetInput(jobId);
  } catch (error) {
    deps.logger.warn({ err: error, jobId }, 'could not sweep after a finished job');
  }
}
