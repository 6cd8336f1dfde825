import { readFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { cachedGraph } from './graph-cache.js';
import { ModelError } from './models.js';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

/**
 * The encoder's "int8" precision: dynamic int8 quantisation of every MatMul
 * whose weights are a constant matrix (TinyViT's attention projections and
 * MLPs, about 44 % of the encoder's time), made by the project from the
 * shipped float weights. Each such MatMul becomes
 *
 *   A_q, A_scale, A_zp = DynamicQuantizeLinear(A)       uint8, per tensor, at run time
 *   Y_int = MatMulInteger(A_q, B_q, A_zp, 0)            B_q: int8 [K, N], symmetric
 *   Y     = Cast(Y_int) * (A_scale * B_scale)           B_scale: float [N], per column
 *
 * Convolutions stay float: ConvInteger is slower than float Conv in ONNX
 * Runtime on this class of CPU (see `npm run bench:quantize -- --conv`).
 */

/** Bump when the quantisation changes, so cached files from an older one are not reused. */
const QUANTISATION_VERSION = 1;

type Tensor = onnxProto.onnx.ITensorProto;
type Node = onnxProto.onnx.INodeProto;

function floatValues(tensor: Tensor): Float32Array {
  if (tensor.rawData && tensor.rawData.length) return new Float32Array(new Uint8Array(tensor.rawData).slice().buffer);
  return Float32Array.from(tensor.floatData ?? []);
}

/**
 * Symmetric int8 quantisation of a [K, N] matrix with one scale per column
 * (per output channel): scale = max|column| / 127, q = round(w / scale).
 *   weights: [K, N] row-major -> q: [K, N] int8, scales: [N]
 */
export function quantiseColumns(weights: Float32Array, K: number, N: number): { q: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(N);
  for (let j = 0; j < N; j++) {
    let max = 0;
    for (let k = 0; k < K; k++) max = Math.max(max, Math.abs(weights[k * N + j]));
    scales[j] = max / 127 || 1;
  }
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < N; j++) q[k * N + j] = Math.max(-127, Math.min(127, Math.round(weights[k * N + j] / scales[j])));
  }
  return { q, scales };
}

function node(opType: string, name: string, input: string[], output: string[], attribute: onnxProto.onnx.IAttributeProto[] = []): Node {
  return onnx.NodeProto.create({ opType, name, input, output, attribute });
}

/** Quantises a serialized float model's constant-weight MatMuls; returns the new bytes and how many. */
export function quantiseMatMuls(modelBytes: Uint8Array): { bytes: Uint8Array; quantised: number } {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph;
  if (!graph?.node || !graph.initializer) throw new ModelError('encoder file holds no graph');
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const nodes: Node[] = [];
  let quantised = 0;
  for (const n of graph.node) {
    const weights = n.opType === 'MatMul' ? initializers.get(n.input?.[1]) : undefined;
    if (!weights || weights.dims?.length !== 2 || weights.dataType !== DataType.FLOAT) {
      nodes.push(n);
      continue;
    }
    const [K, N] = weights.dims.map(Number);
    const { q, scales } = quantiseColumns(floatValues(weights), K, N);
    const p = `q${quantised++}_${n.name || n.output![0]}`;
    graph.initializer.push(
      onnx.TensorProto.create({ name: `${p}/B`, dataType: DataType.INT8, dims: [K, N], rawData: new Uint8Array(q.buffer) }),
      onnx.TensorProto.create({ name: `${p}/B_zp`, dataType: DataType.INT8, dims: [N], rawData: new Uint8Array(N) }),
      onnx.TensorProto.create({ name: `${p}/B_scale`, dataType: DataType.FLOAT, dims: [N], rawData: new Uint8Array(scales.buffer) }),
    );
    const toFloat = onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DataType.FLOAT });
    nodes.push(
      node('DynamicQuantizeLinear', `${p}/dql`, [n.input![0]], [`${p}/A_q`, `${p}/A_scale`, `${p}/A_zp`]),
      node('MatMulInteger', `${p}/mmi`, [`${p}/A_q`, `${p}/B`, `${p}/A_zp`, `${p}/B_zp`], [`${p}/Y_int`]),
      node('Cast', `${p}/cast`, [`${p}/Y_int`], [`${p}/Y_f`], [toFloat]),
      node('Mul', `${p}/scales`, [`${p}/A_scale`, `${p}/B_scale`], [`${p}/scale`]),
      node('Mul', `${p}/rescale`, [`${p}/Y_f`, `${p}/scale`], [n.output![0]]),
    );
  }
  graph.node = nodes;
  // The float weights of the quantised MatMuls are no longer read.
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  graph.initializer = graph.initializer.filter((t) => used.has(t.name ?? ''));
  return { bytes: onnx.ModelProto.encode(model).finish(), quantised };
}

/** Returns the path of the int8 encoder, creating it in `cacheDir` from the float one on first use. */
export async function prepareInt8Encoder(encoderPath: string, encoderSha256: string, cacheDir: string): Promise<string> {
  const target = path.join(cacheDir, `encoder-${encoderSha256.slice(0, 16)}-int8-v${QUANTISATION_VERSION}.onnx`);
  return cachedGraph(target, async () => {
    const { bytes, quantised } = quantiseMatMuls(await readFile(encoderPath));
    if (quantised === 0) throw new ModelError(`encoder ${encoderPath} has no MatMul with constant weights to quantise`);
    return bytes;
  });
}
