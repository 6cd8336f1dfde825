/**
 * `npm run s3`: a local S3-compatible server for trying STORAGE=s3 by hand.
 * Port S3_PORT (default 9000), bucket S3_BUCKET (default clipmask, created
 * if missing), objects under DATA_DIR/s3. Prints the environment a service
 * needs to use it; Ctrl-C stops it (the objects stay).
 */
import path from 'node:path';
import { startLocalS3 } from './local-s3.js';

const port = Number(process.env.S3_PORT ?? 9000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`S3_PORT must be a port number, not ${JSON.stringify(process.env.S3_PORT)}`);
  process.exit(2);
}
const dir = path.resolve(process.env.DATA_DIR ?? './data', 's3');
const s3 = await startLocalS3({ dir, port, bucket: process.env.S3_BUCKET || 'clipmask' });
console.log(`S3-compatible server on ${s3.endpoint}, bucket ${s3.bucket}, objects in ${dir}`);
console.log('Start ClipMask with this environment to use it:\n');
for (const [name, value] of Object.entries(s3.env)) console.log(`${name}=${value}`);
const stop = () => void s3.stop().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
