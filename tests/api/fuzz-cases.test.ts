/**
 * Cases `npm run fuzz` (bench/fuzz.ts) found, kept as regular tests so they
 * cannot come back. Each names the fuzz case (seed and index) it came from.
 * The API runs alone (no worker, no model): none of these needs one.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { filesUnder, startTestService, type TestService } from '../helpers/service.js';
import { openAsBlob } from 'node:fs';
import { parseAtoms } from '../../bench/fuzz-cases.js';
import { InferenceError } from '../../src/inference/inference-process.js';
import { endingFor } from '../../src/jobs/job-run.js';
import { MediaError, probeVideo, readFrames } from '../../src/media/index.js';
import { VideoWriter, videoWriterOptionsFor } from '../../src/media/encode.js';
import { runFfmpeg } from '../helpers/synthetic.js';

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

describe('fuzzed videos', () => {
  // fuzz seed 3, cases 211, 246, 308 (and seed 11 case 56 of the media layer alone): a file that
  // probes as a video but whose first frame does not decode failed its job as `internal`, and was
  // retried twice (10 s + 20 s of backoff) although no retry can help.
  it('a video whose frames do not decode fails with undecodable, once', async () => {
    // ftyp and moov change places: every sample offset in moov now points 753 bytes off, into garbage.
    const data = await readFile(clip.path);
    const top = parseAtoms(data).filter((a) => a.depth === 0);
    const ftyp = top.find((a) => a.type === 'ftyp')!;
    const moov = top.find((a) => a.type === 'moov')!;
    expect(moov.start).toBeGreaterThan(ftyp.start + ftyp.size); // moov at the end (no faststart)
    const swapped = Buffer.concat([
      data.subarray(moov.start, moov.start + moov.size),
      data.subarray(ftyp.start + ftyp.size, moov.start),
      data.subarray(ftyp.start, ftyp.start + ftyp.size),
      data.subarray(moov.start + moov.size),
    ]);
    const file = path.join(dir, 'swapped.mp4');
    await writeFile(file, swapped);

    const meta = await probeVideo(file);
    expect(meta.frames).toBe(3);
    const error = await (async () => {
      for await (const _ of readFrames(file, meta)) return undefined;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MediaError);
    expect((error as MediaError).code).toBe('undecodable');

    // As the worker sees it (raised in the inference child): the input's fault, not retried.
    const fromChild = new InferenceError({ name: 'MediaError', message: (error as MediaError).message, code: 'undecodable' });
    expect(endingFor(fromChild, { aborted: false, reason: undefined, canHandBack: true, attemptsMade: 0, attempts: 3 })).toEqual({
      action: 'fail',
      jobError: { code: 'undecodable', message: (error as MediaError).message },
      unrecoverable: true,
    });
  });
});

describe('fuzzed videos with audio', () => {
  // fuzz seed 1, cases 215, 261, 284: an audio track without its sample description (codec
  // "unknown") made the overlay's encoder fail (it can neither copy nor decode it), so a job whose
  // video decodes fine failed as `internal`, three times.
  it('encodes the overlay without an audio track whose codec is unknown', async () => {
    const source = path.join(dir, 'with-audio.mov');
    await runFfmpeg([
      '-y', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=5', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000',
      '-t', '0.6', '-c:v', 'mjpeg', '-pix_fmt', 'yuvj420p', '-c:a', 'pcm_s16le', source,
    ]);
    // The audio trak's minf dropped (the fuzz mutation drop(minf)): the track stays, its codec is unknown.
    const data = await readFile(source);
    const atoms = parseAtoms(data);
    const traks = atoms.filter((a) => a.type === 'trak');
    const minf = atoms.find((a) => a.type === 'minf' && a.start > traks[1].start)!;
    const damaged = path.join(dir, 'damaged-audio.mov');
    await writeFile(damaged, Buffer.concat([data.subarray(0, minf.start), data.subarray(minf.start + minf.size)]));

    const meta = await probeVideo(damaged);
    expect(meta).toMatchObject({ frames: 3, hasAudio: true });
    const out = path.join(dir, 'overlay.mp4');
    const writer = await VideoWriter.open(videoWriterOptionsFor(meta, out, damaged));
    for await (const frame of readFrames(damaged, meta)) await writer.write(frame.data);
    await writer.finish();
    expect((await probeVideo(out)).frames).toBe(3);
  });
});
