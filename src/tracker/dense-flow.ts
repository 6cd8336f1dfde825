/**
 * Dense optical flow (Farnebäck 2003, opencv.js) between consecutive frames,
 * on a small grid chosen by the caller. SAM-PT's handful of query points
 * gives one median shift per object; a limb, a wheel or a wing that moves
 * differently from the rest needs a displacement per cell.
 *
 * The flow is computed backward, from the new frame to the previous one:
 * for each cell of the new frame it says where that content was, which is
 * what a backward warp (sample the previous map at x + flow(x)) needs.
 *
 * Memory: the Mats are allocated once per frame and grid size and reused;
 * `dispose()` frees them.
 */
import type { RgbFrame } from '../types.js';
import { getCv, loadOpenCv, type OpenCv } from './opencv.js';

type Mat = InstanceType<OpenCv['Mat']>;

/** Displacements on a grid of `width` x `height` cells, in cells. */
export interface FlowField {
  width: number;
  height: number;
  /** [height, width, 2] row-major: (dx, dy) from a cell of the new frame to where it was on the previous one. */
  data: Float32Array;
}

/** Flow between consecutive frames of a stream, as a propagator takes it (DenseFlow, or a key-frame planner's). */
export interface FrameFlow {
  /** Starts over from this frame. */
  reset(frame: RgbFrame, width: number, height: number): void;
  /** The flow from this frame to the one before it, undefined on the first. */
  step(frame: RgbFrame, width: number, height: number): FlowField | undefined;
}

export interface FarnebackOptions {
  pyramidScale: number;
  levels: number;
  /** Averaging window at each level, in grid cells. */
  window: number;
  iterations: number;
  polyN: number;
  polySigma: number;
}

// OpenCV's documented defaults for video, with a window sized for a ~256-cell-wide grid.
export const DEFAULT_FARNEBACK_OPTIONS: Readonly<FarnebackOptions> = Object.freeze({
  pyramidScale: 0.5,
  levels: 3,
  window: 13,
  iterations: 3,
  polyN: 5,
  polySigma: 1.1,
});

interface Buffers {
  frameWidth: number;
  frameHeight: number;
  width: number;
  height: number;
  rgb: Mat;
  gray: Mat;
  /** The previous and the new frame, resized to the grid. */
  prev: Mat;
  next: Mat;
  flow: Mat;
}

export class DenseFlow implements FrameFlow {
  private readonly cv: OpenCv;
  private buffers: Buffers | undefined;
  private hasPrevious = false;

  private constructor(private readonly options: Readonly<FarnebackOptions>) {
    this.cv = getCv();
  }

  static async create(options: Partial<FarnebackOptions> = {}): Promise<DenseFlow> {
    await loadOpenCv();
    return new DenseFlow({ ...DEFAULT_FARNEBACK_OPTIONS, ...options });
  }

  /** Forgets the previous frame: the next `step` only stores its frame. */
  reset(frame: RgbFrame, width: number, height: number): void {
    const b = this.buffersFor(frame, width, height);
    this.toGrid(frame, b, b.prev);
    this.hasPrevious = true;
  }

  /**
   * Takes the next frame (forward or backward in time) and returns the flow
   * from it to the previous one, or undefined on the first frame or after a
   * change of size.
   */
  step(frame: RgbFrame, width: number, height: number): FlowField | undefined {
    const b = this.buffersFor(frame, width, height);
    if (!this.hasPrevious) {
      this.reset(frame, width, height);
      return undefined;
    }
    this.toGrid(frame, b, b.next);
    const o = this.options;
    this.cv.calcOpticalFlowFarneback(b.next, b.prev, b.flow, o.pyramidScale, o.levels, o.window, o.iterations, o.polyN, o.polySigma, 0);
    const field: FlowField = { width, height, data: Float32Array.from(b.flow.data32F) };
    [b.prev, b.next] = [b.next, b.prev];
    return field;
  }

  /** The newest frame on the grid (grey levels, [height, width]), a copy; undefined before the first frame. */
  newestGrid(): Uint8Array | undefined {
    return this.hasPrevious && this.buffers ? Uint8Array.from(this.buffers.prev.data) : undefined;
  }

  dispose(): void {
    this.free();
  }

  private toGrid(frame: RgbFrame, b: Buffers, target: Mat): void {
    b.rgb.data.set(frame.data);
    this.cv.cvtColor(b.rgb, b.gray, this.cv.COLOR_RGB2GRAY);
    this.cv.resize(b.gray, target, new this.cv.Size(b.width, b.height), 0, 0, this.cv.INTER_AREA);
  }

  private buffersFor(frame: RgbFrame, width: number, height: number): Buffers {
    const b = this.buffers;
    if (b && b.frameWidth === frame.width && b.frameHeight === frame.height && b.width === width && b.height === height) return b;
    this.free();
    const cv = this.cv;
    this.buffers = {
      frameWidth: frame.width,
      frameHeight: frame.height,
      width,
      height,
      rgb: new cv.Mat(frame.height, frame.width, cv.CV_8UC3),
      gray: new cv.Mat(frame.height, frame.width, cv.CV_8UC1),
      prev: new cv.Mat(height, width, cv.CV_8UC1),
      next: new cv.Mat(height, width, cv.CV_8UC1),
      flow: new cv.Mat(height, width, cv.CV_32FC2),
    };
    return this.buffers;
  }

  private free(): void {
    if (!this.buffers) return;
    for (const key of ['rgb', 'gray', 'prev', 'next', 'flow'] as const) this.buffers[key].delete();
    this.buffers = undefined;
    this.hasPrevious = false;
  }
}

/**
 * Backward warp of a square low-res map whose top-left `flow.width` x
 * `flow.height` cells hold the image (SAM's 256x256 logits of a padded
 * frame): out(x) = bilinear(map, x + flow(x)); cells that come from outside
 * the image, and the padding, get `outside`.
 *   map: [size, size] -> [size, size]
 */
export function warpByFlow(map: Float32Array, size: number, flow: FlowField, outside: number): Float32Array {
  const out = new Float32Array(size * size).fill(outside);
  const { width, height, data } = flow;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const f = 2 * (y * width + x);
      const sx = x + data[f];
      const sy = y + data[f + 1];
      if (!(sx >= 0 && sy >= 0 && sx <= width - 1 && sy <= height - 1)) continue;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(width - 1, x0 + 1);
      const y1 = Math.min(height - 1, y0 + 1);
      const ax = sx - x0;
      const ay = sy - y0;
      const top = map[y0 * size + x0] * (1 - ax) + map[y0 * size + x1] * ax;
      const bottom = map[y1 * size + x0] * (1 - ax) + map[y1 * size + x1] * ax;
      out[y * size + x] = top * (1 - ay) + bottom * ay;
    }
  }
  return out;
}
