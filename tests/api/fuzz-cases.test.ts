/**
 * Cases `npm run fuzz` (bench/fuzz.ts) found, kept as regular tests so they
 * cannot come back. Each names the fuzz case (seed and index) it came from.
 * The API runs alone (no worker, no model): none of these needs one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { filesUnder, startTestService, type TestService } from '../helpers/service.js';
import { openAsBlob } from 'node:fs';

let t: TestService;
let dir: string;
let clip: SyntheticClip;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-fuzzed-'));
  [t, clip] = await Promise.all([startTestService('api'), makeMovingShapeClip(dir, { width: 64, height: 48, frames: 3, fps: 5 })]);
});

afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function post(url: string, form: FormData) {
  const response = await fetch(`${t.baseUrl}${url}`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as any };
}

describe('fuzzed requests', () => {
  // fuzz seed 2, case 35: a preview upload with a prompts file part left that file in DATA_DIR/uploads.
  it('refuses a preview upload with a file part besides the video, and keeps none of it', async () => {
    const form = new FormData();
    form.append('video', await openAsBlob(clip.path), 'clip.mp4');
    form.append('prompts', new Blob(['{}'], { type: 'application/json' }), 'p.json');
    const { status, body } = await post('/v1/previews', form);
    expect({ status, code: body.error?.code, field: body.error?.details?.field }).toEqual({ status: 400, code: 'unexpected_file', field: 'prompts' });
    expect(await filesUnder(t.dataDir)).toEqual([]);
  });
});
