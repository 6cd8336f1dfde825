/**
 * Test inputs made on the spot: clips drawn in JS with a known ground truth,
 * and the broken files the media layer must reject. Everything is small so a
 * test suite can make dozens of them on 2 cores.
 *
 * Image layout everywhere: packed RGB, [height][width][3] uint8, row-major.
 */
import { spawn } from 'node:child_process';
import { readFile, truncate, writeFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import sharp from 'sharp';
import type { BinaryMask } from '../../src/types.js';
import { resolveFfmpeg, resolveFfprobe } from '../../src/media/binaries.js';

export type Rgb = [r: number, g: number, b: number];

// ---------------------------------------------------------------------------
// Deterministic noise

/** Integer hash of (x, y, seed) to [0, 1): the same pixel always gets the same noise. */
export function hashNoise(x: number, y: number, seed: number): number {
  let h = Math.imul(x | 0, 374761393) ^ Math.imul(y | 0, 668265263) ^ Math.imul(seed | 0, 1442695041);
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Smooth noise: hashNoise on a `cell`-pixel grid, bilinearly interpolated. */
export function valueNoise(x: number, y: number, cell: number, seed: number): number {
  const gx = x / cell;
  const gy = y / cell;
  const x0 = Math.floor(gx);
  const y0 = Math.floor(gy);
  const fx = gx - x0;
  const fy = gy - y0;
  const top = hashNoise(x0, y0, seed) * (1 - fx) + hashNoise(x0 + 1, y0, seed) * fx;
  const bottom = hashNoise(x0, y0 + 1, seed) * (1 - fx) + hashNoise(x0 + 1, y0 + 1, seed) * fx;
  return top * (1 - fy) + bottom * fy;
}

const clampByte = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

// ---------------------------------------------------------------------------
// Moving shapes

export interface ShapeSpec {
  kind?: 'disc' | 'square';
  /** Disc radius, or half the square's side, in pixels. */
  radius: number;
  /** Centre on the first and last frame; in between it eases (cosine) from one to the other. */
  from: [x: number, y: number];
  to: [x: number, y: number];
  /** The two colours of its blotchy texture. */
  colors?: [Rgb, Rgb];
}

/** A disc moving right and down and a square moving up, apart on every frame of a 160x120 clip: two objects to track. */
export const DISC_AND_SQUARE: ShapeSpec[] = [
  { kind: 'disc', radius: 20, from: [40, 40], to: [100, 75] },
  { kind: 'square', radius: 16, from: [125, 90], to: [118, 35] },
];

export interface ShapeClipOptions {
  width?: number;
  height?: number;
  frames?: number;
  fps?: number;
  seed?: number;
  /** Later shapes are drawn over earlier ones. Default: one disc crossing the frame. */
  shapes?: ShapeSpec[];
  /** File name inside `dir`. Default shapes.mp4. */
  name?: string;
  /** Add a sine tone (AAC) as long as the video. */
  audio?: boolean;
  /** libx264rgb lossless instead of yuv420p: decoded pixels equal the drawn ones; any size. */
  lossless?: boolean;
  crf?: number;
  /** Keyframe every N frames (x264 -g); small values give seek tests real keyframes mid-clip. */
  keyframeInterval?: number;
}

export interface SyntheticClip {
  path: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  duration: number;
  timestamps: number[];
  hasAudio: boolean;
  shapes: ShapeSpec[];
  /** The frame exactly as drawn before encoding. */
  drawFrame(frame: number): Uint8Array;
  /** Visible pixels of shape `object` (0-based) on `frame`: covered by it and not by a later shape. */
  truth(frame: number, object?: number): BinaryMask;
  /** Centre of shape `object` on `frame`, in pixels. */
  center(frame: number, object?: number): [x: number, y: number];
}

export function defaultShapes(width: number, height: number): ShapeSpec[] {
  return [
    {
      kind: 'disc',
      radius: Math.round(Math.min(width, height) * 0.16),
      from: [width * 0.3, height * 0.38],
      to: [width * 0.7, height * 0.62],
    },
  ];
}

const DEFAULT_OBJECT_COLORS: Array<[Rgb, Rgb]> = [
  [[235, 45, 35], [250, 215, 40]],
  [[245, 245, 245], [200, 30, 160]],
  [[255, 140, 0], [20, 20, 20]],
];

/**
 * Draws textured shapes moving smoothly over a textured background and
 * encodes them to mp4. The texture (two-colour blotches) is fixed to the
 * shape, so points on it can be tracked; the background is static and clearly different (cool blue-green
 * noise vs warm two-colour blotches).
 */
export async function makeMovingShapeClip(dir: string, options: ShapeClipOptions = {}): Promise<SyntheticClip> {
  const { width = 320, height = 240, frames = 24, fps = 12, seed = 1, name = 'shapes.mp4', audio = false, lossless = false } = options;
  const shapes = options.shapes ?? defaultShapes(width, height);
  const background = drawBackground(width, height, seed);

  const center = (frame: number, object = 0): [number, number] => {
    const shape = shapes[object];
    const t = frames > 1 ? frame / (frames - 1) : 0;
    const eased = (1 - Math.cos(Math.PI * t)) / 2;
    return [shape.from[0] + (shape.to[0] - shape.from[0]) * eased, shape.from[1] + (shape.to[1] - shape.from[1]) * eased];
  };

  const drawFrame = (frame: number): Uint8Array => {
    const rgb = background.slice();
    shapes.forEach((shape, object) => {
      const [cx, cy] = center(frame, object);
      const colors = shape.colors ?? DEFAULT_OBJECT_COLORS[object % DEFAULT_OBJECT_COLORS.length];
      const cell = Math.max(3, Math.round(shape.radius / 3));
      forEachCoveredPixel(shape, cx, cy, width, height, (x, y) => {
        // Texture in the shape's own coordinates, so it moves with the shape.
        const u = Math.floor(x + 0.5 - cx + shape.radius);
        const v = Math.floor(y + 0.5 - cy + shape.radius);
        // Blotches of the two colours, not a checker: a periodic texture moving by about half its
        // period per frame is ambiguous to any local tracker (it aliases), which real objects rarely are.
        const base = colors[valueNoise(u, v, cell, seed + 57 + object) > 0.5 ? 1 : 0];
        const grain = (hashNoise(u, v, seed + 101 + object) - 0.5) * 50;
        const o = (y * width + x) * 3;
        rgb[o] = clampByte(base[0] + grain);
        rgb[o + 1] = clampByte(base[1] + grain);
        rgb[o + 2] = clampByte(base[2] + grain);
      });
    });
    return rgb;
  };

  const truth = (frame: number, object = 0): BinaryMask => {
    const owner = new Int16Array(width * height).fill(-1);
    shapes.forEach((shape, index) => {
      const [cx, cy] = center(frame, index);
      forEachCoveredPixel(shape, cx, cy, width, height, (x, y) => {
        owner[y * width + x] = index;
      });
    });
    const data = new Uint8Array(width * height);
    for (let i = 0; i < data.length; i++) data[i] = owner[i] === object ? 1 : 0;
    return { width, height, data };
  };

  const file = path.join(dir, name);
  await encodeRgbFrames(file, { width, height, fps, frames, lossless, crf: options.crf, audio, keyframeInterval: options.keyframeInterval }, drawFrame);
  const timestamps = Array.from({ length: frames }, (_, i) => i / fps);
  return { path: file, width, height, fps, frames, duration: frames / fps, timestamps, hasAudio: audio, shapes, drawFrame, truth, center };
}

export function drawBackground(width: number, height: number, seed: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const coarse = valueNoise(x, y, 14, seed);
      const fine = (hashNoise(x, y, seed + 7) - 0.5) * 40;
      const o = (y * width + x) * 3;
      rgb[o] = clampByte(30 + 50 * coarse + fine);
      rgb[o + 1] = clampByte(80 + 110 * coarse + fine);
      rgb[o + 2] = clampByte(110 + 90 * valueNoise(x, y, 23, seed + 3) + fine);
    }
  }
  return rgb;
}

/** Calls `visit` for every pixel whose centre lies inside the shape. */
function forEachCoveredPixel(shape: ShapeSpec, cx: number, cy: number, width: number, height: number, visit: (x: number, y: number) => void): void {
  const r = shape.radius;
  const x0 = Math.max(0, Math.floor(cx - r - 1));
  const x1 = Math.min(width - 1, Math.ceil(cx + r + 1));
  const y0 = Math.max(0, Math.floor(cy - r - 1));
  const y1 = Math.min(height - 1, Math.ceil(cy + r + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const inside = shape.kind === 'square' ? Math.abs(dx) <= r && Math.abs(dy) <= r : dx * dx + dy * dy <= r * r;
      if (inside) visit(x, y);
    }
  }
}

// ---------------------------------------------------------------------------
// Encoding drawn frames

interface EncodeSettings {
  width: number;
  height: number;
  fps: number;
  frames: number;
  lossless?: boolean;
  crf?: number;
  audio?: boolean;
  keyframeInterval?: number;
}

/** Pipes drawn frames into ffmpeg (rawvideo in, mp4 out). */
export async function encodeRgbFrames(file: string, settings: EncodeSettings, drawFrame: (frame: number) => Uint8Array): Promise<void> {
  const { width, height, fps, frames, lossless = false, crf = 18, audio = false } = settings;
  const args = ['-nostdin', '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', String(fps), '-i', 'pipe:0'];
  if (audio) args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${frames / fps}`);
  args.push('-map', '0:v');
  if (audio) args.push('-map', '1:a', '-c:a', 'aac', '-b:a', '64k');
  if (lossless) args.push('-c:v', 'libx264rgb', '-qp', '0', '-preset', 'ultrafast', '-pix_fmt', 'rgb24');
  else args.push('-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(crf), '-pix_fmt', 'yuv420p');
  if (settings.keyframeInterval) args.push('-g', String(settings.keyframeInterval), '-keyint_min', String(settings.keyframeInterval));
  args.push(file);
  await runFfmpeg(args, async (stdin) => {
    for (let i = 0; i < frames; i++) {
      await new Promise<void>((resolve, reject) => stdin.write(drawFrame(i), (error) => (error ? reject(error) : resolve())));
    }
  });
}

/** Runs ffmpeg to completion; `feed` writes its stdin (closed afterwards). */
export async function runFfmpeg(args: string[], feed?: (stdin: Writable) => Promise<void>): Promise<void> {
  const ffmpeg = await resolveFfmpeg();
  const child = spawn(ffmpeg, args, { stdio: [feed ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (feed && child.stdin) {
    child.stdin.on('error', () => undefined); // reported through the exit code
    await feed(child.stdin).catch(() => undefined);
    child.stdin.end();
  }
  const code = await closed;
  if (code !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed (${code}): ${stderr}`);
}

async function ffprobeJson(file: string, args: string[]): Promise<any> {
  const ffprobe = await resolveFfprobe();
  const child = spawn(ffprobe, ['-v', 'error', '-of', 'json', ...args, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  return JSON.parse(out || '{}');
}

/**
 * ffprobe's view of a file, independent of src/media (tests compare against
 * it): per video frame pts, frame count, audio codec, size.
 */
export async function inspectVideo(file: string): Promise<{ width: number; height: number; frames: number; pts: number[]; audioCodec?: string; videoCodec?: string; pixFmt?: string }> {
  const streams = (await ffprobeJson(file, ['-show_streams'])).streams as any[];
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  const packets = (await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time'])).packets as any[];
  const pts = packets.map((p) => Number(p.pts_time)).sort((a, b) => a - b);
  return { width: video?.width, height: video?.height, frames: pts.length, pts, audioCodec: audio?.codec_name, videoCodec: video?.codec_name, pixFmt: video?.pix_fmt };
}

/** Byte size of every packet of the first audio stream, in file order. */
export async function audioPacketSizes(file: string): Promise<number[]> {
  const packets = ((await ffprobeJson(file, ['-select_streams', 'a:0', '-show_entries', 'packet=size'])).packets ?? []) as any[];
  return packets.map((p) => Number(p.size));
}

// ---------------------------------------------------------------------------
// Special clips

/** Lossless clip of any size (e.g. 321x241): decoded pixels must equal drawFrame(i) exactly. */
export function makeOddSizeClip(dir: string, options: ShapeClipOptions = {}): Promise<SyntheticClip> {
  return makeMovingShapeClip(dir, { width: 321, height: 241, frames: 6, name: 'odd.mp4', lossless: true, ...options });
}

export interface VfrClip {
  path: string;
  /** The pts the file was written with, seconds. */
  timestamps: number[];
}

/**
 * Variable frame rate mp4 (with B-frames): 12 frames whose spacing alternates
 * 140/60 ms, with a 400 ms pause after frame 5. ffmpeg's settb + setpts set the
 * times; -enc_time_base keeps them off the nominal grid.
 */
export async function makeVfrClip(dir: string, name = 'vfr.mp4'): Promise<VfrClip> {
  const file = path.join(dir, name);
  const count = 12;
  const timestamps = Array.from({ length: count }, (_, n) => n * 0.1 + (n >= 6 ? 0.3 : 0) + (n % 2) * 0.04);
  await runFfmpeg([
    '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10', '-frames:v', String(count),
    '-vf', "settb=1/1000,setpts='(N*0.1+gte(N\\,6)*0.3+mod(N\\,2)*0.04)/TB'",
    '-fps_mode', 'passthrough', '-enc_time_base', '1/1000', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', file,
  ]);
  return { path: file, timestamps };
}

export interface RotatedClip {
  path: string;
  /** Clockwise degrees a player turns it. */
  rotation: 90 | 180 | 270;
  /** As stored in the file, before rotation. */
  storedWidth: number;
  storedHeight: number;
  /** The stored (unrotated) picture of every frame; lossless, so decoding gives it back exactly. */
  storedFrame: Uint8Array;
}

/**
 * A lossless clip with a red block at the stored top-left and a green one at
 * the stored top-right (so a flip cannot pass for a rotation), tagged to be
 * shown turned `rotation` degrees clockwise.
 *
 * ffmpeg 5.1 has no -display_rotation; `-metadata:s:v rotate=R` with -c copy
 * writes a display matrix, but in this version it comes out as the opposite
 * turn (rotate=90 is shown 90 degrees counter-clockwise). So we try both tag
 * values and keep the one ffprobe reads back as `rotation` clockwise
 * (display-matrix rotation -rotation).
 */
export async function makeRotatedClip(dir: string, rotation: 90 | 180 | 270 = 90, options: { width?: number; height?: number; frames?: number } = {}): Promise<RotatedClip> {
  const { width = 64, height = 48, frames = 3 } = options;
  const storedFrame = new Uint8Array(width * height * 3).fill(40);
  const block = Math.max(4, Math.floor(Math.min(width, height) / 4));
  paintRect(storedFrame, width, 0, 0, block, block, [255, 0, 0]);
  paintRect(storedFrame, width, width - block, 0, block, block, [0, 255, 0]);
  const base = path.join(dir, `rotated-base-${rotation}.mp4`);
  await encodeRgbFrames(base, { width, height, fps: 10, frames, lossless: true }, () => storedFrame);
  const file = path.join(dir, `rotated-${rotation}.mp4`);
  for (const tag of [(360 - rotation) % 360, rotation]) {
    await runFfmpeg(['-nostdin', '-v', 'error', '-y', '-i', base, '-c', 'copy', '-metadata:s:v:0', `rotate=${tag}`, file]);
    if ((await displayMatrixClockwise(file)) === rotation) return { path: file, rotation, storedWidth: width, storedHeight: height, storedFrame };
  }
  throw new Error(`could not make a clip that ffprobe reports as rotated ${rotation} degrees`);
}

async function displayMatrixClockwise(file: string): Promise<number | undefined> {
  const streams = (await ffprobeJson(file, ['-show_streams'])).streams as any[];
  const matrix = streams[0]?.side_data_list?.find((d: any) => d.side_data_type === 'Display Matrix');
  return matrix ? (((-matrix.rotation % 360) + 360) % 360) : undefined;
}

function paintRect(rgb: Uint8Array, width: number, x0: number, y0: number, w: number, h: number, color: Rgb): void {
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) rgb.set(color, (y * width + x) * 3);
  }
}

/** Turns a packed RGB image clockwise by 0/90/180/270 degrees. Returns [data, width, height]. */
export function rotateRgbClockwise(rgb: Uint8Array, width: number, height: number, degrees: number): [Uint8Array, number, number] {
  const sideways = degrees === 90 || degrees === 270;
  const outWidth = sideways ? height : width;
  const outHeight = sideways ? width : height;
  const out = new Uint8Array(rgb.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let ox = x;
      let oy = y;
      if (degrees === 90) [ox, oy] = [height - 1 - y, x];
      else if (degrees === 180) [ox, oy] = [width - 1 - x, height - 1 - y];
      else if (degrees === 270) [ox, oy] = [y, width - 1 - x];
      out.set(rgb.subarray((y * width + x) * 3, (y * width + x) * 3 + 3), (oy * outWidth + ox) * 3);
    }
  }
  return [out, outWidth, outHeight];
}

// ---------------------------------------------------------------------------
// Bad inputs

export async function makeTextFile(dir: string, name = 'notes.mp4'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, 'This is a text file with a video extension.\n'.repeat(20));
  return file;
}

export async function makeEmptyFile(dir: string, name = 'empty.mp4'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, '');
  return file;
}

/** An AAC tone in an m4a (mp4) container: a media file without video. */
export async function makeAudioOnly(dir: string, name = 'tone.m4a'): Promise<string> {
  const file = path.join(dir, name);
  await runFfmpeg(['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', file]);
  return file;
}

export async function makeStillImage(dir: string, format: 'png' | 'jpg' = 'png', name = `still.${format}`): Promise<string> {
  const file = path.join(dir, name);
  const width = 64;
  const height = 48;
  const image = sharp(drawBackground(width, height, 5), { raw: { width, height, channels: 3 } });
  await (format === 'png' ? image.png() : image.jpeg()).toFile(file);
  return file;
}

/** An mkv with an audio stream and a video stream that holds no frames. */
export async function makeZeroFrameClip(dir: string, name = 'zero-frames.mkv'): Promise<string> {
  const file = path.join(dir, name);
  await runFfmpeg([
    '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=duration=0.5', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10:duration=0',
    '-map', '0:a', '-map', '1:v', '-c:v', 'libx264', '-c:a', 'aac', file,
  ]);
  return file;
}

/**
 * The first half of an mp4. Without faststart the index (moov) is at the end
 * and is lost; with faststart the index survives but the frame data is cut.
 */
export async function makeTruncated(dir: string, options: { faststart?: boolean; name?: string } = {}): Promise<string> {
  const { faststart = false, name = faststart ? 'truncated-faststart.mp4' : 'truncated.mp4' } = options;
  const whole = path.join(dir, `whole-${name}`);
  await runFfmpeg([
    '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=10', '-frames:v', '20',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', ...(faststart ? ['-movflags', '+faststart'] : []), whole,
  ]);
  const file = path.join(dir, name);
  const bytes = await readFile(whole);
  await writeFile(file, bytes);
  await truncate(file, Math.floor((await stat(file)).size / 2));
  return file;
}

/**
 * A copy of `file` with the video packets at `indices` (file order) overwritten
 * by garbage, as a bad sector or a broken transfer leaves them: the container
 * and its index are whole, the decoder refuses those frames. Returns the path
 * and the packets' presentation times.
 */
export async function corruptPackets(file: string, indices: number[], name = 'corrupt.mp4'): Promise<{ path: string; times: number[] }> {
  const { packets = [] } = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,pos,size']);
  const bytes = await readFile(file);
  const times: number[] = [];
  for (const index of indices) {
    const packet = packets[index] as { pts_time: string; pos: string; size: string } | undefined;
    if (!packet) throw new Error(`${file} has no video packet ${index}`);
    times.push(Number(packet.pts_time));
    for (let i = 0; i < Number(packet.size); i++) bytes[Number(packet.pos) + i] = (i * 97 + 13) & 0xff;
  }
  const out = path.join(path.dirname(file), name);
  await writeFile(out, bytes);
  return { path: out, times };
}

// ---------------------------------------------------------------------------
// Frame directories

export interface FrameDirFixture {
  dir: string;
  /** File names in frame order. */
  files: string[];
  width: number;
  height: number;
  /** What each file holds, decoded. */
  frames: Uint8Array[];
}

/**
 * PNG frames named frame_1.png ... frame_N.png, so a plain string sort would
 * put frame_10 before frame_2 and natural sorting is exercised.
 */
export async function makeFrameDir(dir: string, options: { count?: number; width?: number; height?: number; name?: (i: number) => string } = {}): Promise<FrameDirFixture> {
  const { count = 12, width = 48, height = 32, name = (i: number) => `frame_${i + 1}.png` } = options;
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const rgb = drawBackground(width, height, 100 + i);
    const file = name(i);
    await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toFile(path.join(dir, file));
    files.push(file);
    frames.push(rgb);
  }
  return { dir, files, width, height, frames };
}

/**
 * The prompts the several-worker tests submit: object 1 clicked on frame 0
 * (the disc), object 2 first clicked on frame 3 (a corner), so frames 3..0
 * also run backward.
 */
export function twoObjectPrompts(clip: SyntheticClip) {
  const [x, y] = clip.center(0).map(Math.round);
  return {
    objects: [
      { id: 1, name: 'disc', prompts: [{ frame: 0, points: [[x, y, 1]] }] },
      { id: 2, name: 'corner', prompts: [{ frame: 3, points: [[12, 12, 1]] }] },
    ],
  };
}
