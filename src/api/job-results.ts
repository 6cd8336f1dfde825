import sharp from 'sharp';
import type { Config } from '../config.js';
import type { JobStore } from '../jobs/job-store.js';
import { readStoredVideo } from '../jobs/job-video.js';
import { correctionFile, jobRelativePaths, renderPayload, sessionPaths } from '../jobs/layout.js';
import type { QueueRepository } from '../jobs/queue.js';
import { newRender, type JobRecord, type RenderRecord } from '../jobs/record.js';
import type { Logger } from '../logger.js';
import { probeInput, readFrames } from '../media/index.js';
import { masksOf } from '../output/artifacts.js';
import type { FrameRecord } from '../output/masks-json.js';
import { StoredResults } from '../output/result-store.js';
import { checkPromptsAgainstVideo, parseCorrection, parsePrompts, parseRenderRequest, PromptsError } from '../prompts.js';
import { MAX_RENDERS_PER_JOB, renderSpec, type RenderSpec } from '../output/render-spec.js';
import { paintMasks } from '../segment/image-files.js';
import type { Storage } from '../storage/storage.js';
import type { Correction, VideoMeta } from '../types.js';
import { ApiError, badRequest, fromPromptsError, notFound } from './errors.js';
import type { InputCopies } from './input-copies.js';
import type { JobService } from './job-service.js';
import type { JobMasks } from './schemas.js';

/**
 * A job's results while it runs and after, and its corrections: the frame
 * records done so far, a frame as JPEG (with the masks painted on, as in
 * overlay.mp4), and filing a correction for the workers. The frame records
 * are read from storage, where the workers put them as they become final.
 */

export interface JobResultsDeps {
  config: Config;
  store: JobStore;
  queues: QueueRepository;
  jobs: JobService;
  logger: Logger;
  storage: Storage;
  inputs: InputCopies;
}

/** Probed videos of recently viewed jobs: scrubbing asks for many frames of one job. */
const META_CACHE_SIZE = 32;

export class JobResults {
  private readonly metas = new Map<string, VideoMeta>();

  constructor(private readonly deps: JobResultsDeps) {}

  private results(id: string): StoredResults {
    const keys = jobRelativePaths(id);
    return new StoredResults(this.deps.storage, keys.results, keys.pending);
  }

  /** Frames [from, to) whose masks are final, clipped to what is done. */
  async masks(id: string, query: { from: number; to?: number }, owner: string | undefined): Promise<JobMasks> {
    const record = await this.deps.jobs.get(id, owner);
    const lastFrame = record.progress.lastFrame;
    const end = Math.min(query.to ?? record.video.frames, lastFrame === null ? 0 : lastFrame + 1);
    const frames = query.from < end ? await this.results(id).readRange(query.from, end) : [];
    return { revision: record.revision, lastFrame, frames };
  }

  /** Frame n as JPEG; with `overlay`, the current masks painted on (404 frame_not_ready until it is tracked). */
  async frameJpeg(id: string, frame: number, overlay: boolean, owner: string | undefined): Promise<Buffer> {
    const record = await this.deps.jobs.get(id, owner);
    if (!Number.isInteger(frame) || frame < 0 || frame >= record.video.frames) {
      throw badRequest('frame_out_of_range', `frame ${frame} is not in the video (frames 0 to ${record.video.frames - 1})`, 'frame');
    }
    let masks: FrameRecord | undefined;
    if (overlay) {
      const done = record.progress.lastFrame !== null && frame <= record.progress.lastFrame;
      masks = done ? await this.results(id).read(frame) : undefined;
      if (!masks) throw new ApiError(404, 'frame_not_ready', `frame ${frame} of job ${id} has not been tracked yet`);
    }
    const input = await this.deps.inputs.local(id);
    if (!input) throw new ApiError(404, 'not_found', `the video of job ${id} is gone`);
    const meta = await this.meta(id, input);
    for await (const rgb of readFrames(input, meta, { start: frame, end: frame + 1 })) {
      if (masks) {
        const byId = masksOf(masks);
        const ids = [...byId.keys()].sort((a, b) => a - b);
        paintMasks(rgb.data, rgb.width, rgb.height, ids.map((i) => byId.get(i)!), ids);
      }
      return sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } }).jpeg({ quality: 88 }).toBuffer();
    }
    throw new ApiError(404, 'not_found', `frame ${frame} of job ${id} could not be read`);
  }

  /**
   * The frames as the job counts them: the track job's decoded video.json (job-video.ts), kept; until it
   * exists, the upload's probe, not kept (a frame that does not decode would shift the ones after it).
   */
  private async meta(id: string, input: string): Promise<VideoMeta> {
    let meta = this.metas.get(id);
    if (meta) return meta;
    meta = await readStoredVideo(this.deps.storage, jobRelativePaths(id).video);
    if (!meta) return probeInput(input, { timeoutMs: 30_000 });
    this.metas.set(id, meta);
    while (this.metas.size > META_CACHE_SIZE) this.metas.delete(this.metas.keys().next().value!);
    return meta;
  }

  /**
   * Files a correction: checked against the video and the job's objects,
   * given the next revision, written, and queued (a running first run picks
   * it up at its next frame boundary instead). Nothing changes on a refusal.
   */
  async correct(id: string, body: unknown, owner: string): Promise<{ revision: number }> {
    const { config, store, queues, logger, storage } = this.deps;
    const record = await this.deps.jobs.get(id, owner);
    assertCorrectable(record);
    const correction = await this.checked(id, record, body);
    const relative = jobRelativePaths(id);
    if (!(await storage.head(relative.input))) throw notCorrectable(id, 'its files are gone');
    const reserved = await store.nextRevision(id);
    if (!('revision' in reserved)) throw notCorrectable(id, `it is ${reserved.refused ?? 'gone'}`);
    const { revision } = reserved;
    await storage.put(correctionFile(relative.corrections, revision), JSON.stringify(correction));
    await queues.addCorrect({
      jobId: id,
      revision,
      correction: correctionFile(relative.corrections, revision),
      prompts: relative.prompts,
      ...sessionPaths(id, config.embedChunkFrames),
    });
    logger.info({ jobId: id, revision, objects: correction.objects.map((o) => o.id) }, 'correction filed');
    return { revision };
  }

  /**
   * Asks for a render of a succeeded job, made from its newest masks by a
   * `render` job. The same render again is the same file: answered with its
   * record as it is (a failed one is queued again). `queued` tells whether
   * a render job was queued.
   */
  async render(id: string, body: unknown, owner: string): Promise<{ render: RenderRecord; queued: boolean }> {
    const { store, queues, logger } = this.deps;
    const record = await this.deps.jobs.get(id, owner);
    if (record.state !== 'succeeded') {
      throw new ApiError(409, 'job_not_succeeded', `job ${id} is ${record.state}${record.stage === 'correcting' ? ' (correcting)' : ''}: renders are made from a succeeded job's masks`, { field: 'id' });
    }
    const spec = await this.renderChecked(id, body);
    const wanted = newRender(spec, record.revisionDone);
    const outcome = await store.addRender(id, wanted, MAX_RENDERS_PER_JOB);
    if (outcome === 'no job') throw notFound(`no job ${id}`);
    if (outcome === 'full') throw new ApiError(409, 'too_many_renders', `job ${id} has ${MAX_RENDERS_PER_JOB} renders, the most one job keeps`, { field: 'body' });
    const existing = outcome === 'exists' ? (await store.get(id))?.renders?.find((r) => r.file === wanted.file) : undefined;
    if (existing && existing.state !== 'failed') return { render: existing, queued: false };
    if (existing) await store.patchRender(id, wanted.file, { state: 'queued', revision: record.revisionDone, error: null });
    await queues.addRender(renderPayload(id, wanted.file, record.revisionDone));
    logger.info({ jobId: id, render: wanted.file, revision: record.revisionDone }, 'render queued');
    return { render: { ...(existing ?? wanted), state: 'queued', revision: record.revisionDone }, queued: true };
  }

  /** The body as a render of this job: the schema, and objects the job has. */
  private async renderChecked(id: string, body: unknown): Promise<RenderSpec> {
    try {
      const request = parseRenderRequest(body);
      const known = await this.knownObjects(id);
      request.objects?.forEach((objectId, i) => {
        if (!known.has(objectId)) throw new PromptsError(`objects[${i}]: job ${id} has no object ${objectId}`, `objects[${i}]`, 'unknown_object');
      });
      return renderSpec(request);
    } catch (error) {
      throw error instanceof PromptsError ? fromPromptsError(error, 'body') : error;
    }
  }

  /** The body as a correction of this job: the schema, the video's bounds, and objects that exist where they must. */
  private async checked(id: string, record: JobRecord, body: unknown): Promise<Correction> {
    const { maxObjects } = this.deps.config.limits;
    try {
      const correction = parseCorrection(body, maxObjects);
      checkPromptsAgainstVideo(correction, record.video);
      const known = await this.knownObjects(id);
      correction.objects.forEach((o, i) => {
        if (o.absentFrom !== undefined && !known.has(o.id)) {
          throw new PromptsError(`objects[${i}].id: there is no object ${o.id} to mark absent`, `objects[${i}].id`, 'unknown_object');
        }
      });
      const ids = new Set([...known, ...correction.objects.map((o) => o.id)]);
      if (ids.size > maxObjects) throw new PromptsError(`objects: the job would have ${ids.size} objects; the limit is ${maxObjects}`, 'objects');
      return correction;
    } catch (error) {
      throw error instanceof PromptsError ? fromPromptsError(error, '') : error;
    }
  }

  /** Object ids of the submission and of every correction filed so far. */
  private async knownObjects(id: string): Promise<Set<number>> {
    const { storage } = this.deps;
    const keys = jobRelativePaths(id);
    const text = await storage.get(keys.prompts);
    if (!text) throw notCorrectable(id, 'its files are gone');
    const prompts = parsePrompts(text.toString('utf8'), this.deps.config.limits.maxObjects);
    const known = new Set(prompts.objects.map((o) => o.id));
    const record = await this.deps.store.get(id);
    for (let k = 1; k <= (record?.revision ?? 0); k++) {
      const filed = await storage.get(correctionFile(keys.corrections, k));
      if (filed) for (const o of (JSON.parse(filed.toString('utf8')) as Correction).objects) if (o.prompts) known.add(o.id);
    }
    return known;
  }
}

function notCorrectable(id: string, why: string): ApiError {
  return new ApiError(409, 'not_correctable', `job ${id} cannot be corrected: ${why}`);
}

function assertCorrectable(record: JobRecord): void {
  if (record.state === 'failed' || record.state === 'cancelled') throw notCorrectable(record.id, `it is ${record.state}`);
}
