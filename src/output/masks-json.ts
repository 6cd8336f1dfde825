import type { BinaryMask, CocoRle, VideoMeta } from '../types.js';
import { maskArea, maskBox } from '../segment/postprocess.js';
import { decodeRle, encodeRle } from '../segment/rle.js';

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

export function objectRecord(id: number, mask: BinaryMask | undefined, score: number, width: number, height: number): ObjectRecord {
  const m = mask ?? { width, height, data: new Uint8Array(width * height) };
  const box = maskBox(m);
  const area = mask ? maskArea(m) : 0;
  return {
    id,
    rle: encodeRle(m),
    score: Number(score.toFixed(4)),
    bbox: box ? [box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1] : [0, 0, 0, 0],
    area,
    visible: area > 0,
  };
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
    objects,
    frames,
  };
}
