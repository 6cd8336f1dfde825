import type { Redis } from 'ioredis';
import { EMPTY_PROGRESS, isTerminal, JOB_STATES, type JobRecord, type JobState, type RenderRecord } from './record.js';

/**
 * Job records in Redis: one hash per job, a sorted set of ids by createdAt
 * (for listing and retention), one per owner (each API key lists its own
 * jobs) and a hash of counts by state (for metrics).
 * Every state change goes through one Lua script, so a record can be guarded
 * ("unless it is cancelled") and the counts never drift.
 */

export interface UpdateGuard {
  /** Apply only when the current state is one of these. */
  only?: readonly JobState[];
  /** Apply only when the current state is none of these. */
  unless?: readonly JobState[];
}

export type UpdateOutcome = { applied: true; state: JobState } | { applied: false; state: JobState } | { applied: false; state: undefined };

/** A partial record; `null` removes a field (e.g. a previous attempt's error). */
export type JobPatch = { [K in keyof Omit<JobRecord, 'id' | 'createdAt' | 'renders'>]?: JobRecord[K] | null };

const UPDATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local current = redis.call('HGET', KEYS[1], 'state')
local guard = cjson.decode(ARGV[1])
if guard.only then
  local ok = false
  for _, s in ipairs(guard.only) do if s == current then ok = true end end
  if not ok then return {0, current} end
end
if guard.unless then
  for _, s in ipairs(guard.unless) do if s == current then return {0, current} end end
end
local previous = current
local patch = cjson.decode(ARGV[2])
for field, value in pairs(patch) do
  if value == cjson.null then redis.call('HDEL', KEYS[1], field) else redis.call('HSET', KEYS[1], field, value) end
end
local new = patch['state']
if new and new ~= cjson.null and new ~= current then
  redis.call('HINCRBY', KEYS[2], current, -1)
  redis.call('HINCRBY', KEYS[2], new, 1)
  current = new
end
return {1, current, previous, redis.call('HGET', KEYS[1], 'revision') or '0'}
`;

const DELETE_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[3], state, -1)
return 1
`;

// Admission and creation in one step: concurrent submissions cannot all see room for one more.
const CREATE_SCRIPT = `
local limit = tonumber(ARGV[1])
if limit >= 0 and tonumber(redis.call('HGET', KEYS[3], ARGV[4]) or '0') >= limit then return 0 end
local fields = cjson.decode(ARGV[5])
for field, value in pairs(fields) do redis.call('HSET', KEYS[1], field, value) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
return 1
`;

// A correction takes the next revision number; a finished job goes back to running (correcting).
const NEXT_REVISION_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state ~= 'succeeded' and state ~= 'running' and state ~= 'queued' then return {0, state} end
local revision = redis.call('HINCRBY', KEYS[1], 'revision', 1)
if state == 'succeeded' then
  redis.call('HSET', KEYS[1], 'state', 'running', 'stage', 'correcting')
  redis.call('HDEL', KEYS[1], 'finishedAt')
  redis.call('HINCRBY', KEYS[2], 'succeeded', -1)
  redis.call('HINCRBY', KEYS[2], 'running', 1)
end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[1])
return {revision, state}
`;

// Revision ARGV[1] is done: succeeded unless a newer correction waits (then still correcting).
const FINISH_REVISION_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'running' and state ~= 'succeeded' then return {0, state or ''} end
local done = tonumber(ARGV[1])
local patch = cjson.decode(ARGV[2])
for field, value in pairs(patch) do redis.call('HSET', KEYS[1], field, value) end
redis.call('HSET', KEYS[1], 'revisionDone', done)
local revision = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
local new = 'succeeded'
if revision > done then new = 'running' end
redis.call('HSET', KEYS[1], 'state', new, 'stage', new == 'running' and 'correcting' or 'done')
if new == 'succeeded' then redis.call('HSET', KEYS[1], 'finishedAt', ARGV[3]) end
if new ~= state then
  redis.call('HINCRBY', KEYS[2], state, -1)
  redis.call('HINCRBY', KEYS[2], new, 1)
end
return {1, new, state}
`;

// A new render of a job that exists, unless the job has ARGV[3] renders already.
const ADD_RENDER_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no job' end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'exists' end
local count = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 7) == 'render:' then count = count + 1 end
end
if count >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'added'
`;

// Changes a render if it is still for revision ARGV[3] ('' for any): a render
// made from masks a correction has replaced meanwhile is not recorded.
const PATCH_RENDER_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local render = cjson.decode(current)
if ARGV[3] ~= '' and render.revision ~= tonumber(ARGV[3]) then return 0 end
for field, value in pairs(cjson.decode(ARGV[2])) do
  if value == cjson.null then render[field] = nil else render[field] = value end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(render))
return 1
`;

type Encoded = Record<string, string>;

/** Each render is a field of the job's hash, so two workers' renders never overwrite each other's state. */
const RENDER_FIELD = 'render:';
const renderField = (file: string) => `${RENDER_FIELD}${file}`;

export type AddRenderOutcome = 'added' | 'exists' | 'full' | 'no job';
export type RenderPatch = { [K in keyof Omit<RenderRecord, 'file'>]?: RenderRecord[K] | null };

/** A job has just entered a terminal state: its revision then (for succeeded, the revision that finished). */
export interface TerminalEvent {
  id: string;
  state: JobState;
  revision: number;
}

export interface JobStoreOptions {
  prefix?: string;
  /**
   * Called (and awaited) after a change into succeeded, failed or cancelled
   * was applied, whichever method made it, so no caller has to remember to
   * announce the end (webhooks hang off this). Once per transition: a change
   * to the state the job is already in calls nothing. It should not throw:
   * a rejection reaches the caller of the change, which was applied anyway.
   */
  onTerminal?: (event: TerminalEvent) => void | Promise<void>;
}

/** The owner of jobs submitted without API keys (and of records older than owners). */
export const ANONYMOUS_OWNER = 'anonymous';

const JSON_FIELDS = new Set(['progress', 'video', 'error', 'artifacts', 'lastCorrection', 'webhook', 'warnings']);
const NUMBER_FIELDS = new Set(['objects', 'attempts', 'createdAt', 'startedAt', 'finishedAt', 'updatedAt', 'revision', 'revisionDone']);

function encodeValue(field: string, value: unknown): string {
  return JSON_FIELDS.has(field) ? JSON.stringify(value) : String(value);
}

function decode(hash: Encoded): JobRecord | undefined {
  if (!hash.id || !hash.state) return undefined;
  const record: Record<string, unknown> = {};
  const renders: RenderRecord[] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith(RENDER_FIELD)) {
      renders.push(JSON.parse(value) as RenderRecord);
      continue;
    }
    record[field] = JSON_FIELDS.has(field) ? JSON.parse(value) : NUMBER_FIELDS.has(field) ? Number(value) : value;
  }
  // Records written before a field existed.
  record.progress = { ...EMPTY_PROGRESS, ...(record.progress as object) };
  record.revision ??= 0;
  record.revisionDone ??= record.state === 'succeeded' ? 0 : -1;
  if (renders.length) record.renders = renders.sort((a, b) => (a.file < b.file ? -1 : 1));
  return record as unknown as JobRecord;
}

export class JobStore {
  private readonly prefix: string;
  private readonly onTerminal: JobStoreOptions['onTerminal'];

  constructor(
    private readonly redis: Redis,
    options: JobStoreOptions = {},
  ) {
    this.prefix = options.prefix ?? 'clipmask:';
    this.onTerminal = options.onTerminal;
  }

  private async announceIfTerminal(id: string, previous: string | undefined, state: JobState, revision: number): Promise<void> {
    if (this.onTerminal && previous !== state && isTerminal(state)) await this.onTerminal({ id, state, revision });
  }

  private key(id: string) {
    return `${this.prefix}job:${id}`;
  }
  private get indexKey() {
    return `${this.prefix}jobs`;
  }
  private ownerIndexKey(owner: string) {
    return `${this.prefix}jobs:owner:${owner}`;
  }
  private get countsKey() {
    return `${this.prefix}job-states`;
  }

  async create(record: JobRecord): Promise<void> {
    await this.createIfRoom(record, -1);
  }

  /**
   * Creates the record unless `limit` records are already in its state
   * (atomically: the count and the creation are one step). A negative limit
   * means no limit. Returns whether it was created.
   */
  async createIfRoom(record: JobRecord, limit: number): Promise<boolean> {
    const fields: Encoded = {};
    const { renders, ...rest } = record;
    for (const [field, value] of Object.entries(rest)) if (value !== undefined) fields[field] = encodeValue(field, value);
    for (const render of renders ?? []) fields[renderField(render.file)] = JSON.stringify(render);
    const keys = [this.key(record.id), this.indexKey, this.countsKey, this.ownerIndexKey(record.owner ?? ANONYMOUS_OWNER)];
    const created = await this.redis.eval(CREATE_SCRIPT, keys.length, ...keys, limit, record.createdAt, record.id, record.state, JSON.stringify(fields));
    return created === 1;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return decode(await this.redis.hgetall(this.key(id)));
  }

  /** Applies `patch` atomically if the guard allows; tells the state after. */
  async update(id: string, patch: JobPatch, guard: UpdateGuard = {}): Promise<UpdateOutcome> {
    const encoded: Record<string, string | null> = {};
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      encoded[field] = value === null ? null : encodeValue(field, value);
    }
    encoded.updatedAt ??= String(Date.now());
    const reply = (await this.redis.eval(UPDATE_SCRIPT, 2, this.key(id), this.countsKey, JSON.stringify(guard), JSON.stringify(encoded))) as
      | [number, string, string?, string?]
      | null;
    if (!reply) return { applied: false, state: undefined };
    if (reply[0] === 1) await this.announceIfTerminal(id, reply[2], reply[1] as JobState, Number(reply[3]));
    return { applied: reply[0] === 1, state: reply[1] as JobState } as UpdateOutcome;
  }

  /**
   * Reserves the next revision for a correction (queued, running or
   * succeeded jobs only; a succeeded one goes back to running, stage
   * correcting). Returns the revision, or the state that refused it.
   */
  async nextRevision(id: string): Promise<{ revision: number } | { refused: JobState | undefined }> {
    const reply = (await this.redis.eval(NEXT_REVISION_SCRIPT, 2, this.key(id), this.countsKey, String(Date.now()))) as [number, string] | null;
    if (!reply) return { refused: undefined };
    return reply[0] === 0 ? { refused: reply[1] as JobState } : { revision: reply[0] };
  }

  /**
   * Marks revision `done` complete with `patch` (progress, artifacts, the
   * correction's summary): the job is succeeded, or still running (stage
   * correcting) when a newer correction is waiting. False when the job was
   * cancelled, failed or deleted meanwhile.
   */
  async finishRevision(id: string, done: number, patch: JobPatch): Promise<boolean> {
    const encoded: Record<string, string> = {};
    for (const [field, value] of Object.entries(patch)) if (value !== undefined && value !== null) encoded[field] = encodeValue(field, value);
    encoded.updatedAt = String(Date.now());
    const reply = (await this.redis.eval(FINISH_REVISION_SCRIPT, 2, this.key(id), this.countsKey, done, JSON.stringify(encoded), Date.now())) as [number, string, string?];
    if (reply[0] === 1) await this.announceIfTerminal(id, reply[2], reply[1] as JobState, done);
    return reply[0] === 1;
  }

  /** Records a new render of a job (state as given); refused when the job is gone, has it, or has `limit` renders. */
  async addRender(id: string, render: RenderRecord, limit: number): Promise<AddRenderOutcome> {
    return (await this.redis.eval(ADD_RENDER_SCRIPT, 1, this.key(id), renderField(render.file), JSON.stringify(render), limit)) as AddRenderOutcome;
  }

  /**
   * Applies `patch` to a render (`null` removes a field) if it is still for
   * masks revision `revision` (any when undefined). Returns whether it was applied.
   */
  async patchRender(id: string, file: string, patch: RenderPatch, revision?: number): Promise<boolean> {
    const encoded = { ...patch, updatedAt: Date.now() };
    const reply = await this.redis.eval(PATCH_RENDER_SCRIPT, 1, this.key(id), renderField(file), JSON.stringify(encoded), revision === undefined ? '' : String(revision));
    return reply === 1;
  }

  /** Newest first; only `owner`'s jobs when given. */
  async list(offset: number, limit: number, owner?: string): Promise<{ records: JobRecord[]; total: number }> {
    const index = owner === undefined ? this.indexKey : this.ownerIndexKey(owner);
    const [ids, total] = await Promise.all([this.redis.zrevrange(index, offset, offset + limit - 1), this.redis.zcard(index)]);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.key(id));
    const replies = ids.length ? ((await pipeline.exec()) ?? []) : [];
    const records = replies.map(([, hash]) => decode(hash as Encoded)).filter((r): r is JobRecord => r !== undefined);
    return { records, total };
  }

  /** Ids of jobs created before `time` (epoch ms), oldest first. */
  async createdBefore(time: number, limit = 1000): Promise<string[]> {
    return this.redis.zrangebyscore(this.indexKey, '-inf', `(${time}`, 'LIMIT', 0, limit);
  }

  async delete(id: string): Promise<boolean> {
    const owner = (await this.redis.hget(this.key(id), 'owner')) ?? ANONYMOUS_OWNER;
    return (await this.redis.eval(DELETE_SCRIPT, 4, this.key(id), this.indexKey, this.countsKey, this.ownerIndexKey(owner), id)) === 1;
  }

  async countByState(): Promise<Record<JobState, number>> {
    const hash = await this.redis.hgetall(this.countsKey);
    return Object.fromEntries(JOB_STATES.map((s) => [s, Math.max(0, Number(hash[s] ?? 0))])) as Record<JobState, number>;
  }
}
