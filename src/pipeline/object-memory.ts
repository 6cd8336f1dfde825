import type { BinaryMask, ImageEmbedding } from '../types.js';
import type { MemoryReader } from '../segment/memory-read.js';
import { cellGrid, maskCoverage, type CellGrid } from './appearance.js';

/**
 * A space-time memory of one object (STM / XMem, without learned
 * projections): the encoder's features of a few past frames, each cell with
 * how much of it the object covered there. Reading it for a new frame gives
 * every cell a probability of being the object, from the cells of the past
 * that look most like it. The first frame (where the user clicked) is kept
 * for good; a few recent confident frames rotate; the previous frame is kept
 * as short-term memory, since it looks most like the current one.
 */

export interface MemoryOptions {
  /** Recent confident frames kept besides the prompt frame and the previous frame. */
  recentFrames: number;
  /** A confident frame joins the recent frames at most every this many frames. */
  every: number;
  /** Memory cells that vote for each query cell, and the softmax temperature of their cosine similarities. */
  topK: number;
  temperature: number;
  /** Background cells farther than this many cells from the object are kept at one in four (the near ones all). */
  nearCells: number;
}

export const DEFAULT_MEMORY_OPTIONS: MemoryOptions = { recentFrames: 3, every: 5, topK: 20, temperature: 0.05, nearCells: 3 };

/** Unit-length features of a frame's image cells, computed once and shared by every object's memory read. */
export interface FrameCells {
  grid: CellGrid;
  /** [rows * cols, channels], unit rows. */
  features: Float32Array;
}

export function frameCells(embedding: ImageEmbedding): FrameCells {
  const grid = cellGrid(embedding);
  const { cols, rows, side, channels } = grid;
  const plane = side * side;
  const features = new Float32Array(rows * cols * channels);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const o = (row * cols + col) * channels;
      const src = row * side + col;
      let norm = 0;
      for (let c = 0; c < channels; c++) {
        const v = embedding.data[c * plane + src];
        features[o + c] = v;
        norm += v * v;
      }
      const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let c = 0; c < channels; c++) features[o + c] *= inv;
    }
  }
  return { grid, features };
}

interface MemoryFrame {
  /** [n, channels] */
  keys: Float32Array;
  /** [n] object coverage of each kept cell */
  values: Float32Array;
}

/** Cells within `radius` (Chebyshev) of a covered cell. */
function nearObject(coverage: Float32Array, cols: number, rows: number, radius: number): Uint8Array {
  const near = new Uint8Array(coverage.length);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      if (coverage[row * cols + col] === 0) continue;
      for (let y = Math.max(0, row - radius); y <= Math.min(rows - 1, row + radius); y++) {
        for (let x = Math.max(0, col - radius); x <= Math.min(cols - 1, col + radius); x++) near[y * cols + x] = 1;
      }
    }
  }
  return near;
}

/**
 * The cells of a frame worth remembering: every cell the object touches and
 * every cell near it (where look-alikes and occluders matter most), and one
 * in four of the far background, which keeps the product small.
 */
export function memoryFrame(cells: FrameCells, coverage: Float32Array, nearCells: number): MemoryFrame {
  const { cols, rows, channels } = cells.grid;
  const near = nearObject(coverage, cols, rows, nearCells);
  const kept: number[] = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const cell = row * cols + col;
      if (near[cell] || (row % 2 === 0 && col % 2 === 0)) kept.push(cell);
    }
  }
  const keys = new Float32Array(kept.length * channels);
  const values = new Float32Array(kept.length);
  kept.forEach((cell, i) => {
    keys.set(cells.features.subarray(cell * channels, (cell + 1) * channels), i * channels);
    values[i] = coverage[cell];
  });
  return { keys, values };
}

export class ObjectMemory {
  private readonly recent: MemoryFrame[] = [];
  private previous?: MemoryFrame;
  private framesSinceRecent = 0;

  private constructor(
    private readonly prompt: MemoryFrame,
    private readonly options: MemoryOptions,
  ) {}

  /** A memory that starts from the object's mask on the prompt frame. */
  static fromMask(cells: FrameCells, mask: BinaryMask, options = DEFAULT_MEMORY_OPTIONS): ObjectMemory {
    return new ObjectMemory(memoryFrame(cells, maskCoverage(mask, cells.grid), options.nearCells), options);
  }

  /** Remembers a frame where the object was segmented with confidence. */
  add(cells: FrameCells, mask: BinaryMask): void {
    const frame = memoryFrame(cells, maskCoverage(mask, cells.grid), this.options.nearCells);
    this.previous = frame;
    if (++this.framesSinceRecent < this.options.every) return;
    this.framesSinceRecent = 0;
    this.recent.push(frame);
    if (this.recent.length > this.options.recentFrames) this.recent.shift();
  }

  /** Forgets the previous frame, which no longer shows the object (it was lost there). */
  forgetPrevious(): void {
    this.previous = undefined;
  }

  /** Probability of being the object for every image cell of the frame: [rows * cols]. */
  async read(reader: MemoryReader, cells: FrameCells): Promise<Float32Array> {
    const frames = [this.prompt, ...this.recent, ...(this.previous ? [this.previous] : [])];
    const channels = cells.grid.channels;
    const total = frames.reduce((n, f) => n + f.values.length, 0);
    const keys = new Float32Array(total * channels);
    const values = new Float32Array(total);
    let at = 0;
    for (const f of frames) {
      keys.set(f.keys, at * channels);
      values.set(f.values, at);
      at += f.values.length;
    }
    const { topK, temperature } = this.options;
    const { readout } = await reader.read({ query: cells.features, keys, values, valueChannels: 1, topK, temperature });
    return readout;
  }
}

/** Coverage-weighted mean of a per-cell map over a mask (thin parts count by their share), or 0 for an empty mask. */
export function meanOverMask(map: Float32Array, mask: BinaryMask, grid: CellGrid): number {
  const coverage = maskCoverage(mask, grid);
  let sum = 0;
  let weight = 0;
  coverage.forEach((share, cell) => {
    sum += share * map[cell];
    weight += share;
  });
  return weight > 0 ? sum / weight : 0;
}

/**
 * Low-res logits without the parts the memory does not believe in: each
 * 4-connected region of positive cells whose mean object probability is
 * below `minBelief` is pushed to `outside`, except the region the memory
 * believes in most (whether the object is there at all is decided apart).
 * SAM's 256-cell grid has four cells per encoder cell on each axis.
 *   lowRes: [size, size], valid region validWidth x validHeight; belief: [grid.rows * grid.cols]
 * Returns the same array when nothing is dropped.
 */
export function dropUnbelievedParts(
  lowRes: Float32Array,
  size: number,
  valid: { width: number; height: number },
  belief: Float32Array,
  grid: CellGrid,
  minBelief: number,
  outside: number,
): Float32Array {
  const { labels, regions } = positiveRegions(lowRes, size, valid.width, valid.height);
  if (regions.length < 2) return lowRes;
  const sums = new Float64Array(regions.length);
  for (let v = 0; v < valid.height; v++) {
    const row = Math.min(grid.rows - 1, v >> 2);
    for (let u = 0; u < valid.width; u++) {
      const label = labels[v * size + u];
      if (label) sums[label - 1] += belief[row * grid.cols + Math.min(grid.cols - 1, u >> 2)];
    }
  }
  let strongest = 0;
  sums.forEach((sum, i) => (strongest = sum > sums[strongest] ? i : strongest));
  const dropped = regions.map((count, i) => i !== strongest && sums[i] / count < minBelief);
  if (!dropped.includes(true)) return lowRes;
  const out = Float32Array.from(lowRes);
  for (let i = 0; i < labels.length; i++) if (labels[i] && dropped[labels[i] - 1]) out[i] = Math.min(out[i], outside);
  return out;
}

/** 4-connected regions of positive cells: labels [size * size] (0 = none, i + 1 = region i) and each region's cell count. */
function positiveRegions(map: Float32Array, size: number, width: number, height: number): { labels: Int32Array; regions: number[] } {
  const labels = new Int32Array(size * size);
  const regions: number[] = [];
  const stack: number[] = [];
  for (let start = 0; start < size * height; start++) {
    if (start % size >= width || labels[start] || !(map[start] > 0)) continue;
    const label = regions.length + 1;
    let count = 0;
    labels[start] = label;
    stack.push(start);
    while (stack.length) {
      const cell = stack.pop()!;
      count++;
      const x = cell % size;
      const y = (cell - x) / size;
      for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]]) {
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const n = ny * size + nx;
        if (!labels[n] && map[n] > 0) {
          labels[n] = label;
          stack.push(n);
        }
      }
    }
    regions.push(count);
  }
  return { labels, regions };
}
