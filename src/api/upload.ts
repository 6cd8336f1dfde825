import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Request } from 'express';
import multer from 'multer';
import { uploadsDir } from '../jobs/layout.js';
import { MAX_PROMPTS_BYTES, type UploadedFile } from './job-service.js';

type Files = Record<string, Express.Multer.File[] | undefined>;

/** The file multer stored for a form field, if the request had one. */
export function uploaded(req: Request, field: string): UploadedFile | undefined {
  const file = (req.files as Files | undefined)?.[field]?.[0];
  return file ? { path: file.path, size: file.size } : undefined;
}

/**
 * multer on disk: parts stream to DATA_DIR/uploads under random names (never
 * the client's), with a size limit; nothing is held in memory but the
 * prompts text. multer deletes what it wrote if the request fails.
 * `files`: the file parts the route takes; any other file part is refused
 * (400 unexpected_file, and deleted), so none is left behind unread.
 */
export function uploadMiddleware(dataDir: string, maxUploadBytes: number, files: readonly string[] = ['video', 'prompts']) {
  const destination = uploadsDir(dataDir);
  mkdirSync(destination, { recursive: true });
  return multer({
    storage: multer.diskStorage({
      destination,
      filename: (_req, _file, callback) => callback(null, `${randomUUID()}.part`),
    }),
    limits: { fileSize: maxUploadBytes, files: 2, fields: 4, parts: 8, fieldSize: MAX_PROMPTS_BYTES, fieldNameSize: 100 },
  }).fields(files.map((name) => ({ name, maxCount: 1 })));
}
