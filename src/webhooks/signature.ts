import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The ClipMask-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">`. The timestamp is signed with the body so a captured
 * delivery cannot be replayed later than the receiver's tolerance.
 * Pure functions: the README's verification snippet is this `verify`.
 */

export const SIGNATURE_HEADER = 'ClipMask-Signature';

/** How old a signature `verify` accepts by default (seconds). */
export const DEFAULT_TOLERANCE_S = 300;

export function signatureOf(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The header value for `body` signed at `timestamp` (unix seconds). */
export function sign(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${signatureOf(secret, timestamp, body)}`;
}

export type VerifyFailure = 'malformed' | 'expired' | 'mismatch';

/**
 * Checks a header value against `body`: well formed, no older (or newer)
 * than `toleranceS`, and a v1 signature that matches (compared in constant time).
 */
export function verify(
  secret: string,
  header: string | undefined,
  body: string,
  options: { now?: number; toleranceS?: number } = {},
): { ok: true } | { ok: false; reason: VerifyFailure } {
  const parts = new Map((header ?? '').split(',').map((part) => part.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(v1)) return { ok: false, reason: 'malformed' };
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (options.toleranceS ?? DEFAULT_TOLERANCE_S)) return { ok: false, reason: 'expired' };
  const expected = Buffer.from(signatureOf(secret, t, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(v1, 'hex')) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
