/**
 * A directory of images as a video: files sorted by name (naturally, so
 * frame_2 comes before frame_10), every image the same size, a nominal rate.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { VideoMeta } from '../types.js';
import { MediaError } from './errors.js';
import { checkLimits, type MediaLimits } from './limits.js';
import { throwIfAborted } from './process.js';

export const FRAME_EXTENSIONS = ['.jpg', '.jpeg', '.png'];
export const DEFAULT_FRAME_DIR_FPS = 25;

/** How many image headers are read at once. */
const HEADER_CONCURRENCY = 16;

export interface FrameDirOptions {
  /** Frame rate to assume; images carry none. Default 25. */
  fps?: number;
  limits?: MediaLimits;
  signal?: AbortSignal;
}

const naturalOrder = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' }).compare;

/** Absolute paths of the frame images in `dir`, in frame order. Hidden files are ignored. */
export async function listFrameFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (cause) {
    throw new MediaError('not_found', 'the frame folder does not exist', { cause });
  }
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.') && FRAME_EXTENSIONS.includes(path.extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort(naturalOrder)
    .map((name) => path.join(path.resolve(dir), name));
}

/** "frame_0007.jpg" -> "frame_0007". */
export function frameNameOf(file: string): string {
  return path.basename(file, path.extname(file));
}

export async function probeFrameDir(dir: string, options: FrameDirOptions = {}): Promise<VideoMeta> {
  const fps = options.fps ?? DEFAULT_FRAME_DIR_FPS;
  if (!(fps > 0)) throw new RangeError(`fps must be positive, got ${fps}`);
  const files = await listFrameFiles(dir);
  if (files.length === 0) {
    throw new MediaError('zero_frames', `the frame folder has no ${FRAME_EXTENSIONS.join(' / ')} images`);
  }
  const frameNames = files.map(frameNameOf);
  assertUniqueNames(files, frameNames);
  const sizes = await readImageSizes(files, options.signal);
  const [width, height] = sizes[0];
  sizes.forEach(([w, h], i) => {
    if (w !== width || h !== height) {
      throw new MediaError(
        'frame_size_mismatch',
        `frame "${path.basename(files[i])}" is ${w}x${h} but "${path.basename(files[0])}" is ${width}x${height}; all frames must be the same size`,
      );
    }
  });
  const meta: VideoMeta = {
    width,
    height,
    fps,
    frames: files.length,
    duration: files.length / fps,
    rotation: 0,
    hasAudio: false,
    timestamps: files.map((_, i) => i / fps),
    frameNames,
    kind: 'frames',
  };
  checkLimits(meta, options.limits);
  return meta;
}

function assertUniqueNames(files: string[], names: string[]): void {
  const seen = new Map<string, string>();
  names.forEach((name, i) => {
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      throw new MediaError(
        'duplicate_frame_name',
        `"${earlier}" and "${path.basename(files[i])}" would both be frame "${name}"; keep one of them`,
      );
    }
    seen.set(name, path.basename(files[i]));
  });
}

/** [width, height] of each image as displayed (EXIF orientation applied, as when decoding). */
async function readImageSizes(files: string[], signal?: AbortSignal): Promise<Array<[number, number]>> {
  const sizes: Array<[number, number]> = [];
  for (let start = 0; start < files.length; start += HEADER_CONCURRENCY) {
    throwIfAborted(signal);
    const batch = files.slice(start, start + HEADER_CONCURRENCY);
    sizes.push(...(await Promise.all(batch.map(readImageSize))));
  }
  return sizes;
}

async function readImageSize(file: string): Promise<[number, number]> {
  try {
    const metadata = await sharp(file).metadata();
    return [metadata.autoOrient.width, metadata.autoOrient.height];
  } catch (cause) {
    throw new MediaError('bad_image', `frame "${path.basename(file)}" is not a readable image`, { cause });
  }
}

/**
 * Decodes one frame image to packed RGB (layout: [height][width][3] uint8),
 * orientation applied, alpha dropped, grey/CMYK/16-bit converted to 8-bit sRGB.
 */
export async function decodeFrameImage(file: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  try {
    const { data, info } = await sharp(file, { autoOrient: true })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (cause) {
    throw new MediaError('bad_image', `frame "${path.basename(file)}" is not a readable image`, { cause });
  }
}
