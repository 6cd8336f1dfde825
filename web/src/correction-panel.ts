/**
 * Correcting a job: pick an object (or a new one), mark the frame shown
 * (click, Shift+click or the background tool, drag for a box), or say the
 * object is absent from here on; Re-track sends the correction and the
 * panel follows the job until that revision is done, then says which frames
 * changed.
 *
 * Hooks: [data-testid=correction-panel], correct-object-<id>,
 * correct-new-object, correct-mode-object / correct-mode-background,
 * correct-absent, correct-clear, retrack (data-state: idle | sending |
 * waiting), correction-summary, correction-status, correction-error,
 * changed-frames.
 */
import * as api from './api.js';
import { colourFor, cssColour, textOn } from './colours.js';
import {
  addedIds,
  addNewObject,
  buildCorrection,
  changedFramesLines,
  clearMarks,
  correctionDone,
  correctionFailed,
  describeDraft,
  hasMarks,
  initialDraft,
  isNewObject,
  markAbsent,
  markBox,
  markPoint,
  selectMarked,
  selectedId,
  syncObjects,
  type CorrectionDraft,
} from './correction.js';
import { h } from './dom.js';
import type { MarkObject } from './draw.js';
import { describeError } from './format.js';
import type { Box, VideoPoint } from './geometry.js';
import { framePrompt, MAX_POINTS_PER_FRAME, type Label } from './prompt-state.js';

export interface CorrectionPanelOptions {
  /** The frame shown: the buttons act on it. */
  frame(): number;
  /** The marks changed: redraw them on the frame. */
  onMarksChange(): void;
  /** The server took the correction: follow the job again (it runs until `revision` is done). */
  onAccepted(revision: number): void;
  /** The job's object ids (objectIds) changed: loaded from the masks, or added by a finished correction. */
  onObjectsChange?(): void;
}

export class CorrectionPanel {
  readonly element: HTMLElement;
  private readonly objectsBar = h('div', { class: 'correct-objects', role: 'group', 'aria-label': 'Object to correct' });
  private readonly newObject = h('button', { class: 'button', type: 'button', 'data-testid': 'correct-new-object', title: 'New object (N)' }, '+ New object');
  private readonly modeObject = h('button', { class: 'button toggle', type: 'button', 'aria-pressed': 'true', 'data-testid': 'correct-mode-object' }, 'Object point');
  private readonly modeBackground = h('button', { class: 'button toggle', type: 'button', 'aria-pressed': 'false', 'data-testid': 'correct-mode-background', title: 'Background point (B)' }, 'Background');
  private readonly absent = h('button', { class: 'button', type: 'button', 'data-testid': 'correct-absent' }, 'Absent from here');
  private readonly clear = h('button', { class: 'button', type: 'button', 'data-testid': 'correct-clear' }, 'Clear');
  private readonly summary = h('ul', { class: 'correction-summary', 'data-testid': 'correction-summary', 'aria-live': 'polite' });
  private readonly retrackButton = h('button', { class: 'button primary wide', type: 'button', 'data-testid': 'retrack', 'data-state': 'idle' }, 'Re-track');
  private readonly status = h('p', { class: 'status', 'data-testid': 'correction-status', 'aria-live': 'polite' });
  private readonly error = h('p', { class: 'error', role: 'alert', 'data-testid': 'correction-error', hidden: true });
  private readonly changedBox = h('div', { class: 'changed', role: 'status', hidden: true });
  private readonly changed = h('p', { 'data-testid': 'changed-frames' });
  private readonly swatches = new Map<number, HTMLButtonElement>();
  private draft: CorrectionDraft = initialDraft(1);
  private mode: Label = 1;
  private job: api.JobStatus | undefined;
  private sending = false;
  /** The revision asked for and not done yet, and the object ids it adds. */
  private pending: { revision: number; added: number[] } | undefined;
  /** Which status the object ids were loaded for. */
  private idsFor: string | undefined;

  constructor(
    private readonly jobId: string,
    private readonly options: CorrectionPanelOptions,
  ) {
    this.changedBox.append(h('p', { class: 'changed-title' }, 'The last correction changed:'), this.changed);
    this.element = h(
      'section',
      { class: 'correction', 'data-testid': 'correction-panel', 'aria-labelledby': 'correction-title' },
      h('h3', { id: 'correction-title' }, 'Correct the tracking'),
      h('p', { class: 'hint' }, 'Pick the object, go to a frame where its mask is wrong, and click it there (Shift+click or right-click: background; drag: a box). Then Re-track.'),
      this.objectsBar,
      h('fieldset', { class: 'click-mode correct-mode' }, h('legend', {}, 'A click adds'), this.modeObject, this.modeBackground),
      h('div', { class: 'toolbar' }, this.absent, this.clear),
      this.summary,
      this.retrackButton,
      this.error,
      this.status,
      this.changedBox,
      h('p', { class: 'hint small keys-hint' }, 'Keys: , and . step through the frames; 1…9 pick an object; N adds one; B switches to background points.'),
    );
    this.newObject.addEventListener('click', () => this.change(addNewObject(this.draft)));
    this.modeObject.addEventListener('click', () => this.setMode(1));
    this.modeBackground.addEventListener('click', () => this.setMode(0));
    this.absent.addEventListener('click', () => this.change(markAbsent(this.draft, this.options.frame())));
    this.clear.addEventListener('click', () => this.change(clearMarks(this.draft, this.options.frame())));
    this.retrackButton.addEventListener('click', () => void this.retrack());
  }

  /** Marks can be made: the job has frames to correct and nothing is being sent. */
  get editable(): boolean {
    const state = this.job?.state;
    return (state === 'running' || state === 'succeeded') && !this.sending;
  }

  /** How many objects the job has as far as the page knows (the status counts only the submitted ones). */
  get objectCount(): number {
    return this.draft.known.length;
  }

  /** The job's object ids as far as the page knows, in id order. */
  get objectIds(): readonly number[] {
    return this.draft.known;
  }

  /** A new status. Returns true when the correction asked for has just finished (the frames are new). */
  update(job: api.JobStatus): boolean {
    const first = !this.job;
    this.job = job;
    // job.objects counts the submitted objects; their ids come with the first frame record (loadIds).
    if (first) this.draft = initialDraft(job.objects);
    this.loadIds(job);
    let finished = false;
    if (this.pending !== undefined && correctionDone(job, this.pending.revision)) {
      finished = true;
      this.status.textContent = `Re-tracked (correction ${this.pending.revision}).`;
      // The marks are in the masks now; the objects it added are the job's.
      this.draft = initialDraft([...this.draft.known, ...this.pending.added], selectedId(this.draft));
      this.pending = undefined;
      this.options.onMarksChange();
    } else if (this.pending !== undefined && correctionFailed(job)) {
      this.pending = undefined;
      this.status.textContent = '';
      this.showError(`The re-tracking stopped. ${job.error ? describeError(job.error.code, job.error.message) : 'The job was cancelled.'}`);
    }
    const lines = changedFramesLines(job.lastCorrection);
    this.changed.textContent = lines.join('; ');
    this.changedBox.hidden = lines.length === 0;
    this.render();
    return finished;
  }

  /**
   * The job's object ids, from a frame record (it lists every object, an
   * absent one with an empty mask): once a first frame is final, and again
   * after each finished revision.
   */
  private loadIds(job: api.JobStatus): void {
    const key = job.state === 'succeeded' ? `done ${job.revision}` : `run ${job.revision}`;
    if (job.progress.lastFrame === null || this.idsFor === key || (job.state !== 'succeeded' && this.idsFor !== undefined)) return;
    this.idsFor = key;
    api.jobMasks(this.jobId, 0, 1).then(
      (masks) => {
        const ids = masks.frames[0]?.objects.map((o) => o.id) ?? [];
        const before = this.draft;
        this.draft = syncObjects(this.draft, ids);
        if (this.draft !== before) {
          this.render();
          this.options.onObjectsChange?.();
        }
      },
      () => {
        this.idsFor = undefined; // tried again with the next status
      },
    );
  }

  // -------------------------------------------------------------------------
  // Marks, from the frame viewer

  point(frame: number, point: VideoPoint, background: boolean): void {
    if (!this.editable) return;
    const label: Label = background ? 0 : this.mode;
    const next = markPoint(this.draft, frame, { x: point.x, y: point.y, label });
    if (next === this.draft) this.showError(`A frame takes at most ${MAX_POINTS_PER_FRAME} points per object.`);
    else this.change(next);
  }

  box(frame: number, box: Box): void {
    if (this.editable) this.change(markBox(this.draft, frame, box));
  }

  /** What to draw on `frame`: every object's marks there, the selected one highlighted. */
  marks(frame: number): MarkObject[] {
    const active = selectedId(this.draft);
    return this.draft.marks.objects.map((o) => ({ colour: colourFor(o.id), prompt: framePrompt(o, frame), active: o.id === active }));
  }

  /** The frame shown changed: the buttons act on the new one. */
  frameChanged(): void {
    this.render();
  }

  /** Shortcuts while the job is on screen: 1…9 pick an object, N a new one, B toggles background points. Returns true when handled. */
  key(event: KeyboardEvent): boolean {
    const key = event.key;
    if (/^[1-9]$/.test(key)) {
      const object = this.draft.marks.objects[Number(key) - 1];
      if (object) this.change(selectMarked(this.draft, object.id));
      return object !== undefined;
    }
    if (key === 'n' || key === 'N') this.change(addNewObject(this.draft));
    else if (key === 'b' || key === 'B') this.setMode(this.mode === 1 ? 0 : 1);
    else return false;
    return true;
  }

  private setMode(label: Label): void {
    this.mode = label;
    this.render();
  }

  private change(next: CorrectionDraft): void {
    if (next === this.draft) return;
    this.draft = next;
    this.hideError();
    this.render();
    this.options.onMarksChange();
  }

  // -------------------------------------------------------------------------
  // Re-track

  private async retrack(): Promise<void> {
    if (this.sending || this.pending !== undefined) return;
    const built = buildCorrection(this.draft);
    if (!built.ok) {
      if (built.objectId !== undefined) this.change(selectMarked(this.draft, built.objectId));
      this.showError(built.message);
      return;
    }
    this.hideError();
    this.sending = true;
    this.status.textContent = 'Sending the correction…';
    this.render();
    try {
      const { revision } = await api.correctJob(this.jobId, built.body);
      this.pending = { revision, added: addedIds(this.draft, built.body) };
      this.status.textContent = 'Re-tracking from your marks… The frames update when it is done.';
      this.options.onAccepted(revision);
    } catch (error) {
      this.status.textContent = '';
      this.showError(`The correction was not accepted. ${words(error)}`);
    } finally {
      this.sending = false;
      this.render();
    }
  }

  private showError(message: string): void {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  private hideError(): void {
    this.error.hidden = true;
    this.error.textContent = '';
  }

  // -------------------------------------------------------------------------
  // Rendering

  private render(): void {
    const frame = this.options.frame();
    const active = selectedId(this.draft);
    const editable = this.editable && frame >= 0;
    this.renderObjects(active, editable);
    this.modeObject.setAttribute('aria-pressed', String(this.mode === 1));
    this.modeBackground.setAttribute('aria-pressed', String(this.mode === 0));
    this.element.dataset.mode = this.mode === 1 ? 'object' : 'background';
    this.absent.disabled = !editable || isNewObject(this.draft, active);
    this.absent.title = `Object ${active} is gone from frame ${frame + 1} on`;
    const object = this.draft.marks.objects.find((o) => o.id === active);
    this.clear.disabled = !editable || !(object?.frames.has(frame) || this.draft.absent.has(active));
    this.clear.title = `Remove object ${active}’s marks on this frame`;
    const lines = describeDraft(this.draft);
    this.summary.replaceChildren(...(lines.length ? lines : ['Nothing marked yet.']).map((line) => h('li', {}, line)));
    const waiting = this.pending !== undefined;
    this.retrackButton.disabled = !editable || waiting || !hasMarks(this.draft);
    this.retrackButton.dataset.state = this.sending ? 'sending' : waiting ? 'waiting' : 'idle';
    this.retrackButton.textContent = this.sending ? 'Sending…' : waiting ? 'Re-tracking…' : 'Re-track';
  }

  /** One swatch per object, kept across renders so a pressed one keeps the focus. */
  private renderObjects(active: number, editable: boolean): void {
    const buttons = this.draft.marks.objects.map((object) => {
      let button = this.swatches.get(object.id);
      if (!button) {
        const colour = colourFor(object.id);
        button = h('button', { class: 'swatch', type: 'button', 'data-testid': `correct-object-${object.id}` }, String(object.id));
        button.style.setProperty('--colour', cssColour(colour));
        button.style.setProperty('--on-colour', textOn(colour));
        button.addEventListener('click', () => this.change(selectMarked(this.draft, object.id)));
        this.swatches.set(object.id, button);
      }
      const label = `Object ${object.id}${isNewObject(this.draft, object.id) ? ' (new)' : ''}`;
      button.setAttribute('aria-label', label);
      button.title = label;
      button.setAttribute('aria-pressed', String(object.id === active));
      button.disabled = !editable;
      return button;
    });
    this.newObject.disabled = !editable;
    const wanted = [...buttons, this.newObject];
    const same = wanted.length === this.objectsBar.children.length && wanted.every((b, i) => this.objectsBar.children[i] === b);
    if (!same) this.objectsBar.replaceChildren(...wanted);
  }
}

function words(error: unknown): string {
  if (!(error instanceof api.ApiError)) return describeError('internal');
  return describeError(error.code, error.message);
}
