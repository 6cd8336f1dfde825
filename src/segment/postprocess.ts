import type { BinaryMask, Box } from '../types.js';
import type { ResizedShape } from './preprocess.js';

/**
 * Post-processing of SAM decoder outputs. The exported decoder graph turns the
 * 256x256 low-res logits into full-size logits with two half-pixel bilinear
 * resizes (256 -> 1024, crop the unpadded part, -> original size). We do the
 * same here in plain TypeScript so that intermediate decoder passes never pay
 * for full-resolution output, and so that any candidate mask (not just the
 * graph's own choice) can be brought to full size.
 */

/**
 * One axis of ONNX Resize(mode=linear, coordinate_transformation_mode=half_pixel),
 * as ONNX Runtime computes it: source coordinate clamped to [0, in - 1].
 * Returns, for every output index, the two source indices and the weight of the second.
 */
export function linearResizeTaps(inSize: number, outSize: number, count = outSize): Taps {
  const lo = new Int32Array(count);
  const hi = new Int32Array(count);
  const w = new Float32Array(count);
  const scale = outSize / inSize;
  for (let i = 0; i < count; i++) {
    let src = (i + 0.5) / scale - 0.5;
    if (src < 0) src = 0;
    if (src > inSize - 1) src = inSize - 1;
    const i0 = Math.floor(src);
    lo[i] = i0;
    hi[i] = Math.min(i0 + 1, inSize - 1);
    w[i] = src - i0;
  }
  return { lo, hi, w };
}

export interface Taps {
  lo: Int32Array;
  hi: Int32Array;
  w: Float32Array;
}

/** Indices [start, end) along one axis. */
export interface Span {
  start: number;
  end: number;
}

const spanLength = (s: Span) => s.end - s.start;

/** The source indices that the outputs in `out` read. */
function sourceSpan(taps: Taps, out: Span): Span {
  return { start: taps.lo[out.start], end: taps.hi[out.end - 1] + 1 };
}

/**
 * The outputs that read any source index in `source`, or null if none. Taps
 * are monotone, so they form one span.
 */
function outputSpanReading(taps: Taps, source: Span): Span | null {
  const reads = (i: number) => taps.hi[i] >= source.start && taps.lo[i] < source.end;
  let start = 0;
  while (start < taps.lo.length && !reads(start)) start++;
  if (start === taps.lo.length) return null;
  let end = start;
  while (end < taps.lo.length && reads(end)) end++;
  return { start, end };
}

/**
 * Separable bilinear resize of a window of a single-channel float image.
 *   src: a [rows, cols] window of the source image whose first value is the
 *        source pixel (srcX, srcY)
 *   returns: the outputs outX x outY, [len(outY), len(outX)] float32
 * Every output is computed exactly as for the whole image, whatever the window.
 */
function resizeWindow(
  src: Float32Array,
  srcCols: number,
  srcX: number,
  srcY: number,
  cols: Taps,
  rows: Taps,
  outX: Span,
  outY: Span,
): Float32Array {
  const width = spanLength(outX);
  const height = spanLength(outY);
  const readRows = sourceSpan(rows, outY);
  // Horizontal pass over the source rows that the window reads: [len(readRows), width]
  const tmp = new Float32Array(spanLength(readRows) * width);
  for (let y = readRows.start; y < readRows.end; y++) {
    const srcRow = (y - srcY) * srcCols - srcX;
    const dstRow = (y - readRows.start) * width;
    for (let x = 0; x < width; x++) {
      const i = outX.start + x;
      const a = src[srcRow + cols.lo[i]];
      tmp[dstRow + x] = a + (src[srcRow + cols.hi[i]] - a) * cols.w[i];
    }
  }
  // Vertical pass: [height, width]
  const out = new Float32Array(height * width);
  for (let y = 0; y < height; y++) {
    const i = outY.start + y;
    const r0 = (rows.lo[i] - readRows.start) * width;
    const r1 = (rows.hi[i] - readRows.start) * width;
    const wy = rows.w[i];
    const dstRow = y * width;
    for (let x = 0; x < width; x++) {
      const a = tmp[r0 + x];
      out[dstRow + x] = a + (tmp[r1 + x] - a) * wy;
    }
  }
  return out;
}

/**
 * Separable bilinear resize of a single-channel float image, keeping only the
 * top-left `keepWidth` x `keepHeight` of the (virtual) `outWidth` x `outHeight` result.
 *   src: [inHeight, inWidth] float32 -> returns [keepHeight, keepWidth] float32
 */
export function resizeBilinear(
  src: Float32Array,
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
  keepWidth = outWidth,
  keepHeight = outHeight,
): Float32Array {
  const cols = linearResizeTaps(inWidth, outWidth, keepWidth);
  const rows = linearResizeTaps(inHeight, outHeight, keepHeight);
  return resizeWindow(src, inWidth, 0, 0, cols, rows, { start: 0, end: keepWidth }, { start: 0, end: keepHeight });
}

/**
 * Low-res decoder logits -> logits at the image's size, as the exported graph does.
 *   lowRes: [lowResSize, lowResSize] float32 (256 x 256 for SAM)
 *   return: [image.height, image.width] float32
 */
export function upscaleLogits(
  lowRes: Float32Array,
  lowResSize: number,
  inputSize: number,
  resized: ResizedShape,
  image: { width: number; height: number },
): Float32Array {
  const padded = resizeBilinear(lowRes, lowResSize, lowResSize, inputSize, inputSize, resized.width, resized.height);
  return resizeBilinear(padded, resized.width, resized.height, image.width, image.height);
}

/** Full-size logits computed only where they can be positive. */
export interface LogitsWindow {
  /** The window's columns and rows in the image. */
  x: Span;
  y: Span;
  /** [len(y), len(x)] float32, exactly upscaleLogits' values there. */
  logits: Float32Array;
}

/**
 * Tight box [x0, y0, x1, y1] (inclusive) around the values above `threshold`
 * in a row-major [height, width] grid, or null when there is none.
 */
function boxAbove(values: ArrayLike<number>, width: number, height: number, threshold: number): Box | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (values[row + x] > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

/**
 * upscaleLogits restricted to the window where a logit can be positive, or
 * null when none can be. Each output is an interpolation, with non-negative
 * weights, of the low-res cells it reads through both resizes; an output that
 * reads no positive cell is at most 0 (float rounding is monotone, so this
 * holds exactly), that is background. An object's window is usually a small
 * part of the frame, and the refinement passes need only its box, so this is
 * most of what the exact upscale costs saved.
 */
export function upscaleLogitsWindow(
  lowRes: Float32Array,
  lowResSize: number,
  inputSize: number,
  resized: ResizedShape,
  image: { width: number; height: number },
): LogitsWindow | null {
  const box = boxAbove(lowRes, lowResSize, lowResSize, 0);
  if (!box) return null;
  const cells = { x: { start: box[0], end: box[2] + 1 }, y: { start: box[1], end: box[3] + 1 } };
  // Stage 1: low-res -> the unpadded part of the input-size square.
  const padX = linearResizeTaps(lowResSize, inputSize, resized.width);
  const padY = linearResizeTaps(lowResSize, inputSize, resized.height);
  // Stage 2: that part -> the image.
  const imgX = linearResizeTaps(resized.width, image.width);
  const imgY = linearResizeTaps(resized.height, image.height);
  const midX = outputSpanReading(padX, cells.x);
  const midY = outputSpanReading(padY, cells.y);
  const x = midX && outputSpanReading(imgX, midX);
  const y = midY && outputSpanReading(imgY, midY);
  if (!x || !y) return null;
  // The stage-1 values the window reads, computed from the cells they read.
  const needX = sourceSpan(imgX, x);
  const needY = sourceSpan(imgY, y);
  const mid = resizeWindow(lowRes, lowResSize, 0, 0, padX, padY, needX, needY);
  const logits = resizeWindow(mid, spanLength(needX), needX.start, needY.start, imgX, imgY, x, y);
  return { x, y, logits };
}

/**
 * The window's logits and mask at full size. Logits outside the window are
 * not computed: they hold -Infinity, "background" to every consumer (the
 * mask's threshold, the overlap resolution).
 */
export function windowToImage(window: LogitsWindow | null, width: number, height: number): { logits: Float32Array; mask: BinaryMask; box: Box | null } {
  const logits = new Float32Array(width * height).fill(-Infinity);
  const mask: BinaryMask = { width, height, data: new Uint8Array(width * height) };
  if (!window) return { logits, mask, box: null };
  const w = spanLength(window.x);
  const h = spanLength(window.y);
  for (let row = 0; row < h; row++) {
    const src = row * w;
    const dst = (window.y.start + row) * width + window.x.start;
    logits.set(window.logits.subarray(src, src + w), dst);
    for (let col = 0; col < w; col++) mask.data[dst + col] = window.logits[src + col] > 0 ? 1 : 0;
  }
  const inWindow = boxAbove(window.logits, w, h, 0);
  const box: Box | null = inWindow && [inWindow[0] + window.x.start, inWindow[1] + window.y.start, inWindow[2] + window.x.start, inWindow[3] + window.y.start];
  return { logits, mask, box };
}

/** Logits -> binary mask: SAM's mask_threshold is 0.0. */
export function logitsToMask(logits: Float32Array, width: number, height: number, threshold = 0): BinaryMask {
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = logits[i] > threshold ? 1 : 0;
  return { width, height, data };
}

/**
 * Which of SAM's four mask tokens to use. Token 0 is the single-mask output,
 * tokens 1-3 the multimask candidates; for an ambiguous prompt (one click) SAM
 * recommends the candidate with the highest predicted IoU.
 */
export function chooseMaskIndex(iouPredictions: ArrayLike<number>, multimask: boolean): number {
  if (!multimask) return 0;
  let best = 1;
  for (let i = 2; i < iouPredictions.length; i++) if (iouPredictions[i] > iouPredictions[best]) best = i;
  return best;
}

export interface WholeObjectPrior {
  /** How far below SAM's best predicted IoU a larger candidate may score and still be taken. */
  maxScoreDrop: number;
  /** A candidate covering more than this fraction of the image is the scene, not an object. */
  maxAreaFraction: number;
  /** A candidate whose part connected to the click holds less than this share of it is a group of objects. */
  minConnectedShare: number;
}

export const DEFAULT_WHOLE_OBJECT_PRIOR: WholeObjectPrior = { maxScoreDrop: 0.15, maxAreaFraction: 0.5, minConnectedShare: 0.8 };

/** What is known of each candidate mask. */
export interface CandidateShape {
  /** Share of the image it covers. */
  areaFraction: number;
  /** Share of it connected to the first object click (0 when that click is outside it). */
  connectedShare: number;
  /** Every object click inside it and every background click outside it. */
  agreesWithClicks: boolean;
}

/**
 * Candidate choice for clicks that mean "this object", as in video object
 * tracking. SAM's candidates go from part to whole, and the highest
 * predicted IoU often picks a part (a swan's body without its neck, a rider
 * without the horse). Among the candidates that agree with every click, take
 * the largest that SAM scores close to its best, that is not the background,
 * and that is one piece around the click: SAM's largest candidate is
 * sometimes the clicked object together with separate neighbours, a group
 * rather than an object.
 *   tokens: the candidates to consider (1-3 for a lone click, 0-3 otherwise)
 */
export function chooseWholeObject(
  iouPredictions: ArrayLike<number>,
  shapes: CandidateShape[],
  tokens: number[] = [1, 2, 3],
  prior: WholeObjectPrior = DEFAULT_WHOLE_OBJECT_PRIOR,
): number {
  const agreeing = tokens.filter((t) => shapes[t].agreesWithClicks);
  const pool = agreeing.length ? agreeing : tokens;
  const best = pool.reduce((a, b) => (iouPredictions[b] > iouPredictions[a] ? b : a));
  let chosen = best;
  for (const t of pool) {
    const { areaFraction, connectedShare } = shapes[t];
    const trusted = iouPredictions[t] >= iouPredictions[best] - prior.maxScoreDrop;
    const anObject = areaFraction > 0 && areaFraction <= prior.maxAreaFraction && connectedShare >= prior.minConnectedShare;
    if (trusted && anObject && areaFraction > shapes[chosen].areaFraction) chosen = t;
  }
  return chosen;
}

/**
 * Shape of each low-res candidate, on the 256x256 logits inside the unpadded
 * region. Cells up to `reach` cells apart count as connected, so an object
 * seen through a fence or split by a thin occluder stays one piece, while
 * separate objects do not.
 *   logits: [count, size, size]; valid region: [0, validHeight) x [0, validWidth)
 *   clicks: in low-res cell coordinates; the first object click anchors connectivity
 */
export function candidateShapes(
  logits: Float32Array,
  count: number,
  size: number,
  validWidth: number,
  validHeight: number,
  clicks: { x: number; y: number; label: 0 | 1 }[],
  reach = 2,
): CandidateShape[] {
  const cell = (v: number, limit: number) => Math.min(limit - 1, Math.max(0, Math.floor(v)));
  const cells = clicks.map((c) => ({ x: cell(c.x, validWidth), y: cell(c.y, validHeight), label: c.label }));
  const anchor = cells.find((c) => c.label === 1);
  const shapes: CandidateShape[] = [];
  const seen = new Uint8Array(size * size);
  for (let t = 0; t < count; t++) {
    const base = t * size * size;
    const inside = (x: number, y: number) => logits[base + y * size + x] > 0;
    let area = 0;
    for (let y = 0; y < validHeight; y++) for (let x = 0; x < validWidth; x++) if (inside(x, y)) area++;
    let connected = 0;
    if (anchor && inside(anchor.x, anchor.y)) {
      seen.fill(0);
      const stack = [anchor.y * size + anchor.x];
      seen[stack[0]] = 1;
      while (stack.length) {
        const c = stack.pop()!;
        connected++;
        const x = c % size;
        const y = (c - x) / size;
        for (let ny = Math.max(0, y - reach); ny <= Math.min(validHeight - 1, y + reach); ny++) {
          for (let nx = Math.max(0, x - reach); nx <= Math.min(validWidth - 1, x + reach); nx++) {
            const n = ny * size + nx;
            if (!seen[n] && inside(nx, ny)) {
              seen[n] = 1;
              stack.push(n);
            }
          }
        }
      }
    }
    shapes.push({
      areaFraction: area / (validWidth * validHeight),
      connectedShare: area ? connected / area : 0,
      agreesWithClicks: cells.every((c) => inside(c.x, c.y) === (c.label === 1)),
    });
  }
  return shapes;
}

/** Tight box [x0, y0, x1, y1] around the mask (x1, y1 inclusive, as SAM's batched_mask_to_box), or null if empty. */
export function maskBox(mask: BinaryMask): Box | null {
  return boxAbove(mask.data, mask.width, mask.height, 0);
}

export function maskArea(mask: BinaryMask): number {
  let area = 0;
  for (let i = 0; i < mask.data.length; i++) area += mask.data[i];
  return area;
}

/**
 * A binary mask as SAM's mask prompt: low-res logits on the decoder's
 * [size, size] grid over the padded encoder input (`inputSize` square, the
 * image resized to `resized` at its top left), `+magnitude` where the cell's
 * centre falls on the mask, `-magnitude` elsewhere (padding included). SAM 2
 * prompts a frame that already has a mask this way when clicks are added to
 * it, so the clicks refine the mask instead of starting over.
 */
export function maskToLowRes(mask: BinaryMask, resized: { width: number; height: number }, size: number, inputSize: number, magnitude = 8): Float32Array {
  const out = new Float32Array(size * size).fill(-magnitude);
  const cell = inputSize / size;
  const sx = mask.width / resized.width;
  const sy = mask.height / resized.height;
  for (let v = 0; v < size; v++) {
    const y = Math.floor((v + 0.5) * cell * sy);
    if (y >= mask.height) break;
    for (let u = 0; u < size; u++) {
      const x = Math.floor((u + 0.5) * cell * sx);
      if (x >= mask.width) break;
      if (mask.data[y * mask.width + x]) out[v * size + u] = magnitude;
    }
  }
  return out;
}

/** Intersection over union; 1 when both masks are empty (the DAVIS convention). */
/**
 * The cells of the decoder's square low-res grid that hold the image (the
 * rest is padding): the resized image's size at the grid's scale.
 */
export function lowResImageGrid(resized: { width: number; height: number }, lowResMaskSize: number, inputSize: number): { width: number; height: number } {
  const scale = lowResMaskSize / inputSize;
  return { width: Math.max(1, Math.round(resized.width * scale)), height: Math.max(1, Math.round(resized.height * scale)) };
}

export function maskIoU(a: BinaryMask, b: BinaryMask): number {
  if (a.width !== b.width || a.height !== b.height) throw new RangeError('masks differ in size');
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.data.length; i++) {
    const p = a.data[i];
    const q = b.data[i];
    inter += p & q;
    union += p | q;
  }
  return union === 0 ? 1 : inter / union;
}
