import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { DataType, intAttr, intsAttr, modelBytes, node, valueInfo, smallGraphSession } from './onnx-graph.js';

const { onnx } = onnxProto;

/**
 * A space-time memory read (STM, Oh et al. 2019; XMem's top-k readout) over
 * the image encoder's own features, without learned projections: every query
 * cell is compared with every memory cell by cosine similarity, its k most
 * similar memory cells vote with softmax weights, and the vote is the mean of
 * their values (an object's mask coverage, one column per value channel).
 *
 *   query  [Nq, C]  unit-length cell features of the current frame
 *   keys   [Nm, C]  unit-length cell features of the memory frames
 *   values [Nm, V]  what each memory cell says (here: object coverage 0..1)
 *   k      int64 [1], 1 <= k <= Nm
 *   scale  float [1], 1 / softmax temperature
 *
 *   S        = query · keysᵀ                      [Nq, Nm]
 *   top, idx = TopK(S, k)                          [Nq, k]
 *   w        = Softmax(scale · top)                [Nq, k]
 *   readout  = Σ_k w · values[idx]                 [Nq, V]
 *   affinity = max_k top                           [Nq]   (how well the cell matches anything remembered)
 *
 * The product is ~2300 x 5000 x 256 for a 16:9 frame and five memory frames:
 * it belongs in ONNX Runtime's GEMM, not a JS loop.
 */

const OPSET = 17;

/** The serialized memory-read graph for features of `channels` dimensions. */
export function memoryReadGraph(channels: number): Uint8Array {
  const axes = (name: string, values: number[]) =>
    onnx.TensorProto.create({ name, dataType: DataType.INT64, dims: [values.length], int64Data: values });
  const graph = onnx.GraphProto.create({
    name: 'clipmask-memory-read',
    node: [
      node('Transpose', ['keys'], ['keys_t'], [intsAttr('perm', [1, 0])]),
      node('MatMul', ['query', 'keys_t'], ['similarity']),
      node('TopK', ['similarity', 'k'], ['top', 'top_index'], [intAttr('axis', 1), intAttr('largest', 1), intAttr('sorted', 1)]),
      node('Mul', ['top', 'scale'], ['top_scaled']),
      node('Softmax', ['top_scaled'], ['weights'], [intAttr('axis', 1)]),
      node('Unsqueeze', ['weights', 'axis2'], ['weights3']),
      node('Gather', ['values', 'top_index'], ['voted'], [intAttr('axis', 0)]),
      node('Mul', ['voted', 'weights3'], ['weighted']),
      node('ReduceSum', ['weighted', 'axis1'], ['readout'], [intAttr('keepdims', 0)]),
      node('ReduceMax', ['top'], ['affinity'], [intsAttr('axes', [1]), intAttr('keepdims', 0)]),
    ],
    initializer: [axes('axis1', [1]), axes('axis2', [2])],
    input: [
      valueInfo('query', DataType.FLOAT, ['Nq', channels]),
      valueInfo('keys', DataType.FLOAT, ['Nm', channels]),
      valueInfo('values', DataType.FLOAT, ['Nm', 'V']),
      valueInfo('k', DataType.INT64, [1]),
      valueInfo('scale', DataType.FLOAT, [1]),
    ],
    output: [valueInfo('readout', DataType.FLOAT, ['Nq', 'V']), valueInfo('affinity', DataType.FLOAT, ['Nq'])],
  });
  return modelBytes(graph, OPSET);
}

export interface MemoryReadInput {
  /** [nq, channels], unit rows. */
  query: Float32Array;
  /** [nm, channels], unit rows. */
  keys: Float32Array;
  /** [nm, valueChannels]. */
  values: Float32Array;
  valueChannels: number;
  topK: number;
  temperature: number;
}

export interface MemoryReadout {
  /** [nq, valueChannels] */
  readout: Float32Array;
  /** [nq] */
  affinity: Float32Array;
}

/** One ONNX Runtime session of the memory-read graph; cheap to create (a five-node graph). */
export class MemoryReader {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly channels: number,
  ) {}

  static async create(channels: number, threads?: number): Promise<MemoryReader> {
    const session = await smallGraphSession(memoryReadGraph(channels), threads);
    return new MemoryReader(session, channels);
  }

  async read(input: MemoryReadInput): Promise<MemoryReadout> {
    const { channels } = this;
    const nq = input.query.length / channels;
    const nm = input.keys.length / channels;
    if (!Number.isInteger(nq) || !Number.isInteger(nm) || nm === 0 || input.values.length !== nm * input.valueChannels) {
      throw new RangeError(`memory read: query ${input.query.length}, keys ${input.keys.length}, values ${input.values.length} do not fit ${channels} channels`);
    }
    const k = Math.max(1, Math.min(nm, input.topK));
    const out = await this.session.run({
      query: new ort.Tensor('float32', input.query, [nq, channels]),
      keys: new ort.Tensor('float32', input.keys, [nm, channels]),
      values: new ort.Tensor('float32', input.values, [nm, input.valueChannels]),
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
      scale: new ort.Tensor('float32', Float32Array.of(1 / input.temperature), [1]),
    });
    return { readout: out.readout.data as Float32Array, affinity: out.affinity.data as Float32Array };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
