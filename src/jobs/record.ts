import { z } from 'zod';
import type { MediaWarning } from '../types.js';
import { EFFECTS, RENDER_OUTPUTS, renderFileName, type RenderSpec } from '../output/render-spec.js';
import { MAX_MISSING_TIMES } from '../media/limits.js';

/**
 * A job as the service remembers it (the JobStore's record) and as
 * GET /v1/jobs/:id shows it. The zod schemas are the single source: the
 * TypeScript types, the API's answers and the OpenAPI document come from them.
 */

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export const jobStateSchema = z.enum(JOB_STATES).describe('queued -> running -> succeeded | failed; cancelled by DELETE at any point before the end');
export type JobState = z.infer<typeof jobStateSchema>;

/** States a job never leaves. */
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];
export const isTerminal = (state: JobState) => TERMINAL_STATES.includes(state);

export const JOB_STAGES = ['queued', 'starting', 'tracking', 'correcting', 'packaging', 'done'] as const;
export const jobStageSchema = z
  .enum(JOB_STAGES)
  .describe('what the job is doing (or was doing when it stopped): waiting, loading, tracking frames, re-tracking corrected objects, writing the artifacts, finished');
export type JobStage = z.infer<typeof jobStageSchema>;

export const jobProgressSchema = z.object({
  percent: z.number().min(0).max(100),
  framesDone: z.number().int().nonnegative(),
  framesTotal: z.number().int().nonnegative(),
  etaSeconds: z.number().nonnegative().nullable().describe('null until a first frame has been measured'),
  lastFrame: z
    .number()
    .int()
    .nonnegative()
    .nullable()
    .describe('the newest frame whose masks are final (GET /v1/jobs/:id/masks serves frames up to it); null before the first'),
});
export type JobProgress = z.infer<typeof jobProgressSchema>;

export const jobVideoSchema = z.object({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  fps: z.number().positive(),
  frames: z.number().int().positive(),
  duration: z.number().nonnegative().describe('seconds'),
});
export type JobVideo = z.infer<typeof jobVideoSchema>;

export const jobErrorSchema = z.object({
  code: z.string().describe('stable machine-readable code, e.g. truncated, no_video_stream, cancelled, internal'),
  message: z.string().describe('one sentence for people; never a path or a stack'),
});
export type JobError = z.infer<typeof jobErrorSchema>;

/** What the newest finished correction changed: per object, the frames [from, to) it re-tracked. */
export const correctionSummarySchema = z.object({
  revision: z.number().int().positive(),
  changes: z.array(z.object({ objectId: z.number().int().positive(), from: z.number().int().nonnegative(), to: z.number().int().nonnegative() })),
  error: jobErrorSchema.optional().describe('set when the correction failed: the masks stay those of the revision before'),
});
export type CorrectionSummary = z.infer<typeof correctionSummarySchema>;

export const WEBHOOK_STATES = ['pending', 'delivered', 'failed'] as const;

/** Where the job's end is POSTed (the submission's `webhook`) and how the newest delivery went. */
export const webhookStatusSchema = z.object({
  url: z.string().describe('the URL given at submission'),
  state: z
    .enum(WEBHOOK_STATES)
    .describe('pending: not delivered yet (the job has not ended, or attempts remain); delivered: a 2xx answer; failed: every attempt failed, or the address was refused'),
  attempts: z.number().int().nonnegative().describe('attempts of the newest delivery so far'),
  lastStatus: z.number().int().optional().describe("the HTTP status of the newest attempt's answer, when there was one"),
  lastError: z.string().optional().describe('why the newest attempt failed: a non-2xx status, a timeout, a refused address, a network error'),
  deliveredAt: z.iso.datetime().optional(),
});
export type WebhookStatus = z.infer<typeof webhookStatusSchema>;

export const RENDER_STATES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type RenderState = (typeof RENDER_STATES)[number];

/** One render of the job (a submission's `outputs` or POST /v1/jobs/:id/renders) and how it is going. */
export const renderRecordSchema = z.object({
  file: z.string().describe('its file name, also its name under /v1/jobs/{id}/artifacts/'),
  output: z.enum(RENDER_OUTPUTS),
  objects: z.array(z.int().positive()).optional().describe('the objects in it; absent: every object'),
  feather: z.number().nonnegative().describe('soft edge width, pixels'),
  effect: z.enum(EFFECTS).optional(),
  state: z.enum(RENDER_STATES).describe('queued -> running -> succeeded | failed; queued again after a correction, made from the new masks'),
  revision: z.int().nonnegative().describe('the masks revision it is (being) made from'),
  fileRevision: z.int().nonnegative().optional().describe('the revision of the file that exists, once one does'),
  error: jobErrorSchema.optional(),
  updatedAt: z.number().describe('epoch ms'),
});
export type RenderRecord = z.infer<typeof renderRecordSchema>;

/** A render just asked for: queued, to be made from revision `revision`'s masks. */
export function newRender(spec: RenderSpec, revision: number, now = Date.now()): RenderRecord {
  return { file: renderFileName(spec), ...spec, state: 'queued', revision, updatedAt: now };
}

/** A problem with the input that was worked around (types.ts MediaWarning), as the status shows it. */
export const mediaWarningSchema = z.object({
  code: z
    .enum(['cut_short', 'frames_missing'])
    .describe('cut_short: the file ends part-way; only the frames that decode are processed. frames_missing: frames in the middle do not decode (corrupt data) and are left out'),
  message: z.string().describe('one sentence for people: which frames are missing'),
  decodedFrames: z.int().nonnegative().describe('the frames that decode: the video\'s frames in the job'),
  declaredFrames: z.int().positive().optional().describe('the frames the file says it has, when it says'),
  missingTimes: z.array(z.number()).max(MAX_MISSING_TIMES).optional().describe(`frames_missing: when the frames that do not decode were to be shown (seconds), the first ${MAX_MISSING_TIMES}`),
});

/** A finished revision's artifacts, in the order they are stored (the zip last, as it is made last). */
export const ARTIFACT_NAMES = ['overlay', 'masks', 'instances', 'pngZip'] as const;
export type ArtifactKey = (typeof ARTIFACT_NAMES)[number];

/** The stored record. Times are epoch milliseconds. */
export interface JobRecord {
  id: string;
  /** Who submitted it: the hash of their API key, or 'anonymous' (never shown to clients). */
  owner?: string;
  state: JobState;
  stage: JobStage;
  progress: JobProgress;
  video: JobVideo;
  objects: number;
  error?: JobError;
  /** Which artifacts exist (set when the first run succeeds; kept, and replaced atomically, while a correction runs). */
  artifacts?: ArtifactKey[];
  /** The newest revision asked for: 0 is the first run, K the K-th correction. */
  revision: number;
  /** The newest revision whose masks and artifacts are complete; -1 until the first run has finished. */
  revisionDone: number;
  lastCorrection?: CorrectionSummary;
  /** Set when the submission asked for a webhook. */
  webhook?: WebhookStatus;
  /** What is wrong with the video that did not stop the job (frames missing from a file cut short). */
  warnings?: MediaWarning[];
  /** The job's renders, by file name order (each its own field in the store, so renders update apart). */
  renders?: RenderRecord[];
  attempts: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  updatedAt: number;
}

export const EMPTY_PROGRESS: JobProgress = { percent: 0, framesDone: 0, framesTotal: 0, etaSeconds: null, lastFrame: null };
