/**
 * A job's frames with their masks: while the job runs, the newest tracked
 * frame (refreshed on every status), then any frame via the slider. Marks
 * for a correction are drawn over it (draw.ts, as in the editor), and
 * clicks and drags on it are handed to the correction panel.
 *
 * Hooks: [data-testid=live-stage] data-frame (the frame wanted),
 * data-frame-state (waiting | loading | ready | error), data-image-frame
 * and data-image-revision (what the image shows), data-follow;
 * <img data-testid=live-frame>; [data-testid=frame-slider] (in #job-view).
 */
import * as api from './api.js';
import { colourFor, cssColour } from './colours.js';
import { changedRangeMarks } from './correction.js';
import { h, isTyping } from './dom.js';
import { drawMarks, type MarksScene } from './draw.js';
import { describeError } from './format.js';
import { boxFromDrag, clientToVideo, isDrag, type PointerDrag as Drag, type Box, type VideoPoint } from './geometry.js';
import { frameKey, JobFrameLoader, type FrameRequest } from './job-frames.js';
import { frameIsFinal, initialScrub, isLive, scrubLabel, scrubOnSeek, scrubOnUpdate, viewableFrames, type Scrub } from './scrub.js';

export interface FrameViewerOptions {
  /** A click on the frame: `background` from Shift, the right button or the panel's tool. */
  onPoint(frame: number, point: VideoPoint, background: boolean): void;
  onBox(frame: number, box: Box): void;
  /** Another frame is shown: the panel's buttons act on it. */
  onFrameChange(frame: number): void;
  /** What to draw over the frame (the correction's marks on it). */
  marks(frame: number): MarksScene['objects'];
}

export class FrameViewer {
  readonly element: HTMLElement;
  private readonly stage = h('div', { class: 'stage live-stage', 'data-testid': 'live-stage', tabindex: 0, role: 'application', 'aria-roledescription': 'video frame', 'data-frame-state': 'waiting' });
  private readonly image = h('img', { class: 'layer', 'data-testid': 'live-frame', alt: '', draggable: 'false' });
  private readonly canvas = h('canvas', { class: 'layer', 'aria-hidden': 'true' });
  private readonly status = h('p', { class: 'stage-status', 'aria-live': 'polite' });
  private readonly slider = h('input', { type: 'range', min: 0, max: 0, step: 1, value: 0, 'data-testid': 'frame-slider', 'aria-label': 'Frame', disabled: true });
  private readonly track = h('div', { class: 'changed-track', 'data-testid': 'changed-track', 'aria-hidden': 'true' });
  private readonly prev = h('button', { class: 'button icon', type: 'button', 'aria-label': 'Previous frame', title: 'Previous frame (,)' }, '‹');
  private readonly next = h('button', { class: 'button icon', type: 'button', 'aria-label': 'Next frame', title: 'Next frame (.)' }, '›');
  private readonly label = h('output', { class: 'frame-label', 'data-testid': 'job-frame-label' });
  private readonly follow = h('button', { class: 'button toggle', type: 'button', 'aria-pressed': 'true', 'data-testid': 'follow-live', hidden: true }, 'Follow the newest frame');
  private readonly masksToggle = h('input', { type: 'checkbox', checked: true, 'data-testid': 'overlay-toggle' });
  private readonly loader: JobFrameLoader;
  private readonly resize = new ResizeObserver(() => this.drawMarks());
  private job: api.JobStatus | undefined;
  private scrub: Scrub = initialScrub;
  private shown: { url: string; key: string; blob: Blob } | undefined;
  private loading: { url: string; key: string; blob: Blob; request: FrameRequest } | undefined;
  private drag: Drag | undefined;
  private marking = false;

  constructor(
    jobId: string,
    private readonly options: FrameViewerOptions,
  ) {
    this.loader = new JobFrameLoader(jobId, (request, blob) => this.showBlob(request, blob), (request, error) => this.showError(request, error));
    this.stage.append(this.image, this.canvas, this.status);
    const slider = h('div', { class: 'slider-wrap' }, this.slider, this.track);
    this.element = h(
      'div',
      { class: 'viewer', 'data-testid': 'frame-viewer' },
      this.stage,
      h('div', { class: 'scrubber' }, this.prev, slider, this.next, this.label),
      h('div', { class: 'toolbar viewer-options' }, this.follow, h('label', { class: 'check' }, this.masksToggle, ' Show the masks')),
    );
    this.bind();
  }

  /** Clicks and drags make marks only when the panel takes them (and only then the frame keeps touches from scrolling). */
  set editable(value: boolean) {
    this.marking = value;
    this.stage.dataset.editable = String(value);
  }

  get editable(): boolean {
    return this.marking;
  }

  /** The frame shown (-1: none yet). */
  get frame(): number {
    return this.scrub.frame;
  }

  private bind(): void {
    this.slider.addEventListener('input', () => this.seek(Number(this.slider.value)));
    this.prev.addEventListener('click', () => this.step(-1));
    this.next.addEventListener('click', () => this.step(1));
    this.follow.addEventListener('click', () => this.followNewest());
    this.masksToggle.addEventListener('change', () => this.want(true));
    this.image.addEventListener('load', () => this.imageLoaded());
    this.image.addEventListener('error', () => this.imageFailed());
    this.stage.addEventListener('contextmenu', (event) => event.preventDefault());
    this.stage.addEventListener('pointerdown', (event) => this.onPointerDown(event));
    this.stage.addEventListener('pointermove', (event) => this.onPointerMove(event));
    this.stage.addEventListener('pointerup', (event) => this.onPointerUp(event));
    this.stage.addEventListener('pointercancel', () => this.cancelDrag());
    this.stage.addEventListener('keydown', (event) => this.onStageKey(event));
    this.resize.observe(this.stage);
  }

  dispose(): void {
    this.loader.dispose();
    this.resize.disconnect();
    if (this.shown) URL.revokeObjectURL(this.shown.url);
    if (this.loading) URL.revokeObjectURL(this.loading.url);
    this.shown = this.loading = undefined;
  }

  /** A new status: the slider's range, following the newest frame, refetching a frame a correction repaints. */
  update(job: api.JobStatus): void {
    const first = !this.job;
    const revisionChanged = this.job !== undefined && this.job.revision !== job.revision;
    this.job = job;
    if (first) this.setVideo(job.video);
    const viewable = viewableFrames(job);
    const live = isLive(job);
    const before = this.scrub;
    this.scrub = scrubOnUpdate(this.scrub, viewable, live);
    this.renderControls(viewable, live);
    // A correction repaints frames under one revision number: fetch the shown frame again on every status.
    const repainting = job.state !== 'succeeded' && !frameIsFinal(job, this.scrub.frame);
    // A frame that failed to load is tried again with the next status (the server may have been restarting).
    const failed = this.stage.dataset.frameState === 'error';
    if (this.scrub.frame !== before.frame || revisionChanged || first || repainting || failed) this.want(repainting || failed);
    if (this.scrub.frame !== before.frame) this.options.onFrameChange(this.scrub.frame);
  }

  private setVideo(video: api.VideoInfo): void {
    this.stage.style.setProperty('--aspect', `${video.width} / ${video.height}`);
    // A tall video stays within the window's height.
    this.stage.style.maxWidth = `calc(65vh * ${video.width / video.height})`;
  }

  /** Shows `frame` (the user moved the slider or stepped). */
  seek(frame: number): void {
    if (!this.job) return;
    const before = this.scrub.frame;
    this.scrub = scrubOnSeek(frame, viewableFrames(this.job), isLive(this.job));
    this.renderControls(viewableFrames(this.job), isLive(this.job));
    if (this.scrub.frame !== before) {
      this.want(false);
      this.options.onFrameChange(this.scrub.frame);
    }
  }

  step(delta: number): void {
    if (this.scrub.frame >= 0) this.seek(this.scrub.frame + delta);
  }

  private followNewest(): void {
    if (!this.job) return;
    this.seek(viewableFrames(this.job) - 1);
  }

  /** Fetches the shown frame again (after a correction, the revision is new). */
  reload(): void {
    this.want(true);
  }

  /** Marks the frames the newest correction re-tracked under the slider, a row per object in its colour. */
  showChanged(summary: api.JobStatus['lastCorrection'], frames: number): void {
    const marks = changedRangeMarks(summary, frames);
    // CSSOM, not style attributes: the page's CSP allows no inline styles.
    this.track.style.setProperty('--rows', String(Math.max(0, ...marks.map((m) => m.row + 1))));
    this.track.replaceChildren(
      ...marks.map((mark) => {
        const span = h('span', { class: 'changed-range', title: `Object ${mark.objectId} re-tracked` });
        span.style.left = `${mark.left}%`;
        span.style.width = `${mark.width}%`;
        span.style.setProperty('--row', String(mark.row));
        span.style.setProperty('--colour', cssColour(colourFor(mark.objectId)));
        return span;
      }),
    );
  }

  private renderControls(viewable: number, live: boolean): void {
    const job = this.job!;
    const max = Math.max(0, viewable - 1);
    if (this.slider.max !== String(max)) this.slider.max = String(max);
    this.slider.disabled = viewable <= 1;
    if (this.scrub.frame >= 0 && this.slider.value !== String(this.scrub.frame)) this.slider.value = String(this.scrub.frame);
    this.slider.setAttribute('aria-valuetext', scrubLabel(this.scrub, viewable, job.video.frames, live));
    this.label.textContent = scrubLabel(this.scrub, viewable, job.video.frames, live);
    this.prev.disabled = this.scrub.frame <= 0;
    this.next.disabled = this.scrub.frame < 0 || this.scrub.frame >= viewable - 1;
    this.follow.hidden = !live;
    this.follow.setAttribute('aria-pressed', String(this.scrub.follow));
    this.stage.dataset.follow = String(live && this.scrub.follow);
    this.stage.dataset.frame = String(this.scrub.frame);
    if (this.scrub.frame < 0) {
      this.stage.dataset.frameState = 'waiting';
      this.status.textContent = live ? 'Waiting for the first tracked frame…' : '';
    }
  }

  private request(): FrameRequest | undefined {
    const job = this.job;
    if (!job || this.scrub.frame < 0) return undefined;
    const frame = this.scrub.frame;
    return { frame, overlay: this.masksToggle.checked, revision: job.revision, final: frameIsFinal(job, frame) };
  }

  private want(again: boolean): void {
    const request = this.request();
    if (!request) return;
    if (this.shown?.key !== frameKey(request)) {
      this.stage.dataset.frameState = 'loading';
      if (!this.shown) this.status.textContent = 'Loading the frame…';
    }
    this.loader.want(request, again);
  }

  private showBlob(request: FrameRequest, blob: Blob): void {
    const key = frameKey(request);
    if (this.shown?.key === key && this.shown.blob === blob) {
      this.stage.dataset.frameState = 'ready';
      return;
    }
    if (this.loading) URL.revokeObjectURL(this.loading.url);
    this.loading = { url: URL.createObjectURL(blob), key, blob, request };
    this.image.src = this.loading.url;
  }

  /** The new image is decoded: it replaces the old one, whose URL can go. */
  private imageLoaded(): void {
    const loading = this.loading;
    if (!loading || this.image.src !== loading.url) return;
    if (this.shown && this.shown.url !== loading.url) URL.revokeObjectURL(this.shown.url);
    this.shown = { url: loading.url, key: loading.key, blob: loading.blob };
    this.loading = undefined;
    const { frame, revision, overlay } = loading.request;
    this.image.alt = `Frame ${frame + 1}${overlay ? ' with the masks' : ''}`;
    this.stage.dataset.imageFrame = String(frame);
    this.stage.dataset.imageRevision = String(revision);
    this.stage.dataset.imageOverlay = String(overlay);
    const current = this.request();
    if (current && frameKey(current) === loading.key) {
      this.stage.dataset.frameState = 'ready';
      this.status.textContent = '';
    }
    this.drawMarks();
  }

  private imageFailed(): void {
    if (!this.loading) return;
    URL.revokeObjectURL(this.loading.url);
    this.loading = undefined;
    this.stage.dataset.frameState = 'error';
    this.status.textContent = 'This frame could not be shown.';
  }

  private showError(request: FrameRequest, error: unknown): void {
    if (request.frame !== this.scrub.frame) return;
    const notReady = error instanceof api.ApiError && error.code === 'frame_not_ready';
    this.stage.dataset.frameState = notReady ? 'waiting' : 'error';
    const words = error instanceof api.ApiError ? describeError(error.code, error.message) : describeError('internal');
    this.status.textContent = notReady ? 'This frame is not tracked yet.' : `This frame could not be loaded. ${words}`;
  }

  // -------------------------------------------------------------------------
  // Marks: clicks and drags on the frame

  private video(): api.VideoInfo | undefined {
    return this.job?.video;
  }

  private onPointerDown(event: PointerEvent): void {
    if (!this.editable || this.scrub.frame < 0 || (event.button !== 0 && event.button !== 2)) return;
    event.preventDefault();
    this.drag = { pointerId: event.pointerId, button: event.button, shift: event.shiftKey, start: { x: event.clientX, y: event.clientY }, moved: false, box: null };
    this.stage.focus({ preventScroll: true });
    this.stage.setPointerCapture(event.pointerId);
  }

  private onPointerMove(event: PointerEvent): void {
    const drag = this.drag;
    const video = this.video();
    if (!drag || drag.pointerId !== event.pointerId || drag.button !== 0 || !video) return;
    const at = { x: event.clientX, y: event.clientY };
    if (!drag.moved && !isDrag(drag.start, at)) return;
    drag.moved = true;
    drag.box = boxFromDrag(drag.start, at, this.stage.getBoundingClientRect(), video);
    this.drawMarks();
  }

  private onPointerUp(event: PointerEvent): void {
    const drag = this.drag;
    const video = this.video();
    if (!drag || drag.pointerId !== event.pointerId || !video) return;
    this.drag = undefined;
    if (this.stage.hasPointerCapture(event.pointerId)) this.stage.releasePointerCapture(event.pointerId);
    if (drag.moved) {
      if (drag.box) this.options.onBox(this.scrub.frame, drag.box);
      this.drawMarks();
      return;
    }
    const point = clientToVideo(drag.start.x, drag.start.y, this.stage.getBoundingClientRect(), video);
    if (point) this.options.onPoint(this.scrub.frame, point, drag.button === 2 || drag.shift);
  }

  private cancelDrag(): void {
    this.drag = undefined;
    this.drawMarks();
  }

  /** On the focused frame, Left and Right step through the frames, Escape drops a box being drawn. */
  private onStageKey(event: KeyboardEvent): void {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      event.preventDefault();
      this.step((event.key === 'ArrowLeft' ? -1 : 1) * (event.shiftKey ? 10 : 1));
    } else if (event.key === 'Escape' && this.drag) {
      event.preventDefault();
      this.cancelDrag();
    }
  }

  /** Redraws the correction's marks on this frame (and a box being dragged). */
  drawMarks(): void {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.stage.clientWidth * ratio));
    const height = Math.max(1, Math.round(this.stage.clientHeight * ratio));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext('2d');
    const video = this.video();
    if (!ctx) return;
    if (!video || this.scrub.frame < 0) {
      ctx.clearRect(0, 0, width, height);
      return;
    }
    const objects = this.options.marks(this.scrub.frame);
    const active = objects.find((o) => o.active);
    const draft = this.drag?.box && active ? { box: this.drag.box, colour: active.colour } : undefined;
    drawMarks(ctx, width / video.width, ratio, { objects, draft });
  }
}
