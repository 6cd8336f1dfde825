import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestHandler } from 'express';
import type { Config } from '../config.js';

/**
 * The API's HTTP server, hardened against clients that hold it up rather
 * than use it: headers sent a byte at a time (slowloris), connections that
 * send nothing, an upload that stalls, and one address opening connection
 * after connection. Each is cut
 * off by a limit of its own, so an ordinary client is served meanwhile.
 */

export type HttpLimits = Config['http'];

/**
 * How often Node checks the header and request timeouts. Its default (30 s)
 * lets a slowloris connection live up to 30 s past HEADERS_TIMEOUT_MS.
 */
const TIMEOUT_CHECK_MS = 1000;

export function createApiServer(app: RequestListener, limits: HttpLimits): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      // Node refuses a request timeout shorter than the headers'.
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    app,
  );
  capConnectionsPerClient(server, limits.maxConnectionsPerClient);
  closeSilentConnections(server, limits.headersTimeoutMs);
  return server;
}

/**
 * A connection that sends no request within `ms` is closed. Node's headers
 * timeout starts with the first byte, so a connection that never sends one
 * would otherwise stay open for good (idle connections by the thousand);
 * after a response, the keep-alive timeout takes over.
 */
export function closeSilentConnections(server: Server, ms: number): void {
  const waiting = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), ms);
    timer.unref();
    waiting.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req: IncomingMessage) => clearTimeout(waiting.get(req.socket)));
}

/**
 * At most `max` open connections per client address: more are closed as
 * they arrive, before a byte is read, so thousands of idle connections
 * from one place cost the server nothing but the accept. 0 turns it off.
 */
export function capConnectionsPerClient(server: Server, max: number): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

/**
 * A request body that sends nothing for `idleMs` is cut off: the socket is
 * destroyed, so the upload's parser fails and deletes what it wrote. Only
 * while the body arrives: the time the server then takes to answer (probing
 * the video) is not the client's.
 */
export function bodyIdleTimeout(idleMs: number): RequestHandler {
  return (req, _res, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody || req.complete) return next();
    const socket = req.socket;
    const cutOff = () => socket.destroy();
    socket.setTimeout(idleMs);
    socket.once('timeout', cutOff);
    const arrived = () => {
      socket.setTimeout(0);
      socket.off('timeout', cutOff);
    };
    req.once('end', arrived);
    req.once('close', arrived);
    next();
  };
}
