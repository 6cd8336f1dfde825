import { segmenterOptions, type Config } from '../config.js';
import { isMediaError } from '../media/index.js';
import { trackVideo, type TrackProgress } from '../pipeline/track-video.js';
import { readFile } from 'node:fs/promises';
import { masksResults, type MasksDocument } from '../output/render.js';
import { PromptsError, requestedRenders } from '../prompts.js';
import { SamSegmenter } from '../segment/segmenter.js';
import { InputError } from './errors.js';
import { renderInto, writeSourceFile } from './render-command.js';
import { parseTrackArgs } from './track-args.js';

export { TRACK_NOTES, TRACK_USAGE } from './track-args.js';

/** A one-line progress bar on a terminal: frames done, fps, ETA. Silent when stderr is not a TTY. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr) {
  const started = performance.now();
  let last = 0;
  return (p: TrackProgress) => {
    if (!stream.isTTY) return;
    const now = performance.now();
    if (now - last < 200 && p.framesDone < p.framesTotal) return;
    last = now;
    const fps = p.framesDone / ((now - started) / 1000);
    const eta = fps > 0 ? (p.framesTotal - p.framesDone) / fps : 0;
    const width = 30;
    const filled = Math.round((width * p.framesDone) / p.framesTotal);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    stream.write(`\r[${bar}] ${p.framesDone}/${p.framesTotal} frames  ${fps.toFixed(2)} fps  ETA ${Math.ceil(eta)} s  (${p.stage})   `);
    if (p.framesDone === p.framesTotal) stream.write('\n');
  };
}

export async function runTrack(argv: string[], config: Config): Promise<void> {
  const { input, prompts, out, pngDir, maxFrames, model } = await parseTrackArgs(argv);
  const segmenter = await SamSegmenter.create({ ...segmenterOptions(config), model: model ?? config.model });
  const started = performance.now();
  try {
    const result = await trackVideo({
      input,
      prompts,
      segmenter,
      outDir: out,
      pngDir,
      maxFrames,
      onProgress: progressPrinter(),
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${result.video.frames} frames, ${prompts.objects.length} object(s), speed ${prompts.speed ?? 'best'}, in ${seconds.toFixed(1)} s ` +
        `(${(result.video.frames / seconds).toFixed(2)} fps): ${result.artifacts.overlay}, ${result.artifacts.masks}`,
    );
    // A damaged video went as far as it decodes: say what is missing (masks.json says it too).
    for (const warning of result.video.warnings ?? []) console.error(`clipmask: warning (${warning.code}): ${warning.message}`);
    // Where the source is, for `clipmask render DIR` later.
    await writeSourceFile(out, input);
    const renders = requestedRenders(prompts);
    if (renders.length > 0) {
      // From the masks.json just written, as `clipmask render` and the service's render job make them.
      const masks = JSON.parse(await readFile(result.artifacts.masks, 'utf8')) as MasksDocument;
      const renderStarted = performance.now();
      const files = await renderInto({ input, meta: result.video, results: masksResults(masks) }, renders, out);
      console.log(`rendered in ${((performance.now() - renderStarted) / 1000).toFixed(1)} s: ${files.join(', ')}`);
    }
  } catch (error) {
    if (error instanceof PromptsError) throw new InputError(error.message, 'invalid_prompts');
    if (isMediaError(error)) throw new InputError(error.message, error.code);
    throw error;
  } finally {
    await segmenter.dispose();
  }
}
