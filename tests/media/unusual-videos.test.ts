/**
 * Valid but unusual videos (issue 17, part 2): whatever the container, codec,
 * pixel format, size or frame rate, the probe counts the frames a decoder
 * gives, with their timestamps, and readFrames hands out exactly those frames
 * with their colours, whole or from a frame in the middle (as an embed
 * helper's chunk seeks). A file with several video streams is its first.
 *
 * Frame i of every clip is one flat colour (COLORS[i]), so each decoded frame
 * can be checked for its place and its colour conversion (range, matrix,
 * bit depth, alpha, palette).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFrames } from '../../src/media/frames.js';
import { probeVideo } from '../../src/media/probe.js';
import type { Rgb } from '../helpers/synthetic.js';
import { runFfmpeg } from '../helpers/synthetic.js';

const FRAMES = 10;
/** Far apart in every channel, and inside what 4:2:0 limited range keeps. */
const COLORS: Rgb[] = Array.from({ length: FRAMES }, (_, i) => [40 + ((i * 53) % 180), 200 - ((i * 37) % 160), 60 + ((i * 91) % 150)]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-unusual-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  file: string;
  width?: number;
  height?: number;
  /** Frames per second as a fraction, when not 10. */
  rate?: string;
  /** Encoder arguments (after the input). */
  encode: string[];
  /** How far a decoded frame's mean may be from its colour (lossy codecs, subsampling, bit depth). */
  tolerance: number;
  /** The picture is grey: compare with the colour's BT.601 luma. */
  grey?: boolean;
  /** Arguments before the output, to add streams (after the frames' input, which is input 0). */
  extraInputs?: string[];
}

const CASES: Case[] = [
  { name: 'H.264 4:4:4 in mp4', file: 'x264-444.mp4', encode: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '10', '-pix_fmt', 'yuv444p', '-bf', '2'], tolerance: 4 },
  { name: 'H.264 4:2:2 10-bit in mkv', file: 'x264-422-10.mkv', encode: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '10', '-pix_fmt', 'yuv422p10le'], tolerance: 4 },
  { name: 'H.264 grey in mkv', file: 'x264-gray.mkv', encode: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '10', '-pix_fmt', 'gray'], tolerance: 4, grey: true },
  { name: 'HEVC 4:2:0 10-bit in mp4', file: 'x265-10.mp4', encode: ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-crf', '12', '-pix_fmt', 'yuv420p10le', '-tag:v', 'hvc1'], tolerance: 6 },
  { name: 'AV1 in webm', file: 'av1.webm', encode: ['-c:v', 'libsvtav1', '-preset', '12', '-crf', '20', '-pix_fmt', 'yuv420p', '-svtav1-params', 'enable-stat-report=0'], tolerance: 8 },
  { name: 'VP9 with alpha in webm', file: 'vp9-alpha.webm', encode: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-crf', '10', '-b:v', '0', '-pix_fmt', 'yuva420p'], tolerance: 6 },
  { name: 'ProRes 422 HQ in mov', file: 'prores.mov', encode: ['-c:v', 'prores_ks', '-profile:v', '3', '-pix_fmt', 'yuv422p10le'], tolerance: 4 },
  { name: 'MJPEG full range in avi', file: 'mjpeg.avi', encode: ['-c:v', 'mjpeg', '-q:v', '2', '-pix_fmt', 'yuvj422p'], tolerance: 6 },
  { name: 'MPEG-4 part 2 with B-frames in avi', file: 'mpeg4-bf.avi', encode: ['-c:v', 'mpeg4', '-q:v', '2', '-bf', '2'], tolerance: 8 },
  { name: 'MPEG-2 in MPEG-TS (timestamps from 10 s on)', file: 'mpeg2.ts', encode: ['-c:v', 'mpeg2video', '-q:v', '2', '-output_ts_offset', '10'], tolerance: 8 },
  { name: 'FFV1 RGB at an odd size in mkv', file: 'ffv1-rgb.mkv', width: 97, height: 61, encode: ['-c:v', 'ffv1', '-pix_fmt', 'bgr0'], tolerance: 0.01 },
  { name: 'GIF (palette)', file: 'palette.gif', encode: ['-c:v', 'gif'], tolerance: 10 },
  { name: 'H.264 at 29.97 fps in mp4', file: 'ntsc.mp4', rate: '30000/1001', encode: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '10', '-pix_fmt', 'yuv420p'], tolerance: 5 },
  {
    name: 'two video streams in mkv (the first is used)',
    file: 'two-streams.mkv',
    extraInputs: ['-f', 'lavfi', '-i', 'testsrc2=size=48x32:rate=5', '-map', '0:v', '-map', '1:v', '-frames:v:1', '4'],
    encode: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '10', '-pix_fmt', 'yuv444p'],
    tolerance: 4,
  },
];

/** Encodes the flat-colour frames with a case's settings. */
async function encode(c: Case): Promise<string> {
  const { width = 96, height = 64, rate = '10' } = c;
  const file = path.join(dir, c.file);
  const input = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', rate, '-i', 'pipe:0'];
  await runFfmpeg(['-nostdin', '-v', 'error', '-y', ...input, ...(c.extraInputs ?? []), ...c.encode, file], async (stdin) => {
    for (const [r, g, b] of COLORS) {
      const frame = Buffer.alloc(width * height * 3);
      for (let p = 0; p < frame.length; p += 3) frame.set([r, g, b], p);
      await new Promise<void>((resolve, reject) => stdin.write(frame, (error) => (error ? reject(error) : resolve())));
    }
  });
  return file;
}

function meanColor(data: Uint8Array): Rgb {
  const sums = [0, 0, 0];
  for (let p = 0; p < data.length; p += 3) for (let c = 0; c < 3; c++) sums[c] += data[p + c];
  return sums.map((s) => s / (data.length / 3)) as Rgb;
}

function expectedColor(c: Case, index: number): Rgb {
  const [r, g, b] = COLORS[index];
  if (!c.grey) return [r, g, b];
  const luma = 0.299 * r + 0.587 * g + 0.114 * b;
  return [luma, luma, luma];
}

function expectFrameColor(c: Case, data: Uint8Array, index: number): void {
  const got = meanColor(data);
  const want = expectedColor(c, index);
  const off = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
  expect(off, `frame ${index}: mean ${got.map((v) => v.toFixed(1))} against ${want.map((v) => v.toFixed(1))}`).toBeLessThanOrEqual(c.tolerance);
}

it.each(CASES)('$name: every frame, in order, with its colour and timestamp', async (c) => {
  const file = await encode(c);
  const { width = 96, height = 64, rate = '10' } = c;
  const [num, den = '1'] = rate.split('/');
  const fps = Number(num) / Number(den);
  // Decoding, as the track job probes.
  const meta = await probeVideo(file, { decode: true });
  expect(meta).toMatchObject({ width, height, frames: FRAMES, rotation: 0 });
  expect(meta.warnings).toBeUndefined();
  const start = meta.timestamps[0];
  expect(meta.timestamps.map((t) => t - start)).toEqual(Array.from({ length: FRAMES }, (_, i) => expect.closeTo(i / fps, 2)));
  // Seeks are by absolute timestamps (decodePlan): a stream that starts late must still cut at the right frame.
  if (c.file === 'mpeg2.ts') expect(start).toBeGreaterThanOrEqual(10);
  if (c.rate) expect(meta.fps).toBe(fps);

  let count = 0;
  for await (const frame of readFrames(file, meta)) {
    expect(frame.index).toBe(count);
    expect(frame.data.length).toBe(width * height * 3);
    expectFrameColor(c, frame.data, count++);
  }
  expect(count).toBe(FRAMES);
  // From the middle, as a chunk of the embed helpers seeks: the same frames at the same indices.
  const from = FRAMES / 2 + 1;
  let index = from;
  for await (const frame of readFrames(file, meta, { start: from })) {
    expect(frame.index).toBe(index);
    expectFrameColor(c, frame.data, index++);
  }
  expect(index).toBe(FRAMES);
});
