import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { BinaryMask, CocoRle, VideoMeta } from '../types.js';
import { maskArea, maskBox } from '../segment/postprocess.js';
import { decodeRle, encodeRle } from '../segment/rle.js';
import { MAX_FEATHER } from './render-spec.js';

/**
 * masks.json, the record of a run: per frame, per object, the COCO RLE mask
 * and its measures. The same frame records are what GET /v1/jobs/:id/masks
 * serves while a job runs and what a correction rewrites, so they are made
 * here only.
 */

export const MASKS_FORMAT = 'clipmask.masks/1';

/** One object on one frame, as masks.json has it. */
export interface ObjectRecord {
  id: number;
  rle: CocoRle;
  score: number;
  /** [x, y, width, height] in pixels, COCO style; [0, 0, 0, 0] when empty. */
  bbox: [number, number, number, number];
  area: number;
  visible: boolean;
  /** The decoder's logits around the mask, for soft edges in renders; absent on an empty object or when unknown. */
  edge?: ObjectEdge;
}

/**
 * An object's soft edge: the decoder's logits (> 0 = object) around its mask,
 * so a render can feather along the decoder's own sub-pixel boundary rather
 * than the mask's pixel staircase. Compact on purpose (it is in every frame
 * record):
 *   - a grid of samples every `step` pixels, step = ceil(longer side /
 *     EDGE_GRID) (4 px at 640x480, 12 at 1920x1080: the decoder's own logits
 *     are 256 cells on the longer side, so little is lost), covering the box
 *     grown by EDGE_MARGIN pixels (half the widest feather);
 *   - the logits divided by their median slope where they cross 0, so a unit
 *     is about a pixel of distance to the boundary (a render uses L / |∇L|,
 *     which no scale changes), times EDGE_LEVELS / `band`, rounded and
 *     clamped to ±EDGE_LEVELS: `band` = EDGE_BAND_STEPS * step pixels either
 *     side of the boundary are kept (in steps of 1/8 px at 640x480),
 *     everything farther saturates: there the mask's own distance is as good,
 *     and the decoder's real logits hover near 0 over wide areas, which a
 *     wider band or finer steps would pay for in size;
 *   - row-major int8, raw deflate, base64.
 * Measured: on the person of cutie-examples/example.mp4 (640x480, the real
 * model) 2,565 characters per object-frame, 3 times its RLE (845); on
 * smooth 640x480 discs off the pixel grid 156, 512 and 992 characters for
 * radius 20, 77 and 150 (RLE 88, 317, 612).
 */
export interface ObjectEdge {
  /** The pixel of sample (0, 0); sample (i, j) is at pixel (x + i * step, y + j * step). */
  x: number;
  y: number;
  cols: number;
  rows: number;
  step: number;
  /** base64(deflateRaw(int8[rows][cols])); value * band / EDGE_LEVELS = the logit in pixels of distance. */
  data: string;
}

export const EDGE_GRID = 160;
export const EDGE_MARGIN = MAX_FEATHER / 2;
export const EDGE_BAND_STEPS = 1;
export const EDGE_LEVELS = 32;

/** Pixels either side of the boundary an edge's samples keep; past this they saturate. */
export function edgeBand(edge: Pick<ObjectEdge, 'step'>): number {
  return EDGE_BAND_STEPS * edge.step;
}

/** The edge of `logits` (full-size [height, width]) around `box` ([x, y, w, h], COCO style). */
export function encodeEdge(logits: Float32Array, width: number, height: number, box: [number, number, number, number]): ObjectEdge {
  const step = Math.ceil(Math.max(width, height) / EDGE_GRID);
  const x = Math.max(0, box[0] - EDGE_MARGIN);
  const y = Math.max(0, box[1] - EDGE_MARGIN);
  const cols = Math.ceil((Math.min(width - 1, box[0] + box[2] - 1 + EDGE_MARGIN) - x) / step) + 1;
  const rows = Math.ceil((Math.min(height - 1, box[1] + box[3] - 1 + EDGE_MARGIN) - y) / step) + 1;
  const perUnit = EDGE_LEVELS / (edgeSlope(logits, width, height, box) * EDGE_BAND_STEPS * step);
  const samples = new Int8Array(cols * rows);
  for (let j = 0; j < rows; j++) {
    // The last sample may fall past the frame; it takes the border pixel's logit.
    const row = Math.min(height - 1, y + j * step) * width;
    for (let i = 0; i < cols; i++) {
      const q = Math.round(logits[row + Math.min(width - 1, x + i * step)] * perUnit);
      samples[j * cols + i] = q > EDGE_LEVELS ? EDGE_LEVELS : q < -EDGE_LEVELS ? -EDGE_LEVELS : q;
    }
  }
  return { x, y, cols, rows, step, data: deflateRawSync(samples).toString('base64') };
}

/** Median |∇L| (logits per pixel) over the box's pixels where the logits change sign; 1 if they never do. */
function edgeSlope(logits: Float32Array, width: number, height: number, box: [number, number, number, number]): number {
  const slopes: number[] = [];
  for (let y = Math.max(1, box[1]); y < Math.min(height - 1, box[1] + box[3]); y++) {
    for (let x = Math.max(1, box[0]); x < Math.min(width - 1, box[0] + box[2]); x++) {
      const p = y * width + x;
      if (logits[p] > 0 === logits[p + 1] > 0 && logits[p] > 0 === logits[p + width] > 0) continue;
      slopes.push(Math.hypot(logits[p + 1] - logits[p - 1], logits[p + width] - logits[p - width]) / 2);
    }
  }
  slopes.sort((a, b) => a - b);
  const median = slopes[slopes.length >> 1];
  return median > 1e-6 ? median : 1;
}

/** The edge's samples, in pixels of distance: [rows][cols]. */
export function edgeSamples(edge: ObjectEdge): Float32Array {
  const bytes = inflateRawSync(Buffer.from(edge.data, 'base64'));
  if (bytes.length !== edge.cols * edge.rows) throw new RangeError(`edge has ${bytes.length} samples, expected ${edge.cols}x${edge.rows}`);
  const samples = new Float32Array(bytes.length);
  const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const unit = edgeBand(edge) / EDGE_LEVELS;
  for (let i = 0; i < signed.length; i++) samples[i] = signed[i] * unit;
  return samples;
}

/** One frame of masks.json: every object, sorted by id (an absent object has an empty mask). */
export interface FrameRecord {
  frame: number;
  name: string;
  /** Presentation time in seconds. */
  time: number;
  objects: ObjectRecord[];
}

export interface MasksObject {
  id: number;
  name: string;
  category?: string;
}

/** An object's record; with the decoder's full-size logits it gets an edge (unless the mask is empty). */
export function objectRecord(id: number, mask: BinaryMask | undefined, score: number, width: number, height: number, logits?: Float32Array): ObjectRecord {
  const m = mask ?? { width, height, data: new Uint8Array(width * height) };
  const box = maskBox(m);
  const area = mask ? maskArea(m) : 0;
  const bbox: ObjectRecord['bbox'] = box ? [box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1] : [0, 0, 0, 0];
  const record: ObjectRecord = { id, rle: encodeRle(m), score: Number(score.toFixed(4)), bbox, area, visible: area > 0 };
  if (logits && record.visible) record.edge = encodeEdge(logits, width, height, bbox);
  return record;
}

/**
 * `record` with the edge of the record it was re-made from (e.g. after the
 * overlap with other objects was cut away: the edge still describes the
 * decoder's boundary, and the hard mask wins where they disagree).
 */
export function withEdge(record: ObjectRecord, edge: ObjectEdge | undefined): ObjectRecord {
  return edge && record.visible ? { ...record, edge } : record;
}

export function emptyRecord(id: number, width: number, height: number): ObjectRecord {
  return objectRecord(id, undefined, 0, width, height);
}

export function recordMask(record: ObjectRecord): BinaryMask {
  return decodeRle(record.rle);
}

/** The frame record of frame `index` with these object records (sorted by id here). */
export function frameRecord(meta: Pick<VideoMeta, 'frameNames' | 'timestamps' | 'fps'>, index: number, objects: ObjectRecord[]): FrameRecord {
  return {
    frame: index,
    name: meta.frameNames[index],
    time: Number((meta.timestamps[index] ?? index / meta.fps).toFixed(6)),
    objects: [...objects].sort((a, b) => a.id - b.id),
  };
}

/** The whole masks.json document. */
export function masksDocument(meta: VideoMeta, objects: MasksObject[], frames: FrameRecord[]) {
  return {
    format: MASKS_FORMAT,
    video: { width: meta.width, height: meta.height, fps: meta.fps, frames: meta.frames, duration: meta.duration },
    ...(meta.warnings ? { warnings: meta.warnings } : {}),
    objects,
    frames,
  };
}
