import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { ANONYMOUS_OWNER } from '../jobs/job-store.js';
import { ApiError } from './errors.js';

/**
 * Who may do what. With API_KEYS set, every /v1 call needs
 * `Authorization: Bearer <key>`, and the jobs and previews a key creates are
 * that key's alone (any other key gets 404, as if they did not exist). Keys
 * are never stored: a job records its owner as a hash of the key. Without
 * API_KEYS everyone is the same anonymous owner (the service then listens
 * on 127.0.0.1 unless HOST says otherwise).
 *
 * Artifact links (a <video> element or a download cannot send headers) carry
 * a signature instead: HMAC(job, file, expiry) under a secret derived from
 * the keys, so every API process agrees without sharing state.
 */

export const ANONYMOUS = ANONYMOUS_OWNER;

declare module 'express-serve-static-core' {
  interface Request {
    /** Who is calling: a hash of their API key, or ANONYMOUS. Set by `authenticate`. */
    owner?: string;
  }
}

/** Who is calling, once `authenticate` has run (a signed-link request has no owner: ANONYMOUS). */
export function callerOf(req: Request): string {
  return req.owner ?? ANONYMOUS;
}

/** The owner name of a key: enough of its hash to be unique, useless to recover it. */
export function ownerOf(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

export class AccessPolicy {
  private readonly owners: Map<string, Buffer>;
  private readonly secret: Buffer;

  constructor(keys: readonly string[]) {
    this.owners = new Map(keys.map((key) => [ownerOf(key), createHash('sha256').update(key).digest()]));
    this.secret = createHash('sha256')
      .update(`clipmask artifact links\n${[...keys].sort().join('\n')}`)
      .digest();
  }

  get enabled(): boolean {
    return this.owners.size > 0;
  }

  /** The owner a bearer token belongs to, or undefined. Constant time in the key's content. */
  ownerOfToken(token: string): string | undefined {
    const owner = ownerOf(token);
    const expected = this.owners.get(owner);
    if (!expected) return undefined;
    const given = createHash('sha256').update(token).digest();
    return timingSafeEqual(given, expected) ? owner : undefined;
  }

  /** A signature that lets whoever holds the link fetch one artifact until `expires` (epoch seconds). */
  sign(jobId: string, file: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${jobId}\n${file}\n${expires}`).digest('base64url');
  }

  verify(jobId: string, file: string, expires: number, signature: string, now = Date.now()): boolean {
    if (!Number.isInteger(expires) || expires * 1000 < now) return false;
    const expected = Buffer.from(this.sign(jobId, file, expires));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

/**
 * Sets req.owner. Without keys configured everyone is ANONYMOUS; with keys,
 * a missing or unknown key is 401, except for an artifact download with a
 * valid signed link (checked by the route itself, which then trusts the link).
 */
export function authenticate(policy: AccessPolicy): RequestHandler {
  return (req, res, next) => {
    if (!policy.enabled) {
      req.owner = ANONYMOUS;
      return next();
    }
    const match = BEARER.exec(req.get('authorization') ?? '');
    const owner = match ? policy.ownerOfToken(match[1]) : undefined;
    if (owner) {
      req.owner = owner;
      return next();
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (/^\/jobs\/[^/]+\/artifacts\/[^/]+$/.test(req.path) && typeof req.query.sig === 'string') return next();
    }
    res.set('WWW-Authenticate', 'Bearer realm="clipmask"');
    throw new ApiError(401, 'unauthorized', match ? 'the API key is not valid' : 'send an API key: Authorization: Bearer <key>');
  };
}

/**
 * At most `perMinute` requests per caller (API key, or client address when
 * anonymous) in any minute-long window, counted in this process; 429 with
 * Retry-After beyond that.
 */
export function rateLimit(perMinute: number): RequestHandler {
  const windows = new Map<string, { start: number; count: number }>();
  let lastSweep = Date.now();
  return (req, res, next) => {
    const now = Date.now();
    if (now - lastSweep > 60_000) {
      for (const [caller, window] of windows) if (now - window.start >= 60_000) windows.delete(caller);
      lastSweep = now;
    }
    const caller = req.owner && req.owner !== ANONYMOUS ? req.owner : `ip:${req.ip}`;
    let window = windows.get(caller);
    if (!window || now - window.start >= 60_000) windows.set(caller, (window = { start: now, count: 0 }));
    window.count++;
    if (window.count > perMinute) {
      const retryAfter = Math.max(1, Math.ceil((window.start + 60_000 - now) / 1000));
      res.set('Retry-After', String(retryAfter));
      throw new ApiError(429, 'rate_limited', `more than ${perMinute} requests in a minute; try again in ${retryAfter} s`);
    }
    next();
  };
}

/** Headers every answer carries; the page's CSP allows only this origin (no CDN, no inline script). */
export function securityHeaders(): RequestHandler {
  return (req, res, next) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
    });
    // The dashboard (bull-board) ships its own inline bootstrap; everything else gets a strict policy.
    if (!req.path.startsWith('/admin/queues')) {
      res.set('X-Frame-Options', 'DENY');
      res.set(
        'Content-Security-Policy',
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
    }
    next();
  };
}
