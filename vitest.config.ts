import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // The real model and real ffmpeg run in these tests; on 2 cores a single
    // encoder pass is ~1 s, so allow generous per-test time.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Files run in separate forks; two at a time keeps the 2-core machine busy
    // without oversubscribing ONNX Runtime's thread pool.
    pool: 'forks',
    maxWorkers: 2,
    // The JSON report is what .ci/run counts passes and failures from.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-output/vitest.json' },
  },
});
