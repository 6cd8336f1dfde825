/**
 * A helper worker's claim, in a process of its own so a test can SIGKILL it:
 * takes chunk CHUNK of the job's object embedding store for OWNER, keeps it
 * fresh with the ClaimKeeper's heartbeat, says "holding" and waits forever.
 */
import { ClaimKeeper } from '../../src/inference/embedding-store.js';
import { claimsRedis } from '../../src/inference/open-embedding-store.js';
import { ObjectEmbeddingStore } from '../../src/inference/object-embedding-store.js';
import { S3Storage } from '../../src/storage/s3-storage.js';

const env = process.env;
const storage = new S3Storage({ bucket: env.S3_BUCKET!, prefix: '', region: 'us-east-1', endpoint: env.S3_ENDPOINT });
const store = new ObjectEmbeddingStore(storage, env.PREFIX!, claimsRedis(env.REDIS_URL!), env.CLAIMS!, Number(env.CHUNK_FRAMES), Number(env.STALE_MS));
const keeper = new ClaimKeeper(store, env.OWNER!);
if (!(await keeper.take(Number(env.CHUNK)))) throw new Error('the chunk was taken already');
process.stdout.write('holding\n');
setInterval(() => undefined, 60_000);
