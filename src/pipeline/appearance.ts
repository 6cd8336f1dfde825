import type { BinaryMask, ImageEmbedding } from '../types.js';

/**
 * An object's appearance in the image encoder's own feature space. The
 * encoder runs on every frame anyway, and its 256-d features per 16x16 cell
 * (at the 1024 input) are a learned descriptor: an object looks like itself
 * from frame to frame and unlike its background, including occluders in
 * front of it. So, at no extra model cost, we can ask of any place in a new
 * frame "object or background?" by comparing its feature with feature samples
 * taken inside and outside the object's mask on frames where it was known.
 *
 * Used to drop query points that stick to an occluder (a fence, a tree the
 * object passes behind), and to find an object again after it was lost.
 */

/** Cosine similarities margin: > 0 means closer to the object's samples than to the background's. */
export type Margin = number;

export interface CellGrid {
  /** Cells of the embedding grid that hold image (not padding). */
  cols: number;
  rows: number;
  /** Embedding grid side (64 for SAM). */
  side: number;
  channels: number;
  /** Image pixels per cell, per axis. */
  cellWidth: number;
  cellHeight: number;
}

export function cellGrid(embedding: ImageEmbedding, channels = 256, side = 64, inputSize = 1024): CellGrid {
  const cellPixels = inputSize / side; // 16 input pixels per cell
  const cols = Math.max(1, Math.round(embedding.resizedWidth / cellPixels));
  const rows = Math.max(1, Math.round(embedding.resizedHeight / cellPixels));
  return {
    cols,
    rows,
    side,
    channels,
    cellWidth: embedding.width / (embedding.resizedWidth / cellPixels),
    cellHeight: embedding.height / (embedding.resizedHeight / cellPixels),
  };
}

/** The index (row * cols + col) of the image cell under image point (x, y), clamped to the grid. */
export function cellIndexAt(grid: CellGrid, x: number, y: number): number {
  const col = Math.min(grid.cols - 1, Math.max(0, Math.floor(x / grid.cellWidth)));
  const row = Math.min(grid.rows - 1, Math.max(0, Math.floor(y / grid.cellHeight)));
  return row * grid.cols + col;
}

/** The unit-length feature of one cell. embedding.data: [1, channels, side, side] */
export function cellFeature(embedding: ImageEmbedding, grid: CellGrid, col: number, row: number, out: Float32Array = new Float32Array(grid.channels)): Float32Array {
  const plane = grid.side * grid.side;
  const offset = row * grid.side + col;
  let norm = 0;
  for (let c = 0; c < grid.channels; c++) {
    const v = embedding.data[c * plane + offset];
    out[c] = v;
    norm += v * v;
  }
  const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let c = 0; c < grid.channels; c++) out[c] *= inv;
  return out;
}

/** Share of each cell covered by the mask: [rows * cols]. */
export function maskCoverage(mask: BinaryMask, grid: CellGrid): Float32Array {
  const coverage = new Float32Array(grid.rows * grid.cols);
  const counts = new Float32Array(grid.rows * grid.cols);
  for (let y = 0; y < mask.height; y++) {
    const row = Math.min(grid.rows - 1, Math.floor(y / grid.cellHeight));
    for (let x = 0; x < mask.width; x++) {
      const cell = row * grid.cols + Math.min(grid.cols - 1, Math.floor(x / grid.cellWidth));
      counts[cell]++;
      coverage[cell] += mask.data[y * mask.width + x];
    }
  }
  for (let i = 0; i < coverage.length; i++) coverage[i] = counts[i] ? coverage[i] / counts[i] : 0;
  return coverage;
}

/** A fixed-size store of unit feature vectors: the first `anchored` stay, later ones rotate through the rest. */
class FeatureBank {
  readonly vectors: Float32Array;
  size = 0;
  private rotated = 0;

  constructor(
    readonly capacity: number,
    readonly channels: number,
    private readonly anchored: number,
  ) {
    this.vectors = new Float32Array(capacity * channels);
  }

  add(feature: Float32Array): void {
    const slot = this.size < this.capacity ? this.size++ : this.anchored + (this.rotated++ % (this.capacity - this.anchored));
    this.vectors.set(feature, slot * this.channels);
  }

  /**
   * Highest cosine similarity to any stored vector (features are unit length).
   * Four stored vectors at a time share each load of the feature; every dot
   * product still sums in channel order, so the result is the plain loop's
   * to the bit. This is the appearance model's hot loop (a whole-frame
   * margin map is ~3000 cells x 288 samples x 256 channels).
   */
  best(feature: Float32Array): number {
    let best = -1;
    const { channels, vectors, size } = this;
    let i = 0;
    for (; i + 4 <= size; i += 4) {
      const o0 = i * channels;
      const o1 = o0 + channels;
      const o2 = o1 + channels;
      const o3 = o2 + channels;
      let d0 = 0;
      let d1 = 0;
      let d2 = 0;
      let d3 = 0;
      for (let c = 0; c < channels; c++) {
        const f = feature[c];
        d0 += vectors[o0 + c] * f;
        d1 += vectors[o1 + c] * f;
        d2 += vectors[o2 + c] * f;
        d3 += vectors[o3 + c] * f;
      }
      if (d0 > best) best = d0;
      if (d1 > best) best = d1;
      if (d2 > best) best = d2;
      if (d3 > best) best = d3;
    }
    for (; i < size; i++) {
      let dot = 0;
      const o = i * channels;
      for (let c = 0; c < channels; c++) dot += vectors[o + c] * feature[c];
      if (dot > best) best = dot;
    }
    return best;
  }
}

export interface AppearanceOptions {
  /** Samples kept per side; the first frame's fill at most half, so later looks can be learned. */
  objectSamples: number;
  backgroundSamples: number;
  /** Samples added per update from later frames. */
  samplesPerUpdate: number;
}

export const DEFAULT_APPEARANCE_OPTIONS: AppearanceOptions = { objectSamples: 96, backgroundSamples: 192, samplesPerUpdate: 8 };

/** Deterministic choice of up to `count` of `indices`, spread evenly through the list. */
function spread(indices: number[], count: number): number[] {
  if (indices.length <= count) return indices;
  return Array.from({ length: count }, (_, i) => indices[Math.floor(((i + 0.5) * indices.length) / count)]);
}

export class AppearanceModel {
  private readonly object: FeatureBank;
  private readonly background: FeatureBank;
  private readonly scratch: Float32Array<ArrayBuffer>;

  private constructor(
    private readonly options: AppearanceOptions,
    channels: number,
  ) {
    this.object = new FeatureBank(options.objectSamples, channels, Math.floor(options.objectSamples / 2));
    this.background = new FeatureBank(options.backgroundSamples, channels, Math.floor(options.backgroundSamples / 2));
    this.scratch = new Float32Array(channels);
  }

  /** Learns from the frame where the object's mask is known (the prompt frame). */
  static fromMask(embedding: ImageEmbedding, mask: BinaryMask, options = DEFAULT_APPEARANCE_OPTIONS): AppearanceModel {
    const grid = cellGrid(embedding);
    const model = new AppearanceModel(options, grid.channels);
    model.learn(embedding, mask, Math.floor(options.objectSamples / 2), Math.floor(options.backgroundSamples / 2));
    return model;
  }

  /** Adds a few samples from a frame where the object was segmented with confidence. */
  update(embedding: ImageEmbedding, mask: BinaryMask): void {
    this.learn(embedding, mask, this.options.samplesPerUpdate, this.options.samplesPerUpdate * 2);
  }

  private learn(embedding: ImageEmbedding, mask: BinaryMask, objectCount: number, backgroundCount: number): void {
    const grid = cellGrid(embedding);
    const coverage = maskCoverage(mask, grid);
    const inside: number[] = [];
    const outside: number[] = [];
    coverage.forEach((share, cell) => {
      if (share >= 0.75) inside.push(cell);
      else if (share === 0) outside.push(cell);
    });
    // Fall back to any cell the object touches when it is thinner than a cell.
    const objectCells = inside.length ? inside : [...coverage.keys()].filter((c) => coverage[c] >= 0.25);
    for (const cell of spread(objectCells, objectCount)) this.object.add(cellFeature(embedding, grid, cell % grid.cols, Math.floor(cell / grid.cols)));
    for (const cell of spread(outside, backgroundCount)) this.background.add(cellFeature(embedding, grid, cell % grid.cols, Math.floor(cell / grid.cols)));
  }

  /** Object-vs-background margin of the cell under image point (x, y). */
  marginAt(embedding: ImageEmbedding, x: number, y: number): Margin {
    const grid = cellGrid(embedding);
    const cell = cellIndexAt(grid, x, y);
    const f = cellFeature(embedding, grid, cell % grid.cols, Math.floor(cell / grid.cols), this.scratch);
    return this.object.best(f) - this.background.best(f);
  }

  /** Margin of every image cell: [rows * cols], with the grid it refers to. */
  marginMap(embedding: ImageEmbedding): { margins: Float32Array; grid: CellGrid } {
    const grid = cellGrid(embedding);
    const margins = new Float32Array(grid.rows * grid.cols);
    for (let row = 0; row < grid.rows; row++) {
      for (let col = 0; col < grid.cols; col++) {
        const f = cellFeature(embedding, grid, col, row, this.scratch);
        margins[row * grid.cols + col] = this.object.best(f) - this.background.best(f);
      }
    }
    return { margins, grid };
  }

  /** Mean margin over the cells a mask covers (at least half), or -1 for an empty mask. */
  maskMargin(embedding: ImageEmbedding, mask: BinaryMask): Margin {
    const grid = cellGrid(embedding);
    const coverage = maskCoverage(mask, grid);
    let sum = 0;
    let n = 0;
    coverage.forEach((share, cell) => {
      if (share < 0.5) return;
      const f = cellFeature(embedding, grid, cell % grid.cols, Math.floor(cell / grid.cols), this.scratch);
      sum += this.object.best(f) - this.background.best(f);
      n++;
    });
    return n ? sum / n : -1;
  }
}
