/**
 * The tracking method on generated hard cases (real model): a shape that
 * speeds up and deforms, an occluder passing in front, a look-alike crossing
 * it, and an object that leaves the picture and comes back while a
 * look-alike stays. Frames are drawn straight to RGB, so the only error is
 * the method's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleOf, trackFrames } from '../../src/pipeline/track-frames.js';
import { maskArea, maskIoU } from '../../src/segment/postprocess.js';
import { coveredShare } from '../../bench/metrics.js';
import { SamSegmenter } from '../../src/segment/segmenter.js';
import type { BinaryMask, RgbFrame } from '../../src/types.js';
import { crossingLookalikeScene, deformingScene, drawScene, exitAndReturnScene, multiObjectScenes, occluderScene, sceneTruth, type Scene } from '../helpers/scenes.js';

let segmenter: SamSegmenter;
beforeAll(async () => {
  segmenter = await SamSegmenter.create();
});
afterAll(async () => segmenter?.dispose());


/** Per frame, the masks of objects 1..n, tracked from one click at the centre of actors 0..n-1 on frame 0. */
async function trackAll(scene: Scene, objects: number): Promise<Map<number, BinaryMask>[]> {
  async function* frames(): AsyncGenerator<RgbFrame> {
    for (let t = 0; t < scene.frames; t++) yield drawScene(scene, t);
  }
  const click = (i: number): [number, number, 1] => {
    const { cx, cy } = scene.actors[i].pose(0)!;
    return [Math.round(cx), Math.round(cy), 1];
  };
  const prompts = { objects: Array.from({ length: objects }, (_, i) => ({ id: i + 1, prompts: [{ frame: 0, points: [click(i)] }] })) };
  const masks: Map<number, BinaryMask>[] = [];
  for await (const tracked of trackFrames({ segmenter, frames: frames(), embed: (frame) => segmenter.embed(frame), schedule: scheduleOf(prompts) })) masks.push(tracked.masks);
  return masks;
}

/** Masks of object 1 on every frame, tracked from one click at the centre of actor 0 on frame 0. */
async function track(scene: Scene): Promise<(BinaryMask | undefined)[]> {
  return (await trackAll(scene, 1)).map((m) => m.get(1));
}

const area = (mask?: BinaryMask) => (mask ? maskArea(mask) : 0);
const iou = (mask: BinaryMask | undefined, truth: BinaryMask) => (mask ? maskIoU(mask, truth) : area(truth) === 0 ? 1 : 0);
/** Share of `truth` that `mask` covers (none without a mask). */
const covered = (mask: BinaryMask | undefined, truth: BinaryMask) => (mask ? coveredShare(mask, truth) : 0);

describe('tracking hard cases (real model)', () => {
  it('follows a shape that speeds up and deforms: IoU > 0.9 on every frame', async () => {
    const scene = deformingScene();
    const masks = await track(scene);
    const ious = masks.map((m, t) => iou(m, sceneTruth(scene, t, 0)));
    expect(Math.min(...ious), ious.map((v) => v.toFixed(2)).join(' ')).toBeGreaterThan(0.9);
  });

  it('keeps the object and not the occluder while an occluder passes in front: IoU > 0.8 on every frame', async () => {
    const scene = occluderScene();
    const masks = await track(scene);
    masks.forEach((mask, t) => {
      expect(covered(mask, sceneTruth(scene, t, 1)), `frame ${t}: on the occluder`).toBeLessThan(0.1);
      expect(iou(mask, sceneTruth(scene, t, 0)), `frame ${t}`).toBeGreaterThan(0.8);
    });
  });

  it('comes out of a look-alike crossing in front of it on the object: IoU > 0.5 while they overlap, > 0.95 and nothing of the look-alike after', async () => {
    const scene = crossingLookalikeScene();
    const masks = await track(scene);
    // They overlap on frames 6-10; the look-alike is in front of most of the object on 8.
    masks.forEach((mask, t) => {
      const after = t >= 11;
      expect(covered(mask, sceneTruth(scene, t, 1)), `frame ${t}: on the look-alike`).toBeLessThan(after ? 0.05 : 0.5);
      expect(iou(mask, sceneTruth(scene, t, 0)), `frame ${t}`).toBeGreaterThan(after ? 0.95 : 0.5);
    });
  });

  it('reports an object absent while it is out of the picture, never on the look-alike, and finds it within 5 frames of its return', async () => {
    const scene = exitAndReturnScene();
    const masks = await track(scene);
    masks.forEach((mask, t) => {
      expect(covered(mask, sceneTruth(scene, t, 1)), `frame ${t}: on the look-alike`).toBeLessThan(0.05);
      if (t >= 8 && t <= 13) expect(area(mask), `frame ${t}: the object is gone`).toBe(0);
    });
    // Frame 15 is the first on which part of it shows again.
    const back = masks.findIndex((_, t) => t >= 14 && area(sceneTruth(scene, t, 0)) > 0);
    const foundAt = masks.findIndex((m, t) => t >= back && iou(m, sceneTruth(scene, t, 0)) > 0.7);
    expect(back).toBe(15);
    expect(foundAt, masks.map((m, t) => iou(m, sceneTruth(scene, t, 0)).toFixed(2)).join(' ')).toBeGreaterThanOrEqual(back);
    expect(foundAt).toBeLessThanOrEqual(back + 5);
    for (let t = foundAt; t < scene.frames; t++) expect(iou(masks[t], sceneTruth(scene, t, 0)), `frame ${t}`).toBeGreaterThan(0.7);
  });

  it('keeps two touching objects whole and apart, one squashing and stretching: IoU > 0.9 each, on every frame', async () => {
    const { scene } = multiObjectScenes().find((c) => c.name === 'gen-touching')!;
    const masks = await trackAll(scene, 2);
    masks.forEach((byObject, t) => {
      for (const [i, other] of [[0, 1], [1, 0]]) {
        const mask = byObject.get(i + 1);
        expect(iou(mask, sceneTruth(scene, t, i)), `frame ${t}, object ${i + 1}`).toBeGreaterThan(0.9);
        expect(covered(mask, sceneTruth(scene, t, other)), `frame ${t}, object ${i + 1} on the other`).toBeLessThan(0.05);
      }
    });
  });
});
