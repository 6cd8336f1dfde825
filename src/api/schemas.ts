import { z } from 'zod';
import { ARTIFACT_FILES } from '../jobs/layout.js';
import { jobErrorSchema, jobProgressSchema, jobStageSchema, jobStateSchema, jobVideoSchema, type JobRecord } from '../jobs/record.js';

/**
 * The API's request and response shapes. Handlers build answers through
 * these types and /v1/openapi.json is generated from the same schemas.
 */

export const jobIdSchema = z.uuid().describe('the job id, a random UUID');

const isoTime = z.iso.datetime();

export const jobStatusSchema = z.object({
  id: jobIdSchema,
  state: jobStateSchema,
  stage: jobStageSchema,
  progress: jobProgressSchema,
  video: jobVideoSchema,
  objects: z.number().int().positive().describe('number of objects tracked'),
  attempts: z.number().int().nonnegative().describe('tries started so far (failures not caused by the input are retried)'),
  error: jobErrorSchema.optional().describe('set when state is failed or cancelled'),
  artifacts: z
    .object({
      overlay: z.string().describe('URL path of overlay.mp4 (Range requests supported)'),
      masks: z.string().describe('URL path of masks.json (per frame, per object COCO RLE masks)'),
      pngZip: z.string().describe('URL path of masks.zip (one indexed PNG per frame, pixel value = object id)'),
    })
    .optional()
    .describe('set when state is succeeded'),
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

export const healthResponseSchema = z.object({ status: z.literal('ok') });

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The public view of a record. */
export function toJobStatus(record: JobRecord): JobStatus {
  const base = `/v1/jobs/${record.id}`;
  return {
    id: record.id,
    state: record.state,
    stage: record.stage,
    progress: record.progress,
    video: record.video,
    objects: record.objects,
    attempts: record.attempts,
    ...(record.error ? { error: record.error } : {}),
    ...(record.state === 'succeeded'
      ? {
          artifacts: {
            overlay: `${base}/artifacts/${ARTIFACT_FILES.overlay}`,
            masks: `${base}/artifacts/${ARTIFACT_FILES.masks}`,
            pngZip: `${base}/artifacts/${ARTIFACT_FILES.pngZip}`,
          },
        }
      : {}),
    createdAt: iso(record.createdAt)!,
    startedAt: iso(record.startedAt),
    finishedAt: iso(record.finishedAt),
  };
}
