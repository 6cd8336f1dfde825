/**
 * The editor view: choose a video, prompt on a frame, watch the preview
 * masks, submit. State lives in `History` (clicks), `MaskPreviewer` (masks)
 * and the few fields below; `render()` brings the DOM in line with them.
 *
 * Hooks for tests and scripts (data attributes, never timing):
 *   #editor    data-state: empty | uploading | ready | error
 *   #stage     data-frame, data-frame-state (loading | ready | error),
 *              data-embedding-state (idle | pending | ready | error),
 *              data-preview-state (idle | pending | ready | error),
 *              data-mask-count, data-latency-ms (click to mask), data-server-ms
 *              data-server-embed-ms, data-server-decode-ms (the server's part
 *              of it), data-video-width/height
 *   #submit    data-state: idle | uploading
 */
import * as api from './api.js';
import { colourFor } from './colours.js';
import { byId, enterActivates, h, isTyping, setProgress } from './dom.js';
import { drawMarks, paintMasks, type MarksScene } from './draw.js';
import { describeError, formatBytes, formatClock } from './format.js';
import { boxFromDrag, clientToVideo, isDrag, type PointerDrag as Drag, moveCursor, type Box, type VideoPoint } from './geometry.js';
import { FrameLoader, FramePreparer, type PrepareState } from './frames.js';
import { ObjectsPanel, plural } from './objects-panel.js';
import { MaskPreviewer } from './preview.js';
import { SpeedPicker } from './speed.js';
import {
  History,
  activeObject,
  addObject,
  addPoint,
  buildPrompts,
  clearFrame,
  deleteObject,
  displayName,
  framePrompt,
  renameObject,
  selectObject,
  setBox,
  type Label,
  type PromptState,
} from './prompt-state.js';

interface Session {
  file: File;
  preview: api.Preview;
}

export interface EditorOptions {
  /** A job was accepted: show it. */
  onSubmitted(jobId: string): void;
}

export class Editor {
  private readonly root = byId('editor', HTMLElement);
  private readonly dropzone = byId('dropzone', HTMLElement);
  private readonly fileInput = byId('file-input', HTMLInputElement);
  private readonly uploadProgress = byId('upload-progress', HTMLElement);
  private readonly uploadStatus = byId('upload-status', HTMLElement);
  private readonly workspace = byId('workspace', HTMLElement);
  private readonly fileName = byId('file-name', HTMLElement);
  private readonly videoMeta = byId('video-meta', HTMLElement);
  private readonly stage = byId('stage', HTMLElement);
  private readonly frameLayer = byId('frame-layer', HTMLCanvasElement);
  private readonly maskLayer = byId('mask-layer', HTMLCanvasElement);
  private readonly marksLayer = byId('marks-layer', HTMLCanvasElement);
  private readonly stageStatus = byId('stage-status', HTMLElement);
  private readonly slider = byId('frame-slider', HTMLInputElement);
  private readonly prevFrame = byId('prev-frame', HTMLButtonElement);
  private readonly nextFrame = byId('next-frame', HTMLButtonElement);
  private readonly frameLabel = byId('frame-label', HTMLOutputElement);
  private readonly previewStatus = byId('preview-status', HTMLElement);
  private readonly modeObject = byId('mode-object', HTMLButtonElement);
  private readonly modeBackground = byId('mode-background', HTMLButtonElement);
  private readonly addObjectButton = byId('add-object', HTMLButtonElement);
  private readonly undoButton = byId('undo', HTMLButtonElement);
  private readonly redoButton = byId('redo', HTMLButtonElement);
  private readonly clearButton = byId('clear', HTMLButtonElement);
  private readonly speed = new SpeedPicker(byId('speed-picker', HTMLFieldSetElement));
  private readonly submitButton = byId('submit', HTMLButtonElement);
  private readonly submitProgress = byId('submit-progress', HTMLElement);
  private readonly errorBox = byId('editor-error', HTMLElement);
  private readonly changeVideo = byId('change-video', HTMLButtonElement);

  private readonly history = new History();
  private readonly previewer: MaskPreviewer;
  private readonly objects: ObjectsPanel;
  private session: Session | undefined;
  private loader: FrameLoader | undefined;
  private preparer: FramePreparer | undefined;
  private uploadController: AbortController | undefined;
  private submitController: AbortController | undefined;
  private frame = 0;
  private frameReady = false;
  private embeddingState: PrepareState = 'idle';
  private mode: Label = 1;
  private drag: Drag | undefined;
  private cursor: VideoPoint | undefined;
  /** The cross-hair shows for keyboard use only, not after a mouse click. */
  private cursorShown = false;
  private expired = false;

  constructor(private readonly options: EditorOptions) {
    this.previewer = new MaskPreviewer(
      (request, signal) => {
        if (!this.session) return Promise.reject(new DOMException('no video', 'AbortError'));
        return api.previewMask(this.session.preview.id, request, signal);
      },
      () => this.renderPreview(),
    );
    this.objects = new ObjectsPanel(byId('objects', HTMLUListElement), {
      select: (id) => this.select(id),
      rename: (id, name) => this.change(renameObject(this.state, id, name), `rename-${id}`),
      remove: (id) => this.change(deleteObject(this.state, id)),
      done: () => this.stage.focus(),
    });
    this.bind();
    this.render();
  }

  /** Whether the view is on screen (shortcuts only act then). */
  visible = true;

  // -------------------------------------------------------------------------
  // Events

  private bind(): void {
    this.fileInput.addEventListener('change', () => {
      const file = this.fileInput.files?.[0];
      if (file) void this.loadFile(file);
      this.fileInput.value = ''; // choosing the same file again still fires change
    });

    // Drag and drop: on the drop zone or anywhere in the editor; never let the browser open the file.
    for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (event) => event.preventDefault());
    this.root.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types.includes('Files')) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      this.root.classList.add('dragging');
    });
    this.root.addEventListener('dragleave', (event) => {
      if (!this.root.contains(event.relatedTarget as Node | null)) this.root.classList.remove('dragging');
    });
    this.root.addEventListener('drop', (event) => {
      event.preventDefault();
      this.root.classList.remove('dragging');
      const file = event.dataTransfer?.files[0];
      if (file) void this.loadFile(file);
    });

    this.stage.addEventListener('contextmenu', (event) => event.preventDefault());
    this.stage.addEventListener('pointerdown', (event) => this.onPointerDown(event));
    this.stage.addEventListener('pointermove', (event) => this.onPointerMove(event));
    this.stage.addEventListener('pointerup', (event) => this.onPointerUp(event));
    this.stage.addEventListener('pointercancel', () => this.cancelDrag());
    this.stage.addEventListener('keydown', (event) => this.onStageKey(event));
    this.stage.addEventListener('focus', () => {
      if (this.session && !this.cursor) {
        const { width, height } = this.session.preview.video;
        this.cursor = { x: Math.floor(width / 2), y: Math.floor(height / 2) };
      }
      this.cursorShown = !this.drag && this.stage.matches(':focus-visible');
      this.renderMarks();
    });
    this.stage.addEventListener('blur', () => this.renderMarks());
    new ResizeObserver(() => this.renderMarks()).observe(this.stage);

    this.slider.addEventListener('input', () => this.showFrame(Number(this.slider.value)));
    this.prevFrame.addEventListener('click', () => this.stepFrame(-1));
    this.nextFrame.addEventListener('click', () => this.stepFrame(1));

    this.modeObject.addEventListener('click', () => this.setMode(1));
    this.modeBackground.addEventListener('click', () => this.setMode(0));
    this.addObjectButton.addEventListener('click', () => this.change(addObject(this.state)));
    this.undoButton.addEventListener('click', () => this.undo());
    this.redoButton.addEventListener('click', () => this.redo());
    this.clearButton.addEventListener('click', () => this.change(clearFrame(this.state, this.frame)));
    this.submitButton.addEventListener('click', () => void this.submit());
    this.changeVideo.addEventListener('click', () => this.fileInput.click());

    document.addEventListener('keydown', (event) => this.onKey(event));
    // Free the server's copy when the page goes away.
    window.addEventListener('pagehide', () => {
      if (this.session) api.deletePreview(this.session.preview.id, true);
    });
  }

  private get state(): PromptState {
    return this.history.state;
  }

  private onKey(event: KeyboardEvent): void {
    if (!this.visible || !this.session || event.defaultPrevented || isTyping(event.target)) return;
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key;
    if (ctrl && !event.altKey) {
      if (key.toLowerCase() === 'z') {
        event.preventDefault();
        if (event.shiftKey) this.redo();
        else this.undo();
      } else if (key.toLowerCase() === 'y') {
        event.preventDefault();
        this.redo();
      }
      return;
    }
    if (event.altKey || ctrl) return;
    if (/^[1-9]$/.test(key)) {
      const object = this.state.objects[Number(key) - 1];
      if (object) {
        event.preventDefault();
        this.select(object.id);
      }
    } else if (key === 'n' || key === 'N') {
      event.preventDefault();
      this.change(addObject(this.state));
    } else if (key === 'b' || key === 'B') {
      event.preventDefault();
      this.setMode(this.mode === 1 ? 0 : 1);
    } else if (key === 'Delete') {
      event.preventDefault();
      this.change(deleteObject(this.state, this.state.activeId));
    } else if (key === ',' || key === '<') {
      event.preventDefault();
      this.stepFrame(-1);
    } else if (key === '.' || key === '>') {
      event.preventDefault();
      this.stepFrame(1);
    } else if (key === 'Escape') {
      if (this.drag) {
        event.preventDefault();
        this.cancelDrag();
      }
    } else if (key === 'Enter' && !enterActivates(event.target)) {
      event.preventDefault();
      void this.submit();
    }
  }

  /** The frame has focus: arrows move the cross-hair, Space adds a point there. */
  private onStageKey(event: KeyboardEvent): void {
    if (!this.session || event.ctrlKey || event.metaKey || event.altKey) return;
    const step = event.shiftKey ? 10 : 1;
    const moves: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[event.key];
    const { width, height } = this.session.preview.video;
    const cursor = this.cursor ?? { x: Math.floor(width / 2), y: Math.floor(height / 2) };
    if (move || event.key === ' ') this.cursorShown = true;
    if (move) {
      event.preventDefault();
      this.cursor = moveCursor(cursor, move[0], move[1], { width, height });
      this.renderMarks();
    } else if (event.key === ' ') {
      event.preventDefault();
      this.cursor = cursor;
      this.addPointAt(cursor, event.shiftKey ? 0 : this.mode);
    }
  }

  private onPointerDown(event: PointerEvent): void {
    if (!this.session || !this.frameReady || (event.button !== 0 && event.button !== 2)) return;
    event.preventDefault();
    this.cursorShown = false;
    this.drag = { pointerId: event.pointerId, button: event.button, shift: event.shiftKey, start: { x: event.clientX, y: event.clientY }, moved: false, box: null };
    this.stage.focus({ preventScroll: true }); // after setting drag: focus by pointer shows no cross-hair
    this.stage.setPointerCapture(event.pointerId);
  }

  private onPointerMove(event: PointerEvent): void {
    const drag = this.drag;
    if (!drag || drag.pointerId !== event.pointerId || drag.button !== 0 || !this.session) return;
    const at = { x: event.clientX, y: event.clientY };
    if (!drag.moved && !isDrag(drag.start, at)) return;
    drag.moved = true;
    drag.box = boxFromDrag(drag.start, at, this.stage.getBoundingClientRect(), this.session.preview.video);
    this.renderMarks();
  }

  private onPointerUp(event: PointerEvent): void {
    const drag = this.drag;
    if (!drag || drag.pointerId !== event.pointerId || !this.session) return;
    this.drag = undefined;
    if (this.stage.hasPointerCapture(event.pointerId)) this.stage.releasePointerCapture(event.pointerId);
    if (drag.moved) {
      if (drag.box) this.change(setBox(this.state, this.frame, drag.box));
      else this.renderMarks();
      return;
    }
    const point = clientToVideo(drag.start.x, drag.start.y, this.stage.getBoundingClientRect(), this.session.preview.video);
    if (!point) return;
    this.cursor = point;
    this.addPointAt(point, drag.button === 2 || drag.shift ? 0 : this.mode);
  }

  private cancelDrag(): void {
    this.drag = undefined;
    this.renderMarks();
  }

  private addPointAt(point: VideoPoint, label: Label): void {
    const before = this.state;
    const next = addPoint(before, this.frame, { x: point.x, y: point.y, label });
    if (next === before) {
      this.showError(`A frame takes at most 64 points per object.`);
      return;
    }
    this.change(next);
  }

  // -------------------------------------------------------------------------
  // Changes

  private change(next: PromptState, coalesce?: string): void {
    if (!this.history.commit(next, coalesce)) return;
    this.afterChange();
  }

  private undo(): void {
    if (this.history.undo()) this.afterChange();
  }

  private redo(): void {
    if (this.history.redo()) this.afterChange();
  }

  private select(id: number): void {
    this.history.replace(selectObject(this.state, id));
    this.render();
  }

  private setMode(label: Label): void {
    this.mode = label;
    this.render();
  }

  private afterChange(): void {
    this.hideError();
    this.updatePreview();
    this.render();
  }

  private updatePreview(): void {
    if (!this.session) return;
    this.previewer.update(
      this.frame,
      this.state.objects.map((object) => ({ id: object.id, prompt: framePrompt(object, this.frame) })),
    );
  }

  // -------------------------------------------------------------------------
  // Video and frames

  async loadFile(file: File): Promise<void> {
    if (this.session && this.state.objects.some((o) => o.frames.size > 0)) {
      if (!window.confirm('Open another video? The points on this one will be lost.')) return;
    }
    this.uploadController?.abort();
    const controller = (this.uploadController = new AbortController());
    if (this.session) api.deletePreview(this.session.preview.id);
    this.session = undefined;
    this.closeSession();
    this.history.reset();
    this.expired = false;
    this.cursor = undefined;
    this.hideError();
    this.root.dataset.state = 'uploading';
    this.workspace.hidden = true;
    this.dropzone.hidden = false;
    this.uploadProgress.hidden = false;
    setProgress(this.uploadProgress, 0);
    this.uploadStatus.classList.remove('error');
    this.uploadStatus.textContent = `Uploading ${file.name} (${formatBytes(file.size)})…`;
    try {
      const preview = await api.createPreview(file, {
        signal: controller.signal,
        onProgress: (fraction) => {
          setProgress(this.uploadProgress, fraction);
          this.uploadStatus.textContent =
            fraction < 1 ? `Uploading ${file.name}: ${Math.round(fraction * 100)}%` : `Reading ${file.name} on the server…`;
        },
      });
      if (controller !== this.uploadController) return;
      this.session = { file, preview };
      this.uploadController = undefined;
      this.startSession();
    } catch (error) {
      if (api.isAbort(error) || controller !== this.uploadController) return;
      this.uploadController = undefined;
      this.root.dataset.state = 'error';
      this.uploadProgress.hidden = true;
      this.uploadStatus.classList.add('error');
      this.uploadStatus.textContent = `${file.name}: ${this.words(error)}`;
    }
  }

  /** Frame loading and preparing for the current preview session. */
  private openSession(): void {
    const preview = this.session!.preview;
    this.loader = new FrameLoader(
      preview.id,
      (frame, bitmap) => {
        if (frame === this.frame) this.drawFrame(bitmap);
      },
      (frame, error) => {
        if (frame !== this.frame) return;
        this.stage.dataset.frameState = 'error';
        this.stageStatus.textContent = 'This frame could not be loaded.';
        this.handleSessionError(error);
      },
    );
    this.preparer = new FramePreparer(preview.id, (frame, state, error) => {
      if (frame !== this.frame) return;
      this.setEmbeddingState(state);
      if (error) this.handleSessionError(error);
    });
  }

  private closeSession(): void {
    this.previewer.reset();
    this.loader?.dispose();
    this.preparer?.dispose();
    this.loader = undefined;
    this.preparer = undefined;
  }

  private setEmbeddingState(state: PrepareState): void {
    this.embeddingState = state;
    this.stage.dataset.embeddingState = state;
    this.renderPreview();
  }

  private startSession(): void {
    this.openSession();
    const { file, preview } = this.session!;
    const { width, height, frames, fps, duration } = preview.video;
    this.root.dataset.state = 'ready';
    this.uploadProgress.hidden = true;
    this.uploadStatus.textContent = '';
    this.dropzone.hidden = true;
    this.workspace.hidden = false;
    this.fileName.textContent = file.name;
    this.videoMeta.textContent = `${width}×${height}, ${frames} frame${frames === 1 ? '' : 's'}, ${fps.toFixed(fps % 1 ? 2 : 0)} fps, ${formatClock(duration)}`;
    for (const canvas of [this.frameLayer, this.maskLayer]) {
      canvas.width = width;
      canvas.height = height;
    }
    this.stage.dataset.videoWidth = String(width);
    this.stage.dataset.videoHeight = String(height);
    // The stage keeps the video's shape; a tall video is kept within the window's height.
    this.stage.style.setProperty('--aspect', `${width} / ${height}`);
    this.stage.style.maxWidth = `calc(75vh * ${width / height})`;
    this.slider.max = String(frames - 1);
    this.slider.disabled = frames <= 1;
    this.frame = -1;
    this.showFrame(0);
    this.stage.focus({ preventScroll: true });
  }

  private stepFrame(delta: number): void {
    if (!this.session) return;
    const next = Math.max(0, Math.min(this.session.preview.video.frames - 1, this.frame + delta));
    if (next !== this.frame) this.showFrame(next);
  }

  private showFrame(frame: number): void {
    if (!this.session || !this.loader || !this.preparer || frame === this.frame) return;
    this.frame = frame;
    this.slider.value = String(frame);
    this.updatePreview();
    const bitmap = this.loader.want(frame);
    if (bitmap) {
      this.drawFrame(bitmap);
    } else {
      this.frameReady = false;
      this.stage.dataset.frameState = 'loading';
      this.stageStatus.textContent = 'Loading the frame…';
    }
    this.setEmbeddingState(this.preparer.want(frame, frame === 0 && !bitmap));
    this.render();
  }

  private drawFrame(bitmap: ImageBitmap): void {
    const ctx = this.frameLayer.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0, this.frameLayer.width, this.frameLayer.height);
    this.frameReady = true;
    this.stage.dataset.frameState = 'ready';
    this.stageStatus.textContent = '';
    this.render();
  }

  /** A preview the server no longer has (expired or restarted): offer to upload the video again. */
  private handleSessionError(error: unknown): void {
    if (!(error instanceof api.ApiError) || error.status !== 404 || this.expired) return;
    this.expired = true;
    this.showError(describeError('preview_not_found'), { label: 'Upload the video again', action: () => void this.reconnect() });
  }

  private async reconnect(): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.expired = false;
    this.hideError();
    this.previewStatus.textContent = 'Uploading the video again…';
    try {
      const preview = await api.createPreview(session.file);
      if (this.session !== session) return;
      this.loader?.dispose();
      this.preparer?.dispose();
      this.session = { file: session.file, preview };
      this.openSession();
      const frame = this.frame;
      this.frame = -1;
      this.showFrame(frame);
      this.previewer.retry();
      this.renderPreview();
    } catch (error) {
      this.showError(this.words(error));
    }
  }

  // -------------------------------------------------------------------------
  // Submit

  async submit(): Promise<void> {
    const session = this.session;
    if (!session || this.submitController) return;
    const built = buildPrompts(this.state, this.speed.value);
    if (!built.ok) {
      if (built.objectId !== undefined) this.select(built.objectId);
      if (built.frame !== undefined) this.showFrame(built.frame);
      this.showError(built.message);
      return;
    }
    this.hideError();
    const controller = (this.submitController = new AbortController());
    this.submitButton.dataset.state = 'uploading';
    this.submitButton.textContent = 'Uploading…';
    this.submitProgress.hidden = false;
    setProgress(this.submitProgress, 0);
    this.render();
    try {
      const { id } = await api.submitJob(session.file, built.prompts, {
        signal: controller.signal,
        onProgress: (fraction) => setProgress(this.submitProgress, fraction),
      });
      this.options.onSubmitted(id);
    } catch (error) {
      if (!api.isAbort(error)) this.showError(this.words(error, 'The job was not accepted'));
    } finally {
      this.submitController = undefined;
      this.submitButton.dataset.state = 'idle';
      this.submitButton.textContent = 'Track objects';
      this.submitProgress.hidden = true;
      this.render();
    }
  }

  // -------------------------------------------------------------------------
  // Rendering

  private words(error: unknown, prefix?: string): string {
    const text = error instanceof api.ApiError ? describeError(error.code, error.message) : describeError('internal');
    return prefix ? `${prefix}: ${text.charAt(0).toLowerCase()}${text.slice(1)}` : text;
  }

  private showError(message: string, button?: { label: string; action: () => void }): void {
    this.errorBox.replaceChildren(message);
    if (button) {
      const action = h('button', { class: 'button', type: 'button' }, button.label);
      action.addEventListener('click', button.action);
      this.errorBox.append(' ', action);
    }
    this.errorBox.hidden = false;
  }

  private hideError(): void {
    if (this.expired) return; // that message stays until the video is uploaded again
    this.errorBox.hidden = true;
    this.errorBox.replaceChildren();
  }

  render(): void {
    const state = this.state;
    const session = this.session;
    const frames = session?.preview.video.frames ?? 1;
    this.frameLabel.textContent = session
      ? `Frame ${this.frame + 1} of ${frames} · ${formatClock(this.frame / (session.preview.video.fps || 1))}`
      : '';
    this.stage.dataset.frame = String(this.frame);
    this.prevFrame.disabled = !session || this.frame <= 0;
    this.nextFrame.disabled = !session || this.frame >= frames - 1;
    this.modeObject.setAttribute('aria-pressed', String(this.mode === 1));
    this.modeBackground.setAttribute('aria-pressed', String(this.mode === 0));
    this.stage.dataset.mode = this.mode === 1 ? 'object' : 'background';
    this.undoButton.disabled = !this.history.canUndo;
    this.redoButton.disabled = !this.history.canRedo;
    this.clearButton.disabled = !activeObject(state).frames.has(this.frame);
    this.submitButton.disabled = !session || this.submitController !== undefined;
    this.objects.render(state, this.frame);
    this.renderMarks();
    this.renderPreview();
  }

  private renderMarks(): void {
    const session = this.session;
    const canvas = this.marksLayer;
    const ratio = window.devicePixelRatio || 1;
    const cssWidth = this.stage.clientWidth;
    const cssHeight = this.stage.clientHeight;
    const width = Math.max(1, Math.round(cssWidth * ratio));
    const height = Math.max(1, Math.round(cssHeight * ratio));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    if (!session) {
      ctx.clearRect(0, 0, width, height);
      return;
    }
    const scale = width / session.preview.video.width;
    const state = this.state;
    const scene: MarksScene = {
      objects: state.objects.map((object) => ({ colour: colourFor(object.id), prompt: framePrompt(object, this.frame), active: object.id === state.activeId })),
      draft: this.drag?.box ? { box: this.drag.box, colour: colourFor(state.activeId) } : undefined,
      cursor: document.activeElement === this.stage && this.cursorShown && this.cursor && !this.drag ? this.cursor : undefined,
    };
    drawMarks(ctx, scale, ratio, scene);
  }

  /** The mask layer and the preview's status line. */
  private renderPreview(): void {
    const session = this.session;
    if (!session) {
      this.stage.dataset.previewState = 'idle';
      return;
    }
    const { width, height } = session.preview.video;
    const ids = this.state.objects.map((o) => o.id);
    const masks = this.previewer.masks(this.frame, ids);
    const ctx = this.maskLayer.getContext('2d')!;
    const image = ctx.createImageData(width, height);
    paintMasks(image.data, width, height, masks.map((m) => ({ mask: m.mask, colour: colourFor(m.id) })));
    ctx.putImageData(image, 0, 0);

    const status = this.previewer.status(this.frame, ids);
    this.stage.dataset.previewState = status;
    this.stage.dataset.maskCount = String(masks.length);
    const latency = this.previewer.lastLatency;
    if (latency) {
      this.stage.dataset.latencyMs = String(Math.round(latency.ms));
      this.stage.dataset.serverMs = String(Math.round(latency.server.totalMs));
      this.stage.dataset.serverEmbedMs = String(Math.round(latency.server.embedMs));
      this.stage.dataset.serverDecodeMs = String(Math.round(latency.server.decodeMs));
    }
    this.stage.classList.toggle('busy', status === 'pending');

    let text = '';
    if (status === 'error') {
      const error = this.previewer.error(this.frame, ids);
      text = `The preview failed: ${this.words(error)}`;
      this.handleSessionError(error);
    } else if (status === 'pending') {
      text = this.embeddingState === 'pending' ? 'Preparing this frame and computing the mask…' : 'Computing the mask…';
    } else if (status === 'ready') {
      const active = masks.find((m) => m.id === this.state.activeId);
      const name = displayName(activeObject(this.state));
      text = active
        ? `${capitalize(name)}: ${active.area.toLocaleString()} px, quality ${Math.round(active.score * 100)}%${latency ? `, shown ${Math.round(latency.ms)} ms after the click` : ''}.`
        : `${plural(masks.length, 'mask')} on this frame.`;
    } else if (this.embeddingState === 'pending') {
      text = 'Preparing this frame for clicks…';
    } else if (this.frameReady) {
      text = this.frame === 0 && !this.state.objects.some((o) => o.frames.size > 0) ? 'Click the object you want to track.' : '';
    }
    if (this.previewStatus.textContent !== text) this.previewStatus.textContent = text;
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
