import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { davisPalette } from '../../src/media/index.js';
import { trackVideo } from '../../src/pipeline/track-video.js';
import { maskIoU } from '../../src/segment/postprocess.js';
import { decodeRle } from '../../src/segment/rle.js';
import { SamSegmenter } from '../../src/segment/segmenter.js';
import type { BinaryMask, CocoRle, Prompts } from '../../src/types.js';
import { inspectVideo, makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';

interface MasksJson {
  video: { width: number; height: number; frames: number };
  objects: { id: number; name: string }[];
  frames: { frame: number; name: string; objects: { id: number; rle: CocoRle; visible: boolean; area: number; bbox: number[] }[] }[];
}

let dir: string;
let segmenter: SamSegmenter;
let clip: SyntheticClip;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-track-'));
  segmenter = await SamSegmenter.create();
  // Two textured shapes crossing a textured background in opposite directions.
  clip = await makeMovingShapeClip(dir, {
    width: 320,
    height: 240,
    frames: 12,
    fps: 12,
    shapes: [
      { kind: 'disc', radius: 38, from: [80, 80], to: [200, 150] },
      { kind: 'square', radius: 30, from: [250, 180], to: [230, 60] },
    ],
  });
});
afterAll(async () => {
  await segmenter?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function readMasks(outDir: string): Promise<MasksJson> {
  return JSON.parse(await readFile(path.join(outDir, 'masks.json'), 'utf8')) as MasksJson;
}

function maskOf(json: MasksJson, frame: number, id: number): BinaryMask {
  return decodeRle(json.frames[frame].objects.find((o) => o.id === id)!.rle);
}

const click = (clipFrame: number, object: number): [number, number, 1] => {
  const [x, y] = clip.center(clipFrame, object);
  return [Math.round(x), Math.round(y), 1];
};

describe('trackVideo on a generated clip (real model, real ffmpeg)', () => {
  it('tracks one object from one click on every frame, and writes matching overlay, JSON and PNGs', async () => {
    const outDir = path.join(dir, 'one');
    const pngDir = path.join(outDir, 'png');
    const prompts: Prompts = { objects: [{ id: 1, name: 'disc', prompts: [{ frame: 0, points: [click(0, 0)] }] }] };
    const result = await trackVideo({ input: clip.path, prompts, segmenter, outDir, pngDir });

    const json = await readMasks(outDir);
    expect(json.video).toMatchObject({ width: 320, height: 240, frames: 12 });
    expect(json.frames).toHaveLength(12);
    const ious = json.frames.map((_, t) => maskIoU(maskOf(json, t, 1), clip.truth(t, 0)));
    for (const iou of ious) expect(iou).toBeGreaterThan(0.85);
    expect(result.video.frames).toBe(12);

    // The overlay has as many frames as the source.
    const overlay = await inspectVideo(path.join(outDir, 'overlay.mp4'));
    expect(overlay.frames).toBe(12);
    expect(overlay.pixFmt).toBe('yuv420p');

    // Each PNG is the palette colour of the object id exactly where masks.json's RLE says.
    const pngs = (await readdir(pngDir)).sort();
    expect(pngs).toEqual(json.frames.map((f) => `${f.name}.png`));
    const [r1, g1, b1] = davisPalette()[1];
    for (const t of [0, 5, 11]) {
      const { data } = await sharp(path.join(pngDir, pngs[t])).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const fromRle = maskOf(json, t, 1).data;
      let mismatches = 0;
      for (let p = 0; p < fromRle.length; p++) {
        const isObject = data[3 * p] === r1 && data[3 * p + 1] === g1 && data[3 * p + 2] === b1;
        if (isObject !== (fromRle[p] === 1)) mismatches++;
      }
      expect(mismatches).toBe(0);
    }
  });

  it('tracks two objects at once without letting them overlap', async () => {
    const outDir = path.join(dir, 'two');
    const prompts: Prompts = {
      objects: [
        { id: 1, prompts: [{ frame: 0, points: [click(0, 0)] }] },
        { id: 2, prompts: [{ frame: 0, points: [click(0, 1)] }] },
      ],
    };
    await trackVideo({ input: clip.path, prompts, segmenter, outDir });
    const json = await readMasks(outDir);
    for (let t = 0; t < 12; t++) {
      const a = maskOf(json, t, 1);
      const b = maskOf(json, t, 2);
      expect(maskIoU(a, clip.truth(t, 0))).toBeGreaterThan(0.8);
      expect(maskIoU(b, clip.truth(t, 1))).toBeGreaterThan(0.8);
      let overlap = 0;
      for (let p = 0; p < a.data.length; p++) overlap += a.data[p] & b.data[p];
      expect(overlap).toBe(0);
    }
  });

  it('tracks backward from a prompt on the last frame, past the frames where the shapes touch', async () => {
    const outDir = path.join(dir, 'backward');
    const prompts: Prompts = { objects: [{ id: 7, prompts: [{ frame: 11, points: [click(11, 1)] }] }] };
    await trackVideo({ input: clip.path, prompts, segmenter, outDir });
    const json = await readMasks(outDir);
    for (let t = 0; t < 12; t++) expect(maskIoU(maskOf(json, t, 7), clip.truth(t, 1))).toBeGreaterThan(0.8);
  });
});

const run = promisify(execFile);

describe('clipmask track: bad input', () => {
  async function track(input: string, promptsJson: string) {
    const promptsFile = path.join(dir, `prompts-${Math.random().toString(36).slice(2)}.json`);
    await (await import('node:fs/promises')).writeFile(promptsFile, promptsJson);
    const outDir = path.join(dir, `bad-${Math.random().toString(36).slice(2)}`);
    try {
      await run(process.execPath, [path.resolve('bin/clipmask.js'), 'track', input, '--prompts', promptsFile, '--out', outDir]);
      return { code: 0, stderr: '', outDir };
    } catch (error) {
      const e = error as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr, outDir };
    }
  }
  const ok = JSON.stringify({ objects: [{ id: 1, prompts: [{ frame: 0, points: [[100, 100, 1]] }] }] });

  const cases: [string, () => Promise<string>, string, RegExp][] = [
    ['a text file', async () => (await import('../helpers/synthetic.js')).makeTextFile(dir), ok, /not a video|cannot be read as a video|not.*video/i],
    ['a prompt frame beyond the last frame', async () => clip.path, JSON.stringify({ objects: [{ id: 1, prompts: [{ frame: 12, points: [[10, 10, 1]] }] }] }), /frame 12 is beyond the video's last frame 11/],
    ['a point outside the frame', async () => clip.path, JSON.stringify({ objects: [{ id: 1, prompts: [{ frame: 0, points: [[320, 10, 1]] }] }] }), /\(320, 10\) is outside the 320x240 frame/],
    ['prompts that are not JSON', async () => clip.path, '{objects', /prompts are not valid JSON/],
    ['a label other than 0/1', async () => clip.path, JSON.stringify({ objects: [{ id: 1, prompts: [{ points: [[1, 1, 3]] }] }] }), /objects\[0\]\.prompts\[0\]\.points\[0\]/],
  ];
  for (const [what, input, prompts, message] of cases) {
    it(`rejects ${what}: one line, exit code 2, nothing written`, async () => {
      const result = await track(await input(), prompts);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      await expect(readdir(result.outDir)).rejects.toThrow(/ENOENT/);
    });
  }
});
