import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** JSON logs on stdout (pino). `level` comes from LOG_LEVEL; tests use 'silent'. */
export function createLogger(level: string, name = 'clipmask'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
