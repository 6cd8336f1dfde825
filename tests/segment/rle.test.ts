import { describe, expect, it } from 'vitest';
import { decodeRle, encodeRle, maskToRuns, runsToString, stringToRuns } from '../../src/segment/rle.js';
import { seededRandom } from '../helpers/images.js';

describe('COCO RLE', () => {
  it('walks the mask column-major, starting with a run of zeros', () => {
    // 2 rows x 3 columns:
    //   0 1 1
    //   0 1 0
    const mask = { width: 3, height: 2, data: Uint8Array.of(0, 1, 1, 0, 1, 0) };
    // column 0: 0 0 | column 1: 1 1 | column 2: 1 0  ->  runs 2 zeros, 3 ones, 1 zero
    expect(maskToRuns(mask)).toEqual([2, 3, 1]);
    // a mask that starts with an object pixel begins with an empty zero run
    expect(maskToRuns({ width: 1, height: 2, data: Uint8Array.of(1, 0) })).toEqual([0, 1, 1]);
  });

  it('packs counts like pycocotools rleToString, with deltas from the fourth run on (i > 2)', () => {
    expect(runsToString([0, 4])).toBe('04');
    expect(runsToString([100])).toBe('T3'); // 100 = 4 + 3*32: first char carries the continuation bit
    // the fourth run is stored as 1 - 3 = -2: sign bit set, no continuation -> 'N' (30 + 48)
    expect(runsToString([2, 3, 1, 1])).toBe('231N');
    expect(stringToRuns('231N')).toEqual([2, 3, 1, 1]);
    // runs 4 and 5 as 2 - 1 = 1 -> '1' and 3 - 7 = -4 -> 'L' (28 + 48)
    expect(runsToString([5, 1, 7, 2, 3])).toBe('5171L');
    expect(stringToRuns('5171L')).toEqual([5, 1, 7, 2, 3]);
    expect(stringToRuns('T3')).toEqual([100]);
  });

  it('round-trips random masks of odd sizes, including large runs', () => {
    const random = seededRandom(7);
    for (const [w, h] of [[1, 1], [7, 5], [33, 17], [640, 3]]) {
      const data = new Uint8Array(w * h);
      let value = 0;
      for (let i = 0; i < data.length; i++) {
        if (random() < 0.05) value ^= 1;
        data[i] = value;
      }
      const mask = { width: w, height: h, data };
      const rle = encodeRle(mask);
      expect(rle.size).toEqual([h, w]);
      expect(decodeRle(rle).data).toEqual(data);
    }
  });

  it('rejects counts that do not fit the size', () => {
    expect(() => decodeRle({ size: [2, 2], counts: '05' })).toThrow(/exceed/);
    expect(() => decodeRle({ size: [2, 2], counts: '03' })).toThrow(/cover 3 pixels/);
  });
});
