/**
 * The storage contract, run against both implementations: the local disk
 * and a real S3-compatible server (s3rver through the AWS SDK). What the
 * service relies on: whole objects, listing by prefix, deleting a job's
 * prefix, streaming with a Range (206), multipart uploads, coded errors.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskStorage } from '../../src/storage/disk-storage.js';
import { S3Storage } from '../../src/storage/s3-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

let s3: TestS3;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-storage-'));
  s3 = await startTestS3();
});

afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

const kinds: [string, () => Storage][] = [
  ['disk', () => new DiskStorage(path.join(dir, 'disk'))],
  ['s3', () => s3.storage('svc/')],
];

describe.each(kinds)('%s storage', (kind, make) => {
  let storage: Storage;
  beforeAll(() => {
    storage = make();
  });

  it('stores whole objects, lists them by prefix and by child, and deletes a prefix', async () => {
    await storage.put('jobs/a/prompts.json', '{"objects":[]}');
    await storage.put('jobs/a/out/frames/0.json', Buffer.from('zero'));
    await storage.put('jobs/b/input', 'b');
    expect((await storage.get('jobs/a/prompts.json'))?.toString()).toBe('{"objects":[]}');
    expect(await storage.get('jobs/a/missing')).toBeUndefined();
    expect(await storage.head('jobs/a/out/frames/0.json')).toMatchObject({ key: 'jobs/a/out/frames/0.json', size: 4 });
    expect((await storage.list('jobs/a/')).map((o) => o.key)).toEqual(['jobs/a/out/frames/0.json', 'jobs/a/prompts.json']);
    expect((await storage.children('jobs/')).sort()).toEqual(['a', 'b']);
    expect(await storage.deletePrefix('jobs/a/')).toBe(2);
    expect(await storage.list('jobs/a/')).toEqual([]);
    expect((await storage.list('jobs/')).map((o) => o.key)).toEqual(['jobs/b/input']);
    await storage.deletePrefix('jobs/');
  });

  it('uploads a large file in parts and downloads it byte for byte', async () => {
    const big = path.join(dir, `${kind}-big.bin`);
    const bytes = Buffer.alloc(20 * 1024 * 1024 + 123);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    await writeFile(big, bytes);
    await storage.putFile('jobs/c/input', big);
    const back = path.join(dir, `${kind}-back.bin`);
    expect(await storage.getFile('jobs/c/input', back)).toBe(true);
    const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(hash(await readFile(back))).toBe(hash(bytes));
    expect(await storage.getFile('jobs/c/nothing', back)).toBe(false);
  });

  it('streams a byte range as 206 with its Content-Range, and the whole object as 200', async () => {
    await storage.put('jobs/d/out/overlay.mp4', Buffer.from('0123456789abcdef'));
    const part = await storage.stream('jobs/d/out/overlay.mp4', 'bytes=4-9');
    expect(part).toMatchObject({ status: 206, contentLength: 6, contentRange: 'bytes 4-9/16' });
    expect((await buffer(part!.body)).toString()).toBe('456789');
    const whole = await storage.stream('jobs/d/out/overlay.mp4');
    expect(whole).toMatchObject({ status: 200, contentLength: 16 });
    expect((await buffer(whole!.body)).toString()).toBe('0123456789abcdef');
    expect(await storage.stream('jobs/d/none')).toBeUndefined();
  });

  it('refuses keys that could escape the layout', async () => {
    for (const key of ['../x', '/etc/passwd', 'jobs/../../x', 'jobs//x', 'a\\b']) await expect(storage.put(key, 'x')).rejects.toThrow(/not a storage key/);
  });
});

describe('s3 storage', () => {
  it('gives presigned URLs that fetch the object without credentials, for a limited time', async () => {
    const storage = s3.storage();
    await storage.put('jobs/e/out/masks.json', '{"frames":[]}');
    const url = await storage.presign('jobs/e/out/masks.json', 60, 'e-masks.json');
    expect(url).toContain('X-Amz-Expires=60');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="e-masks.json"');
    expect(await response.text()).toBe('{"frames":[]}');
  });

  it('turns refused credentials and a missing bucket into coded storage errors', async () => {
    const wrongKey = new S3Storage({ bucket: s3.bucket, prefix: '', region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'x' } });
    await expect(wrongKey.put('jobs/f/input', 'x')).rejects.toMatchObject({ name: 'StorageError', code: 'storage_denied' });
    const noBucket = new S3Storage({ bucket: 'no-such-bucket', prefix: '', region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    await expect(noBucket.check()).rejects.toMatchObject({ code: 'storage_denied', message: expect.stringContaining('no bucket no-such-bucket') });
    await expect(s3.storage().check()).resolves.toBeUndefined();
  });
});
