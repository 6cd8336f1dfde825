/**
 * Slow and hostile clients against the service (a private redis-server, the
 * API and a worker as separate processes): while an ordinary client submits a
 * job and polls its status ten times a second, 500 hostile clients hold the
 * API up from ten other addresses (any 127/8 address is this machine):
 *
 *   slowloris   headers sent one byte a second, reconnecting when cut off
 *   stalled     an upload that sends 64 KB, then nothing
 *   idle        a connection that sends nothing
 *
 * and one more address opens 1,000 connections at once (the per-address cap),
 * each coming back 100 ms after it is cut off.
 * First the same polling without them, as the baseline. Reports the status
 * latency (p50, p99, max) of both phases, whether the job succeeded, and how
 * many hostile connections the server cut off and after how long.
 *
 *   npm run bench:slow-clients [-- --seconds 30 --hostile 500]
 *
 * Target: status p99 under 100 ms with the hostile clients. Last line:
 * `baseline_p99_ms=.. hostile_p99_ms=.. job=.. cut=..`.
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startRedisServer } from '../src/jobs/redis-server.js';
import { makeMovingShapeClip } from '../tests/helpers/synthetic.js';
import { percentile } from './metrics.js';
import { startScript, stopProcess } from './processes.js';

const TARGET_P99_MS = 100;
const HOSTILE_ADDRESSES = 10;
const FLOOD_CONNECTIONS = 1000;

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, hostile: { type: 'string', default: '500' } } });
const seconds = Number(values.seconds);
const hostileCount = Number(values.hostile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const root = await mkdtemp(path.join(tmpdir(), 'clipmask-slow-clients-'));
const clip = await makeMovingShapeClip(root, { width: 160, height: 120, frames: 48, fps: 8 });
const [x, y] = clip.center(0).map(Math.round);
const prompts = { objects: [{ id: 1, prompts: [{ frame: 0, points: [[x, y, 1]] }] }] };
const dataDir = path.join(root, 'data');
const redis = await startRedisServer({ dir: path.join(dataDir, 'redis') });
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
// The default limits, but for the rate limit: the ordinary client's polls alone are its 600 a minute.
const env = { ...process.env, REDIS_URL: redis.url, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '100000' };
const api = startScript('src/api/main.ts', env);
const worker = startScript('src/jobs/main.ts', env);

type Kind = 'slowloris' | 'stalled' | 'idle' | 'flood';
/** Hostile connections the server cut off, by kind: how long each had lived (ms). */
const cuts: Record<Kind, number[]> = { slowloris: [], stalled: [], idle: [], flood: [] };
const sockets: Socket[] = [];
let stopping = false;

function hostile(kind: Kind, from: string): void {
  if (stopping) return;
  const started = Date.now();
  const socket: Socket = connect({ host: '127.0.0.1', port, localAddress: from });
  let timer: NodeJS.Timeout | undefined;
  socket.on('error', () => undefined);
  socket.on('connect', () => {
    if (kind === 'slowloris') {
      socket.write('GET /v1/jobs HTTP/1.1\r\nHost: x\r\n');
      timer = setInterval(() => socket.write('a'), 1000);
    } else if (kind === 'stalled') {
      const head = 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n';
      socket.write(head + '--b\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n\r\n');
      socket.write(Buffer.alloc(64 * 1024, 1));
    }
  });
  socket.on('close', () => {
    clearInterval(timer);
    if (stopping) return;
    cuts[kind].push(Date.now() - started);
    setTimeout(() => hostile(kind, from), 100); // an attacker comes back
  });
  sockets.push(socket);
}

async function statusLatencies(id: string, forSeconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = Date.now() + forSeconds * 1000;
  while (Date.now() < end) {
    const started = performance.now();
    const response = await fetch(`${base}/v1/jobs/${id}`);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`status answered ${response.status}`);
    latencies.push(performance.now() - started);
    await sleep(100);
  }
  return latencies.sort((a, b) => a - b);
}

async function submit(): Promise<string> {
  const form = new FormData();
  form.append('video', await openAsBlob(clip.path), 'clip.mp4');
  form.append('prompts', JSON.stringify(prompts));
  const response = await fetch(`${base}/v1/jobs`, { method: 'POST', body: form });
  if (response.status !== 202) throw new Error(`submission refused: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

const summary = (l: number[]) => `p50 ${percentile(l, 50).toFixed(1)} ms, p99 ${percentile(l, 99).toFixed(1)} ms, max ${l.at(-1)!.toFixed(1)} ms over ${l.length} polls`;

try {
  while ((await fetch(`${base}/readyz`).then((r) => r.status).catch(() => 0)) !== 200) await sleep(250);
  const first = await submit();
  const baseline = await statusLatencies(first, seconds);
  console.log(`baseline (no hostile clients): ${summary(baseline)}`);

  const kinds = ['slowloris', 'stalled', 'idle'] as const;
  for (let i = 0; i < hostileCount; i++) hostile(kinds[i % 3], `127.0.0.${2 + (i % HOSTILE_ADDRESSES)}`);
  for (let i = 0; i < FLOOD_CONNECTIONS; i++) hostile('flood', `127.0.0.${2 + HOSTILE_ADDRESSES}`);
  await sleep(2000);
  // The ordinary client submits and polls while the hostile ones press on.
  const id = await submit();
  const underAttack = await statusLatencies(id, seconds);
  console.log(`with ${hostileCount} hostile clients + ${FLOOD_CONNECTIONS} from one address: ${summary(underAttack)}`);
  let job: any;
  do {
    job = await (await fetch(`${base}/v1/jobs/${id}`)).json();
    if (job.state === 'queued' || job.state === 'running') await sleep(500);
  } while (job.state === 'queued' || job.state === 'running');
  console.log(`job ${job.state}; hostile connections the server cut off, and how long they had lived:`);
  for (const [kind, lives] of Object.entries(cuts)) {
    const sorted = [...lives].sort((a, b) => a - b);
    console.log(`  ${kind.padEnd(9)} ${String(sorted.length).padStart(7)} cut, median life ${(percentile(sorted, 50) ?? 0).toFixed(0)} ms, max ${(sorted.at(-1) ?? 0).toFixed(0)} ms`);
  }
  const cut = Object.values(cuts).reduce((n, lives) => n + lives.length, 0);
  const p99 = percentile(underAttack, 99);
  console.log(`${p99 < TARGET_P99_MS && job.state === 'succeeded' ? 'met' : 'NOT met'}: status p99 ${p99.toFixed(1)} ms under attack vs the target of ${TARGET_P99_MS} ms`);
  console.log(`baseline_p99_ms=${percentile(baseline, 99).toFixed(1)} hostile_p99_ms=${p99.toFixed(1)} job=${job.state} cut=${cut}`);
} finally {
  stopping = true;
  for (const socket of sockets) socket.destroy();
  await Promise.all([stopProcess(api), stopProcess(worker)]);
  await redis.stop();
  await rm(root, { recursive: true, force: true });
}
