import { describe, expect, it } from 'vitest';
import { float16Bits, fromFloat16, toFloat16 } from '../../src/segment/float16.js';

describe('float16 conversion', () => {
  it('gives the IEEE half-precision bit patterns, rounding half to even', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [1 / 3, 0x3555],
      [65504, 0x7bff], // largest finite
      [65519, 0x7bff], // just below the halfway point to infinity
      [65520, 0x7c00], // halfway: ties to even, which is infinity
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: even is 0x3c02
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway to the smallest subnormal: even is zero
      [1.5 * 2 ** -25, 0x0001],
      [2 ** -14 - 2 ** -25, 0x0400], // subnormal rounding carries into the smallest normal
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [1e6, 0x7c00],
    ];
    for (const [value, bits] of cases) expect(float16Bits(value), `${value}`).toBe(bits);
    expect(float16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(float16Bits(NaN) & 0x3ff).not.toBe(0);
  });

  it('decodes every finite half back to itself through a round trip', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const values = fromFloat16(all);
    const again = toFloat16(values);
    const changed = [...all].filter((h) => again[h] !== h && !((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0));
    expect(changed).toEqual([]);
    expect(values[0x3c00]).toBe(1);
    expect(values[0x0001]).toBe(2 ** -24);
    expect(values[0xc000]).toBe(-2);
  });
});
