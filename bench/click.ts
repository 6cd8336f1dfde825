/**
 * Click-to-mask quality on the first frames of DAVIS-style sequences.
 *   npm run bench:click -- --data ../shared/davis2016 [--sequences a,b] [--refine N]
 * (a) one click at the deepest interior point; (b) three positive clicks and one negative.
 */
import { parseArgs } from 'node:util';
import { loadConfig, segmenterOptions } from '../src/config.js';
import { maskFromClicks } from '../src/segment/click-to-mask.js';
import { maskIoU } from '../src/segment/postprocess.js';
import { SamSegmenter } from '../src/segment/segmenter.js';
import { deriveClicks } from './clicks.js';
import { annotationPath, listSequences, readBinaryMask, readRgb, sequenceFrames } from './davis-data.js';
import { mean } from './metrics.js';

const { values } = parseArgs({
  options: { data: { type: 'string', default: '../shared/davis2016' }, sequences: { type: 'string' }, refine: { type: 'string' } },
});
const refinePasses = values.refine === undefined ? undefined : Number(values.refine);
const segmenter = await SamSegmenter.create(segmenterOptions(loadConfig()));
const one: number[] = [];
const four: number[] = [];
for (const seq of await listSequences(values.data!, values.sequences?.split(','))) {
  const [first] = await sequenceFrames(values.data!, seq);
  const [image, truth] = await Promise.all([readRgb(first), readBinaryMask(annotationPath(values.data!, seq, first))]);
  const embedding = await segmenter.embed(image);
  const toPoints = (clicks: ReturnType<typeof deriveClicks>) => clicks.map(([x, y, label]) => ({ x, y, label }));
  const a = await maskFromClicks(segmenter, embedding, { points: toPoints(deriveClicks(truth, 1, 0)) }, { refinePasses });
  const b = await maskFromClicks(segmenter, embedding, { points: toPoints(deriveClicks(truth, 3, 1)) }, { refinePasses });
  one.push(maskIoU(a.mask, truth));
  four.push(maskIoU(b.mask, truth));
  console.log(`${seq.padEnd(16)} one-click IoU ${one.at(-1)!.toFixed(3)}  3+1 clicks IoU ${four.at(-1)!.toFixed(3)}`);
}
const t = segmenter.timings;
console.log(
  `one_click_iou=${mean(one).toFixed(3)} three_plus_one_iou=${mean(four).toFixed(3)} ` +
    `encoder_ms=${(t.encoderMs / t.encoderRuns).toFixed(0)} decoder_ms=${(t.decoderMs / t.decoderRuns).toFixed(1)}`,
);
await segmenter.dispose();
