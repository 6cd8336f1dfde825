/**
 * Where the time goes: a clip through the same code as a job (trackVideo with
 * the job's shared embedding store, overlay, masks.json and PNGs), with the
 * wall time split by stage and compared with the time spent inside ONNX
 * Runtime, the floor on a CPU.
 *
 *   npm run bench:speed [-- --input FILE --objects N --frames N --fps F --no-arena --speed best|fast]
 *
 * Default input: a generated 640x480 clip of 60 frames at 25 fps (--fps sets
 * the rate, e.g. to compare a 10 s and a 60 s clip's memory at a bearable
 * cost) with N moving shapes (one click each). With --input, N clicks spread
 * over the first frame's centre area are used unless --prompts FILE gives
 * real ones. --no-arena turns ONNX Runtime's memory arena off, to compare.
 * --speed fast encodes key frames only (pipeline/key-frames.ts) and also
 * prints how many frames were key frames and what the flow cost. --compare
 * then runs the clip again at `best` (after the measurement, untimed) and
 * prints how well the two agree, which needs no ground truth: any clip can
 * be checked.
 *
 * Stages: encode (the image encoder in ONNX Runtime, in its own thread; it
 * runs one frame ahead, alongside the rest), then the loop's own turns: decode (waiting for
 * ffmpeg's frames), encoder-wait (for the next embedding), decode-prompts (the
 * prompt decoder in ONNX Runtime), track (Lucas-Kanade), render (painting,
 * the overlay encoder's intake, PNGs), other (point handling, mask
 * post-processing, the appearance model, embedding store I/O); with --speed
 * fast also key-plan (chaining the flow back to the key frame, residuals)
 * and warp (warping key frames' embeddings); flow (Farnebäck between
 * consecutive frames) serves both the masks and the planner. Under overlap
 * a stage's time includes waiting for the CPU, and so do the encoder's and
 * decoder's run times: with several objects the two share the cores, so the
 * sum of run times exceeds the wall time (ratio below 1). The last line:
 *   ratio=<wall / ONNX time> fps=.. encoder_ms=<per frame> decoder_ms=<per decoder run> peak_rss_mb=..
 *   startup_ms=<model load + first frame> load_ms=<model load> cached_graphs=<optimised graphs read from disk: yes|no>
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, segmenterOptions } from '../src/config.js';
import { FileEmbeddingStore } from '../src/inference/embedding-store.js';
import { SharedEmbeddings } from '../src/inference/shared-embeddings.js';
import { probeInput } from '../src/media/index.js';
import { limitFrames, trackVideo } from '../src/pipeline/track-video.js';
import { SamSegmenter } from '../src/segment/segmenter.js';
import type { CocoRle, Prompts, Speed } from '../src/types.js';
import { OUTPUT_FILES } from '../src/output/artifacts.js';
import { maskIoU } from '../src/segment/postprocess.js';
import { decodeRle } from '../src/segment/rle.js';
import { recordStages, StageTimes } from '../src/util/profile.js';
import { makeMovingShapeClip, type ShapeSpec } from '../tests/helpers/synthetic.js';

const { values } = parseArgs({
  options: {
    input: { type: 'string' },
    prompts: { type: 'string' },
    objects: { type: 'string', default: '1' },
    frames: { type: 'string' },
    fps: { type: 'string', default: '25' },
    'no-arena': { type: 'boolean', default: false },
    speed: { type: 'string', default: 'best' },
    compare: { type: 'boolean', default: false },
  },
});
if (values.speed !== 'best' && values.speed !== 'fast') throw new Error(`--speed must be best or fast, not ${values.speed}`);
const speed: Speed = values.speed;
const objects = Number(values.objects);
const work = await mkdtemp(path.join(tmpdir(), 'clipmask-speed-'));

/** N discs crossing a 640x480 frame on different paths, one click each. */
async function generated(frames: number): Promise<{ input: string; prompts: Prompts }> {
  const shapes: ShapeSpec[] = Array.from({ length: objects }, (_, i) => {
    const row = 90 + ((i * 300) / Math.max(1, objects - 1 || 1)) % 300;
    return { kind: i % 2 ? 'square' : 'disc', radius: 48, from: [110 + 40 * i, row], to: [530 - 40 * i, 390 - row + 90] };
  });
  const clip = await makeMovingShapeClip(work, { width: 640, height: 480, frames, fps: Number(values.fps), shapes, name: 'speed.mp4' });
  const prompts: Prompts = {
    objects: shapes.map((_, i) => ({ id: i + 1, prompts: [{ frame: 0, points: [[...clip.center(0, i).map(Math.round), 1] as [number, number, 1]] }] })),
  };
  return { input: clip.path, prompts };
}

async function given(input: string): Promise<{ input: string; prompts: Prompts }> {
  if (values.prompts) return { input, prompts: JSON.parse(await readFile(values.prompts, 'utf8')) as Prompts };
  const meta = await probeInput(input);
  const prompts: Prompts = {
    objects: Array.from({ length: objects }, (_, i) => ({
      id: i + 1,
      prompts: [{ frame: 0, points: [[Math.round(meta.width * (0.3 + (0.4 * i) / Math.max(1, objects))), Math.round(meta.height * 0.5), 1] as [number, number, 1]] }],
    })),
  };
  return { input, prompts };
}

/** Mean and lowest IoU of two runs' masks, per object and frame (an object absent from both counts as agreeing). */
async function agreement(fastMasks: string, bestMasks: string): Promise<string> {
  type Doc = { frames: { objects: { id: number; rle: CocoRle }[] }[] };
  const [fast, best] = await Promise.all([fastMasks, bestMasks].map(async (f) => JSON.parse(await readFile(f, 'utf8')) as Doc));
  const ious: number[] = [];
  best.frames.forEach((frame, t) => {
    for (const object of frame.objects) {
      const other = fast.frames[t].objects.find((o) => o.id === object.id)!;
      ious.push(maskIoU(decodeRle(object.rle), decodeRle(other.rle)));
    }
  });
  const mean = ious.reduce((a, b) => a + b, 0) / ious.length;
  return `agreement_with_best: mean_iou=${mean.toFixed(3)} min_iou=${Math.min(...ious).toFixed(3)} below_0.9=${ious.filter((v) => v < 0.9).length}/${ious.length}`;
}

try {
  const { input, prompts } = values.input ? await given(path.resolve(values.input)) : await generated(Number(values.frames ?? 60));
  const meta = limitFrames(await probeInput(input), values.frames ? Number(values.frames) : undefined);

  const loadStart = performance.now();
  const segmenter = await SamSegmenter.create({ ...segmenterOptions(loadConfig()), memoryArena: !values['no-arena'] });
  const loadMs = performance.now() - loadStart;

  const store = new FileEmbeddingStore(path.join(work, 'embeddings'), 8);
  await import('node:fs/promises').then((fs) => fs.mkdir(store.dir, { recursive: true }));
  const embeddings = new SharedEmbeddings({ store, segmenter, input, meta, owner: 'bench', windowFrames: 96 });
  const times = new StageTimes();
  recordStages(times);
  let firstFrameMs: number | undefined;
  const started = performance.now();
  await trackVideo({
    input,
    prompts: { ...prompts, speed },
    segmenter,
    outDir: path.join(work, 'out'),
    pngDir: path.join(work, 'png'),
    maxFrames: values.frames ? Number(values.frames) : undefined,
    embeddings,
    onProgress: () => (firstFrameMs ??= performance.now() - started),
  });
  const wallMs = performance.now() - started;
  recordStages(undefined);
  await embeddings.close();

  const { encoderMs, encoderRuns, decoderMs, decoderRuns } = segmenter.timings;
  // The loop's own stages take turns; the encoder runs alongside them (one frame ahead),
  // so it is shown apart and "other" is what the loop spends outside its named stages.
  const loop: [string, number][] = [
    ['decode', times.ms.get('decode') ?? 0],
    ['encoder-wait', times.ms.get('encoder-wait') ?? 0],
    ['decode-prompts', decoderMs],
    ['track', times.ms.get('track') ?? 0],
    ['flow', times.ms.get('flow') ?? 0],
    ['key-plan', times.ms.get('key-plan') ?? 0],
    ['warp', times.ms.get('warp') ?? 0],
    ['memory', times.ms.get('memory') ?? 0],
    ['render', times.ms.get('render') ?? 0],
  ];
  loop.push(['other', wallMs - loop.reduce((a, [, ms]) => a + ms, 0)]);
  const stages: [string, number][] = [['encode (overlaps)', encoderMs], ...loop];
  const frames = meta.frames;
  console.log(`${path.basename(input)}: ${meta.width}x${meta.height}, ${frames} frames (${meta.duration.toFixed(1)} s), ${prompts.objects.length} object(s)`);
  for (const [stage, ms] of stages) {
    console.log(`  ${stage.padEnd(18)} ${(ms / 1000).toFixed(1).padStart(7)} s  ${(ms / frames).toFixed(0).padStart(6)} ms/frame  ${((100 * ms) / wallMs).toFixed(1).padStart(5)} %`);
  }
  console.log(`  decoder runs: ${decoderRuns} (${(decoderRuns / frames).toFixed(1)} per frame); encoder runs: ${encoderRuns}`);
  const flowMs = (times.ms.get('flow') ?? 0) + (times.ms.get('key-plan') ?? 0);
  console.log(`  speed ${speed}: key frames ${encoderRuns}/${frames}; flow ${(flowMs / frames).toFixed(1)} ms/frame (Farnebäck, and with fast the chaining and residuals)`);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(
    `ratio=${(wallMs / (encoderMs + decoderMs)).toFixed(3)} fps=${((frames * 1000) / wallMs).toFixed(3)} encoder_ms=${(encoderMs / encoderRuns).toFixed(0)} ` +
      `decoder_ms=${(decoderMs / Math.max(1, decoderRuns)).toFixed(1)} peak_rss_mb=${peakRssMb.toFixed(0)} startup_ms=${(loadMs + (firstFrameMs ?? 0)).toFixed(0)} ` +
      `load_ms=${loadMs.toFixed(0)} cached_graphs=${segmenter.optimisedFromCache ? 'yes' : 'no'}`,
  );
  if (values.compare && speed === 'fast') {
    const best = await trackVideo({ input, prompts, segmenter, outDir: path.join(work, 'best'), maxFrames: values.frames ? Number(values.frames) : undefined });
    console.log(await agreement(path.join(work, 'out', OUTPUT_FILES.masks), best.artifacts.masks));
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
