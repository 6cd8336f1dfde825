/**
 * Coordinates. The frame is shown scaled to the page width, so positions
 * arrive in CSS pixels (client coordinates) and the API wants video pixels.
 * A point is the integer pixel under the pointer: x in [0, width-1],
 * y in [0, height-1]. A box is [x0, y0, x1, y1] with x0 < x1 <= width.
 */

export interface Size {
  width: number;
  height: number;
}

/** A DOMRect-like box in client coordinates. */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface VideoPoint {
  x: number;
  y: number;
}

export type Box = readonly [x0: number, y0: number, x1: number, y1: number];

/**
 * Where a `video`-sized picture shows inside `rect` when scaled to fit
 * without distortion (centred, like object-fit: contain). When the element
 * has the video's aspect ratio this is the rect itself.
 */
export function containRect(rect: Rect, video: Size): Rect {
  const scale = Math.min(rect.width / video.width, rect.height / video.height);
  const width = video.width * scale;
  const height = video.height * scale;
  return { left: rect.left + (rect.width - width) / 2, top: rect.top + (rect.height - height) / 2, width, height };
}

/** Continuous video coordinates of a client position (not clamped). */
export function clientToVideoExact(clientX: number, clientY: number, rect: Rect, video: Size): VideoPoint {
  const shown = containRect(rect, video);
  return {
    x: ((clientX - shown.left) / shown.width) * video.width,
    y: ((clientY - shown.top) / shown.height) * video.height,
  };
}

/** The video pixel under a client position, or null when the position is off the picture. */
export function clientToVideo(clientX: number, clientY: number, rect: Rect, video: Size): VideoPoint | null {
  const { x, y } = clientToVideoExact(clientX, clientY, rect, video);
  if (!(x >= 0 && y >= 0 && x <= video.width && y <= video.height)) return null;
  return { x: clamp(Math.floor(x), 0, video.width - 1), y: clamp(Math.floor(y), 0, video.height - 1) };
}

/** The client position of the centre of video pixel (x, y). */
export function videoToClient(x: number, y: number, rect: Rect, video: Size): { x: number; y: number } {
  const shown = containRect(rect, video);
  return {
    x: shown.left + ((x + 0.5) / video.width) * shown.width,
    y: shown.top + ((y + 0.5) / video.height) * shown.height,
  };
}

/**
 * The box spanned by two client positions (a drag), in video pixels, clamped
 * to the frame; null when it is thinner than `minSize` video pixels.
 */
export function boxFromDrag(a: { x: number; y: number }, b: { x: number; y: number }, rect: Rect, video: Size, minSize = 2): Box | null {
  const p = clientToVideoExact(a.x, a.y, rect, video);
  const q = clientToVideoExact(b.x, b.y, rect, video);
  const x0 = clamp(Math.round(Math.min(p.x, q.x)), 0, video.width);
  const y0 = clamp(Math.round(Math.min(p.y, q.y)), 0, video.height);
  const x1 = clamp(Math.round(Math.max(p.x, q.x)), 0, video.width);
  const y1 = clamp(Math.round(Math.max(p.y, q.y)), 0, video.height);
  if (x1 - x0 < minSize || y1 - y0 < minSize) return null;
  return [x0, y0, x1, y1];
}

/** A pointer that moved less than this many CSS pixels between down and up clicked; more, it dragged. */
export const DRAG_THRESHOLD_PX = 6;

export function isDrag(a: { x: number; y: number }, b: { x: number; y: number }, threshold = DRAG_THRESHOLD_PX): boolean {
  return Math.hypot(b.x - a.x, b.y - a.y) >= threshold;
}

/** Moves a keyboard cross-hair by (dx, dy) video pixels, staying on the frame. */
export function moveCursor(cursor: VideoPoint, dx: number, dy: number, video: Size): VideoPoint {
  return { x: clamp(cursor.x + dx, 0, video.width - 1), y: clamp(cursor.y + dy, 0, video.height - 1) };
}

export function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

/** A pointer press on a frame, until it is released: a click, or a box once it has moved far enough. */
export interface PointerDrag {
  pointerId: number;
  button: number;
  shift: boolean;
  start: { x: number; y: number };
  moved: boolean;
  box: Box | null;
}
