/**
 * Frames of a preview session. `FrameLoader` fetches frame JPEGs one at a
 * time: while one loads, scrubbing only moves the wanted frame, and the
 * latest wanted frame is fetched next (no burst of requests). `FramePreparer`
 * asks the server to compute a frame's embedding once the user rests on it.
 */
import * as api from './api.js';

/** Decoded frames kept for scrubbing back and forth. */
const CACHE_SIZE = 24;

export class FrameLoader {
  private readonly cache = new Map<number, ImageBitmap>();
  private wanted: number | undefined;
  private inFlight: number | undefined;
  private disposed = false;

  constructor(
    private readonly previewId: string,
    private readonly onFrame: (frame: number, bitmap: ImageBitmap) => void,
    private readonly onError: (frame: number, error: unknown) => void,
  ) {}

  /** The frame if it is decoded already; otherwise it is fetched and `onFrame` follows. */
  want(frame: number): ImageBitmap | undefined {
    this.wanted = frame;
    const cached = this.cache.get(frame);
    if (cached) return cached;
    this.pump();
    return undefined;
  }

  dispose(): void {
    this.disposed = true;
    for (const bitmap of this.cache.values()) bitmap.close();
    this.cache.clear();
  }

  private pump(): void {
    const frame = this.wanted;
    if (this.inFlight !== undefined || frame === undefined || this.cache.has(frame) || this.disposed) return;
    this.inFlight = frame;
    api.loadFrame(this.previewId, frame).then(
      (bitmap) => {
        this.inFlight = undefined;
        if (this.disposed) return bitmap.close();
        this.cache.set(frame, bitmap);
        if (this.cache.size > CACHE_SIZE) {
          const oldest = this.cache.keys().next().value!;
          this.cache.get(oldest)!.close();
          this.cache.delete(oldest);
        }
        if (frame === this.wanted) this.onFrame(frame, bitmap);
        else this.pump();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        if (this.disposed) return;
        if (frame === this.wanted) this.onError(frame, error);
        else this.pump();
      },
    );
  }
}

export type PrepareState = 'idle' | 'pending' | 'ready' | 'error';

/** Scrubbing: a frame's embedding is asked for once the slider rests this long on it. */
const REST_MS = 250;

export class FramePreparer {
  private readonly ready = new Set<number>();
  private readonly requested = new Set<number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  constructor(
    private readonly previewId: string,
    /** The state of `frame` changed (only reported for the frame last asked for). */
    private readonly onState: (frame: number, state: PrepareState, error?: unknown) => void,
  ) {}

  private current: number | undefined;

  /** The frame shown now; `immediately` skips the wait (the first frame). */
  want(frame: number, immediately = false): PrepareState {
    this.current = frame;
    clearTimeout(this.timer);
    if (this.ready.has(frame)) return 'ready';
    if (!this.requested.has(frame)) this.timer = setTimeout(() => this.request(frame), immediately ? 0 : REST_MS);
    return 'pending';
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
  }

  private request(frame: number): void {
    this.requested.add(frame);
    api.prepareFrame(this.previewId, frame).then(
      () => {
        this.ready.add(frame);
        if (!this.disposed && frame === this.current) this.onState(frame, 'ready');
      },
      (error: unknown) => {
        this.requested.delete(frame);
        if (!this.disposed && frame === this.current) this.onState(frame, 'error', error);
      },
    );
  }
}
