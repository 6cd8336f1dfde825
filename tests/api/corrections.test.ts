/**
 * Live results and corrections through the service (API + worker +
 * inference child, real model, ffmpeg and Redis): frames are served while a
 * job runs and equal the final masks.json; a correction of a finished job
 * re-tracks one object and leaves the other byte for byte; a correction of a
 * running job is applied without restarting it; two corrections at once are
 * both applied, in order; bad corrections change nothing.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobPaths } from '../../src/jobs/layout.js';
import { maskIoU } from '../../src/segment/postprocess.js';
import { decodeRle } from '../../src/segment/rle.js';
import type { CocoRle } from '../../src/types.js';
import { DISC_AND_SQUARE, makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { getJson, pollJob, startTestService, submission, type TestService, untilReady } from '../helpers/service.js';

interface MasksFrame {
  frame: number;
  objects: { id: number; rle: CocoRle; visible: boolean }[];
}

let t: TestService;
let dir: string;
let clip: SyntheticClip;

const click = (frame: number, object: number): [number, number, 1] => {
  const [x, y] = clip.center(frame, object);
  return [Math.round(x), Math.round(y), 1];
};

/** Object 1 on the disc, object 2 on the square. */
const prompts = () => ({ objects: [{ id: 1, prompts: [{ frame: 0, points: [click(0, 0)] }] }, { id: 2, prompts: [{ frame: 0, points: [click(0, 1)] }] }] });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-corrections-'));
  [t, clip] = await Promise.all([
    startTestService('all'),
    makeMovingShapeClip(dir, {
      width: 160,
      height: 120,
      frames: 8,
      fps: 8,
      shapes: DISC_AND_SQUARE,
    }),
  ]);
  expect(await untilReady(t.baseUrl)).toBe(true);
});

afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function submit(): Promise<string> {
  const response = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, prompts()) });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

function correct(id: string, body: unknown): Promise<Response> {
  return fetch(`${t.baseUrl}/v1/jobs/${id}/corrections`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function masksJson(id: string): Promise<{ frames: MasksFrame[] }> {
  return JSON.parse(await readFile(jobPaths(t.dataDir, id).masks, 'utf8'));
}

const objectOf = (frame: MasksFrame, id: number) => JSON.stringify(frame.objects.find((o) => o.id === id));

describe('a job with live results and corrections', () => {
  let id: string;
  let first: { frames: MasksFrame[] };

  it('serves the frames done while it runs, exactly as masks.json has them at the end', async () => {
    id = await submit();
    const seen = new Map<number, string>();
    let sawPartial = false;
    let done: any;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      done = (await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body;
      const { body } = await getJson(`${t.baseUrl}/v1/jobs/${id}/masks`);
      if (done.state === 'running' && body.frames.length > 0 && body.frames.length < 8) sawPartial = true;
      for (const f of body.frames as MasksFrame[]) seen.set(f.frame, JSON.stringify(f));
      if (done.state === 'succeeded' || done.state === 'failed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(done.state).toBe('succeeded');
    expect(done.revision).toBe(0);
    expect(done.progress.lastFrame).toBe(7);
    expect(sawPartial).toBe(true);
    first = await masksJson(id);
    for (const [frame, text] of seen) expect(text).toBe(JSON.stringify(first.frames[frame]));
    const after = await getJson(`${t.baseUrl}/v1/jobs/${id}/masks?from=3&to=5`);
    expect(after.body.frames.map((f: MasksFrame) => f.frame)).toEqual([3, 4]);
    expect(JSON.stringify(after.body.frames[0])).toBe(JSON.stringify(first.frames[3]));
  }, 150_000);

  it('serves a frame as JPEG, with the masks painted on as in the overlay', async () => {
    const plain = await fetch(`${t.baseUrl}/v1/jobs/${id}/frames/4.jpg`);
    const painted = await fetch(`${t.baseUrl}/v1/jobs/${id}/frames/4.jpg?overlay=1`);
    expect(plain.headers.get('content-type')).toBe('image/jpeg');
    const a = await sharp(Buffer.from(await plain.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    const b = await sharp(Buffer.from(await painted.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    expect(a.info.width).toBe(160);
    // The square (object 2) is painted: its centre's colour differs from the plain frame's.
    const [x, y] = click(4, 1);
    const at = (y * 160 + x) * 3;
    expect(Math.abs(a.data[at] - b.data[at]) + Math.abs(a.data[at + 1] - b.data[at + 1]) + Math.abs(a.data[at + 2] - b.data[at + 2])).toBeGreaterThan(30);
    expect((await fetch(`${t.baseUrl}/v1/jobs/${id}/frames/99.jpg`)).status).toBe(400);
  });

  it('refuses bad corrections, naming the field, and changes nothing', async () => {
    const cases: [unknown, number, string][] = [
      [{ objects: [] }, 400, 'objects'],
      [{ objects: [{ id: 1, prompts: [{ frame: 8, points: [[10, 10, 1]] }] }] }, 400, 'objects[0].prompts[0].frame'],
      [{ objects: [{ id: 1, prompts: [{ frame: 2, points: [[400, 10, 1]] }] }] }, 400, 'objects[0].prompts[0].points[0]'],
      [{ objects: [{ id: 7, absentFrom: 3 }] }, 400, 'objects[0].id'],
      [{ objects: [{ id: 1, absentFrom: 3, prompts: [{ frame: 1, points: [[1, 1, 1]] }] }] }, 400, 'objects[0]'],
    ];
    for (const [body, status, field] of cases) {
      const response = await correct(id, body);
      const answer = (await response.json()) as { error: { details?: { field?: string } } };
      expect(response.status, JSON.stringify(answer)).toBe(status);
      expect(answer.error.details?.field).toBe(field);
    }
    expect((await correct('00000000-0000-4000-8000-000000000000', { objects: [{ id: 1, absentFrom: 1 }] })).status).toBe(404);
    const job = (await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body;
    expect(job).toMatchObject({ state: 'succeeded', revision: 0 });
  });

  it('re-tracks the corrected object only, and keeps the other byte for byte', async () => {
    // One more click on the disc on frame 5, and a background point away from it.
    const response = await correct(id, { objects: [{ id: 1, prompts: [{ frame: 5, points: [click(5, 0), [8, 112, 0]] }] }] });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ revision: 1 });
    const running = (await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body;
    expect(running.revision).toBe(1);
    // The artifacts of revision 0 are served while the correction runs.
    if (running.state === 'running') expect((await fetch(`${t.baseUrl}/v1/jobs/${id}/artifacts/masks.json`)).status).toBe(200);
    const done = await pollJob(t.baseUrl, id, (job) => job.state !== 'running' && job.lastCorrection?.revision === 1, 120_000);
    expect(done).toMatchObject({ state: 'succeeded', revision: 1 });
    const [change] = done.lastCorrection.changes;
    expect(change).toMatchObject({ objectId: 1, to: 8 });
    const after = await masksJson(id);
    for (let f = 0; f < 8; f++) {
      expect(objectOf(after.frames[f], 2)).toBe(objectOf(first.frames[f], 2));
      if (f < change.from) expect(JSON.stringify(after.frames[f])).toBe(JSON.stringify(first.frames[f]));
    }
    for (let f = 5; f < 8; f++) {
      const mask = decodeRle(after.frames[f].objects.find((o) => o.id === 1)!.rle);
      expect(maskIoU(mask, clip.truth(f, 0))).toBeGreaterThan(0.75);
    }
    // The artifact is the new revision's.
    const served = await (await fetch(`${t.baseUrl}/v1/jobs/${id}/artifacts/masks.json`)).text();
    expect(served).toBe(await readFile(jobPaths(t.dataDir, id).masks, 'utf8'));
  }, 150_000);

  it('applies two corrections sent at once, in order', async () => {
    const [a, b] = await Promise.all([correct(id, { objects: [{ id: 2, absentFrom: 6 }] }), correct(id, { objects: [{ id: 3, prompts: [{ frame: 5, points: [click(5, 1)] }] }] })]);
    const revisions = [((await a.json()) as { revision: number }).revision, ((await b.json()) as { revision: number }).revision].sort();
    expect(revisions).toEqual([2, 3]);
    const done = await pollJob(t.baseUrl, id, (job) => job.state !== 'running' && job.lastCorrection?.revision === 3, 120_000);
    expect(done).toMatchObject({ state: 'succeeded', revision: 3 });
    const after = await masksJson(id);
    expect(after.frames[6].objects.map((o) => o.id)).toEqual([1, 2, 3]);
    expect(after.frames[6].objects.find((o) => o.id === 2)!.visible).toBe(false); // absent from 6 on (applied, whichever came first)
    expect(done.objects).toBe(3);
  }, 150_000);
});

describe('a correction of a running job', () => {
  it('is applied at a frame boundary, without restarting the run', async () => {
    const id = await submit();
    const started = await pollJob(t.baseUrl, id, (job) => job.state === 'failed' || (job.progress.lastFrame ?? -1) >= 3, 120_000);
    expect(started.state).toBe('running');
    const response = await correct(id, { objects: [{ id: 1, prompts: [{ frame: 2, points: [click(2, 0), [8, 112, 0]] }] }] });
    expect(response.status).toBe(202);
    const done = await pollJob(t.baseUrl, id, (job) => job.state === 'failed' || (job.state === 'succeeded' && job.lastCorrection?.revision === 1), 150_000);
    expect(done).toMatchObject({ state: 'succeeded', revision: 1, attempts: 1 });
    expect(done.lastCorrection.changes[0]).toMatchObject({ objectId: 1, to: 8 });
    const after = await masksJson(id);
    for (let f = 2; f < 8; f++) {
      const mask = decodeRle(after.frames[f].objects.find((o) => o.id === 1)!.rle);
      expect(maskIoU(mask, clip.truth(f, 0))).toBeGreaterThan(0.75);
    }
    // The overlay frame was painted from the corrected masks (frames done before the correction were rendered again).
    expect((await fetch(`${t.baseUrl}/v1/jobs/${id}/artifacts/overlay.mp4`)).status).toBe(200);
  }, 240_000);

  it('is refused on a cancelled job', async () => {
    const id = await submit();
    await fetch(`${t.baseUrl}/v1/jobs/${id}`, { method: 'DELETE' });
    const response = await correct(id, { objects: [{ id: 1, prompts: [{ frame: 3, points: [click(3, 0)] }] }] });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_correctable');
  });
});
