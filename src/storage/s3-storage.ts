import { createReadStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { tempNameFor } from '../util/atomic.js';
import { checkKey, StorageError, type ObjectInfo, type ObjectStream, type Storage } from './storage.js';

/**
 * Storage in an S3-compatible bucket (AWS S3, MinIO, R2, Ceph RGW, s3rver)
 * through the official SDK. Credentials come from the SDK's usual chain
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles).
 * Keys are stored under `prefix`, so one bucket can hold several services.
 */

export interface S3StorageOptions {
  bucket: string;
  /** Prepended to every key ('' or ending in '/'). */
  prefix: string;
  region: string;
  /** Unset for AWS S3; MinIO, R2 and the like need it (and path-style addressing). */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

// The SDK warns once per process that its releases after January 2027 need Node 22. The
// versions here are pinned (package.json); that upgrade is a decision for then, and
// the warning would otherwise be printed by every worker and inference process.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Objects above this go up in parts (lib-storage), the rest in one PUT. */
const PART_BYTES = 8 * 1024 * 1024;

export class S3Storage implements Storage {
  readonly kind = 's3' as const;
  readonly client: S3Client;

  constructor(readonly options: S3StorageOptions) {
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.endpoint !== undefined,
      credentials: options.credentials,
      // Checksums only where S3 demands them: S3-compatible servers differ in the newer trailing checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private key(key: string): string {
    return this.options.prefix + checkKey(key);
  }

  localPath(): undefined {
    return undefined;
  }

  get location(): string {
    return `s3://${this.options.bucket}/${this.options.prefix}${this.options.endpoint ? ` at ${this.options.endpoint}` : ''}`;
  }

  /** That the bucket exists and these credentials reach it. */
  async check(): Promise<void> {
    const Bucket = this.options.bucket;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket }));
    } catch (error) {
      if (statusOf(error) === 404) throw new StorageError('storage_denied', `there is no bucket ${Bucket} at ${this.options.endpoint ?? 'AWS S3'}`);
      throw storageError(error, `bucket ${Bucket}`);
    }
  }

  /** Creates the bucket when it is missing (development servers: `npm run s3`, tests; a production bucket exists already). */
  async ensureBucket(): Promise<void> {
    try {
      await this.check();
    } catch {
      await this.call(`bucket ${this.options.bucket}`, () => this.client.send(new CreateBucketCommand({ Bucket: this.options.bucket })));
    }
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    await this.call(key, () => this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: this.key(key), Body: body })));
  }

  async putFile(key: string, file: string, options: { move?: boolean } = {}): Promise<void> {
    await this.call(key, async () => {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.options.bucket, Key: this.key(key), Body: createReadStream(file) },
        partSize: PART_BYTES,
        queueSize: 2,
        leavePartsOnError: false, // an upload that fails leaves no parts behind
      });
      await upload.done();
    });
    if (options.move) await rm(file, { force: true });
  }

  async get(key: string): Promise<Buffer | undefined> {
    const object = await this.getObject(key);
    return object ? Buffer.from(await object.transformToByteArray()) : undefined;
  }

  async getFile(key: string, file: string): Promise<boolean> {
    const object = await this.getObject(key);
    if (!object) return false;
    await mkdir(path.dirname(file), { recursive: true });
    const temp = tempNameFor(file);
    try {
      await pipeline(object as Readable, createWriteStream(temp));
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw storageError(error, key);
    }
    return true;
  }

  private async getObject(key: string) {
    try {
      return (await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(key) }))).Body;
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw storageError(error, key);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.key(key) }));
      return { key, size: head.ContentLength ?? 0, modified: head.LastModified?.getTime() ?? 0 };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw storageError(error, key);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.options.prefix + prefix, ContinuationToken })),
      );
      for (const o of page.Contents ?? []) {
        out.push({ key: o.Key!.slice(this.options.prefix.length), size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 });
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out;
  }

  async children(prefix: string): Promise<string[]> {
    const names: string[] = [];
    const full = this.options.prefix + prefix;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: full, Delimiter: '/', ContinuationToken })),
      );
      for (const p of page.CommonPrefixes ?? []) names.push(p.Prefix!.slice(full.length).replace(/\/$/, ''));
      for (const o of page.Contents ?? []) names.push(o.Key!.slice(full.length));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return names;
  }

  async delete(key: string): Promise<void> {
    await this.call(key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.key(key) })));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    for (let i = 0; i < objects.length; i += 1000) {
      const batch = objects.slice(i, i + 1000).map((o) => ({ Key: this.key(o.key) }));
      const reply = await this.call(prefix, () => this.client.send(new DeleteObjectsCommand({ Bucket: this.options.bucket, Delete: { Objects: batch, Quiet: true } })));
      if (reply.Errors?.length) throw new StorageError('storage_unavailable', `could not delete ${reply.Errors.length} objects under ${prefix}: ${reply.Errors[0].Code}`);
    }
    return objects.length;
  }

  async stream(key: string, range?: string): Promise<ObjectStream | undefined> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(key), Range: range }));
      return {
        body: object.Body as Readable,
        status: object.ContentRange ? 206 : 200,
        contentLength: object.ContentLength ?? 0,
        contentRange: object.ContentRange,
        etag: object.ETag,
        modified: object.LastModified?.getTime(),
      };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      if (statusOf(error) === 416) throw new StorageError('storage_bad_range', `the range ${range} is not in ${key}`);
      throw storageError(error, key);
    }
  }

  async presign(key: string, seconds: number, download?: string): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.options.bucket,
      Key: this.key(key),
      ResponseContentDisposition: download ? `attachment; filename="${download}"` : undefined,
    });
    return getSignedUrl(this.client, command, { expiresIn: seconds });
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw storageError(error, what);
    }
  }
}

/** No such object (a missing bucket is a configuration fault, not a missing object). */
function isMissingObject(error: unknown): boolean {
  return statusOf(error) === 404 && (error as { name?: unknown })?.name !== 'NoSuchBucket';
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** S3's error names for "no room" and "not allowed", across AWS, MinIO, R2 and Ceph. */
const FULL = new Set(['XMinioStorageFull', 'QuotaExceeded', 'EntityTooLarge', 'InsufficientStorage', 'StorageFull']);
const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AllAccessDisabled', 'AccountProblem', 'NoSuchBucket']);

/** An SDK failure as a coded StorageError (operators read the message; jobs carry the code). */
export function storageError(error: unknown, what: string): StorageError {
  if (error instanceof StorageError) return error;
  const name = error instanceof S3ServiceException ? error.name : String((error as { name?: unknown })?.name ?? '');
  const status = statusOf(error);
  if (FULL.has(name) || status === 507) return new StorageError('storage_full', `object storage is full (${name || status}) writing ${what}`, { cause: error });
  if (DENIED.has(name) || status === 403) return new StorageError('storage_denied', `object storage refused access (${name || status}) to ${what}`, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new StorageError('storage_unavailable', `object storage failed on ${what}: ${message}`, { cause: error });
}
