/**
 * effect.mp4's backgrounds as pure functions: the background blur leaves the
 * objects out (no halo of their colours around them), keeps a flat image
 * flat, and smooths texture.
 */
import { describe, expect, it } from 'vitest';
import { backgroundBlur, blurRadius, composite } from '../../src/output/render.js';

const W = 96;
const H = 64;

/** A white square (the object, alpha 255) on black. */
function squareScene(): { rgb: Uint8Array; alpha: Uint8Array } {
  const rgb = new Uint8Array(W * H * 3);
  const alpha = new Uint8Array(W * H);
  for (let y = 20; y < 44; y++) {
    for (let x = 36; x < 60; x++) {
      alpha[y * W + x] = 255;
      rgb.fill(255, (y * W + x) * 3, (y * W + x) * 3 + 3);
    }
  }
  return { rgb, alpha };
}

const at = (rgb: Uint8Array, x: number, y: number) => rgb[(y * W + x) * 3];

describe('the background blur', () => {
  it('does not light the background with the object: no halo', () => {
    const { rgb, alpha } = squareScene();
    const blurred = backgroundBlur(rgb, alpha, W, H, 8);
    // Just outside the square's left edge, and a bit further out.
    expect([at(blurred, 34, 32), at(blurred, 30, 32), at(blurred, 20, 10)]).toEqual([0, 0, 0]);
    // The same picture with nothing marked as object is blurred as a whole: the square spreads.
    const plain = backgroundBlur(rgb, new Uint8Array(W * H), W, H, 8);
    expect(at(plain, 34, 32)).toBeGreaterThan(80);
    expect(at(plain, 47, 31)).toBeGreaterThan(120);
  });

  it('keeps a flat colour flat and smooths texture, at any size', () => {
    const flat = new Uint8Array(W * H * 3).fill(90);
    expect(Math.max(...backgroundBlur(flat, new Uint8Array(W * H), W, H, 6)) - 90).toBe(0);
    const stripes = new Uint8Array(34 * 17 * 3).map((_, i) => (Math.floor(i / 3) % 2 ? 200 : 40));
    const blurred = backgroundBlur(stripes, new Uint8Array(34 * 17), 34, 17, 4);
    expect(blurred).toHaveLength(stripes.length);
    for (const v of blurred) expect(Math.abs(v - 120)).toBeLessThan(12);
    expect(blurRadius(640, 480)).toBe(10);
  });

  it('composites: opaque pixels are the object, clear ones the background, the rest between', () => {
    const fg = new Uint8Array([200, 100, 0, 200, 100, 0, 200, 100, 0]);
    const bg = new Uint8Array([0, 0, 0, 0, 0, 0, 100, 100, 100]);
    expect([...composite(fg, bg, new Uint8Array([255, 0, 128]))]).toEqual([200, 100, 0, 0, 0, 0, 150, 100, 50]);
  });
});
