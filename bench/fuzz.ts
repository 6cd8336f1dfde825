/**
 * Fuzzed uploads, prompts and requests against the whole service.
 *
 *   npm run fuzz [-- --seed N] [--cases N] [--concurrency N] [--only I,J,...] [--keep]
 *
 * Starts its own service as separate OS processes (a private redis-server,
 * `npm run api`, `npm run worker`, a temporary DATA_DIR), makes tiny clips with
 * ffmpeg (mp4/H.264, WebM/VP9, MKV, MOV, AVI/MJPEG, GIF; 64x48, 3-6 frames,
 * some with audio), then runs `--cases` cases, each made from (seed, index)
 * alone (bench/fuzz-cases.ts), `--concurrency` at a time:
 *
 *   video      a clip mutated (bit flips, truncation, garbage appended, boxes /
 *              EBML elements / RIFF chunks swapped, duplicated, dropped,
 *              resized, renamed; header fields such as table counts and
 *              picture sizes) submitted with good prompts
 *   prompts    a good clip with mutated prompts JSON
 *   multipart  a good submission with its multipart body or headers wrong
 *   preview    a (mutated) clip as a preview upload, then its frames and
 *              masks with bad requests, then its DELETE
 *   other      junk ids, queries and methods on the other endpoints
 *
 * A job that is accepted is followed to its end; some are cancelled midway,
 * some get mutated corrections, renders, frame, masks and artifact requests
 * once they have succeeded. Then the job is deleted.
 *
 * What must hold for every case (each broken one is printed with its index,
 * to replay it with --seed S --only I):
 *   - every answer is a 2xx, or a 4xx with {error: {code, message}} that
 *     shows no server path; never a 5xx, never no answer;
 *   - an accepted job ends within STUCK_MS (succeeded, cancelled, or failed
 *     with a code other than `internal`; a failure the input caused is not
 *     retried: attempts stays 1);
 *   - the API, the worker and their inference children neither exit nor
 *     restart;
 *   - after its DELETE nothing of the job is left under DATA_DIR/jobs/<id>
 *     (nor of a preview under DATA_DIR/previews/<id>), and no upload is left
 *     in DATA_DIR/uploads (checked whenever no upload is in flight: at least
 *     every UPLOAD_WINDOW uploads, exact with --concurrency 1);
 *   - at the end DATA_DIR holds no file at all.
 *
 * Last line: cases=N ok=N 5xx=N crashes=N stuck=N leftovers=N; exit 1 if any case broke something.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { resolveFfmpeg } from '../src/media/binaries.js';
import { freePort, startRedisServer, type RedisServer } from '../src/jobs/redis-server.js';
import {
  caseSeed,
  goodPrompts,
  jsonRequest,
  makeClips,
  multipartRequest,
  mutateJson,
  mutateMultipart,
  mutateVideo,
  Rng,
  submissionParts,
  type BaseClip,
  type RawRequest,
} from './fuzz-cases.js';
import { childPids } from './processes.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    cases: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '6' },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const seed = Number(values.seed);
const caseCount = Number(values.cases);
const only = values.only?.split(',').map(Number);
const concurrency = only ? 1 : Number(values.concurrency);
if (![seed, caseCount, concurrency].every(Number.isInteger) || only?.some((i) => !Number.isInteger(i))) {
  console.error('usage: npm run fuzz -- [--seed N] [--cases N] [--concurrency N] [--only I,J] [--keep]');
  process.exit(2);
}

/**
 * An accepted job must be over within this. A 64x48 clip of at most 6 frames
 * runs in a few seconds; at most `concurrency` jobs (or corrections, or
 * renders) are waiting at once, one worker runs them one by one, and a
 * failure not caused by the input is tried 3 times with 10 s + 20 s of
 * backoff. 6 jobs x 10 s + 30 s is 90 s: twice that is a stuck job, not a slow one.
 */
const STUCK_MS = 180_000;
/** A cancelled job's files must be gone this long after its DELETE (the worker stops within ~2 s). */
const CANCEL_CLEANUP_MS = 20_000;
/** Uploads between two checks of DATA_DIR/uploads (new uploads wait until those in flight end). */
const UPLOAD_WINDOW = 24;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started = performance.now();

// ---------------------------------------------------------------------------
// The service

const root = await mkdtemp(path.join(tmpdir(), 'clipmask-fuzz-'));
const dataDir = path.join(root, 'data');
await mkdir(path.join(root, 'clips'), { recursive: true });
const clips = await makeClips(await resolveFfmpeg(), path.join(root, 'clips'));
const redis: RedisServer = await startRedisServer({ dir: path.join(root, 'redis') });
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const env: NodeJS.ProcessEnv = {
  ...process.env,
  REDIS_URL: redis.url,
  DATA_DIR: dataDir,
  PORT: String(port),
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  // Small limits: a few clips are over them (413), and nothing big is ever read.
  MAX_UPLOAD_BYTES: String(1024 * 1024),
  MAX_PIXELS: String(320 * 240),
  MAX_FRAMES: '60',
  MAX_DURATION_S: '30',
  MAX_OBJECTS: '4',
  MAX_QUEUED_JOBS: '1000',
  RATE_LIMIT_PER_MINUTE: '1000000',
  RETENTION_HOURS: '0',
  // JOB_ATTEMPTS stays at its default (3) on purpose: an input fault that were retried would show as attempts > 1.
};

interface Part {
  name: string;
  script: 'src/api/main.ts' | 'src/jobs/main.ts';
  child: ChildProcess;
  log: string;
  /** Its inference child (a forked node process), once seen. */
  inference?: number;
}

const events: { what: string; suspects: number[] }[] = [];
const inFlight = new Set<number>();
let stopping = false;

function startPart(name: string, script: Part['script'], part?: Part): Part {
  const log = path.join(root, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const p = part ?? { name, script, child, log };
  p.child = child;
  p.inference = undefined;
  child.once('exit', (code, signal) => {
    if (stopping) return;
    events.push({ what: `${name} process exited (code ${code}, signal ${signal}); restarted`, suspects: [...inFlight] });
    startPart(name, script, p);
  });
  return p;
}

const parts = [startPart('api', 'src/api/main.ts'), startPart('worker', 'src/jobs/main.ts')];

async function waitReady(): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    await sleep(250);
  }
  throw new Error(`the service was not ready after 180 s (logs: ${root})`);
}

/** A restarted inference child is a crash too: it died under some case. */
async function watchInference(): Promise<void> {
  while (!stopping) {
    for (const part of parts) {
      const pid = part.child.pid;
      if (!pid || part.child.exitCode !== null) continue;
      const children = await childPids(pid);
      const nodes: number[] = [];
      // By its command line: a child just forked for ffprobe is also "node" until it execs.
      for (const child of children) {
        const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes('inference-child')) nodes.push(child);
      }
      if (part.inference !== undefined && !nodes.includes(part.inference) && part.child.exitCode === null && !stopping) {
        events.push({ what: `the ${part.name}'s inference child ${part.inference} went away${nodes.length ? ` (now ${nodes.join(',')})` : ''}`, suspects: [...inFlight] });
      }
      part.inference = nodes[0] ?? (part.inference !== undefined && nodes.length === 0 ? undefined : part.inference);
    }
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------
// Requests

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json?: any;
}

function send(request: RawRequest, timeoutMs = 60_000): Promise<Answer | { error: string }> {
  return new Promise((resolve) => {
    const body = request.body ?? Buffer.alloc(0);
    let done = false;
    const finish = (value: Answer | { error: string }) => {
      if (!done) resolve(value);
      done = true;
    };
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: request.method,
        path: request.path,
        headers: { ...request.headers, 'content-length': String(body.length), connection: 'close' },
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const data = Buffer.concat(chunks);
          let json: unknown;
          try {
            json = JSON.parse(data.toString('utf8'));
          } catch {
            json = undefined;
          }
          finish({ status: res.statusCode ?? 0, headers: res.headers, body: data, json });
        });
        res.on('error', (error) => finish({ error: `response: ${error.message}` }));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      finish({ error: `no answer in ${timeoutMs / 1000} s` });
    });
    req.on('error', (error) => finish({ error: error.message }));
    req.end(body);
  });
}

async function getJson(url: string): Promise<any> {
  const response = await fetch(base + url);
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

// ---------------------------------------------------------------------------
// Cases

type Failure = '5xx' | 'crash' | 'stuck' | 'leftover' | 'envelope' | 'leak' | 'noanswer' | 'uncoded' | 'retried' | 'status';

interface Outcome {
  index: number;
  kind: string;
  what: string;
  failures: { kind: Failure; detail: string }[];
  answers: string[];
  job?: string;
}

/** Follow-up requests on a job that has succeeded ({id} is its id). */
interface Plan {
  index: number;
  kind: 'video' | 'prompts' | 'multipart' | 'preview' | 'other';
  what: string;
  request: RawRequest;
  /** Cancel the job this long after it was accepted. */
  cancelAfterMs?: number;
  /** On a job that succeeded: these, then wait until it is quiet. */
  extras: RawRequest[];
  /** On a preview session: these ({id}), then DELETE. */
  previewRequests: RawRequest[];
}

const INPUT_CODES = new Set(['not_found', 'not_a_video', 'no_video_stream', 'zero_frames', 'truncated', 'too_large', 'frame_size_mismatch', 'bad_image', 'duplicate_frame_name', 'invalid_prompts', 'frame_out_of_range', 'outside_frame']);

const intact = (rng: Rng) => rng.pick(clips);
const NASTY_QUERY = ['', '-1', '0', '1', '1e3', 'NaN', 'abc', '99999999999999999999', '%00', '1.5', '%F0%9F%8E%AC', '[]', '1&from=2'];

function jobExtras(rng: Rng, clip: BaseClip): RawRequest[] {
  const extras: RawRequest[] = [];
  const n = rng.int(1, 4);
  for (let i = 0; i < n; i++) {
    const what = rng.weighted({ masks: 2, frame: 2, correction: 3, render: 3, artifact: 2 });
    if (what === 'masks') extras.push({ method: 'GET', path: `/v1/jobs/{id}/masks?from=${rng.pick(NASTY_QUERY)}&to=${rng.pick(NASTY_QUERY)}`, headers: {} });
    else if (what === 'frame') extras.push({ method: 'GET', path: `/v1/jobs/{id}/frames/${rng.pick(['0', '1', String(clip.frames - 1), String(clip.frames), '9999999', '-1', 'x', '00'])}.jpg${rng.chance(0.5) ? '?overlay=1' : ''}`, headers: {} });
    else if (what === 'correction') {
      const body = { objects: [{ id: rng.pick([1, 2]), prompts: [{ frame: rng.int(0, clip.frames - 1), points: [[rng.int(0, clip.width - 1), rng.int(0, clip.height - 1), 1]] }] }] };
      const { text } = rng.chance(0.85) ? mutateJson(body, rng) : { text: JSON.stringify(body) };
      extras.push(jsonRequest('POST', '/v1/jobs/{id}/corrections', text, rng.chance(0.9) ? 'application/json' : rng.pick(['text/plain', '', 'application/json; charset=utf-16'])));
    } else if (what === 'render') {
      const body = { output: rng.pick(['cutout.webm', 'matte.mp4', 'effect.mp4', 'cutout.mov']), objects: [1] };
      const { text } = rng.chance(0.85) ? mutateJson(body, rng) : { text: JSON.stringify(body) };
      extras.push(jsonRequest('POST', '/v1/jobs/{id}/renders', text, rng.chance(0.9) ? 'application/json' : 'text/plain'));
    } else {
      const range = rng.pick(['bytes=0-0', 'bytes=-1', 'bytes=999999999-', 'bytes=5-1', 'bytes=0-1,3-4', 'bytes=abc', 'items=0-1', '']);
      extras.push({ method: 'GET', path: `/v1/jobs/{id}/artifacts/${rng.pick(['overlay.mp4', 'masks.json', 'masks.zip', 'instances.json', 'cutout.webm', '..%2Fprompts.json', 'x'])}`, headers: range ? { range } : {} });
    }
  }
  return extras;
}

function planCase(index: number): Plan {
  const rng = new Rng(caseSeed(seed, index));
  // Valid videos run the real model (seconds each): most cases are rejected before a job is queued.
  const kind = rng.weighted({ video: 26, prompts: 16, multipart: 20, preview: 10, other: 16 });
  const plan: Plan = { index, kind, what: '', request: { method: 'GET', path: '/', headers: {} }, extras: [], previewRequests: [] };
  if (kind === 'video') {
    const clip = intact(rng);
    const video = mutateVideo(clip, rng);
    const prompts = goodPrompts(clip, rng.chance(0.8) ? { speed: 'fast' } : {});
    plan.request = multipartRequest('/v1/jobs', submissionParts(video.data, clip.filename, JSON.stringify(prompts)));
    plan.what = `${clip.name} ${video.what.join(' ') || 'intact'}`;
  } else if (kind === 'prompts') {
    const clip = intact(rng);
    const extra = rng.weighted({ none: 6, speed: 1, outputs: 1, webhook: 1 });
    const prompts = goodPrompts(clip, extra === 'speed' ? { speed: 'fast' } : extra === 'outputs' ? { outputs: ['overlay', 'cutout.webm'] } : extra === 'webhook' ? { webhook: 'https://example.com/hook' } : {});
    const mutated = mutateJson(prompts, rng);
    let text: string | Buffer = mutated.text;
    if (rng.chance(0.05)) text = Buffer.concat([Buffer.from(mutated.text.slice(0, 20)), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(mutated.text.slice(20))]);
    const asFile = rng.chance(0.2);
    plan.request = multipartRequest('/v1/jobs', [
      { name: 'video', filename: clip.filename, type: 'video/mp4', data: clip.data },
      asFile ? { name: 'prompts', filename: 'prompts.json', type: 'application/json', data: text } : { name: 'prompts', data: text },
    ]);
    plan.what = `${clip.name} prompts ${mutated.what.join(' ')}${asFile ? ' as-file' : ''} (${mutated.text.length} chars)`;
  } else if (kind === 'multipart') {
    const clip = intact(rng);
    const { request, what } = mutateMultipart('/v1/jobs', clip.data, JSON.stringify(goodPrompts(clip)), rng);
    plan.request = request;
    plan.what = `${clip.name} ${what}`;
  } else if (kind === 'preview') {
    const clip = intact(rng);
    const video = rng.chance(0.5) ? mutateVideo(clip, rng) : { data: clip.data, what: [] };
    const how = rng.weighted({ plain: 5, extraFile: 2, multipart: 3 });
    if (how === 'multipart') {
      const { request, what } = mutateMultipart('/v1/previews', video.data, JSON.stringify(goodPrompts(clip)), rng);
      plan.request = request;
      plan.what = `preview ${clip.name} ${video.what.join(' ')} ${what}`;
    } else {
      const extraPart = how === 'extraFile' ? [{ name: rng.pick(['prompts', 'prompts', 'video']), filename: 'p.json', data: '{}' }] : [];
      plan.request = multipartRequest('/v1/previews', [{ name: 'video', filename: clip.filename, data: video.data }, ...extraPart]);
      plan.what = `preview ${clip.name} ${video.what.join(' ') || 'intact'}${extraPart.length ? ` +${extraPart[0].name}-file` : ''}`;
    }
    // Only requests the model is not needed for (the frame is always beyond the clip), so the API never loads it.
    plan.previewRequests.push({ method: 'GET', path: '/v1/previews/{id}', headers: {} });
    plan.previewRequests.push({ method: 'GET', path: `/v1/previews/{id}/frames/${rng.pick(['0', String(clip.frames - 1), String(clip.frames), 'x', '99999999'])}.jpg`, headers: {} });
    const { text } = mutateJson({ frame: clip.frames + rng.int(0, 3), points: [[1, 1, 1]] }, rng, ['frame']);
    plan.previewRequests.push(jsonRequest('POST', '/v1/previews/{id}/masks', text, rng.chance(0.9) ? 'application/json' : 'text/plain'));
    plan.previewRequests.push({ method: 'POST', path: `/v1/previews/{id}/frames/${rng.pick(['-1', 'x', '1e3', '99999999'])}/embedding`, headers: {} });
  } else {
    const junkId = rng.pick(['not-a-uuid', '00000000-0000-4000-8000-000000000000', '..%2F..%2Fetc', '%00', 'a'.repeat(3000), '%F0%9F%8E%AC', '{id}']);
    const options: RawRequest[] = [
      { method: 'GET', path: `/v1/jobs?limit=${rng.pick(NASTY_QUERY)}&offset=${rng.pick(NASTY_QUERY)}`, headers: {} },
      { method: 'GET', path: `/v1/jobs/${junkId}`, headers: {} },
      { method: 'DELETE', path: `/v1/jobs/${junkId}`, headers: {} },
      { method: rng.pick(['PUT', 'PATCH', 'OPTIONS', 'DELETE']), path: '/v1/jobs', headers: {} },
      jsonRequest('POST', `/v1/jobs/${junkId}/corrections`, mutateJson({ objects: [{ id: 1, absentFrom: 0 }] }, rng).text),
      jsonRequest('POST', `/v1/jobs/${junkId}/renders`, mutateJson({ output: 'matte.mp4' }, rng).text),
      { method: 'GET', path: `/v1/jobs/${junkId}/artifacts/masks.json`, headers: { range: 'bytes=0-1' } },
      { method: 'GET', path: `/v1/previews/${junkId}/frames/0.jpg`, headers: {} },
      jsonRequest('POST', `/v1/previews/${junkId}/masks`, '{"frame":0,"points":[[1,1,1]]}'),
      jsonRequest('POST', '/v1/jobs', JSON.stringify(goodPrompts(clips[0]))),
    ];
    plan.request = rng.pick(options);
    plan.what = `${plan.request.method} ${plan.request.path.slice(0, 80)}`;
  }
  if (kind === 'video' || kind === 'prompts') {
    if (rng.chance(0.06)) plan.cancelAfterMs = rng.int(0, 3000);
    else if (rng.chance(0.25)) plan.extras = jobExtras(rng, clips[0]);
  }
  return plan;
}

// ---------------------------------------------------------------------------
// Uploads: DATA_DIR/uploads must be empty whenever no upload is in flight

const uploadsDir = path.join(dataDir, 'uploads');
const upload = {
  inFlight: 0,
  window: [] as number[],
  draining: false,
  waiters: [] as (() => void)[],
  reported: new Set<string>(),
  leftovers: new Map<number, string[]>(),
};

async function enterUpload(index: number): Promise<void> {
  while (upload.draining) await new Promise<void>((r) => upload.waiters.push(r));
  upload.inFlight++;
  upload.window.push(index);
  if (upload.window.length >= UPLOAD_WINDOW) upload.draining = true;
}

async function leaveUpload(): Promise<void> {
  upload.inFlight--;
  if (upload.inFlight > 0) return;
  const files = (await readdir(uploadsDir).catch(() => [] as string[])).filter((f) => !upload.reported.has(f));
  if (files.length) {
    files.forEach((f) => upload.reported.add(f));
    // The cases of this window; with --concurrency 1 (and --only) exactly one.
    const suspects = [...upload.window];
    for (const index of suspects) upload.leftovers.set(index, files);
    console.log(`LEFTOVER ${files.length} file(s) in DATA_DIR/uploads (${files.join(', ')}) after one of cases ${suspects.join(',')}`);
  }
  upload.window = [];
  upload.draining = false;
  upload.waiters.splice(0).forEach((wake) => wake());
}

// ---------------------------------------------------------------------------
// Running a case

const stats = { answers: new Map<string, number>(), jobs: new Map<string, number>(), jobMs: [] as number[] };
const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
const caseOfJob = new Map<string, number>();

function checkAnswer(outcome: Outcome, label: string, answer: Answer | { error: string }): Answer | undefined {
  if ('error' in answer) {
    outcome.failures.push({ kind: 'noanswer', detail: `${label}: ${answer.error}` });
    return undefined;
  }
  const code = answer.json?.error?.code;
  outcome.answers.push(`${label} ${answer.status}${code ? ` ${code}` : ''}`);
  count(stats.answers, `${answer.status}${code ? ` ${code}` : ''}`);
  if (answer.status >= 500) {
    outcome.failures.push({ kind: '5xx', detail: `${label}: ${answer.status} ${answer.body.toString('utf8').slice(0, 300)}` });
  } else if (answer.status >= 400) {
    const e = answer.json?.error;
    if (!e || typeof e.code !== 'string' || !e.code || typeof e.message !== 'string' || !e.message) {
      outcome.failures.push({ kind: 'envelope', detail: `${label}: ${answer.status} without the error envelope: ${answer.body.toString('utf8').slice(0, 200)}` });
    }
  } else if (answer.status < 200 || answer.status >= 300) {
    outcome.failures.push({ kind: 'status', detail: `${label}: ${answer.status}` });
  }
  const text = answer.status >= 400 ? answer.body.toString('utf8') : '';
  if (text.includes(root) || /\/tmp\/|\/work\/|at .*\.ts:\d+/.test(text)) {
    outcome.failures.push({ kind: 'leak', detail: `${label}: the answer shows a server path or a stack: ${text.slice(0, 200)}` });
  }
  return answer;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Polls the job until `done`; undefined when STUCK_MS since `since` have passed. */
async function pollJob(id: string, since: number, done: (job: any) => boolean): Promise<any> {
  let job: any;
  while (Date.now() - since < STUCK_MS) {
    job = (await getJson(`/v1/jobs/${id}`).catch(() => ({ body: undefined }))).body;
    if (job && done(job)) return job;
    await sleep(300);
  }
  return undefined;
}

const quiet = (job: any) =>
  TERMINAL.has(job.state) &&
  job.stage !== 'correcting' &&
  (job.revision === 0 || (job.lastCorrection?.revision ?? 0) >= job.revision || job.state !== 'succeeded') &&
  !(job.renders ?? []).some((r: { state: string }) => r.state === 'queued' || r.state === 'running');

async function followJob(plan: Plan, outcome: Outcome, id: string): Promise<void> {
  const accepted = Date.now();
  caseOfJob.set(id, plan.index);
  outcome.job = id;
  const jobDir = path.join(dataDir, 'jobs', id);
  if (plan.cancelAfterMs !== undefined) {
    await sleep(plan.cancelAfterMs);
    const answer = checkAnswer(outcome, 'cancel', await send({ method: 'DELETE', path: `/v1/jobs/${id}`, headers: {} }));
    count(stats.jobs, 'cancel requested');
    if (answer?.status === 200) {
      const deadline = Date.now() + CANCEL_CLEANUP_MS;
      while (existsSync(jobDir) && Date.now() < deadline) await sleep(200);
      if (existsSync(jobDir)) outcome.failures.push({ kind: 'leftover', detail: `jobs/${id} still there ${CANCEL_CLEANUP_MS / 1000} s after the job was cancelled` });
      const job = await pollJob(id, accepted, (j) => TERMINAL.has(j.state));
      if (!job) outcome.failures.push({ kind: 'stuck', detail: `cancelled, but not ended after ${STUCK_MS / 1000} s` });
    } else if (answer?.status === 204) {
      count(stats.jobs, 'deleted before the cancel');
      if (existsSync(jobDir)) outcome.failures.push({ kind: 'leftover', detail: `jobs/${id} still there after DELETE` });
      return;
    }
  }
  const job = await pollJob(id, accepted, (j) => TERMINAL.has(j.state));
  if (!job) {
    const last = (await getJson(`/v1/jobs/${id}`).catch(() => ({ body: undefined }))).body;
    outcome.failures.push({ kind: 'stuck', detail: `still ${last?.state}/${last?.stage} ${STUCK_MS / 1000} s after it was accepted` });
    return;
  }
  stats.jobMs.push(Date.now() - accepted);
  count(stats.jobs, job.state === 'failed' ? `failed ${job.error?.code}` : job.state);
  if (job.state === 'failed') {
    const code = job.error?.code;
    if (typeof code !== 'string' || !code || code === 'internal' || typeof job.error?.message !== 'string') {
      outcome.failures.push({ kind: 'uncoded', detail: `failed without a code of its own: ${JSON.stringify(job.error)}` });
    }
    if (INPUT_CODES.has(code) && job.attempts > 1) outcome.failures.push({ kind: 'retried', detail: `failed with the input's fault ${code} after ${job.attempts} attempts` });
  }
  if (job.state === 'succeeded' && plan.extras.length) {
    for (const extra of plan.extras) {
      checkAnswer(outcome, `${extra.method} ${extra.path.replace('{id}', ':id').slice(0, 60)}`, await send({ ...extra, path: extra.path.replace('{id}', id) }));
    }
    if (!(await pollJob(id, Date.now(), quiet))) outcome.failures.push({ kind: 'stuck', detail: `a correction or render still running ${STUCK_MS / 1000} s after it was asked for` });
  }
  const deleted = checkAnswer(outcome, 'delete', await send({ method: 'DELETE', path: `/v1/jobs/${id}`, headers: {} }));
  if (deleted && deleted.status !== 204) outcome.failures.push({ kind: 'status', detail: `DELETE of a ${job.state} job answered ${deleted.status}, not 204` });
  if (existsSync(jobDir)) {
    const left = await readdir(jobDir, { recursive: true }).catch(() => []);
    outcome.failures.push({ kind: 'leftover', detail: `jobs/${id} still there after DELETE: ${left.slice(0, 8).join(', ')}` });
  }
}

async function followPreview(plan: Plan, outcome: Outcome, id: string): Promise<void> {
  for (const request of plan.previewRequests) {
    checkAnswer(outcome, `${request.method} ${request.path.replace('{id}', ':id').slice(0, 60)}`, await send({ ...request, path: request.path.replace('{id}', id) }));
  }
  checkAnswer(outcome, 'preview delete', await send({ method: 'DELETE', path: `/v1/previews/${id}`, headers: {} }));
  if (existsSync(path.join(dataDir, 'previews', id))) outcome.failures.push({ kind: 'leftover', detail: `previews/${id} still there after DELETE` });
}

async function runCase(index: number): Promise<Outcome> {
  const plan = planCase(index);
  const outcome: Outcome = { index, kind: plan.kind, what: plan.what, failures: [], answers: [] };
  inFlight.add(index);
  try {
    const uploads = plan.request.method === 'POST' && /^\/v1\/(jobs|previews)$/.test(plan.request.path);
    if (uploads) await enterUpload(index);
    let answer: Answer | undefined;
    try {
      answer = checkAnswer(outcome, `${plan.request.method} ${plan.request.path.slice(0, 40)}`, await send(plan.request));
    } finally {
      if (uploads) await leaveUpload();
    }
    if (answer?.status === 202 && plan.request.path === '/v1/jobs' && typeof answer.json?.id === 'string') await followJob(plan, outcome, answer.json.id);
    if (answer?.status === 201 && plan.request.path === '/v1/previews' && typeof answer.json?.id === 'string') await followPreview(plan, outcome, answer.json.id);
  } finally {
    inFlight.delete(index);
  }
  return outcome;
}

// ---------------------------------------------------------------------------
// The run

let exitCode = 0;
try {
  await waitReady();
  const watcher = watchInference();
  console.log(`fuzz: seed=${seed} cases=${only ? only.join(',') : caseCount} concurrency=${concurrency}; ${clips.length} clips (${clips.map((c) => `${c.name} ${c.data.length} B`).join(', ')}); ready after ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const indexes = only ?? Array.from({ length: caseCount }, (_, i) => i);
  const outcomes: Outcome[] = [];
  let next = 0;
  const casesStarted = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < indexes.length) {
        const index = indexes[next++];
        const outcome = await runCase(index);
        outcomes.push(outcome);
        if (values.verbose) console.log(`  case ${index} ${outcome.kind}: ${outcome.what.slice(0, 160)} -> ${outcome.answers.join('; ')}${outcome.failures.length ? ' FAILED' : ''}`);
        if (outcomes.length % 100 === 0) console.log(`  ${outcomes.length} cases, ${((performance.now() - casesStarted) / 1000).toFixed(0)} s`);
      }
    }),
  );
  const casesSeconds = (performance.now() - casesStarted) / 1000;

  // Everything deleted: DATA_DIR must be empty (uploads, jobs, previews, scratch, cache).
  await sleep(1000);
  const entries = await readdir(dataDir, { recursive: true, withFileTypes: true }).catch(() => []);
  const files = entries.filter((e) => e.isFile()).map((e) => path.relative(dataDir, path.join(e.parentPath, e.name)));
  const byCase = new Map<number, Outcome>(outcomes.map((o) => [o.index, o]));
  const unattributed: string[] = [];
  for (const file of files) {
    if (file.startsWith('uploads/') && upload.reported.has(path.basename(file))) continue; // already counted
    const id = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(file)?.[0];
    const owner = id !== undefined ? caseOfJob.get(id) : undefined;
    if (owner !== undefined) byCase.get(owner)!.failures.push({ kind: 'leftover', detail: `${file} is still in DATA_DIR at the end` });
    else unattributed.push(file);
  }
  for (const [index, left] of upload.leftovers) byCase.get(index)?.failures.push({ kind: 'leftover', detail: `upload file(s) ${left.join(', ')} left in DATA_DIR/uploads by this case or another of its window` });
  for (const event of events) {
    for (const index of event.suspects) byCase.get(index)?.failures.push({ kind: 'crash', detail: event.what });
  }

  stopping = true;
  await watcher;
  outcomes.sort((a, b) => a.index - b.index);
  const broken = outcomes.filter((o) => o.failures.length > 0);
  for (const o of broken) {
    console.log(`FAIL case ${o.index} (seed ${seed}; replay: npm run fuzz -- --seed ${seed} --only ${o.index}) ${o.kind}: ${o.what}`);
    for (const f of o.failures) console.log(`  ${f.kind}: ${f.detail}`);
    console.log(`  answers: ${o.answers.join('; ')}`);
  }
  for (const event of events) console.log(`EVENT ${event.what} (cases in flight: ${event.suspects.join(',') || 'none'})`);
  if (unattributed.length) console.log(`LEFTOVER in DATA_DIR, of no case: ${unattributed.slice(0, 20).join(', ')}${unattributed.length > 20 ? ` and ${unattributed.length - 20} more` : ''}`);

  const top = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ');
  const ms = stats.jobMs.sort((a, b) => a - b);
  console.log(`answers: ${top(stats.answers)}`);
  console.log(`jobs: ${top(stats.jobs)}; time to the end: median ${((ms[Math.floor(ms.length / 2)] ?? 0) / 1000).toFixed(1)} s, max ${((ms.at(-1) ?? 0) / 1000).toFixed(1)} s (bound ${STUCK_MS / 1000} s)`);
  console.log(`kinds: ${top(outcomes.reduce((m, o) => count(m, o.kind), new Map<string, number>()))}`);
  console.log(`time: ${casesSeconds.toFixed(0)} s for ${outcomes.length} cases (${(outcomes.length / casesSeconds).toFixed(1)} cases/s), ${((performance.now() - started) / 1000).toFixed(0)} s in all; logs: ${broken.length || events.length || values.keep ? root : '(removed)'}`);
  const has = (kind: Failure) => outcomes.filter((o) => o.failures.some((f) => f.kind === kind)).length;
  const crashes = events.length;
  const leftovers = has('leftover') + (unattributed.length ? 1 : 0);
  if (broken.length || events.length || unattributed.length) exitCode = 1;
  console.log(`cases=${outcomes.length} ok=${outcomes.length - broken.length} 5xx=${has('5xx')} crashes=${crashes} stuck=${has('stuck')} leftovers=${leftovers}`);
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  stopping = true;
  await Promise.all(
    parts.map(async (part) => {
      if (part.child.exitCode !== null || part.child.signalCode !== null) return;
      const exited = new Promise((r) => part.child.once('exit', r));
      part.child.kill('SIGTERM');
      await exited;
    }),
  );
  await redis.stop();
  if (exitCode === 0 && !values.keep) await rm(root, { recursive: true, force: true });
}
process.exit(exitCode);
