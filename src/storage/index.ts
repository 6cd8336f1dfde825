import { DiskStorage } from './disk-storage.js';
import type { S3StorageOptions } from './s3-storage.js';
import type { Storage } from './storage.js';

export { DiskStorage } from './disk-storage.js';
export * from './storage.js';

/** What the config says about storage (config.ts parses it from the environment). */
export type StorageSettings = { kind: 'disk' } | ({ kind: 's3'; presign: boolean } & S3StorageOptions);

/** The configured storage; the AWS SDK is loaded only when it is used. */
export async function createStorage(settings: StorageSettings, dataDir: string): Promise<Storage> {
  if (settings.kind === 'disk') return new DiskStorage(dataDir);
  const { S3Storage } = await import('./s3-storage.js');
  return new S3Storage(settings);
}
