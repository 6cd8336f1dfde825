import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';

/**
 * A real S3-compatible server for development and tests: s3rver (from the
 * npm registry) on a local port, objects as files under `dir`. It speaks
 * the S3 REST API with SigV4 signatures, so the service talks to it through
 * the same AWS SDK code as to AWS S3 or MinIO. s3rver's fixed credentials
 * are S3RVER / S3RVER.
 */

export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalS3 {
  endpoint: string;
  port: number;
  bucket: string;
  /** The environment a ClipMask process needs to use this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startLocalS3(options: { dir: string; bucket?: string; port?: number; host?: string }): Promise<LocalS3> {
  const bucket = options.bucket ?? 'clipmask';
  const host = options.host ?? '127.0.0.1';
  await mkdir(options.dir, { recursive: true });
  const server = new S3rver({ port: options.port ?? 0, address: host, directory: options.dir, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  const address = (await server.run()) as { port: number };
  const endpoint = `http://${host}:${address.port}`;
  return {
    endpoint,
    port: address.port,
    bucket,
    env: {
      STORAGE: 's3',
      S3_ENDPOINT: endpoint,
      S3_BUCKET: bucket,
      S3_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    },
    stop: () => server.close(),
  };
}
