/**
 * The service end to end on one video with different worker layouts:
 *
 *   npm run bench:workers -- [--video FILE] [--prompts FILE] [--layouts 1x1,2x1,1x2] [--pin]
 *
 * A layout "NxT" is N worker processes (`npm run worker`, separate OS
 * processes) with ORT_THREADS=T each, behind one API, on a private Redis.
 * Each layout gets a fresh DATA_DIR; the clock runs from the upload to the
 * job's `succeeded`. The masks of every layout are compared byte for byte
 * with the first one's. Default video: ../shared/cutie-examples/example.mp4
 * with a few clicks on its first frame (a person: three clicks on the
 * figure, one on the doorway behind; the right-hand arch: one click).
 * Last line: `speedup_2x1_over_1x1=.. masks_identical=yes|no` (the speedup is
 * n/a unless both layouts ran).
 *
 * There is no --frames: the job API has no frame limit to pass (MAX_FRAMES
 * refuses a longer video with 413, it does not cut it), so give a shorter
 * clip instead, e.g. `ffmpeg -i example.mp4 -frames:v 6 /tmp/ex6.mp4` and
 * `--video /tmp/ex6.mp4` (the default clicks are on frame 0).
 *
 * --pin: worker i starts under `taskset -c <cpu>` (util-linux), on this
 * process's i-th allowed CPU mod their number (os.availableParallelism()),
 * with ORT_THREADS=1 whatever the layout says, so each worker is a one-core
 * machine: its inference child, the child's ffmpeg processes and every thread
 * (the encoder's worker thread included) inherit the affinity through
 * fork/exec, nothing in the service calls sched_setaffinity, and ONNX Runtime
 * affinitizes its pool threads only when intra_op_num_threads is left at 0,
 * which the service never does. The layouts default to 1x1,2x1. Once the
 * models are loaded, the affinity of every thread of each worker and of its
 * children is printed (`taskset -a -p`), so the output shows the pinning is
 * real. The API (in this process, with the bench's polling) and Redis are
 * not pinned: they run on whichever core is free and take their CPU time
 * from a worker. That is acceptable here because they are nearly idle while
 * the clock runs (the upload is handled before any worker has work; then a
 * status poll every 250 ms and a few BullMQ commands per second, well under
 * 1 % of a core against a worker's seconds per frame), but it would not be
 * for a load test, where the API is busy.
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '../src/jobs/payloads.js';
import { startRedisServer } from '../src/jobs/redis-server.js';
import { WorkerRegistry } from '../src/jobs/worker-registry.js';
import { startService } from '../src/service.js';
import { assertTaskset, childPids, commandOf, cpuListOf, parseCpuList, startScript, stopProcess, threadAffinities } from './processes.js';

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
    layouts: { type: 'string' },
    pin: { type: 'boolean', default: false },
  },
});
const pin = values.pin!;
if (pin) assertTaskset();
const video = path.resolve(values.video!);
const prompts = values.prompts ? JSON.parse(await readFile(values.prompts, 'utf8')) : EXAMPLE_PROMPTS;
const layouts = (values.layouts ?? (pin ? '1x1,2x1' : '1x1,2x1,1x2')).split(',').map((l) => {
  const [workers, threads] = l.split('x').map(Number);
  if (!(workers >= 1 && threads >= 1)) throw new Error(`layout ${l}: expected NxT, e.g. 2x1`);
  if (pin && threads !== 1) console.warn(`layout ${l}: --pin makes each worker a one-core machine, so it runs with ORT_THREADS=1 (${workers}x1)`);
  return { workers, threads: pin ? 1 : threads };
});
// The CPUs this process may run on (all of them unless it was started under taskset itself): worker i gets cpus[i mod their number].
const cpus = pin ? parseCpuList(await cpuListOf(process.pid)) : [];
if (pin && cpus.length !== availableParallelism()) console.warn(`allowed CPUs ${cpus.join(',')} but availableParallelism() is ${availableParallelism()}`);
const cpuOf = (worker: number) => cpus[worker % cpus.length];
const maxWorkers = Math.max(...layouts.map((l) => l.workers));
if (pin && maxWorkers > cpus.length) console.warn(`${maxWorkers} workers on ${cpus.length} CPUs: some pinned workers share a CPU`);

/** Prints, once, the affinity of every thread of each pinned worker and of its children (the inference child). */
async function printAffinities(children: { pid?: number }[]): Promise<void> {
  for (const [i, child] of children.entries()) {
    const expected = String(cpuOf(i));
    const pids = [child.pid!, ...(await childPids(child.pid!))];
    const parts = await Promise.all(
      pids.map(async (pid, k) => {
        const threads = await threadAffinities(pid).catch(() => ({}) as Record<string, number>);
        const lists = Object.keys(threads);
        const verdict = lists.length === 1 && lists[0] === expected ? 'ok' : 'NOT AS PINNED';
        const described = lists.map((list) => `cpu ${list} x${threads[list]} threads`).join(', ') || 'gone';
        return `${k === 0 ? 'worker' : 'child'} ${pid} (${await commandOf(pid)}): ${described} ${verdict}`;
      }),
    );
    console.log(`  pinned worker ${i} -> cpu ${expected}: ${parts.join('; ')}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redisDir = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-redis-'));
const redis = await startRedisServer({ dir: redisDir, persist: false });
const client = new Redis(redis.url);
const registry = new WorkerRegistry(client);

let reference: string | undefined;
let allIdentical = true;
/** Seconds per layout "NxT" (its first run), for the last line. */
const secondsOf = new Map<string, number>();
try {
  for (const { workers, threads } of layouts) {
    await client.flushall();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-data-'));
    const env = { ...process.env, REDIS_URL: redis.url, DATA_DIR: dataDir, ORT_THREADS: String(threads), LOG_LEVEL: 'warn', PORT: '0', HOST: '127.0.0.1' };
    const api = await startService('api', { env });
    const children = Array.from({ length: workers }, (_, i) => startScript('src/jobs/main.ts', env, pin ? { cpu: cpuOf(i) } : {}));
    try {
      while ((await registry.live()).filter((w) => w.modelLoaded).length < workers) await sleep(200);
      if (pin) await printAffinities(children);
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
      if (masks !== reference) allIdentical = false;
      const same = masks === reference ? 'identical to the first layout' : 'DIFFERENT from the first layout';
      const frames = job.video.frames;
      if (!secondsOf.has(`${workers}x${threads}`)) secondsOf.set(`${workers}x${threads}`, seconds);
      // Where the tracking pass got its embeddings (encoded in order / ahead while waiting / read from the store).
      const queue = new Queue(QUEUES.track, { connection: { url: redis.url } });
      const stats = JSON.stringify((await queue.getJob(id))?.returnvalue?.embeddings ?? {});
      await queue.close();
      const pinned = pin ? `, pinned to cpu ${children.map((_, i) => cpuOf(i)).join(',')}` : '';
      console.log(`${workers} worker(s) x ${threads} thread(s)${pinned}: ${seconds.toFixed(1)} s for ${frames} frames (${(frames / seconds).toFixed(2)} fps); masks ${same}; tracker embeddings ${stats}`);
    } finally {
      await Promise.all(children.map((child) => stopProcess(child)));
      await api.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  const one = secondsOf.get('1x1');
  const two = secondsOf.get('2x1');
  const speedup = one !== undefined && two !== undefined ? (one / two).toFixed(2) : 'n/a';
  console.log(`speedup_2x1_over_1x1=${speedup} masks_identical=${allIdentical ? 'yes' : 'no'}`);
} finally {
  await client.quit();
  await redis.stop();
  await rm(redisDir, { recursive: true, force: true });
}
