/**
 * Webhooks in pieces: the signature (pinned to a value computed here with
 * node:crypto), the URL policy, the sender against a real local HTTP server,
 * the delivery handler's failure policy with fake ports, and the JobStore's
 * terminal listener (real Redis) that the deliveries hang off.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LookupAddress } from 'node:dns';
import type { AddressInfo } from 'node:net';
import { UnrecoverableError } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobStore, type TerminalEvent } from '../../src/jobs/job-store.js';
import type { WebhookPayload } from '../../src/jobs/payloads.js';
import { type JobRecord, type WebhookStatus } from '../../src/jobs/record.js';
import { DeliveryError, deliverWebhook, guardedLookup, type DeliveryRequest } from '../../src/webhooks/deliver.js';
import { createWebhookProcessor, WebhookAttemptError, type WebhookJob } from '../../src/webhooks/processor.js';
import { sign, verify } from '../../src/webhooks/signature.js';
import { checkWebhookUrl, isPrivateAddress, refusedAddress } from '../../src/webhooks/url-policy.js';
import { jobRecord } from '../helpers/records.js';
import { startTestRedis, type RedisServer } from '../helpers/redis.js';

const SECRET = 'whsec_0123456789abcdef';

describe('the webhook signature', () => {
  const body = '{"id":"abc","state":"cancelled"}';

  it('is t=<unix>,v1=<hex HMAC-SHA256 of "t.body">', () => {
    const byHand = createHmac('sha256', SECRET).update(`1700000000.${body}`).digest('hex');
    expect(byHand).toBe('3c73ed00902f19ccb3f0245369b3313263dd8adab7cc8af1a9f1dfb3ba758519');
    expect(sign(SECRET, body, 1700000000)).toBe(`t=1700000000,v1=${byHand}`);
  });

  it('verifies within the tolerance only, and only for the same body and secret', () => {
    const header = sign(SECRET, body, 1700000000);
    expect(verify(SECRET, header, body, { now: 1700000000 + 299 })).toEqual({ ok: true });
    expect(verify(SECRET, header, body, { now: 1700000000 + 301 })).toEqual({ ok: false, reason: 'expired' });
    expect(verify(SECRET, header, body.replace('cancelled', 'succeeded'), { now: 1700000000 })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify('another-secret-of-16+', header, body, { now: 1700000000 })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify(SECRET, 'v1=abc', body)).toEqual({ ok: false, reason: 'malformed' });
    expect(verify(SECRET, undefined, body)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('the webhook URL policy', () => {
  const strict = { allowPrivate: false };
  const open = { allowPrivate: true };
  const refused = (url: string, policy = strict) => expect(() => checkWebhookUrl(url, policy), url).toThrow(expect.objectContaining({ code: 'webhook_not_allowed' }));

  it('takes https to public hosts and refuses other schemes, http off loopback and credentials', () => {
    expect(checkWebhookUrl('https://hooks.example.com/clipmask?x=1', strict).hostname).toBe('hooks.example.com');
    expect(checkWebhookUrl('https://93.184.216.34:8443/hook', strict).port).toBe('8443');
    expect(checkWebhookUrl('https://172.32.0.1/', strict).hostname).toBe('172.32.0.1'); // just outside 172.16/12
    refused('http://hooks.example.com/');
    refused('http://hooks.example.com/', open);
    refused('http://10.0.0.1/', open); // private allowed, but http is for loopback only
    refused('ftp://hooks.example.com/');
    refused('https://user:secret@hooks.example.com/');
    refused('not a url');
  });

  it('refuses private and reserved literals, in every spelling, unless allowed', () => {
    const literals = [
      'https://10.1.2.3/',
      'https://172.16.0.1/',
      'https://192.168.1.1/',
      'https://127.0.0.1/',
      'https://2130706433/', // 127.0.0.1 as one number
      'https://0x7f.1/', // and in hex
      'https://169.254.169.254/latest/meta-data', // cloud metadata
      'https://100.64.0.1/',
      'https://0.0.0.0/',
      'https://[::1]/',
      'https://[fd12:3456::1]/',
      'https://[fe80::1]/',
      'https://[::ffff:10.0.0.1]/', // IPv4-mapped
      'https://[::ffff:169.254.169.254]/',
      'https://localhost/',
      'https://api.localhost./',
    ];
    for (const url of literals) refused(url);
    for (const url of literals) expect(() => checkWebhookUrl(url, open), url).not.toThrow();
  });

  it('lets http reach loopback only when private addresses are allowed', () => {
    refused('http://127.0.0.1:9000/hook');
    refused('http://localhost:9000/hook');
    refused('http://[::1]:9000/hook');
    for (const url of ['http://127.0.0.1:9000/hook', 'http://localhost:9000/hook', 'http://[::1]:9000/hook']) {
      expect(checkWebhookUrl(url, open).protocol).toBe('http:');
    }
  });

  it('checks resolved addresses: private ones refused, and http only to loopback', () => {
    const https = new URL('https://hooks.example.com/');
    expect(refusedAddress(https, '93.184.216.34', strict)).toBeUndefined();
    expect(refusedAddress(https, '10.0.0.7', strict)).toMatch(/private/);
    expect(refusedAddress(https, '::ffff:192.168.0.1', strict)).toMatch(/private/);
    expect(refusedAddress(https, '10.0.0.7', open)).toBeUndefined();
    expect(refusedAddress(new URL('http://localhost/'), '93.184.216.34', open)).toMatch(/loopback only/);
    expect(refusedAddress(new URL('http://localhost/'), '127.0.0.1', open)).toBeUndefined();
    expect(isPrivateAddress('fc00::1')).toBe(true);
    expect(isPrivateAddress('2606:4700::1111')).toBe(false);
  });
});

describe('the webhook sender', () => {
  let server: Server;
  let port: number;
  const received: { url?: string; headers: IncomingMessage['headers']; body: string }[] = [];
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(204).end();

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ url: req.url, headers: req.headers, body });
        answer(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const request = (url: string): DeliveryRequest => ({ url, body: '{"a":1}', headers: { 'Content-Type': 'application/json', 'X-Test': 'yes' } });

  it('POSTs the body and headers and answers the status', async () => {
    received.length = 0;
    answer = (_req, res) => res.writeHead(202).end('ok');
    // By name: the connection goes through the guarded lookup.
    const reply = await deliverWebhook(request(`http://localhost:${port}/hook?x=1`), { timeoutMs: 2000, allowPrivate: true });
    expect(reply.status).toBe(202);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ url: '/hook?x=1', body: '{"a":1}', headers: { 'x-test': 'yes', 'content-type': 'application/json', 'content-length': '7' } });
  });

  it('does not follow a redirect', async () => {
    received.length = 0;
    answer = (_req, res) => res.writeHead(302, { Location: `http://127.0.0.1:${port}/elsewhere` }).end();
    const reply = await deliverWebhook(request(`http://127.0.0.1:${port}/hook`), { timeoutMs: 2000, allowPrivate: true });
    expect(reply.status).toBe(302);
    await new Promise((r) => setTimeout(r, 100));
    expect(received.map((r) => r.url)).toEqual(['/hook']);
  });

  it('gives up on a receiver that does not answer within the timeout', async () => {
    answer = () => undefined; // never answers
    const started = Date.now();
    const attempt = deliverWebhook(request(`http://127.0.0.1:${port}/slow`), { timeoutMs: 300, allowPrivate: true });
    await expect(attempt).rejects.toMatchObject({ code: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a loopback receiver unless private addresses are allowed, without connecting', async () => {
    received.length = 0;
    answer = (_req, res) => res.writeHead(200).end();
    await expect(deliverWebhook(request(`http://127.0.0.1:${port}/hook`), { timeoutMs: 2000, allowPrivate: false })).rejects.toMatchObject({ code: 'address_refused' });
    expect(received).toHaveLength(0);
  });

  it('checks the addresses a name resolves to, where the connection is made (DNS rebinding)', async () => {
    // A public-looking https URL whose name turns out to resolve to loopback.
    const lookup = guardedLookup(new URL('https://hooks.example.com/'), { allowPrivate: false });
    const resolve = (policyLookup: typeof lookup) =>
      new Promise<LookupAddress[]>((ok, fail) => policyLookup('localhost', { all: true }, (error, addresses) => (error ? fail(error) : ok(addresses as LookupAddress[]))));
    await expect(resolve(lookup)).rejects.toBeInstanceOf(DeliveryError);
    await expect(resolve(lookup)).rejects.toMatchObject({ code: 'address_refused' });
    const allowed = await resolve(guardedLookup(new URL('https://hooks.example.com/'), { allowPrivate: true }));
    expect(allowed.length).toBeGreaterThan(0);
  });
});

describe('the delivery handler', () => {
  const record = jobRecord('6f1c1f0e-8a4e-4c59-9d55-2f5b0d8c1a11', {
    state: 'cancelled',
    video: { width: 160, height: 120, fps: 8, frames: 8, duration: 1 },
    webhook: { url: 'https://hooks.example.com/h', state: 'pending', attempts: 0 },
  });
  const payload: WebhookPayload = { jobId: record.id, state: 'cancelled', revision: 0 };
  const job = (attemptsMade: number, attempts = 3): WebhookJob => ({ id: `${record.id}-webhook-cancelled-0`, data: payload, attemptsMade, opts: { attempts } });

  /** Fake ports: the deliver answer is scripted, what the handler records is kept. */
  function harness(reply: () => Promise<{ status: number }>, options: { stored?: JobRecord } = { stored: record }) {
    const sent: DeliveryRequest[] = [];
    const recorded: WebhookStatus[] = [];
    const process = createWebhookProcessor({
      secret: SECRET,
      getRecord: async () => options.stored,
      statusOf: (r) => ({ id: r.id, state: r.state }),
      deliver: async (request) => {
        sent.push(request);
        return reply();
      },
      recordStatus: async (_id, status) => void recorded.push(status),
      now: () => 1_700_000_000_000,
    });
    return { process, sent, recorded };
  }

  it('sends the signed status and records a 2xx as delivered', async () => {
    const { process, sent, recorded } = harness(async () => ({ status: 200 }));
    expect(await process(job(0))).toEqual({ status: 200 });
    expect(sent).toHaveLength(1);
    const { headers, body, url } = sent[0];
    expect(url).toBe('https://hooks.example.com/h');
    expect(JSON.parse(body)).toEqual({ id: record.id, state: 'cancelled' });
    expect(headers).toMatchObject({ 'Content-Type': 'application/json', 'User-Agent': 'ClipMask-Webhook', 'ClipMask-Delivery': `${record.id}-webhook-cancelled-0` });
    expect(verify(SECRET, headers['ClipMask-Signature'], body, { now: 1_700_000_000 })).toEqual({ ok: true });
    expect(recorded).toEqual([{ url: record.webhook!.url, state: 'delivered', attempts: 1, lastStatus: 200, deliveredAt: new Date(1_700_000_000_000).toISOString() }]);
  });

  it('throws on a 500 so it is retried, and records the attempt as pending until the last', async () => {
    const { process, recorded } = harness(async () => ({ status: 500 }));
    await expect(process(job(0, 3))).rejects.toBeInstanceOf(WebhookAttemptError);
    await expect(process(job(2, 3))).rejects.toMatchObject({ code: 'http_status', message: 'HTTP 500' });
    expect(recorded).toEqual([
      { url: record.webhook!.url, state: 'pending', attempts: 1, lastStatus: 500, lastError: 'HTTP 500' },
      { url: record.webhook!.url, state: 'failed', attempts: 3, lastStatus: 500, lastError: 'HTTP 500' },
    ]);
  });

  it('counts a redirect and a timeout as failed attempts', async () => {
    const redirect = harness(async () => ({ status: 301 }));
    await expect(redirect.process(job(0))).rejects.toMatchObject({ message: expect.stringMatching(/redirects are not followed/) });
    const timeout = harness(async () => Promise.reject(new DeliveryError('no answer within 300 ms', 'timeout')));
    await expect(timeout.process(job(1))).rejects.toMatchObject({ code: 'timeout' });
    expect(timeout.recorded).toEqual([{ url: record.webhook!.url, state: 'pending', attempts: 2, lastError: 'no answer within 300 ms' }]);
  });

  it('fails at once, without retries, when the address is refused', async () => {
    const { process, recorded } = harness(async () => Promise.reject(new DeliveryError('hooks.example.com is at 10.0.0.1, a private or reserved address', 'address_refused')));
    const attempt = process(job(0, 5));
    await expect(attempt).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(attempt).rejects.toMatchObject({ code: 'address_refused' });
    expect(recorded).toEqual([{ url: record.webhook!.url, state: 'failed', attempts: 1, lastError: expect.stringMatching(/private/) }]);
  });

  it('sends nothing for a job that is gone or has no webhook', async () => {
    const gone = harness(async () => ({ status: 200 }), {});
    expect(await gone.process(job(0))).toEqual({ skipped: 'job gone' });
    const none = harness(async () => ({ status: 200 }), { stored: { ...record, webhook: undefined } });
    expect(await none.process(job(0))).toEqual({ skipped: 'no webhook' });
    expect([...gone.sent, ...none.sent, ...gone.recorded, ...none.recorded]).toEqual([]);
  });
});

describe("the JobStore's terminal listener", () => {
  let server: RedisServer;
  let redis: Redis;
  let store: JobStore;
  const events: TerminalEvent[] = [];

  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url);
    store = new JobStore(redis, { onTerminal: (event) => void events.push(event) });
  });
  afterAll(async () => {
    await redis?.quit();
    await server?.stop();
  });

  const base = (id: string): JobRecord => jobRecord(id);

  it('is called once per change into an end state, with the revision that ended', async () => {
    events.length = 0;
    await store.create(base('a'));
    await store.update('a', { state: 'running' });
    await store.update('a', { state: 'failed' }, { only: ['queued', 'running'] });
    await store.update('a', { state: 'failed' }); // already failed: not a change
    await store.update('a', { state: 'cancelled' }, { only: ['queued', 'running'] }); // refused by the guard
    await store.update('missing', { state: 'cancelled' });
    expect(events).toEqual([{ id: 'a', state: 'failed', revision: 0 }]);

    events.length = 0;
    await store.create(base('b'));
    await store.update('b', { state: 'running' });
    expect(await store.nextRevision('b')).toEqual({ revision: 1 }); // a correction waits: revision 0 ending is not the end
    await store.finishRevision('b', 0, {});
    expect(events).toEqual([]);
    await store.finishRevision('b', 1, {});
    expect(events).toEqual([{ id: 'b', state: 'succeeded', revision: 1 }]);
    // A correction of the succeeded job, then its end: announced again, for revision 2.
    expect(await store.nextRevision('b')).toEqual({ revision: 2 });
    await store.finishRevision('b', 2, {});
    expect(events).toEqual([
      { id: 'b', state: 'succeeded', revision: 1 },
      { id: 'b', state: 'succeeded', revision: 2 },
    ]);
  });
});
