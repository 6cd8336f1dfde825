/**
 * One job: progress and the newest tracked frame while it runs; then the
 * overlay video, the downloads, every frame on a slider and a panel to
 * correct the tracking from any frame; or the error in plain words.
 *
 * Hooks: #job-view data-state (loading | queued | running | succeeded |
 * failed | cancelled | missing | error), data-job-id and data-revision.
 * The frame viewer and the correction panel list their own.
 */
import * as api from './api.js';
import { CorrectionPanel } from './correction-panel.js';
import { byId, h, isTyping } from './dom.js';
import { describeError, stageText } from './format.js';
import { ProgressPart, ResultPart, SummaryPart, shortId } from './job-parts.js';
import { FrameViewer } from './live-frame.js';
import { rendersPending } from './renders.js';
import { viewableFrames } from './scrub.js';

export { shortId };

/** Between statuses while the job runs: the live frame is refreshed at least once a second. */
const POLL_MS = 800;

export interface JobViewOptions {
  /** The job's state changed, or it was deleted: the list of jobs is out of date. */
  onChanged(): void;
  /** The job was deleted: leave its page. */
  onDeleted(): void;
}

/** The page of a job that is queued, running or has a result: built once, updated on every status. */
interface LiveParts {
  summary: SummaryPart;
  progress: ProgressPart;
  result: ResultPart;
  viewer: FrameViewer;
  panel: CorrectionPanel;
  workspace: HTMLElement;
  cancel: HTMLElement;
  remove: HTMLElement;
}

export class JobView {
  private readonly root = byId('job-view', HTMLElement);
  private readonly title = byId('job-title', HTMLElement);
  private readonly body = byId('job-body', HTMLElement);
  private id: string | undefined;
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private shownState: string | undefined;
  private shownRevision: number | undefined;
  private live: LiveParts | undefined;
  /** A correction was sent and is not done: keep polling even though the job looked finished. */
  private following = false;

  constructor(private readonly options: JobViewOptions) {
    document.addEventListener('keydown', (event) => this.onKey(event));
  }

  show(id: string): void {
    if (id === this.id && !this.root.hidden) return;
    this.stop();
    this.disposeLive();
    this.id = id;
    this.shownState = undefined;
    this.shownRevision = undefined;
    this.following = false;
    this.root.hidden = false;
    this.root.dataset.jobId = id;
    this.root.dataset.state = 'loading';
    delete this.root.dataset.revision;
    this.title.textContent = `Job ${shortId(id)}`;
    this.body.replaceChildren(h('p', { class: 'status' }, 'Loading…'));
    this.title.focus({ preventScroll: false });
    void this.poll();
  }

  hide(): void {
    this.stop();
    this.disposeLive();
    this.id = undefined;
    this.root.hidden = true;
    this.body.replaceChildren();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.controller?.abort();
    this.controller = undefined;
  }

  private disposeLive(): void {
    this.live?.result.stop(); // stop a playing result (and its downloads of the video)
    this.live?.viewer.dispose();
    this.live = undefined;
  }

  private async poll(): Promise<void> {
    const id = this.id;
    if (!id) return;
    const controller = (this.controller = new AbortController());
    try {
      const job = await api.getJob(id, controller.signal);
      if (id !== this.id) return;
      const changed = job.state !== this.shownState || job.revision !== this.shownRevision;
      this.render(job);
      if (changed) this.options.onChanged();
      // A finished job still changes while a render of it is queued or being made.
      if (!api.isTerminal(job.state) || this.following || rendersPending(job)) this.timer = setTimeout(() => void this.poll(), POLL_MS);
    } catch (error) {
      if (api.isAbort(error) || id !== this.id) return;
      if (error instanceof api.ApiError && error.status === 404) {
        this.disposeLive();
        this.setState('missing');
        this.body.replaceChildren(
          h('p', { class: 'error', role: 'alert', 'data-testid': 'job-error' }, 'There is no such job: it was deleted, or it finished long enough ago to be cleaned up.'),
        );
        return;
      }
      this.pollFailed(error);
    }
  }

  /** Keeps the last view and tries again: the server may be restarting. */
  private pollFailed(error: unknown): void {
    const text = error instanceof api.ApiError ? describeError(error.code, error.message) : describeError('internal');
    let notice = this.body.querySelector<HTMLElement>('.poll-error');
    if (!notice) {
      notice = h('p', { class: 'error poll-error', role: 'alert' });
      this.body.prepend(notice);
    }
    notice.textContent = `${text} Trying again…`;
    if (!this.shownState) this.setState('error');
    this.timer = setTimeout(() => void this.poll(), POLL_MS * 4);
  }

  /** The panel's correction was accepted: follow the job (again) until it is done. */
  private followCorrection(): void {
    this.following = true;
    this.stop();
    void this.poll();
  }

  /** A render was asked for: poll now; the status lists it queued, so polling goes on until it is made. */
  private followRenders(): void {
    this.stop();
    void this.poll();
  }

  private setState(state: string): void {
    this.shownState = state;
    this.root.dataset.state = state;
  }

  private render(job: api.JobStatus): void {
    this.body.querySelector('.poll-error')?.remove();
    this.shownRevision = job.revision;
    this.root.dataset.revision = String(job.revision);
    const hasResult = job.state === 'succeeded' && job.artifacts;
    if (job.state === 'queued' || job.state === 'running' || hasResult) {
      const live = this.live ?? this.buildLive(job);
      this.setState(job.state);
      this.updateLive(job, live);
      return;
    }
    this.following = false;
    if (job.state === this.shownState && !this.live) return;
    this.disposeLive();
    this.setState(job.state);
    this.body.replaceChildren(...this.finished(job));
  }

  private buildLive(job: api.JobStatus): LiveParts {
    const id = job.id;
    const viewer: FrameViewer = new FrameViewer(id, {
      onPoint: (frame, point, background) => panel.point(frame, point, background),
      onBox: (frame, box) => panel.box(frame, box),
      onFrameChange: () => panel.frameChanged(),
      marks: (frame) => panel.marks(frame),
    });
    const panel: CorrectionPanel = new CorrectionPanel(id, {
      frame: () => viewer.frame,
      onMarksChange: () => viewer.drawMarks(),
      onAccepted: () => this.followCorrection(),
      onObjectsChange: () => live.result.objectsChanged(),
    });
    const cancel = h('button', { class: 'button danger', type: 'button', 'data-testid': 'cancel-job' }, 'Cancel the job');
    cancel.addEventListener('click', () => void this.remove(id, false));
    const remove = this.deleteButton(job);
    const live: LiveParts = {
      summary: new SummaryPart(),
      progress: new ProgressPart(),
      result: new ResultPart(job, { onRenderAsked: () => this.followRenders(), objectIds: () => panel.objectIds }),
      viewer,
      panel,
      workspace: h('div', { class: 'job-workspace' }, viewer.element, panel.element),
      cancel,
      remove,
    };
    this.body.replaceChildren(live.summary.element, live.summary.warnings, live.progress.element, live.result.element, live.workspace, h('div', { class: 'toolbar' }, cancel, remove));
    this.live = live;
    return live;
  }

  private updateLive(job: api.JobStatus, live: LiveParts): void {
    live.progress.update(job);
    const viewable = viewableFrames(job);
    live.workspace.hidden = viewable === 0 && job.state !== 'running';
    // Nothing to correct before a first frame is tracked.
    live.panel.element.hidden = viewable === 0;
    live.viewer.update(job);
    const finished = live.panel.update(job);
    // After the panel: the render form ticks the objects the panel knows.
    live.result.update(job);
    live.summary.update(job, Math.max(job.objects, live.panel.objectCount));
    live.viewer.editable = live.panel.editable;
    live.viewer.showChanged(job.lastCorrection, Math.max(job.video.frames, viewable));
    if (finished) {
      this.following = false;
      live.viewer.reload();
    }
    // Cancelling is for the first run; a correction's job keeps its result, so it is not offered then.
    live.cancel.hidden = !(job.state === 'queued' || job.state === 'running') || job.artifacts !== undefined;
    live.remove.hidden = job.state !== 'succeeded';
  }

  /** A failed or cancelled job (or one without a result): what happened, in plain words. */
  private finished(job: api.JobStatus): HTMLElement[] {
    const summary = new SummaryPart();
    summary.update(job);
    const bar = h('div', { class: 'toolbar' }, this.deleteButton(job));
    if (job.state === 'failed') {
      const error = job.error;
      return [
        summary.element,
        summary.warnings,
        h('p', { class: 'error', role: 'alert', 'data-testid': 'job-error' }, `The job failed. ${describeError(error?.code ?? 'internal', error?.message)}`),
        h('p', { class: 'muted small' }, error ? `Error code: ${error.code}. ` : '', `Stopped at: ${stageText(job.stage).toLowerCase()}.`),
        h('p', {}, h('a', { href: '#/' }, 'Back to the editor'), ' to change the clicks or choose another video.'),
        bar,
      ];
    }
    const text = job.error ? describeError(job.error.code, job.error.message) : job.state === 'cancelled' ? 'The job was cancelled.' : 'The job has no result.';
    return [summary.element, summary.warnings, h('p', { class: 'notice', 'data-testid': 'job-error' }, text), bar];
  }

  private deleteButton(job: api.JobStatus): HTMLElement {
    const button = h('button', { class: 'button subtle danger', type: 'button', 'data-testid': 'delete-job' }, 'Delete this job');
    button.addEventListener('click', () => void this.remove(job.id, true));
    return button;
  }

  /** Shortcuts on a job's page: , and . step through the frames; the panel's own (1…9, N, B). */
  private onKey(event: KeyboardEvent): void {
    const live = this.live;
    if (!live || this.root.hidden || event.defaultPrevented || isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === ',' || event.key === '<' || event.key === '.' || event.key === '>') {
      event.preventDefault();
      live.viewer.step(event.key === ',' || event.key === '<' ? -1 : 1);
    } else if (live.panel.editable && live.panel.key(event)) {
      event.preventDefault();
    }
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
