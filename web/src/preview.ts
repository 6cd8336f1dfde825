/**
 * Live preview masks: after every change, one request per object (that
 * object's clicks on the shown frame) to POST /v1/previews/:id/masks.
 *
 * Per object and frame ("slot") at most one request is in flight; clicks
 * made meanwhile are folded into one follow-up request for the latest
 * clicks. An answer is shown only if its clicks are still the wanted ones:
 * a stale answer (superseded by a newer click) is kept in a small cache, so
 * undo can show it at once, but never shown in place of the wanted mask.
 */
import type { MaskRequest, MaskResponse } from './api.js';
import { apiPoints, isUsable, promptKey, type FramePrompt } from './prompt-state.js';
import { decodeRle, type Mask } from './rle.js';

export type FetchMask = (request: MaskRequest, signal: AbortSignal) => Promise<MaskResponse>;

export interface PreviewMask {
  id: number;
  mask: Mask;
  score: number;
  area: number;
  /** False while a newer request for this object is on its way (the mask is for earlier clicks). */
  current: boolean;
}

export interface Latency {
  /** From the change (click) to the answer being ready to draw. */
  ms: number;
  objectId: number;
  frame: number;
  /** The server's timings for that mask (zeros when it came from the cache). */
  server: MaskResponse['timings'];
}

export type PreviewStatus = 'idle' | 'pending' | 'ready' | 'error';

interface Result {
  mask: Mask;
  score: number;
  area: number;
}

const NO_TIMINGS: MaskResponse['timings'] = { embedMs: 0, decodeMs: 0, totalMs: 0 };

interface Slot {
  id: number;
  frame: number;
  /** The clicks wanted now ('' = none usable: no mask). */
  wantedKey: string;
  wantedRequest?: MaskRequest;
  /** When the wanted clicks were made. */
  wantedAt: number;
  inFlightKey?: string;
  /** Last mask shown, shown on while the wanted one is on its way. */
  shownKey?: string;
  cache: Map<string, Result>;
  error?: unknown;
}

const CACHE_PER_SLOT = 8;

export class MaskPreviewer {
  private slots = new Map<string, Slot>();
  private generation = 0;
  private controller = new AbortController();
  /** The latest answer that was shown, with its latency. */
  lastLatency: Latency | undefined;

  constructor(
    private readonly fetchMask: FetchMask,
    /** Called when an answer arrives (or fails): redraw. */
    private readonly onChange: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * The clicks on `frame` now, per object. Requests masks that are not
   * cached; call it after every change and when another frame is shown.
   */
  update(frame: number, objects: ReadonlyArray<{ id: number; prompt: FramePrompt | undefined }>, changedAt = this.now()): void {
    for (const { id, prompt } of objects) {
      const key = isUsable(prompt) ? promptKey(prompt) : '';
      const slotKey = `${id}:${frame}`;
      let slot = this.slots.get(slotKey);
      if (!slot) {
        if (!key) continue;
        slot = { id, frame, wantedKey: '', wantedAt: changedAt, cache: new Map() };
        this.slots.set(slotKey, slot);
      }
      if (slot.wantedKey === key) continue;
      slot.wantedKey = key;
      slot.wantedAt = changedAt;
      slot.error = undefined;
      slot.wantedRequest = key
        ? { frame, points: apiPoints(prompt!), ...(prompt!.box ? { box: [...prompt!.box] as [number, number, number, number] } : {}) }
        : undefined;
      if (!key) slot.shownKey = undefined;
      else if (slot.cache.has(key)) this.lastLatency = { ms: this.now() - changedAt, objectId: id, frame, server: NO_TIMINGS }; // undo, redo: cached
      this.pump(slot);
    }
  }

  /** Masks to draw on `frame` for these objects, in the given order. */
  masks(frame: number, ids: readonly number[]): PreviewMask[] {
    const out: PreviewMask[] = [];
    for (const id of ids) {
      const slot = this.slots.get(`${id}:${frame}`);
      if (!slot || !slot.wantedKey) continue;
      const wanted = slot.cache.get(slot.wantedKey);
      if (wanted) {
        slot.shownKey = slot.wantedKey;
        out.push({ id, mask: wanted.mask, score: wanted.score, area: wanted.area, current: true });
        continue;
      }
      const shown = slot.shownKey !== undefined ? slot.cache.get(slot.shownKey) : undefined;
      if (shown) out.push({ id, mask: shown.mask, score: shown.score, area: shown.area, current: false });
    }
    return out;
  }

  status(frame: number, ids: readonly number[]): PreviewStatus {
    let any = false;
    let pending = false;
    for (const id of ids) {
      const slot = this.slots.get(`${id}:${frame}`);
      if (!slot || !slot.wantedKey) continue;
      any = true;
      if (slot.error) return 'error';
      if (!slot.cache.has(slot.wantedKey)) pending = true;
    }
    return pending ? 'pending' : any ? 'ready' : 'idle';
  }

  /** The first error among these objects on `frame`. */
  error(frame: number, ids: readonly number[]): unknown {
    for (const id of ids) {
      const error = this.slots.get(`${id}:${frame}`)?.error;
      if (error) return error;
    }
    return undefined;
  }

  /** Requests the wanted masks that failed again (after the preview was re-created). */
  retry(): void {
    for (const slot of this.slots.values()) {
      if (slot.error) {
        slot.error = undefined;
        this.pump(slot);
      }
    }
  }

  /** Forgets everything (another video); answers still on their way are dropped. */
  reset(): void {
    this.generation++;
    this.controller.abort();
    this.controller = new AbortController();
    this.slots.clear();
    this.lastLatency = undefined;
  }

  private pump(slot: Slot): void {
    if (slot.inFlightKey !== undefined || !slot.wantedKey || !slot.wantedRequest || slot.cache.has(slot.wantedKey)) return;
    const key = slot.wantedKey;
    const generation = this.generation;
    slot.inFlightKey = key;
    this.fetchMask(slot.wantedRequest, this.controller.signal).then(
      (answer) => {
        if (generation !== this.generation) return;
        slot.inFlightKey = undefined;
        try {
          const mask = decodeRle(answer.mask);
          remember(slot.cache, key, { mask, score: answer.score, area: answer.area });
        } catch (error) {
          if (key === slot.wantedKey) slot.error = error;
        }
        if (key === slot.wantedKey && !slot.error) {
          this.lastLatency = { ms: this.now() - slot.wantedAt, objectId: slot.id, frame: slot.frame, server: answer.timings ?? NO_TIMINGS };
        }
        this.pump(slot); // newer clicks arrived meanwhile
        this.onChange();
      },
      (error: unknown) => {
        if (generation !== this.generation) return;
        slot.inFlightKey = undefined;
        if (key === slot.wantedKey) slot.error = error;
        else this.pump(slot);
        this.onChange();
      },
    );
  }
}

function remember(cache: Map<string, Result>, key: string, result: Result): void {
  cache.delete(key);
  cache.set(key, result);
  while (cache.size > CACHE_PER_SLOT) cache.delete(cache.keys().next().value!);
}
