/**
 * What the user has clicked: objects, each with points (and at most one box)
 * per frame. States are immutable values; `History` keeps the undo and redo
 * stacks. Everything here is pure and runs in node (tests/web/page-units.test.ts).
 */
import type { Speed } from '../../src/types.js';
import type { Box } from './geometry.js';

export type Label = 0 | 1;

export interface PromptPoint {
  readonly x: number;
  readonly y: number;
  /** 1 = on the object, 0 = background. */
  readonly label: Label;
}

export interface FramePrompt {
  readonly points: readonly PromptPoint[];
  readonly box?: Box;
}

export interface PromptObject {
  /** 1..255: the id in the prompts, masks.json and the PNG masks; it also picks the colour. */
  readonly id: number;
  readonly name: string;
  /** frame index -> what was clicked on it. Frames without anything are absent. */
  readonly frames: ReadonlyMap<number, FramePrompt>;
}

export interface PromptState {
  readonly objects: readonly PromptObject[];
  /** The object new clicks go to. */
  readonly activeId: number;
}

export const MAX_OBJECT_ID = 255;
/** The API's limit per prompt (MAX_POINTS_PER_PROMPT in src/prompts.ts). */
export const MAX_POINTS_PER_FRAME = 64;
export const MAX_NAME_LENGTH = 100;

/** The prompts JSON of POST /v1/jobs. */
export interface PromptsBody {
  objects: Array<{
    id: number;
    name?: string;
    prompts: Array<{ frame: number; points: Array<[number, number, Label]>; box?: [number, number, number, number] }>;
  }>;
  speed?: Speed;
}

/** What a job without a speed runs at: the page sends a speed only when it is another. */
export const DEFAULT_SPEED: Speed = 'best';

export function defaultName(id: number): string {
  return `object ${id}`;
}

function emptyObject(id: number): PromptObject {
  return { id, name: defaultName(id), frames: new Map() };
}

export function initialState(): PromptState {
  return { objects: [emptyObject(1)], activeId: 1 };
}

export function activeObject(state: PromptState): PromptObject {
  return state.objects.find((o) => o.id === state.activeId) ?? state.objects[0];
}

export function framePrompt(object: PromptObject, frame: number): FramePrompt | undefined {
  return object.frames.get(frame);
}

/** A prompt the model can use: at least one object point or a box (background points alone are not). */
export function isUsable(prompt: FramePrompt | undefined): boolean {
  return !!prompt && (prompt.box !== undefined || prompt.points.some((p) => p.label === 1));
}

function isEmpty(prompt: FramePrompt): boolean {
  return prompt.points.length === 0 && prompt.box === undefined;
}

/** A stable string for a prompt: equal prompts, equal keys (the preview caches masks by it). */
export function promptKey(prompt: FramePrompt | undefined): string {
  if (!prompt) return '';
  const points = prompt.points.map((p) => `${p.x},${p.y},${p.label}`).join(';');
  return prompt.box ? `${points}|${prompt.box.join(',')}` : points;
}

export function apiPoints(prompt: FramePrompt): Array<[number, number, Label]> {
  return prompt.points.map((p) => [p.x, p.y, p.label]);
}

function updateObject(state: PromptState, id: number, update: (object: PromptObject) => PromptObject): PromptState {
  let changed = false;
  const objects = state.objects.map((object) => {
    if (object.id !== id) return object;
    const next = update(object);
    if (next !== object) changed = true;
    return next;
  });
  return changed ? { ...state, objects } : state;
}

function updateFrame(object: PromptObject, frame: number, update: (prompt: FramePrompt) => FramePrompt): PromptObject {
  const before = object.frames.get(frame) ?? { points: [] };
  const after = update(before);
  if (after === before) return object;
  const frames = new Map(object.frames);
  if (isEmpty(after)) frames.delete(frame);
  else frames.set(frame, after);
  return { ...object, frames };
}

/** Adds a point for the active object on `frame` (unchanged when the frame already has the maximum). */
export function addPoint(state: PromptState, frame: number, point: PromptPoint): PromptState {
  return updateObject(state, activeObject(state).id, (object) =>
    updateFrame(object, frame, (prompt) => (prompt.points.length >= MAX_POINTS_PER_FRAME ? prompt : { ...prompt, points: [...prompt.points, point] })),
  );
}

/** Sets (replaces) the active object's box on `frame`. */
export function setBox(state: PromptState, frame: number, box: Box): PromptState {
  return updateObject(state, activeObject(state).id, (object) => updateFrame(object, frame, (prompt) => ({ ...prompt, box })));
}

/** Removes the active object's points and box on `frame`. */
export function clearFrame(state: PromptState, frame: number): PromptState {
  const object = activeObject(state);
  if (!object.frames.has(frame)) return state;
  return updateObject(state, object.id, (o) => updateFrame(o, frame, () => ({ points: [] })));
}

/** Adds an empty object with the smallest free id and selects it; unchanged when all 255 ids are taken. */
export function addObject(state: PromptState): PromptState {
  const used = new Set(state.objects.map((o) => o.id));
  let id = 1;
  while (used.has(id)) id++;
  if (id > MAX_OBJECT_ID) return state;
  return { objects: [...state.objects, emptyObject(id)], activeId: id };
}

/** Deletes an object; deleting the last one leaves a fresh empty object 1. */
export function deleteObject(state: PromptState, id: number): PromptState {
  const index = state.objects.findIndex((o) => o.id === id);
  if (index < 0) return state;
  const objects = state.objects.filter((o) => o.id !== id);
  if (objects.length === 0) return initialState();
  const activeId = state.activeId === id ? objects[Math.min(index, objects.length - 1)].id : state.activeId;
  return { objects, activeId };
}

export function renameObject(state: PromptState, id: number, name: string): PromptState {
  const clipped = name.slice(0, MAX_NAME_LENGTH);
  return updateObject(state, id, (object) => (object.name === clipped ? object : { ...object, name: clipped }));
}

export function selectObject(state: PromptState, id: number): PromptState {
  return state.activeId === id || !state.objects.some((o) => o.id === id) ? state : { ...state, activeId: id };
}

/** Counts for the objects list. */
export function summarize(object: PromptObject): { points: number; boxes: number; frames: number } {
  let points = 0;
  let boxes = 0;
  for (const prompt of object.frames.values()) {
    points += prompt.points.length;
    if (prompt.box) boxes++;
  }
  return { points, boxes, frames: object.frames.size };
}

export type BuildResult = { ok: true; prompts: PromptsBody } | { ok: false; message: string; objectId?: number; frame?: number };

/**
 * The prompts JSON for POST /v1/jobs. Objects without any click are left
 * out; a frame with only background points is refused (the API would refuse it too).
 * The default speed is left out, so a Best job's prompts are what they were before speeds existed.
 */
export function buildPrompts(state: PromptState, speed: Speed = DEFAULT_SPEED): BuildResult {
  const objects: PromptsBody['objects'] = [];
  for (const object of state.objects) {
    if (object.frames.size === 0) continue;
    const frames = [...object.frames.keys()].sort((a, b) => a - b);
    const prompts: PromptsBody['objects'][number]['prompts'] = [];
    for (const frame of frames) {
      const prompt = object.frames.get(frame)!;
      if (!isUsable(prompt)) {
        return {
          ok: false,
          message: `“${displayName(object)}” has only background points on frame ${frame + 1}: add a point on the object (left click) or a box there, or clear that frame.`,
          objectId: object.id,
          frame,
        };
      }
      prompts.push({ frame, points: apiPoints(prompt), ...(prompt.box ? { box: [...prompt.box] as [number, number, number, number] } : {}) });
    }
    const name = object.name.trim();
    objects.push({ id: object.id, ...(name ? { name } : {}), prompts });
  }
  if (objects.length === 0) return { ok: false, message: 'Click on an object in the frame first: each object needs at least one point or a box.' };
  return { ok: true, prompts: { objects, ...(speed !== DEFAULT_SPEED ? { speed } : {}) } };
}

export function displayName(object: PromptObject): string {
  return object.name.trim() || defaultName(object.id);
}

/**
 * Undo and redo over immutable states. `commit` records a change; changes
 * with the same `coalesce` key in a row (typing a name) are one step.
 * `replace` changes the present without a step (selecting an object).
 */
export class History {
  private past: PromptState[] = [];
  private future: PromptState[] = [];
  private lastKey: string | undefined;

  constructor(
    private present: PromptState = initialState(),
    private readonly limit = 500,
  ) {}

  get state(): PromptState {
    return this.present;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  /** Records `next` as a step; returns false (and records nothing) when it is the present. */
  commit(next: PromptState, coalesce?: string): boolean {
    if (next === this.present) return false;
    if (!(coalesce !== undefined && coalesce === this.lastKey && this.past.length > 0)) {
      this.past.push(this.present);
      if (this.past.length > this.limit) this.past.shift();
    }
    this.present = next;
    this.future = [];
    this.lastKey = coalesce;
    return true;
  }

  replace(next: PromptState): void {
    this.present = next;
  }

  undo(): boolean {
    const previous = this.past.pop();
    if (!previous) return false;
    this.future.push(this.present);
    this.present = previous;
    this.lastKey = undefined;
    return true;
  }

  redo(): boolean {
    const next = this.future.pop();
    if (!next) return false;
    this.past.push(this.present);
    this.present = next;
    this.lastKey = undefined;
    return true;
  }

  reset(state: PromptState = initialState()): void {
    this.past = [];
    this.future = [];
    this.present = state;
    this.lastKey = undefined;
  }
}
