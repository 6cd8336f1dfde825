import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { maskFromClicks } from '../../src/segment/click-to-mask.js';
import { resolveModel } from '../../src/segment/models.js';
import { maskIoU } from '../../src/segment/postprocess.js';
import { SamSegmenter } from '../../src/segment/segmenter.js';
import { createCachedSession } from '../../src/segment/session-cache.js';
import type { ImageEmbedding } from '../../src/types.js';
import { discMask, drawScene, rectMask } from '../helpers/images.js';

const W = 480;
const H = 320;
const disc = discMask(W, H, 140, 170, 70);
const rect = rectMask(W, H, 290, 60, 420, 250);
const scene = drawScene(W, H, [
  { mask: disc, colour: [200, 40, 40] },
  { mask: rect, colour: [40, 60, 200] },
]);

let segmenter: SamSegmenter;
let embedding: ImageEmbedding;
let cacheDir: string;

beforeAll(async () => {
  // A fresh cache, so the decoder graph edit runs in this test rather than being read from disk.
  cacheDir = await mkdtemp(path.join(tmpdir(), 'clipmask-models-'));
  segmenter = await SamSegmenter.create({ cacheDir });
  embedding = await segmenter.embed(scene);
});
afterAll(async () => {
  await segmenter?.dispose();
  await rm(cacheDir, { recursive: true, force: true });
});

describe('SamSegmenter on a drawn scene (real model)', () => {
  it('embeds to the contract shape', () => {
    expect(embedding.data.length).toBe(256 * 64 * 64);
    expect([embedding.resizedWidth, embedding.resizedHeight]).toEqual([1024, 683]);
  });

  it('segments a disc from one click inside it', async () => {
    const result = await maskFromClicks(segmenter, embedding, { points: [{ x: 140, y: 170, label: 1 }] });
    expect(maskIoU(result.mask, disc)).toBeGreaterThan(0.9);
    expect(result.score).toBeGreaterThan(0.8);
  });

  it('segments a rectangle from a click plus a background click', async () => {
    const result = await maskFromClicks(segmenter, embedding, {
      points: [
        { x: 350, y: 150, label: 1 },
        { x: 140, y: 170, label: 0 },
      ],
    });
    expect(maskIoU(result.mask, rect)).toBeGreaterThan(0.9);
  });

  it('segments from a box alone', async () => {
    const result = await maskFromClicks(segmenter, embedding, { points: [], box: [285, 55, 425, 255] });
    expect(maskIoU(result.mask, rect)).toBeGreaterThan(0.9);
  });

  it('chooses among the multimask candidates for a lone click, token 0 otherwise', async () => {
    const single = await segmenter.decode(embedding, { points: [{ x: 140, y: 170, label: 1 }] }, 'best');
    expect(single.token).toBeGreaterThanOrEqual(1);
    expect(single.score).toBe(Math.max(single.tokenScores[1], single.tokenScores[2], single.tokenScores[3]));
    const several = await segmenter.decode(embedding, {
      points: [
        { x: 140, y: 170, label: 1 },
        { x: 120, y: 150, label: 1 },
      ],
    });
    expect(several.token).toBe(0);
  });
});

describe('the image encoder in its own thread', () => {
  it('leaves the main thread free while it runs, so the rest of a frame overlaps with it', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    onTestFinished(() => clearInterval(timer));
    const again = await segmenter.embed(scene);
    // The run takes most of a second; on the main thread it would block every tick.
    expect(ticks).toBeGreaterThan(10);
    expect(bytes(again.data).equals(bytes(embedding.data))).toBe(true);
  });
});

describe('the prepared decoder against the shipped one', () => {
  it('gives the same scores and, upscaled in TypeScript, the same full-size logits', async () => {
    const model = await resolveModel();
    const original = await ort.InferenceSession.create(model.decoderPath);
    const point = { x: 140, y: 170, label: 1 as const };
    const ours = await segmenter.decode(embedding, { points: [point] }, 'best');
    const scale = [embedding.resizedWidth / W, embedding.resizedHeight / H];
    const feeds = {
      image_embeddings: new ort.Tensor('float32', embedding.data, [1, 256, 64, 64]),
      point_coords: new ort.Tensor('float32', Float32Array.of(point.x * scale[0], point.y * scale[1], 0, 0), [1, 2, 2]),
      point_labels: new ort.Tensor('float32', Float32Array.of(1, -1), [1, 2]),
      mask_input: new ort.Tensor('float32', new Float32Array(256 * 256), [1, 1, 256, 256]),
      has_mask_input: new ort.Tensor('float32', Float32Array.of(0), [1]),
      orig_im_size: new ort.Tensor('float32', Float32Array.of(H, W), [2]),
    };
    const theirs = await original.run(feeds);
    // The shipped graph also picks the best of tokens 1-3 when there are <= 2 points (one click + padding).
    expect((theirs.iou_predictions.data as Float32Array)[0]).toBeCloseTo(ours.score, 5);
    const graphLogits = theirs.masks.data as Float32Array; // [1, 1, H, W]
    const { logits } = segmenter.toImage(embedding, ours.lowRes);
    // Ours are computed where they can be positive (-Infinity elsewhere): there they match, elsewhere the graph's are background.
    let maxDiff = 0;
    let maxOutside = -Infinity;
    let computed = 0;
    for (let i = 0; i < logits.length; i++) {
      if (Number.isFinite(logits[i])) {
        maxDiff = Math.max(maxDiff, Math.abs(logits[i] - graphLogits[i]));
        computed++;
      } else maxOutside = Math.max(maxOutside, graphLogits[i]);
    }
    expect(maxDiff).toBeLessThan(1e-3);
    expect(maxOutside).toBeLessThan(1e-3);
    expect(computed).toBeGreaterThan(0);
    await original.release();
  });
});

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("ONNX Runtime's optimised graphs on disk", () => {
  it('are written on first use and give identical outputs when loaded again', async () => {
    expect(segmenter.optimisedFromCache).toBe(false); // the fresh cache of beforeAll
    const files = (await readdir(cacheDir)).filter((f) => f.endsWith('.ort-optimised.onnx'));
    expect(files.map((f) => f.split('-')[0]).sort()).toEqual(['decoder', 'encoder']);
    const again = await SamSegmenter.create({ cacheDir });
    onTestFinished(() => again.dispose());
    expect(again.optimisedFromCache).toBe(true);
    const reloaded = await again.embed(scene);
    expect(bytes(reloaded.data).equals(bytes(embedding.data))).toBe(true);
    const prompt = { points: [{ x: 140, y: 170, label: 1 as const }] };
    const [ours, theirs] = [await segmenter.decode(embedding, prompt, 'best'), await again.decode(embedding, prompt, 'best')];
    expect(bytes(theirs.tokenLogits).equals(bytes(ours.tokenLogits))).toBe(true);
  });

  it('goes on without the cache when it cannot be written', async () => {
    const decoderFile = path.join(cacheDir, (await readdir(cacheDir)).find((f) => f.endsWith('-multimask-v1.onnx'))!);
    // A "directory" under a regular file: mkdir fails (ENOTDIR), even for root.
    const unwritable = path.join(decoderFile, 'cache');
    const { session, fromCache } = await createCachedSession(decoderFile, 'test', 'decoder', {}, unwritable);
    onTestFinished(() => session.release());
    expect(fromCache).toBe(false);
    expect(session.outputNames).toContain('multimask_low_res_masks');
  });

  it('replaces a cached file that does not load', async () => {
    const encoderFile = path.join(cacheDir, (await readdir(cacheDir)).find((f) => f.startsWith('encoder-') && f.endsWith('.ort-optimised.onnx'))!);
    await writeFile(encoderFile, 'half a file');
    const rebuilt = await SamSegmenter.create({ cacheDir });
    onTestFinished(() => rebuilt.dispose());
    expect(rebuilt.optimisedFromCache).toBe(false);
    expect((await stat(encoderFile)).size).toBeGreaterThan(1_000_000);
    const again = await rebuilt.embed(scene);
    expect(bytes(again.data).equals(bytes(embedding.data))).toBe(true);
  });
});

describe('model files', () => {
  it('refuses a file whose hash does not match the manifest, naming both hashes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'clipmask-manifest-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'enc.onnx'), 'not a model');
    await writeFile(path.join(dir, 'dec.onnx'), 'not a model either');
    const sha = 'a'.repeat(64);
    const manifest = {
      default: 'broken',
      models: [
        {
          name: 'broken',
          encoder: { path: 'enc.onnx', sha256: sha },
          decoder: { path: 'dec.onnx', sha256: sha },
          contract: {
            inputSize: 1024, mean: [0, 0, 0], std: [1, 1, 1], encoderInput: 'input', encoderOutput: 'output',
            embeddingShape: [1, 256, 64, 64], lowResMaskSize: 256,
          },
        },
      ],
    };
    const manifestPath = path.join(dir, 'manifest.json');
    await writeFile(manifestPath, JSON.stringify(manifest));
    await expect(resolveModel(undefined, manifestPath)).rejects.toThrow(/enc\.onnx has sha256 [0-9a-f]{64}, the manifest expects a{64}/);
    await expect(resolveModel('nope', manifestPath)).rejects.toThrow(/unknown model "nope" \(the manifest has: broken\)/);
    manifest.models[0].encoder.path = 'missing.onnx';
    await writeFile(manifestPath, JSON.stringify(manifest));
    await expect(resolveModel(undefined, manifestPath)).rejects.toThrow(/missing\.onnx is missing/);
  });
});
