/**
 * The policies of the job layer, with fakes where they pin a decision: how a
 * run that ends early is recorded (endingFor), what the progress says, the
 * disk budget of kept embeddings, a correction's pending frame records, and
 * the session (objects and speed) a correction continues.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceError, RunAbortedError } from '../../src/inference/inference-process.js';
import { enforceEmbeddingBudget } from '../../src/jobs/embedding-budget.js';
import { sessionState } from '../../src/jobs/correct-job.js';
import { CANCELLED, endingFor, SHUTDOWN, type EndingContext } from '../../src/jobs/job-run.js';
import { jobPaths, jobRelativePaths } from '../../src/jobs/layout.js';
import { ProgressClock } from '../../src/jobs/track-job.js';
import { MediaError } from '../../src/media/errors.js';
import { frameRecord, objectRecord } from '../../src/output/masks-json.js';
import { PromptsError } from '../../src/prompts.js';
import { FileResults } from '../../src/output/result-store.js';
import { DiskStorage, StorageError } from '../../src/storage/index.js';

const context = (overrides: Partial<EndingContext> = {}): EndingContext => ({
  aborted: false,
  reason: undefined,
  canHandBack: true,
  attemptsMade: 0,
  attempts: 3,
  ...overrides,
});

describe('endingFor: what a run that stopped early becomes', () => {
  it('hands a job back on shutdown when it holds a lock token, and counts a try when it does not', () => {
    expect(endingFor(new RunAbortedError(SHUTDOWN), context())).toEqual({ action: 'hand-back' });
    expect(endingFor(new Error('child died'), context({ aborted: true, reason: SHUTDOWN }))).toEqual({ action: 'hand-back' });
    expect(endingFor(new RunAbortedError(SHUTDOWN), context({ canHandBack: false }))).toMatchObject({ action: 'retry', jobError: { code: 'internal' } });
  });

  it('stops a cancelled run without recording a failure', () => {
    expect(endingFor(new RunAbortedError(CANCELLED), context())).toEqual({ action: 'cancel' });
    expect(endingFor(new Error('ffmpeg was killed'), context({ aborted: true, reason: CANCELLED }))).toEqual({ action: 'cancel' });
  });

  it('fails at once on bad input, with the input code, and never retries it', () => {
    const media = new InferenceError({ name: 'MediaError', message: 'the file ends early', code: 'truncated' });
    expect(endingFor(media, context())).toEqual({ action: 'fail', jobError: { code: 'truncated', message: 'the file ends early' }, unrecoverable: true });
    const prompts = new InferenceError({ name: 'PromptsError', message: 'objects[0]: bad', field: 'objects[0]' });
    expect(endingFor(prompts, context())).toMatchObject({ action: 'fail', jobError: { code: 'invalid_prompts' }, unrecoverable: true });
    expect(endingFor(Object.assign(new UnrecoverableError('nope'), { code: 'unprocessable' }), context())).toMatchObject({ action: 'fail', unrecoverable: true });
    // The same from this process (the track job's decode pass), not only from the child.
    const here = new MediaError('undecodable', "none of the video's frames can be decoded; the file is damaged");
    expect(endingFor(here, context())).toEqual({ action: 'fail', jobError: { code: 'undecodable', message: here.message }, unrecoverable: true });
    expect(endingFor(new PromptsError('frame 30 is beyond the video', 'objects[0]'), context())).toMatchObject({ action: 'fail', jobError: { code: 'invalid_prompts' } });
    // A media failure that is the server's (ffmpeg killed) is retried.
    expect(endingFor(new MediaError('ffmpeg_failed', 'the video could not be read'), context())).toMatchObject({ action: 'retry' });
  });

  it('retries other failures until the last attempt, and says a full disk plainly', () => {
    expect(endingFor(new Error('boom'), context({ attemptsMade: 0 }))).toMatchObject({ action: 'retry', jobError: { code: 'internal' } });
    expect(endingFor(new Error('boom'), context({ attemptsMade: 1 }))).toMatchObject({ action: 'retry' });
    expect(endingFor(new Error('boom'), context({ attemptsMade: 2 }))).toMatchObject({ action: 'fail', unrecoverable: false });
    const full = Object.assign(new Error('no space'), { code: 'ENOSPC' });
    expect(endingFor(full, context())).toMatchObject({ action: 'retry', jobError: { code: 'disk_full' } });
  });

  it('gives object storage that is full or refuses access its own code, here or from the inference child, and retries it', () => {
    const here = new StorageError('storage_full', 'object storage is full (XMinioStorageFull) writing jobs/x/out/masks.json');
    expect(endingFor(here, context())).toEqual({ action: 'retry', jobError: { code: 'storage_full', message: 'the object storage is full; the job could not store its files' } });
    const child = new InferenceError({ name: 'StorageError', message: 'object storage refused access (AccessDenied) to jobs/x/embeddings/3.f16', code: 'storage_denied' });
    expect(endingFor(child, context({ attemptsMade: 2 }))).toMatchObject({ action: 'fail', jobError: { code: 'storage_denied' }, unrecoverable: false });
  });
});

describe('ProgressClock', () => {
  it('reports the newest final frame and the share of the frames done', () => {
    const clock = new ProgressClock({ frames: 10 });
    expect(clock.snapshot()).toMatchObject({ percent: 0, lastFrame: null });
    clock.begin('tracking');
    clock.onFrames({ pass: 'backward', framesDone: 3, framesTotal: 13 });
    expect(clock.snapshot()).toMatchObject({ framesDone: 3, framesTotal: 13, lastFrame: null });
    clock.onFrames({ pass: 'forward', framesDone: 8, framesTotal: 13, lastFrame: 4 });
    expect(clock.snapshot()).toMatchObject({ percent: Math.round(((95 * 8) / 13) * 10) / 10, lastFrame: 4 });
    clock.allFinal(10);
    clock.stage = 'done';
    expect(clock.snapshot()).toMatchObject({ percent: 100, lastFrame: 9, etaSeconds: 0 });
  });
});

describe('kept embeddings and frame records on disk', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'clipmask-budget-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('removes the oldest idle jobs’ embeddings until the rest fit the budget', async () => {
    const ids = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003'];
    for (const [i, id] of ids.entries()) {
      const dir = jobPaths(dataDir, id).embeddings;
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, '0.f16'), Buffer.alloc(1000));
      const when = new Date(Date.UTC(2026, 0, 1 + i));
      await utimes(path.join(dir, '0.f16'), when, when);
    }
    // The oldest is busy (being corrected): the next oldest goes instead.
    const freed = await enforceEmbeddingBudget(new DiskStorage(dataDir), 2000, async (id) => id !== ids[0]);
    expect(freed).toBe(1000);
    const left = await Promise.all(ids.map((id) => readdir(jobPaths(dataDir, id).embeddings).then(() => true, () => false)));
    expect(left).toEqual([true, false, true]);
    expect(await enforceEmbeddingBudget(new DiskStorage(dataDir), 2000, async () => true)).toBe(0);
  });

  it('keeps a correction’s records apart until it is committed, and drops them when it is not', async () => {
    const committed = path.join(dataDir, 'frames');
    const pending = path.join(dataDir, 'frames-pending');
    const meta = { frameNames: ['a', 'b'], timestamps: [0, 0.5], fps: 2 };
    const record = (frame: number, score: number) => frameRecord(meta, frame, [objectRecord(1, undefined, score, 4, 3)]);
    await new FileResults(committed).write(record(0, 0.5));
    await new FileResults(committed).write(record(1, 0.5));
    const correcting = new FileResults(committed, pending);
    await correcting.write(record(1, 0.9));
    expect((await new FileResults(committed).read(1))!.objects[0].score).toBe(0.5); // the revision before, for artifacts
    expect((await correcting.read(1))!.objects[0].score).toBe(0.9); // live views see the new one
    await correcting.discardPending();
    expect((await correcting.read(1))!.objects[0].score).toBe(0.5);
    await correcting.write(record(1, 0.8));
    await correcting.commit();
    expect((await new FileResults(committed).readRange(0, 2)).map((r) => r.objects[0].score)).toEqual([0.5, 0.8]);
    expect(await readdir(pending).catch(() => 'gone')).toBe('gone');
  });
});

describe("a correction's session", () => {
  let dataDir: string;
  const id = '00000000-0000-4000-8000-00000000c0de';
  const paths = jobRelativePaths(id);
  const at = (relative: string) => path.join(dataDir, relative);
  const submitted = { objects: [{ id: 1, name: 'dog', prompts: [{ frame: 0, points: [[5, 6, 1]] }] }] };
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'clipmask-session-'));
    await mkdir(at(paths.dir), { recursive: true });
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("runs at the job's speed, from the submitted prompts, before and after the first run saved its objects", async () => {
    await writeFile(at(paths.prompts), JSON.stringify({ ...submitted, speed: 'fast' }));
    const read = (key: string) => readFile(at(key), 'utf8');
    expect(await sessionState(paths, read, 16)).toEqual({ objects: submitted.objects, speed: 'fast' });
    const saved = [{ id: 1, name: 'dog', prompts: submitted.objects[0].prompts, absentFrom: 4 }];
    await writeFile(at(paths.session), JSON.stringify({ objects: saved }));
    expect(await sessionState(paths, read, 16)).toEqual({ objects: saved, speed: 'fast' });
    // A best-mode job (no speed submitted) has none: the pipeline's default.
    await writeFile(at(paths.prompts), JSON.stringify(submitted));
    expect((await sessionState(paths, read, 16)).speed).toBeUndefined();
  });
});
