/**
 * The service end to end: API + BullMQ worker + inference child (real model,
 * real ffmpeg, real Redis). One click -> overlay.mp4 (with Range), masks.json,
 * instances.json, masks.zip; cancelling a running and a queued job; deleting a finished one.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobPaths } from '../../src/jobs/layout.js';
import { QUEUES } from '../../src/jobs/payloads.js';
import { maskIoU } from '../../src/segment/postprocess.js';
import { decodeRle } from '../../src/segment/rle.js';
import type { CocoRle } from '../../src/types.js';
import { corruptPackets, inspectVideo, makeMovingShapeClip, makeTruncated, type SyntheticClip } from '../helpers/synthetic.js';
import { eventually, filesUnder, getJson, onePointPrompts, pollJob, startTestService, submission, type TestService, untilReady } from '../helpers/service.js';

let t: TestService;
let dir: string;
let clip: SyntheticClip;
let longClip: SyntheticClip;
let queue: Queue;
let redis: Redis;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-jobs-'));
  [t, clip, longClip] = await Promise.all([
    startTestService('all', { SHUTDOWN_GRACE_S: '1' }),
    makeMovingShapeClip(dir, { width: 160, height: 120, frames: 8, fps: 8 }),
    makeMovingShapeClip(dir, { width: 160, height: 120, frames: 24, fps: 8, name: 'long.mp4' }),
  ]);
  queue = new Queue(QUEUES.track, { connection: { url: t.redis.url } });
  redis = new Redis(t.redis.url);
  // The API answers at once; the worker is ready once its model has loaded.
  const ready = await untilReady(t.baseUrl);
  expect(ready).toBe(true);
});

afterAll(async () => {
  await queue?.close();
  await redis?.quit();
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function submit(video: string, prompts: unknown): Promise<string> {
  const response = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(video, prompts) });
  const body = await response.json();
  expect(response.status, JSON.stringify(body)).toBe(202);
  expect(response.headers.get('location')).toBe(body.statusUrl);
  return body.id;
}

/** The names in a zip's central directory (no unzip binary needed). */
function zipEntries(zip: Buffer): { name: string; offset: number; size: number; method: number }[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(eocd).toBeGreaterThan(0);
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(at)).toBe(0x02014b50);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    entries.push({
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
      method: zip.readUInt16LE(at + 10),
      size: zip.readUInt32LE(at + 20),
      offset: zip.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The bytes of a stored (uncompressed) entry; sizes come from the central directory (yazl streams entries). */
function storedEntry(zip: Buffer, entry: { offset: number; size: number; method: number }): Buffer {
  expect(zip.readUInt32LE(entry.offset)).toBe(0x04034b50);
  expect(entry.method).toBe(0); // stored: PNGs are compressed already
  const start = entry.offset + 30 + zip.readUInt16LE(entry.offset + 26) + zip.readUInt16LE(entry.offset + 28);
  return zip.subarray(start, start + entry.size);
}

describe('the tracking service', () => {
  it('cancels a queued job at once and a running one within seconds, deleting their files', async () => {
    const running = await submit(longClip.path, onePointPrompts(...longClip.center(0)));
    const waiting = await submit(clip.path, onePointPrompts(...clip.center(0)));

    const started = await pollJob(t.baseUrl, running, (job) => job.state === 'running' && job.progress.framesDone >= 1, 60_000);
    expect(started).toMatchObject({ state: 'running', stage: 'tracking', progress: { framesTotal: 24 } });
    expect(started.progress.etaSeconds).toBeGreaterThan(0);
    expect((await getJson(`${t.baseUrl}/v1/jobs/${waiting}`)).body.state).toBe('queued');

    // While running, the record is written at least once a second (frames take longer than that).
    const updatedAt = async () => Number(await redis.hget(`clipmask:job:${running}`, 'updatedAt'));
    const beats = [await updatedAt()];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1100));
      beats.push(await updatedAt());
    }
    for (let i = 1; i < beats.length; i++) expect(beats[i]).toBeGreaterThan(beats[i - 1]);

    // The queued one: cancelled and gone before DELETE answers.
    const cancelWaiting = await fetch(`${t.baseUrl}/v1/jobs/${waiting}`, { method: 'DELETE' });
    expect(cancelWaiting.status).toBe(200);
    expect((await cancelWaiting.json()).state).toBe('cancelled');
    await expect(stat(jobPaths(t.dataDir, waiting).dir)).rejects.toThrow();
    expect(await queue.getJobState(waiting)).toBe('unknown');

    // The running one: the worker stops (inference and ffmpeg) and deletes its files.
    const cancelledAt = Date.now();
    const cancelRunning = await fetch(`${t.baseUrl}/v1/jobs/${running}`, { method: 'DELETE' });
    expect(cancelRunning.status).toBe(200);
    expect(await cancelRunning.json()).toMatchObject({ state: 'cancelled', error: { code: 'cancelled' } });
    const stopped = await eventually(async () => (await queue.getJobState(running)) === 'failed', 15_000);
    const stopSeconds = (Date.now() - cancelledAt) / 1000;
    expect(stopped).toBe(true);
    expect(stopSeconds).toBeLessThan(10);
    expect((await queue.getJob(running))?.failedReason).toBe('cancelled');
    expect((await queue.getJob(running))?.attemptsMade).toBe(1); // not retried
    expect(await filesUnder(t.dataDir)).toEqual([]);
    const after = (await getJson(`${t.baseUrl}/v1/jobs/${running}`)).body;
    expect(after).toMatchObject({ state: 'cancelled', error: { code: 'cancelled', message: 'the job was cancelled' } });
    expect(after.finishedAt).not.toBeNull();
  });

  it('tracks one click through a clip and serves the overlay (with Range), masks.json, instances.json and masks.zip', async () => {
    const id = await submit(clip.path, onePointPrompts(...clip.center(0)));
    const seen = new Set<string>();
    const job = await pollJob(t.baseUrl, id, (j) => {
      seen.add(`${j.state}/${j.stage}`);
      return ['succeeded', 'failed', 'cancelled'].includes(j.state);
    });
    expect(job.error).toBeUndefined();
    expect(job).toMatchObject({
      id,
      state: 'succeeded',
      stage: 'done',
      progress: { percent: 100, framesDone: 8, framesTotal: 8, etaSeconds: 0 },
      video: { width: 160, height: 120, fps: 8, frames: 8, duration: 1 },
      objects: 1,
      attempts: 1,
      artifacts: {
        overlay: `/v1/jobs/${id}/artifacts/overlay.mp4`,
        masks: `/v1/jobs/${id}/artifacts/masks.json`,
        pngZip: `/v1/jobs/${id}/artifacts/masks.zip`,
        instances: `/v1/jobs/${id}/artifacts/instances.json`,
      },
    });
    expect(seen).toContain('running/tracking');
    expect(Date.parse(job.createdAt)).toBeLessThanOrEqual(Date.parse(job.startedAt));
    expect(Date.parse(job.startedAt)).toBeLessThanOrEqual(Date.parse(job.finishedAt));

    // overlay.mp4: every frame, and byte ranges for a <video> element.
    const overlayResponse = await fetch(t.baseUrl + job.artifacts.overlay);
    expect(overlayResponse.status).toBe(200);
    expect(overlayResponse.headers.get('content-type')).toBe('video/mp4');
    expect(overlayResponse.headers.get('accept-ranges')).toBe('bytes');
    const overlay = Buffer.from(await overlayResponse.arrayBuffer());
    const overlayFile = path.join(dir, 'overlay.mp4');
    await writeFile(overlayFile, overlay);
    const info = await inspectVideo(overlayFile);
    expect(info).toMatchObject({ width: 160, height: 120, frames: 8 });
    const ranged = await fetch(t.baseUrl + job.artifacts.overlay, { headers: { Range: 'bytes=100-299' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 100-299/${overlay.length}`);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(overlay.subarray(100, 300))).toBe(true);
    const tail = await fetch(t.baseUrl + job.artifacts.overlay, { headers: { Range: 'bytes=-10' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(overlay.subarray(overlay.length - 10))).toBe(true);
    const beyond = await fetch(t.baseUrl + job.artifacts.overlay, { headers: { Range: `bytes=${overlay.length + 10}-` } });
    expect(beyond.status).toBe(416);
    expect((await beyond.json()).error.code).toBe('range_not_satisfiable');
    const head = await fetch(t.baseUrl + job.artifacts.overlay, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(overlay.length);

    // masks.json: the disc on every frame.
    const masks = (await getJson(t.baseUrl + job.artifacts.masks)).body as {
      video: { frames: number };
      frames: { frame: number; name: string; objects: { id: number; rle: CocoRle; visible: boolean }[] }[];
    };
    expect(masks.video.frames).toBe(8);
    expect(masks.frames).toHaveLength(8);
    masks.frames.forEach((frame, i) => {
      expect(frame.objects.map((o) => o.id)).toEqual([1]);
      expect(maskIoU(decodeRle(frame.objects[0].rle), clip.truth(i, 0))).toBeGreaterThan(0.7);
    });

    // instances.json (YouTube-VIS): the same pixels as masks.json, frame by frame.
    const instances = (await getJson(t.baseUrl + job.artifacts.instances)).body;
    expect(instances.videos[0]).toMatchObject({ width: 160, height: 120, length: 8 });
    expect(instances.categories).toEqual([{ id: 1, name: 'object', supercategory: 'object' }]);
    expect(instances.annotations).toHaveLength(1);
    instances.annotations[0].segmentations.forEach((rle: CocoRle, i: number) => {
      expect(decodeRle(rle).data).toEqual(decodeRle(masks.frames[i].objects[0].rle).data);
    });

    // masks.zip: one indexed PNG per frame, named like masks.json's frames.
    const zipResponse = await fetch(t.baseUrl + job.artifacts.pngZip);
    expect(zipResponse.status).toBe(200);
    expect(zipResponse.headers.get('content-type')).toBe('application/zip');
    const zip = Buffer.from(await zipResponse.arrayBuffer());
    const entries = zipEntries(zip);
    expect(entries.map((e) => e.name)).toEqual(masks.frames.map((f) => `${f.name}.png`));
    const png = await sharp(storedEntry(zip, entries[0])).raw().toBuffer({ resolveWithObject: true });
    expect(png.info).toMatchObject({ width: 160, height: 120 });

    // Listed, counted, and deletable once finished (the cancel test before this one left two cancelled jobs).
    const list = (await getJson(`${t.baseUrl}/v1/jobs?limit=1`)).body;
    expect(list).toMatchObject({ total: 3, limit: 1, offset: 0, nextOffset: 1 });
    expect(list.jobs[0].id).toBe(id);
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^clipmask_jobs\{state="succeeded"\} 1$/m);
    expect(metrics).toMatch(/^clipmask_jobs\{state="cancelled"\} 2$/m);
    expect(metrics).toMatch(/^clipmask_frames_processed_total 8$/m);
    expect(metrics).toMatch(/^clipmask_stage_duration_seconds_count\{stage="tracking"\} 1$/m);
    expect(metrics).toMatch(/^clipmask_queue_jobs\{state="waiting"\} 0$/m);

    const deleted = await fetch(`${t.baseUrl}/v1/jobs/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect((await getJson(`${t.baseUrl}/v1/jobs/${id}`)).status).toBe(404);
    expect(await filesUnder(path.join(t.dataDir, 'jobs'))).toEqual([]);
  });

  it('tracks a video cut short through the frames that decode, and says which are missing', async () => {
    const cut = await makeTruncated(dir, { faststart: true });
    const response = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(cut, onePointPrompts(48, 32)) });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const job = await pollJob(t.baseUrl, id, (j) => j.state === 'succeeded' || j.state === 'failed');
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    const [warning] = job.warnings;
    expect(warning).toMatchObject({ code: 'cut_short', declaredFrames: 20, message: expect.stringMatching(/cut short/) });
    expect(job.video.frames).toBe(warning.decodedFrames);
    const masks = await (await fetch(`${t.baseUrl}${job.artifacts.masks}`)).json();
    expect(masks.frames).toHaveLength(warning.decodedFrames);
    expect(masks.warnings).toEqual(job.warnings);
    expect((await inspectVideo(path.join(jobPaths(t.dataDir, id).out, 'overlay.mp4'))).frames).toBe(warning.decodedFrames);
  });

  it('tracks a video with a corrupt packet in the middle through the frames that decode, and says which are missing', async () => {
    // Packet 5 of 24 (a P-frame): the upload's probe lists 24 frames; the decoder gives 23.
    const corrupt = await corruptPackets(longClip.path, [5], 'corrupt-middle.mp4');
    const id = await submit(corrupt.path, onePointPrompts(...longClip.center(0)));
    const job = await pollJob(t.baseUrl, id, (j) => j.state === 'succeeded' || j.state === 'failed', 60_000);
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.warnings).toEqual([expect.objectContaining({ code: 'frames_missing', decodedFrames: 23, declaredFrames: 24, missingTimes: corrupt.times })]);
    expect(job.video.frames).toBe(23);
    expect(job.progress).toMatchObject({ framesDone: 23, framesTotal: 23, lastFrame: 22 });
    const masks = await (await fetch(`${t.baseUrl}${job.artifacts.masks}`)).json();
    expect(masks.frames).toHaveLength(23);
    expect(masks.warnings).toEqual(job.warnings);
    expect((await inspectVideo(path.join(jobPaths(t.dataDir, id).out, 'overlay.mp4'))).frames).toBe(23);
    // The frame images count the same frames: the last is 22.
    expect((await fetch(`${t.baseUrl}/v1/jobs/${id}/frames/22.jpg`)).status).toBe(200);
    expect((await fetch(`${t.baseUrl}/v1/jobs/${id}/frames/23.jpg`)).status).toBe(400);
  });

  it('on shutdown stops taking jobs and hands a running job back to the queue, files kept', async () => {
    const id = await submit(longClip.path, onePointPrompts(...longClip.center(0)));
    const running = await pollJob(t.baseUrl, id, (job) => job.state === 'running' && job.progress.framesDone >= 1, 60_000);
    expect(running.state).toBe('running');
    const stopping = Date.now();
    await t.service.stop(); // SHUTDOWN_GRACE_S=1: the job cannot finish in time
    expect((Date.now() - stopping) / 1000).toBeLessThan(15);
    expect(await queue.getJobState(id)).toBe('waiting');
    expect(await redis.hget(`clipmask:job:${id}`, 'state')).toBe('queued');
    expect(await redis.hget(`clipmask:job:${id}`, 'attempts')).toBe('1');
    await expect(stat(jobPaths(t.dataDir, id).input)).resolves.toBeDefined();
    await expect(stat(jobPaths(t.dataDir, id).prompts)).resolves.toBeDefined();
    expect(await filesUnder(path.join(t.dataDir, 'uploads'))).toEqual([]);
  });
});
