/**
 * Every kind of bad submission gets a 4xx with a clear code, message and
 * field, before anything is queued, and leaves nothing on disk. The API runs
 * alone (no worker, no model): rejection never needs one.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeAudioOnly,
  makeEmptyFile,
  makeMovingShapeClip,
  makeStillImage,
  makeTextFile,
  makeTruncated,
  makeZeroFrameClip,
  type SyntheticClip,
} from '../helpers/synthetic.js';
import { filesUnder, getJson, onePointPrompts, startTestService, submission, type TestService } from '../helpers/service.js';

let t: TestService;
let dir: string;
let clip: SyntheticClip;
const files: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-bad-'));
  [t, clip] = await Promise.all([
    startTestService('api', {
      MAX_UPLOAD_BYTES: '300000',
      MAX_PIXELS: String(320 * 240),
      MAX_FRAMES: '30',
      MAX_DURATION_S: '60',
      MAX_OBJECTS: '2',
      MAX_QUEUED_JOBS: '1',
    }),
    makeMovingShapeClip(dir, { width: 160, height: 120, frames: 8, fps: 8 }),
  ]);
  files.text = await makeTextFile(dir);
  files.empty = await makeEmptyFile(dir);
  files.audio = await makeAudioOnly(dir);
  files.truncated = await makeTruncated(dir);
  files.zeroFrames = await makeZeroFrameClip(dir);
  files.still = await makeStillImage(dir);
  files.wide = (await makeMovingShapeClip(dir, { width: 400, height: 300, frames: 2, name: 'wide.mp4' })).path;
  files.manyFrames = (await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 40, fps: 10, name: 'many.mp4' })).path;
  files.slow = (await makeMovingShapeClip(dir, { width: 64, height: 48, frames: 4, fps: 0.05, name: 'slow.mp4' })).path;
  files.huge = path.join(dir, 'huge.mp4');
  await writeFile(files.huge, randomBytes(400_000));
});

afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function post(form: FormData | string, headers: Record<string, string> = {}) {
  const response = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: form, headers });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), text };
}

const good = () => onePointPrompts(80, 60);

interface Case {
  label: string;
  form: () => Promise<FormData>;
  status: number;
  code: string;
  field?: string;
  message: RegExp;
}

const cases: Case[] = [
  { label: 'a text file named .mp4', form: () => submission(files.text, good()), status: 415, code: 'not_a_video', field: 'video', message: /not a video/ },
  { label: 'an empty file', form: () => submission(files.empty, good()), status: 415, code: 'not_a_video', field: 'video', message: /empty|not a video/ },
  { label: 'a still image', form: () => submission(files.still, good()), status: 415, code: 'not_a_video', field: 'video', message: /image/ },
  { label: 'audio only', form: () => submission(files.audio, good()), status: 415, code: 'no_video_stream', field: 'video', message: /no video/ },
  { label: 'an mp4 cut in half', form: () => submission(files.truncated, good()), status: 400, code: 'truncated', field: 'video', message: /cut short/ },
  { label: 'a video stream without frames', form: () => submission(files.zeroFrames, good()), status: 400, code: 'zero_frames', field: 'video', message: /no frames/ },
  { label: 'more pixels than MAX_PIXELS', form: () => submission(files.wide, good()), status: 413, code: 'video_too_large', field: 'video', message: /400x300 pixels; the limit is 76800/ },
  { label: 'more frames than MAX_FRAMES', form: () => submission(files.manyFrames, good()), status: 413, code: 'video_too_long', field: 'video', message: /40 frames; the limit is 30/ },
  { label: 'longer than MAX_DURATION_S', form: () => submission(files.slow, good()), status: 413, code: 'video_too_long', field: 'video', message: /s long; the limit is 60 s/ },
  { label: 'an upload over MAX_UPLOAD_BYTES', form: () => submission(files.huge, good()), status: 413, code: 'upload_too_large', field: 'video', message: /larger than the limit/ },
  { label: 'no video part', form: () => submission(undefined, good()), status: 400, code: 'missing_video', field: 'video', message: /no "video"/ },
  { label: 'the video under another name', form: () => submission(clip.path, good(), { videoField: 'file' }), status: 400, code: 'unexpected_file', field: 'file', message: /"video"/ },
  { label: 'no prompts part', form: () => submission(clip.path, undefined), status: 400, code: 'missing_prompts', field: 'prompts', message: /no "prompts"/ },
  { label: 'prompts that are not JSON', form: () => submission(clip.path, '{"objects": ['), status: 400, code: 'invalid_prompts', field: 'prompts', message: /not valid JSON/ },
  {
    label: 'prompts that are not the schema',
    form: () => submission(clip.path, { objects: [{ id: 1, prompts: [{ frame: 0, points: [[10, 10, 0]] }] }] }),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts.objects[0].prompts[0]',
    message: /at least one object point/,
  },
  {
    label: 'an unknown key in the prompts',
    form: () => submission(clip.path, { objects: [{ id: 1, prompts: [{ frame: 0, points: [[10, 10, 1]] }] }], colour: 'red' }),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts',
    message: /colour/,
  },
  {
    label: 'a speed that is not best or fast',
    form: () => submission(clip.path, { ...good(), speed: 'turbo' }),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts.speed',
    message: /^speed: must be "best" or "fast"$/,
  },
  {
    label: 'a point outside the frame',
    form: () => submission(clip.path, onePointPrompts(160, 20)),
    status: 400,
    code: 'outside_frame',
    field: 'prompts.objects[0].prompts[0].points[0]',
    message: /\(160, 20\) is outside the 160x120 frame/,
  },
  {
    label: 'a prompt frame beyond the video',
    form: () => submission(clip.path, onePointPrompts(80, 60, 8)),
    status: 400,
    code: 'frame_out_of_range',
    field: 'prompts.objects[0].prompts[0].frame',
    message: /frame 8 is beyond the video's last frame 7/,
  },
  {
    label: 'deeply nested JSON (100 000 levels)',
    form: () => submission(clip.path, '['.repeat(100_000) + ']'.repeat(100_000)),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts',
    message: /./,
  },
  {
    label: 'nested JSON within the size limit',
    form: () => submission(clip.path, `{"objects": ${'['.repeat(20_000)}${']'.repeat(20_000)}}`),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts.objects[0]',
    message: /object/,
  },
  { label: 'huge prompts', form: () => submission(clip.path, ' '.repeat(2 * 1024 * 1024)), status: 413, code: 'field_too_large', field: 'prompts', message: /larger than the limit/ },
  {
    label: 'a negative coordinate',
    form: () => submission(clip.path, { objects: [{ id: 1, prompts: [{ frame: 0, points: [[-1, 10, 1]] }] }] }),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts.objects[0].prompts[0].points[0][0]',
    message: />=0|too small/i,
  },
  {
    label: 'an infinite coordinate (1e999; JSON has no NaN)',
    form: () => submission(clip.path, '{"objects": [{"id": 1, "prompts": [{"frame": 0, "points": [[1e999, 10, 1]]}]}]}'),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts.objects[0].prompts[0].points[0][0]',
    message: /number|finite|Infinity/i,
  },
  {
    label: 'a label other than 0 or 1',
    form: () => submission(clip.path, { objects: [{ id: 1, prompts: [{ frame: 0, points: [[10, 10, 2]] }] }] }),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts.objects[0].prompts[0].points[0][2]',
    message: /label must be 0 \(background\) or 1 \(object\)/,
  },
  { label: 'no objects', form: () => submission(clip.path, { objects: [] }), status: 400, code: 'invalid_prompts', field: 'prompts.objects', message: /at least one object/ },
  {
    label: 'duplicate object ids',
    form: () => submission(clip.path, { objects: [1, 1].map((id, i) => ({ id, prompts: [{ frame: 0, points: [[10 + i, 10, 1]] }] })) }),
    status: 400,
    code: 'invalid_prompts',
    field: 'prompts.objects[1].id',
    message: /duplicate object id 1/,
  },
  {
    label: 'more objects than MAX_OBJECTS',
    form: () => submission(clip.path, { objects: [1, 2, 3].map((id) => ({ id, prompts: [{ frame: 0, points: [[10 * id, 10, 1]] }] })) }),
    status: 400,
    code: 'too_many_objects',
    field: 'prompts.objects',
    message: /3 objects; the limit is 2/,
  },
];

describe('POST /v1/jobs refuses bad input before queueing it', () => {
  it.each(cases)('$label -> $status $code', async ({ form, status, code, field, message }) => {
    const { status: got, body, text } = await post(await form());
    expect({ got, code: body.error?.code }).toEqual({ got: status, code });
    expect(body.error.message).toMatch(message);
    if (field) expect(body.error.details?.field).toBe(field);
    // No stack traces or server paths in what the client sees.
    expect(text).not.toContain(t.dataDir);
    expect(text).not.toMatch(/\/tmp\/|\/work\/|at .*\.ts:\d+/);
    // Nothing left on disk, nothing recorded.
    expect(await filesUnder(t.dataDir)).toEqual([]);
    expect((await getJson(`${t.baseUrl}/v1/jobs`)).body.total).toBe(0);
  });

  it('answers 415 to a body that is not multipart', async () => {
    const { status, body } = await post(JSON.stringify(good()), { 'content-type': 'application/json' });
    expect(status).toBe(415);
    expect(body.error.code).toBe('unsupported_media_type');
  });

  it('answers 404 in the same envelope for unknown jobs, artifacts and routes', async () => {
    const unknown = '/v1/jobs/00000000-0000-4000-8000-000000000000';
    const urls = [
      '/v1/jobs/not-a-uuid',
      unknown,
      `${unknown}/artifacts/overlay.mp4`,
      `${unknown}/artifacts/secrets.txt`,
      '/v1/jobs/..%2F..%2Fetc%2Fpasswd',
      '/v1/jobs/%2e%2e/artifacts/masks.json',
      `/v1/jobs/${'a'.repeat(5000)}`,
      '/nope',
    ];
    for (const url of urls) {
      const { status, body } = await getJson(t.baseUrl + url);
      expect({ url, status, code: body.error?.code }).toEqual({ url, status: 404, code: 'not_found' });
    }
    const head = await fetch(`${t.baseUrl}${unknown}/artifacts/overlay.mp4`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    const bad = await getJson(`${t.baseUrl}/v1/jobs?limit=1000`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('limit');
  });

  it('answers 429 when the queue is full, and queues a good job otherwise', async () => {
    // No worker runs in this file, so the first good job stays queued (MAX_QUEUED_JOBS=1).
    const first = await post(await submission(clip.path, good()));
    expect(first.status).toBe(202);
    expect(first.body.statusUrl).toBe(`/v1/jobs/${first.body.id}`);
    const queued = await getJson(t.baseUrl + first.body.statusUrl);
    expect(queued.body).toMatchObject({ state: 'queued', stage: 'queued', video: { width: 160, height: 120, frames: 8 }, objects: 1, finishedAt: null });

    const second = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, good()) });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('30');
    expect((await second.json()).error.code).toBe('queue_full');
    expect(await filesUnder(path.join(t.dataDir, 'uploads'))).toEqual([]);
    expect((await getJson(`${t.baseUrl}/v1/jobs`)).body.total).toBe(1);

    // A queued job is cancelled at once: state cancelled, files gone.
    const cancelled = await fetch(t.baseUrl + first.body.statusUrl, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    expect((await cancelled.json()).state).toBe('cancelled');
    expect(await filesUnder(t.dataDir)).toEqual([]);
  });

  it('admits at most MAX_QUEUED_JOBS even when submissions arrive at the same moment', async () => {
    const answers = await Promise.all(
      Array.from({ length: 4 }, async () => (await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, good()) })).status),
    );
    expect(answers.sort()).toEqual([202, 429, 429, 429]);
    const { jobs } = (await getJson(`${t.baseUrl}/v1/jobs`)).body;
    const queued = jobs.filter((j: { state: string }) => j.state === 'queued');
    expect(queued).toHaveLength(1);
    await fetch(`${t.baseUrl}/v1/jobs/${queued[0].id}`, { method: 'DELETE' });
    // Only the admitted job's files were ever kept, and its cancel removed them.
    expect(await filesUnder(t.dataDir)).toEqual([]);
  });

  it('serves health, readiness (no worker: not ready), the OpenAPI document and the dashboard', async () => {
    expect((await getJson(`${t.baseUrl}/healthz`)).body).toEqual({ status: 'ok' });
    const ready = await getJson(`${t.baseUrl}/readyz`);
    expect(ready).toEqual({ status: 503, body: { ready: false, checks: { redis: 'ok', model: 'no_worker' }, workers: 0 } });
    const openapi = (await getJson(`${t.baseUrl}/v1/openapi.json`)).body;
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/artifacts/overlay.mp4']));
    expect(openapi.components.schemas.JobStatus.properties.state.enum).toEqual(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
    expect(openapi.components.schemas.Prompts.properties.objects.maxItems).toBe(2);
    expect(openapi.components.schemas.Prompts.properties.speed.enum).toEqual(['best', 'fast']);
    expect(openapi.components.schemas.Prompts.required).toEqual(['objects']);
    const board = await fetch(`${t.baseUrl}/admin/queues`);
    expect(board.status).toBe(200);
    expect(await board.text()).toContain('Bull Dashboard');
  });
});
