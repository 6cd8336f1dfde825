import sharp from 'sharp';
import type { RgbFrame } from '../types.js';

/**
 * Pre-processing for SAM-family image encoders, following segment_anything's
 * ResizeLongestSide and Sam.preprocess: resize so the longer side equals the
 * model's input size, normalise per channel, place top-left, zero-pad.
 */

export interface ResizedShape {
  /** Size after resizing, before padding. */
  width: number;
  height: number;
}

/** SAM's ResizeLongestSide.get_preprocess_shape: scale, then round half up. */
export function resizeLongestSideShape(width: number, height: number, target: number): ResizedShape {
  const scale = target / Math.max(width, height);
  return {
    width: Math.floor(width * scale + 0.5),
    height: Math.floor(height * scale + 0.5),
  };
}

/**
 * Image pixel coordinates -> the encoder's input frame. Per axis, as
 * ResizeLongestSide.apply_coords does (the rounding of the resized size makes
 * the two factors differ slightly from target / max(W, H)).
 */
export function toModelCoords(
  x: number,
  y: number,
  image: { width: number; height: number },
  resized: ResizedShape,
): [number, number] {
  return [x * (resized.width / image.width), y * (resized.height / image.height)];
}

/** Resize packed RGB with sharp. Catmull-Rom ("cubic") matches PIL's bicubic, which SAM uses. */
export async function resizeRgb(frame: RgbFrame, size: ResizedShape): Promise<Uint8Array> {
  if (frame.width === size.width && frame.height === size.height) return frame.data;
  const { data } = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .resize(size.width, size.height, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Packed RGB (resized) -> the encoder's planar input, normalised and padded.
 *   rgb:    [h, w, 3] uint8, row-major
 *   return: [1, 3, size, size] float32, channel-major; padding is 0 after normalisation
 */
export function toEncoderTensor(
  rgb: Uint8Array,
  resized: ResizedShape,
  size: number,
  mean: readonly [number, number, number],
  std: readonly [number, number, number],
): Float32Array {
  const { width, height } = resized;
  if (width > size || height > size) throw new RangeError(`resized image ${width}x${height} exceeds ${size}`);
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const offset = c * plane;
    const m = mean[c];
    const inv = 1 / std[c];
    for (let y = 0; y < height; y++) {
      const src = y * width * 3 + c;
      const dst = offset + y * size;
      for (let x = 0; x < width; x++) out[dst + x] = (rgb[src + x * 3] - m) * inv;
    }
  }
  return out;
}
