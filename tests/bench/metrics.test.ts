import { describe, expect, it } from 'vitest';
import { boundaryMap, boundaryMeasure, coveredShare, dilateDisk, regionSimilarity } from '../../bench/metrics.js';
import { rectMask } from '../helpers/images.js';

const empty = (w: number, h: number) => ({ width: w, height: h, data: new Uint8Array(w * h) });

describe('DAVIS measures', () => {
  it('J is IoU, and 1 for two empty masks', () => {
    expect(regionSimilarity(rectMask(10, 10, 0, 0, 4, 5), rectMask(10, 10, 2, 0, 6, 5))).toBeCloseTo(10 / 30, 10);
    expect(regionSimilarity(empty(4, 4), empty(4, 4))).toBe(1);
  });

  it('marks boundaries as _seg2bmap does (right, bottom, bottom-right neighbours)', () => {
    // 4x3 mask with a 2x1 block at (1,1)-(2,1):
    //   . . . .
    //   . X X .
    //   . . . .
    const m = rectMask(4, 3, 1, 1, 3, 2);
    // (0,0) differs from its bottom-right (1,1); (1,0),(2,0) from bottom; (0,1) from right;
    // (1,1) from bottom; (2,1) from right and bottom; (3,0),(3,1): last column compares with below:
    // (3,0) vs (3,1) equal -> 0; (3,1) vs (3,2) -> 0. Last row compares with right only.
    expect(Array.from(boundaryMap(m))).toEqual([1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('dilates with a disk of radius r (x² + y² <= r²)', () => {
    const map = new Uint8Array(25);
    map[12] = 1; // centre of 5x5
    expect(Array.from(dilateDisk(map, 5, 5, 1))).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('F is 1 for identical masks, 1 for two empty ones, 0 when one is empty', () => {
    const a = rectMask(100, 80, 20, 20, 60, 50);
    expect(boundaryMeasure(a, a)).toBe(1);
    expect(boundaryMeasure(empty(10, 10), empty(10, 10))).toBe(1);
    expect(boundaryMeasure(empty(100, 80), a)).toBe(0);
    expect(boundaryMeasure(a, empty(100, 80))).toBe(0);
  });

  it('F tolerates shifts within ceil(0.008 x diagonal) pixels and not beyond', () => {
    // 854x480: diagonal 979.7, tolerance ceil(7.84) = 8 px
    const a = rectMask(854, 480, 100, 100, 400, 300);
    expect(boundaryMeasure(rectMask(854, 480, 108, 100, 408, 300), a)).toBe(1);
    expect(boundaryMeasure(rectMask(854, 480, 130, 100, 430, 300), a)).toBeLessThan(0.6);
  });
});

describe('coveredShare', () => {
  it('is the share of the truth that the mask covers, 0 for an empty truth', () => {
    const truth = rectMask(20, 10, 0, 0, 10, 10); // 100 pixels
    expect(coveredShare(rectMask(20, 10, 5, 0, 20, 10), truth)).toBe(0.5);
    expect(coveredShare(truth, rectMask(20, 10, 0, 0, 0, 0))).toBe(0);
  });
});
