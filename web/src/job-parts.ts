/**
 * Parts of a job's page that are built once and updated in place on every
 * status, so a poll does not restart the video or lose the slider:
 * the summary line, the progress block and the result (video + downloads).
 */
import * as api from './api.js';
import { artifactsRevision } from './correction.js';
import { h, setProgress } from './dom.js';
import { describeWarning, formatAgo, formatEta, stageText, stateText } from './format.js';
import { RendersPart, type RenderStatus } from './renders.js';
import { OUTPUT_PURPOSES } from '../../src/output/render-spec.js';

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** "1 object · 8 frames · 160×120 · 8 fps  created just now", with the state's badge. */
export class SummaryPart {
  readonly element = h('p', { class: 'job-summary' });
  /** Beside the summary: what is wrong with the video that did not stop the job (frames that do not decode). */
  readonly warnings = h('p', { class: 'notice', role: 'status', 'data-testid': 'job-warnings', hidden: true });
  private readonly badge = h('span', { class: 'badge', 'data-testid': 'job-state' });
  private readonly facts = h('span');
  private readonly created = h('span', { class: 'muted' });

  constructor() {
    this.element.append(this.badge, ' ', this.facts, ' ', this.created);
  }

  /** `objects`: the count when the page knows better (a correction added some). */
  update(job: api.JobStatus, objects = job.objects): void {
    const { width, height, frames, fps } = job.video;
    this.badge.className = `badge state-${job.state}`;
    this.badge.textContent = stateText(job.state);
    const revision = job.revision > 0 ? ` · correction ${job.revision}` : '';
    this.facts.textContent = `${objects} object${objects === 1 ? '' : 's'} · ${frames} frames · ${width}×${height} · ${Math.round(fps * 100) / 100} fps${revision}`;
    this.created.textContent = `created ${formatAgo(job.createdAt)}`;
    const warnings = job.warnings ?? [];
    this.warnings.hidden = warnings.length === 0;
    this.warnings.textContent = warnings.map(describeWarning).join(' ');
  }
}

/** Stage, progress bar and numbers while the job is queued or running. */
export class ProgressPart {
  readonly element: HTMLElement;
  private readonly stage = h('p', { class: 'job-stage', 'data-testid': 'job-stage' });
  private readonly progress = h(
    'div',
    { class: 'progress large', role: 'progressbar', 'aria-label': 'Progress', 'aria-valuemin': 0, 'aria-valuemax': 100, 'data-testid': 'job-progress' },
    h('div', { class: 'progress-bar' }),
  );
  private readonly numbers = h('p', { class: 'job-numbers', 'data-testid': 'job-numbers' });

  constructor() {
    this.element = h('div', { class: 'job-progress' }, this.stage, this.progress, this.numbers);
  }

  update(job: api.JobStatus): void {
    const active = job.state === 'queued' || job.state === 'running';
    this.element.hidden = !active;
    if (!active) return;
    const { percent, framesDone, framesTotal, etaSeconds } = job.progress;
    this.stage.textContent = job.attempts > 1 ? `${stageText(job.stage)} (try ${job.attempts})` : stageText(job.stage);
    setProgress(this.progress, job.state === 'queued' ? null : percent / 100, `${Math.round(percent)}%`);
    const eta = formatEta(etaSeconds);
    this.numbers.textContent =
      job.state === 'queued'
        ? 'Waiting for a worker…'
        : `${framesDone} of ${framesTotal || job.video.frames} frames · ${Math.round(percent)}%${eta ? ` · ${eta} left` : ''}`;
  }
}

export interface ResultPartOptions {
  /** The server took a render: poll now, and until it is made. */
  onRenderAsked(render: RenderStatus): void;
  /** The job's object ids as far as the page knows (a correction may have added some). */
  objectIds(): readonly number[];
}

/**
 * The overlay video and the downloads (the standard files, then every
 * render); a finished correction loads the new ones (a new URL per
 * revision). The renders' rows, the cut-out preview and the form asking for
 * a render are the RendersPart's.
 */
export class ResultPart {
  readonly element: HTMLElement;
  private readonly note = h('p', { class: 'success' });
  private readonly video = h('video', { class: 'result-video', controls: true, muted: true, autoplay: true, loop: true, playsinline: true, preload: 'auto', 'data-testid': 'result-video' });
  private readonly downloads = h('ul', { class: 'downloads', 'data-testid': 'downloads' });
  private readonly links: Record<'overlay' | 'masks' | 'pngZip' | 'instances', HTMLAnchorElement>;
  private readonly renders: RendersPart;
  private revision = -1;

  constructor(
    job: api.JobStatus,
    private readonly options: ResultPartOptions,
  ) {
    this.video.muted = true; // the attribute alone is not the property
    const base = `clipmask-${shortId(job.id)}`;
    const link = (file: keyof typeof OUTPUT_PURPOSES, what: string, testid: string) => {
      const a = h('a', { class: 'button', download: `${base}-${file}`, 'data-testid': testid }, `Download ${file}`);
      this.downloads.append(h('li', { title: OUTPUT_PURPOSES[file] }, a, ' ', h('span', { class: 'muted' }, what)));
      return a;
    };
    this.links = {
      overlay: link('overlay.mp4', 'the video with the masks painted on', 'download-overlay'),
      masks: link('masks.json', 'per frame and object: COCO RLE mask, box, area', 'download-masks'),
      pngZip: link('masks.zip', 'one PNG per frame, pixel value = object id', 'download-zip'),
      instances: link('instances.json', 'YouTube-VIS: per object, a COCO RLE mask per frame, for dataset tools', 'download-instances'),
    };
    this.renders = new RendersPart(job.id, this.downloads, base, { onAsked: (render) => this.options.onRenderAsked(render) });
    this.element = h('div', { class: 'job-result' }, this.note, h('div', { class: 'result-frame' }, this.video), this.downloads, this.renders.preview, this.renders.form);
  }

  update(job: api.JobStatus): void {
    const artifacts = job.artifacts;
    this.element.hidden = !artifacts;
    if (!artifacts) return;
    this.note.className = job.state === 'succeeded' ? 'success' : 'notice';
    this.note.textContent =
      job.state === 'succeeded'
        ? 'Done. The video below shows every object in its colour; the downloads hold the masks and the renders.'
        : 'The result before this correction; the new one replaces it when the re-tracking is done.';
    this.renders.update(job, this.options.objectIds());
    const revision = artifactsRevision(job);
    if (revision === this.revision) return;
    this.revision = revision;
    this.video.src = api.revisionUrl(artifacts.overlay, revision);
    this.links.overlay.href = api.revisionUrl(artifacts.overlay, revision);
    this.links.masks.href = api.revisionUrl(artifacts.masks, revision);
    this.links.pngZip.href = api.revisionUrl(artifacts.pngZip, revision);
    this.links.instances.parentElement!.hidden = !artifacts.instances;
    if (artifacts.instances) this.links.instances.href = api.revisionUrl(artifacts.instances, revision);
  }

  /** The job's objects changed: the render form's checkboxes follow. */
  objectsChanged(): void {
    this.renders.objectsChanged(this.options.objectIds());
  }

  /** Stops playing videos (and their downloading) when the page leaves the job. */
  stop(): void {
    this.video.pause();
    this.renders.stop();
  }
}
