import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMediaError, MediaError, type MediaErrorCode } from '../../src/media/errors.js';
import { readFrames } from '../../src/media/frames.js';
import { probeFrameDir, probeInput, probeVideo } from '../../src/media/probe.js';
import {
  corruptPackets,
  makeAudioOnly,
  makeEmptyFile,
  makeFrameDir,
  makeMovingShapeClip,
  makeRotatedClip,
  makeStillImage,
  makeTextFile,
  makeTruncated,
  makeVfrClip,
  makeZeroFrameClip,
  type SyntheticClip,
} from '../helpers/synthetic.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'clipmask-probe-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function probeError(run: Promise<unknown>): Promise<MediaError> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isMediaError(error)) throw new Error(`expected a MediaError, got ${String(error)}`);
  return error;
}

describe('probeVideo', () => {
  it('reports size, rate, frame count, duration and every frame time of a drawn clip', async () => {
    const clip = await makeMovingShapeClip(dir, { width: 160, height: 120, frames: 15, fps: 12, name: 'plain.mp4' });
    const meta = await probeVideo(clip.path);
    expect(meta).toMatchObject({ width: 160, height: 120, frames: 15, rotation: 0, hasAudio: false, kind: 'video' });
    expect(meta.fps).toBeCloseTo(12, 6);
    expect(meta.duration).toBeCloseTo(15 / 12, 2);
    expect(meta.timestamps).toHaveLength(15);
    meta.timestamps.forEach((t, i) => expect(t).toBeCloseTo(i / 12, 3));
    expect(meta.frameNames).toHaveLength(15);
    expect(meta.frameNames.slice(0, 3)).toEqual(['00000', '00001', '00002']);
  });

  it('notices an audio track', async () => {
    const clip = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 6, fps: 12, audio: true, name: 'audio.mp4' });
    const meta = await probeVideo(clip.path);
    expect(meta.hasAudio).toBe(true);
    expect(meta.frames).toBe(6);
  });

  it.each([90, 180, 270] as const)('reports a %i degree rotation and the size as displayed', async (rotation) => {
    const clip = await makeRotatedClip(dir, rotation, { width: 64, height: 48 });
    const meta = await probeVideo(clip.path);
    expect(meta.rotation).toBe(rotation);
    const sideways = rotation !== 180;
    expect([meta.width, meta.height]).toEqual(sideways ? [48, 64] : [64, 48]);
  });

  it('keeps variable frame rate timestamps in display order', async () => {
    const clip = await makeVfrClip(dir);
    const meta = await probeVideo(clip.path);
    expect(meta.frames).toBe(clip.timestamps.length);
    meta.timestamps.forEach((t, i) => expect(Math.abs(t - clip.timestamps[i])).toBeLessThan(0.0015));
    // Average rate: 12 frames over 1.54 s (last frame lasts until 1.54).
    expect(meta.fps).toBeCloseTo(12 / meta.duration, 3);
    expect(meta.fps).toBeLessThan(9);
  });

  it('accepts a video of a single frame', async () => {
    const clip = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 1, name: 'one.mp4' });
    const meta = await probeVideo(clip.path);
    expect(meta.frames).toBe(1);
    expect(meta.timestamps).toEqual([0]);
  });

  it('kills ffprobe when it runs out of time, and when cancelled', async () => {
    const clip = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 4, name: 'slow-probe.mp4' });
    // Starting a process alone takes longer than 1 ms.
    expect((await probeError(probeVideo(clip.path, { timeoutMs: 1 }))).code).toBe('timeout');
    const controller = new AbortController();
    const probing = probeVideo(clip.path, { signal: controller.signal });
    controller.abort();
    expect((await probeError(probing)).code).toBe('aborted');
  });

  it('refuses a video over the limits', async () => {
    const clip = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 8, name: 'limits.mp4' });
    expect((await probeError(probeVideo(clip.path, { limits: { maxFrames: 5 } }))).code).toBe('too_large');
    expect((await probeError(probeVideo(clip.path, { limits: { maxSide: 32 } }))).code).toBe('too_large');
    await expect(probeVideo(clip.path, { limits: { maxFrames: 8, maxSide: 64 } })).resolves.toMatchObject({ frames: 8 });
  });
});

describe('probeVideo on a file cut short', () => {
  it('takes the frames that decode, with their times, and says how many are missing', async () => {
    // 20 frames at 10 fps with B-frames, cut in half: the index is whole, half the data is gone.
    const file = await makeTruncated(dir, { faststart: true });
    const meta = await probeVideo(file);
    expect(meta.frames).toBeGreaterThan(0);
    expect(meta.frames).toBeLessThan(20);
    expect(meta.timestamps).toEqual(Array.from({ length: meta.frames }, (_, i) => expect.closeTo(i / 10, 6)));
    expect(meta.duration).toBeCloseTo(meta.frames / 10, 6);
    expect(meta.warnings).toEqual([
      { code: 'cut_short', decodedFrames: meta.frames, declaredFrames: 20, message: expect.stringMatching(new RegExp(`^the video is cut short: ${meta.frames} of its 20 frames can be decoded`)) },
    ]);
    // Every frame it counts decodes.
    let decoded = 0;
    for await (const frame of readFrames(file, meta)) decoded += frame.index === decoded ? 1 : 0;
    expect(decoded).toBe(meta.frames);
  });

  it('has no warnings for a whole file', async () => {
    const clip = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 4, name: 'whole.mp4' });
    expect((await probeVideo(clip.path)).warnings).toBeUndefined();
  });
});

describe('probeVideo with decode, on a file with a corrupt packet in the middle', () => {
  let clip: SyntheticClip;
  beforeAll(async () => {
    // 20 frames at 10 fps, one GOP with B-frames: packet 5 (file order) is a P-frame shown at 0.5 s.
    clip = await makeMovingShapeClip(dir, { width: 96, height: 64, frames: 20, fps: 10, name: 'to-corrupt.mp4' });
  });

  it('takes the frames that decode, says which are missing, and every reader of its frames agrees', async () => {
    const corrupt = await corruptPackets(clip.path, [5]);
    // The packet list cannot tell: every packet is there.
    expect((await probeVideo(corrupt.path)).frames).toBe(20);
    const meta = await probeVideo(corrupt.path, { decode: true });
    expect(meta.frames).toBe(19);
    const expected = Array.from({ length: 20 }, (_, i) => i / 10).filter((t) => Math.abs(t - corrupt.times[0]) > 1e-6);
    expect(meta.timestamps).toEqual(expected.map((t) => expect.closeTo(t, 6)));
    // Missing in the middle: the video lasts as long as before.
    expect(meta.duration).toBeCloseTo(2, 6);
    expect(meta.warnings).toEqual([
      {
        code: 'frames_missing',
        decodedFrames: 19,
        declaredFrames: 20,
        missingTimes: corrupt.times,
        message: `1 of the video's 20 frames do not decode (at ${corrupt.times[0].toFixed(2)} s); they are left out and the 19 others are processed`,
      },
    ]);
    // The whole decode yields exactly those frames, and a read from a later frame (as an embed helper's
    // chunk seeks) yields the same pixels for the same indices.
    const all: Buffer[] = [];
    for await (const frame of readFrames(corrupt.path, meta)) all.push(Buffer.from(frame.data));
    expect(all).toHaveLength(19);
    for (const start of [4, 5, 9]) {
      for await (const frame of readFrames(corrupt.path, meta, { start, end: start + 3 })) expect(Buffer.from(frame.data).equals(all[frame.index])).toBe(true);
    }
  });

  it('changes nothing for a whole file, and refuses one of which no frame decodes', async () => {
    expect(await probeVideo(clip.path, { decode: true })).toEqual(await probeVideo(clip.path));
    const hopeless = await corruptPackets(clip.path, Array.from({ length: 20 }, (_, i) => i), 'hopeless.mp4');
    const error = await probeError(probeVideo(hopeless.path, { decode: true }));
    expect(error.code).toBe('undecodable');
    expect(error.message).toMatch(/none of the video's frames can be decoded/);
  });
});

describe('probeVideo on files that are not usable videos', () => {
  const cases: Array<[string, () => Promise<string>, MediaErrorCode, RegExp]> = [
    ['a text file named .mp4', () => makeTextFile(dir), 'not_a_video', /not a video/],
    ['an empty file', () => makeEmptyFile(dir), 'not_a_video', /empty/],
    ['an mp4 cut in half (index lost)', () => makeTruncated(dir), 'truncated', /cut short/],
    ['an audio-only file', () => makeAudioOnly(dir), 'no_video_stream', /audio but no video/],
    ['a png', () => makeStillImage(dir, 'png'), 'not_a_video', /still image/],
    ['a jpg', () => makeStillImage(dir, 'jpg'), 'not_a_video', /still image/],
    ['a video stream without frames', () => makeZeroFrameClip(dir), 'zero_frames', /no frames/],
    ['a missing file', async () => path.join(dir, 'does-not-exist.mp4'), 'not_found', /does not exist/],
  ];

  it.each(cases)('%s', async (_label, make, code, message) => {
    const file = await make();
    const error = await probeError(probeVideo(file));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    // One plain line for users: no paths, no ffmpeg command line, no stack.
    expect(error.message).not.toMatch(/\n|ffprobe|ffmpeg|\/tmp|clipmask-probe/);
  });

  it('will not follow a playlist to other local files', async () => {
    const clip = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 4, name: 'target.mp4' });
    const playlist = path.join(dir, 'list.m3u8');
    await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n${clip.path}\n#EXT-X-ENDLIST\n`);
    const error = await probeError(probeVideo(playlist));
    expect(error.code).toBe('not_a_video');
    expect(error.message).toMatch(/format/);
  });
});

describe('probeFrameDir', () => {
  it('sorts frames naturally and reports their size, names and a 25 fps default', async () => {
    const frames = await makeFrameDir(path.join(dir, 'frames-ok'), { count: 12, width: 40, height: 30 });
    const meta = await probeFrameDir(frames.dir);
    expect(meta).toMatchObject({ width: 40, height: 30, frames: 12, fps: 25, rotation: 0, hasAudio: false, kind: 'frames' });
    expect(meta.frameNames).toEqual(Array.from({ length: 12 }, (_, i) => `frame_${i + 1}`));
    expect(meta.duration).toBeCloseTo(12 / 25, 6);
    expect(meta.timestamps[3]).toBeCloseTo(3 / 25, 6);
    expect((await probeFrameDir(frames.dir, { fps: 10 })).timestamps[3]).toBeCloseTo(0.3, 6);
  });

  it('ignores other files and reads jpg too', async () => {
    const target = path.join(dir, 'frames-mixed');
    await makeFrameDir(target, { count: 3, width: 16, height: 16, name: (i) => `${i}.png` });
    await sharp({ create: { width: 16, height: 16, channels: 3, background: 'red' } }).jpeg().toFile(path.join(target, '3.JPG'));
    await writeFile(path.join(target, 'notes.txt'), 'not a frame');
    await writeFile(path.join(target, '.hidden.png'), 'not a frame either');
    const meta = await probeFrameDir(target);
    expect(meta.frameNames).toEqual(['0', '1', '2', '3']);
  });

  it('refuses frames of different sizes, naming the odd one', async () => {
    const frames = await makeFrameDir(path.join(dir, 'frames-sizes'), { count: 3, width: 20, height: 10 });
    await sharp({ create: { width: 21, height: 10, channels: 3, background: 'blue' } }).png().toFile(path.join(frames.dir, 'frame_4.png'));
    const error = await probeError(probeFrameDir(frames.dir));
    expect(error.code).toBe('frame_size_mismatch');
    expect(error.message).toMatch(/frame_4\.png.*21x10/);
  });

  it('refuses an empty folder, an unreadable image and clashing names', async () => {
    const empty = path.join(dir, 'frames-empty');
    await mkdir(empty);
    expect((await probeError(probeFrameDir(empty))).code).toBe('zero_frames');

    const broken = await makeFrameDir(path.join(dir, 'frames-broken'), { count: 2, width: 8, height: 8 });
    await writeFile(path.join(broken.dir, 'frame_3.png'), 'not a png');
    expect((await probeError(probeFrameDir(broken.dir))).code).toBe('bad_image');

    const clash = await makeFrameDir(path.join(dir, 'frames-clash'), { count: 2, width: 8, height: 8 });
    await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).jpeg().toFile(path.join(clash.dir, 'frame_1.jpg'));
    expect((await probeError(probeFrameDir(clash.dir))).code).toBe('duplicate_frame_name');
  });
});

describe('probeInput', () => {
  it('treats a directory as frames and a file as a video', async () => {
    const frames = await makeFrameDir(path.join(dir, 'frames-dispatch'), { count: 2, width: 8, height: 8 });
    const clip = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 3, name: 'dispatch.mp4' });
    expect((await probeInput(frames.dir)).kind).toBe('frames');
    expect((await probeInput(clip.path)).kind).toBe('video');
    expect((await probeError(probeInput(path.join(dir, 'nothing-here')))).code).toBe('not_found');
  });
});
