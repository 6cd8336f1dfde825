/**
 * Renders through the service (API + worker, real model, ffmpeg and Redis):
 * asked for at submission (`outputs`) and later (POST /v1/jobs/:id/renders),
 * made by `render` jobs from masks.json and the source, listed in the status
 * and downloadable; made again from the new masks after a correction; bad
 * requests refused with the field named; nothing left after DELETE.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobPaths } from '../../src/jobs/layout.js';
import { DISC_AND_SQUARE, inspectVideo, makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { filesUnder, getJson, pollJob, startTestService, submission, type TestService, untilReady } from '../helpers/service.js';

let t: TestService;
let dir: string;
let clip: SyntheticClip;

const click = (object: number): [number, number, 1] => {
  const [x, y] = clip.center(0, object);
  return [Math.round(x), Math.round(y), 1];
};

const objects = () => [
  { id: 1, prompts: [{ frame: 0, points: [click(0)] }] },
  { id: 2, prompts: [{ frame: 0, points: [click(1)] }] },
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-renders-'));
  [t, clip] = await Promise.all([
    startTestService('all'),
    makeMovingShapeClip(dir, {
      width: 160,
      height: 120,
      frames: 8,
      fps: 8,
      audio: true,
      shapes: DISC_AND_SQUARE,
    }),
  ]);
  expect(await untilReady(t.baseUrl)).toBe(true);
});

afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

function postRender(id: string, body: unknown): Promise<Response> {
  return fetch(`${t.baseUrl}/v1/jobs/${id}/renders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const settled = (job: any) => job.state === 'succeeded' && (job.renders ?? []).every((r: any) => r.state === 'succeeded' || r.state === 'failed');

/** Downloads an artifact URL of the status into the test's folder. */
async function download(url: string, name: string): Promise<string> {
  const response = await fetch(`${t.baseUrl}${url}`);
  expect(response.status).toBe(200);
  const file = path.join(dir, name);
  await writeFile(file, Buffer.from(await response.arrayBuffer()));
  return file;
}

describe('renders of a job', () => {
  let id: string;

  it('makes the renders the submission asked for, once the masks are done, with the source frames and audio', async () => {
    const outputs = ['overlay.mp4', 'cutout.webm', { output: 'matte.mp4', objects: [2] }, 'cutout.webm'];
    const response = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, { objects: objects(), outputs }) });
    expect(response.status).toBe(202);
    id = ((await response.json()) as { id: string }).id;
    const queued = (await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body;
    // The duplicate is one render; overlay.mp4 is a standard output, not a render.
    expect(queued.renders.map((r: any) => [r.file, r.state])).toEqual([
      ['cutout.webm', 'queued'],
      ['matte-objects-2.mp4', 'queued'],
    ]);

    const job = await pollJob(t.baseUrl, id, settled, 120_000);
    expect(job.renders.map((r: any) => [r.file, r.state, r.revision])).toEqual([
      ['cutout.webm', 'succeeded', 0],
      ['matte-objects-2.mp4', 'succeeded', 0],
    ]);
    expect(job.renders[1]).toMatchObject({ output: 'matte.mp4', objects: [2], feather: 0 });
    const cutout = await inspectVideo(await download(job.renders[0].url, 'cutout.webm'));
    expect(cutout).toMatchObject({ width: 160, height: 120, frames: 8, videoCodec: 'vp9', audioCodec: 'opus' });
    const matte = await inspectVideo(await download(job.renders[1].url, 'matte.mp4'));
    expect(matte).toMatchObject({ frames: 8, videoCodec: 'h264', audioCodec: 'aac' });
    const head = await fetch(`${t.baseUrl}${job.renders[0].url}`, { headers: { range: 'bytes=0-9' } });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-type')).toBe('video/webm');
  });

  it('refuses bad render requests with the field named, and changes nothing', async () => {
    const cases: [unknown, number, string, string][] = [
      [{ output: 'cutout.gif' }, 400, 'invalid_render', 'body.output'],
      [{ output: 'effect.mp4', effect: 'sepia' }, 400, 'invalid_render', 'body.effect'],
      [{ output: 'matte.mp4', effect: 'spotlight' }, 400, 'invalid_render', 'body.effect'],
      [{ output: 'matte.mp4', feather: 99 }, 400, 'invalid_render', 'body.feather'],
      [{ output: 'matte.mp4', objects: [1, 7] }, 400, 'unknown_object', 'body.objects[1]'],
      [{ output: 'matte.mp4', colour: 'red' }, 400, 'invalid_render', 'body'],
    ];
    for (const [body, status, code, field] of cases) {
      const response = await postRender(id, body);
      const answer = (await response.json()) as any;
      expect([response.status, answer.error.code, answer.error.details?.field], JSON.stringify(body)).toEqual([status, code, field]);
    }
    const missing = await postRender('00000000-0000-4000-8000-000000000000', { output: 'matte.mp4' });
    expect(missing.status).toBe(404);
    expect((await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body.renders).toHaveLength(2);
  });

  it('makes a render asked for later, and the same request again is the same render', async () => {
    const response = await postRender(id, { output: 'effect.mp4', effect: 'spotlight', feather: 3 });
    expect(response.status).toBe(202);
    const render = (await response.json()) as any;
    expect(render).toMatchObject({ file: 'effect-spotlight-feather-3.mp4', state: 'queued', revision: 0 });
    const job = await pollJob(t.baseUrl, id, settled, 60_000);
    const made = job.renders.find((r: any) => r.file === render.file);
    expect(made.state).toBe('succeeded');
    expect(await inspectVideo(await download(made.url, 'effect.mp4'))).toMatchObject({ frames: 8, videoCodec: 'h264', pixFmt: 'yuv420p' });

    const again = await postRender(id, { output: 'effect.mp4', effect: 'spotlight', feather: 3 });
    expect(again.status).toBe(200);
    expect(((await again.json()) as any).state).toBe('succeeded');
  });

  it('makes every render again from the masks of a correction', async () => {
    const corrected = await fetch(`${t.baseUrl}/v1/jobs/${id}/corrections`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ objects: [{ id: 2, absentFrom: 4 }] }),
    });
    expect(corrected.status).toBe(202);
    // Filing the correction made the job running (correcting): no new render can be asked for.
    const refused = await postRender(id, { output: 'cutout.mov' });
    const answer = (await refused.json()) as any;
    expect([refused.status, answer.error.code]).toEqual([409, 'job_not_succeeded']);

    const job = await pollJob(t.baseUrl, id, (j) => j.revision === 1 && settled(j) && j.renders.every((r: any) => r.revision === 1), 120_000);
    expect(job.renders.every((r: any) => r.state === 'succeeded' && r.revision === 1)).toBe(true);
    // Object 2 is gone from frame 4 on: its matte is black there (within a grey level: lossless).
    const matte = job.renders.find((r: any) => r.file === 'matte-objects-2.mp4');
    const grey = await decodeGrey(await download(matte.url, 'matte-1.mp4'), 160, 120);
    expect(grey.slice(0, 4).map(max)).toEqual([255, 255, 255, 255]);
    expect(grey.slice(4).map(max)).toEqual([0, 0, 0, 0]);
    // The files of revision 0 are gone; only the newest of each render is kept.
    const renders = (await filesUnder(path.join(jobPaths(t.dataDir, id).out, 'renders'))).sort();
    expect(renders.every((f) => f.startsWith(`1${path.sep}`))).toBe(true);
  });

  it('refuses a render of a job that has not succeeded, and leaves nothing after DELETE', async () => {
    const response = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, { objects: objects() }) });
    const other = ((await response.json()) as { id: string }).id;
    const early = await postRender(other, { output: 'matte.mp4' });
    const answer = (await early.json()) as any;
    expect([early.status, answer.error.code]).toEqual([409, 'job_not_succeeded']);
    await pollJob(t.baseUrl, other, (j) => j.state === 'succeeded');

    expect((await fetch(`${t.baseUrl}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await filesUnder(jobPaths(t.dataDir, id).dir)).toEqual([]);
  });
});

const max = (frame: Uint8Array) => frame.reduce((m, v) => Math.max(m, v), 0);

/** The frames of a full-range grey video, decoded as they are (no range conversion). */
async function decodeGrey(file: string, width: number, height: number): Promise<Uint8Array[]> {
  const { spawn } = await import('node:child_process');
  const child = spawn('ffmpeg', ['-v', 'error', '-i', file, '-vf', 'scale=in_range=full:out_range=full,format=gray', '-f', 'rawvideo', 'pipe:1']);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => child.on('close', resolve));
  const all = Buffer.concat(chunks);
  const size = width * height;
  return Array.from({ length: all.length / size }, (_, i) => new Uint8Array(all.subarray(i * size, (i + 1) * size)));
}
