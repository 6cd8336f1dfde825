// One ONNX Runtime session in a worker thread (see encoder-thread.ts).
// onnxruntime-node runs a session synchronously on its caller's thread; here
// that is this worker, so the main thread keeps working meanwhile.
// Plain JavaScript on purpose: a worker thread does not inherit the
// TypeScript loader under every runner (tsx, vitest, node --import).
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

const { file, options, inputName, outputName } = workerData;
let session;
try {
  session = await ort.InferenceSession.create(file, options);
  parentPort.postMessage({ type: 'ready' });
} catch (error) {
  parentPort.postMessage({ type: 'failed', message: String(error?.message ?? error) });
}

async function handle(message) {
  if (message.type === 'release') {
    await session?.release();
    parentPort.postMessage({ type: 'released' });
    return;
  }
  try {
    const input = new ort.Tensor('float32', message.data, message.dims);
    const started = performance.now();
    const output = (await session.run({ [inputName]: input }))[outputName];
    const ms = performance.now() - started;
    // A copy we own, so that its buffer can be transferred rather than cloned.
    const data = new Float32Array(output.data);
    parentPort.postMessage({ type: 'result', id: message.id, data, ms }, [data.buffer]);
  } catch (error) {
    parentPort.postMessage({ type: 'error', id: message.id, message: String(error?.message ?? error) });
  }
}

// One run at a time, in order, so that a run's time is its own.
let queue = Promise.resolve();
parentPort.on('message', (message) => {
  queue = queue.then(() => handle(message));
});
