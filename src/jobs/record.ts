import { z } from 'zod';

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

export const JOB_STAGES = ['queued', 'starting', 'tracking', 'packaging', 'done'] as const;
export const jobStageSchema = z
  .enum(JOB_STAGES)
  .describe('what the job is doing (or was doing when it stopped): waiting, loading, tracking frames, zipping the PNG masks, finished');
export type JobStage = z.infer<typeof jobStageSchema>;

export const jobProgressSchema = z.object({
  percent: z.number().min(0).max(100),
  framesDone: z.number().int().nonnegative(),
  framesTotal: z.number().int().nonnegative(),
  etaSeconds: z.number().nonnegative().nullable().describe('null until a first frame has been measured'),
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

export const ARTIFACT_NAMES = ['overlay', 'masks', 'pngZip'] as const;
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
  /** Which artifacts exist (set when the job succeeds). */
  artifacts?: ArtifactKey[];
  attempts: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  updatedAt: number;
}

export const EMPTY_PROGRESS: JobProgress = { percent: 0, framesDone: 0, framesTotal: 0, etaSeconds: null };
