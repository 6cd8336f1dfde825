import { describe, expect, it } from 'vitest';
import {
  deepestInteriorPoint,
  distanceToBackground,
  distanceToForeground,
  sampleNegativePoints,
  samplePositivePoints,
} from '../../src/tracker/query-points.js';
import type { BinaryMask } from '../../src/types.js';
import { maskFrom } from './helpers.js';

/** Parses rows like '1 1 0' into a mask. */
function maskOf(rows: string[]): BinaryMask {
  const cells = rows.map((row) => row.trim().split(/\s+/).map(Number));
  return { width: cells[0].length, height: cells.length, data: Uint8Array.from(cells.flat()) };
}

const disc = (cx: number, cy: number, r: number) => (x: number, y: number) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;

function pointsOf(flat: Float32Array): [number, number][] {
  return Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]);
}

function minPairwiseDistance(points: [number, number][]): number {
  let min = Infinity;
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      min = Math.min(min, Math.hypot(points[i][0] - points[j][0], points[i][1] - points[j][1]));
    }
  }
  return min;
}

function bruteForceDistance(mask: BinaryMask, wantZero: (v: number) => boolean, ring: boolean): Float32Array {
  const { width, height, data } = mask;
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (wantZero(data[y * width + x])) continue;
      let best = ring ? Math.min(x + 1, y + 1, width - x, height - y) ** 2 : Infinity;
      for (let v = 0; v < height; v++) {
        for (let u = 0; u < width; u++) {
          if (wantZero(data[v * width + u])) best = Math.min(best, (u - x) ** 2 + (v - y) ** 2);
        }
      }
      out[y * width + x] = Math.sqrt(best);
    }
  }
  return out;
}

describe('distanceToBackground', () => {
  it('matches hand-computed distances, with the outside of the frame as background', () => {
    const mask = maskOf([
      '1 1 1 1 1',
      '1 1 1 1 1',
      '1 1 1 1 0',
    ]);
    // Row 1, x=3: the background pixel (4,2) is sqrt(2) away; x=1,2 are 2 from the frame's top/bottom.
    expect(Array.from(distanceToBackground(mask))).toEqual(Array.from(Float32Array.from([
      1, 1, 1, 1, 1,
      1, 2, 2, Math.SQRT2, 1,
      1, 1, 1, 1, 0,
    ])));
  });

  it('is exact on a mask with a hole', () => {
    const mask = maskOf([
      '1 1 1 1 1 1 1',
      '1 1 1 1 1 1 1',
      '1 1 1 1 1 1 1',
      '1 1 1 0 1 1 1',
      '1 1 1 1 1 1 1',
      '1 1 1 1 1 1 1',
      '1 1 1 1 1 1 1',
    ]);
    const d = distanceToBackground(mask);
    const at = (x: number, y: number) => d[y * 7 + x];
    expect(at(3, 3)).toBe(0);
    expect(at(3, 2)).toBe(1);
    expect(at(2, 2)).toBe(Math.fround(Math.SQRT2));
    expect(at(1, 1)).toBe(2); // 2 from the frame's edge, sqrt(8) from the hole
    expect(at(1, 3)).toBe(2); // 2 from the left edge, 2 from the hole
    expect(at(0, 6)).toBe(1);
  });

  it('equals a brute-force Euclidean distance on random masks', () => {
    let state = 12345;
    const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
    for (let trial = 0; trial < 20; trial++) {
      const width = 5 + Math.floor(random() * 20);
      const height = 5 + Math.floor(random() * 20);
      const density = 0.6 + 0.39 * random();
      const mask = maskFrom(width, height, () => random() < density);
      expect(distanceToBackground(mask)).toEqual(bruteForceDistance(mask, (v) => v === 0, true));
      expect(distanceToForeground(mask)).toEqual(bruteForceDistance(mask, (v) => v !== 0, false));
    }
  });

  it('distanceToForeground is Infinity everywhere for an empty mask', () => {
    const d = distanceToForeground(maskFrom(4, 3, () => false));
    expect(Array.from(d).every((v) => v === Infinity)).toBe(true);
  });

  it('rejects a mask whose data does not match its size', () => {
    expect(() => distanceToBackground({ width: 3, height: 3, data: new Uint8Array(8) })).toThrow(RangeError);
  });
});

describe('deepestInteriorPoint', () => {
  it('is the centre of a disc', () => {
    const [x, y] = deepestInteriorPoint(maskFrom(120, 100, disc(47, 53, 30)));
    expect(Math.abs(x - 47)).toBeLessThanOrEqual(1);
    expect(Math.abs(y - 53)).toBeLessThanOrEqual(1);
  });

  it('lies in the thick part of an L shape', () => {
    // Thick vertical bar x in [10, 50), y in [10, 90); thin foot x in [50, 110), y in [75, 90).
    const mask = maskFrom(120, 100, (x, y) =>
      (x >= 10 && x < 50 && y >= 10 && y < 90) || (x >= 50 && x < 110 && y >= 75 && y < 90));
    const [x, y] = deepestInteriorPoint(mask);
    expect(x).toBeGreaterThanOrEqual(10 + 15);
    expect(x).toBeLessThan(50 - 15);
    expect(y).toBeGreaterThanOrEqual(10 + 15);
    expect(y).toBeLessThan(90 - 15);
  });

  it('keeps away from the frame edge when the mask touches it', () => {
    const [x] = deepestInteriorPoint(maskFrom(100, 20, (x) => x < 60));
    expect(x).toBeGreaterThanOrEqual(9);
  });

  it('throws on an empty mask', () => {
    expect(() => deepestInteriorPoint(maskFrom(10, 10, () => false))).toThrow(/empty/);
  });
});

describe('samplePositivePoints', () => {
  const discMask = maskFrom(200, 160, disc(100, 80, 60));

  it('returns k distinct points on the mask, spread over a disc', () => {
    const k = 8;
    const points = pointsOf(samplePositivePoints(discMask, k));
    expect(points).toHaveLength(k);
    for (const [x, y] of points) {
      expect(Number.isInteger(x) && Number.isInteger(y)).toBe(true);
      expect(discMask.data[y * discMask.width + x]).toBe(1);
    }
    // 8 well-spread points in a disc of radius 60 (area ~11300 px^2, ~1400 px^2 each) sit ~35 px
    // apart; clustered points would be a few px apart.
    expect(minPairwiseDistance(points)).toBeGreaterThan(20);
    // They cover the disc: every quadrant around the centre holds at least one point.
    const quadrants = new Set(points.map(([x, y]) => `${x >= 100}${y >= 80}`));
    expect(quadrants.size).toBe(4);
  });

  it('is deterministic for a given seed and changes with the seed', () => {
    const a = samplePositivePoints(discMask, 6, 3);
    expect(samplePositivePoints(discMask, 6, 3)).toEqual(a);
    const others = [4, 5, 6].map((seed) => samplePositivePoints(discMask, 6, seed));
    expect(others.some((b) => b.some((v, i) => v !== a[i]))).toBe(true);
  });

  it('puts every point on a thin, non-convex mask (a ring), where centroids would miss it', () => {
    const ring = maskFrom(200, 200, (x, y) => {
      const r2 = (x - 100) ** 2 + (y - 100) ** 2;
      return r2 <= 70 ** 2 && r2 >= 62 ** 2;
    });
    for (const [x, y] of pointsOf(samplePositivePoints(ring, 5, 1))) {
      expect(ring.data[y * 200 + x]).toBe(1);
    }
  });

  it('with k = 1 returns a central pixel', () => {
    const [x, y] = samplePositivePoints(discMask, 1);
    expect(Math.hypot(x - 100, y - 80)).toBeLessThan(6);
  });

  it('returns every pixel when the mask has fewer than k', () => {
    const tiny = maskFrom(10, 10, (x, y) => (x === 2 && y === 3) || (x === 7 && y === 1));
    expect(Array.from(samplePositivePoints(tiny, 5))).toEqual([7, 1, 2, 3]);
    expect(samplePositivePoints(maskFrom(10, 10, () => false), 3)).toHaveLength(0);
    expect(samplePositivePoints(discMask, 0)).toHaveLength(0);
  });

  it('handles a large mask quickly (subsampled)', () => {
    const big = maskFrom(854, 480, (x, y) => x > 50 && x < 800 && y > 40 && y < 450);
    const start = performance.now();
    const points = pointsOf(samplePositivePoints(big, 16));
    expect(performance.now() - start).toBeLessThan(2000);
    expect(points).toHaveLength(16);
    for (const [x, y] of points) expect(big.data[y * 854 + x]).toBe(1);
  });
});

describe('sampleNegativePoints', () => {
  const discMask = maskFrom(240, 200, disc(120, 100, 40));

  it('returns k distinct points off the mask, in a band around it', () => {
    const points = pointsOf(sampleNegativePoints(discMask, 6));
    expect(points).toHaveLength(6);
    const distance = distanceToForeground(discMask);
    // Defaults for area ~5000 px^2 (sqrt ~ 71): minGap = 8, maxGap = 35.4.
    for (const [x, y] of points) {
      expect(discMask.data[y * 240 + x]).toBe(0);
      expect(distance[y * 240 + x]).toBeGreaterThanOrEqual(8);
      expect(distance[y * 240 + x]).toBeLessThanOrEqual(36);
    }
    expect(minPairwiseDistance(points)).toBeGreaterThan(15);
  });

  it('is deterministic', () => {
    expect(sampleNegativePoints(discMask, 4, 9)).toEqual(sampleNegativePoints(discMask, 4, 9));
  });

  it('honours explicit gaps', () => {
    const distance = distanceToForeground(discMask);
    for (const [x, y] of pointsOf(sampleNegativePoints(discMask, 5, 0, { minGap: 20, maxGap: 25 }))) {
      expect(distance[y * 240 + x]).toBeGreaterThanOrEqual(20);
      expect(distance[y * 240 + x]).toBeLessThanOrEqual(25);
    }
  });

  it('falls back to the whole background when the band is too small, and to nothing without one', () => {
    // The object fills all but a 3 px strip: no pixel is 8 px away from it.
    const almostFull = maskFrom(50, 40, (x) => x < 47);
    const points = pointsOf(sampleNegativePoints(almostFull, 3));
    expect(points).toHaveLength(3);
    for (const [x, y] of points) expect(almostFull.data[y * 50 + x]).toBe(0);
    expect(sampleNegativePoints(maskFrom(10, 10, () => true), 3)).toHaveLength(0);
  });

  it('spreads over the frame when the mask is empty', () => {
    const points = pointsOf(sampleNegativePoints(maskFrom(100, 100, () => false), 4));
    expect(points).toHaveLength(4);
    expect(minPairwiseDistance(points)).toBeGreaterThan(25);
  });
});
