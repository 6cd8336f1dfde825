import { Redis } from 'ioredis';
import type { Storage } from '../storage/storage.js';
import { FileEmbeddingStore, type EmbeddingStore } from './embedding-store.js';
import type { EmbeddingStoreRef } from './inference-protocol.js';
import { ObjectEmbeddingStore } from './object-embedding-store.js';

/** One Redis connection per URL and process, for the chunk claims on object storage. */
const connections = new Map<string, Redis>();

export function claimsRedis(url: string): Redis {
  let redis = connections.get(url);
  if (!redis) {
    redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: false });
    redis.on('error', () => undefined); // commands fail and say why; the connection retries
    connections.set(url, redis);
  }
  return redis;
}

/** The store a reference names: files in a shared directory, or objects in storage with claims in Redis. */
export function openEmbeddingStore(ref: Omit<EmbeddingStoreRef, 'owner'>, storage: Storage, redis?: Redis): EmbeddingStore {
  if (!ref.remote) return new FileEmbeddingStore(ref.dir, ref.chunkFrames);
  return new ObjectEmbeddingStore(storage, ref.remote.prefix, redis ?? claimsRedis(ref.remote.redisUrl), ref.remote.claims, ref.chunkFrames);
}
