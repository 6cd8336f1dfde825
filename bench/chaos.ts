/**
 * Faults while jobs run, with real processes: a private redis-server (AOF on),
 * the API and a worker as separate OS processes (`npm run api`, `npm run worker`).
 *
 *   npm run chaos [-- --scenarios kill-worker,restart-redis,restart-api,cancel]
 *
 * First an undisturbed run of a generated clip gives the reference masks.
 * Then, each scenario submits the same clip with the same click, disturbs the
 * service once the job has tracked a few frames, and checks that the job
 * still ends `succeeded` with masks.json byte-for-byte the reference's:
 *
 *   kill-worker    SIGKILL the worker process mid-tracking, start a new one
 *                  (BullMQ's stalled-job check gives the job to it)
 *   restart-redis  stop redis-server (it flushes the AOF) and start it again
 *                  on the same port and directory
 *   restart-api    SIGKILL the API process and start it again
 *
 * and one more that ends the job instead:
 *
 *   cancel         DELETE the running job; passes when, within 2 s, the job's
 *                  files are gone, no ffmpeg runs under the worker and the
 *                  worker's processes have stopped using the CPU
 *
 * Prints one line per scenario with its recovery (or stop) time; exits 1 if any fails.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startRedisServer, type RedisServer } from '../src/jobs/redis-server.js';
import { makeMovingShapeClip } from '../tests/helpers/synthetic.js';
import { startScript as run, stopProcess as stop } from './processes.js';

const { values } = parseArgs({ options: { scenarios: { type: 'string', default: 'kill-worker,restart-redis,restart-api,cancel' } } });
const scenarios = values.scenarios!.split(',');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const root = await mkdtemp(path.join(tmpdir(), 'clipmask-chaos-'));
const clip = await makeMovingShapeClip(root, { width: 160, height: 120, frames: 24, fps: 8 });
const [x, y] = clip.center(0).map(Math.round);
const prompts = { objects: [{ id: 1, name: 'disc', prompts: [{ frame: 0, points: [[x, y, 1]] }] }] };

interface Stack {
  redis: RedisServer;
  dataDir: string;
  port: number;
  api: ChildProcess;
  worker: ChildProcess;
  env: NodeJS.ProcessEnv;
}

async function getJson(url: string): Promise<any> {
  const response = await fetch(url);
  return response.json();
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startStack(): Promise<Stack> {
  const dataDir = path.join(root, `data-${Date.now()}`);
  const redis = await startRedisServer({ dir: path.join(dataDir, 'redis') });
  const port = await freePort();
  const env = { ...process.env, REDIS_URL: redis.url, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', EMBED_CHUNK_FRAMES: '4' };
  const stack = { redis, dataDir, port, env, api: run('src/api/main.ts', env), worker: run('src/jobs/main.ts', env) };
  await waitFor('the service to be ready', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), 120_000);
  return stack;
}

async function stopStack(stack: Stack): Promise<void> {
  await Promise.all([stop(stack.api), stop(stack.worker)]);
  await stack.redis.stop();
}

async function submit(stack: Stack): Promise<string> {
  const { openAsBlob } = await import('node:fs');
  const form = new FormData();
  form.append('video', await openAsBlob(clip.path), 'clip.mp4');
  form.append('prompts', JSON.stringify(prompts));
  const response = await fetch(`http://127.0.0.1:${stack.port}/v1/jobs`, { method: 'POST', body: form });
  if (response.status !== 202) throw new Error(`submission refused: ${response.status}`);
  return ((await response.json()) as { id: string }).id;
}

async function finish(stack: Stack, id: string): Promise<string> {
  const base = `http://127.0.0.1:${stack.port}`;
  const job = await waitFor('the job to end', async () => {
    const j = await getJson(`${base}/v1/jobs/${id}`);
    return j.state === 'queued' || j.state === 'running' ? undefined : j;
  }, 300_000);
  if (job.state !== 'succeeded') throw new Error(`job ${job.state}: ${JSON.stringify(job.error)}`);
  return (await fetch(`${base}${job.artifacts.masks}`)).text();
}

async function trackedFrames(stack: Stack, id: string, frames: number): Promise<void> {
  await waitFor(`${frames} frames tracked`, async () => {
    const j = await getJson(`http://127.0.0.1:${stack.port}/v1/jobs/${id}`);
    return j.progress?.framesDone >= frames ? true : undefined;
  }, 120_000);
}

const disturb: Record<string, (stack: Stack) => Promise<void>> = {
  async 'kill-worker'(stack) {
    await stop(stack.worker, 'SIGKILL');
    stack.worker = run('src/jobs/main.ts', stack.env);
  },
  async 'restart-redis'(stack) {
    const port = stack.redis.port;
    await stack.redis.stop();
    await sleep(2000);
    stack.redis = await startRedisServer({ dir: path.join(stack.dataDir, 'redis'), port });
  },
  async 'restart-api'(stack) {
    await stop(stack.api, 'SIGKILL');
    stack.api = run('src/api/main.ts', stack.env);
  },
};

/** A process and all its descendants, from /proc: pid -> [command name, CPU ticks used]. */
function processTree(root: number): Map<number, [string, number]> {
  const all = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ... utime(14) stime(15): comm may hold spaces, so split after its ')'.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.set(Number(entry), { ppid: Number(fields[1]), comm, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended while we looked.
    }
  }
  const tree = new Map<number, [string, number]>();
  const visit = (pid: number) => {
    const p = all.get(pid);
    if (!p || tree.has(pid)) return;
    tree.set(pid, [p.comm, p.ticks]);
    for (const [child, c] of all) if (c.ppid === pid) visit(child);
  };
  visit(root);
  return tree;
}

/**
 * Seconds from DELETE until the job has stopped: its files are gone, no
 * ffmpeg runs under the worker, and the worker's processes used under 5% of
 * a core over the last 400 ms (CPU ticks are 10 ms, so 2 ticks).
 */
async function cancelAndTimeStop(stack: Stack, id: string): Promise<number> {
  const jobDir = path.join(stack.dataDir, 'jobs', id);
  const ticks = () => [...processTree(stack.worker.pid!).values()].reduce((sum, [, t]) => sum + t, 0);
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${stack.port}/v1/jobs/${id}`, { method: 'DELETE' });
  if (response.status !== 200) throw new Error(`DELETE answered ${response.status}`);
  const samples: { at: number; ticks: number }[] = [];
  while (performance.now() - started < 15_000) {
    const now = performance.now();
    samples.push({ at: now, ticks: ticks() });
    const window = samples.find((s) => now - s.at <= 400)!;
    const quiet = now - samples[0].at >= 400 && samples.at(-1)!.ticks - window.ticks <= 2;
    const ffmpeg = [...processTree(stack.worker.pid!).values()].some(([comm]) => comm.startsWith('ffmpeg'));
    // The stop is when the quiet window began.
    if (quiet && !ffmpeg && !existsSync(jobDir)) return (window.at - started) / 1000;
    await sleep(50);
  }
  throw new Error('the job had not stopped 15 s after DELETE');
}

let failures = 0;
try {
  const reference = await (async () => {
    if (scenarios.every((s) => s === 'cancel')) return undefined; // nothing to compare with
    const stack = await startStack();
    try {
      const started = performance.now();
      const masks = await finish(stack, await submit(stack));
      console.log(`undisturbed: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return masks;
    } finally {
      await stopStack(stack);
    }
  })();

  for (const scenario of scenarios) {
    if (scenario === 'cancel') {
      const stack = await startStack();
      try {
        const id = await submit(stack);
        await trackedFrames(stack, id, 6);
        const seconds = await cancelAndTimeStop(stack, id);
        const state = (await getJson(`http://127.0.0.1:${stack.port}/v1/jobs/${id}`)).state;
        const pass = seconds <= 2 && state === 'cancelled';
        if (!pass) failures++;
        console.log(`cancel: ${pass ? 'PASS' : 'FAIL'} stopped ${seconds.toFixed(2)} s after DELETE (files gone, no ffmpeg, worker idle); state ${state}`);
      } catch (error) {
        failures++;
        console.log(`cancel: FAIL ${(error as Error).message}`);
      } finally {
        await stopStack(stack);
      }
      continue;
    }
    const act = disturb[scenario];
    if (!act) throw new Error(`unknown scenario ${scenario}: ${Object.keys(disturb).join(', ')}`);
    const stack = await startStack();
    try {
      const id = await submit(stack);
      await trackedFrames(stack, id, 6);
      const disturbed = performance.now();
      await act(stack);
      const masks = await finish(stack, id);
      const seconds = ((performance.now() - disturbed) / 1000).toFixed(1);
      const same = masks === reference;
      if (!same) failures++;
      console.log(`${scenario}: ${same ? 'PASS' : 'FAIL'} succeeded ${seconds} s after the fault; masks ${same ? 'identical to' : 'DIFFERENT from'} the undisturbed run`);
    } catch (error) {
      failures++;
      console.log(`${scenario}: FAIL ${(error as Error).message}`);
    } finally {
      await stopStack(stack);
    }
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
