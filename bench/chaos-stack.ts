/**
 * The pieces of `npm run chaos`: a private redis-server (AOF on), the API and
 * a worker as separate OS processes, submissions of one clip, and a look at
 * the processes under the worker (/proc).
 */
import type { ChildProcess } from 'node:child_process';
import { openAsBlob, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, startRedisServer, type RedisServer } from '../src/jobs/redis-server.js';
import { startScript as run, stopProcess as stop } from './processes.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Stack {
  redis: RedisServer;
  dataDir: string;
  port: number;
  api: ChildProcess;
  worker: ChildProcess;
  env: NodeJS.ProcessEnv;
}

/** What every scenario submits: the same clip with the same click. */
export interface Submission {
  video: string;
  prompts: unknown;
}

/** A GET's JSON; throws on an error answer (waitFor then asks again). */
export async function getJson(url: string): Promise<any> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return response.json();
}

export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function startStack(root: string): Promise<Stack> {
  const dataDir = path.join(root, `data-${Date.now()}`);
  const redis = await startRedisServer({ dir: path.join(dataDir, 'redis') });
  const port = await freePort();
  // The scenarios poll several jobs several times a second: the rate limit is not what they test.
  const env = { ...process.env, REDIS_URL: redis.url, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', EMBED_CHUNK_FRAMES: '4', RATE_LIMIT_PER_MINUTE: '1000000' };
  const stack = { redis, dataDir, port, env, api: run('src/api/main.ts', env), worker: run('src/jobs/main.ts', env) };
  await waitFor('the service to be ready', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), 120_000);
  return stack;
}

export async function stopStack(stack: Stack): Promise<void> {
  await Promise.all([stop(stack.api), stop(stack.worker)]);
  await stack.redis.stop();
}

/** POST /v1/jobs with the clip and prompts; the answer as it came. */
export async function post(stack: Stack, submission: Submission): Promise<Response> {
  const form = new FormData();
  form.append('video', await openAsBlob(submission.video), 'clip.mp4');
  form.append('prompts', JSON.stringify(submission.prompts));
  return fetch(`http://127.0.0.1:${stack.port}/v1/jobs`, { method: 'POST', body: form });
}

export async function submit(stack: Stack, submission: Submission): Promise<string> {
  const response = await post(stack, submission);
  if (response.status !== 202) throw new Error(`submission refused: ${response.status}`);
  return ((await response.json()) as { id: string }).id;
}

/** Waits for the job's end; its masks.json as text (throws unless it succeeded). */
export async function finish(stack: Stack, id: string): Promise<string> {
  const job = await ended(stack, id);
  if (job.state !== 'succeeded') throw new Error(`job ${job.state}: ${JSON.stringify(job.error)}`);
  return masksOf(stack, job);
}

/** masks.json of a succeeded job, as text. */
export async function masksOf(stack: Stack, job: { artifacts: { masks: string } }): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${stack.port}${job.artifacts.masks}`);
  if (!response.ok) throw new Error(`masks.json answered ${response.status}`);
  return response.text();
}

/** The job's status once it is neither queued nor running. */
export async function ended(stack: Stack, id: string, timeoutMs = 300_000): Promise<any> {
  return waitFor('the job to end', async () => {
    const j = await getJson(`http://127.0.0.1:${stack.port}/v1/jobs/${id}`);
    return j.state === 'queued' || j.state === 'running' ? undefined : j;
  }, timeoutMs);
}

export async function trackedFrames(stack: Stack, id: string, frames: number): Promise<void> {
  await waitFor(`${frames} frames tracked`, async () => {
    const j = await getJson(`http://127.0.0.1:${stack.port}/v1/jobs/${id}`);
    return j.progress?.framesDone >= frames ? true : undefined;
  }, 120_000);
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Process group. */
  pgrp: number;
  comm: string;
  /** R, S, D, Z (zombie), ... */
  state: string;
  /** CPU ticks used (user + system). */
  ticks: number;
}

/** Every process on the machine, from /proc/<pid>/stat. */
export function processTable(): Map<number, ProcessInfo> {
  const all = new Map<number, ProcessInfo>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ... utime(14) stime(15): comm may hold spaces, so split after its ')'.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.set(Number(entry), { pid: Number(entry), state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]), comm, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended while we looked.
    }
  }
  return all;
}

/** A process and all its descendants. */
export function processTree(root: number, all = processTable()): Map<number, ProcessInfo> {
  const tree = new Map<number, ProcessInfo>();
  const visit = (pid: number) => {
    const p = all.get(pid);
    if (!p || tree.has(pid)) return;
    tree.set(pid, p);
    for (const [child, c] of all) if (c.ppid === pid) visit(child);
  };
  visit(root);
  return tree;
}

/** A process's command line, arguments joined by spaces ('' once it has ended, or for a zombie). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The worker's inference child(ren): its node children running inference-child.ts. */
export function inferenceChildren(stack: Stack): number[] {
  return [...processTree(stack.worker.pid!).values()]
    .filter((p) => p.ppid === stack.worker.pid && p.state !== 'Z' && commandLine(p.pid).includes('inference-child.ts'))
    .map((p) => p.pid);
}
