/**
 * Recent jobs (GET /v1/jobs), newest first, each a link to its page.
 * Refreshes itself every few seconds while a listed job is still going.
 *
 * Hooks: #jobs-list li[data-job-id][data-state].
 */
import * as api from './api.js';
import { byId, h } from './dom.js';
import { describeError, formatAgo, stateText } from './format.js';
import { shortId } from './job-view.js';

const PAGE = 20;
const REFRESH_MS = 4000;

export class JobsList {
  private readonly list = byId('jobs-list', HTMLUListElement);
  private readonly status = byId('jobs-status', HTMLElement);
  private readonly more = byId('more-jobs', HTMLButtonElement);
  private readonly refreshButton = byId('refresh-jobs', HTMLButtonElement);
  private jobs: api.JobStatus[] = [];
  private nextOffset: number | null = null;
  private current: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private seq = 0;

  constructor() {
    this.refreshButton.addEventListener('click', () => void this.refresh());
    this.more.addEventListener('click', () => void this.loadMore());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) void this.refresh();
    });
  }

  /** Reloads the first page (and as many more as are shown). */
  async refresh(): Promise<void> {
    clearTimeout(this.timer);
    const seq = ++this.seq;
    try {
      const page = await api.listJobs(Math.max(PAGE, Math.min(100, this.jobs.length)), 0);
      if (seq !== this.seq) return;
      this.jobs = page.jobs;
      this.nextOffset = page.nextOffset;
      this.status.textContent = page.total === 0 ? 'No jobs yet. Submitted jobs appear here.' : '';
      this.status.classList.remove('error');
      this.render();
      if (this.jobs.some((job) => !api.isTerminal(job.state)) && !document.hidden) {
        this.timer = setTimeout(() => void this.refresh(), REFRESH_MS);
      }
    } catch (error) {
      if (seq !== this.seq) return;
      this.status.textContent = `The list of jobs could not be loaded. ${error instanceof api.ApiError ? describeError(error.code, error.message) : ''}`;
      this.status.classList.add('error');
    }
  }

  private async loadMore(): Promise<void> {
    if (this.nextOffset === null) return;
    try {
      const page = await api.listJobs(PAGE, this.nextOffset);
      const known = new Set(this.jobs.map((job) => job.id));
      this.jobs.push(...page.jobs.filter((job) => !known.has(job.id)));
      this.nextOffset = page.nextOffset;
      this.render();
    } catch (error) {
      this.status.textContent = error instanceof api.ApiError ? describeError(error.code, error.message) : describeError('internal');
      this.status.classList.add('error');
    }
  }

  /** Marks the job whose page is shown. */
  setCurrent(id: string | undefined): void {
    this.current = id;
    this.render();
  }

  private render(): void {
    const now = Date.now();
    this.list.replaceChildren(
      ...this.jobs.map((job) => {
        const going = job.state === 'running' ? ` ${Math.round(job.progress.percent)}%` : '';
        const link = h(
          'a',
          { class: 'job-link', href: `#/jobs/${encodeURIComponent(job.id)}`, 'aria-current': job.id === this.current ? 'page' : null },
          h('span', { class: `badge state-${job.state}` }, `${stateText(job.state)}${going}`),
          h('span', { class: 'job-name' }, `Job ${shortId(job.id)}`),
          h('span', { class: 'job-meta muted' }, `${job.objects} object${job.objects === 1 ? '' : 's'} · ${job.video.frames} frames · ${formatAgo(job.createdAt, now)}`),
        );
        return h('li', { 'data-job-id': job.id, 'data-state': job.state }, link);
      }),
    );
    this.more.hidden = this.nextOffset === null;
  }
}
