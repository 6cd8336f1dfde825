import { Worker } from 'node:worker_threads';
import type ort from 'onnxruntime-node';

/**
 * The image encoder's ONNX Runtime session in a worker thread.
 *
 * onnxruntime-node runs a session synchronously on the JS thread that calls
 * it. The encoder takes most of a frame's time, so on the main thread it
 * would stall everything else: the decoder passes, point tracking, painting
 * and file writes of the frame before would wait for it instead of
 * overlapping with it. In a worker, the next frame's embedding is computed
 * while the main thread finishes the current frame.
 */

interface Pending {
  resolve: (result: { data: Float32Array; ms: number }) => void;
  reject: (error: Error) => void;
}

type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; data: Float32Array; ms: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'released' };

const WORKER_SCRIPT = new URL('./encoder-worker.mjs', import.meta.url);

export class EncoderThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: FromWorker) => {
      if (message.type !== 'result' && message.type !== 'error') return;
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.type === 'result') pending?.resolve({ data: message.data, ms: message.ms });
      else pending?.reject(new Error(`image encoder: ${message.message}`));
      this.holdProcessOpen();
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`image encoder thread exited (code ${code})`)));
  }

  /** Starts the thread and creates the session from `file`; rejects if the file does not load. */
  static async start(file: string, options: ort.InferenceSession.SessionOptions, inputName: string, outputName: string): Promise<EncoderThread> {
    const worker = new Worker(WORKER_SCRIPT, { workerData: { file, options, inputName, outputName } });
    const ready = await new Promise<FromWorker>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (ready.type !== 'ready') {
      await worker.terminate();
      throw new Error(ready.type === 'failed' ? ready.message : `image encoder thread said ${ready.type}`);
    }
    const thread = new EncoderThread(worker);
    thread.holdProcessOpen();
    return thread;
  }

  /**
   * Runs the encoder on one input, whose buffer is handed to the thread.
   *   input: [1, 3, S, S] float32 -> the embedding and the run's own time in ms
   */
  run(input: Float32Array, dims: number[]): Promise<{ data: Float32Array; ms: number }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const result = new Promise<{ data: Float32Array; ms: number }>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.holdProcessOpen();
    this.worker.postMessage({ type: 'run', id, data: input, dims }, [input.buffer as ArrayBuffer]);
    return result;
  }

  async release(): Promise<void> {
    if (!this.failure) {
      const released = new Promise<void>((resolve) => this.worker.on('message', (m: FromWorker) => m.type === 'released' && resolve()));
      this.worker.ref(); // waiting for the reply must keep the process alive
      this.worker.postMessage({ type: 'release' });
      await released;
    }
    await this.worker.terminate();
  }

  /** An idle thread must not keep the process alive; a running one must. */
  private holdProcessOpen(): void {
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }
}
