/**
 * Generated scenes for the tracking method's hard cases, drawn straight to
 * RGB frames (no codec in between): textured ellipses that change speed and
 * shape, pass in front of each other, leave the picture and come back. Every
 * actor's visible pixels are known on every frame.
 */
import type { BinaryMask, RgbFrame } from '../../src/types.js';
import { drawBackground, hashNoise, valueNoise, type Rgb } from './synthetic.js';

/** An actor on one frame: an ellipse, or null when it is not in the picture. */
export interface Pose {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

export interface Actor {
  /** Its two colours and the seed of its blotches: a look-alike shares the colours with another seed. */
  colors: [Rgb, Rgb];
  seed: number;
  /** Pose on frame t; null = out of the picture. */
  pose: (t: number) => Pose | null;
}

export interface Scene {
  width: number;
  height: number;
  frames: number;
  /** Drawn in order: later actors in front. */
  actors: Actor[];
}

function covers(pose: Pose, x: number, y: number): boolean {
  const dx = (x + 0.5 - pose.cx) / pose.rx;
  const dy = (y + 0.5 - pose.cy) / pose.ry;
  return dx * dx + dy * dy <= 1;
}

/** Index of the actor that owns each pixel on frame t (-1 = background). */
function owners(scene: Scene, t: number): Int16Array {
  const owner = new Int16Array(scene.width * scene.height).fill(-1);
  scene.actors.forEach((actor, index) => {
    const pose = actor.pose(t);
    if (!pose) return;
    for (let y = Math.max(0, Math.floor(pose.cy - pose.ry)); y <= Math.min(scene.height - 1, Math.ceil(pose.cy + pose.ry)); y++) {
      for (let x = Math.max(0, Math.floor(pose.cx - pose.rx)); x <= Math.min(scene.width - 1, Math.ceil(pose.cx + pose.rx)); x++) {
        if (covers(pose, x, y)) owner[y * scene.width + x] = index;
      }
    }
  });
  return owner;
}

export function drawScene(scene: Scene, t: number): RgbFrame {
  const { width, height } = scene;
  const data = drawBackground(width, height, 1);
  const owner = owners(scene, t);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const index = owner[y * width + x];
      if (index < 0) continue;
      const actor = scene.actors[index];
      const pose = actor.pose(t)!;
      // Texture in the actor's own coordinates, scaled with it, so it moves and stretches with the actor.
      const u = ((x + 0.5 - pose.cx) / pose.rx) * 30;
      const v = ((y + 0.5 - pose.cy) / pose.ry) * 30;
      const base = actor.colors[valueNoise(u + 100, v + 100, 9, actor.seed) > 0.5 ? 1 : 0];
      const grain = (hashNoise(Math.floor(u), Math.floor(v), actor.seed + 1) - 0.5) * 40;
      const o = 3 * (y * width + x);
      for (let c = 0; c < 3; c++) data[o + c] = Math.max(0, Math.min(255, Math.round(base[c] + grain)));
    }
  }
  return { index: t, width, height, data };
}

/** Visible pixels of actor `index` on frame t. */
export function sceneTruth(scene: Scene, t: number, index: number): BinaryMask {
  const owner = owners(scene, t);
  const data = new Uint8Array(owner.length);
  for (let i = 0; i < owner.length; i++) data[i] = owner[i] === index ? 1 : 0;
  return { width: scene.width, height: scene.height, data };
}

const WARM: [Rgb, Rgb] = [[235, 45, 35], [250, 215, 40]];
const PALE: [Rgb, Rgb] = [[245, 245, 245], [60, 60, 200]];
const lerp = (a: number, b: number, s: number) => a + (b - a) * s;
const W = 320;
const H = 240;

/** One shape that accelerates (position ~ t², up to 21 px a frame) and turns from wide to tall. */
export function deformingScene(): Scene {
  const frames = 14;
  const object: Actor = {
    colors: WARM,
    seed: 11,
    pose: (t) => {
      const s = t / (frames - 1);
      return { cx: lerp(60, 270, s * s), cy: lerp(90, 150, s), rx: lerp(42, 24, s), ry: lerp(26, 44, s) };
    },
  };
  return { width: W, height: H, frames, actors: [object] };
}

/** The object moves right while a tall pale occluder passes in front of it leftwards. */
export function occluderScene(): Scene {
  const frames = 16;
  const object: Actor = { colors: WARM, seed: 21, pose: (t) => ({ cx: lerp(70, 200, t / (frames - 1)), cy: 120, rx: 40, ry: 32 }) };
  const occluder: Actor = { colors: PALE, seed: 22, pose: (t) => ({ cx: lerp(300, 20, t / (frames - 1)), cy: 125, rx: 22, ry: 70 }) };
  return { width: W, height: H, frames, actors: [object, occluder] };
}

/** A look-alike (same colours, other blotches) crosses in front of the object. */
export function crossingLookalikeScene(): Scene {
  const frames = 16;
  const object: Actor = { colors: WARM, seed: 31, pose: (t) => ({ cx: lerp(80, 220, t / (frames - 1)), cy: 110, rx: 36, ry: 30 }) };
  const lookalike: Actor = { colors: WARM, seed: 32, pose: (t) => ({ cx: lerp(260, 60, t / (frames - 1)), cy: 130, rx: 34, ry: 28 }) };
  return { width: W, height: H, frames, actors: [object, lookalike] };
}

/** Out to the right over frames 0-6, gone on 7-13, back in from the right on 14-21, while a look-alike stays still. */
export function exitAndReturnScene(): Scene {
  const frames = 22;
  const pose = (t: number): Pose | null => {
    if (t <= 6) return { cx: lerp(200, 360, t / 6), cy: 80, rx: 34, ry: 28 };
    if (t >= 14) return { cx: lerp(360, 230, (t - 14) / 7), cy: 90, rx: 34, ry: 28 };
    return null;
  };
  const object: Actor = { colors: WARM, seed: 41, pose };
  const lookalike: Actor = { colors: WARM, seed: 42, pose: () => ({ cx: 80, cy: 170, rx: 36, ry: 30 }) };
  return { width: W, height: H, frames, actors: [object, lookalike] };
}

const DARK: [Rgb, Rgb] = [[40, 160, 60], [20, 60, 30]];

/**
 * Scenes with several objects, each to be tracked as its own (object i =
 * actor i): for bench:davis --multi and the multi-object tests.
 */
export function multiObjectScenes(): { name: string; scene: Scene }[] {
  const frames = 24;
  const s = (t: number) => t / (frames - 1);
  // Two objects side by side, touching, one of them squashing and stretching.
  const touching: Scene = {
    width: W,
    height: H,
    frames,
    actors: [
      { colors: WARM, seed: 51, pose: (t) => ({ cx: lerp(70, 170, s(t)), cy: 120, rx: lerp(40, 30, s(t)), ry: lerp(30, 42, s(t)) }) },
      { colors: PALE, seed: 52, pose: (t) => ({ cx: lerp(70, 170, s(t)) + lerp(40, 30, s(t)) + 32, cy: 125, rx: 32, ry: 34 }) },
    ],
  };
  // Three objects whose paths cross; later ones pass in front of earlier ones.
  const crossing: Scene = {
    width: W,
    height: H,
    frames,
    actors: [
      { colors: WARM, seed: 61, pose: (t) => ({ cx: lerp(50, 270, s(t)), cy: lerp(70, 170, s(t)), rx: 34, ry: 28 }) },
      { colors: PALE, seed: 62, pose: (t) => ({ cx: lerp(270, 50, s(t)), cy: lerp(80, 160, s(t)), rx: 30, ry: 30 }) },
      { colors: DARK, seed: 63, pose: (t) => ({ cx: 160, cy: lerp(200, 40, s(t)), rx: 28, ry: 24 }) },
    ],
  };
  // A small ball thrown up and down in front of a large body (a person juggling).
  const juggling: Scene = {
    width: W,
    height: H,
    frames,
    actors: [
      { colors: DARK, seed: 71, pose: (t) => ({ cx: 160 + 6 * Math.sin(t / 4), cy: 140, rx: 55, ry: 90 }) },
      { colors: WARM, seed: 72, pose: (t) => ({ cx: lerp(120, 200, s(t)), cy: 190 - 150 * Math.abs(Math.sin((Math.PI * t) / 12)), rx: 14, ry: 14 }) },
    ],
  };
  return [
    { name: 'gen-touching', scene: touching },
    { name: 'gen-crossing', scene: crossing },
    { name: 'gen-juggling', scene: juggling },
  ];
}
