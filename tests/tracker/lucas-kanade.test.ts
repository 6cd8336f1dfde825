import { beforeAll, describe, expect, it } from 'vitest';
import { LucasKanadeTracker } from '../../src/tracker/lucas-kanade.js';
import { loadOpenCv } from '../../src/tracker/opencv.js';
import type { RgbFrame } from '../../src/types.js';
import { gridPoints, translatedFrame, withFlatPatch } from './helpers.js';

beforeAll(async () => {
  await loadOpenCv();
});

/** Largest distance between tracked point i and where the known motion puts it. */
function maxError(positions: Float32Array, start: Float32Array, t: number, dx: number, dy: number, only?: number[]): number {
  const indices = only ?? Array.from({ length: start.length / 2 }, (_, i) => i);
  let worst = 0;
  for (const i of indices) {
    const ex = start[2 * i] + t * dx;
    const ey = start[2 * i + 1] + t * dy;
    worst = Math.max(worst, Math.hypot(positions[2 * i] - ex, positions[2 * i + 1] - ey));
  }
  return worst;
}

describe('LucasKanadeTracker', () => {
  const [dx, dy] = [2.5, -1.0];
  const frames: RgbFrame[] = Array.from({ length: 15 }, (_, t) => translatedFrame(320, 240, t, dx, dy));
  const start = gridPoints(5, 4, 60, 60, 260, 180);

  it('follows a known sub-pixel translation within 0.5 px', async () => {
    const tracker = await LucasKanadeTracker.create();
    try {
      tracker.init(frames[0], start);
      for (let t = 1; t < frames.length; t++) {
        const { positions, visible } = tracker.step(frames[t]);
        expect(Array.from(visible)).toEqual(new Array(20).fill(1));
        expect(maxError(positions, start, t, dx, dy)).toBeLessThan(0.5);
      }
    } finally {
      tracker.dispose();
    }
  });

  it('tracks backwards in time as well', () => {
    const tracker = new LucasKanadeTracker();
    try {
      const last = frames.length - 1;
      const atLast = start.map((v, i) => v + last * (i % 2 === 0 ? dx : dy));
      tracker.init(frames[last], atLast);
      for (let t = last - 1; t >= 0; t--) {
        const { positions, visible } = tracker.step(frames[t]);
        expect(visible.every((v) => v === 1)).toBe(true);
        expect(maxError(positions, start, t, dx, dy)).toBeLessThan(0.5);
      }
    } finally {
      tracker.dispose();
    }
  });

  // With fbThreshold = 1e6 the forward-backward check never fires, so only the bounds check can
  // catch the point (OpenCV itself reports success until it is a whole window outside).
  it.each([
    ['with the default options', {}],
    ['with the forward-backward check disabled', { fbThreshold: 1e6 }],
  ])('flags a point that leaves the frame invisible, keeps its last position and stops tracking it (%s)', (_, options) => {
    const width = 160;
    const moving = Array.from({ length: 16 }, (_, t) => translatedFrame(width, 120, t, 3, 0, 11));
    const initial = Float32Array.from([139, 60, 40, 60]);
    const tracker = new LucasKanadeTracker(options);
    try {
      // Point 0 crosses the right edge around frame 7; point 1 stays well inside.
      tracker.init(moving[0], initial);
      let lostAt = -1;
      let lastSeen = new Float32Array(2);
      for (let t = 1; t < moving.length; t++) {
        const { positions, visible } = tracker.step(moving[t]);
        const trueX = 139 + 3 * t;
        if (trueX < width - 12) expect(visible[0]).toBe(1); // clearly inside: still tracked
        if (visible[0] === 1) expect(positions[0]).toBeLessThanOrEqual(width - 1);
        if (lostAt < 0 && visible[0] === 0) lostAt = t;
        if (lostAt >= 0) {
          expect(visible[0]).toBe(0); // never comes back
          if (t > lostAt) expect(Array.from(positions.subarray(0, 2))).toEqual(Array.from(lastSeen));
        }
        if (visible[0] === 1 || t === lostAt) lastSeen = positions.slice(0, 2);
        expect(visible[1]).toBe(1);
        expect(maxError(positions, initial, t, 3, 0, [1])).toBeLessThan(0.5);
      }
      expect(lostAt).toBeGreaterThan(0);
      expect(lostAt).toBeLessThanOrEqual(7); // at frame 7 the point is at x = 160, outside
      expect(lastSeen[0]).toBeLessThanOrEqual(width - 1);
    } finally {
      tracker.dispose();
    }
  });

  it('flags occluded points invisible via the forward-backward check, not their neighbours', () => {
    const [ox, oy] = [2, 1];
    const occludedAt = 4;
    const clip = Array.from({ length: 8 }, (_, t) => {
      const frame = translatedFrame(240, 180, t, ox, oy, 3);
      // A flat grey occluder over the first group's location on frame 4 (points at x 48..88, y 44..84).
      return t === occludedAt ? withFlatPatch(frame, 20, 15, 120, 115) : frame;
    });
    const hidden = gridPoints(3, 3, 40, 40, 80, 80);
    const free = gridPoints(3, 3, 150, 100, 190, 140);
    const points = new Float32Array([...hidden, ...free]);
    const hiddenIds = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const freeIds = hiddenIds.map((i) => i + 9);
    const tracker = new LucasKanadeTracker();
    try {
      tracker.init(clip[0], points);
      for (let t = 1; t < clip.length; t++) {
        const { positions, visible } = tracker.step(clip[t]);
        const expectedHidden = t >= occludedAt ? 0 : 1;
        expect(hiddenIds.map((i) => visible[i])).toEqual(new Array(9).fill(expectedHidden));
        expect(freeIds.map((i) => visible[i])).toEqual(new Array(9).fill(1));
        expect(maxError(positions, points, t, ox, oy, freeIds)).toBeLessThan(0.5);
        // Lost points keep the position they had on the frame before the occluder.
        if (t >= occludedAt) expect(maxError(positions, points, occludedAt - 1, ox, oy, hiddenIds)).toBeLessThan(0.5);
      }
    } finally {
      tracker.dispose();
    }
  });

  it('init replaces the previous points; points outside the frame start invisible', () => {
    const tracker = new LucasKanadeTracker();
    try {
      tracker.init(frames[0], start);
      tracker.step(frames[1]);
      tracker.init(frames[1], Float32Array.from([100, 100, -5, 10, 150, 120]));
      const { positions, visible } = tracker.step(frames[2]);
      expect(positions).toHaveLength(6);
      expect(Array.from(visible)).toEqual([1, 0, 1]);
      expect(Array.from(positions.subarray(2, 4))).toEqual([-5, 10]);
      expect(Math.hypot(positions[0] - 102.5, positions[1] - 99)).toBeLessThan(0.5);
      // No points at all is allowed and cheap.
      tracker.init(frames[2], new Float32Array(0));
      expect(tracker.step(frames[3]).visible).toHaveLength(0);
    } finally {
      tracker.dispose();
    }
  });

  it('rejects misuse', () => {
    const tracker = new LucasKanadeTracker();
    expect(() => tracker.step(frames[0])).toThrow(/before init/);
    expect(() => tracker.init(frames[0], Float32Array.from([1, 2, 3]))).toThrow(RangeError);
    tracker.init(frames[0], start);
    expect(() => tracker.step(translatedFrame(100, 80, 1, dx, dy))).toThrow(/320x240/);
    expect(() => tracker.step({ ...frames[1], data: new Uint8Array(10) })).toThrow(RangeError);
    tracker.dispose();
    tracker.dispose(); // idempotent
    expect(() => tracker.step(frames[1])).toThrow(/dispose/);
    expect(() => new LucasKanadeTracker({ winSize: 2 })).toThrow(RangeError);
  });

  it('steps an 854x480 frame with 20 points fast enough', () => {
    const large = Array.from({ length: 10 }, (_, t) => translatedFrame(854, 480, t, dx, dy));
    const points = gridPoints(5, 4, 300, 150, 550, 330);
    const tracker = new LucasKanadeTracker();
    try {
      const pingPong = (k: number) => large[k % 18 < 10 ? k % 18 : 18 - (k % 18)];
      tracker.init(large[0], points);
      for (let k = 1; k <= 10; k++) tracker.step(pingPong(k)); // warm-up (JIT, first allocations)
      tracker.init(large[0], points);
      const steps = 40;
      const begin = performance.now();
      let last = tracker.step(pingPong(1));
      for (let k = 2; k <= steps; k++) last = tracker.step(pingPong(k));
      const msPerStep = (performance.now() - begin) / steps;
      console.log(`LucasKanadeTracker: ${msPerStep.toFixed(1)} ms/step (854x480, 20 points, FB check)`);
      // The sequence ends on frame pingPong(40) = frame 4 after bouncing: still all visible, on target.
      expect(last.visible.every((v) => v === 1)).toBe(true);
      expect(maxError(last.positions, points, 4, dx, dy)).toBeLessThan(0.5);
      expect(msPerStep).toBeLessThan(150); // ~15-20 ms here; generous for slow CI machines
    } finally {
      tracker.dispose();
    }
  });
});
