/**
 * Video object segmentation quality on DAVIS-style sequences.
 *
 *   npm run bench:davis -- --data DIR [--sequences a,b] [--max-frames N] [--cache DIR] [--no-context]
 *                          [--options '{"appearance":false}'] [--per-frame] [--float16] [--multi]
 *                          [--speed best|fast] [--key-frames '{"maxInterval":8}']
 *
 * Clicks are derived from each sequence's first annotation (deepest interior
 * point, two more positives, one negative); the tracking pipeline runs from
 * them and is scored the DAVIS way (first and last frames excluded). In the
 * same run, for context: an oracle (the decoder prompted on every frame with
 * 8 points from that frame's ground truth, plus two refinement passes) and a
 * no-tracking baseline (the first frame's clicks reused on every frame).
 * --cache DIR keeps embeddings on disk between runs; fps is then not reported.
 * --float16 rounds embeddings to float16, as the service stores them.
 * --multi also runs (with --sequences none, only runs) the several-objects clips (bench/multi.ts): generated
 * scenes and ../shared/cutie-examples/judo, per object J&F and swaps.
 * --speed fast runs the encoder on key frames only (pipeline/key-frames.ts);
 * each sequence's line says how many frames were encoded.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig, segmenterOptions } from '../src/config.js';
import { maskFromClicks } from '../src/segment/click-to-mask.js';
import { roundEmbeddingToFloat16 } from '../src/segment/float16.js';
import { SamSegmenter } from '../src/segment/segmenter.js';
import { samplePositivePoints } from '../src/tracker/query-points.js';
import type { BinaryMask, RgbFrame } from '../src/types.js';
import type { SamPtOptions } from '../src/pipeline/sam-pt.js';
import { scheduleOf, trackFrames } from '../src/pipeline/track-frames.js';
import { deriveClicks } from './clicks.js';
import { annotationPath, listSequences, readBinaryMask, readRgb, sequenceFrames } from './davis-data.js';
import { EmbeddingCache } from './embedding-cache.js';
import { runMulti, type MethodSettings } from './multi.js';
import type { KeyFrameOptions } from '../src/pipeline/key-frames.js';
import { boundaryMeasure, mean, regionSimilarity } from './metrics.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/davis2016' },
    sequences: { type: 'string' },
    'max-frames': { type: 'string' },
    cache: { type: 'string' },
    'no-context': { type: 'boolean', default: false },
    options: { type: 'string' },
    'per-frame': { type: 'boolean', default: false },
    float16: { type: 'boolean', default: false },
    multi: { type: 'boolean', default: false },
    speed: { type: 'string', default: 'best' },
    'key-frames': { type: 'string' },
    judo: { type: 'string', default: '../shared/cutie-examples/judo' },
  },
});
const dataDir = values.data!;
const maxFrames = values['max-frames'] ? Number(values['max-frames']) : Infinity;
const withContext = !values['no-context'];
// SamPtOptions overrides, for ablations.
const methodOptions = values.options ? (JSON.parse(values.options) as Partial<SamPtOptions>) : undefined;
if (values.speed !== 'best' && values.speed !== 'fast') throw new Error(`--speed must be best or fast, not ${values.speed}`);
const method: MethodSettings = {
  options: methodOptions,
  speed: values.speed,
  keyFrames: values['key-frames'] ? (JSON.parse(values['key-frames']) as Partial<KeyFrameOptions>) : undefined,
};

const segmenter = await SamSegmenter.create(segmenterOptions(loadConfig()));
const cache = new EmbeddingCache(segmenter, values.cache);

interface Scores {
  j: number[];
  f: number[];
}
const score = (): Scores => ({ j: [], f: [] });
const add = (s: Scores, mask: BinaryMask, truth: BinaryMask) => {
  s.j.push(regionSimilarity(mask, truth));
  s.f.push(boundaryMeasure(mask, truth));
};
const jf = (s: Scores) => (mean(s.j) + mean(s.f)) / 2;
const empty = (w: number, h: number): BinaryMask => ({ width: w, height: h, data: new Uint8Array(w * h) });
const pct = (v: number) => (100 * v).toFixed(1);

const perSequence = { method: [] as Scores[], oracle: [] as Scores[], baseline: [] as Scores[] };
let framesTracked = 0;
let trackingMs = 0;

// --sequences none: only the --multi clips.
const sequences = values.sequences === 'none' ? [] : await listSequences(dataDir, values.sequences?.split(','));
for (const seq of sequences) {
  const files = (await sequenceFrames(dataDir, seq)).slice(0, maxFrames);
  const truths = await Promise.all(files.map((f) => readBinaryMask(annotationPath(dataDir, seq, f))));
  const clicks = deriveClicks(truths[0], 3, 1).map(([x, y, label]) => ({ x, y, label }));
  const s = { method: score(), oracle: score(), baseline: score() };
  const scored = (t: number) => t > 0 && t < files.length - 1;

  async function* frames(): AsyncGenerator<RgbFrame> {
    for (let t = 0; t < files.length; t++) yield readRgb(files[t], t);
  }
  const started = performance.now();
  let contextMs = 0;
  let encoded = 0;
  for await (const { frame, embedding, masks } of trackFrames({
    segmenter,
    frames: frames(),
    embed: async (frame) => {
      encoded++;
      const embedding = await cache.embed(`${seq}/${frame.index}`, frame);
      return values.float16 ? roundEmbeddingToFloat16(embedding) : embedding;
    },
    schedule: scheduleOf({ objects: [{ id: 1, prompts: [{ frame: 0, points: clicks.map((c) => [c.x, c.y, c.label] as [number, number, 0 | 1]) }] }] }),
    ...method,
  })) {
    const t = frame.index;
    const truth = truths[t];
    if (scored(t)) add(s.method, masks.get(1) ?? empty(frame.width, frame.height), truth);
    if (values['per-frame'] && scored(t)) console.log(`  ${seq} ${t} J ${pct(s.method.j.at(-1)!)}`);
    if (withContext && scored(t)) {
      const contextStart = performance.now();
      const area = truth.data.reduce((a, b) => a + b, 0);
      if (area === 0) add(s.oracle, empty(frame.width, frame.height), truth);
      else {
        const flat = samplePositivePoints(truth, 8, t);
        const points = Array.from({ length: flat.length / 2 }, (_, i) => ({ x: flat[2 * i], y: flat[2 * i + 1], label: 1 as const }));
        add(s.oracle, (await maskFromClicks(segmenter, embedding, { points })).mask, truth);
      }
      add(s.baseline, (await maskFromClicks(segmenter, embedding, { points: clicks })).mask, truth);
      contextMs += performance.now() - contextStart;
    }
  }
  trackingMs += performance.now() - started - contextMs;
  framesTracked += files.length;
  perSequence.method.push(s.method);
  perSequence.oracle.push(s.oracle);
  perSequence.baseline.push(s.baseline);
  const context = withContext ? `  oracle ${pct(jf(s.oracle))}  no-tracking ${pct(jf(s.baseline))}` : '';
  console.log(`${seq.padEnd(16)} J&F ${pct(jf(s.method))}  J ${pct(mean(s.method.j))}  F ${pct(mean(s.method.f))}${context}  encoded ${encoded}/${files.length}`);
}

const overall = (list: Scores[]) => {
  const j = mean(list.map((x) => mean(x.j)));
  const f = mean(list.map((x) => mean(x.f)));
  return { jf: (j + f) / 2, j, f };
};
if (withContext && sequences.length) {
  const o = overall(perSequence.oracle);
  const b = overall(perSequence.baseline);
  console.log(`oracle: J&F=${pct(o.jf)} J=${pct(o.j)} F=${pct(o.f)}`);
  console.log(`no-tracking: J&F=${pct(b.jf)} J=${pct(b.j)} F=${pct(b.f)}`);
}
const m = overall(perSequence.method);
const fps = cache.hits > 0 ? 'n/a(cached embeddings)' : (framesTracked / (trackingMs / 1000)).toFixed(2);
if (sequences.length) console.log(`J&F=${pct(m.jf)} J=${pct(m.j)} F=${pct(m.f)} fps=${fps}`);
if (values.multi) {
  const embed = async (key: string, frame: RgbFrame) => {
    const embedding = await cache.embed(key, frame);
    return values.float16 ? roundEmbeddingToFloat16(embedding) : embedding;
  };
  await runMulti(segmenter, existsSync(values.judo!) ? values.judo : undefined, embed, method);
}
await segmenter.dispose();
