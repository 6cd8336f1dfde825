/**
 * Faults while jobs run, with real processes: a private redis-server (AOF on),
 * the API and a worker as separate OS processes (`npm run api`, `npm run worker`).
 *
 *   npm run chaos [-- --scenarios kill-worker,restart-redis,restart-api,cancel,kill-child,redis-oom,kill-ffmpeg]
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
 * then the faults under the worker and in Redis (chaos-faults.ts, which says
 * what each checks besides the masks):
 *
 *   kill-child     SIGKILL the worker's inference child mid-frame: a new
 *                  child, the job retried, no process left over
 *   redis-oom      Redis at maxmemory (noeviction) under submissions: 503
 *                  redis_full + Retry-After, no file of a refused one, every
 *                  accepted job succeeds once memory is freed
 *   kill-ffmpeg    SIGKILL the ffmpeg encoding overlay.mp4 in the last
 *                  frames: the stage retried, a whole overlay
 *
 * and one more that ends the job instead:
 *
 *   cancel         DELETE the running job; passes when, within 2 s, the job's
 *                  files are gone, no ffmpeg runs under the worker and the
 *                  worker's processes have stopped using the CPU
 *
 * Prints one line per scenario with its recovery (or stop) time; exits 1 if any fails.
 * The stack and process helpers are in chaos-stack.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRedisServer } from '../src/jobs/redis-server.js';
import { makeMovingShapeClip } from '../tests/helpers/synthetic.js';
import { FAULTS } from './chaos-faults.js';
import { finish, getJson, processTree, sleep, startStack as startStackIn, stopStack, submit as submitTo, trackedFrames, type Stack } from './chaos-stack.js';
import { startScript as run, stopProcess as stop } from './processes.js';

const ALL = ['kill-worker', 'restart-redis', 'restart-api', 'cancel', 'kill-child', 'redis-oom', 'kill-ffmpeg'];
const { values } = parseArgs({ options: { scenarios: { type: 'string', default: ALL.join(',') } } });
const scenarios = values.scenarios!.split(',');
for (const s of scenarios) if (!ALL.includes(s)) throw new Error(`unknown scenario ${s}: ${ALL.join(', ')}`);

const root = await mkdtemp(path.join(tmpdir(), 'clipmask-chaos-'));
const FRAMES = 24;
const clip = await makeMovingShapeClip(root, { width: 160, height: 120, frames: FRAMES, fps: 8 });
const [x, y] = clip.center(0).map(Math.round);
const prompts = { objects: [{ id: 1, name: 'disc', prompts: [{ frame: 0, points: [[x, y, 1]] }] }] };
const submission = { video: clip.path, prompts };
const startStack = () => startStackIn(root);
const submit = (stack: Stack) => submitTo(stack, submission);

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

/**
 * Seconds from DELETE until the job has stopped: its files are gone, no
 * ffmpeg runs under the worker, and the worker's processes used under 5% of
 * a core over the last 400 ms (CPU ticks are 10 ms, so 2 ticks).
 */
async function cancelAndTimeStop(stack: Stack, id: string): Promise<number> {
  const jobDir = path.join(stack.dataDir, 'jobs', id);
  const ticks = () => [...processTree(stack.worker.pid!).values()].reduce((sum, p) => sum + p.ticks, 0);
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${stack.port}/v1/jobs/${id}`, { method: 'DELETE' });
  if (response.status !== 200) throw new Error(`DELETE answered ${response.status}`);
  const samples: { at: number; ticks: number }[] = [];
  while (performance.now() - started < 15_000) {
    const now = performance.now();
    samples.push({ at: now, ticks: ticks() });
    const window = samples.find((s) => now - s.at <= 400)!;
    const quiet = now - samples[0].at >= 400 && samples.at(-1)!.ticks - window.ticks <= 2;
    const ffmpeg = [...processTree(stack.worker.pid!).values()].some((p) => p.comm.startsWith('ffmpeg'));
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
    const fault = FAULTS[scenario];
    if (fault) {
      try {
        const verdict = await fault({ root, submission, reference: reference!, frames: FRAMES });
        if (!verdict.pass) failures++;
        console.log(`${scenario}: ${verdict.pass ? 'PASS' : 'FAIL'} ${verdict.summary}`);
      } catch (error) {
        failures++;
        console.log(`${scenario}: FAIL ${(error as Error).message}`);
      }
      continue;
    }
    const act = disturb[scenario];
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
