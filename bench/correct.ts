/**
 * What a correction costs against a first run, through the service (API +
 * worker + inference child on a private Redis):
 *
 *   npm run bench:correct -- [--video FILE] [--frame 60] [--object 1] [--clicks 3] [--no-keep]
 *
 * Submits the video with two objects (the person and the arch of
 * ../shared/cutie-examples/example.mp4 by default), times the first run from
 * upload to `succeeded`, then corrects one object on one frame with a click
 * inside its own mask there (the point farthest from the mask's edge) and
 * times that from the POST to the new revision's `succeeded`. --no-keep
 * runs with CORRECTIONS_KEEP_EMBEDDINGS=false (the correction encodes its
 * frames again). The last line:
 *
 *   first_s=.. correction_s=.. ratio=.. unchanged_frames=..
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRedisServer } from '../src/jobs/redis-server.js';
import { decodeRle } from '../src/segment/rle.js';
import { sampleNegativePoints, samplePositivePoints } from '../src/tracker/query-points.js';
import { startService } from '../src/service.js';
import type { BinaryMask, CocoRle } from '../src/types.js';

const EXAMPLE_PROMPTS = {
  objects: [
    { id: 1, name: 'person', prompts: [{ frame: 0, points: [[200, 330, 1], [265, 160, 1], [290, 300, 1], [330, 130, 0]] }] },
    { id: 2, name: 'arch', prompts: [{ frame: 0, points: [[570, 240, 1]] }] },
  ],
};

interface MasksJson {
  frames: { frame: number; objects: { id: number; rle: CocoRle }[] }[];
}

const { values } = parseArgs({
  options: {
    video: { type: 'string', default: '../shared/cutie-examples/example.mp4' },
    frame: { type: 'string', default: '60' },
    object: { type: 'string', default: '1' },
    'no-keep': { type: 'boolean', default: false },
    clicks: { type: 'string', default: '3' },
  },
});
const frame = Number(values.frame);
const objectId = Number(values.object);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The correction's clicks on the object's mask: spread positives and one negative, or the one most interior point. */
function userClicks(mask: BinaryMask, count: number): [number, number, 0 | 1][] {
  if (count <= 1) return [[...interiorPoint(mask), 1]];
  const positives = samplePositivePoints(mask, count);
  const negatives = sampleNegativePoints(mask, 1);
  const points: [number, number, 0 | 1][] = [];
  for (let i = 0; i < positives.length; i += 2) points.push([Math.round(positives[i]), Math.round(positives[i + 1]), 1]);
  for (let i = 0; i < negatives.length; i += 2) points.push([Math.round(negatives[i]), Math.round(negatives[i + 1]), 0]);
  return points;
}

/** The mask pixel farthest from the background (a click a user would make), by a city-block distance. */
function interiorPoint(mask: BinaryMask): [number, number] {
  const { width, height, data } = mask;
  const d = new Int32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      d[p] = data[p] ? Math.min(x > 0 ? d[p - 1] + 1 : 1, y > 0 ? d[p - width] + 1 : 1) : 0;
    }
  }
  let best = -1;
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const p = y * width + x;
      if (!data[p]) continue;
      d[p] = Math.min(d[p], x < width - 1 ? d[p + 1] + 1 : 1, y < height - 1 ? d[p + width] + 1 : 1);
      if (best < 0 || d[p] > d[best]) best = p;
    }
  }
  if (best < 0) throw new Error(`object ${objectId} has an empty mask on frame ${frame}: choose another frame or object`);
  return [best % width, Math.floor(best / width)];
}

async function waitFor(baseUrl: string, id: string, done: (job: any) => boolean): Promise<any> {
  for (;;) {
    const job = await (await fetch(`${baseUrl}/v1/jobs/${id}`)).json();
    if (job.state === 'failed' || job.state === 'cancelled') throw new Error(`job ${job.state}: ${JSON.stringify(job.error)}`);
    if (done(job)) return job;
    await sleep(200);
  }
}

const redisDir = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-redis-'));
const dataDir = await mkdtemp(path.join(tmpdir(), 'clipmask-bench-data-'));
const redis = await startRedisServer({ dir: redisDir, persist: false });
const env = {
  ...process.env,
  REDIS_URL: redis.url,
  DATA_DIR: dataDir,
  LOG_LEVEL: 'warn',
  PORT: '0',
  HOST: '127.0.0.1',
  CORRECTIONS_KEEP_EMBEDDINGS: values['no-keep'] ? 'false' : 'true',
};
const service = await startService('all', { env });
try {
  const baseUrl = `http://127.0.0.1:${(service.server!.address() as { port: number }).port}`;
  while ((await fetch(`${baseUrl}/readyz`)).status !== 200) await sleep(200);
  const form = new FormData();
  form.append('video', await openAsBlob(path.resolve(values.video!)), path.basename(values.video!));
  form.append('prompts', JSON.stringify(EXAMPLE_PROMPTS));
  const firstStart = performance.now();
  const submitted = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form });
  if (submitted.status !== 202) throw new Error(`submission refused: ${submitted.status} ${await submitted.text()}`);
  const { id } = (await submitted.json()) as { id: string };
  await waitFor(baseUrl, id, (job) => job.state === 'succeeded');
  const firstSeconds = (performance.now() - firstStart) / 1000;
  const before = (await (await fetch(`${baseUrl}/v1/jobs/${id}/artifacts/masks.json`)).json()) as MasksJson;
  console.log(`first run: ${before.frames.length} frames in ${firstSeconds.toFixed(1)} s`);

  const rle = before.frames[frame].objects.find((o) => o.id === objectId)!.rle;
  const points = userClicks(decodeRle(rle), Number(values.clicks));
  const correctionStart = performance.now();
  const posted = await fetch(`${baseUrl}/v1/jobs/${id}/corrections`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ objects: [{ id: objectId, prompts: [{ frame, points }] }] }),
  });
  if (posted.status !== 202) throw new Error(`correction refused: ${posted.status} ${await posted.text()}`);
  const { revision } = (await posted.json()) as { revision: number };
  const done = await waitFor(baseUrl, id, (job) => job.state === 'succeeded' && job.lastCorrection?.revision === revision);
  const correctionSeconds = (performance.now() - correctionStart) / 1000;
  const after = (await (await fetch(`${baseUrl}/v1/jobs/${id}/artifacts/masks.json`)).json()) as MasksJson;

  const unchanged = after.frames.filter((f, i) => JSON.stringify(f) === JSON.stringify(before.frames[i])).length;
  const firstChanged = after.frames.findIndex((f, i) => JSON.stringify(f) !== JSON.stringify(before.frames[i]));
  const otherSame = after.frames.every((f, i) => JSON.stringify(f.objects.filter((o) => o.id !== objectId)) === JSON.stringify(before.frames[i].objects.filter((o) => o.id !== objectId)));
  console.log(`correction: object ${objectId} clicked at ${JSON.stringify(points)} on frame ${frame}; re-tracked ${JSON.stringify(done.lastCorrection.changes)}`);
  console.log(`first changed frame: ${firstChanged < 0 ? 'none' : firstChanged}; other objects byte-identical: ${otherSame}; embeddings kept: ${!values['no-keep']}`);
  console.log(`first_s=${firstSeconds.toFixed(1)} correction_s=${correctionSeconds.toFixed(1)} ratio=${(correctionSeconds / firstSeconds).toFixed(3)} unchanged_frames=${unchanged}`);
} finally {
  await service.stop();
  await redis.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(redisDir, { recursive: true, force: true });
}
