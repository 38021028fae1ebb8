import { describe, expect, it } from 'vitest';
import { downstreamHeaders, pairsToHeaders, upstreamHeaders } from './headers.ts';

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
