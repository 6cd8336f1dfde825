import type { BinaryMask, Correction, FramePrompt, ImageEmbedding, ObjectPrompts, RgbFrame, Speed, VideoMeta } from '../types.js';
import { readFrames } from '../media/index.js';
import { masksOf } from '../output/artifacts.js';
import { emptyRecord, frameRecord, objectRecord, recordMask, withEdge, type FrameRecord, type MasksObject, type ObjectRecord } from '../output/masks-json.js';
import type { ResultStore } from '../output/result-store.js';
import { maskFromClicks, type ClickMaskResult } from '../segment/click-to-mask.js';
import { maskIoU } from '../segment/postprocess.js';
import type { SamSegmenter } from '../segment/segmenter.js';
import { timedIterable } from '../util/profile.js';
import type { SamPtOptions } from './sam-pt.js';
import { promptPoints, scheduleOf, trackFrames, type PromptSchedule, type TrackedFrame } from './track-frames.js';

/**
 * A tracking session, after SAM 2's video predictor: objects with prompts on
 * frames, per-frame results, and operations on them (add prompts on a frame,
 * mark an object absent from a frame on, reset an object, propagate). The
 * web page's previews (one frame), a job's first run and its corrections are
 * all sessions; a job's session lives as long as its stored frame records
 * and embeddings, so a correction re-tracks from what the first run kept.
 *
 * Results are frame records (masks.json's): a frame's record is written to
 * the result store as soon as it is final.
 *
 * A correction re-tracks only the corrected objects: forward from the
 * corrected frame to the end, and backward until the new masks agree with
 * the previous ones (IoU >= AGREE_IOU on AGREE_FRAMES frames in a row) or the
 * object's previous prompt. A re-tracked object takes only the pixels the
 * other objects leave free, so every other object keeps its masks byte for
 * byte.
 */

export interface EmbeddingSource {
  /** The embedding of a frame: computed, cached, or encoded elsewhere. */
  get(frame: RgbFrame): Promise<ImageEmbedding>;
  /** The first run's forward pass is done with this frame. */
  release?(frameIndex: number): Promise<void>;
}

export interface SessionObject {
  id: number;
  name?: string;
  category?: string;
  prompts: FramePrompt[];
  /** Gone from this frame on, until a later prompt. */
  absentFrom?: number;
}

export interface TrackingSessionInit {
  input: string;
  video: VideoMeta;
  segmenter: SamSegmenter;
  objects: SessionObject[];
  results: ResultStore;
  /** Default: the segmenter's encoder, frame by frame. */
  embeddings?: EmbeddingSource;
  options?: Partial<SamPtOptions>;
  /** Default `best`: every frame encoded. `fast`: key frames encoded, the rest warped (key-frames.ts). */
  speed?: Speed;
  signal?: AbortSignal;
}

/** A frame whose records are final, with its picture and masks (for the overlay). */
export interface FinalFrame {
  frame: RgbFrame;
  record: FrameRecord;
  masks: Map<number, BinaryMask>;
}

/** What a correction re-tracked: frames [from, to) of one object. */
export interface ObjectChange {
  objectId: number;
  from: number;
  to: number;
}

/** Where a propagation is: for progress reports. */
export interface PropagationStep {
  pass: 'backward' | 'forward';
  frame: number;
}

/** A correction sent to a running first run. */
export interface RunningCorrection {
  revision: number;
  correction: Correction;
}

export const AGREE_IOU = 0.9;
export const AGREE_FRAMES = 3;

/** Frames a correction decodes at a time walking backward in time: it usually stops after a few. */
const CORRECTION_BACKWARD_CHUNK = 16;
/** Bytes of decoded frames the first run's backward pass may hold at once (it reads chunks and reverses them). */
const BACKWARD_WINDOW_BYTES = 256 * 1024 * 1024;

export class TrackingSession implements PromptSchedule {
  readonly video: VideoMeta;
  private readonly objectStates = new Map<number, SessionObject>();
  private readonly queued: RunningCorrection[] = [];
  /** The newest correction applied during the first run (0: none). */
  appliedRevision = 0;
  /** A correction during the first run changed frames it had already yielded (their overlay is stale). */
  rewroteDoneFrames = false;
  /** What the corrections applied during the first run re-tracked. */
  runChanges: ObjectChange[] = [];

  constructor(private readonly init: TrackingSessionInit) {
    this.video = init.video;
    for (const o of init.objects) this.objectStates.set(o.id, { ...o, prompts: [...o.prompts] });
  }

  /** The objects as masks.json lists them, in the order they were added. */
  get objectList(): MasksObject[] {
    return [...this.objectStates.values()].map((o) => ({ id: o.id, name: o.name ?? `object ${o.id}`, ...(o.category ? { category: o.category } : {}) }));
  }

  /** The objects with their prompts and absent marks now (what a later correction starts from). */
  objects(): SessionObject[] {
    return [...this.objectStates.values()].map((o) => ({ ...o, prompts: [...o.prompts] }));
  }

  promptsOn(frame: number): { objectId: number; prompt: FramePrompt }[] {
    return [...this.objectStates.values()].flatMap((o) => o.prompts.filter((p) => p.frame === frame).map((prompt) => ({ objectId: o.id, prompt })));
  }

  absentFrom(frame: number): number[] {
    return [...this.objectStates.values()].filter((o) => o.absentFrom === frame).map((o) => o.id);
  }

  /** Sets an object's prompt on a frame (replacing one there); a new id adds the object. */
  addPrompts(objectId: number, prompt: FramePrompt, labels: Pick<SessionObject, 'name' | 'category'> = {}): void {
    const { name, category } = labels;
    const object = this.objectStates.get(objectId) ?? { id: objectId, name, category, prompts: [] };
    object.prompts = [...object.prompts.filter((p) => p.frame !== prompt.frame), prompt].sort((a, b) => a.frame - b.frame);
    if (name) object.name = name;
    if (category) object.category = category;
    this.objectStates.set(objectId, object);
  }

  /** The object is gone from `frame` on: its prompts from there on are dropped. */
  markAbsent(objectId: number, frame: number): void {
    const object = this.objectStates.get(objectId);
    if (!object) throw new RangeError(`no object ${objectId}`);
    object.absentFrom = frame;
    object.prompts = object.prompts.filter((p) => p.frame < frame);
  }

  resetObject(objectId: number): void {
    this.objectStates.delete(objectId);
  }

  /** The mask an object's prompt gives on its frame (the other objects' clicks there are background). */
  async promptMask(objectId: number, frame: number, embedding: ImageEmbedding, othersAsNegatives = true): Promise<ClickMaskResult> {
    const prompted = this.promptsOn(frame);
    const own = prompted.find((p) => p.objectId === objectId);
    if (!own) throw new RangeError(`object ${objectId} has no prompt on frame ${frame}`);
    return maskFromClicks(this.init.segmenter, embedding, { points: promptPoints(prompted, objectId, othersAsNegatives), box: own.prompt.box });
  }

  /**
   * The first run: objects first prompted after frame 0 are tracked back to
   * frame 0 from their first prompt, then every object forward over the
   * whole video. Yields each frame once its records are final (written).
   * Corrections queued meanwhile are applied at the next frame boundary
   * (see applyQueued); `rewroteDoneFrames` then says frames already yielded
   * have new records.
   */
  async *propagateAll(onStep?: (step: PropagationStep) => void): AsyncGenerator<FinalFrame> {
    const backward = await this.firstRunBackward(onStep);
    const run: RunLanes = { main: new Set(this.objectStates.keys()), drops: new Map(), side: new Map() };
    const schedule: PromptSchedule = {
      promptsOn: (f) => this.promptsOn(f),
      absentFrom: (f) => [...this.absentFrom(f), ...(run.drops.get(f) ?? [])],
    };
    try {
      for await (const tracked of this.lane({ from: 0, schedule, forward: true, objects: run.main })) {
        const t = tracked.frame.index;
        const combined = combineDirections(tracked, backward.get(t), [...this.objectStates.keys()], this.video);
        backward.delete(t);
        let record = frameRecord(this.video, t, combined.records);
        for (const [objectId, lane] of run.side) record = this.withObject(record, objectId, await nextOf(lane, t));
        await this.init.results.write(record);
        onStep?.({ pass: 'forward', frame: t });
        yield { frame: tracked.frame, record, masks: run.side.size ? masksOf(record) : combined.masks };
        await this.init.embeddings?.release?.(t);
        await this.applyQueued(t, run, onStep);
      }
    } finally {
      for (const lane of run.side.values()) await lane.return(undefined);
    }
  }

  /** Corrections sent while the first run goes on; applied at its next frame boundary. */
  queueCorrection(correction: RunningCorrection): void {
    this.queued.push(correction);
  }

  /**
   * Applies the queued corrections after frame `t` of the first run. Prompts
   * and absent marks after `t` are simply in the schedule when their frame
   * comes. An object corrected on a frame already done is re-tracked over
   * the frames done (backward as a correction does, forward up to `t`), and
   * from then on by its own loop in step with the run's: the run's loop
   * drops it.
   */
  private async applyQueued(t: number, run: RunLanes, onStep?: (step: PropagationStep) => void): Promise<void> {
    while (this.queued.length) {
      const { revision, correction } = this.queued.shift()!;
      for (const c of [...correction.objects].sort((a, b) => a.id - b.id)) {
        if (c.absentFrom !== undefined) {
          this.markAbsent(c.id, c.absentFrom);
          await closeLane(run, c.id);
          if (c.absentFrom <= t) {
            await this.clearFrom(c.id, c.absentFrom, t + 1);
            this.drop(run, c.id, t + 1);
            this.rewroteDoneFrames = true;
          }
          this.runChanges = mergeChanges([...this.runChanges, { objectId: c.id, from: c.absentFrom, to: this.video.frames }]);
          continue;
        }
        for (const prompt of c.prompts ?? []) this.addPrompts(c.id, prompt, c);
        const from = Math.min(...(c.prompts ?? []).map((p) => p.frame));
        await closeLane(run, c.id);
        if (from > t) {
          run.main.add(c.id);
          this.runChanges = mergeChanges([...this.runChanges, { objectId: c.id, from, to: this.video.frames }]);
          continue;
        }
        const prior = await this.priorOf(c.id, from);
        const backTo = await this.retrackBackward(c.id, from, prior, onStep);
        this.runChanges = mergeChanges([...this.runChanges, { objectId: c.id, from: backTo, to: this.video.frames }]);
        const lane = this.lane({ from, schedule: this, forward: true, objects: new Set([c.id]), prior });
        for (let f = from; f <= t; f++) await this.init.results.write(this.withObject(await this.storedRecord(f), c.id, await nextOf(lane, f)));
        run.side.set(c.id, lane);
        this.drop(run, c.id, t + 1);
        this.rewroteDoneFrames = true;
      }
      this.appliedRevision = revision;
    }
  }

  /** The run's own loop stops tracking an object from frame `frame` on. */
  private drop(run: RunLanes, objectId: number, frame: number): void {
    run.main.delete(objectId);
    run.drops.set(frame, [...(run.drops.get(frame) ?? []), objectId]);
  }

  /** Backward pass of the first run: frame -> object -> record, for frames before each object's first prompt. */
  private async firstRunBackward(onStep?: (step: PropagationStep) => void): Promise<Map<number, Map<number, ObjectRecord>>> {
    const firstFrames = new Map([...this.objectStates.values()].map((o) => [o.id, Math.min(...o.prompts.map((p) => p.frame))]));
    const backwardEnd = Math.max(...firstFrames.values());
    const backward = new Map<number, Map<number, ObjectRecord>>();
    if (backwardEnd <= 0) return backward;
    const late = [...this.objectStates.values()].filter((o) => firstFrames.get(o.id)! > 0);
    const schedule = scheduleOf({ objects: late.map((o) => ({ ...o, prompts: o.prompts.filter((p) => p.frame === firstFrames.get(o.id)) })) });
    const chunk = Math.floor(BACKWARD_WINDOW_BYTES / (this.video.width * this.video.height * 3));
    for await (const tracked of this.lane({ from: backwardEnd, schedule, backwardTo: 0, chunk })) {
      const t = tracked.frame.index;
      const records = new Map<number, ObjectRecord>();
      for (const r of tracked.results) {
        if (t < firstFrames.get(r.objectId)!) records.set(r.objectId, objectRecord(r.objectId, tracked.masks.get(r.objectId), r.score, this.video.width, this.video.height, r.logits));
      }
      if (records.size) backward.set(t, records);
      onStep?.({ pass: 'backward', frame: t });
    }
    return backward;
  }

  /**
   * Applies a correction to the session and re-tracks what it changed,
   * writing the new records; returns what changed per object. The frames
   * outside the changes, and every object not in the correction, keep their
   * records as they are in the store.
   */
  async correct(correction: Correction, onStep?: (step: PropagationStep) => void): Promise<ObjectChange[]> {
    const changes: ObjectChange[] = [];
    for (const c of [...correction.objects].sort((a, b) => a.id - b.id)) {
      if (c.absentFrom !== undefined) {
        this.markAbsent(c.id, c.absentFrom);
        await this.clearFrom(c.id, c.absentFrom, this.video.frames);
        changes.push({ objectId: c.id, from: c.absentFrom, to: this.video.frames });
        continue;
      }
      for (const prompt of c.prompts ?? []) this.addPrompts(c.id, prompt, c);
      const from = Math.min(...(c.prompts ?? []).map((p) => p.frame));
      const prior = await this.priorOf(c.id, from);
      const backTo = await this.retrackBackward(c.id, from, prior, onStep);
      await this.retrackForward(c.id, from, prior, onStep);
      changes.push({ objectId: c.id, from: backTo, to: this.video.frames });
    }
    return mergeChanges(changes);
  }

  /** Empty masks for the object on frames [frame, end) (markAbsent dropped its prompts there). */
  private async clearFrom(objectId: number, frame: number, end: number): Promise<void> {
    const { width, height } = this.video;
    for (let t = frame; t < end; t++) {
      this.init.signal?.throwIfAborted();
      const base = await this.storedRecord(t);
      await this.init.results.write(frameRecord(this.video, t, [...base.objects.filter((o) => o.id !== objectId), emptyRecord(objectId, width, height)]));
    }
  }

  /** The object's stored mask on the corrected frame, if it has one there (the clicks refine it). */
  private async priorOf(objectId: number, frame: number): Promise<Prior | undefined> {
    const stored = (await this.init.results.read(frame))?.objects.find((o) => o.id === objectId);
    return stored?.visible ? { objectId, frame, mask: recordMask(stored) } : undefined;
  }

  /** Forward from the corrected frame to the end; every frame's record of this object is replaced. */
  private async retrackForward(objectId: number, from: number, prior: Prior | undefined, onStep?: (step: PropagationStep) => void): Promise<void> {
    for await (const tracked of this.lane({ from, schedule: this, forward: true, objects: new Set([objectId]), prior })) {
      const t = tracked.frame.index;
      await this.init.results.write(this.withObject(await this.storedRecord(t), objectId, tracked));
      onStep?.({ pass: 'forward', frame: t });
    }
  }

  /**
   * Backward from the corrected frame until the new masks agree with the
   * stored ones on AGREE_FRAMES frames in a row (those frames keep their
   * records), or the object's previous prompt. Returns the first frame changed.
   */
  private async retrackBackward(objectId: number, from: number, prior: Prior | undefined, onStep?: (step: PropagationStep) => void): Promise<number> {
    const earlier = (this.objectStates.get(objectId)?.prompts ?? []).filter((p) => p.frame < from).map((p) => p.frame);
    const stop = earlier.length ? Math.max(...earlier) + 1 : 0;
    if (from <= stop) return from;
    const onlyHere = scheduleOf({ objects: [{ id: objectId, prompts: this.promptsOn(from).filter((p) => p.objectId === objectId).map((p) => p.prompt) }] });
    const others = this.promptsOn(from).filter((p) => p.objectId !== objectId);
    const schedule: PromptSchedule = { promptsOn: (f) => (f === from ? [...onlyHere.promptsOn(f), ...others] : []), absentFrom: () => [] };
    let firstChanged = from;
    let agreeing: FrameRecord[] = [];
    for await (const tracked of this.lane({ from, schedule, backwardTo: stop, chunk: CORRECTION_BACKWARD_CHUNK, objects: new Set([objectId]), prior })) {
      const t = tracked.frame.index;
      if (t === from) continue; // the forward pass writes the corrected frame
      const stored = await this.storedRecord(t);
      const record = this.withObject(stored, objectId, tracked);
      const before = stored.objects.find((o) => o.id === objectId);
      const after = record.objects.find((o) => o.id === objectId)!;
      onStep?.({ pass: 'backward', frame: t });
      if (before && maskIoU(recordMask(before), recordMask(after)) >= AGREE_IOU) {
        agreeing.push(record);
        if (agreeing.length >= AGREE_FRAMES) return firstChanged;
        continue;
      }
      for (const r of [...agreeing, record]) await this.init.results.write(r);
      agreeing = [];
      firstChanged = t;
    }
    for (const r of agreeing) await this.init.results.write(r);
    return agreeing.length ? agreeing[agreeing.length - 1].frame : firstChanged;
  }

  /** `base` with this object's new mask, restricted to the pixels the other objects leave free. */
  private withObject(base: FrameRecord, objectId: number, tracked: TrackedFrame): FrameRecord {
    const { width, height } = this.video;
    const others = base.objects.filter((o) => o.id !== objectId);
    const result = tracked.results.find((r) => r.objectId === objectId);
    const mask = tracked.masks.get(objectId);
    let own: ObjectRecord;
    if (!mask || !result) own = emptyRecord(objectId, width, height);
    else {
      const free = { width, height, data: Uint8Array.from(mask.data) };
      for (const other of others) {
        if (!other.visible) continue;
        const taken = recordMask(other).data;
        for (let p = 0; p < taken.length; p++) if (taken[p]) free.data[p] = 0;
      }
      own = objectRecord(objectId, free, result.score, width, height, result.logits);
    }
    return frameRecord(this.video, base.frame, [...others, own]);
  }

  private async storedRecord(t: number): Promise<FrameRecord> {
    const record = await this.init.results.read(t);
    if (!record) throw new Error(`frame ${t} has no stored masks to correct`);
    return record;
  }

  /** One tracking loop over frames from `from`: forward to the end, or backward down to `backwardTo`. */
  private lane(spec: LaneSpec): AsyncGenerator<TrackedFrame> {
    const { input, video, segmenter, options, signal } = this.init;
    const source = this.init.embeddings;
    const frames =
      spec.backwardTo === undefined
        ? timedIterable('decode', readFrames(input, video, { start: spec.from, signal }))
        : framesBackward(input, video, { end: spec.from + 1, stopAt: spec.backwardTo, chunk: spec.chunk ?? CORRECTION_BACKWARD_CHUNK }, signal);
    return trackFrames({
      segmenter,
      frames,
      embed: source ? (frame) => source.get(frame) : (frame) => segmenter.embed(frame),
      schedule: spec.schedule,
      objects: spec.objects,
      forward: spec.forward,
      priorMask: spec.prior && ((objectId, frame) => (objectId === spec.prior!.objectId && frame === spec.prior!.frame ? spec.prior!.mask : undefined)),
      options,
      speed: this.init.speed,
    });
  }
}

interface LaneSpec {
  from: number;
  schedule: PromptSchedule;
  forward?: boolean;
  backwardTo?: number;
  /** Frames decoded at a time walking backward. */
  chunk?: number;
  objects?: ReadonlySet<number>;
  /** A corrected object's previous mask on its corrected frame: the correction's clicks refine it. */
  prior?: Prior;
}

interface Prior {
  objectId: number;
  frame: number;
  mask: BinaryMask;
}

/** The first run's loops: its own (tracking `main`), and one per object corrected on a frame it had done. */
interface RunLanes {
  main: Set<number>;
  /** Objects the run's own loop drops on a frame. */
  drops: Map<number, number[]>;
  side: Map<number, AsyncGenerator<TrackedFrame>>;
}

/** The next frame of a loop, which must be frame `t` (loops in step). */
async function nextOf(lane: AsyncGenerator<TrackedFrame>, t: number): Promise<TrackedFrame> {
  const next = await lane.next();
  if (next.done || next.value.frame.index !== t) throw new Error(`a correction's tracking loop is not at frame ${t}`);
  return next.value;
}

async function closeLane(run: RunLanes, objectId: number): Promise<void> {
  await run.side.get(objectId)?.return(undefined);
  run.side.delete(objectId);
}

/** Frames [stopAt, end) newest first, read in forward chunks (the caller may stop early). */
async function* framesBackward(input: string, meta: VideoMeta, range: { end: number; stopAt: number; chunk: number }, signal?: AbortSignal): AsyncGenerator<RgbFrame> {
  const { end, stopAt } = range;
  const chunk = Math.max(4, range.chunk);
  for (let stop = end; stop > stopAt; stop -= chunk) {
    const frames: RgbFrame[] = [];
    for await (const frame of readFrames(input, meta, { start: Math.max(stopAt, stop - chunk), end: stop, signal })) frames.push(frame);
    for (let i = frames.length - 1; i >= 0; i--) yield frames[i];
  }
}

/**
 * Forward results plus, for objects not yet started on this frame, the
 * backward pass's; every object gets a record (empty when absent). The
 * backward-only objects take the pixels the forward objects left free.
 */
function combineDirections(
  tracked: TrackedFrame,
  backward: Map<number, ObjectRecord> | undefined,
  objectIds: number[],
  video: VideoMeta,
): { records: ObjectRecord[]; masks: Map<number, BinaryMask> } {
  const { width, height } = video;
  const records = tracked.results.map((r) => objectRecord(r.objectId, tracked.masks.get(r.objectId), r.score, width, height, r.logits));
  const masks = new Map(tracked.masks);
  if (backward) {
    const taken = new Uint8Array(width * height);
    for (const mask of tracked.masks.values()) for (let p = 0; p < taken.length; p++) taken[p] |= mask.data[p];
    for (const record of backward.values()) {
      if (records.some((r) => r.id === record.id)) continue;
      const mask = recordMask(record);
      let overlap = false;
      for (let p = 0; p < taken.length; p++) {
        if (mask.data[p] && taken[p]) {
          mask.data[p] = 0;
          overlap = true;
        }
      }
      records.push(overlap ? withEdge(objectRecord(record.id, mask, record.score, width, height), record.edge) : record);
      masks.set(record.id, mask);
    }
  }
  for (const id of objectIds) if (!records.some((r) => r.id === id)) records.push(emptyRecord(id, width, height));
  return { records, masks };
}

/** One change per object: the union of its ranges. */
function mergeChanges(changes: ObjectChange[]): ObjectChange[] {
  const byObject = new Map<number, ObjectChange>();
  for (const c of changes) {
    const seen = byObject.get(c.objectId);
    byObject.set(c.objectId, seen ? { objectId: c.objectId, from: Math.min(seen.from, c.from), to: Math.max(seen.to, c.to) } : c);
  }
  return [...byObject.values()].sort((a, b) => a.objectId - b.objectId);
}

/** Session objects from submitted prompts. */
export function sessionObjects(objects: ObjectPrompts[]): SessionObject[] {
  return objects.map((o) => ({ id: o.id, name: o.name, category: o.category, prompts: o.prompts }));
}
