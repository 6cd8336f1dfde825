import path from 'node:path';
import express, { Router } from 'express';
import type { ArtifactName } from '../../jobs/layout.js';
import { ApiError, badRequest } from '../errors.js';
import type { JobResults } from '../job-results.js';
import type { JobService } from '../job-service.js';
import { jobListQuerySchema, jobMasksQuerySchema, toJobStatus } from '../schemas.js';
import { callerOf, type AccessPolicy } from '../security.js';
import { uploaded, uploadMiddleware } from '../upload.js';

/** How long a signed artifact link works. */
const LINK_HOURS = 24;

const ARTIFACTS: Record<string, { name: ArtifactName; type: string; download?: string }> = {
  'overlay.mp4': { name: 'overlay', type: 'video/mp4' },
  'masks.json': { name: 'masks', type: 'application/json' },
  'masks.zip': { name: 'pngZip', type: 'application/zip', download: 'masks.zip' },
};

export function jobsRouter(deps: { jobs: JobService; results: JobResults; policy: AccessPolicy; dataDir: string; maxUploadBytes: number }): Router {
  const { jobs, results, policy } = deps;
  const router = Router();
  const upload = uploadMiddleware(deps.dataDir, deps.maxUploadBytes);
  const owner = callerOf;

  // With API keys, artifact URLs carry a signature: a <video> element or a download link cannot send the key.
  const link = (id: string) => (path: string, file: string) => {
    if (!policy.enabled) return path;
    const expires = Math.floor(Date.now() / 1000) + LINK_HOURS * 3600;
    return `${path}?exp=${expires}&sig=${policy.sign(id, file, expires)}`;
  };
  const status = (record: Parameters<typeof toJobStatus>[0]) => toJobStatus(record, link(record.id));

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
    res.json({ jobs: records.map(status), total, limit, offset, nextOffset: offset + records.length < total ? offset + limit : null });
  });

  router.get('/:id', async (req, res) => {
    res.json(status(await jobs.get(req.params.id, owner(req))));
  });

  router.delete('/:id', async (req, res) => {
    const result = await jobs.cancelOrDelete(req.params.id, owner(req));
    if (result.outcome === 'deleted') res.status(204).end();
    else res.json(status(result.record));
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

  router.get('/:id/artifacts/:file', async (req, res, next) => {
    const artifact = ARTIFACTS[req.params.file];
    if (!artifact) throw new ApiError(404, 'not_found', `no artifact "${req.params.file}": there are ${Object.keys(ARTIFACTS).join(', ')}`);
    // A caller with a key sees their own jobs; a caller without one needs a valid signed link.
    let access: string | undefined = owner(req);
    if (!req.owner && policy.enabled) {
      const valid = policy.verify(req.params.id, req.params.file, Number(req.query.exp), String(req.query.sig ?? ''));
      if (!valid) throw new ApiError(401, 'unauthorized', 'the link is not valid or has expired; ask GET /v1/jobs/:id for a fresh one');
      access = undefined;
    }
    const file = await jobs.artifact(req.params.id, artifact.name, access);
    res.type(artifact.type);
    if (artifact.download) res.attachment(`${req.params.id}-${artifact.download}`);
    // send: Range (206), If-Range, ETag, Last-Modified, HEAD.
    // `root` + a bare name: send then checks only the name for dot-segments, so a DATA_DIR under
    // a dot-directory (~/.local/...) still works.
    res.sendFile(path.basename(file), { root: path.dirname(file), acceptRanges: true, cacheControl: false }, (error) => {
      if (error && !res.headersSent) next(error);
    });
  });

  return router;
}
