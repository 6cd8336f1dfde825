import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { mkdir, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import sharp from 'sharp';
import type { Config } from '../config.js';
import { InferenceError, InferenceProcess } from '../inference/inference-process.js';
import type { PreviewOutcome, PreviewRequest } from '../inference/inference-protocol.js';
import { isJobId, previewPaths, previewsDir } from '../jobs/layout.js';
import type { JobVideo } from '../jobs/record.js';
import type { Logger } from '../logger.js';
import { probeInput, readFrames } from '../media/index.js';
import type { Metrics } from '../metrics.js';
import type { VideoMeta } from '../types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { exists } from '../util/fs.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { checkVideoLimits, type UploadedFile } from './job-service.js';
import { previewMaskRequestSchema, type PreviewMask, type PreviewSession } from './schemas.js';

/**
 * Live previews for the web page: a video is uploaded once into a preview
 * session; the page then shows frames (JPEG), and each click asks for the
 * mask the current points give on a frame. The model runs in an inference
 * child of this process, started on the first upload; it caches recent
 * frames' embeddings, so after a frame's first use (decode + encoder, ~1 s)
 * a click costs only the decoder. Requests are served one at a time, in
 * order. Sessions unused for PREVIEW_TTL_MINUTES are deleted.
 */

export interface PreviewServiceDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Environment of the inference child (default: this process's). */
  inferenceEnv?: NodeJS.ProcessEnv;
}

const SWEEP_EVERY_MS = 10 * 60_000;

/** video.json of a session. */
interface StoredSession {
  owner: string;
  meta: VideoMeta;
}

export class PreviewService {
  private readonly inference: InferenceProcess;
  /** Preview runs, one at a time (the child runs one request at a time). */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly deps: PreviewServiceDeps) {
    this.inference = new InferenceProcess({ logger: deps.logger.child({ part: 'preview' }), env: deps.inferenceEnv });
    this.sweeper = setInterval(() => void this.sweep().catch((error) => deps.logger.warn({ err: error }, 'preview sweep failed')), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  /** Files an uploaded video as a preview session (the same checks as a job's video). */
  async create(video: UploadedFile | undefined, owner: string): Promise<PreviewSession> {
    const { config, logger } = this.deps;
    if (!video) throw badRequest('missing_video', 'the request has no "video" file part', 'video');
    const id = randomUUID();
    const files = previewPaths(config.dataDir, id);
    try {
      const meta = await probeInput(video.path, { timeoutMs: 30_000 });
      checkVideoLimits(meta, config.limits);
      await mkdir(files.dir, { recursive: true });
      await rename(video.path, files.input);
      await writeFileAtomic(files.video, JSON.stringify({ owner, meta } satisfies StoredSession));
      // Load the model now: the page asks for the first frame's embedding next.
      this.inference.start().catch((error) => logger.error({ err: error }, 'the preview model could not be loaded'));
      logger.info({ previewId: id, width: meta.width, height: meta.height, frames: meta.frames }, 'preview session created');
      return { id, video: publicVideo(meta) };
    } catch (error) {
      await rm(video.path, { force: true });
      await rm(files.dir, { recursive: true, force: true });
      throw error;
    }
  }

  async get(id: string, owner: string): Promise<PreviewSession> {
    const meta = await this.meta(id, owner);
    return { id, video: publicVideo(meta) };
  }

  /** The frame as a JPEG file (made once, then served from disk). */
  async frameJpeg(id: string, frame: number, owner: string): Promise<string> {
    const meta = await this.meta(id, owner);
    checkFrame(frame, meta);
    const files = previewPaths(this.deps.config.dataDir, id);
    const file = path.join(files.frames, `${frame}.jpg`);
    if (await exists(file)) return file;
    await mkdir(files.frames, { recursive: true });
    for await (const rgb of readFrames(files.input, meta, { start: frame, end: frame + 1 })) {
      const jpeg = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } }).jpeg({ quality: 88 }).toBuffer();
      await writeFileAtomic(file, jpeg);
    }
    return file;
  }

  /** Computes and caches a frame's embedding, so the clicks on it are answered quickly. */
  async prepare(id: string, frame: number, owner: string): Promise<{ embedMs: number }> {
    const meta = await this.meta(id, owner);
    checkFrame(frame, meta);
    const outcome = await this.run({ input: previewPaths(this.deps.config.dataDir, id).input, frame, points: [] });
    if (outcome.embedMs > 0) this.deps.metrics.previewSeconds.observe({ step: 'embedding' }, outcome.embedMs / 1000);
    return { embedMs: Math.round(outcome.embedMs) };
  }

  /** The mask the points (and box) give on a frame. */
  async mask(id: string, body: unknown, owner: string): Promise<PreviewMask> {
    const meta = await this.meta(id, owner);
    const parsed = previewMaskRequestSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.length ? issue.path.join('.') : 'body';
      throw badRequest('invalid_preview', `${field}: ${issue.message}`, field);
    }
    const request = parsed.data;
    checkFrame(request.frame, meta);
    request.points.forEach(([x, y], i) => {
      if (x >= meta.width || y >= meta.height) {
        throw badRequest('outside_frame', `point ${i} (${x}, ${y}) is outside the ${meta.width}x${meta.height} frame`, `points.${i}`);
      }
    });
    if (request.box && (request.box[2] > meta.width || request.box[3] > meta.height)) {
      throw badRequest('outside_frame', `the box goes outside the ${meta.width}x${meta.height} frame`, 'box');
    }
    const started = performance.now();
    const outcome = await this.run({ input: previewPaths(this.deps.config.dataDir, id).input, frame: request.frame, points: request.points, box: request.box });
    const totalMs = performance.now() - started;
    this.deps.metrics.previewSeconds.observe({ step: 'mask' }, totalMs / 1000);
    return {
      frame: request.frame,
      width: outcome.width,
      height: outcome.height,
      score: Number((outcome.score ?? 0).toFixed(4)),
      area: outcome.area ?? 0,
      mask: { size: [outcome.height, outcome.width], counts: outcome.counts ?? [] },
      timings: { embedMs: Math.round(outcome.embedMs), decodeMs: Math.round(outcome.decodeMs), totalMs: Math.round(totalMs) },
    };
  }

  async remove(id: string, owner: string): Promise<void> {
    await this.meta(id, owner);
    await rm(previewPaths(this.deps.config.dataDir, id).dir, { recursive: true, force: true });
  }

  /** Deletes sessions not used for PREVIEW_TTL_MINUTES. */
  async sweep(now = Date.now()): Promise<number> {
    const root = previewsDir(this.deps.config.dataDir);
    const ids = await readdir(root).catch(() => [] as string[]);
    let deleted = 0;
    for (const id of ids.filter(isJobId)) {
      const info = await stat(previewPaths(this.deps.config.dataDir, id).dir).catch(() => undefined);
      if (info && now - info.mtimeMs > this.deps.config.previewTtlMs) {
        await rm(previewPaths(this.deps.config.dataDir, id).dir, { recursive: true, force: true });
        deleted++;
      }
    }
    return deleted;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.inference.close();
  }

  /**
   * The session's probed video, for its owner only (others get 404); marks
   * the session as used (its directory's mtime is its age).
   */
  private async meta(id: string, owner: string): Promise<VideoMeta> {
    const missing = () => notFound(`no preview ${id} (previews are deleted after ${this.deps.config.previewTtlMs / 60_000} minutes unused)`);
    if (!isJobId(id)) throw missing();
    const files = previewPaths(this.deps.config.dataDir, id);
    let session: StoredSession;
    try {
      session = JSON.parse(await readFile(files.video, 'utf8')) as StoredSession;
    } catch {
      throw missing();
    }
    if (session.owner !== owner) throw missing();
    const now = new Date();
    await utimes(files.dir, now, now).catch(() => undefined);
    return session.meta;
  }

  private run(request: PreviewRequest): Promise<PreviewOutcome> {
    const next = this.queue.then(() => this.inference.preview(request));
    this.queue = next.catch(() => undefined);
    return next.catch((error: unknown) => {
      if (error instanceof InferenceError) {
        this.deps.logger.error({ err: error, detail: error.detail }, 'preview failed');
        throw new ApiError(500, 'preview_failed', 'the preview could not be computed on the server');
      }
      this.deps.logger.error({ err: error }, 'preview model unavailable');
      throw new ApiError(503, 'model_unavailable', 'the model is not available for previews right now; try again shortly', undefined, { 'Retry-After': '5' });
    });
  }
}

function publicVideo(meta: VideoMeta): JobVideo {
  return { width: meta.width, height: meta.height, fps: meta.fps, frames: meta.frames, duration: meta.duration };
}

function checkFrame(frame: number, meta: VideoMeta): void {
  if (!Number.isInteger(frame) || frame < 0 || frame >= meta.frames) {
    throw badRequest('frame_out_of_range', `frame ${frame} is not in the video (frames 0 to ${meta.frames - 1})`, 'frame');
  }
}
