import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, meanAbsoluteDifference } from '../helpers/frames.js';
import type { RgbFrame, VideoMeta } from '../../src/types.js';
import { isMediaError } from '../../src/media/errors.js';
import { readFrames } from '../../src/media/frames.js';
import { probeFrameDir, probeVideo } from '../../src/media/probe.js';
import {
  makeFrameDir,
  makeMovingShapeClip,
  makeOddSizeClip,
  makeRotatedClip,
  makeVfrClip,
  rotateRgbClockwise,
  runFfmpeg,
  type SyntheticClip,
} from '../helpers/synthetic.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'clipmask-frames-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Process ids of running ffmpeg processes whose command line mentions `needle`. */
async function ffmpegProcessesMentioning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      const status = await readFile(`/proc/${entry}/status`, 'utf8');
      const zombie = /^State:\s+Z/m.test(status);
      if (!zombie && path.basename(cmdline[0]) === 'ffmpeg' && cmdline.some((arg) => arg.includes(needle))) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

describe('readFrames on videos', () => {
  let clip: SyntheticClip;
  let meta: VideoMeta;
  let full: RgbFrame[];

  beforeAll(async () => {
    // Keyframes every 8 frames and x264's B-frames: seeks land mid-clip and must reorder.
    clip = await makeMovingShapeClip(dir, { width: 96, height: 64, frames: 30, fps: 15, keyframeInterval: 8, name: 'seek.mp4' });
    meta = await probeVideo(clip.path);
    full = await collect(readFrames(clip.path, meta));
  });

  it('decodes every frame, in order, at the displayed size', () => {
    expect(full).toHaveLength(30);
    full.forEach((frame, i) => {
      expect(frame).toMatchObject({ index: i, width: 96, height: 64 });
      expect(frame.data).toHaveLength(96 * 64 * 3);
    });
    // Each decoded frame looks like the frame drawn at that index and not like its neighbours.
    for (const i of [0, 10, 29]) {
      const own = meanAbsoluteDifference(full[i].data, clip.drawFrame(i));
      expect(own).toBeLessThan(6);
      const other = meanAbsoluteDifference(full[i].data, clip.drawFrame(i === 0 ? 15 : i - 10));
      expect(other).toBeGreaterThan(own * 2);
    }
  });

  it.each([
    [0, 5],
    [7, 8],
    [8, 16],
    [13, 30],
    [29, 30],
  ])('frames [%i, %i) equal the same frames of a full decode', async (start, end) => {
    const part = await collect(readFrames(clip.path, meta, { start, end }));
    expect(part.map((f) => f.index)).toEqual(full.slice(start, end).map((f) => f.index));
    part.forEach((frame, k) => expect(Buffer.from(frame.data).equals(Buffer.from(full[start + k].data))).toBe(true));
  });

  it('counts frames from the start when two frames share a timestamp, and still gets the range right', async () => {
    // With frames 8 and 9 at the same time no seek point separates them.
    const tied = { ...meta, timestamps: meta.timestamps.map((t, i) => (i === 9 ? meta.timestamps[8] : t)) };
    const part = await collect(readFrames(clip.path, tied, { start: 9, end: 12 }));
    expect(part.map((f) => f.index)).toEqual([9, 10, 11]);
    part.forEach((frame, k) => expect(Buffer.from(frame.data).equals(Buffer.from(full[9 + k].data))).toBe(true));
  });

  it('yields nothing for an empty range and refuses one outside the video', async () => {
    expect(await collect(readFrames(clip.path, meta, { start: 4, end: 4 }))).toEqual([]);
    await expect(collect(readFrames(clip.path, meta, { start: 20, end: 31 }))).rejects.toThrow(RangeError);
  });

  it('decodes an odd-sized video exactly', async () => {
    const odd = await makeOddSizeClip(dir, { width: 321, height: 241, frames: 4 });
    const oddMeta = await probeVideo(odd.path);
    const frames = await collect(readFrames(odd.path, oddMeta));
    expect(frames).toHaveLength(4);
    frames.forEach((frame, i) => {
      expect([frame.width, frame.height]).toEqual([321, 241]);
      expect(Buffer.from(frame.data).equals(Buffer.from(odd.drawFrame(i)))).toBe(true);
    });
  });

  it.each([90, 180, 270] as const)('turns a %i degree rotated video upright', async (rotation) => {
    const rotated = await makeRotatedClip(dir, rotation, { width: 64, height: 48, frames: 2 });
    const rotatedMeta = await probeVideo(rotated.path);
    const frames = await collect(readFrames(rotated.path, rotatedMeta));
    const [expected, width, height] = rotateRgbClockwise(rotated.storedFrame, 64, 48, rotation);
    expect(frames).toHaveLength(2);
    expect([frames[0].width, frames[0].height]).toEqual([width, height]);
    expect(Buffer.from(frames[0].data).equals(Buffer.from(expected))).toBe(true);
  });

  it('keeps every frame of a variable frame rate video, also from the middle', async () => {
    const vfr = await makeVfrClip(dir);
    const vfrMeta = await probeVideo(vfr.path);
    const all = await collect(readFrames(vfr.path, vfrMeta));
    expect(all).toHaveLength(12);
    for (const [start, end] of [[5, 9], [6, 12], [1, 2]]) {
      const part = await collect(readFrames(vfr.path, vfrMeta, { start, end }));
      expect(part).toHaveLength(end - start);
      part.forEach((frame, k) => expect(Buffer.from(frame.data).equals(Buffer.from(all[start + k].data))).toBe(true));
    }
  });

  it('stops ffmpeg when the consumer stops early', async () => {
    const frames = readFrames(clip.path, meta);
    const first = await frames.next();
    expect(first.done).toBe(false);
    expect(await ffmpegProcessesMentioning(clip.path)).not.toHaveLength(0);
    await frames.return(undefined);
    expect(await eventually(async () => (await ffmpegProcessesMentioning(clip.path)).length === 0)).toBe(true);
  });

  it('lets ffmpeg wait while the consumer is slow instead of buffering the video', async () => {
    // 320x240 rgb24 is 230 kB a frame; 24 frames (5.5 MB) do not fit in the pipe and stream buffers.
    const big = await makeMovingShapeClip(dir, { width: 320, height: 240, frames: 24, name: 'slow.mp4' });
    const bigMeta = await probeVideo(big.path);
    const frames = readFrames(big.path, bigMeta);
    await frames.next();
    await new Promise((resolve) => setTimeout(resolve, 700));
    // Had we drained stdout into memory, ffmpeg would have finished by now.
    expect(await ffmpegProcessesMentioning(big.path)).not.toHaveLength(0);
    const rest = await collect({ [Symbol.asyncIterator]: () => frames });
    expect(rest).toHaveLength(23);
  });

  it('kills ffmpeg and throws "aborted" when the signal fires', async () => {
    const controller = new AbortController();
    const frames = readFrames(clip.path, meta, { signal: controller.signal });
    await frames.next();
    controller.abort();
    const error = await collect({ [Symbol.asyncIterator]: () => frames }).catch((e: unknown) => e);
    expect(isMediaError(error) && error.code).toBe('aborted');
    expect(await eventually(async () => (await ffmpegProcessesMentioning(clip.path)).length === 0)).toBe(true);
  });

  it('gives up on a decoder that produces nothing for too long', async () => {
    // No decode delivers its first bytes within 1 ms of spawning.
    const error = await collect(readFrames(clip.path, meta, { stallTimeoutMs: 1 })).catch((e: unknown) => e);
    expect(isMediaError(error) && error.code).toBe('timeout');
    expect(await eventually(async () => (await ffmpegProcessesMentioning(clip.path)).length === 0)).toBe(true);
  });

  it('reports a video that breaks off mid-stream as truncated, after the good frames', async () => {
    // Probe the whole file, then decode a copy whose second half is gone.
    const whole = path.join(dir, 'whole.mp4');
    await runFfmpeg(['-nostdin', '-v', 'error', '-y', '-i', clip.path, '-c', 'copy', '-movflags', '+faststart', whole]);
    const wholeMeta = await probeVideo(whole);
    const bytes = await readFile(whole);
    const cut = path.join(dir, 'cut.mp4');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const decoded: RgbFrame[] = [];
    const error = await (async () => {
      for await (const frame of readFrames(cut, wholeMeta)) decoded.push(frame);
    })().catch((e: unknown) => e);
    expect(isMediaError(error) && error.code).toBe('truncated');
    expect(isMediaError(error) && error.message).toMatch(/of 30 frames/);
    expect(decoded.length).toBeGreaterThan(0);
    expect(decoded.length).toBeLessThan(30);
  });
});

describe('readFrames on frame directories', () => {
  it('decodes the images in natural order, exactly, and by range', async () => {
    const fixture = await makeFrameDir(path.join(dir, 'frames'), { count: 11, width: 30, height: 20 });
    const meta = await probeFrameDir(fixture.dir);
    const frames = await collect(readFrames(fixture.dir, meta));
    expect(frames.map((f) => f.index)).toEqual([...Array(11).keys()]);
    frames.forEach((frame, i) => {
      expect([frame.width, frame.height]).toEqual([30, 20]);
      expect(Buffer.from(frame.data).equals(Buffer.from(fixture.frames[i]))).toBe(true);
    });
    const part = await collect(readFrames(fixture.dir, meta, { start: 8, end: 11 }));
    expect(part.map((f) => f.index)).toEqual([8, 9, 10]);
    expect(Buffer.from(part[1].data).equals(Buffer.from(fixture.frames[9]))).toBe(true);
  });

  it('reads a meta limited to the first frames (--max-frames), and refuses a folder that lost some', async () => {
    const fixture = await makeFrameDir(path.join(dir, 'frames-limited'), { count: 5, width: 30, height: 20 });
    const meta = await probeFrameDir(fixture.dir);
    const firstThree = { ...meta, frames: 3, frameNames: meta.frameNames.slice(0, 3), timestamps: meta.timestamps.slice(0, 3) };
    expect((await collect(readFrames(fixture.dir, firstThree))).map((f) => f.index)).toEqual([0, 1, 2]);
    await rm(path.join(fixture.dir, fixture.files[1]));
    await expect(collect(readFrames(fixture.dir, firstThree))).rejects.toThrow(/the frame folder changed after it was read/);
  });
});
