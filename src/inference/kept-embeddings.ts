import type { EmbeddingSource } from '../pipeline/tracking-session.js';
import { roundEmbeddingToFloat16 } from '../segment/float16.js';
import type { SamSegmenter } from '../segment/segmenter.js';
import type { ImageEmbedding, RgbFrame } from '../types.js';
import type { EmbeddingStore } from './embedding-store.js';

/**
 * A correction's embeddings: the ones the first run kept in the job's store,
 * or, where they are gone (the disk budget, CORRECTIONS_KEEP_EMBEDDINGS
 * off), the frame encoded again and rounded through float16 like a stored
 * one, so the masks come out the same either way. Re-encoded frames are not
 * stored: the budget that removed them still holds.
 */
export class KeptEmbeddings implements EmbeddingSource {
  read = 0;
  encoded = 0;

  constructor(
    private readonly store: EmbeddingStore,
    private readonly segmenter: SamSegmenter,
  ) {}

  async get(frame: RgbFrame): Promise<ImageEmbedding> {
    const stored = await this.store.read(frame.index);
    if (stored) {
      this.read++;
      return stored;
    }
    this.encoded++;
    return roundEmbeddingToFloat16(await this.segmenter.embed(frame));
  }
}
