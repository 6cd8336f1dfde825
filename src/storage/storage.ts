import type { Readable } from 'node:stream';

/**
 * Where job files live: one repository over the external system that holds
 * them, the local disk (DATA_DIR, the default) or an S3-compatible bucket.
 * Keys are the job layout's relative paths (jobs/<id>/input, ...), with '/'
 * separators whatever the platform; a key never starts with '/' or holds '..'.
 *
 * Every write is atomic: a reader sees an object whole or not at all (S3 PUTs
 * are; the disk writes a temporary file and renames it).
 */

export const STORAGE_KINDS = ['disk', 's3'] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

export interface ObjectInfo {
  key: string;
  size: number;
  /** Epoch ms. */
  modified: number;
}

/** An object's bytes as a stream, for serving (with the part asked for by a Range header). */
export interface ObjectStream {
  body: Readable;
  /** 206 when the range was honoured, else 200. */
  status: 200 | 206;
  contentLength: number;
  contentRange?: string;
  etag?: string;
  modified?: number;
}

export interface Storage {
  readonly kind: StorageKind;
  /** Where the objects are, for logs. */
  readonly location: string;
  /** That the storage is reachable with these settings (at start-up: a wrong one fails at once, not in a job). */
  check(): Promise<void>;
  /**
   * The key's file when the storage is this machine's disk (nothing to fetch
   * or upload), undefined for remote storage.
   */
  localPath(key: string): string | undefined;
  put(key: string, body: Uint8Array | string): Promise<void>;
  /** Uploads a local file (streamed; multipart when large). `move`: the file is ours to consume. */
  putFile(key: string, file: string, options?: { move?: boolean }): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
  /** Downloads an object to a local file (atomically); false when there is no such object. */
  getFile(key: string, file: string): Promise<boolean>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object under a prefix (a prefix of keys, not a directory: end it with '/'). */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** The names one level below a prefix ('jobs/' -> job ids). */
  children(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /** Deletes every object under the prefix; returns how many went. */
  deletePrefix(prefix: string): Promise<number>;
  /** The object for serving; `range` is an HTTP Range header, passed on. */
  stream(key: string, range?: string): Promise<ObjectStream | undefined>;
  /** A time-limited URL that fetches the object without credentials (remote storage only). */
  presign?(key: string, seconds: number, download?: string): Promise<string>;
}

export type StorageErrorCode = 'storage_full' | 'storage_denied' | 'storage_unavailable' | 'storage_bad_range';

/**
 * A storage failure with a code a job record or an API answer can carry
 * across processes: a full bucket or denied access is the operator's to fix,
 * not a crash and not the user's input.
 */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Checks a key: relative, '/'-separated, no empty, '.' or '..' segments. */
export function checkKey(key: string): string {
  const parts = key.split('/');
  const last = parts.length - 1;
  if (!key || key.startsWith('/') || key.includes('\\') || parts.some((p, i) => p === '.' || p === '..' || (p === '' && i !== last))) {
    throw new Error(`not a storage key: ${JSON.stringify(key)}`);
  }
  return key;
}
