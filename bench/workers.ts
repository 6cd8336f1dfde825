/**
 * The service end to end on one video with different worker layouts:
 *
 *   npm run bench:workers -- [--video FILE] [--prompts FILE] [--layouts 1x1,2x1,1x2] [--pin] [--storage disk|s3|disk,s3]
 *
 * A layout "NxT" is N worker processes (`npm run worker`, separate OS
 * processes) with ORT_THREADS=T each, behind one API, on a private Redis.
 * Each layout gets a fresh DATA_DIR; the clock runs from the upload to the
 * job's `succeeded`.
 *
 * --storage s3 runs the layouts on object storage instead: a local
 * S3-compatible server (s3rver, tools/local-s3.ts) on this machine, and a
 * DATA_DIR of its own for the API and for each worker, so nothing is shared
 * but the bucket and Redis. Each storage's row also gives the store's
 * transfer time per frame: what one frame costs through it (its embedding
 * written and read back, 2 MB, and its frame record), measured in this
 * process before the layouts run. `--storage disk,s3` runs both, one after
 * the other, and the last line then has s3_over_disk_2x1 (wall time). The masks of every layout are compared byte for byte
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
import { DiskStorage } from '../src/storage/disk-storage.js';
import type { Storage } from '../src/storage/storage.js';
import { startLocalS3, type LocalS3 } from '../tools/local-s3.js';
import { S3Storage } from '../src/storage/s3-storage.js';
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
    storage: { type: 'string', default: 'disk' },
  },
});
const storages = values.storage!.split(',');
for (const kind of storages) if (kind !== 'disk' && kind !== 's3') throw new Error(`--storage ${kind}: expected disk, s3 or disk,s3`);
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

/** What one frame costs through a store: its embedding (2 MB, SAM's 256x64x64 float16) and its record, written and read back. */
async function transferMsPerFrame(storage: Storage, frames = 20): Promise<number> {
  const embedding = Buffer.alloc(16 + 256 * 64 * 64 * 2, 7);
  const record = Buffer.alloc(3000, 32);
  const started = performance.now();
  for (let f = 0; f < frames; f++) {
    await storage.put(`bench/embeddings/${f}.f16`, embedding);
    await storage.get(`bench/embeddings/${f}.f16`);
    await storage.put(`bench/frames/${f}.json`, record);
    await storage.get(`bench/frames/${f}.json`);
  }
  const ms = (performance.now() - started) / frames;
  await storage.deletePrefix('bench/');
  return ms;
}
const redisDir = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-redis-'));
const redis = await startRedisServer({ dir: redisDir, persist: false });
const client = new Redis(redis.url);
const registry = new WorkerRegistry(client);

let reference: string | undefined;
let allIdentical = true;
/** Seconds per storage and layout "disk:NxT" (its first run), for the last line. */
const secondsOf = new Map<string, number>();
const s3Dir = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-s3-'));
let s3: LocalS3 | undefined;
try {
  for (const storage of storages) {
    s3 = storage === 's3' ? await startLocalS3({ dir: s3Dir }) : undefined;
    const scratch = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-store-'));
    const store = s3
      ? new S3Storage({ bucket: s3.bucket, prefix: '', region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY } })
      : new DiskStorage(scratch);
    const transfer = await transferMsPerFrame(store);
    await rm(scratch, { recursive: true, force: true });
    try {
      for (const layout of layouts) await runLayout(storage, layout, transfer);
    } finally {
      await s3?.stop();
    }
  }
  const one = secondsOf.get(`${storages[0]}:1x1`);
  const two = secondsOf.get(`${storages[0]}:2x1`);
  const speedup = one !== undefined && two !== undefined ? (one / two).toFixed(2) : 'n/a';
  const disk2 = secondsOf.get('disk:2x1');
  const s32 = secondsOf.get('s3:2x1');
  const s3Ratio = disk2 !== undefined && s32 !== undefined ? ` s3_over_disk_2x1=${(s32 / disk2).toFixed(3)}` : '';
  console.log(`speedup_2x1_over_1x1=${speedup}${s3Ratio} masks_identical=${allIdentical ? 'yes' : 'no'}`);
} finally {
  await client.quit();
  await redis.stop();
  await rm(redisDir, { recursive: true, force: true });
  await rm(s3Dir, { recursive: true, force: true });
}

/** One layout on one storage: fresh DATA_DIRs (one per process on object storage), the job, its row of the table. */
async function runLayout(storage: string, { workers, threads }: { workers: number; threads: number }, transferMs: number): Promise<void> {
  await client.flushall();
  // On object storage nothing is shared but the bucket: every process gets its own DATA_DIR.
  const dataDirs = await Promise.all(Array.from({ length: s3 ? workers + 1 : 1 }, () => mkdtemp(path.join(tmpdir(), 'clipmask-bench-data-'))));
  const envFor = (i: number) => ({ ...process.env, ...(s3?.env ?? {}), REDIS_URL: redis.url, DATA_DIR: dataDirs[i % dataDirs.length], ORT_THREADS: String(threads), LOG_LEVEL: 'warn', PORT: '0', HOST: '127.0.0.1' });
  const api = await startService('api', { env: envFor(0) });
  const children = Array.from({ length: workers }, (_, i) => startScript('src/jobs/main.ts', envFor(i + 1), pin ? { cpu: cpuOf(i) } : {}));
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
    if (!secondsOf.has(`${storage}:${workers}x${threads}`)) secondsOf.set(`${storage}:${workers}x${threads}`, seconds);
    // Where the tracking pass got its embeddings (encoded in order / ahead while waiting / read from the store).
    const queue = new Queue(QUEUES.track, { connection: { url: redis.url } });
    const stats = JSON.stringify((await queue.getJob(id))?.returnvalue?.embeddings ?? {});
    await queue.close();
    const pinned = pin ? `, pinned to cpu ${children.map((_, i) => cpuOf(i)).join(',')}` : '';
    console.log(
      `${storage}: ${workers} worker(s) x ${threads} thread(s)${pinned}: ${seconds.toFixed(1)} s for ${frames} frames (${(frames / seconds).toFixed(2)} fps); masks ${same}; tracker embeddings ${stats}; store transfer ${transferMs.toFixed(1)} ms/frame`,
    );
  } finally {
    await Promise.all(children.map((child) => stopProcess(child)));
    await api.stop();
    await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}
