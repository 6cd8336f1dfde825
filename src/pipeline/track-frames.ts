import type { BinaryMask, FramePrompt, ImageEmbedding, Prompts, RgbFrame, Speed } from '../types.js';
import { maskFromClicks } from '../segment/click-to-mask.js';
import { maskToLowRes } from '../segment/postprocess.js';
import type { SamSegmenter } from '../segment/segmenter.js';
import { MemoryReader } from '../segment/memory-read.js';
import { DenseFlow } from '../tracker/dense-flow.js';
import { LucasKanadeTracker } from '../tracker/lucas-kanade.js';
import { timed } from '../util/profile.js';
import { KeyFramePlanner, type KeyFrameOptions, type PlannedEmbedding } from './key-frames.js';
import { maskOfIndex, resolveOverlaps } from './overlaps.js';
import { DEFAULT_SAM_PT_OPTIONS, SamPtPropagator, type ObjectFrameResult, type SamPtOptions } from './sam-pt.js';

/**
 * The tracking loop over a stream of frames in one direction of time. An
 * object starts when a frame with one of its prompts comes by (its mask from
 * the clicks), and a later prompt of the same object restarts it from the new
 * clicks. Frames may come forward or backward in time: the loop only looks at
 * frame indices to match prompts. The next frame is read and its embedding
 * started before the current frame is worked on, so the encoder overlaps the
 * rest of the loop.
 */

/** Which object is prompted, or marked absent, on which frame. */
export interface PromptSchedule {
  /** Every object's prompt on this frame (also those of objects this loop does not track: their clicks are negatives). */
  promptsOn(frame: number): { objectId: number; prompt: FramePrompt }[];
  /** Objects marked absent from this frame on. */
  absentFrom(frame: number): number[];
}

export interface TrackFramesInput {
  segmenter: SamSegmenter;
  frames: AsyncIterable<RgbFrame>;
  /** The image encoder for a frame (possibly cached). */
  embed: (frame: RgbFrame) => Promise<ImageEmbedding>;
  schedule: PromptSchedule;
  /** The objects this loop tracks (default: every prompted one). */
  objects?: ReadonlySet<number>;
  /** Whether absent marks apply (they do forward in time, from their frame on). */
  forward?: boolean;
  /**
   * An object's mask on a frame before this prompt (a correction's previous
   * revision): the prompt's clicks refine it, as in SAM 2. Not for a box,
   * which defines the object anew.
   */
  priorMask?: (objectId: number, frame: number) => BinaryMask | undefined;
  options?: Partial<SamPtOptions>;
  /** Default `best`: `embed` on every frame. `fast`: on key frames only (key-frames.ts). */
  speed?: Speed;
  keyFrames?: Partial<KeyFrameOptions>;
}

export interface TrackedFrame {
  frame: RgbFrame;
  embedding: ImageEmbedding;
  /** Per object, before overlap resolution. */
  results: ObjectFrameResult[];
  /** Final masks after overlap resolution, for the objects present on this frame. */
  masks: Map<number, BinaryMask>;
}

/** The schedule of fixed prompts (no absent marks). */
export function scheduleOf(prompts: Prompts): PromptSchedule {
  const byFrame = new Map<number, { objectId: number; prompt: FramePrompt }[]>();
  for (const object of prompts.objects) {
    for (const prompt of object.prompts) {
      const list = byFrame.get(prompt.frame) ?? [];
      list.push({ objectId: object.id, prompt });
      byFrame.set(prompt.frame, list);
    }
  }
  return { promptsOn: (frame) => byFrame.get(frame) ?? [], absentFrom: () => [] };
}

export async function* trackFrames(input: TrackFramesInput): AsyncGenerator<TrackedFrame> {
  const { segmenter } = input;
  const options = { ...DEFAULT_SAM_PT_OPTIONS, ...input.options };
  const { schedule } = input;
  const tracks = (objectId: number) => !input.objects || input.objects.has(objectId);
  const tracker = await LucasKanadeTracker.create();
  const planner = input.speed === 'fast' ? await KeyFramePlanner.create(segmenter, input.keyFrames) : undefined;
  // With key frames the planner already computes the flow between consecutive frames.
  const ownFlow = options.denseFlow && !planner ? await DenseFlow.create() : undefined;
  const flow = options.denseFlow ? (planner?.frameFlow() ?? ownFlow) : undefined;
  const memoryReader = options.memory ? await MemoryReader.create(segmenter.contract.embeddingShape[1]) : undefined;
  const propagator = new SamPtPropagator(segmenter, tracker, options, { flow, memoryReader });
  const embed = (frame: RgbFrame) => quiet(input.embed(frame));
  const plan = (frame: RgbFrame): PlannedEmbedding => {
    if (planner) return planner.plan(frame, embed, schedule.promptsOn(frame.index).some((p) => tracks(p.objectId)));
    const embedding = embed(frame);
    return () => embedding;
  };
  let started = false;
  const frames = input.frames[Symbol.asyncIterator]();
  try {
    // One frame of lookahead: the next frame's embedding is computed (in the encoder's
    // own thread) while this frame's points, decoder passes and masks are worked out.
    let next = await frames.next();
    let nextEmbedding = next.done ? undefined : plan(next.value);
    while (!next.done) {
      const frame = next.value;
      const embedding = await timed('encoder-wait', () => nextEmbedding!());
      next = await frames.next();
      nextEmbedding = next.done ? undefined : plan(next.value);
      const prompted = schedule.promptsOn(frame.index);
      if (input.forward) for (const objectId of schedule.absentFrom(frame.index)) propagator.removeObject(objectId);
      // Objects already running move on to this frame first; prompted ones then restart here.
      const stepped = started && propagator.objectIds.length ? await propagator.step(frame, embedding) : [];
      const results = new Map<number, ObjectFrameResult>(stepped.map((r) => [r.objectId, r]));
      for (const { objectId, prompt } of prompted.filter((p) => tracks(p.objectId))) {
        const points = promptPoints(prompted, objectId, options.othersAsNegatives);
        const prior = prompt.box ? undefined : input.priorMask?.(objectId, frame.index);
        const { lowResMaskSize, inputSize } = segmenter.contract;
        const maskInput = prior && maskToLowRes(prior, { width: embedding.resizedWidth, height: embedding.resizedHeight }, lowResMaskSize, inputSize);
        const clicked = await maskFromClicks(segmenter, embedding, { points, box: prompt.box, maskInput });
        propagator.setObject(frame, embedding, objectId, clicked.mask, clicked.lowRes);
        results.set(objectId, { objectId, visible: true, score: clicked.score, logits: clicked.logits, mask: clicked.mask });
        started = true;
      }
      const ordered = [...results.values()];
      const owner = resolveOverlaps(ordered, frame.width, frame.height);
      const masks = new Map<number, BinaryMask>();
      ordered.forEach((r, i) => {
        if (r.visible) masks.set(r.objectId, ordered.length === 1 && r.mask ? r.mask : maskOfIndex(owner, i + 1, frame.width, frame.height));
      });
      planner?.observe(frame.index, ordered, masks);
      yield { frame, embedding, results: ordered, masks };
    }
  } finally {
    tracker.dispose();
    ownFlow?.dispose();
    await memoryReader?.dispose();
    await planner?.dispose();
    await frames.return?.();
  }
}

/**
 * An object's clicks on a frame, plus (with othersAsNegatives) the object
 * clicks of the other objects prompted on the same frame as background: two
 * objects that touch are otherwise one "whole object" to SAM, and each
 * object's first mask would take both.
 */
export function promptPoints(prompted: { objectId: number; prompt: FramePrompt }[], objectId: number, othersAsNegatives: boolean) {
  const own = prompted.find((p) => p.objectId === objectId)!.prompt.points.map(([x, y, label]) => ({ x, y, label }));
  if (!othersAsNegatives) return own;
  const others = prompted
    .filter((p) => p.objectId !== objectId)
    .flatMap((p) => p.prompt.points.filter(([, , label]) => label === 1).map(([x, y]) => ({ x, y, label: 0 as const })));
  return [...own, ...others];
}

/** The same promise, with no unhandled-rejection report if nobody awaits it (the loop stopped early). */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
