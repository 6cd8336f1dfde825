/**
 * src/api/web.ts: the page, its bundle and its styles from the API's
 * express app; a build error is a 500 in the error envelope, logged, and
 * retried on the next request.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler, notFoundHandler } from '../../src/api/errors.js';
import { securityHeaders } from '../../src/api/security.js';
import { webRouter } from '../../src/api/web.js';

const servers: Server[] = [];
let dir: string;

async function serve(root?: string): Promise<{ baseUrl: string; logs: string[] }> {
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const app = express();
  app.use(securityHeaders());
  app.use(webRouter(root ? { root } : {}));
  app.use(notFoundHandler);
  app.use(errorHandler(pino({ level: 'error' }, stream)));
  const server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}`, logs };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-web-'));
});

afterAll(async () => {
  for (const server of servers) server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('webRouter', () => {
  it('serves the page, the bundled script and the styles, uncached', async () => {
    const { baseUrl } = await serve();
    const [page, script, styles] = await Promise.all(['/', '/app.js', '/styles.css'].map((p) => fetch(baseUrl + p)));
    for (const response of [page, script, styles]) {
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-cache');
    }
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/app.js"></script>');
    expect(html).toContain('data-testid="file-input"');

    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const js = await script.text();
    expect(js).not.toMatch(/^\s*import\s/m); // one self-contained bundle
    expect(js).toContain('/v1/previews');
    expect(js).toContain('sourceMappingURL=data:application/json;base64,');

    expect(styles.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await styles.text()).toContain('.stage');
  });

  it('answers a build error with a 500 envelope, logs it, and builds again once it is fixed', async () => {
    const root = path.join(dir, 'web');
    await cp(path.join(import.meta.dirname, '../../web'), root, { recursive: true });
    await writeFile(path.join(root, 'src', 'main.ts'), 'const broken: number = ;\n');
    const { baseUrl, logs } = await serve(root);

    for (const url of ['/app.js', '/']) {
      const response = await fetch(baseUrl + url);
      expect(response.status).toBe(500);
      const body = await response.json();
      expect(body).toEqual({ error: { code: 'internal', message: 'something went wrong on the server' } });
    }
    const logged = logs.map((line) => JSON.parse(line));
    expect(logged.length).toBeGreaterThanOrEqual(1);
    expect(logged[0]).toMatchObject({ level: 50, msg: 'request failed', url: '/app.js' });
    expect(logged[0].err.message).toMatch(/building the web page .* failed: .*main\.ts:1:\d+/);

    await writeFile(path.join(root, 'src', 'main.ts'), 'document.title = "fixed";\n');
    const fixed = await fetch(`${baseUrl}/app.js`);
    expect(fixed.status).toBe(200);
    expect(await fixed.text()).toContain('fixed');
  });
});
