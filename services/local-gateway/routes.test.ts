import { describe, expect, it } from 'vitest';
import { RouteTable } from './routes.ts';

const table = new RouteTable([
  { id: 'local/demo', url: 'http://127.0.0.1:3001', hosts: ['demo.localhost'] },
  { id: 'local/apps', url: 'http://127.0.0.1:3002', hosts: ['*.apps.test', 'apps.test'] },
  { id: 'local/special', url: 'http://127.0.0.1:3003', hosts: ['special.apps.test'] },
]);

describe('route table', () => {
  it('matches exact hosts case-insensitively, ignoring the port', () => {
    expect(table.find('demo.localhost')?.backend).toBe('local/demo');
    expect(table.find('DEMO.localhost:8080')?.url).toBe('http://127.0.0.1:3001');
  });

  it('prefers an exact host over a wildcard, and matches wildcards at any depth', () => {
    expect(table.find('special.apps.test')?.backend).toBe('local/special');
    expect(table.find('one.apps.test')?.backend).toBe('local/apps');
    expect(table.find('a.b.apps.test')?.backend).toBe('local/apps');
    expect(table.find('apps.test')?.backend).toBe('local/apps');
  });

  it('finds nothing for other or malformed hosts', () => {
    expect(table.find('other.localhost')).toBeUndefined();
    expect(table.find('')).toBeUndefined();
    expect(table.find('bad host')).toBeUndefined();
  });
});

describe('route table with routes', () => {
  const shop = new RouteTable([
    { id: 'local/web', url: 'http://127.0.0.1:4001', hosts: ['shop.localhost'] },
    {
      id: 'local/api',
      url: 'http://127.0.0.1:4002',
      hosts: [],
      routes: [{ host: 'shop.localhost', path: { type: 'PathPrefix', value: '/api/' } }],
    },
    {
      id: 'local/canary',
      url: 'http://127.0.0.1:4003',
      hosts: [],
      routes: [
        {
          host: 'shop.localhost',
          path: { type: 'PathPrefix', value: '/api' },
          headers: [{ name: 'x-canary', value: 'yes' }],
        },
      ],
    },
    {
      id: 'local/health',
      url: 'http://127.0.0.1:4004',
      hosts: [],
      routes: [{ host: 'shop.localhost', path: { type: 'Exact', value: '/api/health' } }],
    },
  ]);
  const canary = (name: string) => (name === 'x-canary' ? 'yes' : undefined);

  it('picks the most specific route as the filter does', () => {
    expect(shop.find('shop.localhost', '/')?.backend).toBe('local/web');
    expect(shop.find('shop.localhost', '/api')?.backend).toBe('local/api');
    expect(shop.find('shop.localhost', '/api/x?y=1')?.backend).toBe('local/api');
    expect(shop.find('shop.localhost', '/apix')?.backend).toBe('local/web');
    expect(shop.find('shop.localhost', '/api/x', canary)?.backend).toBe('local/canary');
    expect(shop.find('shop.localhost', '/api/health', canary)?.backend).toBe('local/health');
    expect(shop.find('shop.localhost', '/api/health/')?.backend).toBe('local/api');
  });

  it('gives the host model the same order, so each stream names the backend it goes to', () => {
    expect(shop.rules().map((r) => r.cluster)).toEqual([
      'local/health',
      'local/canary',
      'local/api',
      'local/web',
    ]);
    expect(shop.rules()[0]).toMatchObject({ authority: 'shop.localhost', path: '/api/health' });
    expect(shop.rules()[2]).toMatchObject({ pathSeparatedPrefix: '/api' });
  });

  it('takes a method match before header matches, and gives it to the host model as a `:method` header', () => {
    const uploads = new RouteTable([
      { id: 'local/web', url: 'http://127.0.0.1:4001', hosts: ['shop.localhost'] },
      {
        id: 'local/upload',
        url: 'http://127.0.0.1:4002',
        hosts: [],
        routes: [{ host: 'shop.localhost', path: { type: 'PathPrefix', value: '/api' }, method: 'POST' }],
      },
      {
        id: 'local/canary',
        url: 'http://127.0.0.1:4003',
        hosts: [],
        routes: [
          {
            host: 'shop.localhost',
            path: { type: 'PathPrefix', value: '/api' },
            headers: [{ name: 'x-canary', value: 'yes' }],
          },
        ],
      },
    ]);
    expect(uploads.find('shop.localhost', '/api/x', canary, 'POST')?.backend).toBe('local/upload');
    expect(uploads.find('shop.localhost', '/api/x', canary, 'GET')?.backend).toBe('local/canary');
    expect(uploads.find('shop.localhost', '/api/x', undefined, 'GET')?.backend).toBe('local/web');
    expect(uploads.rules()[0]).toMatchObject({ cluster: 'local/upload', headers: [[':method', 'POST']] });
  });

  it('matches query parameters as Envoy does (first value, exact, undecoded), and gives them to the host model', () => {
    const search = new RouteTable([
      { id: 'local/web', url: 'http://127.0.0.1:4001', hosts: ['shop.localhost'] },
      {
        id: 'local/v2',
        url: 'http://127.0.0.1:4002',
        hosts: [],
        routes: [{ host: 'shop.localhost', queryParams: [{ name: 'v', value: '2' }] }],
      },
    ]);
    expect(search.find('shop.localhost', '/s?q=a&v=2')?.backend).toBe('local/v2');
    expect(search.find('shop.localhost', '/s?v=1&v=2')?.backend).toBe('local/web');
    expect(search.find('shop.localhost', '/s?v=%32')?.backend).toBe('local/web');
    expect(search.find('shop.localhost', '/s')?.backend).toBe('local/web');
    expect(search.rules()[0]).toMatchObject({ cluster: 'local/v2', queryParams: [['v', '2']] });
  });
});
