import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoMeta } from '../../src/types.js';
import { resolveFfprobe } from '../../src/media/binaries.js';
import { readFrames } from '../../src/media/frames.js';
import { probeVideo } from '../../src/media/probe.js';
import { frameRecord, masksDocument, objectRecord, type FrameRecord } from '../../src/output/masks-json.js';
import { masksResults, renderVideos, type RenderTarget } from '../../src/output/render.js';
import { MemoryResults } from '../../src/output/result-store.js';
import type { RenderSpec } from '../../src/output/render-spec.js';
import { inspectVideo, makeMovingShapeClip, runFfmpeg, type SyntheticClip } from '../helpers/synthetic.js';

const W = 160;
const H = 120;
const FRAMES = 10;

let dir: string;
let clip: SyntheticClip;
let meta: VideoMeta;
let records: FrameRecord[];

/** The disc's logits as a smooth function of the pixel (0.6 per pixel, > 0 exactly on the drawn disc). */
function discLogits(frame: number, object: number): Float32Array {
  const [cx, cy] = clip.center(frame, object);
  const r = clip.shapes[object].radius;
  const logits = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) logits[y * W + x] = (r - Math.hypot(x + 0.5 - cx, y + 0.5 - cy)) * 0.6;
  return logits;
}

/** Signed distance (> 0 inside) of a pixel centre to object's circle. */
function circleDistance(frame: number, object: number, p: number): number {
  const [cx, cy] = clip.center(frame, object);
  return clip.shapes[object].radius - Math.hypot((p % W) + 0.5 - cx, Math.floor(p / W) + 0.5 - cy);
}

/** Both objects' hard masks as 0/255. */
function expectedMatte(frame: number, objects = [0, 1]): Uint8Array {
  const out = new Uint8Array(W * H);
  for (const o of objects) clip.truth(frame, o).data.forEach((v, p) => v && (out[p] = 255));
  return out;
}

/** Decodes a render to one plane per frame: the alpha ('alpha', libvpx for VP9) or the full-range luma ('luma'). */
async function decodePlane(file: string, plane: 'alpha' | 'luma', vp9 = false): Promise<Uint8Array[]> {
  const out = path.join(dir, `${path.basename(file)}.${plane}.gray`);
  const filter = plane === 'alpha' ? 'alphaextract,format=gray' : 'scale=in_range=full:out_range=full,format=gray';
  await runFfmpeg(['-nostdin', '-v', 'error', '-y', ...(vp9 ? ['-c:v', 'libvpx-vp9'] : []), '-i', file, '-vf', filter, '-f', 'rawvideo', out]);
  const bytes = await readFile(out);
  return Array.from({ length: bytes.length / (W * H) }, (_, i) => new Uint8Array(bytes.subarray(i * W * H, (i + 1) * W * H)));
}

async function streamInfo(file: string): Promise<{ profile?: string; alphaMode?: string; pixFmt?: string }> {
  const { stdout } = await promisify(execFile)(await resolveFfprobe(), ['-v', 'error', '-select_streams', 'v:0', '-show_streams', '-of', 'json', file]);
  const stream = JSON.parse(stdout).streams[0];
  return { profile: stream.profile, alphaMode: stream.tags?.alpha_mode ?? stream.tags?.ALPHA_MODE, pixFmt: stream.pix_fmt };
}

/** Share of pixels on different sides of 128, mean and max absolute difference. */
function compare(actual: Uint8Array, expected: Uint8Array) {
  let flipped = 0;
  let sum = 0;
  let max = 0;
  for (let p = 0; p < expected.length; p++) {
    const d = Math.abs(actual[p] - expected[p]);
    sum += d;
    max = Math.max(max, d);
    if (actual[p] >= 128 !== expected[p] >= 128) flipped++;
  }
  return { flipped: flipped / expected.length, mean: sum / expected.length, max };
}

const spec = (s: Partial<RenderSpec> & Pick<RenderSpec, 'output'>): RenderSpec => ({ feather: 0, ...s });
const SAMPLED = [0, 4, 9];

const targets: Record<string, RenderSpec> = {
  'cutout.webm': spec({ output: 'cutout.webm' }),
  'cutout.mov': spec({ output: 'cutout.mov' }),
  'matte.mp4': spec({ output: 'matte.mp4' }),
  'matte-feather-8.mp4': spec({ output: 'matte.mp4', feather: 8 }),
  'matte-objects-2.mp4': spec({ output: 'matte.mp4', objects: [2, 7] }),
  'effect-blur-background.mp4': spec({ output: 'effect.mp4', effect: 'blur-background' }),
  'effect-grey-background.mp4': spec({ output: 'effect.mp4', effect: 'grey-background' }),
  'effect-black-background.mp4': spec({ output: 'effect.mp4', effect: 'black-background' }),
  'effect-spotlight.mp4': spec({ output: 'effect.mp4', effect: 'spotlight' }),
};
const rendered = (name: string) => path.join(dir, 'out', name);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'clipmask-renders-'));
  clip = await makeMovingShapeClip(dir, {
    width: W,
    height: H,
    frames: FRAMES,
    fps: 10,
    audio: true,
    lossless: true,
    name: 'source.mp4',
    shapes: [
      { kind: 'disc', radius: 24, from: [45, 50], to: [80, 55] },
      { kind: 'disc', radius: 16, from: [128, 92], to: [126, 88] },
    ],
  });
  meta = await probeVideo(clip.path);
  records = Array.from({ length: FRAMES }, (_, f) =>
    frameRecord(meta, f, [0, 1].map((o) => objectRecord(o + 1, clip.truth(f, o), 0.9, W, H, discLogits(f, o)))),
  );
  const results = new MemoryResults();
  for (const r of records) await results.write(r);
  await mkdir(path.join(dir, 'out'));
  const all: RenderTarget[] = Object.entries(targets).map(([name, s]) => ({ spec: s, path: rendered(name) }));
  await renderVideos({ input: clip.path, meta, results }, all);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('renderVideos', () => {
  it('writes every target from one pass, each with the source frame count, timestamps and audio', async () => {
    expect((await readdir(path.join(dir, 'out'))).sort()).toEqual(Object.keys(targets).sort());
    const source = await inspectVideo(clip.path);
    for (const name of Object.keys(targets)) {
      const info = await inspectVideo(rendered(name));
      expect(info.frames, name).toBe(FRAMES);
      expect(info.audioCodec, name).toBe(name.endsWith('.webm') ? 'opus' : 'aac');
      // WebM's clock is 1 ms, and the Opus encoder's delay shifts its start by 7 ms.
      info.pts.forEach((t, i) => expect(Math.abs(t - info.pts[0] - (source.pts[i] - source.pts[0])), name).toBeLessThan(0.0015));
    }
  });

  it('cutout.webm is VP9 with alpha whose alpha plane is the masks at feather 0', async () => {
    expect(await inspectVideo(rendered('cutout.webm'))).toMatchObject({ videoCodec: 'vp9' });
    expect((await streamInfo(rendered('cutout.webm'))).alphaMode).toBe('1');
    const alphas = await decodePlane(rendered('cutout.webm'), 'alpha', true);
    expect(alphas).toHaveLength(FRAMES);
    for (const f of SAMPLED) {
      // crf 4: at most 0.1% of pixels on the other side of 128, mean error under 1 level, max 40.
      const { flipped, mean, max } = compare(alphas[f], expectedMatte(f));
      expect(flipped, `frame ${f}`).toBeLessThanOrEqual(0.001);
      expect(mean, `frame ${f}`).toBeLessThan(1);
      expect(max, `frame ${f}`).toBeLessThanOrEqual(40);
    }
  });

  it('cutout.mov is ProRes 4444 with an alpha plane equal to the masks at feather 0', async () => {
    const info = await streamInfo(rendered('cutout.mov'));
    expect(info.profile).toBe('4444');
    expect(info.pixFmt).toMatch(/^yuva444p/);
    expect((await inspectVideo(rendered('cutout.mov'))).videoCodec).toBe('prores');
    const alphas = await decodePlane(rendered('cutout.mov'), 'alpha');
    for (const f of SAMPLED) expect(compare(alphas[f], expectedMatte(f)), `frame ${f}`).toEqual({ flipped: 0, mean: 0, max: 0 });
  });

  it('cutout colour is the source where the alpha is opaque', async () => {
    const out = path.join(dir, 'cutout-rgb.raw');
    await runFfmpeg(['-nostdin', '-v', 'error', '-y', '-i', rendered('cutout.mov'), '-frames:v', '1', '-pix_fmt', 'rgb24', '-f', 'rawvideo', out]);
    const rgb = await readFile(out);
    const source = clip.drawFrame(0);
    const matte = expectedMatte(0);
    let sum = 0;
    let count = 0;
    for (let p = 0; p < matte.length; p++) if (matte[p]) for (let c = 0; c < 3; c++, count++) sum += Math.abs(rgb[p * 3 + c] - source[p * 3 + c]);
    expect(sum / count).toBeLessThan(3);
  });

  it('matte.mp4 decodes to the masks within 1 grey level at feather 0', async () => {
    const lumas = await decodePlane(rendered('matte.mp4'), 'luma');
    expect(lumas).toHaveLength(FRAMES);
    for (let f = 0; f < FRAMES; f++) expect(compare(lumas[f], expectedMatte(f)).max, `frame ${f}`).toBeLessThanOrEqual(1);
  });

  it('a feather gives intermediate values only near the edge, and the mask at 128', async () => {
    const lumas = await decodePlane(rendered('matte-feather-8.mp4'), 'luma');
    for (const f of SAMPLED) {
      const matte = expectedMatte(f);
      let soft = 0;
      for (let p = 0; p < matte.length; p++) {
        const v = lumas[f][p];
        expect(v >= 128, `frame ${f} pixel ${p}`).toBe(matte[p] === 255);
        if (v === 0 || v === 255) continue;
        soft++;
        const near = Math.min(Math.abs(circleDistance(f, 0, p)), Math.abs(circleDistance(f, 1, p)));
        expect(near, `frame ${f} pixel ${p}`).toBeLessThanOrEqual(4 + 1.5);
      }
      // Rings of width 8 around circles of radius 24 and 16.
      expect(soft).toBeGreaterThan(0.7 * 2 * Math.PI * (24 + 16) * 8);
    }
  });

  it('renders only the objects asked for (ids not on the frame add nothing)', async () => {
    const lumas = await decodePlane(rendered('matte-objects-2.mp4'), 'luma');
    for (const f of SAMPLED) expect(compare(lumas[f], expectedMatte(f, [1])).max).toBeLessThanOrEqual(1);
  });

  describe('effect.mp4', () => {
    let source: Uint8Array[];
    const decodeRgb = async (file: string) => (await collectFrames(file)).map((f) => f.data);
    beforeAll(async () => {
      source = await decodeRgb(clip.path);
    });

    /** Mean over pixels at least 4 px inside (object) or outside (background) every disc. */
    function regionMean(f: number, inside: boolean, value: (p: number) => number): number {
      let sum = 0;
      let count = 0;
      for (let p = 0; p < W * H; p++) {
        const d = Math.max(circleDistance(f, 0, p), circleDistance(f, 1, p));
        if (inside ? d < 4 : d > -4) continue;
        sum += value(p);
        count++;
      }
      return sum / count;
    }
    const channelDiff = (a: Uint8Array, b: Uint8Array) => (p: number) => (Math.abs(a[3 * p] - b[3 * p]) + Math.abs(a[3 * p + 1] - b[3 * p + 1]) + Math.abs(a[3 * p + 2] - b[3 * p + 2])) / 3;
    const brightness = (a: Uint8Array) => (p: number) => (a[3 * p] + a[3 * p + 1] + a[3 * p + 2]) / 3;
    const roughness = (a: Uint8Array) => (p: number) => (p % W < W - 1 ? Math.abs(a[3 * p + 1] - a[3 * p + 4]) : 0);

    it('keeps the objects as in the source under every effect', async () => {
      for (const effect of ['blur', 'grey', 'black'].map((e) => `effect-${e}-background.mp4`).concat('effect-spotlight.mp4')) {
        const frames = await decodeRgb(rendered(effect));
        expect(frames).toHaveLength(FRAMES);
        // The effects are H.264 at crf 20 over a grainy texture: ~8 levels of loss; a wrong background would be 40+.
        for (const f of SAMPLED) expect(regionMean(f, true, channelDiff(frames[f], source[f])), `${effect} frame ${f}`).toBeLessThan(12);
      }
    });

    it('grey has equal channels, black is black, spotlight darker, blur smoother behind the objects', async () => {
      const grey = await decodeRgb(rendered('effect-grey-background.mp4'));
      const black = await decodeRgb(rendered('effect-black-background.mp4'));
      const spot = await decodeRgb(rendered('effect-spotlight.mp4'));
      const blur = await decodeRgb(rendered('effect-blur-background.mp4'));
      for (const f of SAMPLED) {
        const g = grey[f];
        expect(regionMean(f, false, (p) => Math.abs(g[3 * p] - g[3 * p + 1]) + Math.abs(g[3 * p + 1] - g[3 * p + 2]))).toBeLessThan(2);
        expect(regionMean(f, false, (p) => Math.abs(brightness(g)(p) - brightness(source[f])(p)))).toBeLessThan(25);
        expect(regionMean(f, false, brightness(black[f]))).toBeLessThan(2);
        const ratio = regionMean(f, false, brightness(spot[f])) / regionMean(f, false, brightness(source[f]));
        expect(ratio).toBeGreaterThan(0.25);
        expect(ratio).toBeLessThan(0.35);
        expect(regionMean(f, false, roughness(blur[f]))).toBeLessThan(0.4 * regionMean(f, false, roughness(source[f])));
      }
    });
  });

  it('leaves no file at all when one target fails', async () => {
    const out = path.join(dir, 'failing');
    await mkdir(out);
    const results = masksResults(masksDocument(meta, [], records));
    const failing = [
      { spec: spec({ output: 'matte.mp4' }), path: path.join(out, 'matte.mp4') },
      { spec: spec({ output: 'cutout.webm' }), path: path.join(out, 'missing-dir', 'cutout.webm') },
    ];
    await expect(renderVideos({ input: clip.path, meta, results }, failing)).rejects.toMatchObject({ code: 'ffmpeg_failed' });
    expect(await readdir(out)).toEqual([]);
  });

  it('leaves no file at all when aborted mid-way', async () => {
    const out = path.join(dir, 'aborted');
    await mkdir(out);
    const controller = new AbortController();
    const store = masksResults(masksDocument(meta, [], records));
    const results = {
      read: async (frame: number) => {
        if (frame === 4) controller.abort();
        return store.read(frame);
      },
      write: store.write.bind(store),
    };
    const aborting = ['matte.mp4', 'cutout.mov', 'effect.mp4'].map((name) => ({ spec: spec({ output: name as RenderSpec['output'] }), path: path.join(out, name) }));
    await expect(renderVideos({ input: clip.path, meta, results }, aborting, { signal: controller.signal })).rejects.toMatchObject({ code: 'aborted' });
    expect(await readdir(out)).toEqual([]);
  });

  it('renders from a masks.json document alone, and refuses other documents', async () => {
    const results = masksResults(JSON.parse(JSON.stringify(masksDocument(meta, [], records))));
    expect(await results.read(3)).toEqual(records[3]);
    expect(await results.read(FRAMES)).toBeUndefined();
    expect(() => masksResults({ format: 'something/1', frames: [] } as never)).toThrow(expect.objectContaining({ code: 'bad_masks' }));
  });
});

async function collectFrames(file: string) {
  const fileMeta = await probeVideo(file);
  const frames = [];
  for await (const frame of readFrames(file, fileMeta)) frames.push(frame);
  return frames;
}
