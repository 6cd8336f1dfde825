/**
 * Load on the API while inference runs, with real processes (a private
 * redis-server, `npm run api` and `npm run worker`):
 *
 *   npm run bench:load [-- --submissions 50 --max-queued 20 --rate 200 --seconds 60]
 *
 * Fires `submissions` uploads of a small generated clip at once, then polls
 * job statuses at `rate` requests per second for `seconds`. Checks: every
 * submission is accepted (202) or refused with 429 + Retry-After once
 * MAX_QUEUED_JOBS wait; every accepted job ends succeeded; status latency
 * percentiles; the API process's resident memory over the run (from its
 * /metrics). Exits 1 if a check fails.
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startRedisServer } from '../src/jobs/redis-server.js';
import { makeMovingShapeClip } from '../tests/helpers/synthetic.js';
import { startScript, stopProcess } from './processes.js';
import { percentile } from './metrics.js';

const { values } = parseArgs({
  options: {
    submissions: { type: 'string', default: '50' },
    'max-queued': { type: 'string', default: '20' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '60' },
  },
});
const submissions = Number(values.submissions);
const maxQueued = Number(values['max-queued']);
const rate = Number(values.rate);
const seconds = Number(values.seconds);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const root = await mkdtemp(path.join(tmpdir(), 'clipmask-load-'));
const clip = await makeMovingShapeClip(root, { width: 96, height: 72, frames: 4, fps: 4 });
const [x, y] = clip.center(0).map(Math.round);
const prompts = JSON.stringify({ objects: [{ id: 1, prompts: [{ frame: 0, points: [[x, y, 1]] }] }] });

const redis = await startRedisServer({ dir: path.join(root, 'redis'), persist: false });
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const env = {
  ...process.env,
  REDIS_URL: redis.url,
  DATA_DIR: path.join(root, 'data'),
  PORT: String(port),
  LOG_LEVEL: 'warn',
  MAX_QUEUED_JOBS: String(maxQueued),
  RATE_LIMIT_PER_MINUTE: '1000000',
};
const api = startScript('src/api/main.ts', env);
const worker = startScript('src/jobs/main.ts', env);

async function apiRssMb(): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('clipmask_process_resident_memory_bytes '));
  return Number(line?.split(' ')[1] ?? NaN) / 2 ** 20;
}

let failed = false;
const check = (ok: boolean, line: string) => {
  if (!ok) failed = true;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${line}`);
};

try {
  while ((await fetch(`${base}/readyz`).then((r) => r.status).catch(() => 0)) !== 200) await sleep(250);
  const rss: number[] = [await apiRssMb()];

  // All at once.
  const answers = await Promise.all(
    Array.from({ length: submissions }, async () => {
      const form = new FormData();
      form.append('video', await openAsBlob(clip.path), 'clip.mp4');
      form.append('prompts', prompts);
      const response = await fetch(`${base}/v1/jobs`, { method: 'POST', body: form });
      const body = (await response.json()) as { id?: string };
      return { status: response.status, retryAfter: response.headers.get('retry-after'), id: body.id };
    }),
  );
  const accepted = answers.filter((a) => a.status === 202).map((a) => a.id!);
  const refused = answers.filter((a) => a.status === 429);
  check(accepted.length + refused.length === submissions, `${submissions} submissions: ${accepted.length} accepted (202), ${refused.length} refused (429), ${submissions - accepted.length - refused.length} other`);
  check(refused.every((r) => Number(r.retryAfter) > 0), 'every 429 carries Retry-After');
  check(accepted.length >= maxQueued, `at least MAX_QUEUED_JOBS (${maxQueued}) accepted`);

  // The poll loop, while the worker runs the jobs.
  const latencies: number[] = [];
  const errors: number[] = [];
  const started = Date.now();
  const memory = setInterval(() => void apiRssMb().then((mb) => rss.push(mb)), 5000);
  let i = 0;
  while (Date.now() - started < seconds * 1000) {
    const due = started + (i * 1000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    const id = accepted[i++ % accepted.length];
    const t0 = performance.now();
    void fetch(`${base}/v1/jobs/${id}`)
      .then(async (r) => {
        await r.arrayBuffer();
        if (r.status !== 200) errors.push(r.status);
        latencies.push(performance.now() - t0);
      })
      .catch(() => errors.push(0));
  }
  clearInterval(memory);
  await sleep(1000);
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50).toFixed(1);
  const p99 = percentile(latencies, 99);
  check(errors.length === 0, `${latencies.length} status requests in ${seconds} s (${(latencies.length / seconds).toFixed(0)}/s), ${errors.length} errors`);
  check(p99 < 50, `status latency p50 ${p50} ms, p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (target p99 < 50 ms)`);

  // Every accepted job completes.
  const waitStart = Date.now();
  let states: string[] = [];
  for (;;) {
    states = await Promise.all(accepted.map(async (id) => ((await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { state: string }).state));
    if (states.every((s) => s !== 'queued' && s !== 'running')) break;
    if (Date.now() - waitStart > 1800_000) break;
    await sleep(2000);
  }
  rss.push(await apiRssMb());
  const succeeded = states.filter((s) => s === 'succeeded').length;
  check(succeeded === accepted.length, `${succeeded} of ${accepted.length} accepted jobs succeeded (${states.filter((s) => s !== 'succeeded').join(', ') || 'no others'})`);
  const growth = rss.at(-1)! - rss[0];
  check(growth < 50, `API resident memory: start ${rss[0].toFixed(0)} MB, peak ${Math.max(...rss).toFixed(0)} MB, end ${rss.at(-1)!.toFixed(0)} MB`);
} finally {
  await Promise.all([stopProcess(api), stopProcess(worker)]);
  await redis.stop();
  await rm(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
