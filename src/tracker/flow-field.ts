import type { FlowField } from './dense-flow.js';

/**
 * Pure operations on backward flow fields (dense-flow.ts): chaining them
 * from frame to frame, and measuring how well a warp explains a picture.
 * Fields and images share one grid of `width` x `height` cells.
 */

/** A box of grid cells, inclusive. */
export interface CellBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Bilinear sample of channel `c` of a [height, width, channels] map at (x, y), clamped to the grid. */
export function sampleClamped(map: ArrayLike<number>, width: number, height: number, channels: number, c: number, x: number, y: number): number {
  const cx = Math.min(width - 1, Math.max(0, x));
  const cy = Math.min(height - 1, Math.max(0, y));
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(width - 1, x0 + 1);
  const y1 = Math.min(height - 1, y0 + 1);
  const ax = cx - x0;
  const ay = cy - y0;
  const at = (xx: number, yy: number) => map[(yy * width + xx) * channels + c];
  return (at(x0, y0) * (1 - ax) + at(x1, y0) * ax) * (1 - ay) + (at(x0, y1) * (1 - ax) + at(x1, y1) * ax) * ay;
}

/** The zero field: a frame compared with itself. */
export function zeroFlow(width: number, height: number): FlowField {
  return { width, height, data: new Float32Array(width * height * 2) };
}

/**
 * Chains backward flows: `step` takes frame t+1 to frame t, `toKey` takes
 * frame t to the key frame; the result takes t+1 to the key frame,
 *   c(x) = step(x) + toKey(x + step(x)).
 * One warp of the key frame by the chained field, rather than a warp per
 * frame, keeps the key frame's features sharp (no blur from repeated
 * resampling).
 */
export function chainFlow(step: FlowField, toKey: FlowField): FlowField {
  const { width, height } = step;
  if (toKey.width !== width || toKey.height !== height) throw new RangeError(`flow grids differ: ${width}x${height} and ${toKey.width}x${toKey.height}`);
  const data = new Float32Array(width * height * 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 2 * (y * width + x);
      const sx = x + step.data[i];
      const sy = y + step.data[i + 1];
      data[i] = step.data[i] + sampleClamped(toKey.data, width, height, 2, 0, sx, sy);
      data[i + 1] = step.data[i + 1] + sampleClamped(toKey.data, width, height, 2, 1, sx, sy);
    }
  }
  return { width, height, data };
}

/**
 * Mean absolute difference (grey levels) between `current` and `earlier`
 * warped to it by `flow` (which takes current cells to earlier ones), over
 * `region` (default: the whole grid). Cells whose source lies outside the
 * grid (content that came into view) count as unexplained: 255 / 2.
 * A small residual means the warp explains the picture; a cut or a change
 * the flow could not follow leaves a large one.
 */
export function warpResidual(current: Uint8Array, earlier: Uint8Array, flow: FlowField, region?: CellBox): number {
  const { width, height, data } = flow;
  const { x0, y0, x1, y1 } = region ?? { x0: 0, y0: 0, x1: width - 1, y1: height - 1 };
  let total = 0;
  let cells = 0;
  for (let y = Math.max(0, y0); y <= Math.min(height - 1, y1); y++) {
    for (let x = Math.max(0, x0); x <= Math.min(width - 1, x1); x++) {
      const i = y * width + x;
      const sx = x + data[2 * i];
      const sy = y + data[2 * i + 1];
      const inside = sx >= 0 && sy >= 0 && sx <= width - 1 && sy <= height - 1;
      total += inside ? Math.abs(current[i] - sampleClamped(earlier, width, height, 1, 0, sx, sy)) : 127.5;
      cells++;
    }
  }
  return cells ? total / cells : 0;
}
