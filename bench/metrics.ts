import type { BinaryMask } from '../src/types.js';

/**
 * DAVIS 2016/2017 region (J) and boundary (F) measures, as the official
 * davis2017-evaluation code computes them (metrics.py: db_eval_iou,
 * db_eval_boundary, _seg2bmap).
 */

/** The share of `truth` that `mask` covers (0 when `truth` is empty): how much of another object a mask took. */
export function coveredShare(mask: BinaryMask, truth: BinaryMask): number {
  let both = 0;
  let area = 0;
  for (let i = 0; i < truth.data.length; i++) {
    both += mask.data[i] & truth.data[i];
    area += truth.data[i];
  }
  return both / Math.max(1, area);
}

/** J: intersection over union; 1 when both masks are empty. */
export function regionSimilarity(mask: BinaryMask, truth: BinaryMask): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < mask.data.length; i++) {
    const a = mask.data[i] ? 1 : 0;
    const b = truth.data[i] ? 1 : 0;
    inter += a & b;
    union += a | b;
  }
  return union === 0 ? 1 : inter / union;
}

/**
 * _seg2bmap at the image's own size: a pixel is on the boundary when it
 * differs from its right, bottom or bottom-right neighbour (the last row and
 * column compare with what exists).
 */
export function boundaryMap(mask: BinaryMask): Uint8Array {
  const { width: w, height: h, data } = mask;
  const seg = (x: number, y: number) => (x < w && y < h && data[y * w + x] ? 1 : 0);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = seg(x, y);
      let b: number;
      if (x === w - 1 && y === h - 1) b = 0;
      else if (y === h - 1) b = s ^ seg(x + 1, y);
      else if (x === w - 1) b = s ^ seg(x, y + 1);
      else b = (s ^ seg(x + 1, y)) | (s ^ seg(x, y + 1)) | (s ^ seg(x + 1, y + 1));
      out[y * w + x] = b;
    }
  }
  return out;
}

/** Binary dilation by a disk of the given radius (skimage.morphology.disk: x² + y² <= r²). */
export function dilateDisk(map: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const out = new Uint8Array(map.length);
  const offsets: [number, number][] = [];
  for (let dy = -radius; dy <= radius; dy++) for (let dx = -radius; dx <= radius; dx++) if (dx * dx + dy * dy <= radius * radius) offsets.push([dx, dy]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!map[y * width + x]) continue;
      for (const [dx, dy] of offsets) {
        const xx = x + dx;
        const yy = y + dy;
        if (xx >= 0 && yy >= 0 && xx < width && yy < height) out[yy * width + xx] = 1;
      }
    }
  }
  return out;
}

/** F: boundary F-measure with a tolerance of ceil(0.008 x image diagonal) pixels. */
export function boundaryMeasure(mask: BinaryMask, truth: BinaryMask, boundTh = 0.008): number {
  const { width: w, height: h } = mask;
  const radius = Math.ceil(boundTh * Math.hypot(w, h));
  const fg = boundaryMap(mask);
  const gt = boundaryMap(truth);
  const fgDil = dilateDisk(fg, w, h, radius);
  const gtDil = dilateDisk(gt, w, h, radius);
  let nFg = 0;
  let nGt = 0;
  let fgMatch = 0;
  let gtMatch = 0;
  for (let i = 0; i < fg.length; i++) {
    nFg += fg[i];
    nGt += gt[i];
    fgMatch += fg[i] & gtDil[i];
    gtMatch += gt[i] & fgDil[i];
  }
  let precision: number;
  let recall: number;
  if (nFg === 0 && nGt > 0) [precision, recall] = [1, 0];
  else if (nFg > 0 && nGt === 0) [precision, recall] = [0, 1];
  else if (nFg === 0 && nGt === 0) [precision, recall] = [1, 1];
  else [precision, recall] = [fgMatch / nFg, gtMatch / nGt];
  return precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
}

export const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);

/** The p-th percentile of ascending `sorted` values (nearest rank). */
export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
