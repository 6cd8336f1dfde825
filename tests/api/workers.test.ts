/**
 * Several workers on one job: the tracking pass on one worker, embedding
 * chunks encoded ahead by another (real model, ffmpeg, Redis; two inference
 * processes of one thread each). The masks must be byte-for-byte those of a
 * single-worker run, and the second worker must really have helped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QUEUES } from '../../src/jobs/payloads.js';
import { startService, type Service } from '../../src/service.js';
import { makeMovingShapeClip, twoObjectPrompts, type SyntheticClip } from '../helpers/synthetic.js';
import { eventually, filesUnder, pollJob, startTestService, submission, type TestService, untilReady } from '../helpers/service.js';

// Small chunks so a short clip has several; one thread each, like two single-core machines.
const SETTINGS = { EMBED_CHUNK_FRAMES: '2', ORT_THREADS: '1' };

let t: TestService;
let helper: Service | undefined;
let dir: string;
let clip: SyntheticClip;
let queue: Queue;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-workers-'));
  [t, clip] = await Promise.all([startTestService('all', SETTINGS), makeMovingShapeClip(dir, { width: 160, height: 120, frames: 8, fps: 8 })]);
  queue = new Queue(QUEUES.track, { connection: { url: t.redis.url } });
  expect(await untilReady(t.baseUrl)).toBe(true);
});

afterAll(async () => {
  await queue?.close();
  await helper?.stop();
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function runJob(): Promise<{ masks: string; id: string }> {
  const response = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, twoObjectPrompts(clip)) });
  expect(response.status).toBe(202);
  const { id } = await response.json();
  const job = await pollJob(t.baseUrl, id, (j) => j.state === 'succeeded' || j.state === 'failed', 240_000);
  expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
  const masks = await (await fetch(`${t.baseUrl}/v1/jobs/${id}/artifacts/masks.json`)).text();
  return { masks, id };
}

async function trackResult(id: string) {
  const job = await queue.getJob(id);
  return job?.returnvalue as { embeddings: { encodedHere: number; encodedAhead: number; readFromStore: number } };
}

it('gives the same masks with a helper worker encoding chunks ahead as with one worker', async () => {
  const alone = await runJob();
  const aloneStats = (await trackResult(alone.id)).embeddings;
  // With nobody to help, the tracking pass encodes all 8 frames itself (and reads back the 4 of the backward pass).
  expect(aloneStats.encodedHere + aloneStats.encodedAhead).toBe(8);

  helper = await startService('worker', { env: { ...process.env, REDIS_URL: t.redis.url, DATA_DIR: t.dataDir, LOG_LEVEL: 'silent', ...SETTINGS } });
  expect(await eventually(async () => helper!.worker!.ready, 60_000, 100)).toBe(true);
  const helped = await runJob();
  const helpedStats = (await trackResult(helped.id)).embeddings;
  expect(helpedStats.encodedHere + helpedStats.encodedAhead, JSON.stringify(helpedStats)).toBeLessThan(8);

  expect(JSON.parse(helped.masks).frames).toHaveLength(8);
  expect(helped.masks).toBe(alone.masks);
  // The shared embeddings stay for corrections (CORRECTIONS_KEEP_EMBEDDINGS): each job has every frame's once.
  const kept = (await filesUnder(path.join(t.dataDir, 'jobs'))).filter((f) => f.endsWith('.f16'));
  for (const job of [alone, helped]) expect(kept.filter((f) => f.startsWith(job.id)).length).toBe(8);
});
