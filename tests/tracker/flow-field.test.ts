import { describe, expect, it } from 'vitest';
import type { FlowField } from '../../src/tracker/dense-flow.js';
import { chainFlow, sampleClamped, warpResidual, zeroFlow } from '../../src/tracker/flow-field.js';

const constant = (width: number, height: number, dx: number, dy: number): FlowField => {
  const data = new Float32Array(width * height * 2);
  for (let i = 0; i < width * height; i++) [data[2 * i], data[2 * i + 1]] = [dx, dy];
  return { width, height, data };
};

/** A horizontal ramp of grey levels, moved right by `shift` cells. */
const ramp = (width: number, height: number, shift: number) =>
  Uint8Array.from({ length: width * height }, (_, i) => Math.max(0, Math.min(255, 10 * ((i % width) - shift))));

describe('flow fields', () => {
  it('samples bilinearly and clamps to the grid', () => {
    const map = Float32Array.of(0, 10, 20, 30); // 2 x 2
    expect(sampleClamped(map, 2, 2, 1, 0, 0.5, 0.5)).toBeCloseTo(15);
    expect(sampleClamped(map, 2, 2, 1, 0, -3, 7)).toBe(20);
  });

  it('chains two steps into one: where a cell of the newest frame was on the key frame', () => {
    const chained = chainFlow(constant(8, 6, -1, 0.5), constant(8, 6, -2, 0));
    expect([chained.data[2 * 20], chained.data[2 * 20 + 1]]).toEqual([-3, 0.5]);
    const fromKey = chainFlow(constant(8, 6, -1, 0), zeroFlow(8, 6));
    expect(fromKey.data[2 * 20]).toBe(-1);
  });

  it('chains a spatially varying field by sampling it where the step lands', () => {
    const toKey = zeroFlow(4, 1);
    toKey.data.set([0, 0, -1, 0, -2, 0, -3, 0]); // dx grows with x
    const chained = chainFlow(constant(4, 1, 1, 0), toKey);
    // Cell 1 steps to x = 2, where the field says -2: 1 + (-2).
    expect(chained.data[2]).toBe(-1);
  });

  it('measures no residual where the flow explains the motion, and some where it does not', () => {
    const [w, h] = [16, 4];
    const earlier = ramp(w, h, 0);
    const current = ramp(w, h, 2);
    const inside = { x0: 3, y0: 0, x1: w - 1, y1: h - 1 };
    expect(warpResidual(current, earlier, constant(w, h, -2, 0), inside)).toBe(0);
    expect(warpResidual(current, earlier, zeroFlow(w, h), inside)).toBeCloseTo(20, 5);
    // Cells whose source lies outside the grid (content that came into view) count as unexplained.
    expect(warpResidual(current, earlier, constant(w, h, -20, 0))).toBe(127.5);
  });
});
