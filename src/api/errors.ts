import type { ErrorRequestHandler, RequestHandler } from 'express';
import multer from 'multer';
import { MediaError } from '../media/index.js';
import { StorageError } from '../storage/storage.js';
import { isRedisOutOfMemory } from '../jobs/redis-errors.js';
import { PromptsError } from '../prompts.js';
import type { Logger } from '../logger.js';

/**
 * The one error envelope: `{error: {code, message, details?}}`. Messages are
 * written for people and never carry a stack, a server path or ffmpeg's
 * output; anything unexpected becomes a 500 `internal` and is logged.
 */

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Extra response headers (Retry-After). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  get body(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export const badRequest = (code: string, message: string, field?: string) => new ApiError(400, code, message, field ? { field } : undefined);
export const notFound = (message = 'no such resource') => new ApiError(404, 'not_found', message);

/** What each media problem answers. Too large/long are 413; "that is not a video" is 415. */
const MEDIA_STATUS: Partial<Record<MediaError['code'], number>> = {
  not_a_video: 415,
  no_video_stream: 415,
  zero_frames: 400,
  truncated: 400,
  undecodable: 415,
  too_large: 413,
};

export function fromMediaError(error: MediaError): ApiError {
  const status = MEDIA_STATUS[error.code];
  if (!status) return new ApiError(500, 'internal', 'the video could not be examined on the server');
  return new ApiError(status, error.code, error.message, { field: 'video' });
}

/**
 * Prompts problems: the field is the path inside the `prompts` part, e.g.
 * prompts.objects[0].prompts[0].points[1] (`root` '' for a JSON body such as a correction's).
 */
export function fromPromptsError(error: PromptsError, root = 'prompts'): ApiError {
  const field = !root ? error.field : error.field === root ? root : `${root}.${error.field}`;
  return new ApiError(400, error.code, error.message, { field });
}

const MULTER_ERRORS: Record<string, (field?: string) => ApiError> = {
  LIMIT_FILE_SIZE: () => new ApiError(413, 'upload_too_large', 'the upload is larger than the limit', { field: 'video' }),
  LIMIT_FIELD_VALUE: (field) => new ApiError(413, 'field_too_large', `the ${field ?? ''} field is larger than the limit`.replace('  ', ' '), { field }),
  LIMIT_UNEXPECTED_FILE: (field) => badRequest('unexpected_file', `unexpected file field "${field}": send the video as "video"`, field),
  LIMIT_FILE_COUNT: () => badRequest('unexpected_file', 'send one file, the video, as "video"', 'video'),
};

function fromMulterError(error: multer.MulterError): ApiError {
  return MULTER_ERRORS[error.code]?.(error.field) ?? badRequest('invalid_multipart', `the multipart body was refused: ${error.message.toLowerCase()}`, error.field);
}

/** Object storage that is full or refuses us is the server's problem: 507/503 with the storage's code, never a 500. */
function fromStorageError(error: StorageError): ApiError {
  if (error.code === 'storage_bad_range') return new ApiError(416, 'range_not_satisfiable', 'the requested range is outside the file');
  if (error.code === 'storage_full') return new ApiError(507, error.code, 'the object storage is full; try again later', undefined, { 'Retry-After': '60' });
  const what = error.code === 'storage_denied' ? 'refused access' : 'could not be reached';
  return new ApiError(503, error.code, `the object storage ${what}; try again later`, undefined, { 'Retry-After': '30' });
}

/** Maps anything thrown in a request to an ApiError; unknown errors to 500 (logged by the handler). */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof multer.MulterError) return fromMulterError(error);
  if (error instanceof MediaError) return fromMediaError(error);
  if (error instanceof PromptsError) return fromPromptsError(error);
  if (error instanceof StorageError) return fromStorageError(error);
  const e = error as { name?: string; status?: number; message?: string; code?: string };
  // busboy / body-parser errors on malformed bodies.
  if (e && typeof e.message === 'string' && /^(Unexpected end of form|Malformed part header|Multipart: Boundary not found)/.test(e.message)) {
    return badRequest('invalid_multipart', 'the multipart body is malformed');
  }
  // express.json() (body-parser) errors.
  const type = e && typeof e === 'object' ? (e as { type?: unknown }).type : undefined;
  if (type === 'entity.parse.failed') return badRequest('invalid_json', 'the body is not valid JSON');
  if (type === 'entity.too.large') return new ApiError(413, 'body_too_large', 'the body is larger than the limit');
  if (e && (e.status === 404 || e.code === 'ENOENT')) return notFound();
  // Redis at maxmemory (noeviction): nothing was filed; the client tries again once memory is freed.
  if (isRedisOutOfMemory(error)) return new ApiError(503, 'redis_full', 'the job store is out of memory; try again later', undefined, { 'Retry-After': '30' });
  if (e && e.code === 'ENOSPC') return new ApiError(507, 'insufficient_storage', 'the server is out of disk space; try again later', undefined, { 'Retry-After': '60' });
  // Redis down or unreachable (ioredis gave up on the command).
  if (e && (e.name === 'MaxRetriesPerRequestError' || /ECONNREFUSED|Connection is closed|Stream isn't writeable/.test(e.message ?? ''))) {
    return new ApiError(503, 'unavailable', 'the job store is unreachable; try again shortly', undefined, { 'Retry-After': '10' });
  }
  if (e && e.status === 416) return new ApiError(416, 'range_not_satisfiable', 'the requested range is outside the file');
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    let apiError = toApiError(error);
    if (!apiError) {
      logger.error({ err: error, method: req.method, url: req.originalUrl }, 'request failed');
      apiError = new ApiError(500, 'internal', 'something went wrong on the server');
    } else if (apiError.code === 'redis_full') {
      logger.warn({ method: req.method, url: req.originalUrl }, 'Redis is at maxmemory: request refused (raise maxmemory or free memory)');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (apiError.headers) res.set(apiError.headers);
    res.status(apiError.status).json(apiError.body);
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(notFound(`no route ${req.method} ${req.path}`));
};
