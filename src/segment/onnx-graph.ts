import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

/** Small builders for the graphs ClipMask writes itself (memory-read.ts, embedding-warp.ts). */

const { onnx } = onnxProto;
export const DataType = onnx.TensorProto.DataType;

export function node(opType: string, input: string[], output: string[], attribute: onnxProto.onnx.IAttributeProto[] = []) {
  return onnx.NodeProto.create({ opType, name: output[0], input, output, attribute });
}

export const intAttr = (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
export const intsAttr = (name: string, ints: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });
export const stringAttr = (name: string, s: string) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) });

export function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

/** A model of one graph in the default domain at `opset`, serialized. */
export function modelBytes(graph: onnxProto.onnx.IGraphProto, opset: number): Uint8Array {
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'clipmask', opsetImport: [{ domain: '', version: opset }], graph });
  return onnx.ModelProto.encode(model).finish();
}

/** A CPU session of a small graph: no spinning threads, which would take the cores from the encoder between runs. */
export function smallGraphSession(bytes: Uint8Array, threads?: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads ?? availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
}
