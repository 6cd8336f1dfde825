/**
 * Where the ffmpeg and ffprobe executables are.
 *
 * Order: the FFMPEG_PATH / FFPROBE_PATH environment variables, then the
 * optional npm packages `ffmpeg-static` / `ffprobe-static` (usually not
 * installed: their postinstall download needs the internet), then `ffmpeg` /
 * `ffprobe` on PATH. The answer is cached for the life of the process.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { MediaError } from './errors.js';

export type MediaTool = 'ffmpeg' | 'ffprobe';

const ENV_VARIABLE: Record<MediaTool, string> = { ffmpeg: 'FFMPEG_PATH', ffprobe: 'FFPROBE_PATH' };

const cache = new Map<MediaTool, Promise<string>>();

/** Absolute path (or PATH-resolved path) of ffmpeg; throws MediaError('ffmpeg_missing'). */
export function resolveFfmpeg(): Promise<string> {
  return resolveTool('ffmpeg');
}

/** Absolute path (or PATH-resolved path) of ffprobe; throws MediaError('ffmpeg_missing'). */
export function resolveFfprobe(): Promise<string> {
  return resolveTool('ffprobe');
}

export function resolveTool(tool: MediaTool): Promise<string> {
  let found = cache.get(tool);
  if (!found) {
    found = findTool(tool);
    // A failed lookup is not cached: the operator may install ffmpeg and retry.
    found.catch(() => cache.delete(tool));
    cache.set(tool, found);
  }
  return found;
}

/** Forget cached answers (tests that change FFMPEG_PATH use this). */
export function clearToolCache(): void {
  cache.clear();
}

async function findTool(tool: MediaTool): Promise<string> {
  const fromEnv = process.env[ENV_VARIABLE[tool]];
  if (fromEnv) {
    // An explicit setting that is wrong is an error, not something to silently work around.
    if (await isExecutable(fromEnv)) return fromEnv;
    throw new MediaError(
      'ffmpeg_missing',
      `${ENV_VARIABLE[tool]} is set to "${fromEnv}" but that is not an executable file`,
    );
  }
  const fromPackage = await fromNpmPackage(tool);
  if (fromPackage && (await isExecutable(fromPackage))) return fromPackage;
  const fromPath = await searchPath(tool);
  if (fromPath) return fromPath;
  throw new MediaError(
    'ffmpeg_missing',
    `${tool} was not found: install it (apt-get install -y ffmpeg) or set ${ENV_VARIABLE[tool]}`,
  );
}

/**
 * `ffmpeg-static` exports the binary's path as its default export;
 * `ffprobe-static` exports `{ path }`. Both are optional, so the module name is
 * a variable: TypeScript must not try to resolve their types.
 */
async function fromNpmPackage(tool: MediaTool): Promise<string | undefined> {
  const packageName = tool === 'ffmpeg' ? 'ffmpeg-static' : 'ffprobe-static';
  try {
    const loaded: unknown = await import(packageName);
    const exported = (loaded as { default?: unknown }).default ?? loaded;
    if (typeof exported === 'string') return exported;
    const nested = (exported as { path?: unknown } | null)?.path;
    return typeof nested === 'string' ? nested : undefined;
  } catch {
    return undefined;
  }
}

async function searchPath(tool: MediaTool): Promise<string | undefined> {
  const directories = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const directory of directories) {
    const candidate = path.join(directory, tool);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    if (!(await stat(file)).isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
