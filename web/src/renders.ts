/**
 * A job's renders (cutout.webm, matte.mp4, ... made from masks.json and the
 * source): a row per render in the downloads (its state until it is made,
 * the error when it failed), a preview of a made cutout.webm over a
 * checkerboard so its transparency shows, and a form asking for another.
 * Built once and updated in place on every status, like the other parts.
 *
 * Hooks: li[data-testid=render][data-file][data-state] per render, with
 * a[data-testid=download-render] once it is made; [data-testid=cutout-preview]
 * holding video[data-testid=cutout-video]; form[data-testid=render-form] with
 * render-output, render-effect, render-object-<id>, render-feather,
 * render-submit, render-error (role=alert) and render-status.
 */
import * as api from './api.js';
import { colourFor, cssColour } from './colours.js';
import { h } from './dom.js';
import { describeError } from './format.js';
import {
  DEFAULT_EFFECT,
  DEFAULT_FEATHER,
  EFFECTS,
  MAX_FEATHER,
  OUTPUT_PURPOSES,
  RENDER_OUTPUTS,
  type Effect,
  type RenderOutput,
  type RenderRequest,
} from '../../src/output/render-spec.js';

export type RenderStatus = NonNullable<api.JobStatus['renders']>[number];

// ---------------------------------------------------------------------------
// Pure parts (tested in node)

/** A render is still to be made: the page keeps polling even though the job is finished. */
export function rendersPending(job: Pick<api.JobStatus, 'renders'>): boolean {
  return (job.renders ?? []).some((r) => r.state === 'queued' || r.state === 'running');
}

/** The made cutout.webm to preview: the default one if made, else the first made with other settings. */
export function previewRender(renders: readonly RenderStatus[]): RenderStatus | undefined {
  const made = renders.filter((r) => r.output === 'cutout.webm' && r.state === 'succeeded' && r.url);
  return made.find((r) => r.file === 'cutout.webm') ?? made[0];
}

/** The renders with `status` in place of the one of its file (or added last): a POST's answer before the next poll. */
export function mergeRender(renders: readonly RenderStatus[], status: RenderStatus): RenderStatus[] {
  const at = renders.findIndex((r) => r.file === status.file);
  if (at < 0) return [...renders, status];
  const next = [...renders];
  next[at] = status;
  return next;
}

const STATE_WORDS: Record<RenderStatus['state'], string> = {
  queued: 'Queued',
  running: 'Rendering…',
  succeeded: 'Done',
  failed: 'Failed',
};

export function renderStateText(state: RenderStatus['state']): string {
  return STATE_WORDS[state] ?? state;
}

export const EFFECT_WORDS: Record<Effect, string> = {
  'blur-background': 'Blur the background',
  'grey-background': 'Grey background',
  'black-background': 'Black background',
  spotlight: 'Spotlight (darken the background)',
};

export interface RenderFormValues {
  output: RenderOutput;
  effect: Effect;
  /** The objects ticked. */
  objects: number[];
  /** Every object of the job: all ticked means "every object" (the default file name). */
  allObjects: number[];
  /** The feather field as typed; '' means the output's default. */
  feather: string;
}

export type RenderBody = { ok: true; body: RenderRequest } | { ok: false; error: string; field: 'objects' | 'feather' };

/**
 * The body of POST /v1/jobs/:id/renders from the form. Only what the form
 * cannot send is refused here (no object ticked, a feather that is not a
 * number); the bounds are the server's, and its answer is shown.
 */
export function renderRequestBody(values: RenderFormValues): RenderBody {
  const ticked = [...new Set(values.objects)].sort((a, b) => a - b);
  if (ticked.length === 0) return { ok: false, error: 'Pick at least one object to render.', field: 'objects' };
  const every = values.allObjects.length > 0 && values.allObjects.every((id) => ticked.includes(id));
  const text = values.feather.trim();
  const feather = text === '' ? undefined : Number(text);
  if (feather !== undefined && !Number.isFinite(feather)) return { ok: false, error: 'The feather is a number of pixels.', field: 'feather' };
  return {
    ok: true,
    body: {
      output: values.output,
      ...(every ? {} : { objects: ticked }),
      ...(feather === undefined ? {} : { feather }),
      ...(values.output === 'effect.mp4' ? { effect: values.effect } : {}),
    },
  };
}

/** The server's refusal of a render, in words for the form. */
export function renderErrorText(error: unknown): string {
  if (!(error instanceof api.ApiError)) return describeError('internal');
  if (error.status === 400) return `The server refused the render: ${error.message.replace(/\.$/, '')}.`;
  return describeError(error.code, error.message);
}

// ---------------------------------------------------------------------------
// The part

export interface RendersPartOptions {
  /** The server took a render: poll now (and until it is made). */
  onAsked(render: RenderStatus): void;
}

interface Row {
  element: HTMLLIElement;
  link: HTMLAnchorElement;
  name: HTMLElement;
  badge: HTMLElement;
  error: HTMLElement;
  href?: string;
}

export class RendersPart {
  /** The made cutout.webm over a checkerboard. */
  readonly preview: HTMLElement;
  readonly form: HTMLFormElement;
  private readonly video = h('video', { class: 'cutout-video', controls: true, muted: true, autoplay: true, loop: true, playsinline: true, preload: 'auto', 'data-testid': 'cutout-video' });
  private readonly previewNote = h('p', { class: 'muted small' });
  private readonly rows = new Map<string, Row>();
  private renders: RenderStatus[] = [];
  private previewSrc: string | undefined;
  private job: api.JobStatus | undefined;

  private readonly output = h('select', { 'data-testid': 'render-output', name: 'output' });
  private readonly purpose = h('p', { class: 'muted small render-purpose', 'data-testid': 'render-purpose' });
  private readonly effect = h('select', { 'data-testid': 'render-effect', name: 'effect' });
  private readonly effectField: HTMLElement;
  private readonly objects = h('div', { class: 'render-objects' });
  private readonly objectsField: HTMLFieldSetElement;
  private readonly feather = h('input', { type: 'number', min: 0, max: MAX_FEATHER, step: 0.5, inputmode: 'decimal', 'data-testid': 'render-feather', name: 'feather' });
  private readonly submit = h('button', { class: 'button primary', type: 'submit', 'data-testid': 'render-submit' }, 'Render');
  private readonly error = h('p', { class: 'error', role: 'alert', 'data-testid': 'render-error', hidden: true });
  private readonly status = h('p', { class: 'status', 'data-testid': 'render-status', 'aria-live': 'polite' });
  private readonly boxes = new Map<number, HTMLInputElement>();
  private sending = false;
  /** The render the form asked for last, until it is made or fails: the status line follows it. */
  private asked: string | undefined;

  constructor(
    private readonly jobId: string,
    /** The downloads list the rows go in (after the standard files). */
    private readonly list: HTMLUListElement,
    private readonly base: string,
    private readonly options: RendersPartOptions,
  ) {
    this.video.muted = true;
    this.preview = h(
      'figure',
      { class: 'cutout', 'data-testid': 'cutout-preview', hidden: true },
      h('div', { class: 'checkerboard' }, this.video),
      h('figcaption', {}, this.previewNote),
    );
    for (const output of RENDER_OUTPUTS) this.output.append(h('option', { value: output, title: OUTPUT_PURPOSES[output] }, output));
    for (const effect of EFFECTS) this.effect.append(h('option', { value: effect }, EFFECT_WORDS[effect]));
    this.effect.value = DEFAULT_EFFECT;
    this.effectField = h('label', { class: 'render-field', 'data-testid': 'render-effect-field' }, h('span', {}, 'Effect'), this.effect);
    this.objectsField = h('fieldset', { class: 'render-field render-objects-field' }, h('legend', {}, 'Objects'), this.objects);
    this.form = h(
      'form',
      { class: 'render-form', 'data-testid': 'render-form', novalidate: true, 'aria-labelledby': 'render-title' },
      h('h3', { id: 'render-title' }, 'Render another file'),
      h('p', { class: 'hint' }, 'Made from these masks and the source video; it appears in the downloads when it is done.'),
      h('label', { class: 'render-field' }, h('span', {}, 'Output'), this.output),
      this.purpose,
      this.effectField,
      this.objectsField,
      h('label', { class: 'render-field' }, h('span', {}, `Feather (soft edge, 0–${MAX_FEATHER} px)`), this.feather),
      h('div', { class: 'toolbar' }, this.submit),
      this.error,
      this.status,
    );
    this.output.addEventListener('change', () => this.outputChanged());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.ask();
    });
    this.outputChanged();
  }

  /** A new status; `objectIds`: the job's objects as far as the page knows. */
  update(job: api.JobStatus, objectIds: readonly number[]): void {
    this.job = job;
    this.renders = job.renders ?? [];
    this.form.hidden = job.state !== 'succeeded';
    this.syncObjects(objectIds);
    this.show();
  }

  /** The job's objects changed (loaded from the masks, or a correction added some). */
  objectsChanged(objectIds: readonly number[]): void {
    this.syncObjects(objectIds);
  }

  stop(): void {
    this.video.pause();
  }

  private outputChanged(): void {
    const output = this.output.value as RenderOutput;
    this.purpose.textContent = OUTPUT_PURPOSES[output];
    this.output.title = OUTPUT_PURPOSES[output];
    this.effectField.hidden = output !== 'effect.mp4';
    this.feather.value = String(DEFAULT_FEATHER[output]);
    this.feather.removeAttribute('aria-invalid');
  }

  /** One checkbox per object, ticked when it appears; what was unticked stays so. */
  private syncObjects(ids: readonly number[]): void {
    const wanted = [...new Set(ids)].sort((a, b) => a - b);
    if (wanted.length === this.boxes.size && wanted.every((id) => this.boxes.has(id))) return;
    for (const id of [...this.boxes.keys()]) if (!wanted.includes(id)) this.boxes.delete(id);
    const labels = wanted.map((id) => {
      let box = this.boxes.get(id);
      if (!box) {
        box = h('input', { type: 'checkbox', checked: true, value: id, 'data-testid': `render-object-${id}` });
        box.checked = true;
        this.boxes.set(id, box);
      }
      const dot = h('span', { class: 'render-dot', 'aria-hidden': 'true' });
      dot.style.background = cssColour(colourFor(id)); // a property, not a style attribute: the page's CSP refuses those
      return h('label', { class: 'check render-object' }, box, dot, `Object ${id}`);
    });
    this.objects.replaceChildren(...labels);
  }

  private show(): void {
    const files = new Set(this.renders.map((r) => r.file));
    for (const [file, row] of this.rows) {
      if (!files.has(file)) {
        row.element.remove();
        this.rows.delete(file);
      }
    }
    for (const render of this.renders) this.showRow(render);
    const shown = previewRender(this.renders);
    this.preview.hidden = !shown;
    const src = shown?.url ? api.revisionUrl(shown.url, shown.revision) : undefined;
    if (src !== this.previewSrc) {
      this.previewSrc = src;
      if (src) this.video.src = src;
      else {
        this.video.removeAttribute('src');
        this.video.load();
      }
    }
    if (shown) this.previewNote.textContent = `${shown.file} over a checkerboard: the squares show through where it is transparent.`;
    this.showAsked();
  }

  /** The status line about the render asked for: queued, being made, made, or failed. */
  private showAsked(): void {
    const render = this.renders.find((r) => r.file === this.asked);
    if (!render) return;
    if (render.state === 'succeeded') {
      this.status.textContent = `${render.file} is made: it is in the downloads.`;
      this.asked = undefined;
    } else if (render.state === 'failed') {
      this.status.textContent = `${render.file} could not be made; the reason is beside it in the downloads.`;
      this.asked = undefined;
    } else {
      this.status.textContent = `${render.file} is ${render.state === 'queued' ? 'queued' : 'being made'}. It appears in the downloads when it is made.`;
    }
  }

  private showRow(render: RenderStatus): void {
    let row = this.rows.get(render.file);
    if (!row) {
      const link = h('a', { class: 'button', download: `${this.base}-${render.file}`, 'data-testid': 'download-render' }, `Download ${render.file}`);
      const name = h('span', { class: 'render-name' }, render.file);
      const badge = h('span', { class: 'badge', 'data-testid': 'render-state' });
      const error = h('span', { class: 'error small', 'data-testid': 'render-error-message' });
      const element = h(
        'li',
        { class: 'render', 'data-testid': 'render', 'data-file': render.file, title: OUTPUT_PURPOSES[render.output] },
        link,
        name,
        badge,
        h('span', { class: 'muted', 'data-testid': 'render-holds' }, describeRender(render)),
        error,
      );
      row = { element, link, name, badge, error };
      this.rows.set(render.file, row);
      this.list.append(element);
    }
    const made = render.state === 'succeeded' && render.url !== undefined;
    row.element.dataset.state = render.state;
    row.link.hidden = !made;
    row.name.hidden = made;
    row.badge.hidden = made;
    row.badge.className = `badge render-state-${render.state}`;
    row.badge.textContent = renderStateText(render.state);
    const href = made ? api.revisionUrl(render.url!, render.revision) : undefined;
    if (href !== row.href) {
      row.href = href;
      if (href) row.link.href = href;
      else row.link.removeAttribute('href');
    }
    row.error.hidden = render.state !== 'failed';
    row.error.textContent = render.state === 'failed' ? describeError(render.error?.code ?? 'internal', render.error?.message) : '';
  }

  private values(): RenderFormValues {
    return {
      output: this.output.value as RenderOutput,
      effect: this.effect.value as Effect,
      objects: [...this.boxes].filter(([, box]) => box.checked).map(([id]) => id),
      allObjects: [...this.boxes.keys()],
      feather: this.feather.value,
    };
  }

  private async ask(): Promise<void> {
    if (this.sending || !this.job || this.job.state !== 'succeeded') return;
    this.showError(undefined);
    const built = renderRequestBody(this.values());
    if (!built.ok) {
      this.showError(built.error, built.field);
      return;
    }
    this.sending = true;
    this.submit.disabled = true;
    this.status.textContent = 'Asking for the render…';
    try {
      const render = await api.requestRender(this.jobId, built.body);
      this.asked = render.file;
      this.renders = mergeRender(this.renders, render);
      this.show();
      this.options.onAsked(render);
    } catch (error) {
      this.status.textContent = '';
      const field = error instanceof api.ApiError ? error.field : undefined;
      this.showError(renderErrorText(error), field?.includes('feather') ? 'feather' : field?.includes('objects') ? 'objects' : undefined);
    } finally {
      this.sending = false;
      this.submit.disabled = false;
    }
  }

  private showError(text: string | undefined, field?: 'objects' | 'feather'): void {
    this.error.hidden = text === undefined;
    this.error.textContent = text ?? '';
    if (field === 'feather') this.feather.setAttribute('aria-invalid', 'true');
    else this.feather.removeAttribute('aria-invalid');
    if (field === 'objects') this.objectsField.setAttribute('aria-invalid', 'true');
    else this.objectsField.removeAttribute('aria-invalid');
  }
}

/** "objects 1, 3 · spotlight · feather 2 px" beside a render's name: what is in it (what it is for is its tooltip). */
export function describeRender(render: Pick<RenderStatus, 'objects' | 'feather' | 'effect'>): string {
  const parts = [render.objects ? `object${render.objects.length === 1 ? '' : 's'} ${render.objects.join(', ')}` : 'every object'];
  if (render.effect) parts.push(EFFECT_WORDS[render.effect].toLowerCase());
  parts.push(`feather ${render.feather} px`);
  return parts.join(' · ');
}
