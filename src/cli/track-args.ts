import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { OUTPUT_NAMES, RENDER_OUTPUTS, type OutputName } from '../output/render-spec.js';
import { parsePrompts, PromptsError } from '../prompts.js';
import { SPEEDS, type Prompts, type Speed } from '../types.js';
import { InputError } from './errors.js';

/**
 * `clipmask track`'s arguments, checked, and the prompts it will track with.
 * Apart from the command so it loads neither the model nor the pipeline:
 * the checks run (and are tested) before anything heavy starts.
 */

export const TRACK_USAGE = `clipmask track INPUT --prompts FILE --out DIR [--png-dir DIR] [--max-frames N] [--speed ${SPEEDS.join('|')}] [--outputs NAME,...] [--model NAME]`;

/** Lines under the usage in `clipmask --help`, for what the synopsis cannot say. */
export const TRACK_NOTES = [
  '--speed: best (the default) encodes every frame; fast encodes key frames only and warps the rest (faster, a little less accurate).',
  '--speed overrides a "speed" in the prompts file.',
  `--outputs: comma-separated output names; the renders among them (${RENDER_OUTPUTS.join(', ')}) are made into DIR after tracking, each with its defaults (overlay.mp4, masks.json and instances.json are always made; PNGs with --png-dir). Overrides "outputs" in the prompts file, which may also give render requests ({output, objects, feather, effect}).`,
  'DIR gets overlay.mp4, masks.json, instances.json and source.json (the source\'s absolute path, which `clipmask render DIR` reads).',
];

export interface TrackArgs {
  input: string;
  prompts: Prompts;
  out: string;
  pngDir?: string;
  maxFrames?: number;
  model?: string;
}

export async function parseTrackArgs(argv: string[]): Promise<TrackArgs> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      prompts: { type: 'string' },
      out: { type: 'string' },
      'png-dir': { type: 'string' },
      'max-frames': { type: 'string' },
      speed: { type: 'string' },
      outputs: { type: 'string' },
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
  const speed = parseSpeed(values.speed);
  const outputs = values.outputs === undefined ? undefined : parseOutputs(values.outputs);
  const prompts = await readPromptsFile(values.prompts);
  return {
    input: positionals[0],
    // The options win over the file's "speed" and "outputs"; without them the file's (or none) stay.
    prompts: { ...prompts, ...(speed === undefined ? {} : { speed }), ...(outputs === undefined ? {} : { outputs }) },
    out: values.out,
    pngDir: values['png-dir'],
    maxFrames,
    model: values.model,
  };
}

/** `--outputs cutout.webm,matte.mp4`: output names (a render by name gets its defaults). */
export function parseOutputs(text: string): OutputName[] {
  const names = text.split(',').map((s) => s.trim());
  const outputs: OutputName[] = [];
  for (const name of names) {
    const known = OUTPUT_NAMES.find((n) => n === name);
    if (!known) throw new InputError(`--outputs: unknown output "${name}"; the outputs are ${OUTPUT_NAMES.join(', ')}`);
    outputs.push(known);
  }
  return outputs;
}

function parseSpeed(value: string | undefined): Speed | undefined {
  if (value === undefined) return undefined;
  const speed = SPEEDS.find((s) => s === value);
  if (!speed) throw new InputError(`--speed must be ${SPEEDS.join(' or ')}, got "${value}"`);
  return speed;
}

async function readPromptsFile(file: string): Promise<Prompts> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new InputError(`cannot read prompts file ${file}`);
  }
  try {
    return parsePrompts(text);
  } catch (error) {
    if (error instanceof PromptsError) throw new InputError(error.message, 'invalid_prompts');
    throw error;
  }
}
