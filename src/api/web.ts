import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Router, type Response } from 'express';

/**
 * The web page: GET / (web/index.html), /app.js (web/src/main.ts bundled by
 * esbuild in memory on first use, then cached) and /styles.css. A failed
 * build fails the request with a 500 in the error envelope (the error
 * handler logs it) and is tried again on the next request.
 */

/** web/ next to src/, found from this file rather than the working directory. */
const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

interface Assets {
  html: string;
  css: string;
  js: string;
}

async function buildAssets(root: string): Promise<Assets> {
  const [html, css, bundle] = await Promise.all([
    readFile(path.join(root, 'index.html'), 'utf8'),
    readFile(path.join(root, 'styles.css'), 'utf8'),
    build({
      entryPoints: [path.join(root, 'src', 'main.ts')],
      absWorkingDir: root,
      outfile: path.join(root, 'app.js'), // names the output; nothing is written
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      sourcemap: 'inline',
      legalComments: 'none',
      logLevel: 'silent',
    }).catch((error: unknown) => {
      const errors = (error as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> }).errors;
      const detail = errors?.map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text)).join('; ');
      throw new Error(`building the web page (web/src/main.ts) failed: ${detail || (error as Error).message}`, { cause: error });
    }),
  ]);
  const js = bundle.outputFiles.find((file) => file.path.endsWith('.js'));
  if (!js) throw new Error('building the web page produced no JavaScript');
  return { html, css, js: js.text };
}

export function webRouter(options: { root?: string } = {}): Router {
  const root = options.root ?? WEB_ROOT;
  const router = Router();
  let assets: Promise<Assets> | undefined;
  const load = () => {
    // One build shared by concurrent first requests; a failure is not cached.
    assets ??= buildAssets(root).catch((error: unknown) => {
      assets = undefined;
      throw error;
    });
    return assets;
  };

  const send = (res: Response, type: string, body: string) => {
    // The security headers (a same-origin CSP: no CDN, no inline script) come from securityHeaders().
    res.set({ 'Content-Type': type, 'Cache-Control': 'no-cache' });
    res.send(body);
  };

  router.get(['/', '/index.html'], async (_req, res) => {
    const { html } = await load();
    send(res, 'text/html; charset=utf-8', html);
  });
  router.get('/app.js', async (_req, res) => {
    send(res, 'text/javascript; charset=utf-8', (await load()).js);
  });
  router.get('/styles.css', async (_req, res) => {
    send(res, 'text/css; charset=utf-8', (await load()).css);
  });
  return router;
}
