/**
 * The JobStore's guarantees (guarded state changes, counts that never drift,
 * listing), the retention sweep, and which jobs a submission queues, against
 * a real redis-server.
 */
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JobStore } from '../../src/jobs/job-store.js';
import { jobPaths, jobRelativePaths, sessionPaths, uploadsDir } from '../../src/jobs/layout.js';
import { QUEUES } from '../../src/jobs/payloads.js';
import { QueueRepository } from '../../src/jobs/queue.js';
import { EMPTY_PROGRESS, newRender, type JobRecord } from '../../src/jobs/record.js';
import { expireJobs } from '../../src/jobs/retention.js';
import { createLogger } from '../../src/logger.js';
import { DiskStorage } from '../../src/storage/index.js';
import { jobRecord } from '../helpers/records.js';
import { startTestRedis, type RedisServer } from '../helpers/redis.js';

let server: RedisServer;
let redis: Redis;
let store: JobStore;
let queues: QueueRepository;
let dataDir: string;
const logger = createLogger('silent');

beforeAll(async () => {
  server = await startTestRedis();
  redis = new Redis(server.url);
  store = new JobStore(redis);
  queues = new QueueRepository({ connection: { url: server.url }, attempts: 1 });
  dataDir = await mkdtemp(path.join(tmpdir(), 'clipmask-store-'));
});
afterAll(async () => {
  await queues?.close();
  await redis?.quit();
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});
beforeEach(async () => {
  await redis.flushall();
});

const HOUR = 3600_000;
let n = 0;
function record(overrides: Partial<JobRecord> = {}): JobRecord {
  const id = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  return jobRecord(id, { createdAt: 1_000_000 + n, updatedAt: 1_000_000 + n, ...overrides });
}

describe('JobStore', () => {
  it('round-trips a record and applies guarded updates atomically', async () => {
    const r = record();
    await store.create(r);
    expect(await store.get(r.id)).toEqual(r);

    expect(await store.update(r.id, { state: 'running', stage: 'tracking' }, { only: ['queued'] })).toEqual({ applied: true, state: 'running' });
    // A cancel wins over later progress writes from the worker.
    expect(await store.update(r.id, { state: 'cancelled', error: { code: 'cancelled', message: 'x' } }, { only: ['queued', 'running'] })).toEqual({ applied: true, state: 'cancelled' });
    expect(await store.update(r.id, { progress: { ...EMPTY_PROGRESS, framesDone: 3 } }, { only: ['running'] })).toEqual({ applied: false, state: 'cancelled' });
    expect(await store.update(r.id, { state: 'succeeded' }, { unless: ['cancelled'] })).toEqual({ applied: false, state: 'cancelled' });
    const after = await store.get(r.id);
    expect(after).toMatchObject({ state: 'cancelled', stage: 'tracking', progress: EMPTY_PROGRESS, error: { code: 'cancelled' } });

    // null removes a field.
    await store.update(r.id, { error: null });
    expect((await store.get(r.id))?.error).toBeUndefined();
    expect(await store.update('00000000-0000-4000-8000-ffffffffffff', { stage: 'done' })).toEqual({ applied: false, state: undefined });
  });

  it('keeps counts by state exact through changes and deletes, and lists newest first', async () => {
    const records = [record(), record(), record()];
    for (const r of records) await store.create(r);
    await store.update(records[0].id, { state: 'running' });
    await store.update(records[0].id, { state: 'succeeded' });
    await store.update(records[1].id, { state: 'failed' });
    await store.update(records[1].id, { state: 'failed' }); // no change: counted once
    expect(await store.countByState()).toEqual({ queued: 1, running: 0, succeeded: 1, failed: 1, cancelled: 0 });
    expect(await store.delete(records[1].id)).toBe(true);
    expect(await store.delete(records[1].id)).toBe(false);
    expect(await store.countByState()).toEqual({ queued: 1, running: 0, succeeded: 1, failed: 0, cancelled: 0 });

    const page = await store.list(0, 1);
    expect(page.total).toBe(2);
    expect(page.records.map((r) => r.id)).toEqual([records[2].id]);
    expect((await store.list(1, 5)).records.map((r) => r.id)).toEqual([records[0].id]);
  });
});

describe('JobStore renders', () => {
  const matte = newRender({ output: 'matte.mp4', feather: 0 }, 0, 5);
  const cutout = newRender({ output: 'cutout.webm', objects: [2], feather: 1 }, 0, 5);

  it('keeps each render as its own field: created with the record, added, listed by file name, deleted with the job', async () => {
    const r = record({ renders: [matte] });
    await store.create(r);
    expect((await store.get(r.id))?.renders).toEqual([matte]);
    expect(await store.addRender(r.id, cutout, 2)).toBe('added');
    expect(await store.addRender(r.id, cutout, 2)).toBe('exists');
    expect(await store.addRender(r.id, newRender({ output: 'cutout.mov', feather: 1 }, 0), 2)).toBe('full');
    expect((await store.get(r.id))?.renders?.map((x) => x.file)).toEqual(['cutout-objects-2.webm', 'matte.mp4']);
    // A job update never touches the renders.
    await store.update(r.id, { state: 'running' });
    expect((await store.get(r.id))?.renders).toHaveLength(2);
    await store.delete(r.id);
    expect(await redis.keys('*job:*')).toEqual([]);
    expect(await store.addRender(r.id, matte, 8)).toBe('no job');
  });

  it('applies a render patch only while the render is for the given masks revision', async () => {
    const r = record({ renders: [matte] });
    await store.create(r);
    expect(await store.patchRender(r.id, matte.file, { state: 'running' }, 0)).toBe(true);
    // A correction queued it again from revision 1: the render of revision 0 is not recorded.
    expect(await store.patchRender(r.id, matte.file, { state: 'queued', revision: 1, error: null })).toBe(true);
    expect(await store.patchRender(r.id, matte.file, { state: 'succeeded', fileRevision: 0 }, 0)).toBe(false);
    expect(await store.patchRender(r.id, matte.file, { state: 'failed', error: { code: 'internal', message: 'x' } }, 1)).toBe(true);
    expect(await store.patchRender(r.id, matte.file, { state: 'queued', error: null }, 1)).toBe(true);
    const render = (await store.get(r.id))?.renders?.[0];
    expect(render).toMatchObject({ file: 'matte.mp4', state: 'queued', revision: 1, feather: 0 });
    expect(render && 'error' in render).toBe(false);
    expect(render && 'fileRevision' in render).toBe(false);
    expect(await store.patchRender(r.id, 'cutout.webm', { state: 'running' })).toBe(false);
  });
});

describe('the retention sweep', () => {
  it("deletes finished jobs older than RETENTION_HOURS, files and record, and orphaned uploads; keeps the rest", async () => {
    const now = Date.now();
    const old = record({ state: 'succeeded', createdAt: now - 50 * HOUR, finishedAt: now - 49 * HOUR });
    const oldButRunning = record({ state: 'running', createdAt: now - 50 * HOUR });
    const recent = record({ state: 'failed', createdAt: now - 2 * HOUR, finishedAt: now - HOUR });
    for (const r of [old, oldButRunning, recent]) {
      await store.create(r);
      await mkdir(jobPaths(dataDir, r.id).out, { recursive: true });
      await writeFile(jobPaths(dataDir, r.id).masks, '{}');
    }
    await mkdir(uploadsDir(dataDir), { recursive: true });
    const staleUpload = path.join(uploadsDir(dataDir), 'stale.part');
    const freshUpload = path.join(uploadsDir(dataDir), 'fresh.part');
    await writeFile(staleUpload, 'x');
    await writeFile(freshUpload, 'x');
    await utimes(staleUpload, new Date(now - 2 * HOUR), new Date(now - 2 * HOUR));

    expect(await expireJobs({ dataDir, storage: new DiskStorage(dataDir), retentionHours: 24, store, logger, now })).toEqual({ jobs: 1, orphans: 1 });
    expect(await store.get(old.id)).toBeUndefined();
    await expect(stat(jobPaths(dataDir, old.id).dir)).rejects.toThrow();
    for (const kept of [oldButRunning, recent]) {
      expect(await store.get(kept.id)).toBeDefined();
      await expect(stat(jobPaths(dataDir, kept.id).masks)).resolves.toBeDefined();
    }
    await expect(stat(staleUpload)).rejects.toThrow();
    await expect(stat(freshUpload)).resolves.toBeDefined();
  });
});

describe('QueueRepository.addTrack', () => {
  /** The names of the waiting jobs after submitting a 7-frame video in chunks of 2 (4 chunks). */
  async function queued(speed?: 'best' | 'fast'): Promise<string[]> {
    const id = record().id;
    const paths = jobRelativePaths(id);
    await queues.addTrack({ jobId: id, ...sessionPaths(id, 2), prompts: paths.prompts, corrections: paths.corrections }, 7, speed);
    const jobs = await queues.track.getJobs(['waiting']);
    return jobs.filter((j) => j.data.jobId === id).map((j) => `${j.name}:${j.id}`.replace(id, 'ID')).sort();
  }

  it('queues an embed job per chunk after the first for helpers, except for a fast job (it encodes key frames only)', async () => {
    const best = ['embed:ID-embed-1', 'embed:ID-embed-2', 'embed:ID-embed-3', 'track:ID'];
    expect(await queued()).toEqual(best);
    expect(await queued('best')).toEqual(best);
    expect(await queued('fast')).toEqual(['track:ID']);
  });
});

describe('QueueRepository.addRender', () => {
  it('adds a render once while it waits, and again once its job has finished (a failed render asked for again)', async () => {
    const id = record().id;
    const paths = jobRelativePaths(id);
    const payload = { jobId: id, file: 'matte.mp4', revision: 0, input: paths.input, masks: paths.masks };
    const state = () => queues.track.getJobState(`${id}-render-matte.mp4-0`);
    await queues.addRender(payload);
    await queues.addRender(payload);
    expect((await queues.track.getJobs(['waiting'])).filter((j) => j.data.jobId === id)).toHaveLength(1);
    // A worker takes it and it fails for good.
    const worker = new Worker(QUEUES.track, null, { connection: { url: server.url }, autorun: false });
    const job = (await worker.getNextJob('token'))!;
    await job.moveToFailed(new Error('ffmpeg died'), 'token', false);
    await worker.close();
    expect(await state()).toBe('failed');
    await queues.addRender(payload);
    expect(await state()).toBe('waiting');
  });
});
