import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, meanAbsoluteDifference } from '../helpers/frames.js';
import { davisPalette, encodeIndexedPng, isEvenlySpaced, VideoWriter, videoWriterOptionsFor, writeIndexedPng } from '../../src/media/encode.js';
import { readFrames } from '../../src/media/frames.js';
import { probeVideo } from '../../src/media/probe.js';
import { audioPacketSizes, inspectVideo, makeMovingShapeClip, makeVfrClip, runFfmpeg } from '../helpers/synthetic.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'clipmask-encode-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh empty directory, so a test can check nothing was left behind. */
async function emptyDir(name: string): Promise<string> {
  const target = path.join(dir, name);
  await mkdir(target, { recursive: true });
  return target;
}

describe('VideoWriter', () => {
  it('re-encodes a clip with the same frame count, rate, audio and picture', async () => {
    const source = await makeMovingShapeClip(dir, { width: 96, height: 64, frames: 12, fps: 12, audio: true, name: 'source.mp4' });
    const meta = await probeVideo(source.path);
    const out = path.join(await emptyDir('reencode'), 'overlay.mp4');
    const writer = await VideoWriter.open(videoWriterOptionsFor(meta, out, source.path));
    for await (const frame of readFrames(source.path, meta)) await writer.write(frame.data);
    await writer.finish();

    expect(await readdir(path.dirname(out))).toEqual(['overlay.mp4']);
    const written = await inspectVideo(out);
    expect(written).toMatchObject({ width: 96, height: 64, frames: 12, videoCodec: 'h264', pixFmt: 'yuv420p', audioCodec: 'aac' });
    const outMeta = await probeVideo(out);
    expect(outMeta.fps).toBeCloseTo(12, 6);
    expect(outMeta.hasAudio).toBe(true);
    // faststart: the index comes before the frame data, so browsers can start playing at once.
    const bytes = await readFile(out);
    expect(bytes.indexOf('moov')).toBeLessThan(bytes.indexOf('mdat'));
    const decoded = await collect(readFrames(out, outMeta));
    expect(meanAbsoluteDifference(decoded[6].data, source.drawFrame(6))).toBeLessThan(8);
  });

  it('copies the audio stream as it is', async () => {
    const source = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 6, fps: 12, audio: true, name: 'audio-source.mp4' });
    const meta = await probeVideo(source.path);
    const out = path.join(await emptyDir('audio'), 'out.mp4');
    const writer = await VideoWriter.open(videoWriterOptionsFor(meta, out, source.path));
    for (let i = 0; i < meta.frames; i++) await writer.write(source.drawFrame(i));
    await writer.finish();
    // Same packet sizes in the same order: the bits were copied, not re-encoded.
    const copied = await audioPacketSizes(out);
    expect(copied.length).toBeGreaterThan(10);
    expect(copied).toEqual(await audioPacketSizes(source.path));
  });

  it('re-encodes audio to AAC when mp4 cannot hold the source codec', async () => {
    const video = await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 6, fps: 12, name: 'pcm-video.mp4' });
    const source = path.join(dir, 'pcm.mkv');
    await runFfmpeg([
      '-nostdin', '-v', 'error', '-y', '-i', video.path, '-f', 'lavfi', '-i', 'sine=duration=0.5',
      '-map', '0:v', '-map', '1:a', '-c:v', 'copy', '-c:a', 'pcm_s16le', source,
    ]);
    const meta = await probeVideo(source);
    expect(meta.hasAudio).toBe(true);
    const out = path.join(await emptyDir('pcm'), 'out.mp4');
    const writer = await VideoWriter.open(videoWriterOptionsFor(meta, out, source));
    for (let i = 0; i < meta.frames; i++) await writer.write(video.drawFrame(i));
    await writer.finish();
    expect(await inspectVideo(out)).toMatchObject({ frames: 6, audioCodec: 'aac' });
  });

  it('pads an odd size by one pixel, as yuv420p needs', async () => {
    const out = path.join(await emptyDir('odd'), 'odd.mp4');
    const writer = await VideoWriter.open({ path: out, width: 33, height: 21, fps: 10 });
    const frame = new Uint8Array(33 * 21 * 3).fill(200);
    for (let i = 0; i < 5; i++) await writer.write(frame);
    await writer.finish();
    expect(await inspectVideo(out)).toMatchObject({ width: 34, height: 22, frames: 5, pixFmt: 'yuv420p' });
  });

  it('keeps the timestamps of a variable frame rate source', async () => {
    const source = await makeVfrClip(dir, 'vfr-source.mp4');
    const meta = await probeVideo(source.path);
    expect(isEvenlySpaced(meta.timestamps)).toBe(false);
    const out = path.join(await emptyDir('vfr'), 'vfr.mp4');
    const writer = await VideoWriter.open(videoWriterOptionsFor(meta, out, source.path));
    for await (const frame of readFrames(source.path, meta)) await writer.write(frame.data);
    await writer.finish();
    const written = await inspectVideo(out);
    expect(written.frames).toBe(12);
    written.pts.forEach((t, i) => expect(Math.abs(t - source.timestamps[i])).toBeLessThan(0.001));
    expect(await readdir(path.dirname(out))).toEqual(['vfr.mp4']); // the filter script is gone too
  });

  it('writes a constant rate when timestamps are evenly spaced up to rounding', async () => {
    // 30000/1001 fps rounded to milliseconds, as in mp4s with a 1/1000 time base.
    const timestamps = Array.from({ length: 8 }, (_, i) => Math.round((i * 1001) / 30) / 1000);
    expect(isEvenlySpaced(timestamps)).toBe(true);
    const out = path.join(await emptyDir('ntsc'), 'ntsc.mp4');
    const writer = await VideoWriter.open({ path: out, width: 16, height: 16, fps: 30000 / 1001, timestamps });
    for (let i = 0; i < 8; i++) await writer.write(new Uint8Array(16 * 16 * 3).fill(i * 30));
    await writer.finish();
    const written = await inspectVideo(out);
    written.pts.forEach((t, i) => expect(t).toBeCloseTo((i * 1001) / 30000, 4));
  });

  it('removes the partial file on abort', async () => {
    const target = await emptyDir('abort');
    const writer = await VideoWriter.open({ path: path.join(target, 'never.mp4'), width: 32, height: 32, fps: 10 });
    await writer.write(new Uint8Array(32 * 32 * 3));
    await writer.write(new Uint8Array(32 * 32 * 3));
    const hasPartial = async () => (await readdir(target)).some((name) => name.includes('partial'));
    // ffmpeg creates its output shortly after starting; wait for it so abort has something to remove.
    for (let tries = 0; tries < 60 && !(await hasPartial()); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await hasPartial()).toBe(true);
    await writer.abort();
    expect(await readdir(target)).toEqual([]);
    await expect(writer.write(new Uint8Array(32 * 32 * 3))).rejects.toThrow(/aborted/);
  });

  it('aborts when the signal fires', async () => {
    const target = await emptyDir('abort-signal');
    const controller = new AbortController();
    const writer = await VideoWriter.open({ path: path.join(target, 'never.mp4'), width: 32, height: 32, fps: 10, signal: controller.signal });
    await writer.write(new Uint8Array(32 * 32 * 3));
    controller.abort();
    await expect(writer.finish()).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await readdir(target)).toEqual([]);
  });

  it('fails cleanly with no frames or a wrong-sized frame, leaving nothing behind', async () => {
    const target = await emptyDir('failures');
    const empty = await VideoWriter.open({ path: path.join(target, 'empty.mp4'), width: 32, height: 32, fps: 10 });
    await expect(empty.finish()).rejects.toMatchObject({ code: 'ffmpeg_failed' });
    const wrong = await VideoWriter.open({ path: path.join(target, 'wrong.mp4'), width: 32, height: 32, fps: 10 });
    await expect(wrong.write(new Uint8Array(10))).rejects.toThrow(RangeError);
    await wrong.abort();
    expect(await readdir(target)).toEqual([]);
  });
});

describe('indexed PNG', () => {
  it('uses the DAVIS palette', () => {
    const palette = davisPalette();
    expect(palette).toHaveLength(256);
    expect(palette.slice(0, 8)).toEqual([
      [0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128], [128, 128, 128],
    ]);
    expect(palette[8]).toEqual([64, 0, 0]);
    expect(palette[255]).toEqual([224, 224, 192]);
  });

  it('writes exact indices that read back as palette colours', async () => {
    const width = 7;
    const height = 5;
    const ids = new Uint8Array(width * height);
    ids.forEach((_, i) => (ids[i] = i % 6)); // ids 0..5, every row different
    const file = path.join(dir, 'mask.png');
    await writeIndexedPng(file, ids, width, height);

    const bytes = await readFile(file);
    expect(bytes.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect(bytes[24]).toBe(8); // bit depth
    expect(bytes[25]).toBe(3); // colour type: palette
    expect((await sharp(file).metadata()).isPalette).toBe(true);

    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([width, height, 3]);
    const palette = davisPalette();
    for (let i = 0; i < ids.length; i++) {
      expect([data[i * 3], data[i * 3 + 1], data[i * 3 + 2]]).toEqual(palette[ids[i]]);
    }
  });

  it('refuses indices outside the palette and a wrong length', () => {
    expect(() => encodeIndexedPng(2, 2, new Uint8Array([0, 1, 2, 3]), davisPalette(3))).toThrow(/outside/);
    expect(() => encodeIndexedPng(2, 2, new Uint8Array(3), davisPalette())).toThrow(RangeError);
  });
});
