/**
 * The service end to end on one video with different worker layouts:
 *
 *   npm run bench:workers -- [--video FILE] [--prompts FILE] [--layouts 1x1,2x1,1x2]
 *
 * A layout "NxT" is N worker processes (`npm run worker`, separate OS
 * processes) with ORT_THREADS=T each, behind one API, on a private Redis.
 * Each layout gets a fresh DATA_DIR; the clock runs from the upload to the
 * job's `succeeded`. The masks of every layout are compared byte for byte
 * with the first one's. Default video: ../shared/cutie-examples/example.mp4
 * with a few clicks on its first frame (a person: three clicks on the
 * figure, one on the doorway behind; the right-hand arch: one click).
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '../src/jobs/payloads.js';
import { startRedisServer } from '../src/jobs/redis-server.js';
import { WorkerRegistry } from '../src/jobs/worker-registry.js';
import { startService } from '../src/service.js';
import { startScript, stopProcess } from './processes.js';

const EXAMPLE_PROMPTS = {
  objects: [
    { id: 1, name: 'person', prompts: [{ frame: 0, points: [[200, 330, 1], [265, 160, 1], [290, 300, 1], [330, 130, 0]] }] },
    { id: 2, name: 'arch', prompts: [{ frame: 0, points: [[570, 240, 1]] }] },
  ],
};

const { values } = parseArgs({
  options: {
    video: { type: 'string', default: '../shared/cutie-examples/example.mp4' },
    prompts: { type: 'string' },
    layouts: { type: 'string', default: '1x1,2x1,1x2' },
  },
});
const video = path.resolve(values.video!);
const prompts = values.prompts ? JSON.parse(await readFile(values.prompts, 'utf8')) : EXAMPLE_PROMPTS;
const layouts = values.layouts!.split(',').map((l) => {
  const [workers, threads] = l.split('x').map(Number);
  if (!(workers >= 1 && threads >= 1)) throw new Error(`layout ${l}: expected NxT, e.g. 2x1`);
  return { workers, threads };
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redisDir = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-redis-'));
const redis = await startRedisServer({ dir: redisDir, persist: false });
const client = new Redis(redis.url);
const registry = new WorkerRegistry(client);

let reference: string | undefined;
try {
  for (const { workers, threads } of layouts) {
    await client.flushall();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-data-'));
    const env = { ...process.env, REDIS_URL: redis.url, DATA_DIR: dataDir, ORT_THREADS: String(threads), LOG_LEVEL: 'warn', PORT: '0', HOST: '127.0.0.1' };
    const api = await startService('api', { env });
    const children = Array.from({ length: workers }, () => startScript('src/jobs/main.ts', env));
    try {
      while ((await registry.live()).filter((w) => w.modelLoaded).length < workers) await sleep(200);
      const baseUrl = `http://127.0.0.1:${(api.server!.address() as { port: number }).port}`;
      const form = new FormData();
      form.append('video', await openAsBlob(video), path.basename(video));
      form.append('prompts', JSON.stringify(prompts));
      const started = performance.now();
      const submitted = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form });
      if (submitted.status !== 202) throw new Error(`submission refused: ${submitted.status} ${await submitted.text()}`);
      const { id } = (await submitted.json()) as { id: string };
      let job: { state: string; video: { frames: number }; error?: unknown };
      do {
        await sleep(250);
        job = await (await fetch(`${baseUrl}/v1/jobs/${id}`)).json();
      } while (job.state === 'queued' || job.state === 'running');
      const seconds = (performance.now() - started) / 1000;
      if (job.state !== 'succeeded') throw new Error(`job ${job.state}: ${JSON.stringify(job.error)}`);
      const masks = await (await fetch(`${baseUrl}/v1/jobs/${id}/artifacts/masks.json`)).text();
      reference ??= masks;
      const same = masks === reference ? 'identical to the first layout' : 'DIFFERENT from the first layout';
      const frames = job.video.frames;
      // Where the tracking pass got its embeddings (encoded in order / ahead while waiting / read from the store).
      const queue = new Queue(QUEUES.track, { connection: { url: redis.url } });
      const stats = JSON.stringify((await queue.getJob(id))?.returnvalue?.embeddings ?? {});
      await queue.close();
      console.log(`${workers} worker(s) x ${threads} thread(s): ${seconds.toFixed(1)} s for ${frames} frames (${(frames / seconds).toFixed(2)} fps); masks ${same}; tracker embeddings ${stats}`);
    } finally {
      await Promise.all(children.map((child) => stopProcess(child)));
      await api.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }
} finally {
  await client.quit();
  await redis.stop();
  await rm(redisDir, { recursive: true, force: true });
}
