import { describe, expect, it } from 'vitest';
import { PayloadError } from '../errors.ts';
import { codecs, decodeMessage } from './codecs.ts';

const validConfig = { idleTimeoutMs: 300_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 1000 };
const validRecord = {
  id: 'shop/api',
  hosts: ['api.example.com'],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: validConfig,
  updatedAt: 1_700_000_000_000,
};

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
    ['maxWaitMs', 24 * 3_600_000 + 1],
    ['maxBuffered', 1_000_001],
  ])(
    'refuses a backend record whose %s is above its ceiling, which would make every filter refuse its table',
    (field, value) => {
      const record = { ...validRecord, config: { ...validConfig, [field]: value } };
      expect(() => codecs.backend.decode(JSON.stringify(record))).toThrow(`/config/${field}`);
      const atCeiling = { ...validRecord, config: { ...validConfig, [field]: value - 1 } };
      expect(codecs.backend.decode(JSON.stringify(atCeiling))).toEqual(atCeiling);
    },
  );

  it.each([
    ['/cluster', (text: string) => ({ cluster: `outbound|80||${text}` })],
    ['/config/probePath', (text: string) => ({ config: { ...validConfig, probePath: `/${text}` } })],
    [
      '/routes/0/path/value',
      (text: string) => ({ routes: [{ host: 'a.example.com', path: { type: 'Exact', value: `/${text}` } }] }),
    ],
    [
      '/routes/0/headers/0/value',
      (text: string) => ({ routes: [{ host: 'a.example.com', headers: [{ name: 'x', value: text }] }] }),
    ],
  ])(
    'refuses a backend record whose %s has an unpaired surrogate, which would make every filter refuse its table',
    (path, fields) => {
      const record = (text: string) => JSON.stringify({ ...validRecord, ...fields(text) });
      expect(() => codecs.backend.decode(record('a\ud800'))).toThrow(path);
      expect(() => codecs.backend.decode(record('\udc00'))).toThrow(path);
      expect(codecs.backend.decode(record('a\u{1F600}'))).toEqual(JSON.parse(record('a\u{1F600}')));
    },
  );

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

describe('decodeMessage', () => {
  const data = codecs.activity.encode({ backend: 'shop/api', requests: 1, inflight: 0, at: 1, source: 'x' });

  it('decodes a message whose subject names the backend of its payload', () => {
    expect(decodeMessage('activity', { subject: 'wakegate.activity.shop.api', data })).toMatchObject({
      backend: 'shop/api',
      requests: 1,
    });
  });

  it.each([
    ['another backend', 'wakegate.activity.shop.web', /does not match/],
    ['another kind', 'wakegate.wake.shop.api', /not a activity subject/],
    ['an invalid token', 'wakegate.activity.Shop.api', /invalid backend id/],
  ])('refuses a subject naming %s', (_what, subject, reason) => {
    expect(() => decodeMessage('activity', { subject, data })).toThrow(PayloadError);
    expect(() => decodeMessage('activity', { subject, data })).toThrow(reason);
  });

  it('refuses an invalid payload on a valid subject', () => {
    const subject = 'wakegate.activity.shop.api';
    expect(() => decodeMessage('activity', { subject, data: new TextEncoder().encode('{') })).toThrow(
      PayloadError,
    );
  });
});
