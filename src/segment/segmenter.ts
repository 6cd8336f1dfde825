import { availableParallelism } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import type { Box, ImageEmbedding, RgbFrame } from '../types.js';
import { MULTIMASK_LOGITS, MULTIMASK_SCORES, prepareDecoder } from './decoder-graph.js';
import { prepareInt8Encoder } from './encoder-int8.js';
import { EncoderThread } from './encoder-thread.js';
import { DEFAULT_MANIFEST, PROJECT_ROOT, resolveModel, type ModelContract, type ResolvedModel } from './models.js';
import { candidateShapes, chooseMaskIndex, chooseWholeObject, upscaleLogitsWindow, windowToImage } from './postprocess.js';
import { resizeLongestSideShape, resizeRgb, toEncoderTensor, toModelCoords } from './preprocess.js';
import { createCachedSession } from './session-cache.js';

/**
 * A SAM-family segmenter in two steps, as SAM's predictor works: embed an
 * image once with the (expensive) image encoder, then decode any number of
 * prompts against that embedding with the (cheap) prompt decoder.
 * Encoder and decoder are separate ONNX Runtime sessions.
 */

export interface SegmenterOptions {
  /** Model name in the manifest; the manifest's default when omitted. */
  model?: string;
  manifestPath?: string;
  /** Where the prepared decoder graph and ONNX Runtime's optimised graphs are cached. */
  cacheDir?: string;
  /** Intra-op threads per session; defaults to the number of cores. */
  threads?: number;
  /**
   * 'float32' (default): the shipped encoder. 'int8': its constant-weight
   * MatMuls quantised to int8 (see encoder-int8.ts), faster and slightly less accurate.
   */
  encoderPrecision?: EncoderPrecision;
  /** ONNX Runtime's CPU memory arena (default on). */
  memoryArena?: boolean;
}

export const ENCODER_PRECISIONS = ['float32', 'int8'] as const;
export type EncoderPrecision = (typeof ENCODER_PRECISIONS)[number];

/** A click in image pixels. */
export interface DecodePoint {
  x: number;
  y: number;
  label: 0 | 1;
}

export interface DecodePrompt {
  points: DecodePoint[];
  box?: Box;
  /** Low-res logits of an earlier pass, [256 * 256], fed back as SAM's mask prompt. */
  maskInput?: Float32Array;
}

export interface DecodeResult {
  /** Low-res logits of the chosen mask token: [lowResSize, lowResSize]. */
  lowRes: Float32Array;
  /** Predicted IoU of the chosen token. */
  score: number;
  /** Which of the four mask tokens was chosen (0 = single-mask output). */
  token: number;
  /** Predicted IoU of all four tokens. */
  tokenScores: Float32Array;
  /** Low-res logits of all four tokens: [4, lowResSize, lowResSize]. */
  tokenLogits: Float32Array;
}

export type TokenChoice = 'single' | 'best' | 'whole';

export interface SegmenterTimings {
  encoderRuns: number;
  encoderMs: number;
  decoderRuns: number;
  decoderMs: number;
}

export const DEFAULT_CACHE_DIR = path.join(PROJECT_ROOT, 'models', 'cache');

// SAM's point labels, beyond 0 (background) and 1 (object).
const LABEL_PADDING = -1;
const LABEL_BOX_TOP_LEFT = 2;
const LABEL_BOX_BOTTOM_RIGHT = 3;

function sessionOptions(threads: number, memoryArena: boolean): ort.InferenceSession.SessionOptions {
  return {
    // The arena keeps freed tensor buffers for the next run: off, the encoder
    // is 9 % slower and peak RSS 18 % lower (bench:speed --no-arena): speed wins.
    enableCpuMemArena: memoryArena,
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    // One graph run at a time per session: inter-op parallelism only adds thread contention on small CPUs.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // ONNX Runtime's pool threads spin while waiting for work by default. The
    // encoder (one frame ahead) and the decoder run at the same time on few
    // cores, so a spinning pool steals the other session's CPU.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/**
 * When the ONNX Runtime run about to be requested really starts. onnxruntime-node
 * runs a session synchronously on the JS thread, in a setImmediate callback; a
 * marker queued just before it fires just before it, so the time from here to
 * the run's resolution is the run alone, not the runs queued ahead of it.
 * (Its continuation follows the run at once: microtasks drain after each callback.)
 */
function runStart(): Promise<number> {
  return new Promise((resolve) => setImmediate(() => resolve(performance.now())));
}

export class SamSegmenter {
  readonly timings: SegmenterTimings = { encoderRuns: 0, encoderMs: 0, decoderRuns: 0, decoderMs: 0 };

  private constructor(
    readonly model: ResolvedModel,
    private readonly encoder: EncoderThread,
    private readonly decoder: ort.InferenceSession,
    /** Whether both sessions loaded ONNX Runtime's optimised graphs from the cache (see session-cache.ts). */
    readonly optimisedFromCache: boolean,
    readonly encoderPrecision: EncoderPrecision,
  ) {}

  static async create(options: SegmenterOptions = {}): Promise<SamSegmenter> {
    const model = await resolveModel(options.model, options.manifestPath ?? DEFAULT_MANIFEST);
    const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
    const decoderPath = await prepareDecoder(model.decoderPath, model.decoderSha256, cacheDir);
    const precision = options.encoderPrecision ?? 'float32';
    const int8 = precision === 'int8';
    const encoderPath = int8 ? await prepareInt8Encoder(model.encoderPath, model.encoderSha256, cacheDir) : model.encoderPath;
    const opts = sessionOptions(options.threads ?? availableParallelism(), options.memoryArena ?? true);
    const [encoder, decoder] = await Promise.all([
      // A derived file's name carries the original's hash and the derivation's version.
      createCachedSession(encoderPath, int8 ? path.basename(encoderPath) : model.encoderSha256, 'encoder', opts, cacheDir, (file, o) =>
        EncoderThread.start(file, o, model.contract.encoderInput, model.contract.encoderOutput),
      ),
      createCachedSession(decoderPath, path.basename(decoderPath), 'decoder', opts, cacheDir),
    ]);
    return new SamSegmenter(model, encoder.session, decoder.session, encoder.fromCache && decoder.fromCache, precision);
  }

  get contract(): ModelContract {
    return this.model.contract;
  }

  /** Runs the image encoder once for a frame, in its own thread (see encoder-thread.ts). */
  async embed(frame: RgbFrame): Promise<ImageEmbedding> {
    const { inputSize, mean, std, embeddingShape } = this.contract;
    const resized = resizeLongestSideShape(frame.width, frame.height, inputSize);
    const rgb = await resizeRgb(frame, resized);
    const input = toEncoderTensor(rgb, resized, inputSize, mean, std); // [1, 3, inputSize, inputSize]
    const embedding = await this.encoder.run(input, [1, 3, inputSize, inputSize]);
    this.timings.encoderMs += embedding.ms;
    this.timings.encoderRuns++;
    const expected = embeddingShape.reduce((a, b) => a * b, 1);
    if (embedding.data.length !== expected) {
      throw new Error(`encoder output has ${embedding.data.length} values, the contract says ${embeddingShape.join('x')}`);
    }
    return {
      width: frame.width,
      height: frame.height,
      resizedWidth: resized.width,
      resizedHeight: resized.height,
      data: embedding.data,
    };
  }

  /**
   * Runs the prompt decoder and picks one of SAM's four mask tokens:
   * 'single' = token 0 (for unambiguous prompts); 'best' = the multimask
   * candidate with the highest predicted IoU (SAM's rule); 'whole' = the
   * largest trusted candidate that agrees with the clicks (see chooseWholeObject).
   */
  async decode(embedding: ImageEmbedding, prompt: DecodePrompt, choice: TokenChoice = 'single'): Promise<DecodeResult> {
    const { embeddingShape, lowResMaskSize } = this.contract;
    const feeds = this.decoderFeeds(embedding, prompt);
    feeds.image_embeddings = new ort.Tensor('float32', embedding.data, embeddingShape);
    const started = runStart();
    const output = await this.decoder.run(feeds, [MULTIMASK_LOGITS, MULTIMASK_SCORES]);
    this.timings.decoderMs += performance.now() - (await started);
    this.timings.decoderRuns++;
    const tokenLogits = output[MULTIMASK_LOGITS].data as Float32Array; // [1, 4, 256, 256]
    const tokenScores = output[MULTIMASK_SCORES].data as Float32Array; // [1, 4]
    const token = this.chooseToken(embedding, prompt, tokenScores, tokenLogits, choice);
    const plane = lowResMaskSize * lowResMaskSize;
    return {
      lowRes: tokenLogits.slice(token * plane, (token + 1) * plane),
      score: tokenScores[token],
      token,
      tokenScores,
      tokenLogits,
    };
  }

  /**
   * Low-res logits -> full-size logits, binary mask and its box for the
   * embedding's image. Logits are computed only where they can be positive
   * (see upscaleLogitsWindow) and are -Infinity elsewhere.
   */
  toImage(embedding: ImageEmbedding, lowRes: Float32Array) {
    const { lowResMaskSize, inputSize } = this.contract;
    const resized = { width: embedding.resizedWidth, height: embedding.resizedHeight };
    const window = upscaleLogitsWindow(lowRes, lowResMaskSize, inputSize, resized, embedding);
    return windowToImage(window, embedding.width, embedding.height);
  }

  private chooseToken(embedding: ImageEmbedding, prompt: DecodePrompt, scores: Float32Array, logits: Float32Array, choice: TokenChoice): number {
    if (choice !== 'whole' || prompt.points.length === 0) return chooseMaskIndex(scores, choice !== 'single');
    const { lowResMaskSize, inputSize } = this.contract;
    const toLowRes = lowResMaskSize / inputSize;
    const resized = { width: embedding.resizedWidth, height: embedding.resizedHeight };
    const validWidth = Math.max(1, Math.round(resized.width * toLowRes));
    const validHeight = Math.max(1, Math.round(resized.height * toLowRes));
    const clicks = prompt.points.map((p) => {
      const [x, y] = toModelCoords(p.x, p.y, embedding, resized);
      return { x: x * toLowRes, y: y * toLowRes, label: p.label };
    });
    const shapes = candidateShapes(logits, scores.length, lowResMaskSize, validWidth, validHeight, clicks);
    // Token 0 is SAM's output for unambiguous prompts; for a lone click only the three multimask tokens apply.
    return chooseWholeObject(scores, shapes, prompt.points.length === 1 ? [1, 2, 3] : [0, 1, 2, 3]);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release()]);
  }

  private decoderFeeds(embedding: ImageEmbedding, prompt: DecodePrompt): Record<string, ort.Tensor> {
    const { lowResMaskSize } = this.contract;
    const image = { width: embedding.width, height: embedding.height };
    const resized = { width: embedding.resizedWidth, height: embedding.resizedHeight };
    const coords: number[] = [];
    const labels: number[] = [];
    for (const p of prompt.points) {
      coords.push(...toModelCoords(p.x, p.y, image, resized));
      labels.push(p.label);
    }
    if (prompt.box) {
      const [x0, y0, x1, y1] = prompt.box;
      coords.push(...toModelCoords(x0, y0, image, resized), ...toModelCoords(x1, y1, image, resized));
      labels.push(LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT);
    } else {
      // SAM's export expects a padding point when there is no box.
      coords.push(0, 0);
      labels.push(LABEL_PADDING);
    }
    const n = labels.length;
    const maskInput = prompt.maskInput ?? new Float32Array(lowResMaskSize * lowResMaskSize);
    return {
      point_coords: new ort.Tensor('float32', Float32Array.from(coords), [1, n, 2]),
      point_labels: new ort.Tensor('float32', Float32Array.from(labels), [1, n]),
      mask_input: new ort.Tensor('float32', maskInput, [1, 1, lowResMaskSize, lowResMaskSize]),
      has_mask_input: new ort.Tensor('float32', Float32Array.of(prompt.maskInput ? 1 : 0), [1]),
      orig_im_size: new ort.Tensor('float32', Float32Array.of(embedding.height, embedding.width), [2]),
    };
  }
}
