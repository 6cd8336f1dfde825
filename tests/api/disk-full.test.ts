/**
 * DATA_DIR on a full disk (a small tmpfs; needs root to mount it, so the
 * file is skipped elsewhere): a job that cannot write fails with a plain
 * disk_full error and leaves nothing behind, while an earlier job's
 * artifacts stay intact and downloadable, and the service stays healthy.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/service.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { startTestRedis, type RedisServer } from '../helpers/redis.js';
import { filesUnder, getJson, onePointPrompts, pollJob, submission, untilReady } from '../helpers/service.js';

function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = path.join(tmpdir(), `clipmask-mount-probe-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', probe]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  } finally {
    execFileSync('rm', ['-rf', probe]);
  }
}

const mountable = canMountTmpfs();
let root: string;
let dataDir: string;
let clip: SyntheticClip;
let redis: RedisServer;
let service: Service;
let baseUrl: string;

beforeAll(async () => {
  if (!mountable) return;
  root = await mkdtemp(path.join(tmpdir(), 'clipmask-diskfull-'));
  dataDir = path.join(root, 'data');
  execFileSync('mkdir', ['-p', dataDir]);
  // Room for a small job (an embedding is 2 MB while in use), not much more.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dataDir]);
  [clip, redis] = await Promise.all([makeMovingShapeClip(root, { width: 96, height: 72, frames: 3, fps: 3 }), startTestRedis()]);
  service = await startService('all', {
    env: { ...process.env, REDIS_URL: redis.url, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', JOB_ATTEMPTS: '1' },
  });
  baseUrl = `http://127.0.0.1:${(service.server!.address() as { port: number }).port}`;
  expect(await untilReady(baseUrl)).toBe(true);
});

afterAll(async () => {
  if (!mountable) return;
  await service?.stop();
  await redis?.stop();
  try {
    execFileSync('umount', [dataDir]);
  } catch {
    // already gone
  }
  await rm(root, { recursive: true, force: true });
});

async function submit(): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, onePointPrompts(...clip.center(0))) });
  expect(response.status).toBe(202);
  return (await response.json()).id;
}

describe.runIf(mountable)('a full disk', () => {
  it('fails the job that cannot write, cleanly, and keeps earlier artifacts', async () => {
    const first = await submit();
    const done = await pollJob(baseUrl, first, (j) => j.state === 'succeeded' || j.state === 'failed');
    expect(done.state).toBe('succeeded');
    const masksBefore = await (await fetch(baseUrl + done.artifacts.masks)).text();

    // Fill the disk, leaving less than one embedding's worth of space.
    const { bavail, bsize } = await import('node:fs/promises').then((fs) => fs.statfs(dataDir));
    const filler = path.join(dataDir, 'filler');
    await writeFile(filler, Buffer.alloc(Math.max(0, bavail * bsize - 512 * 1024)));

    const second = await submit();
    const failed = await pollJob(baseUrl, second, (j) => j.state === 'succeeded' || j.state === 'failed');
    expect(failed.state).toBe('failed');
    expect(failed.error).toEqual({ code: 'disk_full', message: 'the server ran out of disk space while processing the job' });
    const left = await filesUnder(dataDir);
    expect(left.filter((f) => f.includes(second))).toEqual([]);

    // The earlier job is untouched and the service still answers.
    expect(await (await fetch(baseUrl + done.artifacts.masks)).text()).toBe(masksBefore);
    expect((await fetch(baseUrl + done.artifacts.overlay)).status).toBe(200);
    expect((await getJson(`${baseUrl}/healthz`)).status).toBe(200);
    await rm(filler);
    expect((await stat(dataDir)).isDirectory()).toBe(true);
  });
});
