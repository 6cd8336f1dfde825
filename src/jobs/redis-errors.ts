import type { Logger } from '../logger.js';

/**
 * Redis at `maxmemory` with the `noeviction` policy refuses every command
 * that could use memory with an `OOM command not allowed when used memory >
 * 'maxmemory'` reply (ioredis: a ReplyError). It reaches us three ways: the
 * reply of a plain command, the error of a Lua script that tried to write
 * (Redis 7 keeps the code in front, older versions put it after
 * "ERR Error running script"), and a MULTI whose queued commands were refused
 * (EXECABORT, with the refusals in ioredis's `previousErrors`).
 */
const OOM = /^OOM |OOM command not allowed/;

export function isRedisOutOfMemory(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (OOM.test(error.message)) return true;
  const previous = (error as { previousErrors?: unknown }).previousErrors;
  return Array.isArray(previous) && previous.some((e) => e instanceof Error && OOM.test(e.message));
}

export interface WhileFullOptions {
  /** Stop waiting (and throw the refusal) once this aborts: a shutdown. */
  signal?: AbortSignal;
  /** Called at the first refusal (to log it once). */
  onFull?: (error: unknown) => void;
  everyMs?: number;
  /** Give up (throw the refusal) after this long. */
  maxWaitMs?: number;
}

/**
 * Runs `write` again while Redis refuses it for want of memory. A worker's
 * write refused at maxmemory is not the job's failure: failing the attempt
 * would burn the job's attempts (BullMQ's own scripts may still get through)
 * and leave a record that says `running` for ever. Waiting keeps the job where
 * it is until an operator frees memory or raises maxmemory.
 */
export async function whileRedisFull<T>(write: () => Promise<T>, options: WhileFullOptions = {}): Promise<T> {
  const { signal, onFull, everyMs = 1000, maxWaitMs = 30 * 60_000 } = options;
  const deadline = Date.now() + maxWaitMs;
  for (let refusals = 0; ; refusals++) {
    try {
      return await write();
    } catch (error) {
      if (!isRedisOutOfMemory(error) || signal?.aborted || Date.now() + everyMs > deadline) throw error;
      if (refusals === 0) onFull?.(error);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}

/** whileRedisFull as the job handlers use it: until a shutdown, saying once (at warn) what waits. */
export function waitForRoom(log: Logger, what: string, signal?: AbortSignal) {
  return <T>(write: () => Promise<T>): Promise<T> =>
    whileRedisFull(write, { signal, onFull: (error) => log.warn({ err: error }, `Redis is at maxmemory: waiting for room to record ${what}`) });
}
