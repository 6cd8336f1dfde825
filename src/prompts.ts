import { z } from 'zod';
import {
  DEFAULT_OUTPUTS,
  isRenderOutput,
  MAX_RENDERS_PER_JOB,
  OUTPUT_NAMES,
  RENDER_OUTPUTS,
  renderFileName,
  renderRequestSchema,
  renderSpec,
  type RenderRequest,
  type RenderSpec,
} from './output/render-spec.js';
import { SPEEDS, type Correction, type Prompts, type VideoMeta } from './types.js';

/**
 * The prompts a user submits, shared by the CLI (a JSON file) and the API (a
 * multipart field). The schema checks shape and ranges that need no video;
 * `checkPromptsAgainstVideo` checks what needs the probed video.
 */

export const MAX_POINTS_PER_PROMPT = 64;

const coordinate = z.number().finite().nonnegative();

const label = z.union([z.literal(0), z.literal(1)], { error: 'label must be 0 (background) or 1 (object)' });

export const promptPointSchema = z.tuple([coordinate, coordinate, label], {
  error: 'a point is [x, y, label] with label 0 (background) or 1 (object)',
});

export const boxSchema = z
  .tuple([coordinate, coordinate, coordinate, coordinate])
  .refine(([x0, y0, x1, y1]) => x0 < x1 && y0 < y1, 'a box is [x0, y0, x1, y1] with x0 < x1 and y0 < y1');

export const framePromptSchema = z
  .object({
    frame: z.number().int().nonnegative().default(0),
    points: z.array(promptPointSchema).max(MAX_POINTS_PER_PROMPT).default([]),
    box: boxSchema.optional(),
  })
  .strict()
  .refine((p) => p.points.some((pt) => pt[2] === 1) || p.box, 'a prompt needs at least one object point (label 1) or a box');

export const objectPromptsSchema = z
  .object({
    id: z.number().int().min(1).max(255),
    name: z.string().trim().min(1).max(100).optional(),
    category: z.string().trim().min(1).max(100).optional(),
    prompts: z.array(framePromptSchema).min(1).max(1000),
  })
  .strict();

/** Object ids are unique within a request (they are the pixel values of the indexed PNGs). */
function uniqueObjectIds(value: { objects: { id: number }[] }, ctx: z.RefinementCtx): void {
  const seen = new Set<number>();
  value.objects.forEach((object, i) => {
    if (seen.has(object.id)) ctx.addIssue({ code: 'custom', path: ['objects', i, 'id'], message: `duplicate object id ${object.id}` });
    seen.add(object.id);
  });
}

/**
 * The job's speed. No default here: a submission without it is stored and
 * replayed exactly as sent, and `best` is what the pipeline does without one.
 */
export const speedSchema = z
  .enum(SPEEDS, { error: `must be ${SPEEDS.map((s) => `"${s}"`).join(' or ')}` })
  .describe('best (default): the image encoder runs on every frame; fast: on key frames only, the frames between get a flow-warped embedding (faster, slightly less accurate)');

/**
 * Where to POST the job's status when it ends. Only the shape here: whether
 * the server may send to it is the service's policy (webhooks/url-policy.ts),
 * checked with its settings at submission.
 */
export const webhookSchema = z
  .url({ protocol: /^https?$/, error: 'must be an https URL' })
  .max(2048)
  .describe('https URL POSTed the job status (signed: ClipMask-Signature) when the job succeeds, fails or is cancelled; http only to localhost');

/**
 * What the job should give: output names (a render by name gets its
 * defaults) or render requests. overlay.mp4, masks.json, masks.zip and
 * instances.json are made whatever the list says; the renders are made from
 * masks.json once the tracking is done.
 */
export const outputsSchema = z
  .array(z.union([z.enum(OUTPUT_NAMES), renderRequestSchema], { error: (issue) => outputProblem(issue.input) }))
  .max(MAX_RENDERS_PER_JOB)
  .describe(`what to produce; default ${JSON.stringify(DEFAULT_OUTPUTS)}. Renders: ${RENDER_OUTPUTS.join(', ')} (by name, or {output, objects, feather, effect})`);

/** What is wrong with one entry of `outputs`: a union's own message would only say "Invalid input". */
function outputProblem(value: unknown): string {
  if (typeof value === 'string') return `"${value}" is not an output; there are ${OUTPUT_NAMES.join(', ')}`;
  const parsed = renderRequestSchema.safeParse(value);
  if (parsed.success || typeof value !== 'object' || value === null) return `must be an output name or a render request {output, objects, feather, effect}`;
  const issue = parsed.error.issues[0];
  return issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

/** A render request's objects must be among the prompts' objects. */
function outputObjectsKnown(value: { objects: { id: number }[]; outputs?: Prompts['outputs'] }, ctx: z.RefinementCtx): void {
  const ids = new Set(value.objects.map((o) => o.id));
  value.outputs?.forEach((output, i) => {
    if (typeof output === 'string') return;
    output.objects?.forEach((id, j) => {
      if (!ids.has(id)) ctx.addIssue({ code: 'custom', path: ['outputs', i, 'objects', j], message: `object ${id} is not among the prompts' objects` });
    });
  });
}

/** The renders a submission asked for, defaults filled, one per file (the first of duplicates). */
export function requestedRenders(prompts: Pick<Prompts, 'outputs'>): RenderSpec[] {
  const specs = new Map<string, RenderSpec>();
  for (const output of prompts.outputs ?? []) {
    if (typeof output === 'string' && !isRenderOutput(output)) continue;
    const spec = renderSpec(typeof output === 'string' ? { output } : output);
    if (!specs.has(renderFileName(spec))) specs.set(renderFileName(spec), spec);
  }
  return [...specs.values()];
}

export function promptsSchema(maxObjects = 16) {
  return z
    .object({
      objects: z.array(objectPromptsSchema).min(1, 'at least one object is needed').max(maxObjects, `at most ${maxObjects} objects`),
      speed: speedSchema.optional(),
      webhook: webhookSchema.optional(),
      outputs: outputsSchema.optional(),
    })
    .strict()
    .superRefine(uniqueObjectIds)
    .superRefine(outputObjectsKnown) satisfies z.ZodType<Prompts, unknown>;
}

/**
 * A correction of a job (POST /v1/jobs/:id/corrections): per object, new
 * prompts on any frames (a new id adds an object), or `absentFrom`: the
 * object is gone from that frame on.
 */
export const correctionObjectSchema = z
  .object({
    id: z.number().int().min(1).max(255),
    name: z.string().trim().min(1).max(100).optional(),
    category: z.string().trim().min(1).max(100).optional(),
    prompts: z.array(framePromptSchema).min(1).max(1000).optional(),
    absentFrom: z.number().int().nonnegative().optional(),
  })
  .strict()
  .refine((o) => (o.prompts !== undefined) !== (o.absentFrom !== undefined), 'an object correction has either prompts or absentFrom');

export function correctionSchema(maxObjects = 16) {
  return z
    .object({ objects: z.array(correctionObjectSchema).min(1, 'a correction needs at least one object').max(maxObjects, `at most ${maxObjects} objects`) })
    .strict()
    .superRefine(uniqueObjectIds) satisfies z.ZodType<Correction, unknown>;
}

export type PromptsErrorCode = 'invalid_prompts' | 'invalid_render' | 'frame_out_of_range' | 'outside_frame' | 'unknown_object';

/** A problem with the prompts, with the path of the offending field and a code for machines. */
export class PromptsError extends Error {
  override name = 'PromptsError';
  constructor(
    message: string,
    readonly field: string,
    readonly code: PromptsErrorCode = 'invalid_prompts',
  ) {
    super(message);
  }
}

function fieldPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

/** Parses prompts from JSON text; throws PromptsError naming the field. */
export function parsePrompts(json: string, maxObjects?: number): Prompts {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new PromptsError('prompts are not valid JSON', 'prompts');
  }
  return checked(promptsSchema(maxObjects), value, 'prompts');
}

/** Validates a render request (POST /v1/jobs/:id/renders); throws PromptsError naming the field. */
export function parseRenderRequest(value: unknown): RenderRequest {
  return checked(renderRequestSchema, value, 'body', 'invalid_render');
}

/** Validates a parsed correction body; throws PromptsError naming the field. */
export function parseCorrection(value: unknown, maxObjects?: number): Correction {
  return checked(correctionSchema(maxObjects), value, 'body');
}

function checked<T>(schema: z.ZodType<T, unknown>, value: unknown, root: string, code: PromptsErrorCode = 'invalid_prompts'): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = fieldPath(issue.path) || root;
    throw new PromptsError(`${field}: ${issue.message}`, field, code);
  }
  return parsed.data;
}

/** Checks prompts against the probed video: frames exist, points and boxes inside the frame. */
export function checkPromptsAgainstVideo(prompts: Prompts | Correction, video: Pick<VideoMeta, 'width' | 'height' | 'frames'>): void {
  prompts.objects.forEach((object, i) => {
    if ('absentFrom' in object && object.absentFrom !== undefined && object.absentFrom >= video.frames) {
      throw new PromptsError(`objects[${i}].absentFrom: frame ${object.absentFrom} is beyond the video's last frame ${video.frames - 1}`, `objects[${i}].absentFrom`, 'frame_out_of_range');
    }
    (object.prompts ?? []).forEach((prompt, j) => {
      const at = `objects[${i}].prompts[${j}]`;
      if (prompt.frame >= video.frames) {
        throw new PromptsError(`${at}.frame: frame ${prompt.frame} is beyond the video's last frame ${video.frames - 1}`, `${at}.frame`, 'frame_out_of_range');
      }
      prompt.points.forEach(([x, y], k) => {
        if (x >= video.width || y >= video.height) {
          throw new PromptsError(`${at}.points[${k}]: (${x}, ${y}) is outside the ${video.width}x${video.height} frame`, `${at}.points[${k}]`, 'outside_frame');
        }
      });
      if (prompt.box && (prompt.box[2] > video.width || prompt.box[3] > video.height)) {
        throw new PromptsError(`${at}.box: outside the ${video.width}x${video.height} frame`, `${at}.box`, 'outside_frame');
      }
    });
  });
}
