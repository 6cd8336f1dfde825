import type { BinaryMask } from '../types.js';
import { decodeRle } from '../segment/rle.js';
import { edgeBand, edgeSamples, type ObjectEdge, type ObjectRecord } from './masks-json.js';

/**
 * The alpha (0..255, one byte per pixel, row-major) a render gives an object
 * for a feather of f pixels: alpha = clamp(0.5 + d / f), d the signed
 * distance (pixels, > 0 inside) to the object's boundary, so the edge ramps
 * over f pixels centred on the boundary.
 *
 * d comes from the hard mask (an exact Euclidean distance transform, ±0.5 on
 * the pixels either side of the boundary), refined by the decoder's logits
 * when the record has an edge: d = L / |∇L| of the upsampled logits, the
 * first-order distance to their zero crossing, which is sub-pixel and smooth
 * where the mask is a staircase. The logits may only move d by EDGE_SHIFT
 * pixels from the mask's: the mask can differ from logits > 0 (overlap
 * resolution, corrections), and there the mask wins: an object never shows
 * through where its logits reach onto another object's pixels. For the same
 * reason (alpha >= 128) === mask on every pixel, for any feather, and
 * feather 0 is exactly mask * 255.
 *
 * Work is restricted to the object's box grown by the feather's reach.
 */

export const EDGE_SHIFT = 1;

export interface AlphaObject {
  mask: BinaryMask;
  /** [x, y, width, height], COCO style. */
  bbox: [number, number, number, number];
  edge?: ObjectEdge;
}

/** The record's mask and edge; undefined when the object is not on the frame. */
export function alphaObject(record: ObjectRecord): AlphaObject | undefined {
  return record.visible ? { mask: decodeRle(record.rle), bbox: record.bbox, edge: record.edge } : undefined;
}

/** The union (max) of the objects' alphas on a frame. */
export function unionAlpha(objects: AlphaObject[], feather: number, width: number, height: number): Uint8Array {
  const alpha = new Uint8Array(width * height);
  for (const object of objects) paintAlpha(alpha, object, feather);
  return alpha;
}

/** One object's alpha on its frame. */
export function objectAlpha(object: AlphaObject, feather: number): Uint8Array {
  return unionAlpha([object], feather, object.mask.width, object.mask.height);
}

interface Region {
  x0: number;
  y0: number;
  w: number;
  h: number;
}

/** Max-writes the object's alpha into `alpha` (the frame's). */
function paintAlpha(alpha: Uint8Array, object: AlphaObject, feather: number): void {
  const { mask, bbox } = object;
  if (bbox[2] === 0) return;
  // Beyond f/2 of the boundary alpha is 0 or 1; one pixel more keeps the distances exact at the rim.
  const grow = feather > 0 ? Math.ceil(feather / 2) + 2 : 0;
  const region = clipRegion(bbox, grow, mask.width, mask.height);
  if (feather <= 0) {
    forEachPixel(region, mask.width, (p) => {
      if (mask.data[p]) alpha[p] = 255;
    });
    return;
  }
  const distance = signedMaskDistance(mask, region);
  if (object.edge) refineByLogits(distance, object.edge, region);
  let k = 0;
  forEachPixel(region, mask.width, (p) => {
    const a = Math.round(Math.min(1, Math.max(0, 0.5 + distance[k++] / feather)) * 255);
    // The hard mask decides which side of 128 a pixel is on.
    const value = mask.data[p] ? Math.max(a, 128) : Math.min(a, 127);
    if (value > alpha[p]) alpha[p] = value;
  });
}

function clipRegion(bbox: [number, number, number, number], grow: number, width: number, height: number): Region {
  const x0 = Math.max(0, bbox[0] - grow);
  const y0 = Math.max(0, bbox[1] - grow);
  const x1 = Math.min(width, bbox[0] + bbox[2] + grow);
  const y1 = Math.min(height, bbox[1] + bbox[3] + grow);
  return { x0, y0, w: x1 - x0, h: y1 - y0 };
}

/** Calls `visit` with the frame index of each region pixel, row by row. */
function forEachPixel(region: Region, width: number, visit: (p: number) => void): void {
  for (let y = 0; y < region.h; y++) {
    const row = (region.y0 + y) * width + region.x0;
    for (let x = 0; x < region.w; x++) visit(row + x);
  }
}

/**
 * Signed distance (pixels, > 0 inside) from each region pixel's centre to the
 * mask's boundary: the distance to the nearest pixel of the other kind, less
 * half a pixel. Pixels outside the region count as neither, so the frame's
 * border is not an edge: an object cut by the frame keeps its alpha there.
 */
export function signedMaskDistance(mask: BinaryMask, region: Region): Float32Array {
  const n = region.w * region.h;
  const toInside = new Float32Array(n);
  const toOutside = new Float32Array(n);
  let k = 0;
  forEachPixel(region, mask.width, (p) => {
    toInside[k] = mask.data[p] ? 0 : Infinity;
    toOutside[k++] = mask.data[p] ? Infinity : 0;
  });
  squaredDistance2d(toInside, region.w, region.h);
  squaredDistance2d(toOutside, region.w, region.h);
  const distance = new Float32Array(n);
  for (let i = 0; i < n; i++) distance[i] = toOutside[i] > 0 ? Math.sqrt(toOutside[i]) - 0.5 : 0.5 - Math.sqrt(toInside[i]);
  return distance;
}

/** In place: 0 / Infinity sources -> squared Euclidean distance to the nearest source (Felzenszwalb & Huttenlocher). */
function squaredDistance2d(grid: Float32Array, w: number, h: number): void {
  const line = new Float32Array(Math.max(w, h));
  const out = new Float32Array(Math.max(w, h));
  const scratch = { v: new Int32Array(Math.max(w, h)), z: new Float32Array(Math.max(w, h) + 1) };
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) line[y] = grid[y * w + x];
    squaredDistance1d(line, h, out, scratch);
    for (let y = 0; y < h; y++) grid[y * w + x] = out[y];
  }
  for (let y = 0; y < h; y++) {
    line.set(grid.subarray(y * w, y * w + w));
    squaredDistance1d(line, w, out, scratch);
    grid.set(out.subarray(0, w), y * w);
  }
}

/** The lower envelope of parabolas rooted at each finite f[q]: out[p] = min_q (p - q)^2 + f[q]. */
function squaredDistance1d(f: Float32Array, n: number, out: Float32Array, scratch: { v: Int32Array; z: Float32Array }): void {
  const { v, z } = scratch;
  let k = -1;
  for (let q = 0; q < n; q++) {
    if (f[q] === Infinity) continue;
    let s = 0;
    while (k >= 0) {
      s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * (q - v[k]));
      if (s > z[k]) break;
      k--;
    }
    k++;
    v[k] = q;
    z[k] = k === 0 ? -Infinity : s;
    z[k + 1] = Infinity;
  }
  if (k < 0) {
    out.fill(Infinity, 0, n);
    return;
  }
  let j = 0;
  for (let p = 0; p < n; p++) {
    while (z[j + 1] < p) j++;
    out[p] = (p - v[j]) * (p - v[j]) + f[v[j]];
  }
}

/**
 * In place: the mask's distance, moved towards the logits' L / |∇L| by at
 * most EDGE_SHIFT pixels. Towards the edge's band the samples saturate and
 * the estimate fades out to the mask's distance, so there is no step.
 */
function refineByLogits(distance: Float32Array, edge: ObjectEdge, region: Region): void {
  const logits = upsampleEdge(edge, region);
  const band = edgeBand(edge);
  const { w, h } = region;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const trust = Math.min(1, Math.max(0, 2 - (2 * Math.abs(logits[i])) / band));
      if (trust === 0) continue;
      // Central differences, one-sided at the region's rim.
      const gx = (logits[x < w - 1 ? i + 1 : i] - logits[x > 0 ? i - 1 : i]) / (x > 0 && x < w - 1 ? 2 : 1);
      const gy = (logits[y < h - 1 ? i + w : i] - logits[y > 0 ? i - w : i]) / (y > 0 && y < h - 1 ? 2 : 1);
      const slope = Math.hypot(gx, gy);
      const hard = distance[i];
      const estimate = slope > 1e-3 ? logits[i] / slope : hard;
      distance[i] = hard + trust * (Math.min(hard + EDGE_SHIFT, Math.max(hard - EDGE_SHIFT, estimate)) - hard);
    }
  }
}

/** The edge's samples (pixels of distance) at each region pixel: bilinear between samples, the nearest sample past the grid. */
export function upsampleEdge(edge: ObjectEdge, region: Region): Float32Array {
  const samples = edgeSamples(edge);
  const { cols, rows, step } = edge;
  const out = new Float32Array(region.w * region.h);
  const ix = new Int32Array(region.w);
  const fx = new Float32Array(region.w);
  for (let x = 0; x < region.w; x++) {
    const g = Math.min(cols - 1, Math.max(0, (region.x0 + x - edge.x) / step));
    ix[x] = Math.min(cols - 2, Math.floor(g));
    fx[x] = cols > 1 ? g - ix[x] : 0;
  }
  for (let y = 0; y < region.h; y++) {
    const g = Math.min(rows - 1, Math.max(0, (region.y0 + y - edge.y) / step));
    const j = Math.max(0, Math.min(rows - 2, Math.floor(g)));
    const fy = rows > 1 ? g - j : 0;
    const top = j * cols;
    const bottom = rows > 1 ? top + cols : top;
    for (let x = 0; x < region.w; x++) {
      const i = Math.max(0, ix[x]);
      const right = cols > 1 ? 1 : 0;
      const t = samples[top + i] + (samples[top + i + right] - samples[top + i]) * fx[x];
      const b = samples[bottom + i] + (samples[bottom + i + right] - samples[bottom + i]) * fx[x];
      out[y * region.w + x] = t + (b - t) * fy;
    }
  }
  return out;
}
