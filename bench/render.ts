/**
 * How fast the renders are: real masks of ../shared/cutie-examples/example.mp4
 * (640x480, 117 frames; tracked once with the real model from clicks on the
 * person in the centre, masks.json cached under the OS temp dir), then each
 * render on its own (every output at its default feather, every effect), and
 * all of them from one decode, timed end to end (decode, alpha, encode).
 *
 *   npm run bench:render [-- --video path --fresh]
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, segmenterOptions } from '../src/config.js';
import { probeInput } from '../src/media/index.js';
import { OUTPUT_FILES } from '../src/output/artifacts.js';
import { masksResults, renderVideos, type RenderTarget } from '../src/output/render.js';
import { EFFECTS, RENDER_OUTPUTS, renderSpec, type RenderSpec } from '../src/output/render-spec.js';
import { trackVideo } from '../src/pipeline/track-video.js';
import { SamSegmenter } from '../src/segment/segmenter.js';
import type { Prompts } from '../src/types.js';

/** What a render has to keep up with: a 25 fps clip in real time on the 2 cores. */
const TARGET_FPS = 25;

const { values } = parseArgs({
  options: {
    video: { type: 'string', default: '../shared/cutie-examples/example.mp4' },
    fresh: { type: 'boolean', default: false },
  },
});
const input = path.resolve(values.video!);
const cacheDir = path.join(tmpdir(), 'clipmask-bench-render');
const prompts: Prompts = { objects: [{ id: 1, name: 'person', prompts: [{ frame: 0, points: [[200, 330, 1], [265, 160, 1], [290, 300, 1], [330, 130, 0]] }] }] };

/** masks.json of the clip, tracked once and kept. */
async function masksJson(): Promise<string> {
  const file = path.join(cacheDir, OUTPUT_FILES.masks);
  if (existsSync(file) && !values.fresh) return file;
  await mkdir(cacheDir, { recursive: true });
  const segmenter = await SamSegmenter.create(segmenterOptions(loadConfig()));
  const started = performance.now();
  await trackVideo({ input, prompts, segmenter, outDir: cacheDir });
  console.log(`tracked in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return file;
}

const meta = await probeInput(input);
const document = JSON.parse(await readFile(await masksJson(), 'utf8'));
const results = masksResults(document);
const edges = document.frames.flatMap((f: any) => f.objects).filter((o: any) => o.edge);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
console.log(`${input}: ${meta.width}x${meta.height}, ${meta.frames} frames; edge ${mean(edges.map((o: any) => o.edge.data.length)).toFixed(0)} chars per object-frame (RLE ${mean(edges.map((o: any) => o.rle.counts.length)).toFixed(0)})`);

const runs: { name: string; specs: RenderSpec[] }[] = [
  ...RENDER_OUTPUTS.filter((o) => o !== 'effect.mp4').map((output) => ({ name: output, specs: [renderSpec({ output })] })),
  ...EFFECTS.map((effect) => ({ name: `effect.mp4 ${effect}`, specs: [renderSpec({ output: 'effect.mp4', effect })] })),
  { name: 'all of the above, one pass', specs: [...RENDER_OUTPUTS.filter((o) => o !== 'effect.mp4').map((output) => renderSpec({ output })), ...EFFECTS.map((effect) => renderSpec({ output: 'effect.mp4', effect }))] },
];

const work = await mkdtemp(path.join(tmpdir(), 'clipmask-render-out-'));
const rows: { name: string; ms: number }[] = [];
try {
  for (const run of runs) {
    const targets: RenderTarget[] = run.specs.map((spec, i) => ({ spec, path: path.join(work, `${i}-${spec.output}`) }));
    const started = performance.now();
    await renderVideos({ input, meta, results }, targets);
    rows.push({ name: run.name, ms: performance.now() - started });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

console.log(`\n${'render'.padEnd(30)} ${'ms/frame'.padStart(9)} ${'fps'.padStart(7)}`);
for (const row of rows) console.log(`${row.name.padEnd(30)} ${(row.ms / meta.frames).toFixed(1).padStart(9)} ${((meta.frames * 1000) / row.ms).toFixed(1).padStart(7)}`);
const single = rows.slice(0, -1);
const slowest = single.reduce((a, b) => (b.ms > a.ms ? b : a));
const fps = (meta.frames * 1000) / slowest.ms;
console.log(`\nslowest: ${slowest.name} at ${fps.toFixed(1)} fps vs the target of ${TARGET_FPS} fps on 2 cores: ${fps >= TARGET_FPS ? 'met' : 'NOT met'}`);
