/**
 * A job's frame images (GET /v1/jobs/:id/frames/:n.jpg, with or without the
 * masks painted on), fetched one at a time: while one loads, scrubbing only
 * moves the wanted frame, and the latest wanted one is fetched next, so
 * dragging the slider does not queue a burst of requests on the server.
 * Final frames are kept (a few dozen JPEG blobs) for scrubbing back.
 */
import * as api from './api.js';

export interface FrameRequest {
  frame: number;
  overlay: boolean;
  revision: number;
  /** Its masks will not change under this revision: keep it, and let the browser cache it. */
  final: boolean;
}

const KEEP = 48;

export function frameKey(request: Pick<FrameRequest, 'frame' | 'overlay' | 'revision'>): string {
  return `${request.frame}:${request.overlay ? 'masks' : 'plain'}:${request.revision}`;
}

export class JobFrameLoader {
  private readonly kept = new Map<string, Blob>();
  private readonly controller = new AbortController();
  private wanted: FrameRequest | undefined;
  /** The wanted frame has not been delivered yet. */
  private pending = false;
  private inFlight: string | undefined;

  constructor(
    private readonly jobId: string,
    private readonly onFrame: (request: FrameRequest, blob: Blob) => void,
    private readonly onError: (request: FrameRequest, error: unknown) => void,
    /** The fetch; a test hands in its own. */
    private readonly load: typeof api.loadJobFrame = api.loadJobFrame,
  ) {}

  /**
   * Wants a frame: a kept one is delivered at once, else it is fetched (after
   * the one in flight). `again`: fetch a frame that is not final even if it
   * was delivered before (a correction is repainting it).
   */
  want(request: FrameRequest, again = false): void {
    const key = frameKey(request);
    const same = this.wanted !== undefined && frameKey(this.wanted) === key;
    this.wanted = request;
    const kept = this.kept.get(key);
    if (kept) {
      this.pending = false;
      this.touch(key, kept);
      this.onFrame(request, kept);
      return;
    }
    if (same && !this.pending && !again) return;
    this.pending = true;
    this.pump();
  }

  dispose(): void {
    this.controller.abort();
    this.kept.clear();
    this.wanted = undefined;
  }

  private touch(key: string, blob: Blob): void {
    // Map order is insertion order: re-inserting makes it the newest.
    this.kept.delete(key);
    this.kept.set(key, blob);
    while (this.kept.size > KEEP) this.kept.delete(this.kept.keys().next().value!);
  }

  private pump(): void {
    const request = this.wanted;
    if (this.inFlight !== undefined || !request || !this.pending || this.controller.signal.aborted) return;
    const key = (this.inFlight = frameKey(request));
    const { frame, overlay, revision, final } = request;
    this.load(this.jobId, frame, { overlay, revision, fresh: !final, signal: this.controller.signal }).then(
      (blob) => {
        this.inFlight = undefined;
        if (this.controller.signal.aborted) return;
        if (final) this.touch(key, blob);
        if (this.isWanted(key)) {
          this.pending = false;
          this.onFrame(request, blob);
        } else this.pump();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        if (this.controller.signal.aborted || api.isAbort(error)) return;
        if (this.isWanted(key)) {
          this.pending = false;
          this.onError(request, error);
        } else this.pump();
      },
    );
  }

  /** Still waited for: the user has not moved on to another frame meanwhile. */
  private isWanted(key: string): boolean {
    return this.pending && this.wanted !== undefined && frameKey(this.wanted) === key;
  }
}
