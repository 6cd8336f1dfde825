/**
 * Tracker-internal types: the tracker object itself and its tuning knobs.
 */
import type { RgbFrame } from '../types.js';

/** What one `step` returns: points stored flat, so a frame's worth goes to OpenCV without copying. */
export interface TrackStep {
  /** x0, y0, x1, y1, ... in frame pixels; length === 2 * count (same order as `init`). */
  positions: Float32Array;
  /** 1 = tracked confidently on this frame, 0 = lost; length === count. */
  visible: Uint8Array;
}

export interface PointTracker {
  /** Start tracking `positions` (x0,y0,x1,y1,...) on this frame; replaces any previous points. */
  init(frame: RgbFrame, positions: Float32Array): void;
  /** Advance to the next frame (the caller passes frames in order, forward or backward in time). */
  step(frame: RgbFrame): TrackStep;
  /** Frees native (wasm) memory. The tracker is unusable afterwards. */
  dispose(): void;
}

export interface LucasKanadeOptions {
  /** Side of the square search window at every pyramid level, in pixels (odd). Default 21. */
  winSize: number;
  /** Highest pyramid level, 0-based (3 = four levels, handles ~ (winSize/2) * 2^3 px motion). Default 3. */
  maxLevel: number;
  /** A point stays visible only if tracking it forward then backward lands within this many px. Default 1.0. */
  fbThreshold: number;
  /** Stop the per-level Gauss-Newton iterations after this many steps... Default 30. */
  maxIterations: number;
  /** ...or when the update is smaller than this many px. Default 0.01. */
  epsilon: number;
  /**
   * OpenCV's own rejection: points whose window's minimum structure-tensor eigenvalue (normalised by
   * window area) is below this are reported as failed. Flat regions fail here. Default 1e-4 (OpenCV's).
   */
  minEigThreshold: number;
}

export const DEFAULT_LUCAS_KANADE_OPTIONS: Readonly<LucasKanadeOptions> = Object.freeze({
  winSize: 21,
  maxLevel: 3,
  fbThreshold: 1.0,
  maxIterations: 30,
  epsilon: 0.01,
  minEigThreshold: 1e-4,
});
