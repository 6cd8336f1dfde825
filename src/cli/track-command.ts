import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { segmenterOptions, type Config } from '../config.js';
import { isMediaError } from '../media/index.js';
import { trackVideo, type TrackProgress } from '../pipeline/track-video.js';
import { parsePrompts, PromptsError } from '../prompts.js';
import { SamSegmenter } from '../segment/segmenter.js';
import { InputError } from './errors.js';

export const TRACK_USAGE = 'clipmask track INPUT --prompts FILE --out DIR [--png-dir DIR] [--max-frames N] [--model NAME]';

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

async function readPromptsFile(file: string) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new InputError(`cannot read prompts file ${file}`);
  }
  return parsePrompts(text);
}

export async function runTrack(argv: string[], config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      prompts: { type: 'string' },
      out: { type: 'string' },
      'png-dir': { type: 'string' },
      'max-frames': { type: 'string' },
      model: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new InputError(`expected one INPUT (a video or a folder of frames); usage: ${TRACK_USAGE}`);
  if (!values.prompts) throw new InputError(`--prompts FILE is required; usage: ${TRACK_USAGE}`);
  if (!values.out) throw new InputError(`--out DIR is required; usage: ${TRACK_USAGE}`);
  const maxFrames = values['max-frames'] === undefined ? undefined : Number(values['max-frames']);
  if (maxFrames !== undefined && !(Number.isInteger(maxFrames) && maxFrames > 0)) {
    throw new InputError(`--max-frames must be a positive whole number, got "${values['max-frames']}"`);
  }
  let prompts;
  try {
    prompts = await readPromptsFile(values.prompts);
  } catch (error) {
    if (error instanceof PromptsError) throw new InputError(error.message, 'invalid_prompts');
    throw error;
  }
  const segmenter = await SamSegmenter.create({ ...segmenterOptions(config), model: values.model ?? config.model });
  const started = performance.now();
  try {
    const result = await trackVideo({
      input: positionals[0],
      prompts,
      segmenter,
      outDir: values.out,
      pngDir: values['png-dir'],
      maxFrames,
      onProgress: progressPrinter(),
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${result.video.frames} frames, ${prompts.objects.length} object(s) in ${seconds.toFixed(1)} s ` +
        `(${(result.video.frames / seconds).toFixed(2)} fps): ${result.artifacts.overlay}, ${result.artifacts.masks}`,
    );
  } catch (error) {
    if (error instanceof PromptsError) throw new InputError(error.message, 'invalid_prompts');
    if (isMediaError(error)) throw new InputError(error.message, error.code);
    throw error;
  } finally {
    await segmenter.dispose();
  }
}
