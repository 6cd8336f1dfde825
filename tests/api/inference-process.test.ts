/**
 * The inference child as the worker drives it: a cancelled run that does not
 * stop in time is killed, the child comes back with its model, and the next
 * run works; the same when the child is SIGKILLed from outside mid-run, whose
 * work in progress the next attempt can recognise and remove (real model,
 * real ffmpeg).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { InferenceProcess, RunAbortedError } from '../../src/inference/inference-process.js';
import { createLogger } from '../../src/logger.js';
import { probeInput } from '../../src/media/index.js';
import type { VideoMeta } from '../../src/types.js';
import { removeTemporaryFiles } from '../../src/util/atomic.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { eventually } from '../helpers/service.js';

let dir: string;
let clip: SyntheticClip;
let meta: VideoMeta;
// killAfterMs 1: every cancel ends with SIGKILL, the path a stuck run would take.
const inference = new InferenceProcess({ logger: createLogger('silent'), killAfterMs: 1 });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-inference-'));
  [clip] = await Promise.all([makeMovingShapeClip(dir, { width: 96, height: 72, frames: 3, fps: 3 }), inference.start()]);
  meta = await probeInput(clip.path, { decode: true });
});
afterAll(async () => {
  await inference.close();
  await rm(dir, { recursive: true, force: true });
});

const request = (name: string) => ({
  input: clip.path,
  video: meta,
  prompts: { objects: [{ id: 1, prompts: [{ frame: 0, points: [[...clip.center(0).map(Math.round), 1] as [number, number, 1]] }] }] },
  outDir: path.join(dir, name),
  pngDir: path.join(dir, name, 'png'),
  results: path.join(dir, name, 'frames'),
  pending: path.join(dir, name, 'frames-pending'),
  embeddings: { dir: path.join(dir, name, 'embeddings'), chunkFrames: 2, owner: 'test', windowFrames: 8, keep: false },
});

it('kills a cancelled run that does not stop in time, restarts, and runs the next job', async () => {
  expect(inference.ready).toBe(true);
  const controller = new AbortController();
  const cancelled = inference.track(request('cancelled'), { signal: controller.signal, onProgress: () => controller.abort('cancelled') });
  const error = await cancelled.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RunAbortedError);
  expect((error as RunAbortedError).reason).toBe('cancelled');

  expect(await eventually(async () => inference.ready, 60_000, 100)).toBe(true);
  const progress: number[] = [];
  const outcome = await inference.track(request('after'), { onProgress: (p) => progress.push(p.framesDone) });
  expect(outcome).toMatchObject({ frames: 3, video: { width: 96, height: 72, frames: 3 } });
  expect(progress).toEqual([1, 2, 3]);
  expect((await readdir(path.join(dir, 'after'))).sort()).toEqual(['embeddings', 'frames', 'instances.json', 'masks.json', 'overlay.mp4', 'png']);
  // Every embedding was consumed by the forward pass; only the chunk bookkeeping is left.
  expect((await readdir(path.join(dir, 'after', 'embeddings'))).sort()).toEqual(['chunk-0.claim', 'chunk-0.done', 'chunk-1.claim', 'chunk-1.done', 'cursor']);
});

/** The processes of a process group, from /proc (stat's fifth field is the group). */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid && !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2)[0]!);
    } catch {
      return false;
    }
  }).map(Number);
}

/** Whether a process has SIGKILL (signal 9, bit 8) pending; true once it is gone. */
function killPending(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return [...status.matchAll(/^(?:ShdPnd|SigPnd):\s*([0-9a-f]+)$/gm)].some(([, mask]) => (BigInt(`0x${mask}`) & 0x100n) !== 0n);
  } catch {
    return true;
  }
}

/** This process's children that run the inference child. */
async function inferenceChildren(): Promise<number[]> {
  const tasks = await readdir('/proc/self/task');
  const pids = (await Promise.all(tasks.map((t) => readFile(`/proc/self/task/${t}/children`, 'utf8').catch(() => '')))).join(' ').split(/\s+/).filter(Boolean).map(Number);
  const lines = await Promise.all(pids.map(async (pid) => [pid, await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')] as const));
  return lines.filter(([, line]) => line.includes('inference-child')).map(([pid]) => pid);
}

it('comes back after its child is SIGKILLed mid-run; the killed run\'s temporary files can be told apart and removed', async () => {
  expect(await eventually(async () => inference.ready, 60_000, 100)).toBe(true);
  const [child] = await inferenceChildren();
  let kills = 0;
  const killed = inference.track(request('killed'), { onProgress: () => void (kills++ || process.kill(child, 'SIGKILL')) });
  const error = await killed.catch((e: unknown) => e);
  expect(error).not.toBeInstanceOf(RunAbortedError);
  expect((error as Error).message).toMatch(/the inference process exited \(code null, signal SIGKILL\)/);
  // Its ffmpeg processes are killed with it (an orphaned encoder would finish its file after the cleanup below):
  // when the run is rejected, each one is gone or has SIGKILL pending.
  expect(groupMembers(child).filter((pid) => !killPending(pid))).toEqual([]);
  expect(await eventually(async () => groupMembers(child).length === 0, 10_000, 20)).toBe(true);

  // What the writers had in progress stays (a SIGKILL runs no cleanup); the next attempt removes it.
  const out = path.join(dir, 'killed');
  const left = await removeTemporaryFiles(out);
  expect(left.some((name) => /^\.png\.[0-9a-f]{12}\.tmp$/.test(name))).toBe(true);
  expect((await readdir(out)).filter((name) => name.startsWith('.'))).toEqual([]);

  expect(await eventually(async () => inference.ready, 60_000, 100)).toBe(true);
  const [replacement] = await inferenceChildren();
  expect(replacement).not.toBe(child);
  const outcome = await inference.track(request('after-kill'));
  expect(outcome).toMatchObject({ frames: 3 });
  expect((await readdir(path.join(dir, 'after-kill'))).filter((name) => name.startsWith('.'))).toEqual([]);
});
