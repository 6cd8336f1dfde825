/**
 * A correction of a tracked job, before it is sent: marks (points and
 * boxes, per object and frame) and "absent from frame N on" flags; the
 * body of POST /v1/jobs/:id/corrections built from them; and the words for
 * what a finished correction changed. Everything here is pure and runs in
 * node (tests/web/correct-units.test.ts).
 */
import type { Correction } from '../../src/types.js';
import type { JobStatus } from './api.js';
import type { Box } from './geometry.js';
import {
  activeObject,
  addPoint,
  apiPoints,
  clearFrame,
  isUsable,
  selectObject,
  setBox,
  summarize,
  type PromptObject,
  type PromptPoint,
  MAX_OBJECT_ID,
  type PromptState,
} from './prompt-state.js';

export type CorrectionBody = Correction;

export interface CorrectionDraft {
  /** The marks, in the editor's own state (the job's objects, then new ones). */
  readonly marks: PromptState;
  /** object id -> the frame it is gone from. An object has marks or this, never both (the API takes one). */
  readonly absent: ReadonlyMap<number, number>;
  /** The job's object ids, ascending: any other id is a new object. */
  readonly known: readonly number[];
}

/** `count` means ids 1..count (the editor numbers objects so); an API client may have used others. */
function objectIds(ids: number | readonly number[]): number[] {
  const list = typeof ids === 'number' ? Array.from({ length: Math.max(0, ids) }, (_, i) => i + 1) : [...new Set(ids)];
  return list.filter((id) => Number.isInteger(id) && id >= 1 && id <= MAX_OBJECT_ID).sort((a, b) => a - b);
}

const emptyObject = (id: number): PromptObject => ({ id, name: `object ${id}`, frames: new Map() });

/** The job's objects (ids, or 1..count), nothing marked, `activeId` selected (the first when it is not one of them). */
export function initialDraft(ids: number | readonly number[], activeId = 1): CorrectionDraft {
  let known = objectIds(ids);
  if (known.length === 0) known = [1];
  const active = known.includes(activeId) ? activeId : known[0];
  return { marks: { objects: known.map(emptyObject), activeId: active }, absent: new Map(), known };
}

/**
 * The job's object ids became known (or a correction added some): the marks
 * stay, missing ids are added, and those ids are no longer new.
 */
export function syncObjects(draft: CorrectionDraft, ids: number | readonly number[]): CorrectionDraft {
  const known = objectIds([...draft.known, ...objectIds(ids)]);
  if (known.length === draft.known.length) return draft;
  const have = new Set(draft.marks.objects.map((o) => o.id));
  const objects = [...draft.marks.objects, ...known.filter((id) => !have.has(id)).map(emptyObject)].sort((a, b) => a.id - b.id);
  return { ...draft, marks: { ...draft.marks, objects }, known };
}

export function isNewObject(draft: CorrectionDraft, id: number): boolean {
  return !draft.known.includes(id);
}

function withoutAbsent(absent: ReadonlyMap<number, number>, id: number): ReadonlyMap<number, number> {
  if (!absent.has(id)) return absent;
  const next = new Map(absent);
  next.delete(id);
  return next;
}

/** Replaces the marks; an object that got a mark is no longer "absent" (a correction object has one or the other). */
function withMarks(draft: CorrectionDraft, marks: PromptState): CorrectionDraft {
  if (marks === draft.marks) return draft;
  return { ...draft, marks, absent: withoutAbsent(draft.absent, marks.activeId) };
}

export function markPoint(draft: CorrectionDraft, frame: number, point: PromptPoint): CorrectionDraft {
  return withMarks(draft, addPoint(draft.marks, frame, point));
}

export function markBox(draft: CorrectionDraft, frame: number, box: Box): CorrectionDraft {
  return withMarks(draft, setBox(draft.marks, frame, box));
}

/**
 * The selected object is gone from `frame` on. Its marks are dropped: the
 * API takes either prompts or absentFrom for an object. A new object cannot
 * be absent (there is nothing of it to remove): unchanged.
 */
export function markAbsent(draft: CorrectionDraft, frame: number): CorrectionDraft {
  const id = draft.marks.activeId;
  if (isNewObject(draft, id) || draft.absent.get(id) === frame) return draft;
  const objects = draft.marks.objects.map((o) => (o.id === id && o.frames.size > 0 ? { ...o, frames: new Map() } : o));
  const absent = new Map(draft.absent);
  absent.set(id, frame);
  return { ...draft, marks: { ...draft.marks, objects }, absent };
}

/** Clear: the selected object's marks on `frame`, and its "absent" flag. */
export function clearMarks(draft: CorrectionDraft, frame: number): CorrectionDraft {
  const marks = clearFrame(draft.marks, frame);
  const absent = withoutAbsent(draft.absent, draft.marks.activeId);
  return marks === draft.marks && absent === draft.absent ? draft : { ...draft, marks, absent };
}

/** Adds an object with the next id (one above the highest; else the smallest free) and selects it. */
export function addNewObject(draft: CorrectionDraft): CorrectionDraft {
  const used = new Set(draft.marks.objects.map((o) => o.id));
  let id = Math.max(0, ...used) + 1;
  if (id > MAX_OBJECT_ID) {
    id = 1;
    while (used.has(id)) id++;
    if (id > MAX_OBJECT_ID) return draft;
  }
  const objects = [...draft.marks.objects, emptyObject(id)].sort((a, b) => a.id - b.id);
  return { ...draft, marks: { objects, activeId: id } };
}

/** The ids a correction body adds (not known to the job before). */
export function addedIds(draft: CorrectionDraft, body: CorrectionBody): number[] {
  return body.objects.map((o) => o.id).filter((id) => isNewObject(draft, id));
}

export function selectMarked(draft: CorrectionDraft, id: number): CorrectionDraft {
  const marks = selectObject(draft.marks, id);
  return marks === draft.marks ? draft : { ...draft, marks };
}

export function hasMarks(draft: CorrectionDraft): boolean {
  return draft.absent.size > 0 || draft.marks.objects.some((o) => o.frames.size > 0);
}

export type CorrectionBuild = { ok: true; body: CorrectionBody } | { ok: false; message: string; objectId?: number; frame?: number };

/** Frame numbers shown to people are 1-based, like the editor's "Frame 1 of 8". */
const shown = (frame: number) => frame + 1;

function objectPrompts(object: PromptObject): { ok: true; prompts: NonNullable<CorrectionBody['objects'][number]['prompts']> } | { ok: false; frame: number } {
  const prompts: NonNullable<CorrectionBody['objects'][number]['prompts']> = [];
  for (const frame of [...object.frames.keys()].sort((a, b) => a - b)) {
    const prompt = object.frames.get(frame)!;
    if (!isUsable(prompt)) return { ok: false, frame };
    prompts.push({ frame, points: apiPoints(prompt), ...(prompt.box ? { box: [...prompt.box] as [number, number, number, number] } : {}) });
  }
  return { ok: true, prompts };
}

/**
 * The body of POST /v1/jobs/:id/corrections, objects in id order; objects
 * without marks are left out. Refused, in words, when nothing is marked or a
 * frame has only background points (the API would refuse it too).
 */
export function buildCorrection(draft: CorrectionDraft): CorrectionBuild {
  const objects: CorrectionBody['objects'] = [];
  for (const object of [...draft.marks.objects].sort((a, b) => a.id - b.id)) {
    const absentFrom = draft.absent.get(object.id);
    if (absentFrom !== undefined) {
      objects.push({ id: object.id, absentFrom });
      continue;
    }
    if (object.frames.size === 0) continue;
    const built = objectPrompts(object);
    if (!built.ok) {
      return {
        ok: false,
        message: `Object ${object.id} has only background points on frame ${shown(built.frame)}: add a point on the object (click) or a box there, or clear it.`,
        objectId: object.id,
        frame: built.frame,
      };
    }
    objects.push({ id: object.id, prompts: built.prompts });
  }
  if (objects.length === 0) {
    return { ok: false, message: 'Mark something first: click the object where its mask is wrong, add a new object, or mark an object as absent.' };
  }
  return { ok: true, body: { objects } };
}

const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What one object's marks are, e.g. "2 points and a box on frame 8", "points on 2 frames". */
function describeObjectMarks(object: PromptObject): string {
  const { points, boxes, frames } = summarize(object);
  const parts = [points ? count(points, 'point') : '', boxes ? (boxes === 1 ? 'a box' : count(boxes, 'box', 'boxes')) : ''].filter(Boolean);
  const where = frames === 1 ? `on frame ${shown([...object.frames.keys()][0])}` : `on ${frames} frames`;
  return `${parts.join(' and ')} ${where}`;
}

/** One line per marked object, e.g. "Object 1: 2 points on frame 8." "Object 3 (new): a box on frame 8." */
export function describeDraft(draft: CorrectionDraft): string[] {
  const lines: string[] = [];
  for (const object of [...draft.marks.objects].sort((a, b) => a.id - b.id)) {
    const name = `Object ${object.id}${isNewObject(draft, object.id) ? ' (new)' : ''}`;
    const absentFrom = draft.absent.get(object.id);
    if (absentFrom !== undefined) lines.push(`${name}: absent from frame ${shown(absentFrom)} on.`);
    else if (object.frames.size > 0) lines.push(`${name}: ${describeObjectMarks(object)}.`);
  }
  return lines;
}

export function selectedId(draft: CorrectionDraft): number {
  return activeObject(draft.marks).id;
}

// ---------------------------------------------------------------------------
// Following a correction, and what it changed

type CorrectionSummary = NonNullable<JobStatus['lastCorrection']>;

/**
 * Revision `revision` is done: the job succeeded and its newest finished
 * correction is that one (or a later one: someone corrected again meanwhile).
 */
export function correctionDone(job: Pick<JobStatus, 'state' | 'lastCorrection'>, revision: number): boolean {
  return job.state === 'succeeded' && (job.lastCorrection?.revision ?? 0) >= revision;
}

/** The correction stopped without finishing: the job failed or was cancelled. */
export function correctionFailed(job: Pick<JobStatus, 'state'>): boolean {
  return job.state === 'failed' || job.state === 'cancelled';
}

/** "frames 40–116", "frame 40": [from, to) shown 1-based, as the frame label counts. */
export function frameRangeText(from: number, to: number): string {
  if (to - from <= 1) return `frame ${shown(from)}`;
  return `frames ${shown(from)}–${to}`;
}

/** One line per change, e.g. "Object 1: frames 40–116 re-tracked"; objects in id order, ranges in frame order. */
export function changedFramesLines(summary: CorrectionSummary | undefined): string[] {
  if (!summary) return [];
  const changes = [...summary.changes].filter((c) => c.to > c.from).sort((a, b) => a.objectId - b.objectId || a.from - b.from);
  if (changes.length === 0) return ['No frames changed.'];
  return changes.map((c) => `Object ${c.objectId}: ${frameRangeText(c.from, c.to)} re-tracked`);
}

export interface RangeMark {
  objectId: number;
  /** One row per object (in id order), so overlapping ranges of two objects both show. */
  row: number;
  /** Percent of the slider's width from its left end. */
  left: number;
  width: number;
}

/**
 * Where the changed ranges lie under a slider of `frames` frames, in
 * percent. Frame f is the stretch [f, f + 1) of frames equal parts, so a
 * single frame still shows, and the ranges of an 0..frames-1 slider line up
 * with it to within a thumb.
 */
export function changedRangeMarks(summary: CorrectionSummary | undefined, frames: number): RangeMark[] {
  if (!summary || frames <= 0) return [];
  const percent = (frame: number) => Math.round((Math.min(Math.max(frame, 0), frames) / frames) * 10_000) / 100;
  const changes = summary.changes.filter((c) => c.to > c.from && c.from < frames);
  const rows = [...new Set(changes.map((c) => c.objectId))].sort((a, b) => a - b);
  return changes.map((c) => ({
    objectId: c.objectId,
    row: rows.indexOf(c.objectId),
    left: percent(c.from),
    width: Math.round((percent(c.to) - percent(c.from)) * 100) / 100,
  }));
}

/**
 * The revision the job's artifacts belong to: the newest once the job
 * succeeded; while a correction runs they are still the previous one's.
 */
export function artifactsRevision(job: Pick<JobStatus, 'state' | 'revision' | 'lastCorrection'>): number {
  return job.state === 'succeeded' ? job.revision : (job.lastCorrection?.revision ?? 0);
}
