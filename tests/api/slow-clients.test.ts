/**
 * Clients that hold the API up rather than use it, against a real API
 * process with short limits: headers sent a byte at a time, and a
 * connection that sends nothing, are cut off by HEADERS_TIMEOUT_MS, a stalled upload by UPLOAD_IDLE_TIMEOUT_MS (and what it
 * sent is deleted), and one address gets at most MAX_CONNECTIONS_PER_CLIENT
 * connections, while another client is served throughout.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadsDir } from '../../src/jobs/layout.js';
import { eventually, filesUnder, startTestService, type TestService } from '../helpers/service.js';

let t: TestService;
let port: number;

beforeAll(async () => {
  t = await startTestService('api', { HEADERS_TIMEOUT_MS: '1000', UPLOAD_IDLE_TIMEOUT_MS: '1000', MAX_CONNECTIONS_PER_CLIENT: '4' });
  port = Number(new URL(t.baseUrl).port);
});

afterAll(async () => {
  await t?.stop();
});

interface Client {
  socket: Socket;
  received: () => string;
  closed: Promise<number>;
}

/** A raw connection from `from` (any 127/8 address is this machine); `closed` resolves with the ms it lived. */
async function open(from = '127.0.0.1'): Promise<Client> {
  const started = Date.now();
  const socket = connect({ host: '127.0.0.1', port, localAddress: from });
  let text = '';
  socket.on('data', (chunk) => (text += chunk.toString('latin1')));
  socket.on('error', () => undefined); // a reset is one way of being cut off
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error('closed before it connected')));
  }).catch(() => undefined);
  return { socket, received: () => text, closed };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isOpen = (client: Client) => !client.socket.destroyed && client.socket.readyState === 'open';

async function healthy(): Promise<boolean> {
  return (await fetch(`${t.baseUrl}/healthz`)).status === 200;
}

describe('slow and hostile clients', () => {
  it('cuts off headers sent a byte at a time, and answers others meanwhile', async () => {
    const slow = await open();
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const header = 'X-Slow: ' + 'a'.repeat(100);
    let sent = 0;
    const drip = setInterval(() => {
      if (isOpen(slow)) slow.socket.write(header[sent++ % header.length]);
    }, 100);
    expect(await healthy()).toBe(true);
    const lived = await Promise.race([slow.closed, sleep(15_000).then(() => -1)]);
    clearInterval(drip);
    // Cut off (never answered as if complete): 408 from Node, or the connection simply closed.
    expect(lived).toBeGreaterThan(0);
    expect(slow.received()).not.toMatch(/^HTTP\/1\.1 200/);
    expect(sent).toBeGreaterThan(5);
  });

  it('closes a connection that sends nothing', async () => {
    const silent = await open('127.0.0.3');
    const lived = await Promise.race([silent.closed, sleep(15_000).then(() => -1)]);
    expect(lived).toBeGreaterThan(0);
    expect(silent.received()).toBe('');
  });

  it('cuts off an upload that stalls, and deletes what it sent', async () => {
    const stalled = await open();
    const boundary = 'stall';
    const head =
      `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 5000000\r\n\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="video"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n`;
    stalled.socket.write(head);
    stalled.socket.write(Buffer.alloc(200_000, 7));
    // The part is on disk while it arrives.
    expect(await eventually(async () => (await filesUnder(uploadsDir(t.dataDir))).length === 1, 5000, 50)).toBe(true);
    const lived = await Promise.race([stalled.closed, sleep(15_000).then(() => -1)]);
    expect(lived).toBeGreaterThan(0);
    expect(await eventually(async () => (await filesUnder(uploadsDir(t.dataDir))).length === 0, 5000, 50)).toBe(true);
    expect(await healthy()).toBe(true);
  });

  it('gives one address at most MAX_CONNECTIONS_PER_CLIENT connections, and the slots come back when they close', async () => {
    const idle = await Promise.all(Array.from({ length: 10 }, () => open('127.0.0.2')));
    await sleep(300);
    expect(idle.filter(isOpen)).toHaveLength(4);
    // Another address is served as usual.
    expect(await healthy()).toBe(true);
    for (const client of idle) client.socket.destroy();
    await Promise.all(idle.map((c) => c.closed));
    await sleep(100);
    const again = await Promise.all(Array.from({ length: 4 }, () => open('127.0.0.2')));
    await sleep(300);
    expect(again.filter(isOpen)).toHaveLength(4);
    for (const client of again) client.socket.destroy();
  });
});
