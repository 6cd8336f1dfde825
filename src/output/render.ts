import { rm } from 'node:fs/promises';
import type { RgbFrame, VideoMeta } from '../types.js';
import { hasMediaErrorCode, MediaError } from '../media/errors.js';
import { readFrames } from '../media/frames.js';
import { VideoWriter, videoWriterOptionsFor, type VideoFormat } from '../media/encode.js';
import { alphaObject, unionAlpha, type AlphaObject } from './alpha.js';
import { MASKS_FORMAT, type FrameRecord, type masksDocument } from './masks-json.js';
import { MemoryResults, type ResultStore } from './result-store.js';
import type { Effect, RenderOutput, RenderSpec } from './render-spec.js';

/**
 * The renders (cut-outs, matte, effects) of a run: one decode of the source
 * feeds one encoder per requested file, each frame's alpha made once per
 * distinct (objects, feather) from the frame records. Every file keeps the
 * source's frame count, timestamps and audio.
 */

export type RenderErrorCode = 'bad_masks';

export class RenderError extends Error {
  override readonly name = 'RenderError';
  constructor(
    readonly code: RenderErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface RenderSource {
  input: string;
  meta: VideoMeta;
  results: ResultStore;
}

export interface RenderTarget {
  spec: RenderSpec;
  path: string;
}

const FORMAT_OF: Record<RenderOutput, VideoFormat> = {
  'cutout.webm': 'vp9-alpha',
  'cutout.mov': 'prores-4444',
  'matte.mp4': 'matte',
  'effect.mp4': 'h264',
};

/**
 * Writes every target. Each file appears complete or not at all, and they
 * stand or fall together: if any target fails (or `signal` aborts) every
 * encoder is stopped, their partial files removed, and files already
 * finished in this call are removed again.
 */
export async function renderVideos(source: RenderSource, targets: RenderTarget[], options: { signal?: AbortSignal } = {}): Promise<void> {
  if (targets.length === 0) return;
  const writers: VideoWriter[] = [];
  try {
    for (const target of targets) {
      const writerOptions = videoWriterOptionsFor(source.meta, target.path, source.input);
      writers.push(await VideoWriter.open({ ...writerOptions, format: FORMAT_OF[target.spec.output], signal: options.signal }));
    }
    for await (const frame of readFrames(source.input, source.meta, { signal: options.signal })) {
      const objects = frameObjects(await source.results.read(frame.index));
      const alphas = new Map<string, Uint8Array>();
      const frames = targets.map((target) => renderFrame(frame, target.spec, alphaFor(alphas, objects, target.spec, frame)));
      await Promise.all(writers.map((writer, i) => writer.write(frames[i])));
    }
  } catch (error) {
    await Promise.all(writers.map((writer) => writer.abort()));
    // An abort stops the encoders first, so the error seen may be a write to a stopped one.
    if (options.signal?.aborted && !hasMediaErrorCode(error, 'aborted')) throw new MediaError('aborted', 'cancelled', { cause: error });
    throw error;
  }
  await finishTogether(writers, targets);
}

/** Finishes every writer; if one fails, the files the others finished go too. */
async function finishTogether(writers: VideoWriter[], targets: RenderTarget[]): Promise<void> {
  const finished = await Promise.allSettled(writers.map((writer) => writer.finish()));
  const failed = finished.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (!failed) return;
  await Promise.all(writers.map((writer) => writer.abort()));
  await Promise.all(targets.map((target, i) => (finished[i].status === 'fulfilled' ? rm(target.path, { force: true }) : undefined)));
  throw failed.reason;
}

/** The frame's visible objects by id (a frame without a record has none). */
function frameObjects(record: FrameRecord | undefined): Map<number, AlphaObject> {
  const objects = new Map<number, AlphaObject>();
  for (const o of record?.objects ?? []) {
    const object = alphaObject(o);
    if (object) objects.set(o.id, object);
  }
  return objects;
}

/** The spec's alpha on this frame, made once per distinct objects and feather. */
function alphaFor(cache: Map<string, Uint8Array>, objects: Map<number, AlphaObject>, spec: RenderSpec, frame: RgbFrame): Uint8Array {
  const key = `${spec.objects?.join(',') ?? '*'}|${spec.feather}`;
  let alpha = cache.get(key);
  if (!alpha) {
    const chosen = spec.objects ? spec.objects.flatMap((id) => objects.get(id) ?? []) : [...objects.values()];
    alpha = unionAlpha(chosen, spec.feather, frame.width, frame.height);
    cache.set(key, alpha);
  }
  return alpha;
}

/** The frame a target's encoder takes: RGBA for the cut-outs, the alpha for the matte, RGB for effects. */
export function renderFrame(frame: RgbFrame, spec: RenderSpec, alpha: Uint8Array): Uint8Array {
  switch (spec.output) {
    case 'cutout.webm':
    case 'cutout.mov':
      return rgbaOf(frame.data, alpha);
    case 'matte.mp4':
      return alpha;
    case 'effect.mp4':
      return composite(frame.data, effectBackground(frame, spec.effect ?? 'blur-background', alpha), alpha);
  }
}

function rgbaOf(rgb: Uint8Array, alpha: Uint8Array): Uint8Array {
  const out = new Uint8Array(alpha.length * 4);
  for (let p = 0, i = 0, o = 0; p < alpha.length; p++, i += 3, o += 4) {
    out[o] = rgb[i];
    out[o + 1] = rgb[i + 1];
    out[o + 2] = rgb[i + 2];
    out[o + 3] = alpha[p];
  }
  return out;
}

/** foreground over background by alpha, RGB. */
export function composite(foreground: Uint8Array, background: Uint8Array, alpha: Uint8Array): Uint8Array {
  const out = new Uint8Array(foreground.length);
  for (let p = 0, i = 0; p < alpha.length; p++, i += 3) {
    const a = alpha[p];
    // Most pixels are wholly object or wholly background: copies, no arithmetic.
    const from = a === 255 ? foreground : a === 0 ? background : undefined;
    if (from) {
      out[i] = from[i];
      out[i + 1] = from[i + 1];
      out[i + 2] = from[i + 2];
      continue;
    }
    for (let c = i; c < i + 3; c++) out[c] = Math.round(background[c] + ((foreground[c] - background[c]) * a) / 255);
  }
  return out;
}

/** Spotlight keeps this share of the background's brightness. */
export const SPOTLIGHT_LEVEL = 0.3;

/** What effect.mp4 shows behind the objects (`alpha`: the objects, which the blur leaves out). */
export function effectBackground(frame: RgbFrame, effect: Effect, alpha: Uint8Array): Uint8Array {
  const { data, width, height } = frame;
  switch (effect) {
    case 'blur-background':
      return backgroundBlur(data, alpha, width, height, blurRadius(width, height));
    case 'grey-background': {
      const out = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i += 3) {
        // BT.601 luma, the weights of SD video and of most "greyscale" filters.
        out[i] = out[i + 1] = out[i + 2] = Math.round(0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]);
      }
      return out;
    }
    case 'black-background':
      return new Uint8Array(data.length);
    case 'spotlight': {
      const out = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) out[i] = Math.round(data[i] * SPOTLIGHT_LEVEL);
      return out;
    }
  }
}

/**
 * The background blur: made without the objects, so the background next to
 * them is not lit by their colours (no halo): each sample is weighted by how
 * much background it is, 1 - alpha, and the blur divided by the blurred
 * weight (normalised convolution). At half resolution and scaled back up
 * (bilinear): a blur this wide keeps no detail half the samples could not
 * carry, and it is a quarter of the work.
 */
export function backgroundBlur(rgb: Uint8Array, alpha: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const halfWidth = Math.ceil(width / 2);
  const halfHeight = Math.ceil(height / 2);
  const weighted = new Float32Array(halfWidth * halfHeight * 4); // [r*w, g*w, b*w, w] per half-size pixel
  const plain = new Float32Array(halfWidth * halfHeight * 3); // where no background is near, the pixel itself
  const taps = new Int32Array(4); // the 2x2 full-size pixels of a half-size one
  for (let y = 0; y < halfHeight; y++) {
    const upper = 2 * y * width;
    const lower = Math.min(height - 1, 2 * y + 1) * width;
    for (let x = 0; x < halfWidth; x++) {
      const right = Math.min(width - 1, 2 * x + 1);
      taps[0] = upper + 2 * x;
      taps[1] = upper + right;
      taps[2] = lower + 2 * x;
      taps[3] = lower + right;
      const o = y * halfWidth + x;
      for (let t = 0; t < 4; t++) {
        const p = taps[t];
        const w = (255 - alpha[p]) / 1020; // a quarter of 1 - alpha per sample
        for (let c = 0; c < 3; c++) {
          weighted[o * 4 + c] += rgb[p * 3 + c] * w;
          plain[o * 3 + c] += rgb[p * 3 + c] / 4;
        }
        weighted[o * 4 + 3] += w;
      }
    }
  }
  boxBlur(weighted, halfWidth, halfHeight, 4, Math.max(1, Math.round(radius / 2)));
  const small = new Uint8Array(halfWidth * halfHeight * 3);
  for (let o = 0; o < halfWidth * halfHeight; o++) {
    const w = weighted[o * 4 + 3];
    for (let c = 0; c < 3; c++) small[o * 3 + c] = (w > 1e-3 ? weighted[o * 4 + c] / w : plain[o * 3 + c]) + 0.5;
  }
  return upsampleTwice(small, halfWidth, halfHeight, width, height);
}

/** Bilinear from a half-size image to width x height (pixel centres aligned; edges clamp). */
function upsampleTwice(small: Uint8Array, smallWidth: number, smallHeight: number, width: number, height: number): Uint8Array {
  const taps = (size: number, smallSize: number) => {
    const low = new Int32Array(size);
    const high = new Int32Array(size);
    const weight = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const at = Math.min(smallSize - 1, Math.max(0, (i + 0.5) / 2 - 0.5));
      low[i] = Math.floor(at);
      high[i] = Math.min(smallSize - 1, low[i] + 1);
      weight[i] = at - low[i];
    }
    return { low, high, weight };
  };
  const xs = taps(width, smallWidth);
  const ys = taps(height, smallHeight);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const top = ys.low[y] * smallWidth * 3;
    const bottom = ys.high[y] * smallWidth * 3;
    const wy = ys.weight[y];
    for (let x = 0, o = y * width * 3; x < width; x++, o += 3) {
      const left = xs.low[x] * 3;
      const right = xs.high[x] * 3;
      const wx = xs.weight[x];
      for (let c = 0; c < 3; c++) {
        const upper = small[top + left + c] + (small[top + right + c] - small[top + left + c]) * wx;
        const lower = small[bottom + left + c] + (small[bottom + right + c] - small[bottom + left + c]) * wx;
        out[o + c] = upper + (lower - upper) * wy + 0.5;
      }
    }
  }
  return out;
}

/** Box radius for the blur: 1/48 of the shorter side (10 px at 480p, sigma ≈ 10.5 px after three passes), so it looks the same at any size. */
export function blurRadius(width: number, height: number): number {
  return Math.max(1, Math.round(Math.min(width, height) / 48));
}

/** Three separable box blurs of radius r ≈ a Gaussian of sigma sqrt(r(r+1)), in place; edges clamp. */
export function boxBlur(samples: Float32Array, width: number, height: number, channels: number, radius: number): Float32Array {
  const other = new Float32Array(samples.length);
  for (let pass = 0; pass < 3; pass++) {
    boxBlurLines(samples, other, width, height, channels, channels, channels * width, radius); // rows
    boxBlurLines(other, samples, height, width, channels, channels * width, channels, radius); // columns
  }
  return samples;
}

/**
 * One box blur along `lines` lines of `length` samples per channel: sample k
 * of line l, channel c is at l * lineStride + k * step + c. Running sums, so
 * the cost does not grow with the radius; the hot loop indexes directly.
 */
function boxBlurLines(src: Float32Array, dst: Float32Array, length: number, lines: number, channels: number, step: number, lineStride: number, radius: number): void {
  const norm = 1 / (2 * radius + 1);
  const last = (length - 1) * step;
  for (let l = 0; l < lines; l++) {
    for (let c = 0; c < channels; c++) {
      const base = l * lineStride + c;
      let sum = 0;
      for (let k = -radius; k <= radius; k++) sum += src[base + Math.min(length - 1, Math.max(0, k)) * step];
      for (let k = 0, at = base; k < length; k++, at += step) {
        dst[at] = sum * norm;
        const add = k + radius + 1 < length ? at + (radius + 1) * step : base + last;
        const drop = k - radius > 0 ? at - radius * step : base;
        sum += src[add] - src[drop];
      }
    }
  }
}

export type MasksDocument = ReturnType<typeof masksDocument>;

/** The frame records of a masks.json document as a store, so renders can be made from masks.json alone. */
export function masksResults(document: MasksDocument): MemoryResults {
  if (document?.format !== MASKS_FORMAT || !Array.isArray(document.frames)) {
    throw new RenderError('bad_masks', `not a ${MASKS_FORMAT} document`);
  }
  return new MemoryResults(document.frames);
}
