/**
 * A real S3-compatible server per test file (s3rver on a free port, objects
 * in a temporary directory), and an S3Storage client of it. Stop it in afterAll.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Storage } from '../../src/storage/s3-storage.js';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../../tools/local-s3.js';

export interface TestS3 extends LocalS3 {
  /** A client of the bucket, as the service makes one from `env`. */
  storage(prefix?: string): S3Storage;
  /** Every key in the bucket (with the service's prefix, if any). */
  keys(): Promise<string[]>;
}

export async function startTestS3(): Promise<TestS3> {
  const dir = await mkdtemp(path.join(tmpdir(), 'clipmask-s3-'));
  const s3 = await startLocalS3({ dir });
  const storage = (prefix = '') => new S3Storage({ bucket: s3.bucket, prefix, region: 'us-east-1', endpoint: s3.endpoint, credentials: { ...LOCAL_S3_CREDENTIALS } });
  return {
    ...s3,
    storage,
    keys: async () => (await storage().list('')).map((o) => o.key),
    async stop() {
      await s3.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
