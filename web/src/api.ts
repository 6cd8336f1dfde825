/**
 * The page's client of the public API: the same endpoints as curl uses.
 * Every failure is an ApiError carrying the envelope's code and message
 * ({error: {code, message, details?: {field}}}), or code "network" when the
 * server could not be reached.
 */
import type { z } from 'zod';
import type { JobMasks, jobListSchema, JobStatus, PreviewMask, previewMaskRequestSchema, PreviewSession, RenderStatus } from '../../src/api/schemas.js';
import type { RenderRequest } from '../../src/output/render-spec.js';
import type { PromptsBody } from './prompt-state.js';
import type { CorrectionBody } from './correction.js';

export type { JobMasks, JobStatus, RenderRequest, RenderStatus };
export type JobState = JobStatus['state'];

// The server's own types (type-only imports: nothing of the server is bundled).
export type JobList = z.output<typeof jobListSchema>;
export type VideoInfo = JobStatus['video'];
export type Preview = PreviewSession;
export type MaskRequest = z.input<typeof previewMaskRequestSchema>;
export type MaskResponse = PreviewMask;

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** Seconds, from Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** An ApiError from a response body (the envelope, or whatever came back). */
export function errorFromBody(status: number, text: string, retryAfter?: string | null): ApiError {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    envelope = undefined;
  }
  const error = (envelope as { error?: { code?: unknown; message?: unknown; details?: { field?: unknown } } } | undefined)?.error;
  const seconds = retryAfter ? Number(retryAfter) : undefined;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    const field = typeof error.details?.field === 'string' ? error.details.field : undefined;
    return new ApiError(status, error.code, error.message, field, Number.isFinite(seconds) ? seconds : undefined);
  }
  return new ApiError(status, status >= 500 ? 'internal' : 'http_error', `the server answered ${status}`, undefined, Number.isFinite(seconds) ? seconds : undefined);
}

const networkError = () => new ApiError(0, 'network', 'the server could not be reached');

// ---------------------------------------------------------------------------
// API key: only when the server has API_KEYS set (it answers 401 otherwise).

const KEY_STORAGE = 'clipmask.apiKey';
let apiKey: string | undefined = readStoredKey();
let unauthorizedListener: ((error: ApiError) => void) | undefined;

function readStoredKey(): string | undefined {
  try {
    return globalThis.localStorage?.getItem(KEY_STORAGE) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Sets (or with '' forgets) the key sent as `Authorization: Bearer`, remembered in this browser. */
export function setApiKey(key: string): void {
  apiKey = key.trim() || undefined;
  try {
    if (apiKey) localStorage.setItem(KEY_STORAGE, apiKey);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: the key lasts until the page is reloaded
  }
}

export function hasApiKey(): boolean {
  return apiKey !== undefined;
}

/** Called on every 401 (no key, or a wrong one). */
export function onUnauthorized(listener: (error: ApiError) => void): void {
  unauthorizedListener = listener;
}

function authHeaders(): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

function failed(error: ApiError): ApiError {
  if (error.status === 401) unauthorizedListener?.(error);
  return error;
}

async function send(method: string, url: string, init: { json?: unknown; signal?: AbortSignal; keepalive?: boolean; cache?: RequestCache } = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { accept: 'application/json', ...(init.json === undefined ? {} : { 'content-type': 'application/json' }), ...authHeaders() },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      signal: init.signal,
      keepalive: init.keepalive,
      ...(init.cache ? { cache: init.cache } : {}),
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw networkError();
  }
  if (!response.ok) throw failed(errorFromBody(response.status, await response.text().catch(() => ''), response.headers.get('retry-after')));
  return response;
}

async function json<T>(method: string, url: string, init: { json?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const response = await send(method, url, init);
  return (await response.json()) as T;
}

/**
 * POST a multipart form with upload progress (fetch cannot report it).
 * `onProgress` gets 0..1.
 */
export function postForm<T>(url: string, form: FormData, options: { onProgress?: (fraction: number) => void; signal?: AbortSignal } = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('accept', 'application/json');
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable && event.total > 0) options.onProgress?.(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as T);
        } catch {
          reject(new ApiError(xhr.status, 'bad_response', 'the server sent an answer the page cannot read'));
        }
      } else {
        reject(failed(errorFromBody(xhr.status, xhr.responseText, xhr.getResponseHeader('retry-after'))));
      }
    });
    xhr.addEventListener('error', () => reject(networkError()));
    xhr.addEventListener('abort', () => reject(new DOMException('the upload was cancelled', 'AbortError')));
    if (options.signal) {
      if (options.signal.aborted) {
        reject(new DOMException('the upload was cancelled', 'AbortError'));
        return;
      }
      options.signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.send(form);
  });
}

// ---------------------------------------------------------------------------
// Previews

export function createPreview(video: File, options: { onProgress?: (fraction: number) => void; signal?: AbortSignal } = {}): Promise<Preview> {
  const form = new FormData();
  form.append('video', video, video.name || 'video');
  return postForm<Preview>('/v1/previews', form, options);
}

export function frameUrl(previewId: string, frame: number): string {
  return `/v1/previews/${encodeURIComponent(previewId)}/frames/${frame}.jpg`;
}

/** A frame, decoded. */
export async function loadFrame(previewId: string, frame: number, signal?: AbortSignal): Promise<ImageBitmap> {
  const response = await send('GET', frameUrl(previewId, frame), { signal });
  const blob = await response.blob();
  return createImageBitmap(blob);
}

/** Asks the server to compute (and cache) a frame's embedding, so the first click on it is fast. */
export async function prepareFrame(previewId: string, frame: number, signal?: AbortSignal): Promise<void> {
  await send('POST', `/v1/previews/${encodeURIComponent(previewId)}/frames/${frame}/embedding`, { signal });
}

export function previewMask(previewId: string, request: MaskRequest, signal?: AbortSignal): Promise<MaskResponse> {
  return json<MaskResponse>('POST', `/v1/previews/${encodeURIComponent(previewId)}/masks`, { json: request, signal });
}

/** Deletes a preview; `keepalive` lets it finish while the page unloads. Errors are ignored. */
export function deletePreview(previewId: string, keepalive = false): void {
  void send('DELETE', `/v1/previews/${encodeURIComponent(previewId)}`, { keepalive }).catch(() => undefined);
}

// ---------------------------------------------------------------------------
// Jobs

export function submitJob(video: File, prompts: PromptsBody, options: { onProgress?: (fraction: number) => void; signal?: AbortSignal } = {}): Promise<{ id: string; statusUrl: string }> {
  const form = new FormData();
  // The prompts first: the server can refuse bad prompts before the whole video is in.
  form.append('prompts', JSON.stringify(prompts));
  form.append('video', video, video.name || 'video');
  return postForm('/v1/jobs', form, options);
}

export function getJob(id: string, signal?: AbortSignal): Promise<JobStatus> {
  return json<JobStatus>('GET', `/v1/jobs/${encodeURIComponent(id)}`, { signal });
}

export function listJobs(limit = 20, offset = 0, signal?: AbortSignal): Promise<JobList> {
  return json<JobList>('GET', `/v1/jobs?limit=${limit}&offset=${offset}`, { signal });
}

/** Cancels a queued or running job (the job comes back, cancelled) or deletes a finished one (null). */
export async function deleteJob(id: string): Promise<JobStatus | null> {
  const response = await send('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
  return response.status === 204 ? null : ((await response.json()) as JobStatus);
}

export interface JobFrameOptions {
  /** Paint the masks on it (as overlay.mp4 does). */
  overlay: boolean;
  /** Cache-busting: the same frame of another revision is another URL. */
  revision: number;
}

export function jobFrameUrl(id: string, frame: number, options: JobFrameOptions): string {
  return `/v1/jobs/${encodeURIComponent(id)}/frames/${frame}.jpg?${options.overlay ? 'overlay=1&' : ''}rev=${options.revision}`;
}

/**
 * A job's frame as a JPEG blob, fetched with the API key (an <img> could
 * not send it). `fresh` skips the browser's cache: during a correction a
 * frame changes under the same URL. 404 frame_not_ready: not tracked yet.
 */
export async function loadJobFrame(id: string, frame: number, options: JobFrameOptions & { fresh?: boolean; signal?: AbortSignal }): Promise<Blob> {
  const response = await send('GET', jobFrameUrl(id, frame, options), { signal: options.signal, cache: options.fresh ? 'no-store' : undefined });
  return response.blob();
}

/** The frame records (masks.json's) of frames [from, to) that are final so far. */
export function jobMasks(id: string, from: number, to: number, signal?: AbortSignal): Promise<JobMasks> {
  return json<JobMasks>('GET', `/v1/jobs/${encodeURIComponent(id)}/masks?from=${from}&to=${to}`, { signal });
}

/** Asks for a correction; the job re-tracks and reaches `revision` when done. */
export function correctJob(id: string, body: CorrectionBody, signal?: AbortSignal): Promise<{ revision: number }> {
  return json<{ revision: number }>('POST', `/v1/jobs/${encodeURIComponent(id)}/corrections`, { json: body, signal });
}

/**
 * Asks for a render of a succeeded job (202: queued; 200: the same render
 * was already asked for, as it is). It shows in the job's `renders`.
 */
export function requestRender(id: string, body: RenderRequest, signal?: AbortSignal): Promise<RenderStatus> {
  return json<RenderStatus>('POST', `/v1/jobs/${encodeURIComponent(id)}/renders`, { json: body, signal });
}

/** An artifact's URL for a revision: a new revision is a new URL, so the browser fetches it again. Signed links keep their query. */
export function revisionUrl(url: string, revision: number): string {
  if (revision <= 0) return url;
  return `${url}${url.includes('?') ? '&' : '?'}rev=${revision}`;
}

export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];
export const isTerminal = (state: JobState) => TERMINAL_STATES.includes(state);
