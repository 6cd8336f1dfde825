import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingWarper, warpGrid } from '../../src/segment/embedding-warp.js';
import type { FlowField } from '../../src/tracker/dense-flow.js';
import { zeroFlow } from '../../src/tracker/flow-field.js';
import type { ImageEmbedding } from '../../src/types.js';

// A small SAM-like layout: 2 channels of 8 x 8 cells over a 128-px input, 16-px patches;
// a 128 x 96 image fills 8 x 6 cells, the last two rows are padding.
const shape = [1, 2, 8, 8] as const;
const image = { width: 128, height: 96, resizedWidth: 128, resizedHeight: 96 };
const constant = (width: number, height: number, dx: number, dy: number): FlowField => {
  const data = new Float32Array(width * height * 2);
  for (let i = 0; i < width * height; i++) [data[2 * i], data[2 * i + 1]] = [dx, dy];
  return { width, height, data };
};
/** Channel 0 holds the cell's x, channel 1 its y. */
const coordinates = (): ImageEmbedding => {
  const data = new Float32Array(2 * 64);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) [data[y * 8 + x], data[64 + y * 8 + x]] = [x, y];
  return { ...image, data };
};

let warper: EmbeddingWarper;
beforeAll(async () => {
  warper = await EmbeddingWarper.create(shape, 128, 1);
});
afterAll(async () => warper?.dispose());

describe('embedding warp', () => {
  it('maps the zero flow to every cell sampling itself', () => {
    const grid = warpGrid(image, zeroFlow(16, 12), 8, 8, 16);
    // Cell (x=3, y=2), normalised with align_corners: 2 * 3 / 7 - 1.
    expect(grid[2 * (2 * 8 + 3)]).toBeCloseTo((2 * 3) / 7 - 1);
    expect(grid[2 * (2 * 8 + 3) + 1]).toBeCloseTo((2 * 2) / 7 - 1);
  });

  it('converts flow cells to embedding cells (a flow grid twice as fine moves half as far)', () => {
    const grid = warpGrid(image, constant(16, 12, -2, 0), 8, 8, 16);
    const sx = ((grid[2 * (2 * 8 + 3)] + 1) * 7) / 2;
    expect(sx).toBeCloseTo(2);
  });

  it('shifts the features with the flow, keeps image cells inside the image and the padding as it was', async () => {
    const warped = await warper.warp(coordinates(), constant(16, 12, -2, -2));
    const x = (cx: number, cy: number) => warped.data[cy * 8 + cx];
    const y = (cx: number, cy: number) => warped.data[64 + cy * 8 + cx];
    expect(x(4, 3)).toBeCloseTo(3);
    expect(y(4, 3)).toBeCloseTo(2);
    expect(x(0, 0)).toBeCloseTo(0); // sources left of the image are clamped to it
    expect(y(5, 7)).toBeCloseTo(7); // a padding row samples itself
    expect(y(5, 5)).toBeCloseTo(4);
  });
});
