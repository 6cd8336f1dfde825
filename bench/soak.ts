/**
 * A soak: steady work for a long time through the API and one worker (a
 * private redis-server, the API and the worker as separate processes), to
 * see that nothing grows. Jobs are submitted steadily (one waiting at most)
 * with a mix: most succeed and are kept, some are cancelled while they run,
 * some deleted once done, some are bad input (refused with a 4xx).
 *
 *   npm run soak [-- --minutes 60]
 *
 * Every 15 s it samples the resident memory of the API, the worker and the
 * inference child, their open file descriptors, and the files in DATA_DIR.
 * Reported: jobs by outcome, each process's RSS at the start and the end and
 * the slope of a line fitted through its samples (per hour, and as a share
 * of its starting RSS), descriptors at the start and the end, and the files
 * left in DATA_DIR once every job is deleted (retention does the same after
 * RETENTION_HOURS). Targets: slopes under 5 % of the starting RSS per hour,
 * descriptors flat, no file left. Last line:
 * `jobs=.. api_slope=..%/h worker_slope=..%/h child_slope=..%/h fds=..->.. files_left=..`.
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startRedisServer } from '../src/jobs/redis-server.js';
import { makeMovingShapeClip } from '../tests/helpers/synthetic.js';
import { childPids, startScript, stopProcess } from './processes.js';

const TARGET_SLOPE_SHARE = 0.05;
const SAMPLE_EVERY_MS = 15_000;
/** Samples of the first minutes are the warm-up (the model loading, caches filling), not growth. */
const WARM_UP_MS = 120_000;

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '60' } } });
const minutes = Number(values.minutes);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const root = await mkdtemp(path.join(tmpdir(), 'clipmask-soak-'));
const clip = await makeMovingShapeClip(root, { width: 160, height: 120, frames: 16, fps: 8, audio: true });
const [x, y] = clip.center(0).map(Math.round);
const prompts = { objects: [{ id: 1, prompts: [{ frame: 0, points: [[x, y, 1]] }] }] };
const broken = path.join(root, 'broken.mp4');
await writeFile(broken, (await readFile(clip.path)).subarray(0, 2000));
const dataDir = path.join(root, 'data');
const redis = await startRedisServer({ dir: path.join(dataDir, 'redis') });
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
// Retention at 6 minutes: its sweep (every 15 minutes) deletes the kept jobs during the soak, as in production.
const env = { ...process.env, REDIS_URL: redis.url, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '100000', RETENTION_HOURS: '0.1' };
const api = startScript('src/api/main.ts', env);
const worker = startScript('src/jobs/main.ts', env);

type Outcome = 'succeeded' | 'failed' | 'cancelled' | 'deleted' | 'refused';
const outcomes: Record<Outcome, number> = { succeeded: 0, failed: 0, cancelled: 0, deleted: 0, refused: 0 };

interface Sample {
  t: number;
  rss: { api: number; worker: number; child: number };
  fds: number;
  files: number;
}
const samples: Sample[] = [];

async function rssOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) * 1024;
}

async function fdsOf(pid: number | undefined): Promise<number> {
  return pid === undefined ? 0 : (await readdir(`/proc/${pid}/fd`).catch(() => [])).length;
}

async function filesIn(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && !path.relative(dir, e.parentPath).startsWith('redis')).length;
}

/** The inference child: the worker's child process that is node (ffmpeg children come and go). */
async function inferenceChild(): Promise<number | undefined> {
  for (const pid of await childPids(worker.pid!)) {
    if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('inference-child')) return pid;
  }
  return undefined;
}

async function sample(started: number): Promise<void> {
  const child = await inferenceChild();
  samples.push({
    t: Date.now() - started,
    rss: { api: await rssOf(api.pid), worker: await rssOf(worker.pid), child: await rssOf(child) },
    fds: (await fdsOf(api.pid)) + (await fdsOf(worker.pid)) + (await fdsOf(child)),
    files: await filesIn(dataDir),
  });
}

async function submit(video: string, body: unknown): Promise<{ status: number; id?: string }> {
  const form = new FormData();
  form.append('video', await openAsBlob(video), 'clip.mp4');
  form.append('prompts', JSON.stringify(body));
  const response = await fetch(`${base}/v1/jobs`, { method: 'POST', body: form });
  const answer = (await response.json()) as { id?: string };
  return { status: response.status, id: answer.id };
}

async function state(id: string): Promise<string> {
  return ((await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { state: string }).state;
}

async function until(id: string, done: (s: string) => boolean): Promise<string> {
  for (;;) {
    const s = await state(id);
    if (done(s)) return s;
    await sleep(250);
  }
}

/** One job of the mix, by its number: every 10th bad input, every 10th cancelled, every 10th deleted. */
async function oneJob(n: number, ids: string[]): Promise<void> {
  if (n % 10 === 3) {
    const bad = n % 20 === 3 ? await submit(broken, prompts) : await submit(clip.path, { objects: [{ id: 1, prompts: [{ frame: 99, points: [[x, y, 1]] }] }] });
    if (bad.status >= 400 && bad.status < 500) outcomes.refused += 1;
    else throw new Error(`bad input answered ${bad.status}`);
    return;
  }
  const { status, id } = await submit(clip.path, prompts);
  if (status !== 202 || !id) throw new Error(`submission answered ${status}`);
  if (n % 10 === 6) {
    await until(id, (s) => s !== 'queued');
    await fetch(`${base}/v1/jobs/${id}`, { method: 'DELETE' });
    outcomes.cancelled += 1;
    return;
  }
  const end = await until(id, (s) => s !== 'queued' && s !== 'running');
  if (end !== 'succeeded' && end !== 'failed') throw new Error(`job ended ${end}`);
  outcomes[end] += 1;
  if (n % 10 === 9) {
    await fetch(`${base}/v1/jobs/${id}`, { method: 'DELETE' });
    outcomes.deleted += 1;
  } else ids.push(id);
}

/** Least-squares slope of y over t (ms) in units per hour. */
function slopePerHour(points: { t: number; y: number }[]): number {
  const n = points.length;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.t - mt) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.t - mt) ** 2, 0);
  return den > 0 ? (num / den) * 3_600_000 : 0;
}

const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MB`;

function report(): string[] {
  const steady = samples.filter((s) => s.t >= WARM_UP_MS);
  const lines: string[] = [];
  const shares: Record<string, number> = {};
  for (const name of ['api', 'worker', 'child'] as const) {
    const points = steady.map((s) => ({ t: s.t, y: s.rss[name] })).filter((p) => Number.isFinite(p.y));
    const slope = slopePerHour(points);
    shares[name] = slope / points[0].y;
    lines.push(`${name.padEnd(7)} rss ${mb(points[0].y)} -> ${mb(points.at(-1)!.y)}, slope ${mb(slope)}/h = ${(100 * shares[name]).toFixed(2)} % of the start per hour`);
  }
  const fds = `${steady[0].fds}->${steady.at(-1)!.fds}`;
  lines.push(`open descriptors (three processes) ${fds}; files in DATA_DIR (jobs kept) ${steady[0].files} -> ${steady.at(-1)!.files}`);
  const jobs = Object.values(outcomes).reduce((a, b) => a + b, 0);
  lines.push(`jobs ${jobs}: ${Object.entries(outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const pct = (name: string) => `${(100 * shares[name]).toFixed(2)}%/h`;
  lines.push(`jobs=${jobs} api_slope=${pct('api')} worker_slope=${pct('worker')} child_slope=${pct('child')} fds=${fds}`);
  return lines;
}

let failure: unknown;
try {
  while ((await fetch(`${base}/readyz`).then((r) => r.status).catch(() => 0)) !== 200) await sleep(250);
  const started = Date.now();
  const sampler = setInterval(() => void sample(started), SAMPLE_EVERY_MS);
  await sample(started);
  const ids: string[] = [];
  for (let n = 0; Date.now() - started < minutes * 60_000; n++) await oneJob(n, ids);
  clearInterval(sampler);
  await sample(started);
  const lines = report();
  // What retention has not removed yet (a swept job answers 404).
  for (const id of ids) await fetch(`${base}/v1/jobs/${id}`, { method: 'DELETE' });
  await sleep(5000); // a worker's copy of an input goes within seconds of its job's end
  const left = await filesIn(dataDir);
  const [last] = lines.splice(-1);
  for (const line of lines) console.log(line);
  const shares = [...last.matchAll(/_slope=(-?[\d.]+)%/g)].map((m) => Number(m[1]) / 100);
  const met = shares.every((s) => s < TARGET_SLOPE_SHARE) && left === 0;
  console.log(`${met ? 'met' : 'NOT met'}: slopes under ${100 * TARGET_SLOPE_SHARE} % of the starting RSS per hour, no file left (${left} left after deleting every job)`);
  console.log(`${last} files_left=${left}`);
} catch (error) {
  failure = error;
} finally {
  await Promise.all([stopProcess(api), stopProcess(worker)]);
  await redis.stop();
  await rm(root, { recursive: true, force: true });
}
if (failure) {
  console.error(`soak stopped: ${(failure as Error).message}`);
  process.exitCode = 1;
}
