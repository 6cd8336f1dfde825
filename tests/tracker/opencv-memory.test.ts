/**
 * Leak checks for the opencv.js-backed tracker. The wasm heap (HEAPU8.length) starts at 128 MiB and
 * only grows once that is exhausted, so on its own it would hide ~100 MB of leaks; the sensitive
 * signal is malloc's program break, which moves up only when freed memory cannot be reused. A
 * control run that deliberately leaks one tiny Mat per step shows the probe can see it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { LucasKanadeTracker } from '../../src/tracker/lucas-kanade.js';
import { getCv, loadOpenCv, wasmHeapBytes } from '../../src/tracker/opencv.js';
import type { RgbFrame } from '../../src/types.js';
import { gridPoints, translatedFrame, wasmProgramBreak } from './helpers.js';

let frames: RgbFrame[] = [];
/** Frame index at step k of 0,1..9,8..0,1..: continuous motion forever from 10 precomputed frames. */
const phase = (k: number): number => (k % 18 < 10 ? k % 18 : 18 - (k % 18));
const pingPong = (k: number): RgbFrame => frames[phase(k)];
const points = gridPoints(5, 4, 300, 150, 550, 330);
/** Where the grid points are on frame t (the texture moves by (2.5, -1) px per frame). */
const pointsOnFrame = (t: number): Float32Array => points.map((v, i) => v + t * (i % 2 === 0 ? 2.5 : -1));

beforeAll(async () => {
  await loadOpenCv();
  frames = Array.from({ length: 10 }, (_, t) => translatedFrame(854, 480, t, 2.5, -1.0));
});

/** Memory growth over 200 steps at 854x480 (after a warm-up), re-initialising every 50 steps. */
function growthOverLongRun(afterEachStep: () => void = () => {}): { programBreak: number; heap: number } {
  const tracker = new LucasKanadeTracker();
  try {
    tracker.init(frames[0], points);
    for (let k = 1; k <= 20; k++) tracker.step(pingPong(k)); // warm-up: first allocations
    const breakBefore = wasmProgramBreak();
    const heapBefore = wasmHeapBytes();
    let visibleAtEnd = 0;
    for (let k = 0; k < 200; k++) {
      if (k % 50 === 0) tracker.init(pingPong(k), pointsOnFrame(phase(k)));
      const { visible } = tracker.step(pingPong(k + 1));
      visibleAtEnd = visible.reduce((a, b) => a + b, 0);
      afterEachStep();
    }
    // The points really were tracked the whole time (a tracker that gave up would allocate nothing).
    expect(visibleAtEnd).toBe(points.length / 2);
    return { programBreak: wasmProgramBreak() - breakBefore, heap: wasmHeapBytes() - heapBefore };
  } finally {
    tracker.dispose();
  }
}

describe('opencv.js memory', () => {
  it('tracking 200 frames of 854x480 does not grow the wasm heap', () => {
    growthOverLongRun(); // settle malloc's free lists once
    const growth = growthOverLongRun();
    expect(growth.programBreak).toBe(0);
    expect(growth.heap).toBe(0);
  });

  it('creating and disposing trackers frees their buffers', () => {
    const cycle = () => {
      const tracker = new LucasKanadeTracker();
      tracker.init(frames[0], points);
      tracker.step(frames[1]);
      tracker.dispose();
    };
    cycle();
    const before = wasmProgramBreak();
    const handlesBefore = getCv().count_emval_handles();
    for (let i = 0; i < 30; i++) cycle(); // 30 x 3 frame-sized Mats = 37 MB if leaked
    expect(wasmProgramBreak() - before).toBe(0);
    expect(getCv().count_emval_handles()).toBe(handlesBefore);
  });

  it('control: the probe does see a leak of one tiny Mat per step', () => {
    const cv = getCv();
    const leaked: { delete(): void }[] = [];
    try {
      const growth = growthOverLongRun(() => leaked.push(new cv.Mat(20, 1, cv.CV_32FC2)));
      expect(growth.programBreak).toBeGreaterThan(0);
    } finally {
      for (const mat of leaked) mat.delete();
    }
  });
});
