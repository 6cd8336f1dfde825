import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { tempNameFor } from '../util/atomic.js';

/**
 * ONNX Runtime optimises a graph every time it creates a session (constant
 * folding, fusions, the NCHWc layout for this CPU's vector width). We keep
 * the optimised graph on disk and later load it with optimisation disabled:
 * the encoder's session then starts in about a third of the time, with
 * bit-identical outputs.
 *
 * The optimised graph may hold kernels chosen for this CPU, so the cache key
 * covers the model, ONNX Runtime's version and the CPU (model name and
 * feature flags): a cache directory shared by unlike machines or carried over
 * an upgrade is never misread, only filled again.
 */

export interface CachedSession<S = ort.InferenceSession> {
  session: S;
  /** Whether the optimised graph came from the cache. */
  fromCache: boolean;
}

/** Creates a session from a file; by default in this thread, see EncoderThread for another. */
export type SessionFactory<S> = (file: string, options: ort.InferenceSession.SessionOptions) => Promise<S>;

const inThisThread: SessionFactory<ort.InferenceSession> = (file, options) => ort.InferenceSession.create(file, options);

function cpuSignature(): string {
  let flags = '';
  try {
    // One core's feature flags; all cores of a machine have the same.
    flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    // Not Linux: the model name and architecture stand alone.
  }
  return `${process.arch} ${cpus()[0]?.model ?? ''} ${flags.trim()}`;
}

/** File name of the optimised graph for a model (identified by e.g. its sha256) on this machine. */
function optimisedGraphName(role: string, modelIdentity: string): string {
  const key = createHash('sha256')
    .update([modelIdentity, ort.env.versions.node ?? '', cpuSignature()].join('\n'))
    .digest('hex')
    .slice(0, 16);
  return `${role}-${key}.ort-optimised.onnx`;
}

/**
 * A session for `modelPath` with `options` (graph optimisation 'all'),
 * loading the cached optimised graph when there is one and writing it
 * otherwise. A cached file that does not load is removed and rebuilt; a
 * cache that cannot be written is done without.
 */
export async function createCachedSession<S = ort.InferenceSession>(
  modelPath: string,
  modelIdentity: string,
  role: string,
  options: ort.InferenceSession.SessionOptions,
  cacheDir: string,
  create: SessionFactory<S> = inThisThread as SessionFactory<S>,
): Promise<CachedSession<S>> {
  const cached = path.join(cacheDir, optimisedGraphName(role, modelIdentity));
  if (existsSync(cached)) {
    try {
      const session = await create(cached, { ...options, graphOptimizationLevel: 'disabled' });
      return { session, fromCache: true };
    } catch {
      await rm(cached, { force: true }).catch(() => undefined);
    }
  }
  // ORT writes the file while it creates the session; a temporary name and a
  // rename mean a concurrent worker never loads half a file.
  const temp = tempNameFor(cached);
  try {
    await mkdir(cacheDir, { recursive: true });
    const session = await create(modelPath, {
      ...options,
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: temp,
      // ORT warns that the file is for this hardware only, which the cache key already ensures.
      logSeverityLevel: 3,
    });
    await rename(temp, cached).catch(() => rm(temp, { force: true }));
    return { session, fromCache: false };
  } catch {
    await rm(temp, { force: true }).catch(() => undefined);
    // The cache could not be written (a read-only install, a full disk): the cache
    // only saves start-up time, so go on without it. A model that does not load fails here.
    return { session: await create(modelPath, { ...options, graphOptimizationLevel: 'all' }), fromCache: false };
  }
}
