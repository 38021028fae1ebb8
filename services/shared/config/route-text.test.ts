import { describe, expect, it } from 'vitest';
import { parseRouteText } from './route-text.ts';

describe('routes as text (Docker labels)', () => {
  it('reads hosts, prefixes, exact paths and header matches', () => {
    expect(
      parseRouteText(
        'Shop.localhost/api, shop.localhost/healthz exact ,shop.localhost header:X-Canary=yes header:x-v=2',
      ),
    ).toEqual([
      { host: 'shop.localhost', path: { type: 'PathPrefix', value: '/api' } },
      { host: 'shop.localhost', path: { type: 'Exact', value: '/healthz' } },
      {
        host: 'shop.localhost',
        headers: [
          { name: 'x-canary', value: 'yes' },
          { name: 'x-v', value: '2' },
        ],
      },
    ]);
    expect(parseRouteText(' , ')).toEqual([]);
  });

  it("reads a method match, one of Gateway API's, and refuses any other", () => {
    expect(parseRouteText('shop.localhost/upload method:POST header:x-v=2')).toEqual([
      {
        host: 'shop.localhost',
        path: { type: 'PathPrefix', value: '/upload' },
        method: 'POST',
        headers: [{ name: 'x-v', value: '2' }],
      },
    ]);
    expect(() => parseRouteText('shop.localhost method:post')).toThrow(
      /"shop.localhost method:post": expected a method of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, got "post"$/,
    );
    expect(() => parseRouteText('shop.localhost method:GET method:PUT')).toThrow(/more than one method/);
  });

  it('reads query parameter matches, names as written, and refuses an empty value', () => {
    expect(parseRouteText('shop.localhost/search query:v=2 query:Debug=on')).toEqual([
      {
        host: 'shop.localhost',
        path: { type: 'PathPrefix', value: '/search' },
        queryParams: [
          { name: 'v', value: '2' },
          { name: 'Debug', value: 'on' },
        ],
      },
    ]);
    expect(() => parseRouteText('shop.localhost query:v=')).toThrow(
      /: expected query parameter values of 1 to 1024 characters \(parameter v\)$/,
    );
    expect(() => parseRouteText('shop.localhost query:a b=1')).toThrow(/is none of exact/);
    // A name given twice could never match (a request has one first value, one joined header value).
    expect(() => parseRouteText('shop.localhost query:v=1 query:v=2')).toThrow(
      /: expected each query parameter name once, got v twice$/,
    );
    expect(() => parseRouteText('shop.localhost header:X-A=1 header:x-a=2')).toThrow(
      /: expected each header name once, got x-a twice$/,
    );
  });

  it('names the entry that is wrong', () => {
    expect(() => parseRouteText('shop.localhost/a, bad host/x')).toThrow(/"bad host\/x": .* is none of/);
    expect(() => parseRouteText('shop.localhost exact')).toThrow(
      /"shop.localhost exact": exact needs a path/,
    );
    expect(() => parseRouteText('shop..localhost/a')).toThrow(/not a host/);
  });

  it('refuses a route beyond what a record may carry, which the bridge would leave out of every table', () => {
    const headers = (n: number) => Array.from({ length: n }, (_, i) => `header:x-${i}=v`).join(' ');
    expect(parseRouteText(`shop.localhost/${'a'.repeat(1023)} ${headers(16)}`)[0]?.headers).toHaveLength(16);
    expect(() => parseRouteText(`shop.localhost/${'a'.repeat(1024)}`)).toThrow(
      /: expected a path of at most 1024 characters$/,
    );
    expect(() => parseRouteText(`shop.localhost ${headers(17)}`)).toThrow(
      /: expected at most 16 header matches$/,
    );
    expect(() => parseRouteText(`shop.localhost header:x-a=${'v'.repeat(4097)}`)).toThrow(
      /: expected header values of at most 4096 characters \(header x-a\)$/,
    );
    expect(() => parseRouteText(`shop.localhost header:${'n'.repeat(257)}=v`)).toThrow(
      /: expected header names of at most 256 token characters/,
    );
    expect(() => parseRouteText('shop.localhost/a\udc00')).toThrow(
      /: expected a path of well-formed Unicode text \(it has an unpaired surrogate\)$/,
    );
  });
});
