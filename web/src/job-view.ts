/**
 * One job: progress while it runs (stage, frames, ETA), then the overlay
 * video and the downloads, or the error in plain words.
 *
 * Hooks: #job-view data-state (loading | queued | running | succeeded |
 * failed | cancelled | missing | error) and data-job-id.
 */
import * as api from './api.js';
import { byId, h, setProgress } from './dom.js';
import { describeError, formatAgo, formatEta, stageText, stateText } from './format.js';

const POLL_MS = 1000;

export interface JobViewOptions {
  /** The job's state changed, or it was deleted: the list of jobs is out of date. */
  onChanged(): void;
  /** The job was deleted: leave its page. */
  onDeleted(): void;
}

/** The parts of the running view that are updated in place on every poll. */
interface RunningParts {
  badge: HTMLElement;
  stage: HTMLElement;
  progress: HTMLElement;
  numbers: HTMLElement;
}

export class JobView {
  private readonly root = byId('job-view', HTMLElement);
  private readonly title = byId('job-title', HTMLElement);
  private readonly body = byId('job-body', HTMLElement);
  private id: string | undefined;
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private shownState: string | undefined;
  private running: RunningParts | undefined;

  constructor(private readonly options: JobViewOptions) {}

  show(id: string): void {
    if (id === this.id && !this.root.hidden) return;
    this.stop();
    this.id = id;
    this.shownState = undefined;
    this.running = undefined;
    this.root.hidden = false;
    this.root.dataset.jobId = id;
    this.root.dataset.state = 'loading';
    this.title.textContent = `Job ${shortId(id)}`;
    this.body.replaceChildren(h('p', { class: 'status' }, 'Loading…'));
    this.title.focus({ preventScroll: false });
    void this.poll();
  }

  hide(): void {
    this.stop();
    this.id = undefined;
    this.root.hidden = true;
    // Stop a playing result (and its downloads of the video).
    this.body.querySelector('video')?.pause();
    this.body.replaceChildren();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.controller?.abort();
    this.controller = undefined;
  }

  private async poll(): Promise<void> {
    const id = this.id;
    if (!id) return;
    const controller = (this.controller = new AbortController());
    try {
      const job = await api.getJob(id, controller.signal);
      if (id !== this.id) return;
      const changed = job.state !== this.shownState;
      this.render(job);
      if (changed) this.options.onChanged();
      if (!api.isTerminal(job.state)) this.timer = setTimeout(() => void this.poll(), POLL_MS);
    } catch (error) {
      if (api.isAbort(error) || id !== this.id) return;
      if (error instanceof api.ApiError && error.status === 404) {
        this.setState('missing');
        this.body.replaceChildren(
          h('p', { class: 'error', role: 'alert', 'data-testid': 'job-error' }, 'There is no such job: it was deleted, or it finished long enough ago to be cleaned up.'),
        );
        return;
      }
      // Keep the last view and try again: the server may be restarting.
      const text = error instanceof api.ApiError ? describeError(error.code, error.message) : describeError('internal');
      let notice = this.body.querySelector<HTMLElement>('.poll-error');
      if (!notice) {
        notice = h('p', { class: 'error poll-error', role: 'alert' });
        this.body.prepend(notice);
      }
      notice.textContent = `${text} Trying again…`;
      if (!this.shownState) this.setState('error');
      this.timer = setTimeout(() => void this.poll(), POLL_MS * 3);
    }
  }

  private setState(state: string): void {
    this.shownState = state;
    this.root.dataset.state = state;
  }

  private render(job: api.JobStatus): void {
    this.body.querySelector('.poll-error')?.remove();
    if (job.state === this.shownState && this.running && (job.state === 'queued' || job.state === 'running')) {
      this.updateRunning(job, this.running);
      return;
    }
    this.setState(job.state);
    this.running = undefined;
    const summary = this.summary(job);
    if (job.state === 'queued' || job.state === 'running') {
      const parts: RunningParts = {
        badge: summary.querySelector<HTMLElement>('.badge')!,
        stage: h('p', { class: 'job-stage', 'data-testid': 'job-stage' }),
        progress: h('div', { class: 'progress large', role: 'progressbar', 'aria-label': 'Progress', 'aria-valuemin': 0, 'aria-valuemax': 100, 'data-testid': 'job-progress' }, h('div', { class: 'progress-bar' })),
        numbers: h('p', { class: 'job-numbers', 'data-testid': 'job-numbers' }),
      };
      const cancel = h('button', { class: 'button danger', type: 'button', 'data-testid': 'cancel-job' }, 'Cancel the job');
      cancel.addEventListener('click', () => void this.remove(job.id, false));
      this.body.replaceChildren(summary, parts.stage, parts.progress, parts.numbers, h('div', { class: 'toolbar' }, cancel));
      this.running = parts;
      this.updateRunning(job, parts);
    } else if (job.state === 'succeeded' && job.artifacts) {
      this.body.replaceChildren(summary, ...this.result(job, job.artifacts), this.deleteBar(job));
    } else if (job.state === 'failed') {
      const error = job.error;
      this.body.replaceChildren(
        summary,
        h('p', { class: 'error', role: 'alert', 'data-testid': 'job-error' }, `The job failed. ${describeError(error?.code ?? 'internal', error?.message)}`),
        h('p', { class: 'muted small' }, error ? `Error code: ${error.code}. ` : '', `Stopped at: ${stageText(job.stage).toLowerCase()}.`),
        h('p', {}, h('a', { href: '#/' }, 'Back to the editor'), ' to change the clicks or choose another video.'),
        this.deleteBar(job),
      );
    } else {
      this.body.replaceChildren(
        summary,
        h('p', { class: 'notice', 'data-testid': 'job-error' }, job.error ? describeError(job.error.code, job.error.message) : 'The job was cancelled.'),
        this.deleteBar(job),
      );
    }
  }

  private summary(job: api.JobStatus): HTMLElement {
    const { width, height, frames, fps } = job.video;
    return h(
      'p',
      { class: 'job-summary' },
      h('span', { class: `badge state-${job.state}`, 'data-testid': 'job-state' }, stateText(job.state)),
      ' ',
      h('span', {}, `${job.objects} object${job.objects === 1 ? '' : 's'} · ${frames} frames · ${width}×${height} · ${Math.round(fps * 100) / 100} fps`),
      ' ',
      h('span', { class: 'muted' }, `created ${formatAgo(job.createdAt)}`),
    );
  }

  private updateRunning(job: api.JobStatus, parts: RunningParts): void {
    const { percent, framesDone, framesTotal, etaSeconds } = job.progress;
    parts.badge.textContent = stateText(job.state);
    parts.stage.textContent = job.attempts > 1 ? `${stageText(job.stage)} (try ${job.attempts})` : stageText(job.stage);
    setProgress(parts.progress, job.state === 'queued' ? null : percent / 100, `${Math.round(percent)}%`);
    const eta = formatEta(etaSeconds);
    parts.numbers.textContent =
      job.state === 'queued'
        ? 'Waiting for a worker…'
        : `${framesDone} of ${framesTotal || job.video.frames} frames · ${Math.round(percent)}%${eta ? ` · ${eta} left` : ''}`;
  }

  private result(job: api.JobStatus, artifacts: NonNullable<api.JobStatus['artifacts']>): HTMLElement[] {
    const video = h('video', {
      class: 'result-video',
      src: artifacts.overlay,
      controls: true,
      muted: true,
      autoplay: true,
      loop: true,
      playsinline: true,
      preload: 'auto',
      'data-testid': 'result-video',
    });
    video.muted = true; // the attribute alone is not the property
    const base = `clipmask-${shortId(job.id)}`;
    const link = (href: string, file: string, what: string, testid: string) =>
      h('li', {}, h('a', { class: 'button', href, download: `${base}-${file}`, 'data-testid': testid }, `Download ${file}`), ' ', h('span', { class: 'muted' }, what));
    return [
      h('p', { class: 'success' }, 'Done. The video below shows every object in its colour; the downloads hold the masks.'),
      h('div', { class: 'result-frame' }, video),
      h(
        'ul',
        { class: 'downloads', 'data-testid': 'downloads' },
        link(artifacts.overlay, 'overlay.mp4', 'the video with the masks painted on', 'download-overlay'),
        link(artifacts.masks, 'masks.json', 'per frame and object: COCO RLE mask, box, area', 'download-masks'),
        link(artifacts.pngZip, 'masks.zip', 'one PNG per frame, pixel value = object id', 'download-zip'),
      ),
    ];
  }

  private deleteBar(job: api.JobStatus): HTMLElement {
    const button = h('button', { class: 'button subtle danger', type: 'button', 'data-testid': 'delete-job' }, 'Delete this job');
    button.addEventListener('click', () => void this.remove(job.id, true));
    return h('div', { class: 'toolbar' }, button);
  }

  /** Cancels (running) or deletes (finished) the job. */
  private async remove(id: string, finished: boolean): Promise<void> {
    const question = finished ? 'Delete this job and its results?' : 'Cancel this job?';
    if (!window.confirm(question)) return;
    try {
      const after = await api.deleteJob(id);
      this.options.onChanged();
      if (after === null) this.options.onDeleted();
      else if (id === this.id) {
        this.stop();
        this.render(after);
      }
    } catch (error) {
      const text = error instanceof api.ApiError ? describeError(error.code, error.message) : describeError('internal');
      this.body.prepend(h('p', { class: 'error poll-error', role: 'alert' }, text));
    }
  }
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}
