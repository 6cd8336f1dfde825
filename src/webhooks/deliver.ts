import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { checkWebhookUrl, hostOf, refusedAddress, type WebhookPolicy } from './url-policy.js';

/**
 * One delivery attempt: a POST to the webhook with node:http(s), nothing
 * else. The address connected to is the address checked: the request's
 * `lookup` checks every address the host resolves to before the socket
 * connects, so a name that resolved to a public address at submission and to
 * 10.0.0.1 now (DNS rebinding) is refused. Redirects are never followed (the
 * answer is returned as is: for the caller a 3xx is not a 2xx).
 */

export type DeliveryErrorCode = 'address_refused' | 'timeout' | 'network';

export class DeliveryError extends Error {
  override name = 'DeliveryError';
  constructor(
    message: string,
    readonly code: DeliveryErrorCode,
  ) {
    super(message);
  }
}

export interface DeliveryRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
}

export interface DeliveryOptions extends WebhookPolicy {
  /** The whole attempt, connecting included, up to the answer's headers. */
  timeoutMs: number;
}

export type Deliver = (request: DeliveryRequest) => Promise<{ status: number }>;

/** A `lookup` that resolves every address and refuses the lot if any is not allowed. */
export function guardedLookup(url: URL, policy: WebhookPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const refused = addresses.map((a) => refusedAddress(url, a.address, policy)).find((reason) => reason !== undefined);
      if (refused) return callback(new DeliveryError(refused, 'address_refused'), '', 0);
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

export function deliverWebhook(request: DeliveryRequest, options: DeliveryOptions): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = checkWebhookUrl(request.url, options);
    } catch (error) {
      return reject(new DeliveryError((error as Error).message, 'address_refused'));
    }
    // An address literal is connected to without a lookup: check it here.
    const host = hostOf(url);
    const literal = isIP(host) ? refusedAddress(url, host, options) : undefined;
    if (literal) return reject(new DeliveryError(literal, 'address_refused'));

    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'POST',
      headers: { ...request.headers, 'Content-Length': String(Buffer.byteLength(request.body)) },
      lookup: guardedLookup(url, options),
      // A fresh connection per attempt: every attempt resolves and checks again.
      agent: false,
    });
    const timer = setTimeout(() => req.destroy(new DeliveryError(`no answer within ${options.timeoutMs} ms`, 'timeout')), options.timeoutMs);
    req.on('response', (res: IncomingMessage) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode ?? 0 });
      // The body is not read: drain it, but no longer than an attempt may take.
      const drain = setTimeout(() => res.destroy(), options.timeoutMs);
      res.on('close', () => clearTimeout(drain)).resume();
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error instanceof DeliveryError ? error : new DeliveryError(`could not deliver: ${(error as NodeJS.ErrnoException).code ?? error.message}`, 'network'));
    });
    req.end(request.body);
  });
}
