import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type { Config } from '../config.js';
import { ANONYMOUS_OWNER, type JobStore } from '../jobs/job-store.js';
import { ARTIFACT_FILES, isJobId, jobRelativePaths, renderKey, sessionPaths, type ArtifactName } from '../jobs/layout.js';
import type { RenderOutput } from '../output/render-spec.js';
import type { QueueRepository } from '../jobs/queue.js';
import { EMPTY_PROGRESS, isTerminal, newRender, type JobRecord } from '../jobs/record.js';
import type { Logger } from '../logger.js';
import { videoSummary } from '../inference/inference-protocol.js';
import { probeInput } from '../media/index.js';
import type { Metrics } from '../metrics.js';
import { checkPromptsAgainstVideo, parsePrompts, PromptsError, requestedRenders } from '../prompts.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';
import type { Prompts, VideoMeta } from '../types.js';
import { ApiError, badRequest, fromPromptsError, notFound } from './errors.js';
import { hasArtifacts } from './schemas.js';
import { submittedWebhook } from './webhooks.js';

/**
 * What the API does with jobs: check a submission completely (prompts,
 * ffprobe, limits, prompts against the video) before anything is queued,
 * then file it; read, list, cancel and delete jobs; find artifacts.
 * Whatever is rejected leaves nothing on disk.
 */

export interface JobServiceDeps {
  config: Config;
  store: JobStore;
  queues: QueueRepository;
  metrics: Metrics;
  logger: Logger;
  storage: Storage;
  /** Called when a job's files are deleted (the API's local copies of them go too). */
  onDeleted?: (id: string) => Promise<void>;
}

/** The largest prompts part read, as a field or a file. */
export const MAX_PROMPTS_BYTES = 1024 * 1024;

export interface UploadedFile {
  path: string;
  size: number;
}

export interface Submission {
  /** Who submits: the hash of their API key, or 'anonymous'. */
  owner: string;
  video?: UploadedFile;
  /** The prompts as a text field ... */
  promptsText?: string;
  /** ... or as a file part (curl -F prompts=@prompts.json). */
  promptsFile?: UploadedFile;
}

/** 413 for a video beyond the configured pixel, frame or duration limits. */
export function checkVideoLimits(meta: VideoMeta, limits: Config['limits']): void {
  const { maxPixels, maxFrames, maxDurationSeconds } = limits;
  if (meta.width * meta.height > maxPixels) {
    throw new ApiError(413, 'video_too_large', `the video is ${meta.width}x${meta.height} pixels; the limit is ${maxPixels} pixels per frame`, { field: 'video' });
  }
  if (meta.frames > maxFrames) {
    throw new ApiError(413, 'video_too_long', `the video has ${meta.frames} frames; the limit is ${maxFrames}`, { field: 'video' });
  }
  if (meta.duration > maxDurationSeconds) {
    throw new ApiError(413, 'video_too_long', `the video is ${meta.duration.toFixed(1)} s long; the limit is ${maxDurationSeconds} s`, { field: 'video' });
  }
}

function queueFull(waiting: number): ApiError {
  return new ApiError(429, 'queue_full', `the queue is full (${waiting} jobs waiting); try again later`, undefined, { 'Retry-After': '30' });
}

export class JobService {
  constructor(private readonly deps: JobServiceDeps) {}

  /** 429 when MAX_QUEUED_JOBS jobs are already waiting for a worker. */
  async assertQueueHasRoom(): Promise<void> {
    // A cheap early answer before the upload; the count is checked again, atomically, when the job is filed.
    const pending = (await this.deps.store.countByState()).queued;
    if (pending >= this.deps.config.limits.maxQueuedJobs) throw queueFull(pending);
  }

  async submit(submission: Submission): Promise<JobRecord> {
    const uploads = [submission.video, submission.promptsFile].filter((f): f is UploadedFile => f !== undefined);
    try {
      return await this.file(submission);
    } catch (error) {
      await Promise.all(uploads.map((f) => rm(f.path, { force: true })));
      throw error;
    }
  }

  private async file(submission: Submission): Promise<JobRecord> {
    const { config, store, queues, metrics, logger } = this.deps;
    const video = submission.video;
    if (!video) throw badRequest('missing_video', 'the request has no "video" file part', 'video');
    const prompts = await this.readPrompts(submission);
    const webhook = submittedWebhook(prompts, config.webhooks);
    if (submission.promptsFile) await rm(submission.promptsFile.path, { force: true });

    const probeStart = performance.now();
    const meta = await probeInput(video.path, { timeoutMs: 30_000 });
    metrics.stageSeconds.observe({ stage: 'probe' }, (performance.now() - probeStart) / 1000);
    checkVideoLimits(meta, config.limits);
    try {
      checkPromptsAgainstVideo(prompts, meta);
    } catch (error) {
      throw error instanceof PromptsError ? fromPromptsError(error) : error;
    }

    const id = randomUUID();
    const relative = jobRelativePaths(id);
    const now = Date.now();
    const record: JobRecord = {
      id,
      state: 'queued',
      stage: 'queued',
      progress: { ...EMPTY_PROGRESS, framesTotal: meta.frames },
      video: videoSummary(meta),
      objects: prompts.objects.length,
      owner: submission.owner,
      attempts: 0,
      revision: 0,
      revisionDone: -1,
      ...webhook,
      renders: requestedRenders(prompts).map((spec) => newRender(spec, 0, now)),
      ...(meta.warnings ? { warnings: meta.warnings } : {}),
      createdAt: now,
      updatedAt: now,
    };
    try {
      // Streamed into storage (multipart on S3; a rename on the disk), then gone from the upload folder.
      await this.deps.storage.putFile(relative.input, video.path, { move: true });
      await this.deps.storage.put(relative.prompts, JSON.stringify(prompts));
      if (!(await store.createIfRoom(record, config.limits.maxQueuedJobs))) throw queueFull(config.limits.maxQueuedJobs);
      const payload = { jobId: id, ...sessionPaths(id, config.embedChunkFrames), prompts: relative.prompts, corrections: relative.corrections };
      await queues.addTrack(payload, meta.frames, prompts.speed);
    } catch (error) {
      await this.removeFiles(id).catch((cleanup) => logger.warn({ err: cleanup, jobId: id }, 'could not remove the files of a refused job'));
      await store.delete(id).catch(() => undefined);
      throw error;
    }
    logger.info({ jobId: id, width: meta.width, height: meta.height, frames: meta.frames, objects: record.objects }, 'job queued');
    return record;
  }

  private async readPrompts(submission: Submission): Promise<Prompts> {
    let text = submission.promptsText;
    if (text === undefined && submission.promptsFile) {
      if (submission.promptsFile.size > MAX_PROMPTS_BYTES) {
        throw new ApiError(413, 'field_too_large', `the prompts are larger than ${MAX_PROMPTS_BYTES} bytes`, { field: 'prompts' });
      }
      text = await readFile(submission.promptsFile.path, 'utf8');
    }
    if (text === undefined) throw badRequest('missing_prompts', 'the request has no "prompts" part (JSON: {"objects": [...]})', 'prompts');
    const maxObjects = this.deps.config.limits.maxObjects;
    // Counted before the schema, so the answer names the limit rather than the first bad object.
    let count = 0;
    try {
      const value = JSON.parse(text) as { objects?: unknown };
      count = Array.isArray(value?.objects) ? value.objects.length : 0;
    } catch {
      // parsePrompts says it is not JSON.
    }
    if (count > maxObjects) {
      throw new ApiError(400, 'too_many_objects', `there are ${count} objects; the limit is ${maxObjects}`, { field: 'prompts.objects' });
    }
    try {
      return parsePrompts(text, maxObjects);
    } catch (error) {
      throw error instanceof PromptsError ? fromPromptsError(error) : error;
    }
  }

  /**
   * A job, for `owner` (another owner's job answers 404, as if it did not
   * exist); `undefined` skips the check (a signed artifact link).
   */
  async get(id: string, owner: string | undefined): Promise<JobRecord> {
    const record = isJobId(id) ? await this.deps.store.get(id) : undefined;
    if (!record || (owner !== undefined && (record.owner ?? ANONYMOUS_OWNER) !== owner)) throw notFound(`no job ${id}`);
    return record;
  }

  async list(offset: number, limit: number, owner: string) {
    return this.deps.store.list(offset, limit, owner);
  }

  /**
   * DELETE: a queued or running job is cancelled (its record stays, state
   * cancelled; a running job's worker stops within a couple of seconds and
   * deletes the files); a finished job is deleted, files and record.
   */
  async cancelOrDelete(id: string, owner: string): Promise<{ outcome: 'cancelled'; record: JobRecord } | { outcome: 'deleted' }> {
    const { store, queues, config, logger } = this.deps;
    const record = await this.get(id, owner);
    if (!isTerminal(record.state)) {
      const cancelled = await store.update(id, { state: 'cancelled', finishedAt: Date.now(), error: { code: 'cancelled', message: 'the job was cancelled' } }, { only: ['queued', 'running'] });
      if (cancelled.applied) {
        // Not started: nobody else will touch its files. Started: its worker deletes them once stopped.
        if (await queues.removeTrack(id, record.video.frames, config.embedChunkFrames)) await this.removeFiles(id);
        logger.info({ jobId: id, was: record.state }, 'job cancelled');
        return { outcome: 'cancelled', record: (await store.get(id)) ?? record };
      }
      // It finished meanwhile: fall through and delete it.
    }
    await this.removeFiles(id);
    await store.delete(id);
    logger.info({ jobId: id }, 'job deleted');
    return { outcome: 'deleted' };
  }

  /** Every stored file of a job. */
  private async removeFiles(id: string): Promise<void> {
    await this.deps.storage.deletePrefix(`${jobRelativePaths(id).dir}/`);
    await this.deps.onDeleted?.(id);
  }

  /** A job's artifact in storage (the newest complete revision's); 404 while it has none. */
  async artifact(id: string, name: ArtifactName, owner: string | undefined): Promise<ObjectInfo> {
    const record = await this.get(id, owner);
    if (!hasArtifacts(record)) {
      throw new ApiError(404, 'artifact_not_ready', `job ${id} is ${record.state}: its artifacts exist once it has succeeded`);
    }
    const info = await this.deps.storage.head(jobRelativePaths(id)[name]);
    if (!info) throw notFound(`the ${ARTIFACT_FILES[name]} of job ${id} is gone`);
    return info;
  }

  /** A job's render by file name; 404 until it has been made. */
  async render(id: string, file: string, owner: string | undefined): Promise<ObjectInfo & { output: RenderOutput }> {
    const record = await this.get(id, owner);
    const render = record.renders?.find((r) => r.file === file);
    if (!render) {
      const names = [...Object.values(ARTIFACT_FILES), ...(record.renders ?? []).map((r) => r.file)];
      throw new ApiError(404, 'not_found', `no artifact "${file}": job ${id} has ${names.join(', ')}`);
    }
    if (render.state !== 'succeeded' || render.fileRevision === undefined) {
      throw new ApiError(404, 'artifact_not_ready', `the render ${file} of job ${id} is ${render.state}`);
    }
    const info = await this.deps.storage.head(renderKey(id, render.fileRevision, file));
    if (!info) throw notFound(`the ${file} of job ${id} is gone`);
    return { ...info, output: render.output };
  }
}
