import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DenseFlow, warpByFlow, type FlowField } from '../../src/tracker/dense-flow.js';
import { wasmProgramBreak, translatedFrame } from './helpers.js';

describe('dense flow', () => {
  let flow: DenseFlow;
  beforeAll(async () => {
    flow = await DenseFlow.create();
  });
  afterAll(() => flow.dispose());

  it('measures a translation on a small grid, from the new frame back to the previous one', () => {
    // 854 px -> 256 cells: a texture moving (+6, -3) px per frame moves (+1.80, -0.90) cells.
    const frames = [0, 1, 2].map((t) => translatedFrame(854, 480, t, 6, -3));
    expect(flow.step(frames[0], 256, 144)).toBeUndefined();
    flow.step(frames[1], 256, 144);
    const field = flow.step(frames[2], 256, 144)!;
    expect(field).toMatchObject({ width: 256, height: 144 });
    const centre = 2 * (72 * 256 + 128);
    expect(field.data[centre]).toBeCloseTo((-6 * 256) / 854, 1);
    expect(field.data[centre + 1]).toBeCloseTo((3 * 144) / 480, 1);
  });

  it('frees what it allocates when frame sizes change', () => {
    const small = [0, 1].map((t) => translatedFrame(320, 240, t, 2, 0));
    const big = [0, 1].map((t) => translatedFrame(640, 360, t, 2, 0));
    const cycle = () => {
      for (const frames of [small, big]) {
        flow.reset(frames[0], 128, 96);
        flow.step(frames[1], 128, 96);
      }
    };
    cycle();
    const before = wasmProgramBreak();
    for (let i = 0; i < 10; i++) cycle();
    expect(wasmProgramBreak() - before).toBe(0);
  });
});

describe('warpByFlow', () => {
  it('samples the previous map where each cell came from, bilinearly, and fills the rest', () => {
    const size = 8;
    const map = new Float32Array(size * size).map((_, i) => i % size); // value = x
    // A 6x4 image region; every cell came from 1.5 cells to its left.
    const flow: FlowField = { width: 6, height: 4, data: new Float32Array(6 * 4 * 2).map((_, i) => (i % 2 === 0 ? -1.5 : 0)) };
    const out = warpByFlow(map, size, flow, -20);
    expect(Array.from(out.subarray(0, size))).toEqual([-20, -20, 0.5, 1.5, 2.5, 3.5, -20, -20]);
    expect(out[4 * size + 3]).toBe(-20); // padding below the image region
  });
});
