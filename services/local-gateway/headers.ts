/** Header handling of a proxy: what goes to the filter and upstream, and what comes back to the client. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { HeaderPairs } from '../../wasm-filter/host/index.ts';

/** Connection-level headers (RFC 9110 §7.6.1, plus HTTP/2's own): never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
]);

/** Headers only wakegate may set: a client's are dropped before the filter sees the request, as
 * infra/envoy/envoy.yaml's early header mutation does, so no backend takes a client's word for them. */
const WAKEGATE_ONLY = new Set(['x-wakegate-held-ms']);

export function authorityOf(request: IncomingMessage | Http2ServerRequest): string {
  return (request.headers[':authority'] as string | undefined) ?? request.headers.host ?? '';
}

/** The request as the filter sees it: pseudo-headers first, then every header in arrival order (less the
 * connection's own and wakegate's). */
export function requestPairs(request: IncomingMessage | Http2ServerRequest): HeaderPairs {
  const pairs: HeaderPairs = [
    [':method', request.method ?? 'GET'],
    [':path', request.url ?? '/'],
    [':authority', authorityOf(request)],
    [':scheme', 'http'],
  ];
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name.startsWith(':') || name === 'host' || HOP_BY_HOP.has(name) || WAKEGATE_ONLY.has(name)) continue;
    pairs.push([name, raw[i + 1] as string]);
  }
  return pairs;
}

/** Headers for the upstream request from the pairs the filter let through (it may have added some). */
export function upstreamHeaders(
  pairs: HeaderPairs,
  clientAddress: string | undefined,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const add = (name: string, value: string) => {
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else headers[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  };
  for (const [name, value] of pairs) {
    if (name === ':authority') add('host', value);
    else if (!name.startsWith(':') && !HOP_BY_HOP.has(name)) add(name, value);
  }
  if (clientAddress) {
    const previous = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = previous
      ? `${[previous].flat().join(', ')}, ${clientAddress}`
      : clientAddress;
  }
  headers['x-forwarded-proto'] = 'http';
  return headers;
}

/** Upstream response headers fit for the client, HTTP/1.1 or HTTP/2. */
export function downstreamHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export function pairsToHeaders(pairs: HeaderPairs): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    if (name.startsWith(':') || HOP_BY_HOP.has(name)) continue;
    const existing = out[name];
    out[name] = existing === undefined ? value : [...[existing].flat(), value];
  }
  return out;
}
