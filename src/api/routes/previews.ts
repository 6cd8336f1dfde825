import path from 'node:path';
import express, { Router } from 'express';
import { ApiError, badRequest } from '../errors.js';
import type { PreviewService } from '../preview-service.js';
import { callerOf } from '../security.js';
import { uploaded, uploadMiddleware } from '../upload.js';

/**
 * /v1/previews: what the web page's live preview uses (public like the rest
 * of the API): upload a video once, fetch frames, ask for the mask of some
 * clicks on a frame. Submitting a job still goes through POST /v1/jobs.
 */

const owner = callerOf;

function frameParam(value: string): number {
  if (!/^\d{1,7}$/.test(value)) throw badRequest('frame_out_of_range', `"${value}" is not a frame number`, 'frame');
  return Number(value);
}

export function previewsRouter(deps: { previews: PreviewService; dataDir: string; maxUploadBytes: number }): Router {
  const { previews } = deps;
  const router = Router();
  // The video only: a preview reads no other file, so another file part would be left in DATA_DIR/uploads.
  const upload = uploadMiddleware(deps.dataDir, deps.maxUploadBytes, ['video']);

  router.post(
    '/',
    (req, _res, next) => {
      if (!req.is('multipart/form-data')) throw new ApiError(415, 'unsupported_media_type', 'send multipart/form-data with a "video" file');
      next();
    },
    upload,
    async (req, res) => {
      const session = await previews.create(uploaded(req, 'video'), owner(req));
      res.status(201).location(`/v1/previews/${session.id}`).json(session);
    },
  );

  router.get('/:id', async (req, res) => {
    res.json(await previews.get(req.params.id, owner(req)));
  });

  router.delete('/:id', async (req, res) => {
    await previews.remove(req.params.id, owner(req));
    res.status(204).end();
  });

  router.get('/:id/frames/:file', async (req, res, next) => {
    const match = /^(\d{1,7})\.jpg$/.exec(req.params.file);
    if (!match) throw new ApiError(404, 'not_found', `no frame "${req.params.file}": frames are <number>.jpg`);
    const file = await previews.frameJpeg(req.params.id, Number(match[1]), owner(req));
    res.type('image/jpeg');
    res.sendFile(path.basename(file), { root: path.dirname(file), cacheControl: false, headers: { 'Cache-Control': 'private, max-age=3600' } }, (error) => {
      if (error && !res.headersSent) next(error);
    });
  });

  router.post('/:id/frames/:frame/embedding', async (req, res) => {
    await previews.prepare(req.params.id, frameParam(req.params.frame), owner(req));
    res.status(204).end();
  });

  router.post('/:id/masks', express.json({ limit: '64kb' }), async (req, res) => {
    if (!req.is('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send the points as application/json');
    res.json(await previews.mask(req.params.id, req.body, owner(req)));
  });

  return router;
}
