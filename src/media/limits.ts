/** Size limits applied when probing, so a huge upload is refused before it is decoded. */
import type { VideoMeta } from '../types.js';
import { MediaError } from './errors.js';

export interface MediaLimits {
  /** Longest side in pixels (after rotation). */
  maxSide?: number;
  /** width * height. */
  maxPixels?: number;
  maxFrames?: number;
  maxDurationSeconds?: number;
}

/** Generous defaults: only refuse what could not possibly be processed. */
export const DEFAULT_LIMITS: Required<MediaLimits> = {
  maxSide: 16_384,
  maxPixels: 8192 * 8192,
  maxFrames: 1_000_000,
  maxDurationSeconds: 24 * 3600,
};

export function checkLimits(meta: VideoMeta, limits: MediaLimits = {}): void {
  const { maxSide, maxPixels, maxFrames, maxDurationSeconds } = { ...DEFAULT_LIMITS, ...limits };
  const what = meta.kind === 'frames' ? 'the frames are' : 'the video is';
  if (Math.max(meta.width, meta.height) > maxSide || meta.width * meta.height > maxPixels) {
    throw new MediaError('too_large', `${what} ${meta.width}x${meta.height} pixels, larger than the limit`);
  }
  if (meta.frames > maxFrames) {
    throw new MediaError('too_large', `${what} ${meta.frames} frames long; the limit is ${maxFrames}`);
  }
  if (meta.duration > maxDurationSeconds) {
    throw new MediaError('too_large', `${what} ${Math.round(meta.duration)} s long; the limit is ${maxDurationSeconds} s`);
  }
}

/** A frames_missing warning lists when the first this many missing frames were due, not all of a badly broken file's. */
export const MAX_MISSING_TIMES = 100;
