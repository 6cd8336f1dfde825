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
