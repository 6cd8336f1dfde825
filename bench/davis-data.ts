import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { BinaryMask, RgbFrame } from '../src/types.js';

/** DAVIS-style sequences: DIR/<seq>/JPEGImages/*.jpg and DIR/<seq>/Annotations/*.png. */

export async function listSequences(dir: string, only?: string[]): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const all = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (!only) return all;
  const missing = only.filter((s) => !all.includes(s));
  if (missing.length) throw new Error(`no such sequence in ${dir}: ${missing.join(', ')}`);
  return only;
}

export async function sequenceFrames(dir: string, seq: string): Promise<string[]> {
  const names = await readdir(path.join(dir, seq, 'JPEGImages'));
  return names.filter((n) => /\.jpe?g$/i.test(n)).sort().map((n) => path.join(dir, seq, 'JPEGImages', n));
}

export function annotationPath(dir: string, seq: string, framePath: string): string {
  return path.join(dir, seq, 'Annotations', path.basename(framePath).replace(/\.jpe?g$/i, '.png'));
}

export async function readRgb(file: string, index = 0): Promise<RgbFrame> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { index, width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** A DAVIS 2016 annotation (0 background, 255 object) as a binary mask. */
export async function readBinaryMask(file: string): Promise<BinaryMask> {
  const { data, info } = await sharp(file).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: Uint8Array.from(data, (v) => (v > 127 ? 1 : 0)) };
}
