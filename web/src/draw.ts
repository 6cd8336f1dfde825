/**
 * Drawing. `paintMasks` is pure (an RGBA buffer in, painted in place) so it
 * is unit-tested in node; `drawMarks` draws points and boxes on a 2D context.
 */
import { cssColour, type Rgb } from './colours.js';
import type { Box, VideoPoint } from './geometry.js';
import type { Mask } from './rle.js';
import type { FramePrompt } from './prompt-state.js';

/** Tint of a mask's inside: the same as the overlay video's. */
export const MASK_ALPHA = 0.5;

export interface MaskLayer {
  mask: Mask;
  colour: Rgb;
}

/**
 * Paints masks into a transparent RGBA buffer of the masks' size: inside in
 * the object's colour at `alpha`, the outline (a pixel whose 4-neighbour is
 * outside, or the frame's edge) opaque. Later layers paint over earlier ones.
 */
export function paintMasks(rgba: Uint8ClampedArray, width: number, height: number, layers: readonly MaskLayer[], alpha = MASK_ALPHA): void {
  if (rgba.length !== width * height * 4) throw new RangeError(`the buffer holds ${rgba.length / 4} pixels, not ${width}x${height}`);
  const inside = Math.round(alpha * 255);
  for (const { mask, colour } of layers) {
    if (mask.width !== width || mask.height !== height) throw new RangeError(`a ${mask.width}x${mask.height} mask on a ${width}x${height} layer`);
    const m = mask.data;
    const [r, g, b] = colour;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        if (!m[p]) continue;
        const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !m[p - 1] || !m[p + 1] || !m[p - width] || !m[p + width];
        const o = p * 4;
        rgba[o] = r;
        rgba[o + 1] = g;
        rgba[o + 2] = b;
        rgba[o + 3] = edge ? 255 : inside;
      }
    }
  }
}

export interface MarkObject {
  colour: Rgb;
  prompt: FramePrompt | undefined;
  active: boolean;
}

export interface MarksScene {
  objects: readonly MarkObject[];
  /** A box being dragged, in video pixels. */
  draft?: { box: Box; colour: Rgb };
  /** The keyboard cross-hair, when the frame has focus. */
  cursor?: VideoPoint;
}

/**
 * Draws points (filled = object, ring with a bar = background) and boxes.
 * `scale` maps video pixels to the canvas's pixels; sizes are in CSS pixels
 * times `pixelRatio` so they look the same at any zoom.
 */
export function drawMarks(ctx: CanvasRenderingContext2D, scale: number, pixelRatio: number, scene: MarksScene): void {
  const { width, height } = ctx.canvas;
  ctx.clearRect(0, 0, width, height);
  const unit = pixelRatio;
  const at = (v: number) => (v + 0.5) * scale; // pixel centre
  for (const object of scene.objects) {
    const prompt = object.prompt;
    if (!prompt) continue;
    const colour = cssColour(object.colour);
    if (prompt.box) {
      const [x0, y0, x1, y1] = prompt.box;
      ctx.lineWidth = (object.active ? 2.5 : 1.5) * unit;
      ctx.setLineDash([]);
      ctx.strokeStyle = 'rgb(0 0 0 / 0.6)';
      ctx.strokeRect(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale);
      ctx.setLineDash([6 * unit, 4 * unit]);
      ctx.strokeStyle = colour;
      ctx.strokeRect(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale);
      ctx.setLineDash([]);
    }
    const radius = (object.active ? 6 : 5) * unit;
    for (const point of prompt.points) {
      const x = at(point.x);
      const y = at(point.y);
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, Math.PI * 2);
      ctx.lineWidth = 2 * unit;
      ctx.strokeStyle = point.label === 1 ? '#fff' : '#000';
      ctx.fillStyle = point.label === 1 ? colour : '#fff';
      ctx.fill();
      ctx.stroke();
      if (point.label === 0) {
        // A bar across: "not this".
        ctx.beginPath();
        ctx.moveTo(x - radius * 0.6, y);
        ctx.lineTo(x + radius * 0.6, y);
        ctx.strokeStyle = colour;
        ctx.lineWidth = 2.5 * unit;
        ctx.stroke();
      }
    }
  }
  if (scene.draft) {
    const [x0, y0, x1, y1] = scene.draft.box;
    ctx.lineWidth = 2 * unit;
    ctx.setLineDash([6 * unit, 4 * unit]);
    ctx.strokeStyle = cssColour(scene.draft.colour);
    ctx.strokeRect(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale);
    ctx.setLineDash([]);
  }
  if (scene.cursor) {
    const x = at(scene.cursor.x);
    const y = at(scene.cursor.y);
    const r = 10 * unit;
    ctx.lineWidth = 3 * unit;
    ctx.strokeStyle = '#000';
    crossHair(ctx, x, y, r);
    ctx.lineWidth = 1.5 * unit;
    ctx.strokeStyle = '#fff';
    crossHair(ctx, x, y, r);
  }
}

function crossHair(ctx: CanvasRenderingContext2D, x: number, y: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x - r, y);
  ctx.lineTo(x - r / 3, y);
  ctx.moveTo(x + r / 3, y);
  ctx.lineTo(x + r, y);
  ctx.moveTo(x, y - r);
  ctx.lineTo(x, y - r / 3);
  ctx.moveTo(x, y + r / 3);
  ctx.lineTo(x, y + r);
  ctx.stroke();
}
