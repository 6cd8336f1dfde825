/**
 * Exact Euclidean distance transform of a binary mask, O(pixels), in plain TypeScript.
 *
 * Algorithm (Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled Functions", 2012):
 *   1. per column, the vertical distance to the nearest background pixel (two linear scans);
 *   2. per row, the lower envelope of parabolas (x - x')^2 + g(x')^2 gives the exact squared
 *      2D distance.
 *
 * Convention for `distanceToBackground`: the pixels just outside the frame (x = -1, x = width,
 * y = -1, y = height) count as background. A mask cut off by the frame edge is an object we
 * cannot see beyond, so a point "deep inside" it should also keep away from the edge (it would
 * leave the frame first when tracked, and SAM sees no context past the edge). It also makes an
 * all-foreground mask finite. `distanceToForeground` has no such ring (see there).
 */
import type { BinaryMask } from '../types.js';

/**
 * For every pixel, the Euclidean distance (in px, between pixel centres) to the nearest background
 * pixel, where the ring of pixels just outside the frame counts as background; 0 on background.
 * Layout: row-major, length === width * height.
 */
export function distanceToBackground(mask: BinaryMask): Float32Array {
  return euclideanDistanceTransform(mask, true);
}

/**
 * For every pixel, the Euclidean distance to the nearest foreground (mask) pixel; 0 on the mask.
 * Here the outside of the frame is NOT part of the mask. Infinity everywhere if the mask is empty.
 * Layout: row-major, length === width * height.
 */
export function distanceToForeground(mask: BinaryMask): Float32Array {
  assertMask(mask);
  const inverted = new Uint8Array(mask.data.length);
  for (let i = 0; i < inverted.length; i++) inverted[i] = mask.data[i] === 0 ? 1 : 0;
  return euclideanDistanceTransform({ width: mask.width, height: mask.height, data: inverted }, false);
}

/**
 * Distance from every pixel to the nearest pixel with value 0 (any non-zero byte is foreground).
 * `outsideIsBackground` adds the ring of pixels around the frame as zero pixels.
 */
function euclideanDistanceTransform(mask: BinaryMask, outsideIsBackground: boolean): Float32Array {
  assertMask(mask);
  const { width, height } = mask;
  // A finite stand-in for "no background in reach": larger than any squared distance inside the
  // frame, small enough that float64 arithmetic on it stays exact (the envelope needs exactness).
  const unreachable = 4 * (width + height) ** 2 + 1;
  const verticalSquared = verticalSquaredDistances(mask, outsideIsBackground, unreachable);
  const result = new Float32Array(width * height);
  const row = new RowEnvelope(width, outsideIsBackground ? 0 : unreachable);
  for (let y = 0; y < height; y++) row.transform(verticalSquared, y * width, result);
  // Only possible without the virtual ring and with no zero pixel at all.
  for (let i = 0; i < result.length; i++) if (result[i] * result[i] >= unreachable - 0.5) result[i] = Infinity;
  return result;
}

/**
 * Pass 1: per column, the squared distance to the nearest zero pixel in the same column (with the
 * virtual rows y = -1 and y = height when `outsideIsBackground`), capped at `unreachable`.
 * Row-major, width * height.
 */
function verticalSquaredDistances(mask: BinaryMask, outsideIsBackground: boolean, unreachable: number): Float64Array {
  const { width, height, data } = mask;
  const edgeRun = outsideIsBackground ? 0 : Infinity; // rows since the virtual edge row
  const fromAbove = new Float64Array(width * height); // distance to a zero pixel at or above
  for (let x = 0; x < width; x++) {
    let run = edgeRun;
    for (let y = 0; y < height; y++) {
      const i = y * width + x;
      run = data[i] === 0 ? 0 : run + 1;
      fromAbove[i] = run;
    }
  }
  const squared = new Float64Array(width * height);
  for (let x = 0; x < width; x++) {
    let run = edgeRun; // rows until the next zero pixel below
    for (let y = height - 1; y >= 0; y--) {
      const i = y * width + x;
      run = data[i] === 0 ? 0 : run + 1;
      const nearest = Math.min(run, fromAbove[i]);
      squared[i] = Math.min(nearest * nearest, unreachable);
    }
  }
  return squared;
}

/**
 * Pass 2 for one row at a time: the lower envelope of the parabolas centred on every column,
 * plus two parabolas at the virtual columns x = -1 and x = width (height `edgeValue`: 0 when the
 * outside is background, "unreachable" otherwise). Scratch buffers are reused for every row.
 */
class RowEnvelope {
  /** Parabola heights in envelope coordinates: p = x + 1, so x = -1 is p = 0. */
  private readonly f: Float64Array;
  /** Positions (p) of the parabolas forming the envelope, left to right. */
  private readonly vertex: Int32Array;
  /** boundary[k] .. boundary[k+1] is where parabola vertex[k] is lowest. */
  private readonly boundary: Float64Array;

  constructor(
    private readonly width: number,
    private readonly edgeValue: number,
  ) {
    const samples = width + 2;
    this.f = new Float64Array(samples);
    this.vertex = new Int32Array(samples);
    this.boundary = new Float64Array(samples + 1);
  }

  /** Writes sqrt(min over x' of (x - x')^2 + g(x')) for the row starting at `offset`. */
  transform(verticalSquared: Float64Array, offset: number, out: Float32Array): void {
    const { f, width } = this;
    f[0] = this.edgeValue;
    for (let x = 0; x < width; x++) f[x + 1] = verticalSquared[offset + x];
    f[width + 1] = this.edgeValue;
    const parabolas = this.buildEnvelope();
    this.evaluate(parabolas, offset, out);
  }

  /** Returns the number of parabolas on the envelope. */
  private buildEnvelope(): number {
    const { f, vertex, boundary } = this;
    let k = 0;
    vertex[0] = 0;
    boundary[0] = -Infinity;
    boundary[1] = Infinity;
    for (let q = 1; q < f.length; q++) {
      let s = intersection(f, q, vertex[k]);
      while (s <= boundary[k]) {
        k--;
        s = intersection(f, q, vertex[k]);
      }
      k++;
      vertex[k] = q;
      boundary[k] = s;
      boundary[k + 1] = Infinity;
    }
    return k + 1;
  }

  private evaluate(parabolas: number, offset: number, out: Float32Array): void {
    const { f, vertex, boundary, width } = this;
    let k = 0;
    for (let x = 0; x < width; x++) {
      const p = x + 1;
      while (k + 1 < parabolas && boundary[k + 1] < p) k++;
      const dx = p - vertex[k];
      out[offset + x] = Math.sqrt(dx * dx + f[vertex[k]]);
    }
  }
}

/** Abscissa where the parabolas centred at q and r (q > r) intersect. */
function intersection(f: Float64Array, q: number, r: number): number {
  return (f[q] + q * q - (f[r] + r * r)) / (2 * (q - r));
}

export function assertMask(mask: BinaryMask): void {
  if (!Number.isInteger(mask.width) || !Number.isInteger(mask.height) || mask.width < 0 || mask.height < 0) {
    throw new RangeError(`mask size must be non-negative integers, got ${mask.width}x${mask.height}`);
  }
  if (mask.data.length !== mask.width * mask.height) {
    throw new RangeError(`mask data has ${mask.data.length} bytes, expected ${mask.width * mask.height}`);
  }
}
