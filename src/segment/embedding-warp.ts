import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { ImageEmbedding } from '../types.js';
import type { FlowField } from '../tracker/dense-flow.js';
import { sampleClamped } from '../tracker/flow-field.js';
import { DataType, intAttr, modelBytes, node, stringAttr, valueInfo, smallGraphSession } from './onnx-graph.js';

/**
 * Deep Feature Flow's propagation (Zhu et al. 2017): a key frame's image
 * embedding, warped along the optical flow, stands in for the embedding of a
 * later frame. One bilinear GridSample over [1, C, H, W] (C = 256 channels of
 * 64 x 64 cells for SAM: a million samples, ONNX Runtime's work); where each
 * cell samples from is computed here on the H x W grid.
 *
 *   embedding [1, C, H, W]   the key frame's
 *   grid      [1, H, W, 2]   (x, y) source of each cell, normalised to [-1, 1] (align_corners)
 *   warped    [1, C, H, W]
 */

const { onnx } = onnxProto;
const OPSET = 17;

export function embeddingWarpGraph(channels: number, rows: number, cols: number): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: 'clipmask-embedding-warp',
    node: [node('GridSample', ['embedding', 'grid'], ['warped'], [stringAttr('mode', 'bilinear'), stringAttr('padding_mode', 'border'), intAttr('align_corners', 1)])],
    input: [valueInfo('embedding', DataType.FLOAT, [1, channels, rows, cols]), valueInfo('grid', DataType.FLOAT, [1, rows, cols, 2])],
    output: [valueInfo('warped', DataType.FLOAT, [1, channels, rows, cols])],
  });
  return modelBytes(graph, OPSET);
}

/**
 * Where each embedding cell samples the key frame's embedding from, as
 * GridSample wants it: [rows, cols, 2] normalised. `flow` covers the image
 * (not the padding) on its own grid, in its cells, taking this frame to the
 * key frame. Cells of the padding sample themselves; image cells sample
 * inside the image, so the padding's features never leak in.
 *   patch = inputSize / cols (16 px for SAM)
 */
export function warpGrid(embedding: Pick<ImageEmbedding, 'width' | 'height' | 'resizedWidth' | 'resizedHeight'>, flow: FlowField, rows: number, cols: number, patch: number): Float32Array {
  const imageCols = Math.min(cols, Math.ceil(embedding.resizedWidth / patch));
  const imageRows = Math.min(rows, Math.ceil(embedding.resizedHeight / patch));
  // Embedding cells -> flow cells, and flow cells -> embedding cells, per axis.
  const toFlowX = (patch * flow.width) / embedding.resizedWidth;
  const toFlowY = (patch * flow.height) / embedding.resizedHeight;
  const grid = new Float32Array(rows * cols * 2);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let sx = x;
      let sy = y;
      if (x < imageCols && y < imageRows) {
        const fx = (x + 0.5) * toFlowX - 0.5;
        const fy = (y + 0.5) * toFlowY - 0.5;
        sx = Math.min(imageCols - 1, Math.max(0, x + sampleClamped(flow.data, flow.width, flow.height, 2, 0, fx, fy) / toFlowX));
        sy = Math.min(imageRows - 1, Math.max(0, y + sampleClamped(flow.data, flow.width, flow.height, 2, 1, fx, fy) / toFlowY));
      }
      const i = 2 * (y * cols + x);
      grid[i] = (2 * sx) / (cols - 1) - 1;
      grid[i + 1] = (2 * sy) / (rows - 1) - 1;
    }
  }
  return grid;
}

/** One ONNX Runtime session of the warp graph for one embedding shape. */
export class EmbeddingWarper {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly shape: readonly [1, number, number, number],
    private readonly patch: number,
  ) {}

  /** `shape` is the model's embedding shape [1, C, H, W]; `inputSize` its square input side. */
  static async create(shape: readonly [1, number, number, number], inputSize: number, threads?: number): Promise<EmbeddingWarper> {
    const [, channels, rows, cols] = shape;
    const session = await smallGraphSession(embeddingWarpGraph(channels, rows, cols), threads);
    return new EmbeddingWarper(session, shape, inputSize / cols);
  }

  /** The key frame's embedding warped by `flow` (this frame -> key frame), as this frame's. */
  async warp(key: ImageEmbedding, flow: FlowField): Promise<ImageEmbedding> {
    const [, , rows, cols] = this.shape;
    const grid = warpGrid(key, flow, rows, cols, this.patch);
    const out = await this.session.run({
      embedding: new ort.Tensor('float32', key.data, [...this.shape]),
      grid: new ort.Tensor('float32', grid, [1, rows, cols, 2]),
    });
    return { ...key, data: out.warped.data as Float32Array };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
