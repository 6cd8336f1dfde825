import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { believedExtent, dropUnbelievedParts, frameCells, meanOverMask, memoryFrame, ObjectMemory } from '../../src/pipeline/object-memory.js';
import { cellGrid, maskCoverage } from '../../src/pipeline/appearance.js';
import { MemoryReader } from '../../src/segment/memory-read.js';
import type { ImageEmbedding } from '../../src/types.js';
import { rectMask, seededRandom } from '../helpers/images.js';

/**
 * A 512x512 image's embedding (64x64 cells of 8x8 px) in which each cell
 * carries the feature direction of what is there (`kind(col, row)`: 0, 1, 2
 * ... pick disjoint channel groups), plus noise.
 */
function fakeEmbedding(kind: (col: number, row: number) => number, seed = 1): ImageEmbedding {
  const random = seededRandom(seed);
  const data = new Float32Array(256 * 64 * 64);
  for (let row = 0; row < 64; row++) {
    for (let col = 0; col < 64; col++) {
      const base = 64 * kind(col, row);
      for (let c = 0; c < 256; c++) data[c * 4096 + row * 64 + col] = (c >= base && c < base + 64 ? 1 : 0) + 0.3 * (random() - 0.5);
    }
  }
  return { width: 512, height: 512, resizedWidth: 1024, resizedHeight: 1024, data };
}

const square = (x0: number, y0: number, side = 10) => (col: number, row: number) => col >= x0 && col < x0 + side && row >= y0 && row < y0 + side;

describe('object memory', () => {
  let reader: MemoryReader;
  beforeAll(async () => {
    reader = await MemoryReader.create(256, 1);
  });
  afterAll(async () => reader.dispose());

  it('remembers every cell of a frame with the object\'s coverage there', () => {
    const cells = frameCells(fakeEmbedding((c, r) => (square(10, 10)(c, r) ? 1 : 0)));
    const coverage = maskCoverage(rectMask(512, 512, 80, 80, 164, 160), cells.grid);
    const frame = memoryFrame(cells, coverage);
    expect(frame.values.length).toBe(64 * 64);
    expect(frame.values.reduce((a, b) => a + b, 0)).toBe(100 + 10 * 0.5); // 10x10 cells and a half column
    expect(frame.keys.subarray(0, 256)).toEqual(cells.features.subarray(0, 256));
  });

  it('finds the object where it moved and not where it was, on a later frame', async () => {
    const first = fakeEmbedding((c, r) => (square(10, 10)(c, r) ? 1 : 0));
    const memory = ObjectMemory.fromMask(frameCells(first), rectMask(512, 512, 80, 80, 160, 160));
    const later = frameCells(fakeEmbedding((c, r) => (square(40, 30)(c, r) ? 1 : 0), 2));
    const belief = await memory.read(reader, later);
    expect(belief[34 * 64 + 44]).toBeGreaterThan(0.95);
    expect(belief[12 * 64 + 12]).toBeLessThan(0.05);
    expect(meanOverMask(belief, rectMask(512, 512, 320, 240, 400, 320), later.grid)).toBeGreaterThan(0.95);
  });

  it('tells a look-alike remembered as background from the object', async () => {
    // Frame 0: the object (kind 1) and, beside it, a distractor (kind 2) outside the mask.
    const scene = (ox: number, dx: number) => (c: number, r: number) => (square(ox, 10)(c, r) ? 1 : square(dx, 10)(c, r) ? 2 : 0);
    const memory = ObjectMemory.fromMask(frameCells(fakeEmbedding(scene(10, 30))), rectMask(512, 512, 80, 80, 160, 160));
    const later = frameCells(fakeEmbedding(scene(40, 20), 3)); // they swapped sides
    const belief = await memory.read(reader, later);
    expect(meanOverMask(belief, rectMask(512, 512, 320, 80, 400, 160), later.grid)).toBeGreaterThan(0.9);
    expect(meanOverMask(belief, rectMask(512, 512, 160, 80, 240, 160), later.grid)).toBeLessThan(0.1);
  });
});

describe('dropUnbelievedParts', () => {
  const grid = cellGrid({ width: 512, height: 512, resizedWidth: 1024, resizedHeight: 1024, data: new Float32Array(0) });
  // A 256x256 low-res map with two positive blocks: cells 0-7 and cells 40-47 on both axes.
  const lowRes = new Float32Array(256 * 256).fill(-5);
  for (const start of [0, 40]) for (let y = start; y < start + 8; y++) for (let x = start; x < start + 8; x++) lowRes[y * 256 + x] = 3;
  const valid = { width: 256, height: 256 };

  it('pushes down the region the memory does not believe in and keeps the one it does', () => {
    const belief = new Float32Array(64 * 64);
    for (let r = 0; r < 2; r++) for (let c = 0; c < 2; c++) belief[r * 64 + c] = 0.9; // encoder cells 0-1 = low-res 0-7
    const out = dropUnbelievedParts(lowRes, 256, valid, belief, grid, 0.3, -20);
    expect(out[3 * 256 + 3]).toBe(3);
    expect(out[43 * 256 + 43]).toBe(-20);
    expect(out[100]).toBe(-5);
  });

  it('never drops the most believed region, and returns the same map when nothing is dropped', () => {
    const belief = new Float32Array(64 * 64).fill(0.1);
    belief[10 * 64 + 10] = 0.2; // low-res cells 40-43: the second block is believed in a little more
    const out = dropUnbelievedParts(lowRes, 256, valid, belief, grid, 0.3, -20);
    expect(out[43 * 256 + 43]).toBe(3);
    expect(out[3 * 256 + 3]).toBe(-20);
    expect(dropUnbelievedParts(lowRes, 256, valid, new Float32Array(64 * 64).fill(0.5), grid, 0.3, -20)).toBe(lowRes);
  });
});

describe('believedExtent', () => {
  const grid = cellGrid({ width: 512, height: 512, resizedWidth: 1024, resizedHeight: 1024, data: new Float32Array(0) });
  const valid = { width: 256, height: 256 };

  it('grows the mask to the believed region it touches, and ignores believed regions it does not', () => {
    const lowRes = new Float32Array(256 * 256).fill(-5);
    for (let y = 40; y < 48; y++) for (let x = 40; x < 48; x++) lowRes[y * 256 + x] = 2; // encoder cells 10-11
    const belief = new Float32Array(64 * 64);
    for (let r = 10; r <= 20; r++) for (let c = 8; c <= 14; c++) belief[r * 64 + c] = 0.8; // the object goes on below the mask
    for (let r = 40; r <= 45; r++) for (let c = 40; c <= 45; c++) belief[r * 64 + c] = 0.9; // a look-alike elsewhere
    expect(believedExtent(lowRes, 256, valid, belief, grid, 0.5)).toEqual({ x0: 8, y0: 10, x1: 14, y1: 20 });
    expect(believedExtent(lowRes, 256, valid, new Float32Array(64 * 64), grid, 0.5)).toBeNull();
  });
});
