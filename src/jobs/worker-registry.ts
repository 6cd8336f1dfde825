import type { Redis } from 'ioredis';

/**
 * Live worker processes, announced in Redis every few seconds with a TTL, so
 * any API process can tell whether some worker has its model loaded (/readyz)
 * without sharing memory with it.
 */

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  modelLoaded: boolean;
  startedAt: number;
}

export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'clipmask:',
  ) {}

  private get setKey() {
    return `${this.prefix}workers`;
  }
  private infoKey(id: string) {
    return `${this.prefix}worker:${id}`;
  }

  async announce(info: WorkerInfo, ttlMs: number): Promise<void> {
    await this.redis
      .multi()
      .set(this.infoKey(info.id), JSON.stringify(info), 'PX', ttlMs)
      .zadd(this.setKey, Date.now() + ttlMs, info.id)
      .exec();
  }

  async remove(id: string): Promise<void> {
    await this.redis.multi().del(this.infoKey(id)).zrem(this.setKey, id).exec();
  }

  async live(): Promise<WorkerInfo[]> {
    const now = Date.now();
    await this.redis.zremrangebyscore(this.setKey, '-inf', `(${now}`);
    const ids = await this.redis.zrangebyscore(this.setKey, now, '+inf');
    if (!ids.length) return [];
    const infos = await this.redis.mget(ids.map((id) => this.infoKey(id)));
    return infos.filter((s): s is string => s !== null).map((s) => JSON.parse(s) as WorkerInfo);
  }
}
