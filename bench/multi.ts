/**
 * Several objects at once, for `bench:davis --multi`: generated scenes where
 * two or three textured objects touch, cross and pass in front of each other
 * (ground truth on every frame), and Cutie's judo example. Judo's annotated
 * frames each hold only the object that appears there (they are Cutie's
 * prompts), so each object is clicked where it is annotated and judo gives
 * no J&F, only swaps: no mask may cover another object where that one is
 * annotated. Per object J&F, and identity swaps: frames on which one
 * object's mask covers more than 20 % of another object's ground truth.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { davisPalette } from '../src/media/index.js';
import { scheduleOf, trackFrames, type TrackFramesInput } from '../src/pipeline/track-frames.js';

/** How the method runs: SamPtOptions overrides, speed, key-frame options. */
export type MethodSettings = Pick<TrackFramesInput, 'options' | 'speed' | 'keyFrames'>;
import { maskArea } from '../src/segment/postprocess.js';
import type { SamSegmenter } from '../src/segment/segmenter.js';
import type { BinaryMask, ImageEmbedding, Prompts, RgbFrame } from '../src/types.js';
import { drawScene, multiObjectScenes, sceneTruth } from '../tests/helpers/scenes.js';
import { deriveClicks } from './clicks.js';
import { readRgb } from './davis-data.js';
import { boundaryMeasure, coveredShare, mean, regionSimilarity } from './metrics.js';

/** Ground truth of one clip: per scored frame, per object id, its mask. */
interface MultiClip {
  name: string;
  frames: number;
  read: (t: number) => Promise<RgbFrame>;
  /** Object id -> the frame it is clicked on. */
  promptFrames: Map<number, number>;
  truth: Map<number, Map<number, BinaryMask>>;
}

const SWAP_SHARE = 0.2;

function generatedClips(): MultiClip[] {
  return multiObjectScenes().map(({ name, scene }) => {
    const truth = new Map<number, Map<number, BinaryMask>>();
    for (let t = 0; t < scene.frames; t++) truth.set(t, new Map(scene.actors.map((_, i) => [i + 1, sceneTruth(scene, t, i)])));
    return { name, frames: scene.frames, read: async (t) => drawScene(scene, t), promptFrames: new Map(scene.actors.map((_, i) => [i + 1, 0])), truth };
  });
}

/** An indexed-palette annotation (DAVIS palette) as one mask per object index. */
async function readIndexedMasks(file: string, width: number, height: number): Promise<Map<number, BinaryMask>> {
  // One of judo's annotations is a pixel narrower than its frame: padded with background.
  const { data, info } = await sharp(file)
    .removeAlpha()
    .resize({ width, height, fit: 'contain', position: 'left top', kernel: 'nearest', background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const palette = davisPalette();
  const byColour = new Map(palette.map(([r, g, b], i) => [(r << 16) | (g << 8) | b, i]));
  const masks = new Map<number, BinaryMask>();
  for (let p = 0; p < info.width * info.height; p++) {
    const index = byColour.get((data[3 * p] << 16) | (data[3 * p + 1] << 8) | data[3 * p + 2]) ?? 0;
    if (index === 0) continue;
    if (!masks.has(index)) masks.set(index, { width: info.width, height: info.height, data: new Uint8Array(info.width * info.height) });
    masks.get(index)!.data[p] = 1;
  }
  return masks;
}

async function judoClip(dir: string): Promise<MultiClip> {
  const images = (await readdir(path.join(dir, 'JPEGImages'))).filter((n) => n.endsWith('.jpg')).sort();
  const truth = new Map<number, Map<number, BinaryMask>>();
  const promptFrames = new Map<number, number>();
  const first = await readRgb(path.join(dir, 'JPEGImages', images[0]));
  for (const name of (await readdir(path.join(dir, 'Annotations'))).sort()) {
    const t = images.indexOf(name.replace(/\.png$/, '.jpg'));
    const masks = await readIndexedMasks(path.join(dir, 'Annotations', name), first.width, first.height);
    truth.set(t, masks);
    for (const id of masks.keys()) if (!promptFrames.has(id)) promptFrames.set(id, t);
  }
  return { name: 'judo', frames: images.length, read: (t) => readRgb(path.join(dir, 'JPEGImages', images[t]), t), promptFrames, truth };
}

interface ObjectScore {
  j: number[];
  f: number[];
  /** Frames checked for swaps, and frames with one. */
  checked: number;
  swaps: number;
}

async function scoreClip(segmenter: SamSegmenter, clip: MultiClip, embed: (key: string, f: RgbFrame) => Promise<ImageEmbedding>, method: MethodSettings) {
  const prompts: Prompts = { objects: [] };
  for (const [id, frame] of clip.promptFrames) {
    const points = deriveClicks(clip.truth.get(frame)!.get(id)!, 2, 0);
    prompts.objects.push({ id, prompts: [{ frame, points }] });
  }
  async function* frames(): AsyncGenerator<RgbFrame> {
    for (let t = 0; t < clip.frames; t++) yield clip.read(t);
  }
  const scores = new Map<number, ObjectScore>([...clip.promptFrames.keys()].map((id) => [id, { j: [], f: [], checked: 0, swaps: 0 }]));
  let encoded = 0;
  const encode = (f: RgbFrame) => (encoded++, embed(`${clip.name}/${f.index}`, f));
  for await (const { frame, masks } of trackFrames({ segmenter, frames: frames(), embed: encode, schedule: scheduleOf(prompts), ...method })) {
    const truths = clip.truth.get(frame.index);
    if (!truths) continue;
    for (const [id, score] of scores) {
      if (frame.index <= clip.promptFrames.get(id)!) continue; // scored after its own click
      const empty: BinaryMask = { width: frame.width, height: frame.height, data: new Uint8Array(frame.width * frame.height) };
      const mask = masks.get(id) ?? empty;
      const truth = truths.get(id);
      if (truth) {
        score.j.push(regionSimilarity(mask, truth));
        score.f.push(boundaryMeasure(mask, truth));
      }
      score.checked++;
      const swapped = [...truths].some(([other, t]) => other !== id && maskArea(t) > 0 && coveredShare(mask, t) > SWAP_SHARE);
      if (swapped) score.swaps++;
    }
  }
  return { scores, keyFrames: `${encoded}/${clip.frames}` };
}

/** Runs every clip and prints per object J&F and swaps. */
export async function runMulti(
  segmenter: SamSegmenter,
  judoDir: string | undefined,
  embed: (key: string, f: RgbFrame) => Promise<ImageEmbedding>,
  method: MethodSettings,
): Promise<void> {
  const clips = generatedClips();
  if (judoDir) clips.push(await judoClip(judoDir));
  const pct = (v: number) => (100 * v).toFixed(1);
  let generatedSwaps = 0;
  const all: number[] = [];
  for (const clip of clips) {
    const { scores, keyFrames } = await scoreClip(segmenter, clip, embed, method);
    const parts = [...scores].map(([id, s]) => {
      const jf = (mean(s.j) + mean(s.f)) / 2;
      if (s.j.length) all.push(jf);
      return `obj ${id} J&F ${s.j.length ? pct(jf) : 'n/a'} swaps ${s.swaps}/${s.checked}`;
    });
    if (clip.name.startsWith('gen-')) generatedSwaps += [...scores.values()].reduce((n, s) => n + s.swaps, 0);
    console.log(`${clip.name.padEnd(16)} ${parts.join('  ')}  encoded ${keyFrames}`);
  }
  console.log(`multi: J&F=${pct(mean(all))} (mean over the generated clips' objects) generated_swaps=${generatedSwaps}`);
}
