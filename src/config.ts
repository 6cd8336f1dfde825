import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DEFAULT_MANIFEST } from './segment/models.js';
import { DEFAULT_CACHE_DIR } from './segment/segmenter.js';

/**
 * Everything ClipMask reads from the environment, parsed and validated once
 * at start-up. A bad value stops the program with one readable line.
 */
const envSchema = z.object({
  CLIPMASK_MODEL: z.string().min(1).optional().describe('model name in the manifest (default: the manifest default)'),
  MODEL_MANIFEST: z.string().min(1).default(DEFAULT_MANIFEST),
  MODEL_CACHE_DIR: z.string().min(1).default(DEFAULT_CACHE_DIR),
  ORT_THREADS: z.coerce.number().int().min(1).max(256).default(availableParallelism()),
});

export type Config = {
  model: string | undefined;
  manifestPath: string;
  modelCacheDir: string;
  ortThreads: number;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid environment: ${problems}`);
  }
  const e = parsed.data;
  return {
    model: e.CLIPMASK_MODEL,
    manifestPath: e.MODEL_MANIFEST,
    modelCacheDir: e.MODEL_CACHE_DIR,
    ortThreads: e.ORT_THREADS,
  };
}

/** The segmenter options a config implies. */
export function segmenterOptions(config: Config) {
  return { model: config.model, manifestPath: config.manifestPath, cacheDir: config.modelCacheDir, threads: config.ortThreads };
}
