/**
 * The inference child as the worker drives it: a cancelled run that does not
 * stop in time is killed, the child comes back with its model, and the next
 * run works (real model, real ffmpeg).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { InferenceProcess, RunAbortedError } from '../../src/inference/inference-process.js';
import { createLogger } from '../../src/logger.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { eventually } from '../helpers/service.js';

let dir: string;
let clip: SyntheticClip;
// killAfterMs 1: every cancel ends with SIGKILL, the path a stuck run would take.
const inference = new InferenceProcess({ logger: createLogger('silent'), killAfterMs: 1 });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-inference-'));
  [clip] = await Promise.all([makeMovingShapeClip(dir, { width: 96, height: 72, frames: 3, fps: 3 }), inference.start()]);
});
afterAll(async () => {
  await inference.close();
  await rm(dir, { recursive: true, force: true });
});

const request = (name: string) => ({
  input: clip.path,
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
