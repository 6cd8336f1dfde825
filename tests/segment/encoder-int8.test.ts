import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskFromClicks } from '../../src/segment/click-to-mask.js';
import { quantiseColumns, quantiseMatMuls } from '../../src/segment/encoder-int8.js';
import { maskIoU } from '../../src/segment/postprocess.js';
import { SamSegmenter } from '../../src/segment/segmenter.js';
import { discMask, drawScene } from '../helpers/images.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

describe('int8 quantisation of constant-weight MatMuls', () => {
  it('scales each column by its largest magnitude / 127 and rounds', () => {
    // [K=2, N=3] row-major: columns (1, -0.5), (-2, 4), (0, 0)
    const { q, scales } = quantiseColumns(Float32Array.of(1, -2, 0, -0.5, 4, 0), 2, 3);
    expect(Array.from(scales)).toEqual([Math.fround(1 / 127), Math.fround(4 / 127), 1]); // an all-zero column keeps scale 1
    // -0.5 / float32(1 / 127) = -63.5000002: the scale is stored as float32, so this rounds to -64, not -63.
    expect(Array.from(q)).toEqual([127, -64, 0, -64, 127, 0]);
  });

  it('rewrites a MatMul with constant weights into one that ONNX Runtime runs to nearly the float result', async () => {
    // Y[1, 4] = X[1, 3] @ W[3, 4]; W is an initializer, a second MatMul of two inputs stays float.
    const W = Float32Array.of(0.5, -1, 2, 0.25, 1.5, 0.75, -0.5, 1, -2, 0.1, 0.3, -0.7);
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [
          { opType: 'MatMul', name: 'mm', input: ['X', 'W'], output: ['Y'] },
          { opType: 'MatMul', name: 'free', input: ['Y', 'Z'], output: ['V'] },
        ],
        initializer: [{ name: 'W', dataType: FLOAT, dims: [3, 4], rawData: new Uint8Array(W.buffer) }],
        input: [
          { name: 'X', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }] } } } },
          { name: 'Z', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 4 }, { dimValue: 1 }] } } } },
        ],
        output: [
          { name: 'Y', type: { tensorType: { elemType: FLOAT } } },
          { name: 'V', type: { tensorType: { elemType: FLOAT } } },
        ],
      },
    });
    const { bytes, quantised } = quantiseMatMuls(onnx.ModelProto.encode(model).finish());
    expect(quantised).toBe(1);
    const edited = onnx.ModelProto.decode(bytes);
    expect(edited.graph!.node!.map((n) => n.opType)).toEqual(['DynamicQuantizeLinear', 'MatMulInteger', 'Cast', 'Mul', 'Mul', 'MatMul']);
    expect(edited.graph!.initializer!.map((t) => t.name)).not.toContain('W'); // the float weights are gone

    const session = await ort.InferenceSession.create(bytes);
    const X = Float32Array.of(0.3, -1.2, 2.5);
    const { Y } = await session.run({
      X: new ort.Tensor('float32', X, [1, 3]),
      Z: new ort.Tensor('float32', new Float32Array(4), [4, 1]),
    });
    const exact = [0, 1, 2, 3].map((j) => X[0] * W[j] + X[1] * W[4 + j] + X[2] * W[8 + j]);
    const got = Array.from(Y.data as Float32Array);
    // int8 on both sides: errors of a few per cent of the largest output, not more.
    for (let j = 0; j < 4; j++) expect(Math.abs(got[j] - exact[j])).toBeLessThan(0.03 * Math.max(...exact.map(Math.abs)));
    expect(got).not.toEqual(exact); // it really ran in int8
    await session.release();
  });
});

describe('the int8 encoder (real model)', () => {
  const W = 480;
  const H = 320;
  const disc = discMask(W, H, 140, 170, 70);
  const scene = drawScene(W, H, [{ mask: disc, colour: [200, 40, 40] }]);
  let cacheDir: string;
  let float: SamSegmenter;
  let int8: SamSegmenter;

  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(tmpdir(), 'clipmask-int8-'));
    [float, int8] = await Promise.all([
      SamSegmenter.create({ cacheDir }),
      SamSegmenter.create({ cacheDir, encoderPrecision: 'int8' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([float?.dispose(), int8?.dispose()]);
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('is derived from the shipped encoder into the cache and embeds close to it', async () => {
    expect((await readdir(cacheDir)).some((f) => /^encoder-[0-9a-f]{16}-int8-v\d+\.onnx$/.test(f))).toBe(true);
    const [a, b] = [await float.embed(scene), await int8.embed(scene)];
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = 0; i < a.data.length; i++) {
      dot += a.data[i] * b.data[i];
      na += a.data[i] ** 2;
      nb += b.data[i] ** 2;
    }
    const cosine = dot / Math.sqrt(na * nb);
    expect(cosine).toBeGreaterThan(0.999);
    expect(cosine).toBeLessThan(1); // not the float encoder under another name
    const result = await maskFromClicks(int8, b, { points: [{ x: 140, y: 170, label: 1 }] });
    expect(maskIoU(result.mask, disc)).toBeGreaterThan(0.9);
  });
});
