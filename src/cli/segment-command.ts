import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { Box, RgbFrame } from '../types.js';
import { maskFromClicks } from '../segment/click-to-mask.js';
import { encodeMaskPng, renderOverlayPng } from '../segment/image-files.js';
import { writeFileAtomic } from '../util/atomic.js';
import type { DecodePoint } from '../segment/segmenter.js';
import { SamSegmenter } from '../segment/segmenter.js';
import { segmenterOptions, type Config } from '../config.js';
import { InputError } from './errors.js';

export const SEGMENT_USAGE =
  'clipmask segment IMAGE --point X,Y[,LABEL] [--point ...] [--box X0,Y0,X1,Y1] --out MASK.png [--overlay OUT.png] [--model NAME]';

function parseNumbers(text: string, what: string, count: number[]): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const values = parts.map(Number);
  if (!count.includes(parts.length) || values.some((v) => !Number.isFinite(v) || parts.some((p) => p === ''))) {
    throw new InputError(`${what} "${text}" must be ${count.join(' or ')} comma-separated numbers`);
  }
  return values;
}

export function parsePoint(text: string, image: { width: number; height: number }): DecodePoint {
  const [x, y, label = 1] = parseNumbers(text, 'point', [2, 3]);
  if (label !== 0 && label !== 1) throw new InputError(`point "${text}": label must be 0 (background) or 1 (object), got ${label}`);
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) {
    throw new InputError(`point "${text}" is outside the ${image.width}x${image.height} image`);
  }
  return { x, y, label };
}

export function parseBox(text: string, image: { width: number; height: number }): Box {
  const [x0, y0, x1, y1] = parseNumbers(text, 'box', [4]);
  if (!(x0 < x1 && y0 < y1)) throw new InputError(`box "${text}" must have X0 < X1 and Y0 < Y1`);
  if (x0 < 0 || y0 < 0 || x1 > image.width || y1 > image.height) {
    throw new InputError(`box "${text}" is outside the ${image.width}x${image.height} image`);
  }
  return [x0, y0, x1, y1];
}

export async function readRgbImage(file: string): Promise<RgbFrame> {
  try {
    const { data, info } = await sharp(file).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return { index: 0, width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch {
    throw new InputError(`cannot read image ${file}: missing, unreadable or not an image`, 'unreadable_image');
  }
}

export async function runSegment(argv: string[], config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      point: { type: 'string', multiple: true },
      box: { type: 'string' },
      out: { type: 'string' },
      overlay: { type: 'string' },
      model: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new InputError(`expected one IMAGE; usage: ${SEGMENT_USAGE}`);
  if (!values.out) throw new InputError(`--out MASK.png is required; usage: ${SEGMENT_USAGE}`);
  if (!values.point?.length && !values.box) throw new InputError('give at least one --point or a --box');

  const image = await readRgbImage(positionals[0]);
  const points = (values.point ?? []).map((p) => parsePoint(p, image));
  const box = values.box ? parseBox(values.box, image) : undefined;

  const segmenter = await SamSegmenter.create({ ...segmenterOptions(config), model: values.model ?? config.model });
  try {
    const embedding = await segmenter.embed(image);
    const result = await maskFromClicks(segmenter, embedding, { points, box });
    const outputs: Promise<void>[] = [writeFileAtomic(values.out, await encodeMaskPng(result.mask))];
    if (values.overlay) outputs.push(writeFileAtomic(values.overlay, await renderOverlayPng(image, [result.mask])));
    await Promise.all(outputs);
    const { encoderMs, decoderMs, decoderRuns } = segmenter.timings;
    console.log(
      `predicted IoU ${result.score.toFixed(3)}; encoder ${encoderMs.toFixed(0)} ms; ` +
        `decoder ${decoderMs.toFixed(0)} ms (${decoderRuns} passes)`,
    );
  } finally {
    await segmenter.dispose();
  }
}
