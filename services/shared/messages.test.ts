import { describe, expect, it } from 'vitest';
import { PayloadError } from './errors.ts';
import { codecs } from './messages.ts';

describe('NATS payload codecs', () => {
  it('round-trips a backend record', () => {
    const record = {
      id: 'shop/api.v2',
      hosts: ['api.example.com', '*.api.example.com'],
      ready: true,
      replicas: 1,
      readyReplicas: 1,
      config: {
        idleTimeoutMs: 300_000,
        wakeReplicas: 1,
        maxWaitMs: 30_000,
        maxBuffered: 1000,
        probePath: '/ready',
      },
      updatedAt: 1_700_000_000_000,
    };
    expect(codecs.backend.decode(codecs.backend.encode(record))).toEqual(record);
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['a wrong type', JSON.stringify({ backend: 'a/b', at: 'now', source: 'x' }), /\/at/],
    ['an extra field', JSON.stringify({ backend: 'a/b', at: 1, source: 'x', extra: 1 }), /additional|extra/i],
    ['a hostile backend', JSON.stringify({ backend: 'a/b.>', at: 1, source: 'x' }), /backend/],
    ['a namespace over 63', JSON.stringify({ backend: `${'n'.repeat(64)}/b`, at: 1, source: 'x' }), /63/],
  ])('rejects a wake message with %s', (_, text, reason) => {
    expect(() => codecs.wake.decode(text)).toThrow(PayloadError);
    expect(() => codecs.wake.decode(text)).toThrow(reason);
  });
});
