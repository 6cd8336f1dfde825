import type { BinaryMask, ImageEmbedding } from '../types.js';
import type { MemoryReader } from '../segment/memory-read.js';
import { cellFeature, cellGrid, maskCoverage, type CellGrid } from './appearance.js';
import { floodRegion8 } from './regions.js';

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
}

export const DEFAULT_MEMORY_OPTIONS: MemoryOptions = { recentFrames: 3, every: 5, topK: 20, temperature: 0.02 };

/** Unit-length features of a frame's image cells, computed once and shared by every object's memory read. */
export interface FrameCells {
  grid: CellGrid;
  /** [rows * cols, channels], unit rows. */
  features: Float32Array;
}

export function frameCells(embedding: ImageEmbedding): FrameCells {
  const grid = cellGrid(embedding);
  const { cols, rows, channels } = grid;
  const features = new Float32Array(rows * cols * channels);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const o = (row * cols + col) * channels;
      cellFeature(embedding, grid, col, row, features.subarray(o, o + channels));
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

/**
 * A frame as memory: its image cells with the object's coverage there.
 * Every cell counts: a look-alike or an occluder is told from the object by
 * its own remembered cells, and thinning the background out lets the
 * object's many cells outvote them (measured on generated scenes). Cells
 * the mask leaves out but the memory itself took for the object
 * (`disputed`) are not remembered either way: if the mask missed part of
 * the object, remembering that part as background would teach the memory
 * the mistake, and it would repeat it on every later frame.
 */
export function memoryFrame(cells: FrameCells, coverage: Float32Array, disputed?: (cell: number) => boolean): MemoryFrame {
  // A frame's features are never written after frameCells, so the memory may share them.
  if (!disputed) return { keys: cells.features, values: Float32Array.from(coverage) };
  const kept = [...coverage.keys()].filter((cell) => coverage[cell] > 0 || !disputed(cell));
  const channels = cells.grid.channels;
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
    return new ObjectMemory(memoryFrame(cells, maskCoverage(mask, cells.grid)), options);
  }

  /**
   * Remembers a frame where the object was segmented with confidence;
   * `belief` is this memory's read of the frame, and cells outside the mask
   * that it gave `disputedAbove` or more are left out (see memoryFrame).
   */
  add(cells: FrameCells, mask: BinaryMask, belief: Float32Array, disputedAbove: number): void {
    const frame = memoryFrame(cells, maskCoverage(mask, cells.grid), (cell) => belief[cell] >= disputedAbove);
    this.previous = frame;
    if (++this.framesSinceRecent < this.options.every) return;
    this.framesSinceRecent = 0;
    this.recent.push(frame);
    if (this.recent.length > this.options.recentFrames) this.recent.shift();
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

export interface TrimRule {
  /** Cells whose object probability is below this are not the object, wherever they are. */
  floor: number;
  /** Cells farther than `nearCells` from the carried mask need this much: new parts must look like the object. */
  newFloor: number;
  nearCells: number;
}

/**
 * Low-res logits with the cells the memory rules out pushed to `outside`:
 * those it believes are not the object at all (an occluder in front of it),
 * and those that joined the mask far from where the carried mask put the
 * object without looking convincingly like it (a look-alike it touches).
 * The encoder's belief (one value per 4x4 low-res cells) is read bilinearly.
 *   lowRes: [size, size]; carried: [size, size] logits of the warped last mask, or undefined
 * Returns the same array when nothing is trimmed.
 */
export function trimByBelief(
  lowRes: Float32Array,
  size: number,
  valid: { width: number; height: number },
  belief: Float32Array,
  grid: CellGrid,
  carried: Float32Array | undefined,
  rule: TrimRule,
  outside: number,
): Float32Array {
  const far = carried ? farFromPositive(carried, size, valid, rule.nearCells) : undefined;
  let out: Float32Array | undefined;
  for (let v = 0; v < valid.height; v++) {
    for (let u = 0; u < valid.width; u++) {
      const i = v * size + u;
      if (!(lowRes[i] > 0)) continue;
      const b = bilinearCell(belief, grid, (u + 0.5) / 4 - 0.5, (v + 0.5) / 4 - 0.5);
      if (b >= rule.floor && !(far?.[i] && b < rule.newFloor)) continue;
      out ??= Float32Array.from(lowRes);
      out[i] = outside;
    }
  }
  return out ?? lowRes;
}

/** A per-cell map read at fractional cell coordinates (cell centres at integers), clamped to the grid. */
function bilinearCell(map: Float32Array, grid: CellGrid, x: number, y: number): number {
  const cx = Math.min(grid.cols - 1, Math.max(0, x));
  const cy = Math.min(grid.rows - 1, Math.max(0, y));
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(grid.cols - 1, x0 + 1);
  const y1 = Math.min(grid.rows - 1, y0 + 1);
  const ax = cx - x0;
  const ay = cy - y0;
  const top = map[y0 * grid.cols + x0] * (1 - ax) + map[y0 * grid.cols + x1] * ax;
  const bottom = map[y1 * grid.cols + x0] * (1 - ax) + map[y1 * grid.cols + x1] * ax;
  return top * (1 - ay) + bottom * ay;
}

/** 1 for cells farther than `radius` (Chebyshev, in cells) from any positive cell: a separable max filter. */
function farFromPositive(map: Float32Array, size: number, valid: { width: number; height: number }, radius: number): Uint8Array {
  const positive = new Uint8Array(size * size);
  for (let i = 0; i < positive.length; i++) positive[i] = map[i] > 0 ? 1 : 0;
  const rows = dilateLines(positive, size, valid.height, valid.width, 1, size, radius);
  const near = dilateLines(rows, size, valid.width, valid.height, size, 1, radius);
  const far = new Uint8Array(size * size);
  for (let v = 0; v < valid.height; v++) for (let u = 0; u < valid.width; u++) far[v * size + u] = near[v * size + u] ? 0 : 1;
  return far;
}

/** 1-D dilation by `radius` along `lines` lines of `length` cells (cell i of line l at l * lineStep + i * step). */
function dilateLines(src: Uint8Array, size: number, lines: number, length: number, step: number, lineStep: number, radius: number): Uint8Array {
  const out = new Uint8Array(size * size);
  for (let l = 0; l < lines; l++) {
    const base = l * lineStep;
    let last = -Infinity;
    for (let i = 0; i < length; i++) {
      if (src[base + i * step]) last = i;
      if (i - last <= radius) out[base + i * step] = 1;
    }
    last = Infinity;
    for (let i = length - 1; i >= 0; i--) {
      if (src[base + i * step]) last = i;
      if (last - i <= radius) out[base + i * step] = 1;
    }
  }
  return out;
}

/**
 * The cells (inclusive bounds) of the regions of believed cells (object
 * probability >= `threshold`, 8-connected) that the mask touches: where the
 * memory says the object the mask has found extends to. A mask stuck on a
 * part of the object (after an occluder left) is shown the rest this way.
 *   lowRes: [size, size] logits; the encoder grid has one cell per 4x4 low-res cells.
 */
export function believedExtent(
  lowRes: Float32Array,
  size: number,
  valid: { width: number; height: number },
  belief: Float32Array,
  grid: CellGrid,
  threshold: number,
): { x0: number; y0: number; x1: number; y1: number } | null {
  const { cols, rows } = grid;
  const touched = new Uint8Array(cols * rows);
  for (let v = 0; v < valid.height; v++) {
    for (let u = 0; u < valid.width; u++) {
      if (lowRes[v * size + u] > 0) touched[Math.min(rows - 1, v >> 2) * cols + Math.min(cols - 1, u >> 2)] = 1;
    }
  }
  const seen = new Uint8Array(cols * rows);
  const inside = (cell: number) => belief[cell] >= threshold;
  let extent: { x0: number; y0: number; x1: number; y1: number } | null = null;
  for (let start = 0; start < cols * rows; start++) {
    if (seen[start] || !touched[start] || !inside(start)) continue;
    const { x0, y0, x1, y1 } = floodRegion8(start, cols, rows, inside, seen);
    extent = extent
      ? { x0: Math.min(extent.x0, x0), y0: Math.min(extent.y0, y0), x1: Math.max(extent.x1, x1), y1: Math.max(extent.y1, y1) }
      : { x0, y0, x1, y1 };
  }
  return extent;
}
