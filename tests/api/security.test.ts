/**
 * Who may see which job: API keys, jobs private to the key that made them,
 * signed artifact links, rate limiting, security headers. The API alone on a
 * real Redis (jobs stay queued: no worker is needed to check access).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../src/api/security.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { onePointPrompts, startTestService, submission, type TestService } from '../helpers/service.js';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef';

let t: TestService;
let open: TestService;
let dir: string;
let clip: SyntheticClip;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-security-'));
  [t, open, clip] = await Promise.all([
    startTestService('api', { API_KEYS: `${ALICE}, ${BOB}` }),
    startTestService('api', { RATE_LIMIT_PER_MINUTE: '3' }),
    makeMovingShapeClip(dir, { width: 96, height: 72, frames: 2, fps: 2 }),
  ]);
});
afterAll(async () => {
  await Promise.all([t?.stop(), open?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

const as = (key?: string): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});

async function call(method: string, url: string, key?: string, body?: FormData) {
  const response = await fetch(`${t.baseUrl}${url}`, { method, headers: as(key), body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

describe('with API_KEYS', () => {
  it('refuses calls without a valid key', async () => {
    const missing = await call('GET', '/v1/jobs');
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('unauthorized');
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await call('GET', '/v1/jobs', 'not-a-key-0123456789')).status).toBe(401);
    expect((await call('POST', '/v1/jobs', undefined, await submission(clip.path, onePointPrompts(10, 10)))).status).toBe(401);
    // The dashboard shows every job, so it is not served when jobs are private.
    expect((await fetch(`${t.baseUrl}/admin/queues`)).status).toBe(404);
  });

  it("shows, lists and cancels a job only with the key that submitted it (others get 404)", async () => {
    const submitted = await call('POST', '/v1/jobs', ALICE, await submission(clip.path, onePointPrompts(...clip.center(0))));
    expect(submitted.status).toBe(202);
    const id = submitted.body.id;

    expect((await call('GET', `/v1/jobs/${id}`, ALICE)).status).toBe(200);
    const peek = await call('GET', `/v1/jobs/${id}`, BOB);
    expect(peek.status).toBe(404);
    expect(peek.body.error.code).toBe('not_found');
    expect((await call('GET', `/v1/jobs/${id}/artifacts/masks.json`, BOB)).status).toBe(404);
    expect((await call('DELETE', `/v1/jobs/${id}`, BOB)).status).toBe(404);

    expect((await call('GET', '/v1/jobs', BOB)).body.total).toBe(0);
    const mine = await call('GET', '/v1/jobs', ALICE);
    expect(mine.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);

    // An artifact without a key needs a valid signed link.
    expect((await call('GET', `/v1/jobs/${id}/artifacts/masks.json`)).status).toBe(401);
    expect((await call('GET', `/v1/jobs/${id}/artifacts/masks.json?exp=9999999999&sig=forged`)).status).toBe(401);

    const cancelled = await call('DELETE', `/v1/jobs/${id}`, ALICE);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
  });

  it('keeps preview sessions private to their key', async () => {
    const created = await call('POST', '/v1/previews', ALICE, await submission(clip.path, undefined));
    expect(created.status).toBe(201);
    expect((await call('GET', `/v1/previews/${created.body.id}`, ALICE)).status).toBe(200);
    expect((await call('GET', `/v1/previews/${created.body.id}`, BOB)).status).toBe(404);
    expect((await fetch(`${t.baseUrl}/v1/previews/${created.body.id}/frames/0.jpg`, { headers: as(BOB) })).status).toBe(404);
  });
});

describe('signed artifact links', () => {
  it('are valid for one job, one file, until they expire', () => {
    const policy = new AccessPolicy([ALICE]);
    const now = Date.parse('2026-11-23T12:00:00Z');
    const expires = now / 1000 + 3600;
    const sig = policy.sign('job-1', 'overlay.mp4', expires);
    expect(policy.verify('job-1', 'overlay.mp4', expires, sig, now)).toBe(true);
    expect(policy.verify('job-2', 'overlay.mp4', expires, sig, now)).toBe(false);
    expect(policy.verify('job-1', 'masks.json', expires, sig, now)).toBe(false);
    expect(policy.verify('job-1', 'overlay.mp4', expires + 1, sig, now)).toBe(false);
    expect(policy.verify('job-1', 'overlay.mp4', expires, sig, now + 3601_000)).toBe(false);
    // Another deployment's keys sign differently.
    expect(new AccessPolicy([BOB]).verify('job-1', 'overlay.mp4', expires, sig, now)).toBe(false);
  });
});

describe('without API_KEYS', () => {
  it('limits requests per client and sends security headers, no CORS', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await fetch(`${open.baseUrl}/v1/jobs`, { headers: { origin: 'https://elsewhere.example' } });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await last!.json()).error.code).toBe('rate_limited');
    expect(last!.headers.get('access-control-allow-origin')).toBeNull();
    expect(last!.headers.get('x-content-type-options')).toBe('nosniff');
    expect(last!.headers.get('x-powered-by')).toBeNull();
    // Health stays reachable for orchestrators whatever the rate.
    expect((await fetch(`${open.baseUrl}/healthz`)).status).toBe(200);
  });
});
