/**
 * What the track job's decode pass costs: probeVideo from the packet list
 * against probeVideo({decode: true}), which decodes every frame to find the
 * ones that really decode (src/media/probe.ts).
 *
 *   npm run bench:probe [-- VIDEO ...]
 *
 * Without arguments: ../shared/cutie-examples/example.mp4 and a 600-frame
 * 1080p H.264 clip made by ffmpeg. Each way is timed three times; the median
 * is printed per file, in ms and ms a frame.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { probeVideo } from '../src/media/index.js';
import { runFfmpeg } from '../tests/helpers/synthetic.js';

const RUNS = 3;
const root = await mkdtemp(path.join(tmpdir(), 'clipmask-probe-bench-'));
try {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    const example = path.resolve('../shared/cutie-examples/example.mp4');
    if (existsSync(example)) files.push(example);
    const hd = path.join(root, 'hd-1080p.mp4');
    await runFfmpeg(['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30', '-frames:v', '600', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', hd]);
    files.push(hd);
  }
  for (const file of files) {
    const line: string[] = [];
    for (const decode of [false, true]) {
      const times: number[] = [];
      let frames = 0;
      for (let i = 0; i < RUNS; i++) {
        const started = performance.now();
        frames = (await probeVideo(file, { decode })).frames;
        times.push(performance.now() - started);
      }
      const median = times.sort((a, b) => a - b)[Math.floor(RUNS / 2)];
      line.push(`${decode ? 'decode' : 'packets'} ${median.toFixed(0)} ms (${(median / frames).toFixed(2)} ms/frame, ${frames} frames)`);
    }
    console.log(`${path.basename(file)}: ${line.join('; ')}`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
