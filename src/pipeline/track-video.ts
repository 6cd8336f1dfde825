import type { Prompts, VideoMeta } from '../types.js';
import { probeInput } from '../media/index.js';
import { ArtifactWriter, OUTPUT_FILES } from '../output/artifacts.js';
import { MemoryResults, type ResultStore } from '../output/result-store.js';
import { checkPromptsAgainstVideo } from '../prompts.js';
import type { SamSegmenter } from '../segment/segmenter.js';
import { timed } from '../util/profile.js';
import path from 'node:path';
import type { SamPtOptions } from './sam-pt.js';
import { sessionObjects, TrackingSession, type EmbeddingSource, type PropagationStep } from './tracking-session.js';

export type { EmbeddingSource } from './tracking-session.js';

/**
 * A whole video, the first run of a tracking session: probe -> (backward
 * pass for objects first prompted after frame 0) -> forward pass ->
 * overlay.mp4, masks.json, optional indexed PNGs. Frames stream through;
 * nothing holds more than a bounded window of them. Each frame's records go
 * to the result store as soon as they are final. Outputs are written under
 * temporary names and renamed when complete, so a failed or cancelled run
 * leaves nothing behind.
 */

export interface TrackVideoInput {
  input: string;
  /** The input as probed (with `decode`); probed here, decoding it, when not given. */
  video?: VideoMeta;
  prompts: Prompts;
  segmenter: SamSegmenter;
  outDir: string;
  pngDir?: string;
  maxFrames?: number;
  options?: Partial<SamPtOptions>;
  signal?: AbortSignal;
  onProgress?: (progress: TrackProgress) => void;
  /** Where embeddings come from; defaults to the segmenter's encoder. Lets callers cache or share them. */
  embeddings?: EmbeddingSource;
  /** Where frame records go as they are final (default: memory). */
  results?: ResultStore;
  /** Called with the session before it runs: a job hands it corrections that arrive during the run. */
  onSession?: (session: TrackingSession) => void;
}

export interface TrackProgress {
  stage: 'backward' | 'forward';
  framesDone: number;
  framesTotal: number;
  /** The newest frame whose masks are final (forward pass only). */
  lastFrame?: number;
}

export interface TrackVideoResult {
  video: VideoMeta;
  artifacts: { overlay: string; masks: string; pngDir?: string };
}

export function limitFrames(meta: VideoMeta, maxFrames?: number): VideoMeta {
  if (!maxFrames || maxFrames >= meta.frames) return meta;
  const timestamps = meta.timestamps.slice(0, maxFrames);
  return {
    ...meta,
    frames: maxFrames,
    timestamps,
    frameNames: meta.frameNames.slice(0, maxFrames),
    duration: maxFrames / meta.fps,
  };
}

/** Frames the first run goes through: the backward pass's, then every frame forward. */
function framesTotal(prompts: Prompts, meta: VideoMeta): number {
  const backwardEnd = Math.max(...prompts.objects.map((o) => Math.min(...o.prompts.map((p) => p.frame))));
  return (backwardEnd > 0 ? backwardEnd + 1 : 0) + meta.frames;
}

export async function trackVideo(job: TrackVideoInput): Promise<TrackVideoResult> {
  // Decoded once before the run: a frame that does not decode must be missing from the start, not shift the rest.
  const meta = limitFrames(job.video ?? (await probeInput(job.input, { decode: true, signal: job.signal })), job.maxFrames);
  checkPromptsAgainstVideo(job.prompts, meta);
  const results = job.results ?? new MemoryResults();
  const session = new TrackingSession({
    input: job.input,
    video: meta,
    segmenter: job.segmenter,
    objects: sessionObjects(job.prompts.objects),
    results,
    embeddings: job.embeddings,
    options: job.options,
    speed: job.prompts.speed,
    signal: job.signal,
  });
  job.onSession?.(session);
  const total = framesTotal(job.prompts, meta);
  let framesDone = 0;
  const onStep = (step: PropagationStep) =>
    job.onProgress?.({ stage: step.pass, framesDone: ++framesDone, framesTotal: total, lastFrame: step.pass === 'forward' ? step.frame : undefined });

  const writer = await ArtifactWriter.open({ meta, input: job.input, outDir: job.outDir, pngDir: job.pngDir, signal: job.signal });
  try {
    for await (const { frame, masks } of session.propagateAll(onStep)) {
      await timed('render', () => writer.add(frame, masks));
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.finish(session.objectList, results);
  return { video: meta, artifacts: { overlay: path.join(job.outDir, OUTPUT_FILES.overlay), masks: path.join(job.outDir, OUTPUT_FILES.masks), pngDir: job.pngDir } };
}
