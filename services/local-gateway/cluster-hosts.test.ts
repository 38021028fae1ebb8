import { describe, expect, it } from 'vitest';
import { ClusterHosts } from './cluster-hosts.ts';

describe('cluster hosts (the gateway’s EDS)', () => {
  it('adds a host when the newest table says ready, whatever order the tables arrive in', () => {
    const hosts = new ClusterHosts();
    expect(hosts.apply(10, new Map([['local/api', true]]))).toEqual(['local/api']);
    expect(hosts.apply(30, new Map([['local/api', true]]))).toEqual([]);
    // A backend not seen before counts at once; one a table as new already set is left alone.
    expect(
      hosts.apply(
        30,
        new Map([
          ['local/api', false],
          ['local/web', true],
        ]),
      ),
    ).toEqual(['local/web']);
  });

  it('keeps a host while tables say not ready (a drain), and takes it away only when the process stops', () => {
    const hosts = new ClusterHosts();
    hosts.apply(10, new Map([['local/api', true]]));
    expect(hosts.apply(20, new Map([['local/api', false]]))).toEqual([]);
    expect(hosts.stop(['local/api', 'local/web'])).toEqual(['local/api']);
    expect(hosts.stop(['local/api'])).toEqual([]);
    // A worker's older table that still says ready does not bring the stopped backend's host back.
    expect(hosts.apply(10, new Map([['local/api', true]]))).toEqual([]);
    expect(hosts.apply(20, new Map([['local/api', true]]))).toEqual([]);
    // Woken again: the next table that says ready adds it.
    expect(hosts.apply(40, new Map([['local/api', true]]))).toEqual(['local/api']);
  });
});
