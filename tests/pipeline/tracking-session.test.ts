/**
 * The tracking session with the real model: a first run writes frame
 * records; corrections re-track only what they change (other objects and
 * frames before the backward stop keep their records byte for byte), give
 * the same masks whether the embeddings were kept or encoded again, and can
 * be applied to a run while it goes on.
 */
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileEmbeddingStore, type EmbeddingStore } from '../../src/inference/embedding-store.js';
import { KeptEmbeddings } from '../../src/inference/kept-embeddings.js';
import { probeInput } from '../../src/media/index.js';
import { recordMask, type FrameRecord } from '../../src/output/masks-json.js';
import { maskIoU } from '../../src/segment/postprocess.js';
import { FileResults } from '../../src/output/result-store.js';
import { sessionObjects, TrackingSession, type EmbeddingSource } from '../../src/pipeline/tracking-session.js';
import { SamSegmenter } from '../../src/segment/segmenter.js';
import type { Prompts, RgbFrame, VideoMeta } from '../../src/types.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';

const FRAMES = 8;
let dir: string;
let segmenter: SamSegmenter;
let clip: SyntheticClip;
let meta: VideoMeta;
let store: FileEmbeddingStore;
/** The first run's records, frame by frame. */
let firstRun: FrameRecord[];

/** Shapes: 0 the disc, 1 the square, 2 a small disc nobody wants. */
const click = (frame: number, shape: number): [number, number, 1] => {
  const [x, y] = clip.center(frame, shape);
  return [Math.round(x), Math.round(y), 1];
};
const background = (frame: number, shape: number): [number, number, 0] => [...click(frame, shape).slice(0, 2), 0] as [number, number, 0];

/** Object 1 was clicked on the wrong shape (the small disc); object 2 is the square. */
const prompts = (): Prompts => ({ objects: [{ id: 1, prompts: [{ frame: 0, points: [click(0, 2)] }] }, { id: 2, prompts: [{ frame: 0, points: [click(0, 1)] }] }] });

/** Embeddings through the store, written on first use (as the first run's kept ones). */
function storing(target: EmbeddingStore): EmbeddingSource {
  return { get: async (frame: RgbFrame) => (await target.read(frame.index)) ?? target.write(frame.index, await segmenter.embed(frame)) };
}

function session(resultsDir: string, embeddings: EmbeddingSource, pending?: string): { session: TrackingSession; results: FileResults } {
  const results = new FileResults(resultsDir, pending);
  return { session: new TrackingSession({ input: clip.path, video: meta, segmenter, objects: sessionObjects(prompts().objects), results, embeddings }), results };
}

/** A correction's session on a copy of the first run's records. */
async function fromFirstRun(name: string, embeddings: EmbeddingSource = new KeptEmbeddings(store, segmenter)) {
  const resultsDir = path.join(dir, name);
  await cp(path.join(dir, 'first'), resultsDir, { recursive: true });
  return session(resultsDir, embeddings, `${resultsDir}-pending`);
}

async function records(results: FileResults): Promise<FrameRecord[]> {
  return results.readRange(0, FRAMES);
}

const objectOf = (record: FrameRecord, id: number) => record.objects.find((o) => o.id === id)!;
const same = (a: unknown, b: unknown) => expect(JSON.stringify(a)).toBe(JSON.stringify(b));

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-session-'));
  segmenter = await SamSegmenter.create();
  clip = await makeMovingShapeClip(dir, {
    width: 320,
    height: 240,
    frames: FRAMES,
    fps: 10,
    shapes: [
      { kind: 'disc', radius: 36, from: [80, 80], to: [170, 140] },
      { kind: 'square', radius: 30, from: [250, 180], to: [240, 90] },
      { kind: 'disc', radius: 18, from: [60, 200], to: [80, 205] },
    ],
  });
  meta = await probeInput(clip.path);
  store = new FileEmbeddingStore(path.join(dir, 'embeddings'), 4);
  await mkdir(store.dir, { recursive: true });
  const { session: first, results } = session(path.join(dir, 'first'), storing(store));
  for await (const frame of first.propagateAll()) expect(frame.record.frame).toBeGreaterThanOrEqual(0);
  firstRun = await records(results);
  expect(maskIoU(recordMask(objectOf(firstRun[4], 1)), clip.truth(4, 2))).toBeGreaterThan(0.7); // on the small disc
}, 180_000);

afterAll(async () => {
  await segmenter?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('a correction of a finished run', () => {
  it('re-tracks the corrected object only, and stops going back where the masks agree again', async () => {
    const { session: s, results } = await fromFirstRun('agree');
    // The square clicked again on frame 6: the click refines the mask it had, so the masks before agree with the new ones.
    const changes = await s.correct({ objects: [{ id: 2, prompts: [{ frame: 6, points: [click(6, 1)] }] }] });
    expect(changes).toHaveLength(1);
    const [{ objectId, from, to }] = changes;
    expect(objectId).toBe(2);
    expect(to).toBe(FRAMES);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(6);
    const after = await records(results);
    for (let t = 0; t < FRAMES; t++) {
      same(objectOf(after[t], 1), objectOf(firstRun[t], 1));
      if (t < from) same(after[t], firstRun[t]);
    }
  }, 120_000);

  it('moves a wrongly placed object onto the right one from the corrected frame, and gives the same masks with or without kept embeddings', async () => {
    // The disc is the object, the small disc is not (the clicks refine the mask the frame has, as in SAM 2).
    const correction = { objects: [{ id: 1, prompts: [{ frame: 4, points: [click(4, 0), background(4, 2)] }] }] };
    // A store that lost some of the embeddings the correction needs (the budget, a restart on another disk).
    const partial = new FileEmbeddingStore(path.join(dir, 'partial-embeddings'), 4);
    await cp(store.dir, partial.dir, { recursive: true });
    for (const frame of [2, 4, 6]) await partial.remove(frame);

    const outcomes: FrameRecord[][] = [];
    const sources = { kept: new KeptEmbeddings(store, segmenter), partly: new KeptEmbeddings(partial, segmenter) };
    for (const [name, embeddings] of Object.entries(sources)) {
      const { session: s, results } = await fromFirstRun(`wrong-${name}`, embeddings);
      const changes = await s.correct(correction);
      await results.commit();
      expect(changes[0]).toMatchObject({ objectId: 1, to: FRAMES });
      outcomes.push(await records(results));
    }
    expect(sources.partly.encoded).toBeGreaterThan(0);
    expect(sources.kept.encoded).toBe(0);
    same(outcomes[1], outcomes[0]);
    const after = outcomes[0];
    for (let t = 4; t < FRAMES; t++) expect(maskIoU(recordMask(objectOf(after[t], 1)), clip.truth(t, 0))).toBeGreaterThan(0.8);
    for (let t = 0; t < FRAMES; t++) same(objectOf(after[t], 2), objectOf(firstRun[t], 2));
    same(after[0], firstRun[0]);
  }, 180_000);

  it('marks an object absent from a frame on, leaving the others as they were', async () => {
    const { session: s, results } = await fromFirstRun('absent');
    const changes = await s.correct({ objects: [{ id: 2, absentFrom: 5 }] });
    expect(changes).toEqual([{ objectId: 2, from: 5, to: FRAMES }]);
    const after = await records(results);
    for (let t = 0; t < FRAMES; t++) {
      expect(objectOf(after[t], 2).visible).toBe(t < 5 ? objectOf(firstRun[t], 2).visible : false);
      same(objectOf(after[t], 1), objectOf(firstRun[t], 1));
    }
    expect(s.objects().find((o) => o.id === 2)).toMatchObject({ absentFrom: 5 });
  }, 60_000);
});

describe('a correction of a running first run', () => {
  it('is applied at the next frame boundary without restarting the run', async () => {
    const { session: s, results } = session(path.join(dir, 'running'), new KeptEmbeddings(store, segmenter));
    const yielded: number[] = [];
    for await (const { frame } of s.propagateAll()) {
      yielded.push(frame.index);
      // Frame 4 is done: correct object 1 on frame 2, behind the run.
      if (frame.index === 4) s.queueCorrection({ revision: 1, correction: { objects: [{ id: 1, prompts: [{ frame: 2, points: [click(2, 0), background(2, 2)] }] }] } });
    }
    expect(yielded).toEqual(Array.from({ length: FRAMES }, (_, t) => t)); // one pass, no restart
    expect(s.appliedRevision).toBe(1);
    expect(s.rewroteDoneFrames).toBe(true);
    expect(s.runChanges).toEqual([{ objectId: 1, from: 1, to: FRAMES }]);
    const after = await records(results);
    for (let t = 2; t < FRAMES; t++) expect(maskIoU(recordMask(objectOf(after[t], 1)), clip.truth(t, 0))).toBeGreaterThan(0.8);
    same(after[0], firstRun[0]); // frame 0 is its prompt: not re-tracked
  }, 120_000);
});
