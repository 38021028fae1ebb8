import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { joinedHeaderValue } from '../../wasm-filter/host/index.ts';
import { downstreamHeaders, pairsToHeaders, requestPairs, upstreamHeaders } from './headers.ts';

describe('proxy headers', () => {
  it('sends the authority as Host, keeps repeated headers, drops hop-by-hop ones, adds forwarding headers', () => {
    const headers = upstreamHeaders(
      [
        [':method', 'GET'],
        [':path', '/x'],
        [':authority', 'demo.localhost'],
        ['accept', 'a'],
        ['cookie', 'a=1'],
        ['cookie', 'b=2'],
        ['connection', 'keep-alive'],
        ['x-wakegate-held-ms', '12'],
        ['x-forwarded-for', '10.0.0.1'],
      ],
      '127.0.0.1',
    );
    expect(headers).toEqual({
      host: 'demo.localhost',
      accept: 'a',
      cookie: ['a=1', 'b=2'],
      'x-wakegate-held-ms': '12',
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-forwarded-proto': 'http',
    });
  });

  it('gives the client the upstream headers without connection-level ones', () => {
    expect(
      downstreamHeaders({
        'content-type': 'application/json',
        connection: 'close',
        'transfer-encoding': 'chunked',
        'set-cookie': ['a', 'b'],
      }),
    ).toEqual({ 'content-type': 'application/json', 'set-cookie': ['a', 'b'] });
  });

  it('turns a local reply’s pairs into response headers', () => {
    expect(
      pairsToHeaders([
        [':status', '504'],
        ['content-type', 'application/json'],
        ['x-wakegate', 'timeout'],
      ]),
    ).toEqual({ 'content-type': 'application/json', 'x-wakegate': 'timeout' });
  });
});

describe('route header values', () => {
  it('joins a repeated header with `,` in the order sent, as Envoy compares it with a route (Node joins with `, `)', async () => {
    const server = createServer((_, response) => response.end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const received = once(server, 'request') as Promise<[IncomingMessage]>;
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      socket.write(
        'GET / HTTP/1.1\r\nHost: a\r\nX-Canary: a\r\nAccept: */*\r\nx-canary: b\r\nConnection: close\r\n\r\n',
      );
      const [request] = await received;
      socket.destroy();
      expect(request.headers['x-canary']).toBe('a, b');
      // The pairs the filter gets keep each value, in order, so routing joins them as Envoy does.
      const pairs = requestPairs(request);
      expect(joinedHeaderValue(pairs, 'x-canary')).toBe('a,b');
      expect(joinedHeaderValue(pairs, 'accept')).toBe('*/*');
      expect(joinedHeaderValue(pairs, 'x-missing')).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
