import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer, createConnection } from 'node:net';

/**
 * A private redis-server for `npm start` when REDIS_URL is unset (and for the
 * tests): the binary from PATH, a free port on 127.0.0.1, data under `dir`
 * with the append-only file on (or no persistence at all for tests).
 */

export class RedisServerError extends Error {
  override name = 'RedisServerError';
}

export interface RedisServerOptions {
  /** Working directory for the AOF / RDB files; required when `persist`. */
  dir?: string;
  /** appendonly yes (default true); false: no AOF, no snapshots. */
  persist?: boolean;
  binary?: string;
  port?: number;
  startTimeoutMs?: number;
}

export interface RedisServer {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends PING over a raw socket; true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const { persist = true, binary = 'redis-server', startTimeoutMs = 15_000 } = options;
  if (persist && !options.dir) throw new RedisServerError('a persistent redis-server needs a directory');
  if (options.dir) await mkdir(options.dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--daemonize', 'no', '--save', ''];
  args.push('--appendonly', persist ? 'yes' : 'no');
  // BullMQ needs every key kept: never evict.
  args.push('--maxmemory-policy', 'noeviction');
  if (options.dir) args.push('--dir', options.dir);
  // Its own process group: a Ctrl-C in the terminal must not stop Redis before the
  // service has handed its jobs back; the service stops it last.
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: options.dir, detached: true });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));

  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new RedisServerError(`${binary} was not found on PATH: install it (apt-get install -y redis-server) or set REDIS_URL to a Redis server`)
          : new RedisServerError(`${binary} could not be started: ${error.message}`),
      );
    });
    child.once('exit', (code, signal) => reject(new RedisServerError(`${binary} exited at start (code ${code}, signal ${signal}): ${stderr.trim()}`)));
  });
  exited.catch(() => undefined);

  const deadline = Date.now() + startTimeoutMs;
  const up = (async () => {
    while (Date.now() < deadline) {
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new RedisServerError(`${binary} did not answer PING within ${startTimeoutMs / 1000} s`);
  })();
  try {
    await Promise.race([up, exited]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: child,
    stop() {
      // SIGTERM: redis-server flushes the AOF and exits cleanly.
      stopping ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      });
      return stopping;
    },
  };
}
