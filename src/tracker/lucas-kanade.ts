/**
 * Pyramidal Lucas-Kanade point tracker with a forward-backward consistency check, on opencv.js.
 *
 * Per step:  prev gray --LK--> next gray   (forward,  prevPts -> nextPts)
 *            next gray --LK--> prev gray   (backward, nextPts -> backPts)
 * A point stays visible iff both passes report success, |backPts - prevPts| < fbThreshold, and
 * nextPts lies inside the frame. LK has no way to re-acquire a point after it is lost, so a point
 * that becomes invisible keeps its last confident position and is not tracked any further (it is
 * not fed to OpenCV, which also saves time). Re-acquisition is the caller's job: SAM-PT re-samples
 * query points from the predicted mask and calls `init` again.
 *
 * Memory: every native Mat is allocated once (per frame size / point count) and reused across
 * steps; `dispose()` frees them. Nothing is allocated on the wasm heap per step except OpenCV's
 * internal pyramids, which it frees itself.
 */
import type { RgbFrame } from '../types.js';
import { getCv, loadOpenCv, type OpenCv } from './opencv.js';
import {
  DEFAULT_LUCAS_KANADE_OPTIONS,
  type LucasKanadeOptions,
  type PointTracker,
  type TrackStep,
} from './types.js';

type Mat = InstanceType<OpenCv['Mat']>;

/** The native buffers of one frame size. */
interface FrameBuffers {
  width: number;
  height: number;
  /** CV_8UC3, height x width: the frame's RGB bytes copied in for cvtColor. */
  rgb: Mat;
  /** CV_8UC1, the previous frame in grayscale (what the points' positions refer to). */
  prevGray: Mat;
  /** CV_8UC1, the frame being tracked into; swapped with prevGray after each step. */
  nextGray: Mat;
}

/** The native buffers of one tracking pass; OpenCV (re)allocates the outputs as needed. */
interface PointBuffers {
  /** CV_32FC2, active x 1: positions on the previous frame (input). Rebuilt when `active` changes. */
  prevPts: Mat;
  /** CV_32FC2, active x 1: forward-tracked positions on the next frame. */
  nextPts: Mat;
  /** CV_32FC2, active x 1: nextPts tracked back onto the previous frame. */
  backPts: Mat;
  /** CV_8UC1, active x 1: 1 = OpenCV found the point (forward / backward). */
  forwardStatus: Mat;
  backwardStatus: Mat;
  /** CV_32FC1, active x 1: OpenCV's patch error; unused but a required output. */
  forwardError: Mat;
  backwardError: Mat;
}

export class LucasKanadeTracker implements PointTracker {
  private readonly cv: OpenCv;
  private readonly options: Readonly<LucasKanadeOptions>;
  private frames: FrameBuffers | undefined;
  private points: PointBuffers;
  /** Rows currently allocated in `points.prevPts` (= number of active points last step). */
  private pointRows = 0;
  /** x0, y0, x1, y1, ...: last confident position of every point. */
  private positions = new Float32Array(0);
  /** 1 = still tracked, 0 = lost for good. */
  private visible = new Uint8Array(0);
  private disposed = false;
  /** Plain JS value objects in opencv.js (not heap-allocated): built once. */
  private readonly window: InstanceType<OpenCv['Size']>;
  private readonly criteria: InstanceType<OpenCv['TermCriteria']>;

  /** Requires opencv.js to be loaded (`await loadOpenCv()`); see `LucasKanadeTracker.create`. */
  constructor(options: Partial<LucasKanadeOptions> = {}) {
    this.cv = getCv();
    this.options = validateOptions({ ...DEFAULT_LUCAS_KANADE_OPTIONS, ...options });
    const { winSize, maxIterations, epsilon } = this.options;
    this.window = new this.cv.Size(winSize, winSize);
    this.criteria = new this.cv.TermCriteria(this.cv.TermCriteria_COUNT | this.cv.TermCriteria_EPS, maxIterations, epsilon);
    this.points = this.allocatePointBuffers();
  }

  /** Loads opencv.js if needed, then constructs a tracker. */
  static async create(options: Partial<LucasKanadeOptions> = {}): Promise<LucasKanadeTracker> {
    await loadOpenCv();
    return new LucasKanadeTracker(options);
  }

  init(frame: RgbFrame, positions: Float32Array): void {
    this.assertUsable();
    if (positions.length % 2 !== 0) {
      throw new RangeError(`positions must hold x,y pairs; got ${positions.length} numbers`);
    }
    const buffers = this.frameBuffersFor(frame);
    this.toGray(frame, buffers.prevGray);
    this.positions = Float32Array.from(positions);
    this.visible = new Uint8Array(positions.length / 2);
    for (let i = 0; i < this.visible.length; i++) {
      this.visible[i] = isInside(positions[2 * i], positions[2 * i + 1], frame.width, frame.height) ? 1 : 0;
    }
  }

  step(frame: RgbFrame): TrackStep {
    this.assertUsable();
    const buffers = this.frames;
    if (!buffers) throw new Error('LucasKanadeTracker.step called before init');
    if (frame.width !== buffers.width || frame.height !== buffers.height) {
      throw new RangeError(
        `frame is ${frame.width}x${frame.height} but tracking started on ${buffers.width}x${buffers.height}`,
      );
    }
    this.toGray(frame, buffers.nextGray);
    const active = this.activeIndices();
    if (active.length > 0) this.trackActivePoints(active, buffers);
    // The new frame becomes the reference for the next step.
    [buffers.prevGray, buffers.nextGray] = [buffers.nextGray, buffers.prevGray];
    return { positions: this.positions.slice(), visible: this.visible.slice() };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.freeFrameBuffers();
    for (const mat of Object.values(this.points)) mat.delete();
  }

  private trackActivePoints(active: Uint32Array, buffers: FrameBuffers): void {
    const cv = this.cv;
    const { maxLevel, minEigThreshold } = this.options;
    const { window, criteria } = this;
    const points = this.pointBuffersFor(active.length);
    this.writeActivePositions(active, points.prevPts);

    // flags = 0: each pass starts its search at the input positions (no initial flow guess).
    cv.calcOpticalFlowPyrLK(
      buffers.prevGray, buffers.nextGray, points.prevPts, points.nextPts,
      points.forwardStatus, points.forwardError, window, maxLevel, criteria, 0, minEigThreshold,
    );
    cv.calcOpticalFlowPyrLK(
      buffers.nextGray, buffers.prevGray, points.nextPts, points.backPts,
      points.backwardStatus, points.backwardError, window, maxLevel, criteria, 0, minEigThreshold,
    );
    this.acceptConsistentPoints(active, points, buffers);
  }

  /** Applies the forward-backward check and the frame bounds to the results of both passes. */
  private acceptConsistentPoints(active: Uint32Array, points: PointBuffers, buffers: FrameBuffers): void {
    // Views are taken only now: any OpenCV call may grow (and so detach) the wasm heap.
    const prev = points.prevPts.data32F; // x0, y0, x1, y1, ... (active order)
    const next = points.nextPts.data32F;
    const back = points.backPts.data32F;
    const forwardOk = points.forwardStatus.data; // 1 byte per active point
    const backwardOk = points.backwardStatus.data;
    const maxFbSquared = this.options.fbThreshold ** 2;

    for (let a = 0; a < active.length; a++) {
      const point = active[a];
      const x = next[2 * a];
      const y = next[2 * a + 1];
      const fbSquared = (back[2 * a] - prev[2 * a]) ** 2 + (back[2 * a + 1] - prev[2 * a + 1]) ** 2;
      const consistent =
        forwardOk[a] === 1 && backwardOk[a] === 1 && fbSquared < maxFbSquared &&
        isInside(x, y, buffers.width, buffers.height);
      if (consistent) {
        this.positions[2 * point] = x;
        this.positions[2 * point + 1] = y;
      } else {
        this.visible[point] = 0; // keeps its last confident position
      }
    }
  }

  private activeIndices(): Uint32Array {
    let count = 0;
    for (const v of this.visible) count += v;
    const active = new Uint32Array(count);
    for (let i = 0, a = 0; i < this.visible.length; i++) if (this.visible[i] === 1) active[a++] = i;
    return active;
  }

  private writeActivePositions(active: Uint32Array, prevPts: Mat): void {
    const target = prevPts.data32F; // x0, y0, x1, y1, ... (active order)
    for (let a = 0; a < active.length; a++) {
      target[2 * a] = this.positions[2 * active[a]];
      target[2 * a + 1] = this.positions[2 * active[a] + 1];
    }
  }

  /** RGB bytes -> `gray`, via a reused CV_8UC3 Mat (one memcpy into the heap + cvtColor). */
  private toGray(frame: RgbFrame, gray: Mat): void {
    const expected = frame.width * frame.height * 3;
    if (frame.data.length !== expected) {
      throw new RangeError(`frame ${frame.index}: expected ${expected} RGB bytes, got ${frame.data.length}`);
    }
    const { rgb } = this.frameBuffersFor(frame);
    rgb.data.set(frame.data);
    this.cv.cvtColor(rgb, gray, this.cv.COLOR_RGB2GRAY);
  }

  /** The frame buffers for this frame's size, reallocating them if the size changed. */
  private frameBuffersFor(frame: RgbFrame): FrameBuffers {
    if (this.frames && this.frames.width === frame.width && this.frames.height === frame.height) {
      return this.frames;
    }
    this.freeFrameBuffers();
    const cv = this.cv;
    this.frames = {
      width: frame.width,
      height: frame.height,
      rgb: new cv.Mat(frame.height, frame.width, cv.CV_8UC3),
      prevGray: new cv.Mat(frame.height, frame.width, cv.CV_8UC1),
      nextGray: new cv.Mat(frame.height, frame.width, cv.CV_8UC1),
    };
    return this.frames;
  }

  private freeFrameBuffers(): void {
    if (!this.frames) return;
    this.frames.rgb.delete();
    this.frames.prevGray.delete();
    this.frames.nextGray.delete();
    this.frames = undefined;
  }

  private allocatePointBuffers(): PointBuffers {
    const cv = this.cv;
    return {
      prevPts: new cv.Mat(),
      nextPts: new cv.Mat(),
      backPts: new cv.Mat(),
      forwardStatus: new cv.Mat(),
      backwardStatus: new cv.Mat(),
      forwardError: new cv.Mat(),
      backwardError: new cv.Mat(),
    };
  }

  /** Point buffers with `rows` input rows; `Mat.create` is a no-op when the shape is unchanged. */
  private pointBuffersFor(rows: number): PointBuffers {
    if (rows !== this.pointRows) {
      this.points.prevPts.create(rows, 1, this.cv.CV_32FC2);
      this.pointRows = rows;
    }
    return this.points;
  }

  private assertUsable(): void {
    if (this.disposed) throw new Error('LucasKanadeTracker used after dispose()');
  }
}

/** Inside the frame's pixel grid: 0 <= x <= width-1, 0 <= y <= height-1 (NaN is outside). */
function isInside(x: number, y: number, width: number, height: number): boolean {
  return x >= 0 && y >= 0 && x <= width - 1 && y <= height - 1;
}

function validateOptions(options: LucasKanadeOptions): Readonly<LucasKanadeOptions> {
  const { winSize, maxLevel, fbThreshold, maxIterations, epsilon } = options;
  if (!Number.isInteger(winSize) || winSize < 3) throw new RangeError(`winSize must be an integer >= 3, got ${winSize}`);
  if (!Number.isInteger(maxLevel) || maxLevel < 0) throw new RangeError(`maxLevel must be an integer >= 0, got ${maxLevel}`);
  if (!(fbThreshold > 0)) throw new RangeError(`fbThreshold must be > 0, got ${fbThreshold}`);
  if (!Number.isInteger(maxIterations) || maxIterations < 1) throw new RangeError(`maxIterations must be >= 1, got ${maxIterations}`);
  if (!(epsilon > 0)) throw new RangeError(`epsilon must be > 0, got ${epsilon}`);
  return Object.freeze({ ...options });
}
