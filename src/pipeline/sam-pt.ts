import type { BinaryMask, Box, ImageEmbedding, RgbFrame } from '../types.js';
import { lowResImageGrid, maskArea, maskBox } from '../segment/postprocess.js';
import type { DecodePoint, DecodeResult, SamSegmenter } from '../segment/segmenter.js';
import type { PointTracker } from '../tracker/types.js';
import { sampleNegativePoints, samplePositivePoints } from '../tracker/query-points.js';
import type { MemoryReader } from '../segment/memory-read.js';
import { warpByFlow, type FlowField, type FrameFlow } from '../tracker/dense-flow.js';
import { AppearanceModel, cellIndexAt } from './appearance.js';
import { believedExtent, dropUnbelievedParts, frameCells, meanOverMask, ObjectMemory, trimByBelief, type FrameCells } from './object-memory.js';
import { floodRegion8, type CellRegion } from './regions.js';
import { timed, timedSync } from '../util/profile.js';

/**
 * SAM-PT (Rajič et al. 2023) for several objects in one direction of time:
 * query points chosen on an object's mask are tracked frame to frame, and on
 * every frame SAM's decoder is re-prompted with the points that are still
 * visible. One tracker carries every object's points, one encoder run per
 * frame serves every object.
 */

export interface SamPtOptions {
  /** Positive query points per object (k-medoids over the mask). */
  positivePoints: number;
  /** Negative query points per object (around the mask). */
  negativePoints: number;
  /** Decoder passes per object and frame (SAM-PT: 1 + refinement). */
  passes: number;
  /** A mask SAM scores below this is reported as the object being absent. */
  minScore: number;
  /** Re-sample an object's query points from its mask when fewer positives than this stay visible. */
  reinitBelow: number;
  /** Also re-sample every this many frames (0 = never). */
  reinitEvery: number;
  /** Prompt the first pass with the previous frame's mask (logits and box), not only the points. */
  carryMask: boolean;
  /** Other objects' visible positive points act as negatives. */
  othersAsNegatives: boolean;
  /** The carried box is widened by this share of its width and height on each side. */
  boxSlack: number;
  /**
   * Use the encoder's features as an appearance model: drop points that look
   * like background, report a mask that looks like background as absent, and
   * search the frame for a lost object.
   */
  appearance: boolean;
  /** Object-vs-background similarity margin a found region needs to count as the lost object. */
  redetectMargin: number;
  /** Learn from a confidently segmented frame every this many frames. */
  appearanceUpdateEvery: number;
  /** Carry the previous mask by dense optical flow, cell by cell, rather than by the points' median shift. */
  denseFlow: boolean;
  /**
   * A space-time memory of each object over the encoder's features (see
   * object-memory.ts): it decides whether a mask is the object, drops points
   * and mask parts it does not believe in, and finds a lost object again.
   * With the appearance model too, a point or a mask must pass both: the
   * memory compares whole frames of features, the appearance model a few
   * prototypes, and they fail on different things (an ablation each).
   */
  memory: boolean;
  /**
   * The memory's mean object probability over a mask: a followed object
   * stays found at `keepBelief` or more; a lost one, or a region found by
   * searching the frame, needs `findBelief`. The gap between them is the
   * hysteresis that keeps small numeric noise from flipping the decision.
   */
  keepBelief: number;
  findBelief: number;
  /**
   * Trim every decoder pass's mask by the memory: cells whose object
   * probability is below `trimBelief` go (an occluder in front), and so do
   * cells more than `trimNearCells` low-res cells from the carried mask that
   * fall short of `findBelief` (a look-alike the mask spreads onto).
   */
  trim: boolean;
  trimBelief: number;
  trimNearCells: number;
  /**
   * Refinement passes get the box of the mask grown to the believed region
   * it touches (cells at `findBelief` or more), so a mask stuck on part of
   * the object is shown the rest.
   */
  growBox: boolean;
  /** Whether the memory and the appearance model learn from frames whose embedding is a key frame's, warped (speed `fast`). */
  learnFromWarped: boolean;
}

export const DEFAULT_SAM_PT_OPTIONS: SamPtOptions = {
  positivePoints: 8,
  negativePoints: 1,
  passes: 3,
  minScore: 0.5,
  reinitBelow: 4,
  reinitEvery: 8,
  carryMask: true,
  othersAsNegatives: true,
  boxSlack: 0.15,
  appearance: true,
  redetectMargin: 0.05,
  appearanceUpdateEvery: 5,
  denseFlow: true,
  memory: true,
  keepBelief: 0.3,
  findBelief: 0.5,
  trim: true,
  trimBelief: 0.15,
  trimNearCells: 8,
  growBox: true,
  learnFromWarped: true,
};

/** One object's result on one frame, before overlaps between objects are resolved. */
export interface ObjectFrameResult {
  objectId: number;
  visible: boolean;
  score: number;
  /** Full-size logits [height, width] when visible. */
  logits?: Float32Array;
  mask?: BinaryMask;
}

interface Segmented {
  lowRes: Float32Array;
  score: number;
  mask: BinaryMask;
  /** The mask's box; null when it is empty. */
  box: Box | null;
  logits: Float32Array;
  /** Appearance margin of the mask, once measured. */
  margin?: number;
  /** The memory's mean object probability over the mask, once measured. */
  belief?: number;
}

/** What every object's step on one frame shares. */
interface FrameContext {
  /** Dense flow from this frame back to the previous one, on SAM's low-res grid (with denseFlow). */
  flow?: FlowField;
  /** The frame's cell features and each object's memory read (with memory). */
  cells?: FrameCells;
  beliefs: Map<number, Float32Array>;
}

interface QueryPoint {
  objectId: number;
  label: 0 | 1;
  x: number;
  y: number;
  visible: boolean;
}

interface ObjectState {
  id: number;
  /** The last frame's low-res logits and box, when the object was visible there. */
  lowRes?: Float32Array;
  box?: Box;
  /** Median displacement of the object's visible points over the last step. */
  motion: [number, number];
  framesSinceReinit: number;
  appearance?: AppearanceModel;
  framesSinceLearn: number;
  /** Running means over accepted masks: how object-like and how large the object usually is. */
  typicalMargin?: number;
  typicalArea?: number;
  memory?: ObjectMemory;
  /** Whether the object was found on the last frame (the memory's hysteresis). */
  present: boolean;
}

/** What a propagator may use beyond the segmenter and the point tracker. */
export interface SamPtParts {
  memoryReader?: MemoryReader;
  flow?: FrameFlow;
}

export class SamPtPropagator {
  private readonly objects = new Map<number, ObjectState>();
  private points: QueryPoint[] = [];
  private frame?: RgbFrame;
  /** The frame the dense flow last saw. */
  private flowFrame?: number;

  constructor(
    private readonly segmenter: SamSegmenter,
    private readonly tracker: PointTracker,
    private readonly options: SamPtOptions = DEFAULT_SAM_PT_OPTIONS,
    private readonly parts: SamPtParts = {},
  ) {
    if (options.memory && !parts.memoryReader) throw new Error('SamPtOptions.memory needs a MemoryReader');
    if (options.denseFlow && !parts.flow) throw new Error('SamPtOptions.denseFlow needs a DenseFlow');
  }

  get objectIds(): number[] {
    return [...this.objects.keys()];
  }

  /**
   * Starts (or restarts) tracking an object from a mask on `frame`, the frame
   * the propagator is on (the first call sets it).
   */
  setObject(frame: RgbFrame, embedding: ImageEmbedding, objectId: number, mask: BinaryMask, lowRes: Float32Array): void {
    this.frame = frame;
    if (this.parts.flow && this.flowFrame !== frame.index) {
      const grid = this.lowResGrid(embedding);
      this.parts.flow.reset(frame, grid.width, grid.height);
      this.flowFrame = frame.index;
    }
    this.objects.set(objectId, {
      id: objectId,
      lowRes,
      box: maskBox(mask) ?? undefined,
      motion: [0, 0],
      framesSinceReinit: 0,
      appearance: this.options.appearance ? AppearanceModel.fromMask(embedding, mask) : undefined,
      framesSinceLearn: 0,
      memory: this.options.memory ? ObjectMemory.fromMask(frameCells(embedding), mask) : undefined,
      present: true,
    });
    this.resample(objectId, mask);
    this.restartTracker();
  }

  removeObject(objectId: number): void {
    this.objects.delete(objectId);
    this.points = this.points.filter((p) => p.objectId !== objectId);
  }

  /** Moves to the next frame (in this propagator's direction) and segments every object on it. */
  async step(frame: RgbFrame, embedding: ImageEmbedding): Promise<ObjectFrameResult[]> {
    this.trackPoints(frame);
    const context = await this.frameContext(frame, embedding);
    this.dropPointsOnBackground(embedding, context);
    const results: ObjectFrameResult[] = [];
    for (const state of this.objects.values()) results.push(await this.segmentObject(state, embedding, context));
    let resampled = false;
    for (const [i, state] of [...this.objects.values()].entries()) resampled = this.maintainPoints(state, results[i]) || resampled;
    if (resampled) this.restartTracker();
    return results;
  }

  private trackPoints(frame: RgbFrame): void {
    this.frame = frame;
    const moves = new Map<number, { dx: number[]; dy: number[] }>();
    if (this.points.length) {
      const { positions, visible } = timedSync('track', () => this.tracker.step(frame));
      this.points.forEach((p, i) => {
        const stillVisible = p.visible && visible[i] === 1;
        if (stillVisible) {
          const m = moves.get(p.objectId) ?? { dx: [], dy: [] };
          m.dx.push(positions[2 * i] - p.x);
          m.dy.push(positions[2 * i + 1] - p.y);
          moves.set(p.objectId, m);
        }
        p.x = positions[2 * i];
        p.y = positions[2 * i + 1];
        p.visible = stillVisible;
      });
    }
    for (const state of this.objects.values()) {
      const m = moves.get(state.id);
      // Median: robust to the few points that slid onto the background.
      state.motion = m ? [median(m.dx), median(m.dy)] : [0, 0];
    }
  }

  /** SAM's low-res grid cells that hold the image (the rest is padding). */
  private lowResGrid(embedding: ImageEmbedding): { width: number; height: number } {
    const { lowResMaskSize, inputSize } = this.segmenter.contract;
    return lowResImageGrid({ width: embedding.resizedWidth, height: embedding.resizedHeight }, lowResMaskSize, inputSize);
  }

  /** The frame's dense flow and every object's memory read. */
  private async frameContext(frame: RgbFrame, embedding: ImageEmbedding): Promise<FrameContext> {
    const context: FrameContext = { beliefs: new Map() };
    if (this.parts.flow) {
      const grid = this.lowResGrid(embedding);
      context.flow = timedSync('flow', () => this.parts.flow!.step(frame, grid.width, grid.height));
      this.flowFrame = frame.index;
    }
    if (this.parts.memoryReader) {
      const cells = timedSync('memory', () => frameCells(embedding));
      context.cells = cells;
      for (const state of this.objects.values()) {
        if (state.memory) context.beliefs.set(state.id, await timed('memory', () => state.memory!.read(this.parts.memoryReader!, cells)));
      }
    }
    return context;
  }

  /**
   * Positive points that slid off the object: onto cells the memory does not
   * believe are the object, or cells whose feature is closer to the
   * appearance model's background samples than to its object samples.
   */
  private dropPointsOnBackground(embedding: ImageEmbedding, context: FrameContext): void {
    for (const p of this.points) {
      if (!p.visible || p.label !== 1) continue;
      const belief = context.beliefs.get(p.objectId);
      if (belief && context.cells && belief[cellIndexAt(context.cells.grid, p.x, p.y)] < this.options.keepBelief) {
        p.visible = false;
        continue;
      }
      const appearance = this.objects.get(p.objectId)?.appearance;
      if (appearance && appearance.marginAt(embedding, p.x, p.y) < 0) p.visible = false;
    }
  }

  private promptPoints(state: ObjectState): { positives: DecodePoint[]; negatives: DecodePoint[] } {
    const positives: DecodePoint[] = [];
    const negatives: DecodePoint[] = [];
    for (const p of this.points) {
      if (!p.visible) continue;
      if (p.objectId === state.id) (p.label === 1 ? positives : negatives).push({ x: p.x, y: p.y, label: p.label });
      else if (this.options.othersAsNegatives && p.label === 1) negatives.push({ x: p.x, y: p.y, label: 0 });
    }
    return { positives, negatives };
  }

  /**
   * Decoder passes for one object. The first pass carries the last frame's
   * mask forward (its low-res logits and box, moved by the points' median
   * motion) together with the visible points; later passes refine with the
   * box of the current mask, as SAM-PT's iterative refinement does. With no
   * visible point the carried mask alone prompts, so a short loss of points
   * does not lose the object.
   */
  private async segmentObject(state: ObjectState, embedding: ImageEmbedding, context: FrameContext): Promise<ObjectFrameResult> {
    const { positives, negatives } = this.promptPoints(state);
    const carried = this.options.carryMask && state.lowRes && state.box ? this.carryForward(state, embedding, context.flow) : undefined;
    const belief = context.beliefs.get(state.id);
    let found: Segmented | undefined;
    if (positives.length > 0 || carried) {
      found = await this.decodePasses(embedding, {
        points: carried ? [...positives, ...negatives] : positives,
        refinePoints: [...positives, ...negatives],
        lowRes: carried?.lowRes,
        box: carried?.box,
        trim: this.trimmer(embedding, belief, context.cells, carried?.lowRes),
        grow: this.boxGrower(embedding, belief, context.cells),
      });
      if (belief) found = this.withoutUnbelievedParts(embedding, found, belief, context.cells!);
      if (!this.accept(state, embedding, found, belief, context.cells)) found = undefined;
    }
    if (!found && (belief || state.appearance)) {
      found = await this.redetect(state, embedding, context);
      if (found && !this.acceptFound(state, embedding, found, belief, context.cells)) found = undefined;
    }
    state.lowRes = found?.lowRes;
    state.box = found?.box ?? undefined;
    state.present = found !== undefined;
    if (found) this.remember(state, embedding, found, context.cells, belief);
    if (!found) return { objectId: state.id, visible: false, score: 0 };
    return { objectId: state.id, visible: true, score: found.score, logits: found.logits, mask: found.mask };
  }

  /** The memory's trim of one decoder pass's logits (see SamPtOptions.trim), when it applies. */
  private trimmer(embedding: ImageEmbedding, belief?: Float32Array, cells?: FrameCells, carried?: Float32Array) {
    if (!this.options.trim || !belief || !cells) return undefined;
    const { lowResMaskSize } = this.segmenter.contract;
    const valid = this.lowResGrid(embedding);
    const rule = { floor: this.options.trimBelief, newFloor: this.options.findBelief, nearCells: this.options.trimNearCells };
    return (lowRes: Float32Array) => trimByBelief(lowRes, lowResMaskSize, valid, belief, cells.grid, carried, rule, OUTSIDE_LOGIT);
  }

  /** The refinement box grown to the believed region (see SamPtOptions.growBox), when it applies. */
  private boxGrower(embedding: ImageEmbedding, belief?: Float32Array, cells?: FrameCells) {
    if (!this.options.growBox || !belief || !cells) return undefined;
    const { lowResMaskSize } = this.segmenter.contract;
    const valid = this.lowResGrid(embedding);
    const { grid } = cells;
    return (lowRes: Float32Array, box: Box): Box => {
      const cellsBox = believedExtent(lowRes, lowResMaskSize, valid, belief, grid, this.options.findBelief);
      if (!cellsBox) return box;
      return [
        Math.min(box[0], cellsBox.x0 * grid.cellWidth),
        Math.min(box[1], cellsBox.y0 * grid.cellHeight),
        Math.max(box[2], Math.min(embedding.width - 1, (cellsBox.x1 + 1) * grid.cellWidth)),
        Math.max(box[3], Math.min(embedding.height - 1, (cellsBox.y1 + 1) * grid.cellHeight)),
      ];
    };
  }

  /** The mask without the separate parts the memory does not believe are the object (a look-alike beside it). */
  private withoutUnbelievedParts(embedding: ImageEmbedding, found: Segmented, belief: Float32Array, cells: FrameCells): Segmented {
    const { lowResMaskSize } = this.segmenter.contract;
    const lowRes = dropUnbelievedParts(found.lowRes, lowResMaskSize, this.lowResGrid(embedding), belief, cells.grid, this.options.keepBelief, OUTSIDE_LOGIT);
    if (lowRes === found.lowRes) return found;
    const image = this.segmenter.toImage(embedding, lowRes);
    return { lowRes, score: found.score, mask: image.mask, box: image.box, logits: image.logits };
  }

  /**
   * SAM's score, a non-empty mask, and a mask that looks like the object to
   * the memory (with hysteresis: a lost object needs more to be found again
   * than a followed one to stay found) and to the appearance model, each
   * when it is on.
   */
  private accept(state: ObjectState, embedding: ImageEmbedding, found: Segmented, belief?: Float32Array, cells?: FrameCells): boolean {
    if (found.score < this.options.minScore || maskArea(found.mask) === 0) return false;
    if (belief && cells) {
      found.belief = meanOverMask(belief, found.mask, cells.grid);
      if (found.belief < (state.present ? this.options.keepBelief : this.options.findBelief)) return false;
    }
    if (!state.appearance) return true;
    found.margin = state.appearance.maskMargin(embedding, found.mask);
    return found.margin > 0;
  }

  /**
   * A region found by searching the whole frame must be more convincing than
   * a mask that follows the tracked points: not a sliver of its usual size,
   * believed in as a found object must be, and as object-like as the object
   * usually is (half its typical appearance margin).
   */
  private acceptFound(state: ObjectState, embedding: ImageEmbedding, found: Segmented, belief?: Float32Array, cells?: FrameCells): boolean {
    if (!this.accept(state, embedding, found, belief, cells)) return false;
    const minArea = 0.2 * (state.typicalArea ?? 0);
    if (maskArea(found.mask) < minArea) return false;
    if (belief && found.belief! < this.options.findBelief) return false;
    return found.margin === undefined || found.margin >= Math.max(this.options.redetectMargin, 0.5 * (state.typicalMargin ?? 0));
  }

  /** Updates the running means and, now and then, the appearance model; confident frames join the memory. */
  private remember(state: ObjectState, embedding: ImageEmbedding, found: Segmented, cells?: FrameCells, belief?: Float32Array): void {
    const ema = (old: number | undefined, value: number) => (old === undefined ? value : 0.9 * old + 0.1 * value);
    state.typicalArea = ema(state.typicalArea, maskArea(found.mask));
    if (found.margin !== undefined) state.typicalMargin = ema(state.typicalMargin, found.margin);
    if (embedding.warpedFrom !== undefined && !this.options.learnFromWarped) return;
    if (state.memory && cells && belief && (found.belief ?? 0) >= this.options.findBelief) state.memory.add(cells, found.mask, belief, this.options.findBelief);
    if (state.appearance && ++state.framesSinceLearn >= this.options.appearanceUpdateEvery) {
      state.appearance.update(embedding, found.mask);
      state.framesSinceLearn = 0;
    }
  }

  /**
   * SAM-PT's passes: a first prompt, then refinement passes that feed the
   * previous logits back with the box of the current mask.
   */
  private async decodePasses(
    embedding: ImageEmbedding,
    first: {
      points: DecodePoint[];
      refinePoints: DecodePoint[];
      lowRes?: Float32Array;
      box?: Box;
      trim?: (lowRes: Float32Array) => Float32Array;
      grow?: (lowRes: Float32Array, box: Box) => Box;
    },
  ): Promise<Segmented> {
    const trim = first.trim ?? ((lowRes: Float32Array) => lowRes);
    let result: DecodeResult = await this.segmenter.decode(embedding, { points: first.points, maskInput: first.lowRes, box: first.box });
    let lowRes = trim(result.lowRes);
    let image = this.segmenter.toImage(embedding, lowRes);
    for (let pass = 1; pass < this.options.passes; pass++) {
      const box = image.box && first.grow ? first.grow(lowRes, image.box) : (image.box ?? undefined);
      result = await this.segmenter.decode(embedding, { points: first.refinePoints, maskInput: lowRes, box });
      lowRes = trim(result.lowRes);
      image = this.segmenter.toImage(embedding, lowRes);
    }
    return { lowRes, score: result.score, mask: image.mask, box: image.box, logits: image.logits };
  }

  /**
   * Looks for a lost object: the connected region of the frame the memory
   * believes in most (or, without it, the most object-like by the appearance
   * model), prompted with its strongest cells and its box.
   */
  private async redetect(state: ObjectState, embedding: ImageEmbedding, context: FrameContext): Promise<Segmented | undefined> {
    const belief = context.beliefs.get(state.id);
    const { scores, grid, threshold } = belief
      ? { scores: belief, grid: context.cells!.grid, threshold: this.options.findBelief }
      : this.appearanceScores(state, embedding);
    const region = strongestRegion(scores, grid.cols, grid.rows, threshold);
    if (!region || region.cells.length < 2) return undefined;
    const centre = (cell: number): DecodePoint => ({
      x: ((cell % grid.cols) + 0.5) * grid.cellWidth,
      y: (Math.floor(cell / grid.cols) + 0.5) * grid.cellHeight,
      label: 1,
    });
    const best = [...region.cells].sort((a, b) => scores[b] - scores[a]).slice(0, 3).map(centre);
    const box: Box = [
      region.x0 * grid.cellWidth,
      region.y0 * grid.cellHeight,
      Math.min(embedding.width - 1, (region.x1 + 1) * grid.cellWidth),
      Math.min(embedding.height - 1, (region.y1 + 1) * grid.cellHeight),
    ];
    return this.decodePasses(embedding, { points: best, refinePoints: best, box });
  }

  private appearanceScores(state: ObjectState, embedding: ImageEmbedding) {
    const { margins, grid } = state.appearance!.marginMap(embedding);
    return { scores: margins, grid, threshold: this.options.redetectMargin };
  }

  /**
   * The last frame's mask prompt, moved to this frame: warped cell by cell
   * by the dense flow when there is one, else shifted by the object's median
   * motion. The box is loosened by a share of its size: the motion estimate
   * may be off and the object may grow, and a box that cuts the object makes
   * SAM cut it too, frame after frame.
   */
  private carryForward(state: ObjectState, embedding: ImageEmbedding, flow?: FlowField): { lowRes: Float32Array; box: Box } {
    const { lowResMaskSize, inputSize } = this.segmenter.contract;
    if (flow) {
      const lowRes = warpByFlow(state.lowRes!, lowResMaskSize, flow, OUTSIDE_LOGIT);
      const box = this.segmenter.toImage(embedding, lowRes).box;
      if (box) return { lowRes, box: this.loosen(box, [0, 0], embedding) };
    }
    const [dx, dy] = state.motion;
    // Image pixels -> low-res cells: resized / original per axis, then low-res / input size.
    const sx = (embedding.resizedWidth / embedding.width) * (lowResMaskSize / inputSize);
    const sy = (embedding.resizedHeight / embedding.height) * (lowResMaskSize / inputSize);
    const lowRes = shiftLogits(state.lowRes!, lowResMaskSize, Math.round(dx * sx), Math.round(dy * sy));
    return { lowRes, box: this.loosen(state.box!, state.motion, embedding) };
  }

  /** A box moved by (dx, dy) and widened by `boxSlack` of its size on each side, inside the image. */
  private loosen([x0, y0, x1, y1]: Box, [dx, dy]: [number, number], embedding: ImageEmbedding): Box {
    const mx = (x1 - x0) * this.options.boxSlack;
    const my = (y1 - y0) * this.options.boxSlack;
    const clampX = (x: number) => Math.min(embedding.width - 1, Math.max(0, x));
    const clampY = (y: number) => Math.min(embedding.height - 1, Math.max(0, y));
    return [clampX(x0 + dx - mx), clampY(y0 + dy - my), clampX(x1 + dx + mx), clampY(y1 + dy + my)];
  }

  /** Drops positives that left the mask; re-samples when too few remain. Returns whether points changed. */
  private maintainPoints(state: ObjectState, result: ObjectFrameResult): boolean {
    state.framesSinceReinit++;
    if (!result.visible || !result.mask) return false;
    const mask = result.mask;
    for (const p of this.points) {
      if (p.objectId !== state.id || !p.visible || p.label !== 1) continue;
      const x = Math.round(p.x);
      const y = Math.round(p.y);
      if (x < 0 || y < 0 || x >= mask.width || y >= mask.height || !mask.data[y * mask.width + x]) p.visible = false;
    }
    const visiblePositives = this.points.filter((p) => p.objectId === state.id && p.visible && p.label === 1).length;
    const periodic = this.options.reinitEvery > 0 && state.framesSinceReinit >= this.options.reinitEvery;
    if (visiblePositives >= this.options.reinitBelow && !periodic) return false;
    this.resample(state.id, mask);
    state.framesSinceReinit = 0;
    return true;
  }

  private resample(objectId: number, mask: BinaryMask): void {
    this.points = this.points.filter((p) => p.objectId !== objectId);
    const add = (flat: Float32Array, label: 0 | 1) => {
      for (let i = 0; i < flat.length; i += 2) this.points.push({ objectId, label, x: flat[i], y: flat[i + 1], visible: true });
    };
    add(samplePositivePoints(mask, this.options.positivePoints, objectId), 1);
    add(sampleNegativePoints(mask, this.options.negativePoints, objectId), 0);
  }

  /** Re-initialises the tracker with the visible points (lost ones are forgotten). */
  private restartTracker(): void {
    this.points = this.points.filter((p) => p.visible);
    const flat = new Float32Array(this.points.length * 2);
    this.points.forEach((p, i) => {
      flat[2 * i] = p.x;
      flat[2 * i + 1] = p.y;
    });
    if (this.frame) timedSync('track', () => this.tracker.init(this.frame!, flat));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Logit SAM uses for "certainly not the object" where a shifted mask uncovers cells. */
const OUTSIDE_LOGIT = -20;

/**
 * Moves square low-res logits by whole cells.
 *   logits: [size, size] -> [size, size], cells shifted by (dx, dy)
 */
export function shiftLogits(logits: Float32Array, size: number, dx: number, dy: number): Float32Array {
  if (dx === 0 && dy === 0) return logits;
  const out = new Float32Array(size * size).fill(OUTSIDE_LOGIT);
  for (let y = Math.max(0, dy); y < Math.min(size, size + dy); y++) {
    const src = (y - dy) * size;
    const dst = y * size;
    for (let x = Math.max(0, dx); x < Math.min(size, size + dx); x++) out[dst + x] = logits[src + x - dx];
  }
  return out;
}

/**
 * The 8-connected region of cells with margin above `threshold` whose margins
 * sum highest, with its bounding cells.
 */
export function strongestRegion(margins: Float32Array, cols: number, rows: number, threshold: number) {
  const seen = new Uint8Array(margins.length);
  const inside = (cell: number) => margins[cell] > threshold;
  let best: (CellRegion & { sum: number }) | undefined;
  for (let start = 0; start < margins.length; start++) {
    if (seen[start] || !inside(start)) continue;
    const region = floodRegion8(start, cols, rows, inside, seen);
    const sum = region.cells.reduce((total, cell) => total + margins[cell], 0);
    if (!best || sum > best.sum) best = { ...region, sum };
  }
  return best;
}
