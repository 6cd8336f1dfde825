import { z } from 'zod';

/**
 * The renders a job can give beside its overlay: what each is called, the
 * effects, the feather, and the file name a render gets. The one source for
 * these names: the prompts' `outputs`, POST /v1/jobs/:id/renders, the render
 * job, the CLI and the web page all take them from here (zod only, so the
 * page and the CLI can import it without the media code).
 */

/** Made by every run, whatever `outputs` says (masks.json is what renders and corrections start from). */
export const STANDARD_OUTPUTS = ['overlay.mp4', 'masks.json', 'masks.zip', 'instances.json'] as const;

/** Rendered from masks.json and the source video, on request. */
export const RENDER_OUTPUTS = ['cutout.webm', 'cutout.mov', 'matte.mp4', 'effect.mp4'] as const;
export type RenderOutput = (typeof RENDER_OUTPUTS)[number];

export function isRenderOutput(name: string): name is RenderOutput {
  return (RENDER_OUTPUTS as readonly string[]).includes(name);
}

export const OUTPUT_NAMES = [...STANDARD_OUTPUTS, ...RENDER_OUTPUTS] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** What `outputs` is when a submission leaves it out: today's three (instances.json comes with masks.json). */
export const DEFAULT_OUTPUTS: readonly OutputName[] = ['overlay.mp4', 'masks.json', 'masks.zip'];

/** What effect.mp4 does behind the objects. */
export const EFFECTS = ['blur-background', 'grey-background', 'black-background', 'spotlight'] as const;
export type Effect = (typeof EFFECTS)[number];
export const DEFAULT_EFFECT: Effect = 'blur-background';

/** Feather (soft edge width, pixels) bounds; past this an edge is a blur, not a mask. */
export const MAX_FEATHER = 32;

/**
 * The feather a render gets when the request does not say: mattes are exact
 * (editors feather them), cut-outs get the decoder's anti-aliased edge, and
 * effects a soft transition.
 */
export const DEFAULT_FEATHER: Record<RenderOutput, number> = { 'cutout.webm': 1, 'cutout.mov': 1, 'matte.mp4': 0, 'effect.mp4': 4 };

/** Most renders one job keeps (each distinct spec is one file). */
export const MAX_RENDERS_PER_JOB = 32;

export const renderRequestSchema = z
  .strictObject({
    output: z.enum(RENDER_OUTPUTS).describe('which render'),
    objects: z
      .array(z.int().positive())
      .min(1)
      .max(255)
      .optional()
      .describe('object ids to include (default: every object)'),
    feather: z.number().min(0).max(MAX_FEATHER).optional().describe('soft edge width in pixels (default per output: cut-outs 1, matte 0, effect 4)'),
    effect: z.enum(EFFECTS).optional().describe(`effect.mp4 only: what happens behind the objects (default ${DEFAULT_EFFECT})`),
  })
  .refine((r) => r.effect === undefined || r.output === 'effect.mp4', { path: ['effect'], message: 'effect is for effect.mp4 only' });
export type RenderRequest = z.infer<typeof renderRequestSchema>;

/** A render with its defaults filled in: what the render job is given. */
export interface RenderSpec {
  output: RenderOutput;
  /** Sorted, unique; undefined means every object. */
  objects?: number[];
  feather: number;
  /** effect.mp4 only. */
  effect?: Effect;
}

export function renderSpec(request: RenderRequest): RenderSpec {
  const objects = request.objects ? [...new Set(request.objects)].sort((a, b) => a - b) : undefined;
  return {
    output: request.output,
    ...(objects ? { objects } : {}),
    feather: request.feather ?? DEFAULT_FEATHER[request.output],
    ...(request.output === 'effect.mp4' ? { effect: request.effect ?? DEFAULT_EFFECT } : {}),
  };
}

/**
 * A render's file name: the output's name, with what differs from the
 * defaults in it, so each distinct render is its own file and the same
 * request twice is the same file. `cutout.webm`, `effect-spotlight.mp4`,
 * `matte-objects-1-3-feather-2.mp4`.
 */
export function renderFileName(spec: RenderSpec): string {
  const dot = spec.output.lastIndexOf('.');
  const parts = [spec.output.slice(0, dot)];
  if (spec.effect) parts.push(spec.effect);
  if (spec.objects) parts.push('objects', ...spec.objects.map(String));
  if (spec.feather !== DEFAULT_FEATHER[spec.output]) parts.push('feather', String(spec.feather));
  return `${parts.join('-')}${spec.output.slice(dot)}`;
}

/** The MIME type each render is served with. */
export const RENDER_TYPES: Record<RenderOutput, string> = {
  'cutout.webm': 'video/webm',
  'cutout.mov': 'video/quicktime',
  'matte.mp4': 'video/mp4',
  'effect.mp4': 'video/mp4',
};

/** What each output is for (the README, the page and the OpenAPI document say the same). */
export const OUTPUT_PURPOSES: Record<OutputName, string> = {
  'overlay.mp4': 'the video with each object tinted in its colour, to check the result',
  'masks.json': "ClipMask's record: per frame and object the COCO RLE mask, box, area and score; renders and corrections start from it",
  'masks.zip': 'one indexed PNG per frame (pixel value = object id, DAVIS palette), for dataset tools',
  'instances.json': 'YouTube-VIS video instances (COCO RLE per frame), for pycocotools-based training and evaluation code',
  'cutout.webm': 'the objects on transparency (VP9 with alpha), plays in Chromium and Firefox and drops onto web pages',
  'cutout.mov': 'the objects on transparency (ProRes 4444 with alpha), for editing software',
  'matte.mp4': 'white objects on black (H.264, full range, lossless), a luma matte for Track Matte in Premiere, Resolve or After Effects',
  'effect.mp4': 'the source with its background blurred, grey, black or darkened (spotlight) behind the objects',
};
