import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BinaryMask, CocoRle, ImageEmbedding, JobResult, MaskTrack, Prompts, RgbFrame, VideoMeta } from '../types.js';
import { probeInput, readFrames, VideoWriter, videoWriterOptionsFor, writeIndexedPng } from '../media/index.js';
import { checkPromptsAgainstVideo } from '../prompts.js';
import { paintMasks } from '../segment/image-files.js';
import { maskArea, maskBox } from '../segment/postprocess.js';
import { decodeRle, encodeRle } from '../segment/rle.js';
import type { SamSegmenter } from '../segment/segmenter.js';
import { tempNameFor, writeFileAtomic } from '../util/atomic.js';
import { timed, timedIterable } from '../util/profile.js';
import type { SamPtOptions } from './sam-pt.js';
import { trackFrames, type TrackedFrame } from './track-frames.js';

/**
 * A whole video: probe -> (backward pass for objects first prompted after
 * frame 0) -> forward pass -> overlay.mp4, masks.json, optional indexed PNGs.
 * Frames stream through; nothing holds more than a bounded window of them.
 * Outputs are written under temporary names and renamed when complete, so a
 * failed or cancelled run leaves nothing behind.
 */

export interface TrackVideoInput {
  input: string;
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
}

export interface EmbeddingSource {
  /** The embedding of a frame: computed, cached, or encoded elsewhere. */
  get(frame: RgbFrame): Promise<ImageEmbedding>;
  /** The forward pass is done with this frame and will not ask for it again. */
  release?(frameIndex: number): Promise<void>;
}

export interface TrackProgress {
  stage: 'backward' | 'forward';
  framesDone: number;
  framesTotal: number;
}

/** Bytes of decoded frames the backward pass may hold at once (it reads chunks and reverses them). */
const BACKWARD_WINDOW_BYTES = 256 * 1024 * 1024;

interface FrameRecord {
  id: number;
  rle: CocoRle;
  score: number;
  bbox: [number, number, number, number];
  area: number;
  visible: boolean;
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

/** The first frame each object is prompted on. */
function firstPromptFrames(prompts: Prompts): Map<number, number> {
  return new Map(prompts.objects.map((o) => [o.id, Math.min(...o.prompts.map((p) => p.frame))]));
}

/** Frames [0, end) newest first, read in forward chunks that fit the window. */
async function* framesBackward(input: string, meta: VideoMeta, end: number, signal?: AbortSignal): AsyncGenerator<RgbFrame> {
  const chunk = Math.max(4, Math.floor(BACKWARD_WINDOW_BYTES / (meta.width * meta.height * 3)));
  for (let stop = end; stop > 0; stop -= chunk) {
    const frames: RgbFrame[] = [];
    for await (const frame of readFrames(input, meta, { start: Math.max(0, stop - chunk), end: stop, signal })) frames.push(frame);
    for (let i = frames.length - 1; i >= 0; i--) yield frames[i];
  }
}

function recordOf(objectId: number, mask: BinaryMask | undefined, score: number, width: number, height: number): FrameRecord {
  const m = mask ?? { width, height, data: new Uint8Array(width * height) };
  const box = maskBox(m);
  const area = mask ? maskArea(m) : 0;
  return {
    id: objectId,
    rle: encodeRle(m),
    score: Number(score.toFixed(4)),
    bbox: box ? [box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1] : [0, 0, 0, 0],
    area,
    visible: area > 0,
  };
}

export async function trackVideo(job: TrackVideoInput): Promise<JobResult> {
  const meta = limitFrames(await probeInput(job.input), job.maxFrames);
  checkPromptsAgainstVideo(job.prompts, meta);
  const { width, height } = meta;
  const source = job.embeddings;
  const embed = source ? (frame: RgbFrame) => source.get(frame) : (frame: RgbFrame) => job.segmenter.embed(frame);
  const firstFrames = firstPromptFrames(job.prompts);
  const backwardEnd = Math.max(...firstFrames.values());
  const framesTotal = (backwardEnd > 0 ? backwardEnd + 1 : 0) + meta.frames;
  let framesDone = 0;

  // Backward pass: each object from its first prompt back to frame 0, with that prompt only.
  const backward = new Map<number, Map<number, FrameRecord>>(); // frame -> object -> record
  if (backwardEnd > 0) {
    const firstOnly: Prompts = {
      objects: job.prompts.objects
        .filter((o) => firstFrames.get(o.id)! > 0)
        .map((o) => ({ ...o, prompts: o.prompts.filter((p) => p.frame === firstFrames.get(o.id)) })),
    };
    for await (const tracked of trackFrames({
      segmenter: job.segmenter,
      frames: framesBackward(job.input, meta, backwardEnd + 1, job.signal),
      embed,
      prompts: firstOnly,
      options: job.options,
    })) {
      const t = tracked.frame.index;
      const records = new Map<number, FrameRecord>();
      for (const r of tracked.results) {
        if (t < firstFrames.get(r.objectId)!) records.set(r.objectId, recordOf(r.objectId, tracked.masks.get(r.objectId), r.score, width, height));
      }
      if (records.size) backward.set(t, records);
      job.onProgress?.({ stage: 'backward', framesDone: ++framesDone, framesTotal });
    }
  }

  await mkdir(job.outDir, { recursive: true });
  const overlayPath = path.join(job.outDir, 'overlay.mp4');
  const masksPath = path.join(job.outDir, 'masks.json');
  const pngTemp = job.pngDir ? tempNameFor(path.resolve(job.pngDir)) : undefined;
  if (pngTemp) await mkdir(pngTemp, { recursive: true });
  const writer = await VideoWriter.open({ ...videoWriterOptionsFor(meta, overlayPath, meta.kind === 'video' ? job.input : undefined), signal: job.signal });
  const frameRecords: FrameRecord[][] = [];
  const objectIds = job.prompts.objects.map((o) => o.id);
  try {
    const forward = trackFrames({
      segmenter: job.segmenter,
      frames: timedIterable('decode', readFrames(job.input, meta, { signal: job.signal })),
      embed,
      prompts: job.prompts,
      options: job.options,
    });
    for await (const tracked of forward) {
      const { records, masks } = combineDirections(tracked, backward.get(tracked.frame.index), objectIds, width, height);
      backward.delete(tracked.frame.index);
      frameRecords.push(records);
      await timed('render', () => writeFrameOutputs(tracked.frame, masks, writer, pngTemp, meta));
      await source?.release?.(tracked.frame.index);
      job.onProgress?.({ stage: 'forward', framesDone: ++framesDone, framesTotal });
    }
    await writer.finish();
    const tracks = toMaskTracks(job.prompts, frameRecords);
    await writeFileAtomic(masksPath, JSON.stringify(masksJson(meta, job.prompts, frameRecords)));
    if (job.pngDir && pngTemp) {
      await rm(job.pngDir, { recursive: true, force: true });
      await rename(pngTemp, job.pngDir);
    }
    return { video: meta, tracks, artifacts: { overlay: overlayPath, masks: masksPath, pngDir: job.pngDir } };
  } catch (error) {
    await writer.abort();
    if (pngTemp) await rm(pngTemp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Forward results plus, for objects not yet started on this frame, the
 * backward pass's; every object gets a record (empty when absent).
 */
function combineDirections(
  tracked: TrackedFrame,
  backward: Map<number, FrameRecord> | undefined,
  objectIds: number[],
  width: number,
  height: number,
): { records: FrameRecord[]; masks: Map<number, BinaryMask> } {
  const records = tracked.results.map((r) => recordOf(r.objectId, tracked.masks.get(r.objectId), r.score, width, height));
  const masks = new Map(tracked.masks);
  if (backward) {
    // The backward-only objects take the pixels the forward objects left free.
    const taken = new Uint8Array(width * height);
    for (const mask of tracked.masks.values()) for (let p = 0; p < taken.length; p++) taken[p] |= mask.data[p];
    for (const record of backward.values()) {
      if (records.some((r) => r.id === record.id)) continue;
      const mask = decodeRle(record.rle);
      let overlap = false;
      for (let p = 0; p < taken.length; p++) {
        if (mask.data[p] && taken[p]) {
          mask.data[p] = 0;
          overlap = true;
        }
      }
      records.push(overlap ? recordOf(record.id, mask, record.score, width, height) : record);
      masks.set(record.id, mask);
    }
  }
  for (const id of objectIds) if (!records.some((r) => r.id === id)) records.push(recordOf(id, undefined, 0, width, height));
  return { records: records.sort((a, b) => a.id - b.id), masks };
}

/** Paints the overlay frame and the indexed PNG from the frame's masks (no RLE round trip). */
async function writeFrameOutputs(frame: RgbFrame, masks: Map<number, BinaryMask>, writer: VideoWriter, pngDir: string | undefined, meta: VideoMeta) {
  const ids = [...masks.keys()].sort((a, b) => a - b);
  const ordered = ids.map((id) => masks.get(id)!);
  const rgb = Uint8Array.from(frame.data);
  paintMasks(rgb, frame.width, frame.height, ordered, ids);
  await writer.write(rgb);
  if (pngDir) {
    const indexMap = new Uint8Array(frame.width * frame.height);
    ordered.forEach((mask, i) => {
      for (let p = 0; p < indexMap.length; p++) if (mask.data[p]) indexMap[p] = ids[i];
    });
    await writeIndexedPng(path.join(pngDir, `${meta.frameNames[frame.index]}.png`), indexMap, frame.width, frame.height);
  }
}

function toMaskTracks(prompts: Prompts, frames: FrameRecord[][]): MaskTrack[] {
  return prompts.objects.map((o) => ({
    objectId: o.id,
    name: o.name ?? `object ${o.id}`,
    frames: frames.flatMap((records, frame) => {
      const r = records.find((x) => x.id === o.id);
      return r ? [{ frame, rle: r.rle, score: r.score, bbox: r.bbox, area: r.area, visible: r.visible }] : [];
    }),
  }));
}

/** masks.json: video metadata, the objects, and per frame per object the COCO RLE mask and its measures. */
function masksJson(meta: VideoMeta, prompts: Prompts, frames: FrameRecord[][]) {
  return {
    format: 'clipmask.masks/1',
    video: { width: meta.width, height: meta.height, fps: meta.fps, frames: meta.frames, duration: meta.duration },
    objects: prompts.objects.map((o) => ({ id: o.id, name: o.name ?? `object ${o.id}` })),
    frames: frames.map((records, index) => ({
      frame: index,
      name: meta.frameNames[index],
      time: Number((meta.timestamps[index] ?? index / meta.fps).toFixed(6)),
      objects: records,
    })),
  };
}
