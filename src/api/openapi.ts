import { z } from 'zod';
import type { Config } from '../config.js';
import { promptsSchema } from '../prompts.js';
import {
  errorResponseSchema,
  healthResponseSchema,
  jobListSchema,
  jobStatusSchema,
  previewMaskRequestSchema,
  previewMaskSchema,
  previewSessionSchema,
  readyResponseSchema,
  renderStatusSchema,
  submitResponseSchema,
} from './schemas.js';
import { OUTPUT_PURPOSES, RENDER_OUTPUTS, renderRequestSchema } from '../output/render-spec.js';

/**
 * /v1/openapi.json, generated from the zod schemas the handlers use (and the
 * prompts schema the CLI uses), so the document cannot drift from the code.
 */

type JsonObject = Record<string, unknown>;

function componentSchemas(config: Config): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  registry.add(jobStatusSchema, { id: 'JobStatus' });
  registry.add(jobListSchema, { id: 'JobList' });
  registry.add(submitResponseSchema, { id: 'SubmitResponse' });
  registry.add(errorResponseSchema, { id: 'Error' });
  registry.add(readyResponseSchema, { id: 'Ready' });
  registry.add(healthResponseSchema, { id: 'Health' });
  registry.add(previewSessionSchema, { id: 'PreviewSession' });
  registry.add(previewMaskSchema, { id: 'PreviewMask' });
  registry.add(renderStatusSchema, { id: 'RenderStatus' });
  const outputs = z.toJSONSchema(registry, { uri: (id) => `#/components/schemas/${id}`, io: 'output', unrepresentable: 'any' }).schemas;
  const previewRequest = z.toJSONSchema(previewMaskRequestSchema, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  const renderRequest = z.toJSONSchema(renderRequestSchema, { io: 'input', unrepresentable: 'any' }) as JsonObject;

  const prompts = z.toJSONSchema(promptsSchema(config.limits.maxObjects), { io: 'input', unrepresentable: 'any' }) as JsonObject;
  const all: Record<string, JsonObject> = { ...(outputs as Record<string, JsonObject>), Prompts: prompts, PreviewMaskRequest: previewRequest, RenderRequest: renderRequest };
  for (const schema of Object.values(all)) {
    delete schema.$schema;
    delete schema.$id;
  }
  return all;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ 'application/json': { schema: ref(name) } });
const errorResponse = (description: string) => ({ description, content: json('Error') });
const frameParam = { name: 'frame', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } };
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };

export function buildOpenApi(config: Config): JsonObject {
  const { limits } = config;
  return {
    openapi: '3.1.0',
    info: {
      title: 'ClipMask',
      version: '1',
      description:
        'Track objects through a video from a few clicks (SAM-PT). Submit a video and prompts, poll the job, download the overlay video and the masks. ' +
        'Errors always have the shape {error: {code, message, details?}}.',
    },
    paths: {
      '/v1/jobs': {
        post: {
          summary: 'Submit a video and prompts',
          description:
            `The video is probed before anything is queued. Limits: ${limits.maxUploadBytes} bytes, ${limits.maxPixels} pixels per frame, ` +
            `${limits.maxFrames} frames, ${limits.maxDurationSeconds} s, ${limits.maxObjects} objects.`,
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['video', 'prompts'],
                  properties: {
                    video: { type: 'string', format: 'binary', description: 'the video file (mp4, mov, mkv, webm, avi ...)' },
                    prompts: { ...ref('Prompts'), description: 'JSON text (a field or a file part)' },
                  },
                },
                encoding: { prompts: { contentType: 'application/json, text/plain' } },
              },
            },
          },
          responses: {
            '202': { description: 'Accepted and queued', headers: { Location: { schema: { type: 'string' } } }, content: json('SubmitResponse') },
            '400': errorResponse(
              'Bad prompts or a broken video; details.field names the offending field (prompts.webhook: webhook_not_allowed for a refused URL, webhooks_not_configured when the server has no WEBHOOK_SECRET)',
            ),
            '413': errorResponse('Upload, frame size, frame count or duration over the limit'),
            '415': errorResponse('Not multipart/form-data, or the file is not a video'),
            '429': errorResponse('The queue is full; retry after Retry-After seconds'),
            '503': errorResponse('The job store is unreachable (unavailable) or at its memory limit (redis_full); nothing was filed: retry after Retry-After seconds'),
          },
        },
        get: {
          summary: 'Recent jobs, newest first',
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
            { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
          ],
          responses: { '200': { description: 'A page of jobs', content: json('JobList') }, '400': errorResponse('Bad limit or offset') },
        },
      },
      '/v1/jobs/{id}': {
        get: {
          summary: 'Job status',
          parameters: [idParam],
          responses: { '200': { description: 'The job', content: json('JobStatus') }, '404': errorResponse('No such job') },
        },
        delete: {
          summary: 'Cancel a queued or running job (its files are deleted); delete a finished job',
          parameters: [idParam],
          responses: {
            '200': { description: 'Cancelled: state is cancelled; a running job stops within seconds', content: json('JobStatus') },
            '204': { description: 'A finished job was deleted (files and record)' },
            '404': errorResponse('No such job'),
          },
        },
      },
      ...Object.fromEntries(
        [
          ['overlay.mp4', 'video/mp4', 'The input with the masks painted over it; supports Range requests'],
          ['masks.json', 'application/json', 'Per frame and object: COCO RLE mask, bbox, area, score, visible'],
          ['masks.zip', 'application/zip', 'One indexed PNG per frame (pixel value = object id)'],
          ['instances.json', 'application/json', OUTPUT_PURPOSES['instances.json']],
          ['{render}', 'video/*', `A render by its file name (renders[].file in the status): ${RENDER_OUTPUTS.join(', ')} and their variants`],
        ].map(([file, type, description]) => [
          `/v1/jobs/{id}/artifacts/${file}`,
          {
            get: {
              summary: description,
              parameters: [idParam, { name: 'Range', in: 'header', required: false, schema: { type: 'string' } }],
              responses: {
                '200': { description: file, content: { [type]: { schema: { type: 'string', format: 'binary' } } } },
                '206': { description: 'Partial content (Range)' },
                '404': errorResponse('No such job, or the job has not succeeded'),
              },
            },
          },
        ]),
      ),
      '/v1/jobs/{id}/renders': {
        post: {
          summary: 'Ask for a render of a succeeded job (cut-out, matte, effect), made from its newest masks',
          description: Object.entries(OUTPUT_PURPOSES)
            .filter(([name]) => (RENDER_OUTPUTS as readonly string[]).includes(name))
            .map(([name, purpose]) => `${name}: ${purpose}.`)
            .join(' '),
          parameters: [idParam],
          requestBody: { required: true, content: json('RenderRequest') },
          responses: {
            '202': { description: 'Queued: the render appears in the status (renders[]) and succeeds with a url', content: json('RenderStatus') },
            '200': { description: 'The same render was already asked for: how it is going', content: json('RenderStatus') },
            '400': errorResponse('An unknown output or effect, a bad feather, or objects the job does not have (error.details.field names it)'),
            '409': errorResponse('The job has not succeeded (queued, running, correcting, failed or cancelled), or has the most renders one job keeps'),
          },
        },
      },
      '/v1/previews': {
        post: {
          summary: 'Upload a video for live previews (what the web page uses before submitting a job)',
          description: `The same checks and limits as a job's video. Sessions unused for ${config.previewTtlMs / 60_000} minutes are deleted.`,
          requestBody: {
            required: true,
            content: { 'multipart/form-data': { schema: { type: 'object', required: ['video'], properties: { video: { type: 'string', format: 'binary' } } } } },
          },
          responses: {
            '201': { description: 'The preview session', content: json('PreviewSession') },
            '400': errorResponse('A broken video'),
            '413': errorResponse('Over the limits'),
            '415': errorResponse('Not multipart, or not a video'),
          },
        },
      },
      '/v1/previews/{id}': {
        get: { summary: 'A preview session', parameters: [idParam], responses: { '200': { description: 'The session', content: json('PreviewSession') }, '404': errorResponse('No such session') } },
        delete: { summary: 'Delete a preview session', parameters: [idParam], responses: { '204': { description: 'Deleted' }, '404': errorResponse('No such session') } },
      },
      '/v1/previews/{id}/frames/{frame}.jpg': {
        get: {
          summary: 'A frame of the video as JPEG',
          parameters: [idParam, frameParam],
          responses: { '200': { description: 'JPEG', content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } } } }, '400': errorResponse('No such frame'), '404': errorResponse('No such session') },
        },
      },
      '/v1/previews/{id}/frames/{frame}/embedding': {
        post: {
          summary: "Compute and cache a frame's embedding (~1 s), so the clicks on it are answered with the decoder only",
          parameters: [idParam, frameParam],
          responses: { '204': { description: 'Cached' }, '400': errorResponse('No such frame'), '404': errorResponse('No such session') },
        },
      },
      '/v1/previews/{id}/masks': {
        post: {
          summary: 'The mask some clicks (and a box) give on one frame',
          parameters: [idParam],
          requestBody: { required: true, content: json('PreviewMaskRequest') },
          responses: {
            '200': { description: 'The mask', content: json('PreviewMask') },
            '400': errorResponse('Bad points, box or frame; details.field names it'),
            '404': errorResponse('No such session'),
            '503': errorResponse('The model is not available yet'),
          },
        },
      },
      '/healthz': { get: { summary: 'The process is up', responses: { '200': { description: 'ok', content: json('Health') } } } },
      '/readyz': {
        get: {
          summary: 'Redis reachable and a worker has its model loaded',
          responses: { '200': { description: 'ready', content: json('Ready') }, '503': { description: 'not ready', content: json('Ready') } },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } } },
      '/v1/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/admin/queues': { get: { summary: 'The BullMQ dashboard (bull-board, HTML)', responses: { '200': { description: 'HTML' } } } },
    },
    components: { schemas: componentSchemas(config) },
  };
}
