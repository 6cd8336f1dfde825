/**
 * The service as the tests run it: its own redis-server, a temporary
 * DATA_DIR, port 0, silent logs; `fetch`-based helpers for the API.
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startService, type Role, type Service } from '../../src/service.js';
import { startTestRedis, type RedisServer } from './redis.js';

export interface TestService {
  baseUrl: string;
  dataDir: string;
  redis: RedisServer;
  service: Service;
  stop(): Promise<void>;
}

export async function startTestService(role: Role, env: Record<string, string> = {}): Promise<TestService> {
  const redis = await startTestRedis();
  // Under a dot-directory on purpose: serving files from there must still work (like ~/.local/share/...).
  const dataDir = await mkdtemp(path.join(tmpdir(), '.clipmask-api-'));
  let service: Service;
  try {
    service = await startService(role, {
      env: { ...process.env, REDIS_URL: redis.url, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env },
    });
  } catch (error) {
    await redis.stop();
    throw error;
  }
  const port = (service.server!.address() as { port: number }).port;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    redis,
    service,
    async stop() {
      await service.stop();
      await redis.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A multipart body: the video as a file part, the prompts as a text field (or raw text). */
export async function submission(video: string | undefined, prompts: unknown, options: { videoField?: string } = {}): Promise<FormData> {
  const form = new FormData();
  if (video) form.append(options.videoField ?? 'video', await openAsBlob(video), path.basename(video));
  if (prompts !== undefined) form.append('prompts', typeof prompts === 'string' ? prompts : JSON.stringify(prompts));
  return form;
}

export function onePointPrompts(x: number, y: number, frame = 0) {
  return { objects: [{ id: 1, name: 'thing', prompts: [{ frame, points: [[Math.round(x), Math.round(y), 1]] }] }] };
}

/** Files anywhere under `dir` (relative paths), for "nothing left on disk" checks. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

/** Polls GET statusUrl until `done(body)` or the time runs out (then returns the last body). */
export async function pollJob(baseUrl: string, id: string, done: (job: any) => boolean, timeoutMs = 90_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let job: any;
  while (Date.now() < deadline) {
    job = (await getJson(`${baseUrl}/v1/jobs/${id}`)).body;
    if (done(job)) return job;
    await new Promise((r) => setTimeout(r, 250));
  }
  return job;
}

/** Waits until the service's /readyz answers 200 (a worker has its model loaded); false after a minute. */
export function untilReady(baseUrl: string): Promise<boolean> {
  return eventually(async () => (await fetch(`${baseUrl}/readyz`)).status === 200, 60_000, 250);
}

/** Waits until `check()` is true (polling), or the time runs out; returns the last result. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return check();
}
