import { BlockList, isIP } from 'node:net';

/**
 * Where a webhook may point. A webhook makes the server send requests to an
 * address the submitter chose, so without a policy it is a way into the
 * server's own network (SSRF). The rules, checked at submission on the URL and
 * again at delivery on every address the host resolves to (DNS may change):
 *   - https to any public address;
 *   - http only to loopback (development on one machine);
 *   - private, loopback, link-local and reserved addresses only when the
 *     operator allows them (WEBHOOK_ALLOW_PRIVATE), so loopback needs it too.
 */

export type WebhookUrlErrorCode = 'webhook_not_allowed';

export class WebhookUrlError extends Error {
  override name = 'WebhookUrlError';
  readonly code: WebhookUrlErrorCode = 'webhook_not_allowed';
}

function blockList(v4: [string, number][], v6: [string, number][]): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of v4) list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of v6) list.addSubnet(net, prefix, 'ipv6');
  return list;
}

// IPv4 rules also match IPv4-mapped IPv6 addresses (::ffff:10.0.0.1): BlockList maps them.
const PRIVATE = blockList(
  [
    ['0.0.0.0', 8], // "this network"
    ['10.0.0.0', 8],
    ['100.64.0.0', 10], // carrier-grade NAT
    ['127.0.0.0', 8],
    ['169.254.0.0', 16], // link-local, cloud metadata endpoints
    ['172.16.0.0', 12],
    ['192.0.0.0', 24], // IETF protocol assignments
    ['192.168.0.0', 16],
    ['198.18.0.0', 15], // benchmarking
    ['224.0.0.0', 4], // multicast
    ['240.0.0.0', 4], // reserved, broadcast
  ],
  [
    ['::', 128], // unspecified
    ['::1', 128],
    ['fc00::', 7], // unique local
    ['fe80::', 10], // link-local
    ['fec0::', 10], // site-local (deprecated, still routable inside sites)
    ['ff00::', 8], // multicast
  ],
);

const LOOPBACK = blockList([['127.0.0.0', 8]], [['::1', 128]]);

const family = (address: string) => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

export function isPrivateAddress(address: string): boolean {
  return isIP(address) !== 0 && PRIVATE.check(address, family(address));
}

export function isLoopbackAddress(address: string): boolean {
  return isIP(address) !== 0 && LOOPBACK.check(address, family(address));
}

/** A URL's host as an address or a name: no IPv6 brackets, no trailing dot, lower case. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
}

/** localhost and *.localhost always mean this machine (RFC 6761), whatever DNS says. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || isLoopbackAddress(host);
}

export interface WebhookPolicy {
  allowPrivate: boolean;
}

/**
 * Checks a webhook URL as submitted (the host literally, no DNS: that is the
 * delivery's check). Returns the parsed URL; throws WebhookUrlError.
 */
export function checkWebhookUrl(text: string, policy: WebhookPolicy): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WebhookUrlError('the webhook is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WebhookUrlError('the webhook must be an https URL');
  // The URL is shown in the job status and the logs: no place for a password.
  if (url.username || url.password) throw new WebhookUrlError('the webhook URL may not carry credentials; verify the ClipMask-Signature header instead');
  const host = hostOf(url);
  if (url.protocol === 'http:' && !isLoopbackHost(host)) throw new WebhookUrlError('the webhook must be https (http only to localhost, for development)');
  if (!policy.allowPrivate && (isLoopbackHost(host) || isPrivateAddress(host))) {
    throw new WebhookUrlError(`the webhook's host ${host} is a private or reserved address (allowed only with WEBHOOK_ALLOW_PRIVATE=true)`);
  }
  return url;
}

/**
 * Why the delivery to `url` may not connect to `address` (one the host
 * resolved to), or undefined when it may.
 */
export function refusedAddress(url: URL, address: string, policy: WebhookPolicy): string | undefined {
  if (url.protocol === 'http:' && !isLoopbackAddress(address)) return `http webhooks go to loopback only, and ${hostOf(url)} is at ${address}`;
  if (!policy.allowPrivate && isPrivateAddress(address)) return `${hostOf(url)} is at ${address}, a private or reserved address`;
  return undefined;
}
