import path from 'node:path';
import { Router, type Request } from 'express';
import type { ArtifactName } from '../../jobs/layout.js';
import { ApiError, badRequest } from '../errors.js';
import type { JobService, UploadedFile } from '../job-service.js';
import { jobListQuerySchema, toJobStatus } from '../schemas.js';
import { uploadMiddleware } from '../upload.js';

const ARTIFACTS: Record<string, { name: ArtifactName; type: string; download?: string }> = {
  'overlay.mp4': { name: 'overlay', type: 'video/mp4' },
  'masks.json': { name: 'masks', type: 'application/json' },
  'masks.zip': { name: 'pngZip', type: 'application/zip', download: 'masks.zip' },
};

type Files = Record<string, Express.Multer.File[] | undefined>;

function uploaded(req: Request, field: string): UploadedFile | undefined {
  const file = (req.files as Files | undefined)?.[field]?.[0];
  return file ? { path: file.path, size: file.size } : undefined;
}

export function jobsRouter(deps: { jobs: JobService; dataDir: string; maxUploadBytes: number }): Router {
  const { jobs } = deps;
  const router = Router();
  const upload = uploadMiddleware(deps.dataDir, deps.maxUploadBytes);

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
    const { records, total } = await jobs.list(offset, limit);
    res.json({ jobs: records.map(toJobStatus), total, limit, offset, nextOffset: offset + records.length < total ? offset + limit : null });
  });

  router.get('/:id', async (req, res) => {
    res.json(toJobStatus(await jobs.get(req.params.id)));
  });

  router.delete('/:id', async (req, res) => {
    const result = await jobs.cancelOrDelete(req.params.id);
    if (result.outcome === 'deleted') res.status(204).end();
    else res.json(toJobStatus(result.record));
  });

  router.get('/:id/artifacts/:file', async (req, res, next) => {
    const artifact = ARTIFACTS[req.params.file];
    if (!artifact) throw new ApiError(404, 'not_found', `no artifact "${req.params.file}": there are ${Object.keys(ARTIFACTS).join(', ')}`);
    const file = await jobs.artifact(req.params.id, artifact.name);
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
