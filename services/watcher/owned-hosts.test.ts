import { describe, expect, it } from 'vitest';
import { OwnedHosts } from './owned-hosts.ts';

describe('OwnedHosts', () => {
  it('resolves again when a host or a creation time changed, and answers as before when none did', () => {
    const hosts = new OwnedHosts({});
    const a = { id: 'one/a', hosts: ['x.example.com'], createdAt: 1 };
    const b = { id: 'two/b', hosts: ['x.example.com'], createdAt: 2 };
    const first = hosts.resolve([a, b]);
    expect(first.owned.get('one/a')).toEqual(['x.example.com']);
    // Other objects with the same claims, as a readiness change hands them over.
    expect(hosts.resolve([{ ...a }, { ...b, hosts: ['x.example.com'] }])).toBe(first);
    // b is now the earlier claimant.
    const moved = hosts.resolve([a, { ...b, createdAt: 0 }]);
    expect(moved.owned.get('two/b')).toEqual(['x.example.com']);
    expect(moved.owned.get('one/a')).toEqual([]);
    const dropped = hosts.resolve([a]);
    expect(dropped.owned.get('one/a')).toEqual(['x.example.com']);
    expect(hosts.resolve([a, { ...b, hosts: ['y.example.com'] }]).owned.get('two/b')).toEqual([
      'y.example.com',
    ]);
  });
});
