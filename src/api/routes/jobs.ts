import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import express, { Router, type Request, type Response } from 'express';
import { jobRelativePaths, renderKey, type ArtifactName } from '../../jobs/layout.js';
import type { JobRecord } from '../../jobs/record.js';
import type { ObjectInfo, Storage } from '../../storage/storage.js';
import { ApiError, badRequest } from '../errors.js';
import type { JobResults } from '../job-results.js';
import type { JobService } from '../job-service.js';
import { RENDER_TYPES } from '../../output/render-spec.js';
import { hasArtifacts, jobListQuerySchema, jobMasksQuerySchema, toJobStatus, toRenderStatus } from '../schemas.js';
import { callerOf, type AccessPolicy } from '../security.js';
import { uploaded, uploadMiddleware } from '../upload.js';

/** How long a signed artifact link works. */
const LINK_HOURS = 24;
/** How long a presigned bucket URL works (S3_PRESIGN): each status answer gives fresh ones. */
const PRESIGN_SECONDS = 3600;

const ARTIFACTS: Record<string, { name: ArtifactName; type: string; download?: string }> = {
  'overlay.mp4': { name: 'overlay', type: 'video/mp4' },
  'masks.json': { name: 'masks', type: 'application/json' },
  'masks.zip': { name: 'pngZip', type: 'application/zip', download: 'masks.zip' },
  'instances.json': { name: 'instances', type: 'application/json' },
};

export interface JobsRouterDeps {
  jobs: JobService;
  results: JobResults;
  policy: AccessPolicy;
  storage: Storage;
  /** Artifact links are presigned bucket URLs. */
  presign: boolean;
  dataDir: string;
  maxUploadBytes: number;
}

export function jobsRouter(deps: JobsRouterDeps): Router {
  const { jobs, results, policy, storage } = deps;
  const router = Router();
  const upload = uploadMiddleware(deps.dataDir, deps.maxUploadBytes);
  const owner = callerOf;

  // With API keys, artifact URLs carry a signature: a <video> element or a download link cannot send the key.
  const link = (id: string) => (path: string, file: string) => {
    if (!policy.enabled) return path;
    const expires = Math.floor(Date.now() / 1000) + LINK_HOURS * 3600;
    return `${path}?exp=${expires}&sig=${policy.sign(id, file, expires)}`;
  };
  const status = async (record: JobRecord) => {
    if (!deps.presign || !storage.presign || !hasArtifacts(record)) return toJobStatus(record, link(record.id));
    const urls = new Map<string, string>();
    for (const [file, artifact] of Object.entries(ARTIFACTS)) {
      const download = artifact.download && `${record.id}-${artifact.download}`;
      urls.set(file, await storage.presign(jobRelativePaths(record.id)[artifact.name], PRESIGN_SECONDS, download));
    }
    for (const render of record.renders ?? []) {
      if (render.state === 'succeeded') urls.set(render.file, await storage.presign(renderKey(record.id, render.fileRevision ?? render.revision, render.file), PRESIGN_SECONDS));
    }
    return toJobStatus(record, (path, file) => urls.get(file) ?? path);
  };

  router.post(
    '/',
    async (req, _res, next) => {
      if (!req.is('multipart/form-data')) {
        throw new ApiError(415, 'unsupported_media_type', 'send multipart/form-data with a "video" file and a "prompts" field');
      }
      await jobs.assertQueueHasRoom();
      next();
    },
    upload,
    async (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const record = await jobs.submit({
        owner: owner(req),
        video: uploaded(req, 'video'),
        promptsFile: uploaded(req, 'prompts'),
        promptsText: typeof body.prompts === 'string' ? body.prompts : undefined,
      });
      const statusUrl = `/v1/jobs/${record.id}`;
      res.status(202).location(statusUrl).json({ id: record.id, statusUrl });
    },
  );

  router.get('/', async (req, res) => {
    const query = jobListQuerySchema.safeParse(req.query);
    if (!query.success) {
      const issue = query.error.issues[0];
      throw badRequest('invalid_query', `${String(issue.path[0])}: ${issue.message}`, String(issue.path[0]));
    }
    const { limit, offset } = query.data;
    const { records, total } = await jobs.list(offset, limit, owner(req));
    res.json({ jobs: await Promise.all(records.map(status)), total, limit, offset, nextOffset: offset + records.length < total ? offset + limit : null });
  });

  router.get('/:id', async (req, res) => {
    res.json(await status(await jobs.get(req.params.id, owner(req))));
  });

  router.delete('/:id', async (req, res) => {
    const result = await jobs.cancelOrDelete(req.params.id, owner(req));
    if (result.outcome === 'deleted') res.status(204).end();
    else res.json(await status(result.record));
  });

  // Live results: the frames whose masks are final, during the run and after it.
  router.get('/:id/masks', async (req, res) => {
    const query = jobMasksQuerySchema.safeParse(req.query);
    if (!query.success) {
      const issue = query.error.issues[0];
      throw badRequest('invalid_query', `${String(issue.path[0])}: ${issue.message}`, String(issue.path[0]));
    }
    res.json(await results.masks(req.params.id, query.data, owner(req)));
  });

  router.get('/:id/frames/:file', async (req, res) => {
    const match = /^(\d{1,7})\.jpg$/.exec(req.params.file);
    if (!match) throw new ApiError(404, 'not_found', `no frame "${req.params.file}": frames are <number>.jpg`);
    const overlay = req.query.overlay === '1' || req.query.overlay === 'true';
    const jpeg = await results.frameJpeg(req.params.id, Number(match[1]), overlay, owner(req));
    // The masks of a frame change with a correction: only the plain frame may be cached.
    res.type('image/jpeg').set('Cache-Control', overlay ? 'no-store' : 'private, max-age=3600').send(jpeg);
  });

  router.post('/:id/corrections', express.json({ limit: '1mb' }), async (req, res) => {
    if (!req.is('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send the correction as application/json');
    const { revision } = await results.correct(req.params.id, req.body, owner(req));
    res.status(202).json({ revision });
  });

  router.post('/:id/renders', express.json({ limit: '16kb' }), async (req, res) => {
    if (!req.is('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send the render request as application/json');
    const { render, queued } = await results.render(req.params.id, req.body, owner(req));
    res.status(queued ? 202 : 200).json(toRenderStatus(req.params.id, render, link(req.params.id)));
  });

  // The standard artifacts by name, and a job's renders by their file names.
  router.get('/:id/artifacts/:file', async (req, res, next) => {
    const artifact = ARTIFACTS[req.params.file];
    // A caller with a key sees their own jobs; a caller without one needs a valid signed link.
    let access: string | undefined = owner(req);
    if (!req.owner && policy.enabled) {
      const valid = policy.verify(req.params.id, req.params.file, Number(req.query.exp), String(req.query.sig ?? ''));
      if (!valid) throw new ApiError(401, 'unauthorized', 'the link is not valid or has expired; ask GET /v1/jobs/:id for a fresh one');
      access = undefined;
    }
    let info: ObjectInfo;
    if (artifact) {
      info = await jobs.artifact(req.params.id, artifact.name, access);
      res.type(artifact.type);
      if (artifact.download) res.attachment(`${req.params.id}-${artifact.download}`);
    } else {
      const render = await jobs.render(req.params.id, req.params.file, access);
      info = render;
      res.type(RENDER_TYPES[render.output]);
    }
    const file = storage.localPath(info.key);
    if (!file) return sendObject(storage, info.key, req, res);
    // send: Range (206), If-Range, ETag, Last-Modified, HEAD.
    // `root` + a bare name: send then checks only the name for dot-segments, so a DATA_DIR under
    // a dot-directory (~/.local/...) still works.
    res.sendFile(path.basename(file), { root: path.dirname(file), acceptRanges: true, cacheControl: false }, (error) => {
      if (error && !res.headersSent) next(error);
    });
  });

  return router;
}

/** An object from remote storage, streamed through: a Range is passed on (206), so a <video> can seek. */
async function sendObject(storage: Storage, key: string, req: Request, res: Response): Promise<void> {
  // A range outside the object is a StorageError the error handler answers 416, as for a file on disk.
  const object = await storage.stream(key, req.headers.range);
  if (!object) throw new ApiError(404, 'not_found', `${key.split('/').pop()} is gone`);
  res.status(object.status).set({ 'Accept-Ranges': 'bytes', 'Content-Length': String(object.contentLength) });
  if (object.contentRange) res.set('Content-Range', object.contentRange);
  if (object.etag) res.set('ETag', object.etag);
  if (object.modified) res.set('Last-Modified', new Date(object.modified).toUTCString());
  if (req.method === 'HEAD') {
    object.body.destroy();
    res.end();
    return;
  }
  // A client that goes away mid-download ends the pipeline; there is nothing left to answer.
  await pipeline(object.body, res).catch(() => undefined);
}
