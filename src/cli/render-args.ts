import { parseArgs } from 'node:util';
import { EFFECTS, MAX_FEATHER, RENDER_OUTPUTS, renderRequestSchema, renderSpec, type Effect, type RenderOutput, type RenderSpec } from '../output/render-spec.js';
import { InputError } from './errors.js';

/**
 * `clipmask render`'s arguments, checked. Apart from the command so it loads
 * no media code: the checks run (and are tested) before anything heavy starts.
 * What needs the result folder (masks.json's objects, the source) is checked
 * by the command.
 */

export const RENDER_USAGE = `clipmask render DIR --output ${RENDER_OUTPUTS.join('|')} [--effect ${EFFECTS.join('|')}] [--objects ID,...] [--feather N] [--source VIDEO] [--out FILE]`;

export const RENDER_NOTES = [
  'DIR is a `clipmask track --out` folder: the render is made from DIR/masks.json and the source video DIR/source.json names (--source overrides it).',
  `--objects: the object ids to include (default: every object); --feather: soft edge width in pixels, 0 to ${MAX_FEATHER} (default: cut-outs 1, matte 0, effect 4); --effect: effect.mp4 only (default blur-background).`,
  '--out: the file to write (default DIR/<the render\'s file name>, e.g. cutout.webm, matte-objects-1-feather-2.mp4).',
];

/** The folder's file naming the source video, written by `clipmask track`. */
export const SOURCE_FILE = 'source.json';

/** DIR/source.json: where the tracked video (or folder of frames) is. */
export interface SourceFile {
  /** Absolute path of the input `clipmask track` was given. */
  input: string;
}

export interface RenderArgs {
  dir: string;
  spec: RenderSpec;
  source?: string;
  out?: string;
}

export function parseRenderArgs(argv: string[]): RenderArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      output: { type: 'string' },
      effect: { type: 'string' },
      objects: { type: 'string' },
      feather: { type: 'string' },
      source: { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new InputError(`expected one DIR (a clipmask track --out folder); usage: ${RENDER_USAGE}`);
  if (values.output === undefined) throw new InputError(`--output is required (${RENDER_OUTPUTS.join(', ')}); usage: ${RENDER_USAGE}`);
  const output = RENDER_OUTPUTS.find((o) => o === values.output);
  if (!output) throw new InputError(`--output must be one of ${RENDER_OUTPUTS.join(', ')}, got "${values.output}"`);
  const effect = values.effect === undefined ? undefined : parseEffect(values.effect, output);
  const objects = values.objects === undefined ? undefined : parseObjects(values.objects);
  const feather = values.feather === undefined ? undefined : parseFeather(values.feather);
  const request = renderRequestSchema.safeParse({ output, ...(objects ? { objects } : {}), ...(feather === undefined ? {} : { feather }), ...(effect ? { effect } : {}) });
  // The checks above cover what the schema refuses; this is the last word should the two drift apart.
  if (!request.success) throw new InputError(`${request.error.issues[0].path.join('.') || 'render'}: ${request.error.issues[0].message}`);
  return { dir: positionals[0], spec: renderSpec(request.data), source: values.source, out: values.out };
}

function parseEffect(value: string, output: RenderOutput): Effect {
  const effect = EFFECTS.find((e) => e === value);
  if (!effect) throw new InputError(`--effect must be one of ${EFFECTS.join(', ')}, got "${value}"`);
  if (output !== 'effect.mp4') throw new InputError(`--effect is for --output effect.mp4 only, not ${output}`);
  return effect;
}

function parseObjects(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const ids = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (ids.some((id) => !Number.isInteger(id) || id < 1 || id > 255)) {
    throw new InputError(`--objects must be object ids (whole numbers 1 to 255) separated by commas, got "${value}"`);
  }
  return ids;
}

function parseFeather(value: string): number {
  const feather = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(feather) || feather < 0 || feather > MAX_FEATHER) {
    throw new InputError(`--feather must be a number of pixels from 0 to ${MAX_FEATHER}, got "${value}"`);
  }
  return feather;
}
