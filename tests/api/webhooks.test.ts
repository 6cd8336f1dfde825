/**
 * Webhooks through the real service (API role: the delivery worker runs in
 * it; real Redis, real BullMQ) to a real local HTTP receiver: one signed
 * delivery per end of a job, retried after a 500 and after a timeout, and
 * private receivers refused at submission unless allowed.
 *
 * No model runs: a cancel is a real DELETE, and succeeded / failed are driven
 * through the service's own JobStore (finishRevision, update to failed) on
 * records submitted through the API. The terminal listener sits in the
 * JobStore, so this is the path the workers' changes take too.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueRepository } from '../../src/jobs/queue.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { eventually, getJson, onePointPrompts, startTestService, submission, type TestService } from '../helpers/service.js';

const SECRET = 'test-webhook-secret-0123456789';
const TIMEOUT_MS = 600;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The sender gave up before an answer (a timed-out attempt). */
  abandoned: boolean;
}

/** A receiver: per path, what to answer to the n-th request (a status, or 'hang': never answer). */
class Receiver {
  readonly received: Received[] = [];
  readonly script = new Map<string, Array<number | 'hang'>>();
  private server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => this.answer(req.url ?? '', req.headers, body, res));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private answer(path: string, headers: IncomingHttpHeaders, body: string, res: ServerResponse): void {
    const entry: Received = { path, headers, body, abandoned: false };
    this.received.push(entry);
    const reply = this.script.get(path)?.shift() ?? 200;
    if (reply === 'hang') res.on('close', () => (entry.abandoned = !res.writableEnded));
    else res.writeHead(reply, { 'Content-Type': 'text/plain' }).end('thanks');
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

let t: TestService;
let strict: TestService;
let unconfigured: TestService;
let receiver: Receiver;
let dir: string;
let clip: SyntheticClip;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-webhooks-'));
  receiver = new Receiver();
  const webhookEnv = { WEBHOOK_SECRET: SECRET, WEBHOOK_ATTEMPTS: '3', WEBHOOK_BACKOFF_MS: '200', WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS) };
  [t, strict, unconfigured, clip] = await Promise.all([
    startTestService('api', { ...webhookEnv, WEBHOOK_ALLOW_PRIVATE: 'true' }),
    startTestService('api', webhookEnv),
    startTestService('api', {}),
    makeMovingShapeClip(dir, { width: 160, height: 120, frames: 8, fps: 8 }),
    receiver.start(),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([t?.stop(), strict?.stop(), unconfigured?.stop()]);
  await receiver?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function post(service: TestService, prompts: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${service.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, prompts) });
  return { status: response.status, body: await response.json() };
}

async function submitWithWebhook(hookPath: string): Promise<string> {
  const { status, body } = await post(t, { ...onePointPrompts(...clip.center(0)), webhook: receiver.url(hookPath) });
  expect(status, JSON.stringify(body)).toBe(202);
  return body.id;
}

/** The job's webhook status once it is no longer pending (or the last one seen). */
async function settledWebhook(id: string): Promise<any> {
  let webhook: any;
  await eventually(async () => {
    webhook = (await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body.webhook;
    return webhook?.state !== 'pending';
  }, 10_000);
  return webhook;
}

/** Checks ClipMask-Signature the way a receiver would, with node:crypto (not the service's code). */
function expectValidSignature(delivery: Received): void {
  const header = String(delivery.headers['clipmask-signature']);
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  expect(match, header).not.toBeNull();
  const [, t, v1] = match!;
  expect(Math.abs(Date.now() / 1000 - Number(t))).toBeLessThan(60);
  expect(v1).toBe(createHmac('sha256', SECRET).update(`${t}.${delivery.body}`).digest('hex'));
}

describe('webhooks', () => {
  it('delivers a cancel exactly once, signed, with the status JSON, and records it as delivered', async () => {
    const id = await submitWithWebhook('/cancel');
    expect((await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body.webhook).toEqual({ url: receiver.url('/cancel'), state: 'pending', attempts: 0 });
    expect((await fetch(`${t.baseUrl}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(200);

    const webhook = await settledWebhook(id);
    expect(webhook).toMatchObject({ url: receiver.url('/cancel'), state: 'delivered', attempts: 1, lastStatus: 200 });
    expect(Date.parse(webhook.deliveredAt)).toBeGreaterThan(Date.now() - 10_000);

    // The same end signalled again (a second enqueue of it) is not sent again.
    const queues = new QueueRepository({ connection: { url: t.redis.url }, attempts: 1 });
    await queues.addWebhook({ jobId: id, state: 'cancelled', revision: 0 });
    await queues.close();
    await new Promise((r) => setTimeout(r, 700));
    const deliveries = receiver.at('/cancel');
    expect(deliveries).toHaveLength(1);

    const [delivery] = deliveries;
    expectValidSignature(delivery);
    expect(delivery.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': 'ClipMask-Webhook', 'clipmask-delivery': `${id}-webhook-cancelled-0` });
    const body = JSON.parse(delivery.body);
    expect(body).toMatchObject({ id, state: 'cancelled', error: { code: 'cancelled' }, video: { frames: 8 } });
    expect(body.finishedAt).not.toBeNull();
    expect(body.webhook).toBeUndefined();
  });

  it('delivers success and failure once each, as the workers end jobs (through the JobStore)', async () => {
    const store = t.service.store;
    const succeeded = await submitWithWebhook('/succeeded');
    const failed = await submitWithWebhook('/failed');
    await store.update(succeeded, { state: 'running', stage: 'tracking', startedAt: Date.now() });
    expect(await store.finishRevision(succeeded, 0, { artifacts: ['overlay', 'masks', 'pngZip'] })).toBe(true);
    await store.update(failed, { state: 'running', stage: 'tracking', startedAt: Date.now() });
    const error = { code: 'internal', message: 'the job failed on the server; see the server logs' };
    expect((await store.update(failed, { state: 'failed', error, finishedAt: Date.now() }, { only: ['queued', 'running'] })).applied).toBe(true);
    // Failing it again changes nothing: no second announcement.
    await store.update(failed, { state: 'failed', error, finishedAt: Date.now() });

    expect(await settledWebhook(succeeded)).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(await settledWebhook(failed)).toMatchObject({ state: 'delivered', attempts: 1 });
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.at('/succeeded')).toHaveLength(1);
    expect(receiver.at('/failed')).toHaveLength(1);

    const success = JSON.parse(receiver.at('/succeeded')[0].body);
    expect(success).toMatchObject({ id: succeeded, state: 'succeeded', artifacts: { overlay: `/v1/jobs/${succeeded}/artifacts/overlay.mp4` } });
    expect(receiver.at('/succeeded')[0].headers['clipmask-delivery']).toBe(`${succeeded}-webhook-succeeded-0`);
    expect(JSON.parse(receiver.at('/failed')[0].body)).toMatchObject({ id: failed, state: 'failed', error });
    expectValidSignature(receiver.at('/failed')[0]);
  });

  it('retries after a 500 and delivers on the second attempt', async () => {
    receiver.script.set('/flaky', [500]);
    const id = await submitWithWebhook('/flaky');
    await fetch(`${t.baseUrl}/v1/jobs/${id}`, { method: 'DELETE' });
    expect(await settledWebhook(id)).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 200 });
    const deliveries = receiver.at('/flaky');
    expect(deliveries).toHaveLength(2);
    // One delivery id over the retries, a fresh signature on each.
    expect(deliveries[1].headers['clipmask-delivery']).toBe(deliveries[0].headers['clipmask-delivery']);
    for (const delivery of deliveries) expectValidSignature(delivery);
  });

  it('abandons an attempt the receiver does not answer within WEBHOOK_TIMEOUT_MS, and retries', async () => {
    receiver.script.set('/slow', ['hang']);
    const id = await submitWithWebhook('/slow');
    await fetch(`${t.baseUrl}/v1/jobs/${id}`, { method: 'DELETE' });
    expect(await settledWebhook(id)).toMatchObject({ state: 'delivered', attempts: 2 });
    const deliveries = receiver.at('/slow');
    expect(deliveries).toHaveLength(2);
    expect(deliveries[0].abandoned).toBe(true);
  });

  it('records a delivery as failed when every attempt fails', async () => {
    receiver.script.set('/down', [503, 503, 503, 503]);
    const id = await submitWithWebhook('/down');
    await fetch(`${t.baseUrl}/v1/jobs/${id}`, { method: 'DELETE' });
    expect(await settledWebhook(id)).toMatchObject({ state: 'failed', attempts: 3, lastStatus: 503, lastError: 'HTTP 503' });
    expect(receiver.at('/down')).toHaveLength(3);
  });

  it('refuses a private webhook at submission unless WEBHOOK_ALLOW_PRIVATE=true', async () => {
    for (const webhook of [receiver.url('/never'), 'https://10.0.0.8/hook', 'https://[::ffff:169.254.169.254]/']) {
      const { status, body } = await post(strict, { ...onePointPrompts(...clip.center(0)), webhook });
      expect(status, webhook).toBe(400);
      expect(body.error).toMatchObject({ code: 'webhook_not_allowed', details: { field: 'prompts.webhook' } });
    }
    const plainHttp = await post(t, { ...onePointPrompts(...clip.center(0)), webhook: 'http://hooks.example.com/' });
    expect(plainHttp.body.error).toMatchObject({ code: 'webhook_not_allowed', details: { field: 'prompts.webhook' } });
    const notUrl = await post(t, { ...onePointPrompts(...clip.center(0)), webhook: 'hooks.example.com' });
    expect(notUrl.body.error).toMatchObject({ code: 'invalid_prompts', details: { field: 'prompts.webhook' } });
    // Allowed there, a public https webhook is taken.
    expect((await post(strict, { ...onePointPrompts(...clip.center(0)), webhook: 'https://hooks.example.com/clipmask' })).status).toBe(202);
    expect(receiver.at('/never')).toHaveLength(0);
  });

  it('refuses webhooks when no WEBHOOK_SECRET is set, and takes jobs without one', async () => {
    const { status, body } = await post(unconfigured, { ...onePointPrompts(...clip.center(0)), webhook: 'https://hooks.example.com/clipmask' });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'webhooks_not_configured', details: { field: 'prompts.webhook' } });
    const plain = await post(unconfigured, onePointPrompts(...clip.center(0)));
    expect(plain.status).toBe(202);
    expect((await getJson(`${unconfigured.baseUrl}/v1/jobs/${plain.body.id}`)).body.webhook).toBeUndefined();
  });
});
