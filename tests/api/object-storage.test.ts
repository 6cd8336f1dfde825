/**
 * The service on object storage (STORAGE=s3 against a real S3-compatible
 * server, s3rver, with the real model, ffmpeg and Redis): a job gives
 * masks.json byte-identical to the same job on the local disk; artifacts
 * are served from the bucket with Range; two workers with separate
 * DATA_DIRs and no shared directory share a video's embedding chunks
 * through the bucket; a correction works from the bucket; DELETE and the
 * retention sweep leave no object behind; workers leave no scratch files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { JobStore } from '../../src/jobs/job-store.js';
import { QUEUES } from '../../src/jobs/payloads.js';
import { expireJobs } from '../../src/jobs/retention.js';
import { createLogger } from '../../src/logger.js';
import { startService, type Service } from '../../src/service.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { makeMovingShapeClip, twoObjectPrompts, type SyntheticClip } from '../helpers/synthetic.js';
import { eventually, filesUnder, pollJob, startTestService, submission, type TestService, untilReady } from '../helpers/service.js';

// Small chunks so a short clip has several; one thread each, like single-core machines.
const SETTINGS = { EMBED_CHUNK_FRAMES: '2', ORT_THREADS: '1' };

let s3: TestS3;
let t: TestService;
let helper: Service | undefined;
let helperDir: string;
let dir: string;
let clip: SyntheticClip;
let queue: Queue;
/** The jobs run on object storage, in order, and the masks.json of the job on disk. */
const jobs: { id: string; masks: string }[] = [];
let diskMasks: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-object-storage-'));
  helperDir = await mkdtemp(path.join(tmpdir(), 'clipmask-helper-'));
  [s3, clip] = await Promise.all([startTestS3(), makeMovingShapeClip(dir, { width: 160, height: 120, frames: 8, fps: 8 })]);
});

afterAll(async () => {
  await queue?.close();
  await helper?.stop();
  await t?.stop();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(helperDir, { recursive: true, force: true });
});

async function runJob(baseUrl: string): Promise<{ id: string; masks: string }> {
  const response = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, twoObjectPrompts(clip)) });
  expect(response.status).toBe(202);
  const { id } = await response.json();
  const job = await pollJob(baseUrl, id, (j) => j.state === 'succeeded' || j.state === 'failed', 240_000);
  expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
  return { id, masks: await (await fetch(`${baseUrl}/v1/jobs/${id}/artifacts/masks.json`)).text() };
}

/** Files a worker or the API left in its DATA_DIR, other than Redis's (a worker's copy of an input goes within seconds of its job's end). */
async function leftovers(dataDir: string): Promise<string[]> {
  const files = async () => (await filesUnder(dataDir)).filter((f) => !f.startsWith('redis'));
  await eventually(async () => (await files()).every((f) => f.startsWith('cache/')), 10_000, 200);
  return files();
}

it('gives masks.json byte-identical to the same job on the local disk, and keeps no job file on the worker', async () => {
  const disk = await startTestService('all', SETTINGS);
  try {
    expect(await untilReady(disk.baseUrl)).toBe(true);
    diskMasks = (await runJob(disk.baseUrl)).masks;
  } finally {
    await disk.stop();
  }
  t = await startTestService('all', { ...SETTINGS, ...s3.env, S3_PRESIGN: 'true' });
  queue = new Queue(QUEUES.track, { connection: { url: t.redis.url } });
  expect(await untilReady(t.baseUrl)).toBe(true);
  const job = await runJob(t.baseUrl);
  jobs.push(job);
  expect(JSON.parse(job.masks).frames).toHaveLength(8);
  expect(job.masks).toBe(diskMasks);

  const keys = (await s3.keys()).filter((k) => k.startsWith(`jobs/${job.id}/`)).map((k) => k.slice(`jobs/${job.id}/`.length));
  for (const key of ['input', 'prompts.json', 'session.json', 'out/overlay.mp4', 'out/masks.json', 'out/masks.zip', 'out/frames/7.json', 'embeddings/7.f16']) expect(keys).toContain(key);
  expect(keys.some((k) => k.startsWith('out/png/'))).toBe(false);
  // The live results and a frame with its masks come from the bucket too.
  const live = await (await fetch(`${t.baseUrl}/v1/jobs/${job.id}/masks`)).json();
  expect(live.frames).toEqual(JSON.parse(job.masks).frames);
  const jpeg = await fetch(`${t.baseUrl}/v1/jobs/${job.id}/frames/4.jpg?overlay=1`);
  expect(jpeg.status).toBe(200);
  expect(jpeg.headers.get('content-type')).toBe('image/jpeg');
  expect(await leftovers(t.dataDir)).toEqual([expect.stringMatching(new RegExp(`^cache/api-\\d+/${job.id}\\.input$`))]);
});

it('gives presigned bucket URLs as artifact links with S3_PRESIGN, which fetch what the API serves', async () => {
  const status = await (await fetch(`${t.baseUrl}/v1/jobs/${jobs[0].id}`)).json();
  expect(status.artifacts.masks).toMatch(new RegExp(`^${s3.endpoint}/${s3.bucket}/jobs/${jobs[0].id}/out/masks\\.json\\?.*X-Amz-Signature=`));
  expect(await (await fetch(status.artifacts.masks)).text()).toBe(jobs[0].masks);
  const zip = await fetch(status.artifacts.pngZip);
  expect(zip.headers.get('content-disposition')).toBe(`attachment; filename="${jobs[0].id}-masks.zip"`);
});

it('serves an artifact from the bucket with Range: 206 and the bytes of the whole file', async () => {
  const url = `${t.baseUrl}/v1/jobs/${jobs[0].id}/artifacts/overlay.mp4`;
  const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
  expect(whole.length).toBeGreaterThan(1000);
  const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
  expect(part.status).toBe(206);
  expect(part.headers.get('content-range')).toBe(`bytes 100-199/${whole.length}`);
  expect(part.headers.get('accept-ranges')).toBe('bytes');
  expect(Buffer.from(await part.arrayBuffer())).toEqual(whole.subarray(100, 200));
  expect((await fetch(url, { headers: { range: `bytes=${whole.length + 10}-` } })).status).toBe(416);
});

it('makes a render from the objects in the bucket, stored beside the artifacts, with no copy left on the worker', async () => {
  const { id } = jobs[0];
  const asked = await fetch(`${t.baseUrl}/v1/jobs/${id}/renders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ output: 'matte.mp4' }) });
  expect(asked.status).toBe(202);
  const job = await pollJob(t.baseUrl, id, (j) => j.renders?.[0]?.state === 'succeeded' || j.renders?.[0]?.state === 'failed', 60_000);
  expect(job.renders[0], JSON.stringify(job.renders[0].error)).toMatchObject({ file: 'matte.mp4', state: 'succeeded' });
  expect(await s3.keys()).toContain(`jobs/${id}/out/renders/0/matte.mp4`);
  // S3_PRESIGN: the status's url is the bucket's, and fetches what the API serves.
  expect(job.renders[0].url).toMatch(new RegExp(`^${s3.endpoint}/${s3.bucket}/jobs/${id}/out/renders/0/matte\\.mp4\\?.*X-Amz-Signature=`));
  const fromBucket = Buffer.from(await (await fetch(job.renders[0].url)).arrayBuffer());
  const fromApi = Buffer.from(await (await fetch(`${t.baseUrl}/v1/jobs/${id}/artifacts/matte.mp4`)).arrayBuffer());
  expect(fromBucket.length).toBeGreaterThan(100);
  expect(fromApi).toEqual(fromBucket);
  expect((await leftovers(t.dataDir)).filter((f) => !f.startsWith('cache/'))).toEqual([]);
});

it('shares one video’s embedding chunks between two workers with separate DATA_DIRs, with identical masks', async () => {
  helper = await startService('worker', { env: { ...process.env, ...SETTINGS, ...s3.env, REDIS_URL: t.redis.url, DATA_DIR: helperDir, LOG_LEVEL: 'silent' } });
  expect(await eventually(async () => helper!.worker!.ready, 60_000, 100)).toBe(true);
  const helped = await runJob(t.baseUrl);
  jobs.push(helped);
  const stats = ((await queue.getJob(helped.id))?.returnvalue as { embeddings: { encodedHere: number; encodedAhead: number } }).embeddings;
  expect(stats.encodedHere + stats.encodedAhead, JSON.stringify(stats)).toBeLessThan(8);
  expect(helped.masks).toBe(diskMasks);
  expect(await leftovers(helperDir)).toEqual([]);
  await helper.stop();
  helper = undefined;
});

it('applies a correction from the objects in the bucket', async () => {
  const { id } = jobs[0];
  const response = await fetch(`${t.baseUrl}/v1/jobs/${id}/corrections`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ objects: [{ id: 2, absentFrom: 5 }] }) });
  expect(response.status).toBe(202);
  const done = await pollJob(t.baseUrl, id, (job) => job.state !== 'running' && job.lastCorrection?.revision === 1, 120_000);
  expect(done.state, JSON.stringify(done.lastCorrection)).toBe('succeeded');
  const masks = JSON.parse(await (await fetch(`${t.baseUrl}/v1/jobs/${id}/artifacts/masks.json`)).text());
  const before = JSON.parse(jobs[0].masks);
  const area = (frame: any, object: number) => frame.objects.find((o: any) => o.id === object)?.area ?? 0;
  expect(before.frames.slice(5).some((f: any) => area(f, 2) > 0)).toBe(true);
  for (const frame of masks.frames.slice(5)) expect(area(frame, 2)).toBe(0);
  expect(masks.frames.slice(0, 5)).toEqual(before.frames.slice(0, 5));
  // Only the API's copy of the input the frame JPEG came from (kept while the job is viewed).
  expect(await leftovers(t.dataDir)).toEqual([expect.stringMatching(new RegExp(`^cache/api-\\d+/${id}\\.input$`))]);
});

it('leaves no object behind after DELETE and after the retention sweep', async () => {
  expect((await fetch(`${t.baseUrl}/v1/jobs/${jobs[1].id}/frames/2.jpg`)).status).toBe(200);
  expect((await filesUnder(t.dataDir)).filter((f) => f.includes(jobs[1].id))).toHaveLength(1);
  expect((await fetch(`${t.baseUrl}/v1/jobs/${jobs[1].id}`, { method: 'DELETE' })).status).toBe(204);
  expect((await s3.keys()).filter((k) => k.startsWith(`jobs/${jobs[1].id}/`))).toEqual([]);
  expect((await filesUnder(t.dataDir)).filter((f) => f.includes(jobs[1].id))).toEqual([]); // the API's copy too
  expect((await s3.keys()).some((k) => k.startsWith(`jobs/${jobs[0].id}/`))).toBe(true);
  // The sweep as the workers run it, three hours on, with one-hour retention.
  const redis = new Redis(t.redis.url);
  try {
    const swept = await expireJobs({ dataDir: t.dataDir, storage: s3.storage(), retentionHours: 1, store: new JobStore(redis), logger: createLogger('silent'), now: Date.now() + 3 * 3600_000 });
    expect(swept.jobs).toBe(1);
  } finally {
    redis.disconnect();
  }
  expect(await s3.keys()).toEqual([]);
  expect((await fetch(`${t.baseUrl}/v1/jobs/${jobs[0].id}`)).status).toBe(404);
});
