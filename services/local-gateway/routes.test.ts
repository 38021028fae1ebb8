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
