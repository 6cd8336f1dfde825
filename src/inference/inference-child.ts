/**
 * The inference child process: loads the model once, then runs one request
 * at a time from its worker process (see inference-protocol.ts): a tracking
 * pass, or a chunk of embeddings for another worker's tracking pass.
 * CPU-bound work lives here so it never blocks the worker's event loop.
 * Started by InferenceProcess; not meant to be run by hand.
 */
import { mkdir } from 'node:fs/promises';
import { readFrames } from '../media/index.js';
import { loadConfig, segmenterOptions } from '../config.js';
import { probeInput } from '../media/index.js';
import { trackVideo } from '../pipeline/track-video.js';
import { TrackingSession } from '../pipeline/tracking-session.js';
import { renderArtifacts } from '../output/artifacts.js';
import { FileResults, MemoryResults } from '../output/result-store.js';
import { roundEmbeddingToFloat16 } from '../segment/float16.js';
import { maskToRuns } from '../segment/rle.js';
import { SamSegmenter } from '../segment/segmenter.js';
import type { ImageEmbedding, VideoMeta } from '../types.js';
import { createStorage } from '../storage/index.js';
import { openEmbeddingStore } from './open-embedding-store.js';
import { KeptEmbeddings } from './kept-embeddings.js';
import {
  serializeError,
  type CorrectOutcome,
  type CorrectRequest,
  type EmbedOutcome,
  type EmbedRequest,
  type FromChild,
  type PreviewOutcome,
  type PreviewRequest,
  type RunningCorrection,
  type RunRequest,
  type SessionFiles,
  type ToChild,
  type TrackOutcome,
  type TrackRequest,
  videoSummary,
} from './inference-protocol.js';
import { encodeChunk, SharedEmbeddings } from './shared-embeddings.js';

function send(message: FromChild): void {
  if (process.connected) process.send?.(message);
}

// The worker process decides what a Ctrl-C means (finish or hand back the job): the child
// runs in its own process group and ignores a stray SIGINT.
process.on('SIGINT', () => undefined);

let current: { runId: number; controller: AbortController; done: Promise<void> } | undefined;

// Told to stop (SIGTERM) or orphaned (the worker died): stop the running job, let it
// remove its partial files and claims, and exit.
function stop(reason: string): void {
  current?.controller.abort(reason);
  const exit = () => process.exit(0); // also closes the claims' Redis connection, if any
  if (current) void current.done.finally(exit);
  else exit();
  setTimeout(exit, 5000).unref();
}
process.on('disconnect', () => stop('worker gone'));
process.on('SIGTERM', () => stop('shutdown'));

let segmenter: SamSegmenter;
const config = loadConfig();
// Where the embeddings of a job live: the job's directory, or objects (claims in Redis) on STORAGE=s3.
const storage = await createStorage(config.storage, config.dataDir);
try {
  segmenter = await SamSegmenter.create(segmenterOptions(config));
  send({ type: 'ready', model: segmenter.model.name });
} catch (error) {
  send({ type: 'init-failed', error: serializeError(error) });
  process.exit(1);
}

/** The first run's session while it runs: corrections sent meanwhile are queued on it. */
let running: { runId: number; session?: TrackingSession; early: RunningCorrection[] } | undefined;

async function track(runId: number, request: TrackRequest, signal: AbortSignal): Promise<TrackOutcome> {
  const { owner, windowFrames, keep } = request.embeddings;
  const meta = request.video;
  if (!request.embeddings.remote) await mkdir(request.embeddings.dir, { recursive: true });
  const store = openEmbeddingStore(request.embeddings, storage);
  const embeddings = new SharedEmbeddings({ store, segmenter, input: request.input, meta, owner, windowFrames, keep, signal });
  running = { runId, early: running?.runId === runId ? running.early : [] };
  const state = running;
  try {
    let session: TrackingSession | undefined;
    const result = await trackVideo({
      input: request.input,
      video: meta,
      prompts: request.prompts,
      segmenter,
      outDir: request.outDir,
      pngDir: request.pngDir,
      embeddings,
      results: new FileResults(request.results),
      signal,
      onSession: (s) => {
        session = state.session = s;
        for (const c of state.early.splice(0)) s.queueCorrection(c);
      },
      onProgress: (p) => send({ type: 'progress', runId, progress: { pass: p.stage, framesDone: p.framesDone, framesTotal: p.framesTotal, lastFrame: p.lastFrame } }),
    });
    if (session!.rewroteDoneFrames) await renderArtifacts({ ...artifactTarget(request, result.video, signal), objects: session!.objectList, results: new FileResults(request.results) });
    const { frames } = result.video;
    const { encodedHere, encodedAhead, readFromStore } = embeddings;
    return {
      video: videoSummary(result.video),
      frames,
      embeddings: { encodedHere, encodedAhead, readFromStore },
      objects: session!.objects(),
      revision: session!.appliedRevision,
      changes: session!.runChanges,
    };
  } finally {
    running = undefined;
    await embeddings.close();
  }
}

function artifactTarget(request: SessionFiles, meta: VideoMeta, signal: AbortSignal) {
  return { meta, input: request.input, outDir: request.outDir, pngDir: request.pngDir, signal };
}

/** A correction of a finished session: re-track what it changed, then every artifact again. */
async function correct(request: CorrectRequest, signal: AbortSignal): Promise<CorrectOutcome> {
  const meta = request.video;
  const results = new FileResults(request.results, request.pending);
  const embeddings = new KeptEmbeddings(openEmbeddingStore(request.embeddings, storage), segmenter);
  const { input, objects, speed } = request;
  const session = new TrackingSession({ input, video: meta, segmenter, objects, results, embeddings, speed, signal });
  try {
    const changes = await session.correct(request.correction);
    // The artifacts from the new records (pending ones read first), then the records in place: a render that
    // fails leaves the previous revision's records whole.
    await renderArtifacts({ ...artifactTarget(request, meta, signal), objects: session.objectList, results });
    await results.commit();
    return { objects: session.objects(), changes, embeddings: { read: embeddings.read, encoded: embeddings.encoded } };
  } catch (error) {
    await results.discardPending();
    throw error;
  }
}

async function embed(request: EmbedRequest, signal: AbortSignal): Promise<EmbedOutcome> {
  const meta = request.video;
  const store = openEmbeddingStore(request.embeddings, storage);
  return encodeChunk({ store, segmenter, input: request.input, meta, owner: request.embeddings.owner, signal }, request.chunk);
}

/** Recently used frames' embeddings for previews (4 MB each): a page clicks many times on one frame. */
const PREVIEW_CACHE_SIZE = 16;
const previewEmbeddings = new Map<string, ImageEmbedding>();
const previewMeta = new Map<string, VideoMeta>();

async function previewEmbedding(input: string, frameIndex: number, signal: AbortSignal): Promise<{ embedding: ImageEmbedding; embedMs: number }> {
  const key = `${input}\n${frameIndex}`;
  const cached = previewEmbeddings.get(key);
  if (cached) {
    previewEmbeddings.delete(key); // re-insert: most recently used last
    previewEmbeddings.set(key, cached);
    return { embedding: cached, embedMs: 0 };
  }
  const started = performance.now();
  let meta = previewMeta.get(input);
  if (!meta) previewMeta.set(input, (meta = await probeInput(input)));
  if (frameIndex >= meta.frames) throw Object.assign(new RangeError(`frame ${frameIndex} is beyond the video's ${meta.frames} frames`), { code: 'frame_out_of_range' });
  let embedding: ImageEmbedding | undefined;
  for await (const frame of readFrames(input, meta, { start: frameIndex, end: frameIndex + 1, signal })) {
    // Rounded like the service's stored embeddings, so the preview is the mask the job starts from.
    embedding = roundEmbeddingToFloat16(await segmenter.embed(frame));
  }
  if (!embedding) throw new Error(`frame ${frameIndex} could not be read`);
  previewEmbeddings.set(key, embedding);
  while (previewEmbeddings.size > PREVIEW_CACHE_SIZE) previewEmbeddings.delete(previewEmbeddings.keys().next().value!);
  if (previewMeta.size > PREVIEW_CACHE_SIZE) previewMeta.delete(previewMeta.keys().next().value!);
  return { embedding, embedMs: performance.now() - started };
}

/** The page's preview of an input is a one-object session: the mask its prompt gives on a frame, as a job starts from. */
const PREVIEW_OBJECT = 1;
const previewSessions = new Map<string, TrackingSession>();

async function previewSession(input: string): Promise<TrackingSession> {
  let session = previewSessions.get(input);
  if (!session) {
    session = new TrackingSession({ input, video: previewMeta.get(input) ?? (await probeInput(input)), segmenter, objects: [], results: new MemoryResults() });
    previewSessions.set(input, session);
    if (previewSessions.size > PREVIEW_CACHE_SIZE) previewSessions.delete(previewSessions.keys().next().value!);
  }
  return session;
}

async function preview(request: PreviewRequest, signal: AbortSignal): Promise<PreviewOutcome> {
  const { embedding, embedMs } = await previewEmbedding(request.input, request.frame, signal);
  const { width, height } = embedding;
  if (!request.points.length && !request.box) return { width, height, embedMs, decodeMs: 0 };
  const started = performance.now();
  const session = await previewSession(request.input);
  session.addPrompts(PREVIEW_OBJECT, { frame: request.frame, points: request.points, box: request.box });
  const result = await session.promptMask(PREVIEW_OBJECT, request.frame, embedding);
  let area = 0;
  for (const v of result.mask.data) area += v;
  return { width, height, counts: maskToRuns(result.mask), score: result.score, area, embedMs, decodeMs: performance.now() - started };
}

async function run(runId: number, request: RunRequest, controller: AbortController): Promise<void> {
  try {
    const { signal } = controller;
    const outcome =
      request.type === 'track'
        ? await track(runId, request.request, signal)
        : request.type === 'correct'
          ? await correct(request.request, signal)
          : request.type === 'embed'
            ? await embed(request.request, signal)
            : await preview(request.request, signal);
    send({ type: 'done', runId, outcome });
  } catch (error) {
    send({ type: 'failed', runId, error: serializeError(error) });
  }
}

process.on('message', (message: ToChild) => {
  if (message.type === 'cancel') {
    if (current?.runId === message.runId) current.controller.abort(message.reason);
    return;
  }
  if (message.type === 'correction') {
    // Before the session exists (probing, the backward pass has not begun) the correction waits for it.
    if (running?.runId !== message.runId) return;
    if (running.session) running.session.queueCorrection(message.correction);
    else running.early.push(message.correction);
    return;
  }
  if (current) {
    send({ type: 'failed', runId: message.runId, error: { name: 'Error', message: 'the inference process is busy' } });
    return;
  }
  const controller = new AbortController();
  const done = run(message.runId, message, controller).finally(() => {
    current = undefined;
  });
  current = { runId: message.runId, controller, done };
});
