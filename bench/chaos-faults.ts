/**
 * The chaos scenarios that break a part under the worker or fill Redis
 * (issue 17): kill-child, redis-oom, kill-ffmpeg. Each starts its own stack,
 * disturbs one job (or the submissions), and passes when every accepted job
 * succeeds with masks.json byte-for-byte the undisturbed run's, plus the
 * scenario's own checks. See chaos.ts for the list.
 */
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { inspectVideo, runFfmpeg } from '../tests/helpers/synthetic.js';
import {
  commandLine,
  ended,
  finish,
  getJson,
  inferenceChildren,
  masksOf,
  post,
  processTable,
  processTree,
  sleep,
  startStack,
  stopStack,
  submit,
  trackedFrames,
  waitFor,
  type Stack,
  type Submission,
} from './chaos-stack.js';

export interface ChaosContext {
  root: string;
  submission: Submission;
  /** masks.json of the undisturbed run. */
  reference: string;
  /** Frames of the clip. */
  frames: number;
}

export interface Verdict {
  pass: boolean;
  /** The rest of the scenario's line, after PASS/FAIL. */
  summary: string;
}

type Scenario = (context: ChaosContext) => Promise<Verdict>;

/** Runs `body` on a fresh stack and always stops it. */
async function withStack(context: ChaosContext, body: (stack: Stack) => Promise<Verdict>): Promise<Verdict> {
  const stack = await startStack(context.root);
  try {
    return await body(stack);
  } finally {
    await stopStack(stack);
  }
}

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
const status = (stack: Stack, id: string) => getJson(`http://127.0.0.1:${stack.port}/v1/jobs/${id}`);

/** The worker's processes that are not zombies, zombies among them, and ffmpeg processes under it. */
function workerProcesses(stack: Stack) {
  const tree = [...processTree(stack.worker.pid!).values()];
  return {
    live: tree.filter((p) => p.state !== 'Z').length,
    zombies: tree.filter((p) => p.state === 'Z').length,
    ffmpeg: tree.filter((p) => p.comm.startsWith('ffmpeg')).length,
  };
}

/**
 * kill-child: SIGKILL the worker's inference child while it tracks (it is
 * busy with a frame nearly all the time, so the kill lands mid-frame). The
 * worker must start a new child, the job retry and succeed with the same
 * masks, and nothing be left over: the worker's process tree the same size as
 * before the job (worker + one child), no zombie, no ffmpeg under it, and no
 * process left in the killed child's process group (its ffmpeg processes,
 * which the kill re-parents away from the worker).
 */
const killChild: Scenario = (context) =>
  withStack(context, async (stack) => {
    const before = workerProcesses(stack);
    const [child] = await waitFor('the inference child', async () => (inferenceChildren(stack).length ? inferenceChildren(stack) : undefined), 10_000);
    const id = await submit(stack, context.submission);
    await trackedFrames(stack, id, 6);
    const killed = performance.now();
    process.kill(child, 'SIGKILL');
    const masks = await finish(stack, id);
    const recovery = seconds(killed);
    const job = await status(stack, id);
    const [replacement] = await waitFor('a new inference child', async () => {
      const now = inferenceChildren(stack);
      return now.length === 1 && now[0] !== child ? now : undefined;
    }, 30_000);
    // The job's processes may take a moment to be reaped after its end.
    const after = await waitFor('the worker to settle', async () => {
      const p = workerProcesses(stack);
      return p.live === before.live && p.zombies === 0 && p.ffmpeg === 0 ? p : undefined;
    }, 10_000).catch(() => workerProcesses(stack));
    const orphans = [...processTable().values()].filter((p) => p.pgrp === child && p.pid !== child);
    const temporary = temporaryFiles(stack, id);
    const same = masks === context.reference;
    const clean = after.live === before.live && after.zombies === 0 && after.ffmpeg === 0 && orphans.length === 0 && temporary.length === 0;
    const pass = same && clean && job.attempts >= 2;
    const leftovers = orphans.map((p) => `${p.comm}(${p.pid}, ${p.state})`).join(' ') || 'none';
    return {
      pass,
      summary:
        `succeeded ${recovery} s after the kill (attempt ${job.attempts}, new child ${replacement}); masks ${same ? 'identical to' : 'DIFFERENT from'} the undisturbed run; ` +
        `worker processes ${before.live} before, ${after.live} after, zombies ${after.zombies}, ffmpeg ${after.ffmpeg}, left from the killed child: ${leftovers}; temporary files left: ${temporary.join(' ') || 'none'}`,
    };
  });

/** Temporary files and folders left in a job's folder (hidden names: `.x.<hex>.tmp`, `.overlay.<hex>.partial.mp4`). */
function temporaryFiles(stack: Stack, id: string): string[] {
  const dir = path.join(stack.dataDir, 'jobs', id);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => path.basename(f).startsWith('.'));
}

/** Redis's used_memory, bytes. */
async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

/** Jobs with a folder under DATA_DIR/jobs, and files waiting in DATA_DIR/uploads. */
function filesOnDisk(stack: Stack): { jobs: string[]; uploads: string[] } {
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  return { jobs: list(path.join(stack.dataDir, 'jobs')), uploads: list(path.join(stack.dataDir, 'uploads')) };
}

/**
 * redis-oom: while a job tracks and a second one waits, CONFIG SET maxmemory
 * to 32 KB above Redis's used_memory (the policy is noeviction), then submit
 * until three submissions are refused. Every refusal must be a 503
 * `redis_full` with Retry-After (never a 500) and leave no file. The full
 * Redis is kept until the running job has finished tracking (its overlay.mp4
 * is there: the writes that record its end meet the full Redis too) and 5 s
 * more, then CONFIG SET maxmemory 0. Every accepted job must then succeed
 * with the reference masks; the times are from the memory's release to the
 * running job's success and to the last accepted job's.
 */
const redisOom: Scenario = (context) =>
  withStack(context, async (stack) => {
    const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: 3 });
    try {
      const first = await submit(stack, context.submission);
      await trackedFrames(stack, first, 6);
      const waiting = await submit(stack, context.submission); // queued behind the first while Redis is full
      const limit = (await usedMemory(redis)) + 32 * 1024;
      await redis.config('SET', 'maxmemory', String(limit));
      const accepted = [first, waiting];
      const refusals: { status: number; code?: string; retryAfter: string | null }[] = [];
      // At most 3 more accepted: each is one more job to wait for afterwards.
      for (let tries = 0; tries < 12 && refusals.length < 3 && accepted.length < 5; tries++) {
        const response = await post(stack, context.submission);
        const body = (await response.json().catch(() => ({}))) as { id?: string; error?: { code: string } };
        if (response.status === 202) accepted.push(body.id!);
        else refusals.push({ status: response.status, code: body.error?.code, retryAfter: response.headers.get('retry-after') });
      }
      const refusedFiles = filesOnDisk(stack);
      // Its status cannot say (the progress writes are refused): its overlay.mp4 appears when the tracking is over.
      const overlay = path.join(stack.dataDir, 'jobs', first, 'out', 'overlay.mp4');
      await waitFor('the first job to finish tracking', async () => (existsSync(overlay) ? true : undefined), 180_000).catch(() => undefined);
      await sleep(5000);
      const full = await usedMemory(redis);
      const freed = performance.now();
      await redis.config('SET', 'maxmemory', '0');
      const firstDone = ended(stack, first).then(() => seconds(freed));
      const jobs = await Promise.all(accepted.map((id) => ended(stack, id, 600_000)));
      const recovery = seconds(freed);
      const masks = await Promise.all(jobs.map(async (job) => (job.state === 'succeeded' ? masksOf(stack, job) : undefined)));
      const others = jobs.filter((j) => j.state !== 'succeeded').map((j) => `${j.state} ${j.error?.code ?? ''}`.trim());
      const succeeded = jobs.filter((j) => j.state === 'succeeded').length;
      const identical = masks.filter((m) => m === context.reference).length;
      const coded = refusals.filter((r) => r.status === 503 && r.code === 'redis_full' && r.retryAfter).length;
      const strayJobs = refusedFiles.jobs.filter((j) => !accepted.includes(j));
      const pass = refusals.length > 0 && coded === refusals.length && identical === accepted.length && strayJobs.length === 0 && refusedFiles.uploads.length === 0;
      const answers = [...new Set(refusals.map((r) => `${r.status} ${r.code ?? '?'}${r.retryAfter ? ` Retry-After ${r.retryAfter}` : ''}`))].join(', ') || 'none';
      return {
        pass,
        summary:
          `maxmemory ${Math.round(limit / 1024)} KB (used ${Math.round(full / 1024)} KB when freed); ${accepted.length} accepted, ${refusals.length} refused (${answers}); ` +
          `refused submissions left ${strayJobs.length} job folders and ${refusedFiles.uploads.length} uploads; ` +
          `${succeeded}/${accepted.length} accepted jobs succeeded${others.length ? ` (others: ${others.join(', ')})` : ''} (the running one ${await firstDone} s, the last ${recovery} s after memory was freed), masks identical: ${identical}/${accepted.length}`,
      };
    } finally {
      redis.disconnect();
    }
  });

/**
 * kill-ffmpeg: SIGKILL the ffmpeg that encodes the overlay (under the worker,
 * its arguments name a `.partial.mp4`) once the job is in its last 6 frames.
 * The attempt fails (ffmpeg_failed is not the input's fault) and the next one
 * must give the same masks and an overlay.mp4 that decodes without error with
 * the clip's frame count.
 */
const killFfmpeg: Scenario = (context) =>
  withStack(context, async (stack) => {
    const id = await submit(stack, context.submission);
    // The status at most twice a second, /proc every 50 ms (the encoder is there until the last frame).
    let lastFrames = false;
    let asked = 0;
    const encoder = await waitFor('the overlay encoder in the last frames', async () => {
      if (!lastFrames && performance.now() - asked >= 500) {
        asked = performance.now();
        lastFrames = (await status(stack, id)).progress?.framesDone >= context.frames - 6;
      }
      if (!lastFrames) return undefined;
      return [...processTree(stack.worker.pid!).values()].find((p) => p.comm.startsWith('ffmpeg') && p.state !== 'Z' && commandLine(p.pid).includes('.partial.mp4'))?.pid;
    }, 300_000, 50);
    const killed = performance.now();
    process.kill(encoder, 'SIGKILL');
    const masks = await finish(stack, id);
    const recovery = seconds(killed);
    const job = await status(stack, id);
    const overlay = path.join(context.root, `overlay-${id}.mp4`);
    await writeFile(overlay, Buffer.from(await (await fetch(`http://127.0.0.1:${stack.port}${job.artifacts.overlay}`)).arrayBuffer()));
    const decodes = await runFfmpeg(['-v', 'error', '-xerror', '-i', overlay, '-f', 'null', '-']).then(() => true, () => false);
    const { frames } = await inspectVideo(overlay);
    const partials = temporaryFiles(stack, id);
    const same = masks === context.reference;
    const pass = same && decodes && frames === context.frames && job.attempts >= 2 && partials.length === 0;
    return {
      pass,
      summary:
        `succeeded ${recovery} s after the kill (attempt ${job.attempts}); masks ${same ? 'identical to' : 'DIFFERENT from'} the undisturbed run; ` +
        `overlay.mp4 ${decodes ? 'decodes' : 'DOES NOT decode'}, ${frames}/${context.frames} frames; temporary files left: ${partials.join(' ') || 'none'}`,
    };
  });

export const FAULTS: Record<string, Scenario> = { 'kill-child': killChild, 'redis-oom': redisOom, 'kill-ffmpeg': killFfmpeg };
