import { describe, expect, it } from 'vitest';
import { ClusterHosts } from './cluster-hosts.ts';

describe('cluster hosts (the gateway’s EDS)', () => {
  it('adds a host when a table says ready, whichever bridge and revision the table came from', () => {
    const hosts = new ClusterHosts();
    expect(hosts.apply(new Map([['local/api', false]]))).toEqual([]);
    expect(hosts.apply(new Map([['local/api', true]]))).toEqual(['local/api']);
    expect(
      hosts.apply(
        new Map([
          ['local/api', true],
          ['local/web', true],
        ]),
      ),
    ).toEqual(['local/web']);
  });

  it('keeps a host while tables say not ready (a drain), and takes it away only when the process stops', () => {
    const hosts = new ClusterHosts();
    hosts.apply(new Map([['local/api', true]]));
    expect(hosts.apply(new Map([['local/api', false]]))).toEqual([]);
    expect(hosts.stop(['local/api', 'local/web'])).toEqual(['local/api']);
    expect(hosts.stop(['local/api'])).toEqual([]);
    // Woken again: the next table that says ready adds it.
    expect(hosts.apply(new Map([['local/api', true]]))).toEqual(['local/api']);
  });
});
