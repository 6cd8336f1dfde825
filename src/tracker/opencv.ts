/**
 * Loading and accessing opencv.js (the `@techstark/opencv-js` Emscripten build).
 *
 * Caveats that shape this file:
 * - The CommonJS export is the Emscripten Module object, which has a `then` method (it is a
 *   "thenable"). `await`ing it, or returning it from an async function, chains onto that `then`,
 *   which never settles in this build. So we never hand the module to a promise: we resolve a
 *   `Promise<void>` from `onRuntimeInitialized` and keep the module in a module-level variable.
 * - For the same reason it is loaded with a synchronous `require`, lazily, not with `import`: an
 *   ESM import of it goes through the test runner's (vitest) module loader, whose interop wraps the
 *   namespace so that it exposes the module's `then` — the import itself then never resolves.
 * - The wasm heap starts at 128 MiB and only ever grows (WebAssembly memory cannot shrink). Every
 *   `Mat` / `MatVector` must be `delete()`d explicitly; the JS garbage collector never frees them.
 */
import { createRequire } from 'node:module';
import type * as OpenCvTypes from '@techstark/opencv-js';

/** The typed opencv.js API plus the Emscripten heap views that the typings leave out. */
export type OpenCv = typeof OpenCvTypes & {
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  /** Number of live embind handles to JS values (a JS-side leak check). */
  count_emval_handles(): number;
  onRuntimeInitialized?: () => void;
};

let ready: Promise<void> | undefined;
let loaded: OpenCv | undefined;

/** Resolves once the wasm runtime is initialised. Safe to call many times; loads only once. */
export function loadOpenCv(): Promise<void> {
  ready ??= new Promise<void>((resolve) => {
    const module = createRequire(import.meta.url)('@techstark/opencv-js') as OpenCv;
    const markLoaded = (): void => {
      loaded = module;
      resolve();
    };
    // `Mat` only exists once embind has registered the classes, i.e. after initialisation.
    if (typeof module.Mat === 'function') {
      markLoaded();
    } else {
      const previous = module.onRuntimeInitialized;
      module.onRuntimeInitialized = () => {
        previous?.();
        markLoaded();
      };
    }
  });
  return ready;
}

/** The loaded module. Throws if `loadOpenCv()` has not resolved yet. */
export function getCv(): OpenCv {
  if (!loaded) throw new Error('opencv.js is not loaded: await loadOpenCv() first');
  return loaded;
}

/** Current size of the Emscripten heap in bytes (it never shrinks; growth signals a leak). */
export function wasmHeapBytes(): number {
  return getCv().HEAPU8.length;
}
