/**
 * The inference child process: loads the model once, then runs one
 * trackVideo at a time on request from its worker process (see
 * inference-protocol.ts). CPU-bound work lives here so it never blocks the
 * worker's event loop. Started by InferenceProcess; not meant to be run by hand.
 */
import { loadConfig, segmenterOptions } from '../config.js';
import { trackVideo } from '../pipeline/track-video.js';
import { SamSegmenter } from '../segment/segmenter.js';
import { serializeError, type FromChild, type ToChild } from './inference-protocol.js';

function send(message: FromChild): void {
  if (process.connected) process.send?.(message);
}

// The worker process decides what a Ctrl-C means (finish or hand back the job): the child
// runs in its own process group and ignores a stray SIGINT.
process.on('SIGINT', () => undefined);

let current: { runId: number; controller: AbortController; done: Promise<void> } | undefined;

// Told to stop (SIGTERM) or orphaned (the worker died): stop the running job, let trackVideo
// remove its partial files, and exit.
function stop(reason: string): void {
  current?.controller.abort(reason);
  const exit = () => process.exit(0);
  if (current) void current.done.finally(exit);
  else exit();
  setTimeout(exit, 5000).unref();
}
process.on('disconnect', () => stop('worker gone'));
process.on('SIGTERM', () => stop('shutdown'));

let segmenter: SamSegmenter;
try {
  segmenter = await SamSegmenter.create(segmenterOptions(loadConfig()));
  send({ type: 'ready', model: segmenter.model.name });
} catch (error) {
  send({ type: 'init-failed', error: serializeError(error) });
  process.exit(1);
}

async function run(runId: number, request: Extract<ToChild, { type: 'track' }>['request'], controller: AbortController): Promise<void> {
  try {
    const result = await trackVideo({
      input: request.input,
      prompts: request.prompts,
      segmenter,
      outDir: request.outDir,
      pngDir: request.pngDir,
      signal: controller.signal,
      onProgress: (p) => send({ type: 'progress', runId, pass: p.stage, framesDone: p.framesDone, framesTotal: p.framesTotal }),
    });
    const { width, height, fps, frames, duration } = result.video;
    send({ type: 'done', runId, outcome: { video: { width, height, fps, frames, duration }, frames } });
  } catch (error) {
    send({ type: 'failed', runId, error: serializeError(error) });
  }
}

process.on('message', (message: ToChild) => {
  if (message.type === 'track') {
    if (current) {
      send({ type: 'failed', runId: message.runId, error: { name: 'Error', message: 'the inference process is busy' } });
      return;
    }
    const controller = new AbortController();
    const done = run(message.runId, message.request, controller).finally(() => {
      current = undefined;
    });
    current = { runId: message.runId, controller, done };
  } else if (message.type === 'cancel' && current?.runId === message.runId) {
    current.controller.abort(message.reason);
  }
});
