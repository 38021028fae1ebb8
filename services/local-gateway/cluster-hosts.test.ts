import { describe, expect, it } from 'vitest';
import { ClusterHosts } from './cluster-hosts.ts';

describe('cluster hosts (the gateway’s EDS)', () => {
  it('follows the newest table, whatever order the tables arrive in', () => {
    const hosts = new ClusterHosts();
    expect(hosts.apply(10, new Map([['local/api', true]]))).toEqual([['local/api', true]]);
    // Asleep and awake again by revision 30; a worker's poll answered at 20 (asleep) arrives last.
    expect(hosts.apply(30, new Map([['local/api', true]]))).toEqual([]);
    expect(hosts.apply(20, new Map([['local/api', false]]))).toEqual([]);
    expect(hosts.apply(40, new Map([['local/api', false]]))).toEqual([['local/api', false]]);
    // A table of the same revision says the same; one of a backend not seen before counts at once.
    expect(
      hosts.apply(
        40,
        new Map([
          ['local/api', false],
          ['local/web', true],
        ]),
      ),
    ).toEqual([['local/web', true]]);
  });
});
