import { describe, expect, it } from 'vitest';
import {
  chooseMaskIndex,
  chooseWholeObject,
  candidateShapes,
  linearResizeTaps,
  logitsToMask,
  maskBox,
  maskIoU,
  resizeBilinear,
  upscaleLogits,
  upscaleLogitsWindow,
  windowToImage,
  maskToLowRes,
} from '../../src/segment/postprocess.js';
import { resizeLongestSideShape, toEncoderTensor, toModelCoords } from '../../src/segment/preprocess.js';

describe('pre-processing', () => {
  it('resizes the longer side to the input size, rounding half up as SAM does', () => {
    expect(resizeLongestSideShape(854, 480, 1024)).toEqual({ width: 1024, height: 576 }); // 575.55 -> 576
    expect(resizeLongestSideShape(640, 480, 1024)).toEqual({ width: 1024, height: 768 });
    expect(resizeLongestSideShape(480, 854, 1024)).toEqual({ width: 576, height: 1024 });
    expect(resizeLongestSideShape(2048, 1, 1024)).toEqual({ width: 1024, height: 1 }); // 0.5 rounds up
  });

  it('maps image pixels into the encoder frame per axis', () => {
    const image = { width: 854, height: 480 };
    const resized = resizeLongestSideShape(854, 480, 1024);
    const [x, y] = toModelCoords(427, 240, image, resized);
    expect(x).toBeCloseTo(512, 10);
    expect(y).toBeCloseTo(288, 10); // 240 * 576 / 480, not 240 * 1024 / 854 = 287.76
    expect(toModelCoords(0, 0, image, resized)).toEqual([0, 0]);
  });

  it('normalises to planar RGB, top-left, with zero padding', () => {
    // 2x1 image: pixel 0 = (255, 0, 128), pixel 1 = (0, 255, 64); padded into a 3x3 input
    const rgb = Uint8Array.of(255, 0, 128, 0, 255, 64);
    const mean = [123.675, 116.28, 103.53] as const;
    const std = [58.395, 57.12, 57.375] as const;
    const t = toEncoderTensor(rgb, { width: 2, height: 1 }, 3, mean, std);
    expect(t.length).toBe(27);
    expect(t[0]).toBeCloseTo((255 - 123.675) / 58.395, 5); // R, (0,0)
    expect(t[1]).toBeCloseTo((0 - 123.675) / 58.395, 5); // R, (1,0)
    expect(t[9]).toBeCloseTo((0 - 116.28) / 57.12, 5); // G plane, (0,0)
    expect(t[18 + 1]).toBeCloseTo((64 - 103.53) / 57.375, 5); // B plane, (1,0)
    expect(t[2]).toBe(0); // padding column
    expect(t[3]).toBe(0); // padding row
  });
});

describe('post-processing', () => {
  it('computes half-pixel bilinear taps as ONNX Runtime does', () => {
    // 2 -> 4: source coordinates -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    const { lo, hi, w } = linearResizeTaps(2, 4);
    expect(Array.from(lo)).toEqual([0, 0, 0, 1]);
    expect(Array.from(hi)).toEqual([1, 1, 1, 1]);
    expect(Array.from(w)).toEqual([0, 0.25, 0.75, 0]);
  });

  it('resizes separably and can keep only the top-left part', () => {
    const src = Float32Array.of(0, 4, 8, 12); // 2x2
    const full = resizeBilinear(src, 2, 2, 4, 4);
    expect(Array.from(full.slice(0, 4))).toEqual([0, 1, 3, 4]);
    expect(Array.from(full.slice(12, 16))).toEqual([8, 9, 11, 12]);
    const crop = resizeBilinear(src, 2, 2, 4, 4, 3, 2);
    expect(Array.from(crop)).toEqual([0, 1, 3, 2, 3, 5]);
  });

  it('upscales only the window where a logit can be positive, with exactly the full upscale\'s values there', () => {
    // A 640x480 image: 1024x768 unpadded in the 1024 square, 256x192 valid low-res cells.
    const size = 256;
    const resized = { width: 1024, height: 768 };
    const image = { width: 640, height: 480 };
    const lowRes = new Float32Array(size * size);
    // Smooth negative background with a positive blob around cell (100, 60) and one positive cell at (101, 120).
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) lowRes[y * size + x] = 6 - Math.hypot(x - 100, y - 60) / 2 + Math.sin(x * 0.7 + y) * 0.25;
    }
    lowRes[120 * size + 101] = 3;
    const full = upscaleLogits(lowRes, size, 1024, resized, image);
    const window = upscaleLogitsWindow(lowRes, size, 1024, resized, image)!;
    // Cells 88..113 x 48..72 and (101, 120) are positive: the window is their part of the image, a few pixels wider.
    expect(window.x.start).toBeGreaterThan(200);
    expect(window.x.end).toBeLessThan(300);
    expect(window.y.start).toBeGreaterThan(100);
    expect(window.y.end).toBeLessThan(310);
    const { logits, mask, box } = windowToImage(window, image.width, image.height);
    let positives = 0;
    const wrong: number[] = [];
    for (let i = 0; i < full.length; i++) {
      const right = Number.isFinite(logits[i]) ? logits[i] === full[i] : full[i] <= 0;
      if (!right || mask.data[i] !== (full[i] > 0 ? 1 : 0)) wrong.push(i);
      positives += mask.data[i];
    }
    expect(wrong).toEqual([]);
    expect(positives).toBeGreaterThan(1000);
    expect(box).toEqual(maskBox(logitsToMask(full, image.width, image.height)));
  });

  it('has no window when no logit is positive', () => {
    const lowRes = new Float32Array(256 * 256).fill(-1);
    expect(upscaleLogitsWindow(lowRes, 256, 1024, { width: 1024, height: 768 }, { width: 640, height: 480 })).toBeNull();
    const { logits, mask, box } = windowToImage(null, 4, 3);
    expect(Array.from(logits)).toEqual(new Array(12).fill(-Infinity));
    expect(Array.from(mask.data)).toEqual(new Array(12).fill(0));
    expect(box).toBeNull();
  });

  it('thresholds logits at 0', () => {
    expect(Array.from(logitsToMask(Float32Array.of(-1, 0, 0.001, 5), 2, 2).data)).toEqual([0, 0, 1, 1]);
  });

  it('picks token 0 for a single-mask prompt and the best of tokens 1-3 for an ambiguous one', () => {
    const scores = [0.99, 0.5, 0.9, 0.7];
    expect(chooseMaskIndex(scores, false)).toBe(0);
    expect(chooseMaskIndex(scores, true)).toBe(2); // token 0 is never a multimask candidate
    expect(chooseMaskIndex([0, 0.8, 0.8, 0.1], true)).toBe(1); // ties keep the first
  });

  it('prefers the largest one-piece candidate scored close to the best, unless it is the scene', () => {
    const shape = (areaFraction: number, connectedShare = 1, agreesWithClicks = true) => ({ areaFraction, connectedShare, agreesWithClicks });
    // token:          0     1     2     3
    const scores = [0.90, 0.96, 0.99, 0.91];
    const parts = [shape(0.1), shape(0.05), shape(0.08)];
    expect(chooseWholeObject(scores, [...parts, shape(0.1)])).toBe(3); // whole object, 0.08 below the best
    expect(chooseWholeObject(scores, [...parts, shape(0.85)])).toBe(2); // token 3 is the background
    expect(chooseWholeObject(scores, [...parts, shape(0.2, 0.45)])).toBe(2); // token 3 is two separate objects
    expect(chooseWholeObject([0.9, 0.96, 0.99, 0.8], [...parts, shape(0.1)])).toBe(2); // 0.19 below the best
    expect(chooseWholeObject([0.9, 0.99, 0.6, 0.65], [shape(0.1), shape(0.2), shape(0.08), shape(0.1)])).toBe(1);
  });

  it('weighs only candidates that agree with every click, token 0 included for several clicks', () => {
    const shape = (areaFraction: number, agreesWithClicks: boolean) => ({ areaFraction, connectedShare: 1, agreesWithClicks });
    const scores = [0.95, 0.99, 0.97, 0.9];
    const shapes = [shape(0.12, true), shape(0.05, false), shape(0.08, true), shape(0.3, false)];
    expect(chooseWholeObject(scores, shapes, [0, 1, 2, 3])).toBe(0); // 1 and 3 contradict a click; 0 is larger than 2
    expect(chooseWholeObject(scores, shapes, [1, 2, 3])).toBe(2);
    // no candidate agrees: weigh them all
    expect(chooseWholeObject(scores, [shape(0.1, false), shape(0.2, false), shape(0.1, false), shape(0.1, false)])).toBe(1);
  });

  it('measures candidates on the unpadded low-res logits: area, the part connected to the click, agreement', () => {
    // two 4x4 candidates, valid region 3 wide x 3 high (the last row and column are padding: 9s must not count)
    const logits = Float32Array.from([
      1, 1, -1, 9, /**/ -1, -1, -1, 9, /**/ -1, -1, 1, 9, /**/ 9, 9, 9, 9, // candidate 0: a 2-cell piece + 1 separate cell
      -1, -1, -1, 9, /**/ -1, -1, -1, 9, /**/ -1, -1, -1, 9, /**/ 9, 9, 9, 9, // candidate 1: empty
    ]);
    const click = { x: 0.5, y: 0.5, label: 1 as const };
    const [a, b] = candidateShapes(logits, 2, 4, 3, 3, [click], 1);
    expect(a).toEqual({ areaFraction: 3 / 9, connectedShare: 2 / 3, agreesWithClicks: true });
    expect(b).toEqual({ areaFraction: 0, connectedShare: 0, agreesWithClicks: false });
    const [outside] = candidateShapes(logits, 1, 4, 3, 3, [{ x: 2, y: 1, label: 1 }], 1);
    expect(outside.connectedShare).toBe(0); // the click is outside the mask
    // a background click inside the mask: no agreement
    expect(candidateShapes(logits, 1, 4, 3, 3, [click, { x: 2, y: 2, label: 0 }], 1)[0].agreesWithClicks).toBe(false);
    // with a reach of 2 cells, the separate cell two cells away joins the piece
    expect(candidateShapes(logits, 1, 4, 3, 3, [click], 2)[0].connectedShare).toBe(1);
  });

  it('boxes and compares masks', () => {
    const a = { width: 4, height: 3, data: Uint8Array.of(0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0) };
    const b = { width: 4, height: 3, data: Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0) };
    expect(maskBox(a)).toEqual([1, 1, 2, 2]);
    expect(maskBox({ width: 2, height: 2, data: new Uint8Array(4) })).toBeNull();
    expect(maskIoU(a, b)).toBeCloseTo(2 / 3, 10);
    expect(maskIoU({ width: 1, height: 1, data: Uint8Array.of(0) }, { width: 1, height: 1, data: Uint8Array.of(0) })).toBe(1);
  });
});

describe('maskToLowRes', () => {
  it('samples the mask at each low-res cell centre over the padded input, ±magnitude', () => {
    // An 8x4 image resized to 1024x512 in a 1024 input; a 4x4 grid: cells of 256 input pixels.
    const mask = { width: 8, height: 4, data: Uint8Array.from({ length: 32 }, (_, p) => (p % 8 < 4 ? 1 : 0)) };
    const lowRes = maskToLowRes(mask, { width: 1024, height: 512 }, 4, 1024);
    // Rows 0-1 fall on the image (pixel rows 1 and 3), rows 2-3 on the padding; columns sample pixels 1, 3, 5, 7.
    expect(Array.from(lowRes)).toEqual([8, 8, -8, -8, 8, 8, -8, -8, -8, -8, -8, -8, -8, -8, -8, -8]);
    expect(Array.from(maskToLowRes(mask, { width: 1024, height: 512 }, 4, 1024, 3)).slice(0, 4)).toEqual([3, 3, -3, -3]);
  });
});
