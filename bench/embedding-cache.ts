import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImageEmbedding, RgbFrame } from '../src/types.js';
import type { SamSegmenter } from '../src/segment/segmenter.js';
import { resizeLongestSideShape } from '../src/segment/preprocess.js';
import { writeFileAtomic } from '../src/util/atomic.js';

/**
 * An on-disk cache of image embeddings for benchmark runs (float32, exact),
 * so that method changes can be measured without re-running the encoder.
 * Timings measured with a warm cache exclude the encoder and say so.
 */
export class EmbeddingCache {
  hits = 0;
  misses = 0;

  constructor(
    private readonly segmenter: SamSegmenter,
    private readonly dir?: string,
  ) {}

  async embed(key: string, frame: RgbFrame): Promise<ImageEmbedding> {
    if (!this.dir) return this.segmenter.embed(frame);
    const { model, encoderPrecision } = this.segmenter;
    const encoder = encoderPrecision === 'float32' ? model.name : `${model.name}-${encoderPrecision}`;
    const file = path.join(this.dir, encoder, `${key}.f32`);
    try {
      const bytes = await readFile(file);
      this.hits++;
      const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const resized = resizeLongestSideShape(frame.width, frame.height, this.segmenter.contract.inputSize);
      return { width: frame.width, height: frame.height, resizedWidth: resized.width, resizedHeight: resized.height, data };
    } catch {
      this.misses++;
      const embedding = await this.segmenter.embed(frame);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, new Uint8Array(embedding.data.buffer, embedding.data.byteOffset, embedding.data.byteLength));
      return embedding;
    }
  }
}
