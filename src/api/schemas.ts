import { z } from 'zod';
import { ARTIFACT_FILES } from '../jobs/layout.js';
import { boxSchema, MAX_POINTS_PER_PROMPT, promptPointSchema } from '../prompts.js';
import { correctionSummarySchema, mediaWarningSchema, renderRecordSchema, jobErrorSchema, jobProgressSchema, jobStageSchema, jobStateSchema, jobVideoSchema, webhookStatusSchema, type JobRecord, type RenderRecord } from '../jobs/record.js';

/**
 * The API's request and response shapes. Handlers build answers through
 * these types and /v1/openapi.json is generated from the same schemas.
 */

export const jobIdSchema = z.uuid().describe('the job id, a random UUID');

const isoTime = z.iso.datetime();

export const renderStatusSchema = renderRecordSchema.omit({ fileRevision: true, updatedAt: true }).extend({
  url: z.string().optional().describe('where to download it (Range requests supported), once it has succeeded'),
});
export type RenderStatus = z.infer<typeof renderStatusSchema>;

export const jobStatusSchema = z.object({
  id: jobIdSchema,
  state: jobStateSchema,
  stage: jobStageSchema,
  progress: jobProgressSchema,
  video: jobVideoSchema,
  objects: z.number().int().positive().describe('number of objects tracked'),
  attempts: z.number().int().nonnegative().describe('tries started so far (failures not caused by the input are retried)'),
  error: jobErrorSchema.optional().describe('set when state is failed or cancelled'),
  warnings: z.array(mediaWarningSchema).optional().describe('what is wrong with the video that did not stop the job, e.g. frames missing from a file cut short'),
  artifacts: z
    .object({
      overlay: z.string().describe('URL path of overlay.mp4 (Range requests supported)'),
      masks: z.string().describe('URL path of masks.json (per frame, per object COCO RLE masks)'),
      pngZip: z.string().describe('URL path of masks.zip (one indexed PNG per frame, pixel value = object id)'),
      instances: z.string().optional().describe('URL path of instances.json (YouTube-VIS: one annotation per object, COCO RLE per frame); jobs finished before it existed have none'),
    })
    .optional()
    .describe('set once the first run has succeeded; while a correction runs they are the previous revision\'s, replaced atomically when the new ones are complete'),
  revision: z.number().int().nonnegative().describe('the newest revision: 0 is the first run, K the K-th correction (POST /v1/jobs/:id/corrections)'),
  lastCorrection: correctionSummarySchema.optional().describe('what the newest finished correction re-tracked'),
  renders: z.array(renderStatusSchema).optional().describe('renders asked for at submission (`outputs`) or with POST /v1/jobs/:id/renders, by file name'),
  webhook: webhookStatusSchema.optional().describe("set when the submission gave a webhook: its URL and how the newest delivery went (sent when the job succeeds, fails or is cancelled)"),
  createdAt: isoTime,
  startedAt: isoTime.nullable(),
  finishedAt: isoTime.nullable(),
});
export type JobStatus = z.infer<typeof jobStatusSchema>;

export const submitResponseSchema = z.object({
  id: jobIdSchema,
  statusUrl: z.string().describe('URL path to poll: GET it for the job status'),
});

export const jobListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

export const jobListSchema = z.object({
  jobs: z.array(jobStatusSchema).describe('newest first'),
  total: z.number().int().nonnegative(),
  limit: z.number().int().positive(),
  offset: z.number().int().nonnegative(),
  nextOffset: z.number().int().nonnegative().nullable().describe('offset of the next page; null on the last page'),
});

export const errorResponseSchema = z.object({
  error: z.object({
    code: z.string().describe('stable machine-readable code'),
    message: z.string().describe('one sentence for people'),
    details: z
      .object({ field: z.string().optional().describe('the offending field: video, prompts, or a path inside the prompts like prompts.objects[0].prompts[0].points[1]') })
      .catchall(z.unknown())
      .optional(),
  }),
});

export const readyResponseSchema = z.object({
  ready: z.boolean(),
  checks: z.object({
    redis: z.enum(['ok', 'unreachable']),
    model: z.enum(['loaded', 'loading', 'no_worker']).describe('whether a worker process has its model loaded'),
  }),
  workers: z.number().int().nonnegative().describe('live worker processes'),
});

export const previewSessionSchema = z.object({
  id: z.uuid().describe('the preview session id'),
  video: jobVideoSchema,
});
export type PreviewSession = z.infer<typeof previewSessionSchema>;

export const previewMaskRequestSchema = z
  .object({
    frame: z.number().int().nonnegative().describe('0-based frame to segment'),
    points: z.array(promptPointSchema).max(MAX_POINTS_PER_PROMPT).default([]).describe('[x, y, label] in video pixels; label 1 object, 0 background'),
    box: boxSchema.optional().describe('[x0, y0, x1, y1] in video pixels'),
  })
  .strict()
  .refine((p) => p.points.some((pt) => pt[2] === 1) || p.box, 'a preview needs at least one object point (label 1) or a box');

export const previewMaskSchema = z.object({
  frame: z.number().int().nonnegative(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  score: z.number().describe("the decoder's predicted IoU of the mask"),
  area: z.number().int().nonnegative().describe('mask pixels'),
  mask: z
    .object({ size: z.tuple([z.number().int(), z.number().int()]).describe('[height, width]'), counts: z.array(z.number().int().nonnegative()) })
    .describe('uncompressed COCO RLE: run lengths in column-major order, starting with a run of 0s'),
  timings: z.object({ embedMs: z.number(), decodeMs: z.number(), totalMs: z.number() }).describe('embedMs is 0 when the frame was cached'),
});
export type PreviewMask = z.infer<typeof previewMaskSchema>;

export const healthResponseSchema = z.object({ status: z.literal('ok') });

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** A job serves artifacts once its first run succeeded, also while a correction runs (the previous revision's). */
export function hasArtifacts(record: JobRecord): boolean {
  return record.revisionDone >= 0 && (record.state === 'succeeded' || record.state === 'running') && (record.artifacts?.length ?? 0) > 0;
}

export const jobMasksQuerySchema = z.object({
  from: z.coerce.number().int().min(0).default(0),
  to: z.coerce.number().int().min(0).optional().describe('exclusive; default and upper bound: the frames done so far'),
});

/** One frame exactly as masks.json has it. */
export const masksFrameSchema = z.object({
  frame: z.number().int().nonnegative(),
  name: z.string(),
  time: z.number().nonnegative(),
  objects: z.array(
    z.object({
      id: z.number().int().positive(),
      rle: z.object({ size: z.tuple([z.number().int(), z.number().int()]), counts: z.string() }).describe('COCO compressed RLE (pycocotools)'),
      score: z.number(),
      bbox: z.tuple([z.number(), z.number(), z.number(), z.number()]).describe('[x, y, width, height]'),
      area: z.number().int().nonnegative(),
      visible: z.boolean(),
    }),
  ),
});

export const jobMasksSchema = z.object({
  revision: z.number().int().nonnegative().describe('the revision the frames belong to'),
  lastFrame: z.number().int().nonnegative().nullable(),
  frames: z.array(masksFrameSchema),
});
export type JobMasks = z.infer<typeof jobMasksSchema>;

export const correctionResponseSchema = z.object({ revision: z.number().int().positive() });

/** A render as the status shows it: with its download URL once it is made. */
export function toRenderStatus(id: string, render: RenderRecord, link: (path: string, file: string) => string = (path) => path): RenderStatus {
  const { fileRevision: _file, updatedAt: _updated, ...shown } = render;
  return { ...shown, ...(render.state === 'succeeded' ? { url: link(`/v1/jobs/${id}/artifacts/${render.file}`, render.file) } : {}) };
}

/** The public view of a record; `link` turns an artifact's path into the URL to give out (signed when keys are on). */
export function toJobStatus(record: JobRecord, link: (path: string, file: string) => string = (path) => path): JobStatus {
  const base = `/v1/jobs/${record.id}`;
  const artifact = (file: string) => link(`${base}/artifacts/${file}`, file);
  return {
    id: record.id,
    state: record.state,
    stage: record.stage,
    progress: record.progress,
    video: record.video,
    objects: record.objects,
    attempts: record.attempts,
    ...(record.error ? { error: record.error } : {}),
    ...(record.warnings ? { warnings: record.warnings } : {}),
    ...(hasArtifacts(record)
      ? {
          artifacts: {
            overlay: artifact(ARTIFACT_FILES.overlay),
            masks: artifact(ARTIFACT_FILES.masks),
            pngZip: artifact(ARTIFACT_FILES.pngZip),
            ...(record.artifacts?.includes('instances') ? { instances: artifact(ARTIFACT_FILES.instances) } : {}),
          },
        }
      : {}),
    revision: record.revision,
    ...(record.lastCorrection ? { lastCorrection: record.lastCorrection } : {}),
    ...(record.renders ? { renders: record.renders.map((r) => toRenderStatus(record.id, r, link)) } : {}),
    ...(record.webhook ? { webhook: record.webhook } : {}),
    createdAt: iso(record.createdAt)!,
    startedAt: iso(record.startedAt),
    finishedAt: iso(record.finishedAt),
  };
}
