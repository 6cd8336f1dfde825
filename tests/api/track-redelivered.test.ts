/**
 * A track job BullMQ gives again after its end was recorded (the completion
 * was refused by a Redis at maxmemory, or the worker died between the two
 * writes): the job is left as it is, artifacts and all, and no tracking runs.
 * Before, the run took the finished record for a cancelled one and deleted
 * the job's files. A real redis-server; the inference is a stub that must not
 * be called.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Inference } from '../../src/inference/inference-process.js';
import { JobStore } from '../../src/jobs/job-store.js';
import { jobPaths, sessionPaths } from '../../src/jobs/layout.js';
import type { TrackPayload, TrackResult } from '../../src/jobs/payloads.js';
import { QueueRepository } from '../../src/jobs/queue.js';
import { createTrackProcessor } from '../../src/jobs/track-job.js';
import { Workspaces } from '../../src/jobs/workspace.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { DiskStorage } from '../../src/storage/index.js';
import { jobRecord } from '../helpers/records.js';
import { startTestRedis, type RedisServer } from '../helpers/redis.js';

let server: RedisServer;
let redis: Redis;
let queues: QueueRepository;
let dataDir: string;

beforeAll(async () => {
  server = await startTestRedis();
  redis = new Redis(server.url);
  queues = new QueueRepository({ connection: { url: server.url }, attempts: 3 });
  dataDir = await mkdtemp(path.join(tmpdir(), 'clipmask-redelivered-'));
});
afterAll(async () => {
  await queues?.close();
  await redis?.quit();
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

it('leaves a job whose first run has finished as it is when BullMQ gives it again', async () => {
  const id = '3f0b6c2e-8a51-4c8e-9d7e-2b1f5a6c9d01';
  const store = new JobStore(redis);
  await store.create(jobRecord(id, { state: 'succeeded', stage: 'done', revisionDone: 0, artifacts: ['overlay', 'masks', 'instances', 'pngZip'], attempts: 1 }));
  const files = jobPaths(dataDir, id);
  await mkdir(path.dirname(files.masks), { recursive: true });
  await writeFile(files.masks, '{}');
  const storage = new DiskStorage(dataDir);
  const workspaces = new Workspaces(storage, dataDir, redis, server.url, async () => false);
  let tracked = 0;
  const inference = { ready: true, track: async () => void tracked++, correct: async () => void tracked++, embed: async () => void tracked++ } as unknown as Inference;
  const config = loadConfig({ ...process.env, DATA_DIR: dataDir, REDIS_URL: server.url });
  const logger = createLogger('silent');
  const processTrack = createTrackProcessor({ config, store, queues, inference, metrics: createMetrics(), logger, workspaces });
  const data = { jobId: id, ...sessionPaths(id, 4), prompts: `jobs/${id}/prompts.json`, corrections: `jobs/${id}/corrections` } as TrackPayload;
  const job = { data, attemptsMade: 0, attemptsStarted: 2, opts: { attempts: 3 }, updateProgress: async () => undefined } as unknown as Job<TrackPayload, TrackResult, 'track'>;

  expect(await processTrack(job, 'token')).toEqual({ frames: 0, seconds: 0 });
  expect(tracked).toBe(0);
  expect(await readdir(path.dirname(files.masks))).toContain(path.basename(files.masks));
  expect(await store.get(id)).toMatchObject({ state: 'succeeded', revisionDone: 0, attempts: 1 });
  await workspaces.close();
});
