import { randomUUID } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { claimsKeyOf } from '../inference/object-embedding-store.js';
import type { EmbeddingStoreRef } from '../inference/inference-protocol.js';
import type { Storage } from '../storage/storage.js';
import { jobPaths, jobRelativePaths, resolveUnder, scratchDir, type JobPaths } from './layout.js';

/** How often cached inputs of jobs that are over are looked for (and deleted). */
const INPUT_SWEEP_MS = 3000;

/**
 * A job's files as one worker runs it. On the disk storage a key's file is
 * already here (DATA_DIR/<key>, a volume every worker mounts): nothing is
 * fetched or uploaded. On object storage the worker works in a scratch
 * directory of its own (DATA_DIR/scratch/<worker>/<run>/, laid out like
 * DATA_DIR): it fetches the inputs a stage needs, writes its outputs there,
 * uploads each whole (an object appears complete or not at all) and deletes
 * the scratch files when the run ends.
 */
export class Workspaces {
  /** This worker's scratch root (object storage only). */
  readonly root: string;
  private readonly inputs = new Map<string, Promise<string>>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly storage: Storage,
    private readonly dataDir: string,
    /** The Redis that holds the chunk claims on object storage (the inference child connects to it by URL). */
    readonly redis: Redis,
    readonly redisUrl: string,
    /** Whether a job is over (finished, failed, cancelled or gone): its cached input can go. */
    private readonly jobOver: (jobId: string) => Promise<boolean>,
    /** Inputs kept for reuse: a helper encodes many chunks of one video. */
    private readonly keepInputs = 4,
  ) {
    this.root = path.join(scratchDir(dataDir), `${process.pid}-${randomUUID().slice(0, 8)}`);
  }

  get remote(): boolean {
    return this.storage.localPath('jobs') === undefined;
  }

  /** A workspace for one run of one job. */
  open(jobId: string): JobWorkspace {
    const root = this.remote ? path.join(this.root, randomUUID().slice(0, 8)) : this.dataDir;
    return new JobWorkspace(this, jobId, root);
  }

  /** The job's input video as a local file, fetched once per worker (and shared by its runs). */
  input(jobId: string): Promise<string> {
    const key = jobRelativePaths(jobId).input;
    const local = this.storage.localPath(key);
    if (local) return Promise.resolve(local);
    let pending = this.inputs.get(jobId);
    if (!pending) {
      const file = path.join(this.root, 'inputs', jobId);
      pending = this.storage.getFile(key, file).then((found) => {
        if (!found) throw Object.assign(new Error(`the input of job ${jobId} is not in storage`), { code: 'input_gone' });
        return file;
      });
      pending.catch(() => this.inputs.delete(jobId));
      this.inputs.set(jobId, pending);
      while (this.inputs.size > this.keepInputs) void this.forgetInput(this.inputs.keys().next().value!);
      this.sweeper ??= setInterval(() => void this.sweepInputs(), INPUT_SWEEP_MS).unref();
    }
    return pending;
  }

  /**
   * A helper cannot tell which chunk of a job is its last, so the inputs it
   * fetched go once their job is over (a later correction fetches again).
   */
  private async sweepInputs(): Promise<void> {
    for (const jobId of [...this.inputs.keys()]) {
      if (await this.jobOver(jobId).catch(() => false)) await this.forgetInput(jobId);
    }
    if (!this.inputs.size) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Drops a cached input (its job is over, or it fell out of the cache). */
  async forgetInput(jobId: string): Promise<void> {
    if (!this.remote || !this.inputs.delete(jobId)) return;
    await rm(path.join(this.root, 'inputs', jobId), { force: true });
  }

  /** Removes the scratch directories of this worker (at shutdown). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.inputs.clear();
    if (this.remote) await rm(this.root, { recursive: true, force: true });
  }
}

export class JobWorkspace {
  /** The job's files under this workspace's root. */
  readonly files: JobPaths;
  readonly keys;

  constructor(
    private readonly owner: Workspaces,
    readonly jobId: string,
    private readonly root: string,
  ) {
    this.files = jobPaths(root, jobId);
    this.keys = jobRelativePaths(jobId);
  }

  get storage(): Storage {
    return this.owner.storage;
  }

  get remote(): boolean {
    return this.owner.remote;
  }

  /** The local file of a key (a payload path). */
  local(key: string): string {
    return resolveUnder(this.root, key);
  }

  input(): Promise<string> {
    return this.owner.input(this.jobId);
  }

  async readText(key: string): Promise<string | undefined> {
    return (await this.storage.get(key))?.toString('utf8');
  }

  /** A file the job cannot run without (its prompts): missing means the job's files were deleted. */
  async mustRead(key: string): Promise<string> {
    const text = await this.readText(key);
    if (text === undefined) throw Object.assign(new Error(`${key} is not in storage`), { code: 'ENOENT' });
    return text;
  }

  /** Where the inference child finds the job's embedding store. */
  embeddings(key: string, chunkFrames: number, owner: string): EmbeddingStoreRef {
    const remote = this.remote ? { prefix: withSlash(key), claims: claimsKeyOf(this.jobId), redisUrl: this.owner.redisUrl } : undefined;
    return { dir: this.local(key), chunkFrames, owner, remote };
  }

  async writeText(key: string, text: string): Promise<void> {
    await this.storage.put(key, text);
  }

  /** Fetches every object under a key prefix into the workspace (remote only). */
  async fetchAll(prefix: string): Promise<number> {
    if (!this.remote) return 0;
    const objects = await this.storage.list(withSlash(prefix));
    for (const o of objects) await this.storage.getFile(o.key, this.local(o.key));
    return objects.length;
  }

  /** Uploads a file of the workspace to its key (remote only). */
  async upload(key: string): Promise<void> {
    if (this.remote) await this.storage.putFile(key, this.local(key));
  }

  /** Uploads the files of a workspace directory, optionally only those `pick` accepts (remote only). */
  async uploadAll(prefix: string, pick: (name: string) => boolean = () => true): Promise<number> {
    if (!this.remote) return 0;
    const names = (await readdir(this.local(prefix)).catch(() => [] as string[])).filter((n) => !n.startsWith('.') && pick(n));
    for (const name of names) await this.storage.putFile(`${withSlash(prefix)}${name}`, path.join(this.local(prefix), name));
    return names.length;
  }

  async has(key: string): Promise<boolean> {
    return (await this.storage.head(key)) !== undefined;
  }

  /** The job is gone (cancelled, failed): every object and file of it. */
  async removeJob(): Promise<void> {
    await this.storage.deletePrefix(withSlash(this.keys.dir));
    await this.dispose();
    await this.owner.forgetInput(this.jobId);
  }

  /** The run is over: its scratch files go (the job's objects stay). */
  async dispose(): Promise<void> {
    if (this.remote) await rm(this.root, { recursive: true, force: true });
  }
}

function withSlash(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}
