import { describe, expect, it } from 'vitest';
import { BRIDGE_TOKEN_SECRET, NATS_PASSWORDS_SECRET, planSecrets, type SecretsState } from './plan.ts';

const keys = ['bridge', 'watcher', 'scaler'];

function counter() {
  let n = 0;
  return () => `secret-${++n}`;
}

const empty: SecretsState = {
  home: 'wakegate',
  token: undefined,
  natsPasswords: undefined,
  copies: new Map(),
};

describe('planSecrets', () => {
  it('makes the token and every NATS password on a fresh cluster, and copies the token to each gateway namespace', () => {
    const writes = planSecrets(
      { ...empty, copies: new Map([['wakegate-edge', undefined]]) },
      keys,
      counter(),
    );
    expect(writes).toEqual([
      {
        namespace: 'wakegate',
        name: BRIDGE_TOKEN_SECRET,
        values: { token: 'secret-1' },
        resourceVersion: undefined,
        changed: ['token'],
        action: 'made',
      },
      {
        namespace: 'wakegate',
        name: NATS_PASSWORDS_SECRET,
        values: { bridge: 'secret-2', watcher: 'secret-3', scaler: 'secret-4' },
        resourceVersion: undefined,
        changed: keys,
        action: 'made',
      },
      {
        namespace: 'wakegate-edge',
        name: BRIDGE_TOKEN_SECRET,
        values: { token: 'secret-1' },
        resourceVersion: undefined,
        changed: ['token'],
        action: 'copied',
      },
    ]);
  });

  it('changes nothing once everything is set, whatever the values', () => {
    const writes = planSecrets(
      {
        home: 'wakegate',
        token: { values: { token: 'chosen-by-the-operator', previous: 'old' }, resourceVersion: '7' },
        natsPasswords: { values: { bridge: 'a', watcher: 'b', scaler: 'c' }, resourceVersion: '8' },
        copies: new Map([
          ['wakegate-edge', { values: { token: 'chosen-by-the-operator' }, resourceVersion: '9' }],
        ]),
      },
      keys,
      counter(),
    );
    expect(writes).toEqual([]);
  });

  it('fills an empty token and a missing password in place, keeping the other keys and naming the version it read', () => {
    const writes = planSecrets(
      {
        ...empty,
        token: { values: { token: '' }, resourceVersion: '3' },
        natsPasswords: { values: { bridge: 'a', watcher: '' }, resourceVersion: '4' },
      },
      keys,
      counter(),
    );
    expect(writes.map((w) => [w.name, w.values, w.resourceVersion, w.changed])).toEqual([
      [BRIDGE_TOKEN_SECRET, { token: 'secret-1' }, '3', ['token']],
      [
        NATS_PASSWORDS_SECRET,
        { bridge: 'a', watcher: 'secret-2', scaler: 'secret-3' },
        '4',
        ['watcher', 'scaler'],
      ],
    ]);
  });

  it('carries a rotated token to a copy that still holds the old one, and never copies into the home namespace', () => {
    const writes = planSecrets(
      {
        ...empty,
        token: { values: { token: 'new', previous: 'old' }, resourceVersion: '5' },
        natsPasswords: { values: { bridge: 'a', watcher: 'b', scaler: 'c' }, resourceVersion: '6' },
        copies: new Map([
          ['wakegate', undefined],
          ['edge', { values: { token: 'old' }, resourceVersion: '2' }],
        ]),
      },
      keys,
      counter(),
    );
    expect(writes).toEqual([
      {
        namespace: 'edge',
        name: BRIDGE_TOKEN_SECRET,
        values: { token: 'new' },
        resourceVersion: '2',
        changed: ['token'],
        action: 'copied',
      },
    ]);
  });

  it('makes again a NATS password nats-server would not read as it is (a number or a date), and keeps the rest', () => {
    const writes = planSecrets(
      {
        ...empty,
        token: { values: { token: 'kept-token' }, resourceVersion: '1' },
        natsPasswords: {
          values: { bridge: '-Ab3fromAnEarlierRelease', watcher: '7-Ab3', scaler: '7Ab3-kept' },
          resourceVersion: '2',
        },
      },
      keys,
      counter(),
    );
    expect(writes).toEqual([
      {
        namespace: 'wakegate',
        name: NATS_PASSWORDS_SECRET,
        values: { bridge: 'secret-1', watcher: 'secret-2', scaler: '7Ab3-kept' },
        resourceVersion: '2',
        changed: ['bridge', 'watcher'],
        action: 'made',
      },
    ]);
  });
});
