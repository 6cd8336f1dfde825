/**
 * Crafted inputs that try to make ffmpeg reach elsewhere: an HLS playlist and
 * an ffconcat list named .mp4 pointing at a local HTTP server and at a file
 * outside the upload. ffprobe/ffmpeg only accept the file and pipe protocols
 * and a whitelist of container formats, so both are refused as "not a video"
 * and the server never sees a connection.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeInput } from '../../src/media/probe.js';

let dir: string;
let server: Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'clipmask-crafted-'));
  server = createServer((_req, res) => res.end('nothing here'));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

it('refuses playlists and concat lists that point at the network or other files', async () => {
  const playlist = path.join(dir, 'playlist.mp4');
  await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://127.0.0.1:${port}/segment.ts\n#EXT-X-ENDLIST\n`);
  const concat = path.join(dir, 'concat.mp4');
  await writeFile(concat, `ffconcat version 1.0\nfile http://127.0.0.1:${port}/a.mp4\nfile /etc/hostname\n`);
  for (const file of [playlist, concat]) {
    await expect(probeInput(file), file).rejects.toMatchObject({ code: 'not_a_video' });
  }
  expect(connections).toBe(0);
});
