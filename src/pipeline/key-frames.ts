import type { BinaryMask, ImageEmbedding, RgbFrame } from '../types.js';
import { EmbeddingWarper } from '../segment/embedding-warp.js';
import type { ModelContract } from '../segment/models.js';
import { lowResImageGrid, maskBox } from '../segment/postprocess.js';
import { resizeLongestSideShape } from '../segment/preprocess.js';
import type { SamSegmenter } from '../segment/segmenter.js';
import { DenseFlow, type FlowField, type FrameFlow } from '../tracker/dense-flow.js';
import { chainFlow, warpResidual, zeroFlow, type CellBox } from '../tracker/flow-field.js';
import { timed, timedSync } from '../util/profile.js';
import type { ObjectFrameResult } from './sam-pt.js';

/**
 * The `fast` speed: the image encoder runs on key frames only, and every
 * frame between two key frames gets the last key frame's embedding warped
 * along the optical flow (Deep Feature Flow, Zhu et al. 2017). The flow is
 * Farnebäck's on a small grey copy of each frame, chained from frame to
 * frame back to the key frame, so the key frame is warped once per frame
 * (sharp) rather than its warp warped again (blurred).
 *
 * A frame becomes a key frame when the warp stops explaining it, not every
 * k-th frame:
 *   - prompt:   it carries clicks (they deserve the real features);
 *   - first:    the pass starts here;
 *   - cut:      the previous frame warped to this one leaves a residual a cut leaves;
 *   - motion:   the key frame warped here leaves too large a residual, over
 *               the frame or over the objects' boxes (the objects matter more
 *               than the background, and are often a small part of it);
 *   - doubt:    on the frame before, which was warped, an object was lost or
 *               its score fell well below its running mean;
 *   - interval: `maxInterval` frames since the last key frame.
 * The residuals are decided when a frame is read (one frame ahead, so the
 * encoder overlaps the work on the frame before); doubt, known only once the
 * frame before is segmented, can still turn a warped frame into a key frame
 * when its embedding is taken.
 */

export interface KeyFrameOptions {
  /** A key frame at least every this many frames. */
  maxInterval: number;
  /** Mean warp residual, in grey levels, above which a frame needs its own encoding. */
  maxResidual: number;
  /** Residual between consecutive frames that means a new shot. */
  cutResidual: number;
  /** How far below its running mean an object's score may fall on a warped frame. */
  scoreDrop: number;
}

export const DEFAULT_KEY_FRAME_OPTIONS: Readonly<KeyFrameOptions> = Object.freeze({
  maxInterval: 8,
  maxResidual: 10,
  cutResidual: 40,
  scoreDrop: 0.1,
});

/** A frame's embedding as planned when it was read; `take` gives it when the loop gets to that frame. */
export type PlannedEmbedding = () => Promise<ImageEmbedding>;

interface KeyState {
  index: number;
  embedding: Promise<ImageEmbedding>;
  grid: Uint8Array;
  /** From the newest planned frame to the key frame. */
  toKey: FlowField;
  since: number;
}

export class KeyFramePlanner {
  private key?: KeyState;
  private previousGrid?: Uint8Array;
  /** Objects' extent on the last segmented frame, in flow cells. */
  private objectsBox?: CellBox;
  private doubt = false;
  /** The flow grid's size, set by the first frame. */
  private gridWidth = 0;
  private gridHeight = 0;
  /** The frame whose embedding was taken last, and whether it was warped. */
  private taken?: { index: number; warped: boolean };
  private readonly scores = new Map<number, { mean: number; visible: boolean }>();
  /** The last few frames' flow to the frame before them, for the propagator (frameFlow). */
  private readonly steps = new Map<number, FlowField | undefined>();

  private constructor(
    private readonly flow: DenseFlow,
    private readonly warper: EmbeddingWarper,
    private readonly contract: ModelContract,
    private readonly options: Readonly<KeyFrameOptions>,
  ) {}

  static async create(segmenter: SamSegmenter, options: Partial<KeyFrameOptions> = {}): Promise<KeyFramePlanner> {
    const { embeddingShape, inputSize } = segmenter.contract;
    const warper = await EmbeddingWarper.create(embeddingShape, inputSize);
    return new KeyFramePlanner(await DenseFlow.create(), warper, segmenter.contract, { ...DEFAULT_KEY_FRAME_OPTIONS, ...options });
  }

  /**
   * The planner's flow between consecutive frames, for the propagator to
   * carry masks with: it is computed once, on the decoder's low-res grid
   * (the propagator's own), so the propagator need not compute it again.
   */
  frameFlow(): FrameFlow {
    return { reset: () => undefined, step: (frame) => this.steps.get(frame.index) };
  }

  /**
   * Plans the embedding of the frame just read (frames come one after the
   * other, in one direction of time): a key frame's encoding starts now.
   */
  plan(frame: RgbFrame, encode: (frame: RgbFrame) => Promise<ImageEmbedding>, prompted: boolean): PlannedEmbedding {
    const { inputSize, lowResMaskSize } = this.contract;
    const { width, height } = lowResImageGrid(resizeLongestSideShape(frame.width, frame.height, inputSize), lowResMaskSize, inputSize);
    [this.gridWidth, this.gridHeight] = [width, height];
    const step = timedSync('flow', () => this.flow.step(frame, width, height));
    this.steps.set(frame.index, step);
    for (const index of this.steps.keys()) if (this.steps.size > 3) this.steps.delete(index);
    const grid = this.flow.newestGrid()!;
    const previous = this.previousGrid;
    this.previousGrid = grid;
    const key = this.key;
    const toKey = key && step ? timedSync('key-plan', () => chainFlow(step, key.toKey)) : undefined;
    const needsKey = prompted || !key || !step || !toKey || timedSync('key-plan', () => this.warpFails(grid, previous!, step, key, toKey));
    if (needsKey) return this.keyFrame(frame, grid, encode(frame));
    key!.toKey = toKey!;
    key!.since++;
    return () => {
      // The frame before was segmented meanwhile: if it went wrong on its warped embedding, encode this one.
      if (this.doubt && this.key === key) return this.keyFrame(frame, grid, encode(frame))();
      this.doubt = false;
      this.taken = { index: frame.index, warped: true };
      return key!.embedding.then(async (embedding) => ({ ...(await timed('warp', () => this.warper.warp(embedding, toKey!))), warpedFrom: key!.index }));
    };
  }

  /** What the frame just segmented says: lost objects or falling scores on a warped frame ask for a key frame. */
  observe(frameIndex: number, results: ObjectFrameResult[], masks: Map<number, BinaryMask>): void {
    const warped = this.taken?.index === frameIndex && this.taken.warped;
    let doubt = false;
    for (const r of results) {
      const seen = this.scores.get(r.objectId);
      if (warped && seen?.visible && (!r.visible || r.score < seen.mean - this.options.scoreDrop)) doubt = true;
      const mean = seen && seen.visible && r.visible ? 0.8 * seen.mean + 0.2 * r.score : r.score;
      this.scores.set(r.objectId, { mean, visible: r.visible });
    }
    this.doubt = doubt;
    this.objectsBox = this.cellBoxOf(masks);
  }

  async dispose(): Promise<void> {
    this.flow.dispose();
    await this.warper.dispose();
  }

  /** A cut, too large a residual of the key frame warped here (motion), or the interval: this frame needs its own encoding. */
  private warpFails(grid: Uint8Array, previous: Uint8Array, step: FlowField, key: KeyState, toKey: FlowField): boolean {
    const { cutResidual, maxResidual, maxInterval } = this.options;
    if (warpResidual(grid, previous, step) > cutResidual) return true;
    const residual = Math.max(warpResidual(grid, key.grid, toKey), this.objectsBox ? warpResidual(grid, key.grid, toKey, this.objectsBox) : 0);
    return residual > maxResidual || key.since + 1 >= maxInterval;
  }

  private keyFrame(frame: RgbFrame, grid: Uint8Array, embedding: Promise<ImageEmbedding>): PlannedEmbedding {
    this.key = { index: frame.index, embedding, grid, toKey: zeroFlow(this.gridWidth, this.gridHeight), since: 0 };
    this.doubt = false;
    return () => {
      this.taken = { index: frame.index, warped: false };
      return embedding;
    };
  }

  private cellBoxOf(masks: Map<number, BinaryMask>): CellBox | undefined {
    let box: CellBox | undefined;
    for (const mask of masks.values()) {
      const b = maskBox(mask);
      if (!b) continue;
      const sx = this.gridWidth / mask.width;
      const sy = this.gridHeight / mask.height;
      const cells = { x0: Math.floor(b[0] * sx), y0: Math.floor(b[1] * sy), x1: Math.ceil(b[2] * sx), y1: Math.ceil(b[3] * sy) };
      box = box ? { x0: Math.min(box.x0, cells.x0), y0: Math.min(box.y0, cells.y0), x1: Math.max(box.x1, cells.x1), y1: Math.max(box.y1, cells.y1) } : cells;
    }
    return box;
  }
}
