/**
 * The live-preview API the web page uses, against the real model and ffmpeg:
 * upload once, fetch a frame, warm its embedding, then a click gives the
 * object's mask quickly (decoder only); bad requests are refused by name.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskIoU } from '../../src/segment/postprocess.js';
import { runsToMask } from '../../src/segment/rle.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { filesUnder, startTestService, submission, type TestService } from '../helpers/service.js';

let t: TestService;
let dir: string;
let clip: SyntheticClip;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-previews-'));
  // The API alone: previews run in the API process's own inference child, no worker needed.
  [t, clip] = await Promise.all([startTestService('api'), makeMovingShapeClip(dir, { width: 160, height: 120, frames: 4, fps: 4 })]);
});
afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function upload(file: string) {
  const response = await fetch(`${t.baseUrl}/v1/previews`, { method: 'POST', body: await submission(file, undefined) });
  return { status: response.status, body: await response.json() };
}

const postJson = (url: string, body: unknown) =>
  fetch(`${t.baseUrl}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('previews', () => {
  it('uploads a video, serves its frames, and answers a click with the object mask', async () => {
    const created = await upload(clip.path);
    expect(created.status).toBe(201);
    expect(created.body.video).toMatchObject({ width: 160, height: 120, frames: 4 });
    const id = created.body.id;

    const frame = await fetch(`${t.baseUrl}/v1/previews/${id}/frames/2.jpg`);
    expect(frame.status).toBe(200);
    expect(frame.headers.get('content-type')).toBe('image/jpeg');
    expect(await sharp(Buffer.from(await frame.arrayBuffer())).metadata()).toMatchObject({ width: 160, height: 120, format: 'jpeg' });

    expect((await fetch(`${t.baseUrl}/v1/previews/${id}/frames/2/embedding`, { method: 'POST' })).status).toBe(204);
    const [x, y] = clip.center(2).map(Math.round);
    const response = await postJson(`/v1/previews/${id}/masks`, { frame: 2, points: [[x, y, 1]] });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({ frame: 2, width: 160, height: 120, mask: { size: [120, 160] } });
    // The embedding was cached by the warm-up: the click only ran the decoder.
    expect(body.timings.embedMs).toBe(0);
    const mask = runsToMask(body.mask.counts, 120, 160);
    expect(body.area).toBe(mask.data.reduce((a: number, b: number) => a + b, 0));
    expect(maskIoU(mask, clip.truth(2))).toBeGreaterThan(0.85);

    expect((await fetch(`${t.baseUrl}/v1/previews/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${t.baseUrl}/v1/previews/${id}`)).status).toBe(404);
  });

  it('refuses bad previews by name, and leaves nothing of a refused upload', async () => {
    const { body: session } = await upload(clip.path);
    const cases: [unknown, number, string, string?][] = [
      [{ frame: 0, points: [[500, 10, 1]] }, 400, 'outside_frame', 'points.0'],
      [{ frame: 9, points: [[10, 10, 1]] }, 400, 'frame_out_of_range', 'frame'],
      [{ frame: 0, points: [[10, 10, 0]] }, 400, 'invalid_preview'],
      [{ frame: 0, points: [[10, 10, 7]] }, 400, 'invalid_preview', 'points.0.2'],
      ['{"frame": 0,', 400, 'invalid_json'],
    ];
    for (const [request, status, code, field] of cases) {
      const response = await postJson(`/v1/previews/${session.id}/masks`, request);
      const body = await response.json();
      expect(response.status, JSON.stringify(request)).toBe(status);
      expect(body.error.code).toBe(code);
      if (field) expect(body.error.details.field).toBe(field);
    }
    expect((await fetch(`${t.baseUrl}/v1/previews/${session.id}/frames/4.jpg`)).status).toBe(400);
    expect((await fetch(`${t.baseUrl}/v1/previews/00000000-0000-4000-8000-000000000000/frames/0.jpg`)).status).toBe(404);

    const notVideo = path.join(dir, 'notes.mp4');
    await writeFile(notVideo, 'not a video at all');
    const refused = await upload(notVideo);
    expect(refused.status).toBe(415);
    expect(refused.body.error.code).toBe('not_a_video');
    const left = await filesUnder(t.dataDir);
    expect(left.filter((f) => f.startsWith('uploads'))).toEqual([]);
    expect(left.filter((f) => f.startsWith('previews')).every((f) => f.includes(session.id))).toBe(true);
  });
});
