import { describe, expect, it } from 'vitest';
import { AppearanceModel, cellGrid, maskCoverage } from '../../src/pipeline/appearance.js';
import { shiftLogits, strongestRegion } from '../../src/pipeline/sam-pt.js';
import type { ImageEmbedding } from '../../src/types.js';
import { rectMask, seededRandom } from '../helpers/images.js';

/**
 * A 512x512 image's embedding (resized to 1024: 64x64 cells of 8x8 image px) whose
 * cells inside `objectCells` carry one feature direction and all others another,
 * plus noise.
 */
function fakeEmbedding(objectCells: (col: number, row: number) => boolean, seed = 1): ImageEmbedding {
  const random = seededRandom(seed);
  const data = new Float32Array(256 * 64 * 64);
  for (let row = 0; row < 64; row++) {
    for (let col = 0; col < 64; col++) {
      const base = objectCells(col, row) ? 0 : 128; // object: channels 0-127 high; background: 128-255
      for (let c = 0; c < 256; c++) {
        const signal = c >= base && c < base + 128 ? 1 : 0;
        data[c * 4096 + row * 64 + col] = signal + 0.3 * (random() - 0.5);
      }
    }
  }
  return { width: 512, height: 512, resizedWidth: 1024, resizedHeight: 1024, data };
}

describe('appearance model', () => {
  const inSquare = (x0: number, y0: number) => (col: number, row: number) => col >= x0 && col < x0 + 10 && row >= y0 && row < y0 + 10;
  const first = fakeEmbedding(inSquare(10, 10));
  const mask = rectMask(512, 512, 80, 80, 160, 160); // cells 10-19 at 8 px per cell

  it('maps image pixels to encoder cells and measures mask coverage per cell', () => {
    const grid = cellGrid(first);
    expect(grid).toMatchObject({ cols: 64, rows: 64, cellWidth: 8, cellHeight: 8 });
    const coverage = maskCoverage(rectMask(512, 512, 4, 0, 8, 8), grid);
    expect(coverage[0]).toBe(0.5);
    expect(coverage[1]).toBe(0);
  });

  it('tells object from background at points and over masks, on a later frame where the object moved', () => {
    const model = AppearanceModel.fromMask(first, mask);
    const later = fakeEmbedding(inSquare(40, 30), 2); // the object now at cells 40-49 x 30-39
    expect(model.marginAt(later, 44 * 8 + 4, 34 * 8 + 4)).toBeGreaterThan(0.3);
    expect(model.marginAt(later, 12 * 8, 12 * 8)).toBeLessThan(-0.3); // where the object was: background now
    expect(model.maskMargin(later, rectMask(512, 512, 320, 240, 400, 320))).toBeGreaterThan(0.3);
    expect(model.maskMargin(later, mask)).toBeLessThan(-0.3);
  });

  it('finds a lost object as the strongest region of the margin map', () => {
    const model = AppearanceModel.fromMask(first, mask);
    const { margins, grid } = model.marginMap(fakeEmbedding(inSquare(40, 30), 3));
    const region = strongestRegion(margins, grid.cols, grid.rows, 0.05)!;
    expect([region.x0, region.y0, region.x1, region.y1]).toEqual([40, 30, 49, 39]);
    expect(region.cells).toHaveLength(100);
  });
});

describe('strongestRegion', () => {
  it('picks the 8-connected region with the highest margin sum, not the largest', () => {
    // 4x3 margins: a 3-cell weak region (left) and a 2-cell strong one (right, diagonal)
    const margins = Float32Array.from([0.1, 0, 0, 0.9, 0.1, 0, 0.8, 0, 0.1, 0, 0, 0]);
    const region = strongestRegion(margins, 4, 3, 0.05)!;
    expect(region.cells.sort()).toEqual([3, 6]);
    expect(region.sum).toBeCloseTo(1.7, 6);
    expect(strongestRegion(margins, 4, 3, 0.95)).toBeUndefined();
  });
});

describe('shiftLogits', () => {
  it('moves low-res logits by whole cells and fills uncovered cells with a sure "outside"', () => {
    const logits = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]); // 3x3
    expect(Array.from(shiftLogits(logits, 3, 1, 0))).toEqual([-20, 1, 2, -20, 4, 5, -20, 7, 8]);
    expect(Array.from(shiftLogits(logits, 3, -1, -1))).toEqual([5, 6, -20, 8, 9, -20, -20, -20, -20]);
    expect(shiftLogits(logits, 3, 0, 0)).toBe(logits);
  });
});
