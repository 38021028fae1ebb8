/**
 * Every field rule of every NATS payload, at its boundary: the last value accepted and the first refused,
 * with the path and payload name the refusal gives. Literal limits, not the schemas' own, so a changed
 * limit fails here.
 */
import { describe, expect, it } from 'vitest';
import { PayloadError } from '../errors.ts';
import { codecs, decodeMessage, type PayloadCodec } from './codecs.ts';

type Kind = keyof typeof codecs;
type Payload = Record<string, unknown>;

const config = { idleTimeoutMs: 1000, wakeReplicas: 1, maxWaitMs: 1, maxBuffered: 1 };
const valid: Record<Kind, Payload> = {
  backend: {
    id: 'shop/api',
    hosts: ['api.example.com'],
    ready: true,
    replicas: 0,
    readyReplicas: 0,
    config,
    updatedAt: 0,
  },
  intent: { state: 'awake', at: 0, by: '' },
  lease: { holder: 'h', at: 0 },
  bridge: { bridge: 'b', intents: 0, at: 0 },
  wake: { backend: 'shop/api', at: 0, source: '' },
  activity: { backend: 'shop/api', requests: 0, inflight: 0, at: 0, source: '' },
  ready: { backend: 'shop/api', ready: false, replicas: 0, readyReplicas: 0, at: 0 },
  scaled: { backend: 'shop/api', from: 0, to: 1, reason: 'wake', at: 0 },
  sleepRequest: { backend: 'shop/api', force: false },
  sleepReply: { backend: 'shop/api', outcome: 'asleep' },
};
const names: Record<Kind, string> = {
  backend: 'backend record',
  intent: 'intent record',
  lease: 'lease record',
  bridge: 'bridge heartbeat',
  wake: 'wake message',
  activity: 'activity message',
  ready: 'ready message',
  scaled: 'scaled message',
  sleepRequest: 'sleep request',
  sleepReply: 'sleep reply',
};
const decode = (kind: Kind, value: unknown) =>
  (codecs[kind] as PayloadCodec<unknown>).decode(JSON.stringify(value));
const x = (n: number) => 'x'.repeat(n);

describe('NATS payload rules', () => {
  it.each(Object.keys(valid) as Kind[])('accepts the smallest valid %s payload', (kind) => {
    expect(decode(kind, valid[kind])).toEqual(valid[kind]);
  });

  it.each<[Kind, Payload]>([
    ['backend', { hosts: ['*.example.com', 'a'] }],
    ['backend', { hosts: [] }],
    ['backend', { config: { ...config, probePath: '/' } }],
    ['backend', { config: { ...config, probePath: `/${x(2047)}` } }],
    ['backend', { config: { ...config, idleTimeoutMs: 300_000, wakeReplicas: 3 } }],
    ['backend', { id: `n/${x(253)}` }],
    ['intent', { state: 'sleeping', by: x(256) }],
    ['intent', { state: 'stopping' }],
    ['bridge', { bridge: x(256), intents: 123_456 }],
    ['lease', { holder: x(256) }],
    ['wake', { source: x(256) }],
    ['activity', { source: x(256), requests: 5, inflight: 2 }],
    ['ready', { ready: true, replicas: 2, readyReplicas: 1 }],
    ['scaled', { reason: 'idle', from: 1, to: 0 }],
    ['scaled', { reason: 'manual' }],
    ['sleepRequest', { force: true }],
    ['sleepReply', { outcome: 'busy' }],
  ])('accepts a %s payload with %j', (kind, change) => {
    const value = { ...valid[kind], ...change };
    expect(decode(kind, value)).toEqual(value);
  });

  it.each<[Kind, Payload, RegExp]>([
    ['backend', { id: 'Shop/api' }, /^invalid backend record: \/id /],
    ['backend', { id: 'a/' }, /^invalid backend record: \/id /],
    ['backend', { hosts: ['Api.example.com'] }, /^invalid backend record: \/hosts\/0 /],
    ['backend', { hosts: [''] }, /^invalid backend record: \/hosts\/0 /],
    ['backend', { hosts: [`${x(250)}.com`] }, /^invalid backend record: \/hosts\/0 /],
    ['backend', { ready: 'yes' }, /^invalid backend record: \/ready /],
    ['backend', { replicas: -1 }, /^invalid backend record: \/replicas /],
    ['backend', { replicas: 1.5 }, /^invalid backend record: \/replicas /],
    ['backend', { readyReplicas: -1 }, /^invalid backend record: \/readyReplicas /],
    ['backend', { updatedAt: -1 }, /^invalid backend record: \/updatedAt /],
    ['backend', { config: { ...config, idleTimeoutMs: 999 } }, /: \/config\/idleTimeoutMs /],
    ['backend', { config: { ...config, wakeReplicas: 0 } }, /: \/config\/wakeReplicas /],
    ['backend', { config: { ...config, maxWaitMs: 0 } }, /: \/config\/maxWaitMs /],
    ['backend', { config: { ...config, maxBuffered: 0 } }, /: \/config\/maxBuffered /],
    ['backend', { config: { ...config, probePath: 'ready' } }, /: \/config\/probePath /],
    ['backend', { config: { ...config, probePath: `/${x(2048)}` } }, /: \/config\/probePath /],
    ['backend', { config: { ...config, extra: 1 } }, /^invalid backend record: \/config/],
    ['backend', { extra: 1 }, /^invalid backend record: /],
    ['backend', { cluster: '' }, /^invalid backend record: \/cluster /],
    ['backend', { cluster: x(1025) }, /^invalid backend record: \/cluster /],
    ['intent', { state: 'dozing' }, /^invalid intent record: \/state /],
    ['intent', { state: '' }, /^invalid intent record: \/state /],
    ['intent', { at: -1 }, /^invalid intent record: \/at /],
    ['intent', { by: x(257) }, /^invalid intent record: \/by /],
    ['intent', { extra: 1 }, /^invalid intent record: /],
    ['lease', { holder: '' }, /^invalid lease record: \/holder /],
    ['lease', { holder: x(257) }, /^invalid lease record: \/holder /],
    ['lease', { at: -1 }, /^invalid lease record: \/at /],
    ['lease', { extra: 1 }, /^invalid lease record: /],
    ['bridge', { bridge: '' }, /^invalid bridge heartbeat: \/bridge /],
    ['bridge', { intents: -1 }, /^invalid bridge heartbeat: \/intents /],
    ['bridge', { extra: 1 }, /^invalid bridge heartbeat: /],
    ['intent', { generation: -1 }, /^invalid intent record: \/generation /],
    ['intent', { generation: 1.5 }, /^invalid intent record: \/generation /],
    ['intent', { state: 'stopped' }, /^invalid intent record: \/state /],
    ['wake', { backend: 'Shop/api' }, /^invalid wake message: \/backend /],
    ['wake', { at: -1 }, /^invalid wake message: \/at /],
    ['wake', { source: x(257) }, /^invalid wake message: \/source /],
    ['wake', { extra: 1 }, /^invalid wake message: /],
    ['activity', { requests: -1 }, /^invalid activity message: \/requests /],
    ['activity', { inflight: -1 }, /^invalid activity message: \/inflight /],
    ['activity', { at: -1 }, /^invalid activity message: \/at /],
    ['activity', { source: x(257) }, /^invalid activity message: \/source /],
    ['activity', { extra: 1 }, /^invalid activity message: /],
    ['ready', { ready: 1 }, /^invalid ready message: \/ready /],
    ['ready', { replicas: -1 }, /^invalid ready message: \/replicas /],
    ['ready', { readyReplicas: -1 }, /^invalid ready message: \/readyReplicas /],
    ['ready', { at: -1 }, /^invalid ready message: \/at /],
    ['ready', { extra: 1 }, /^invalid ready message: /],
    ['scaled', { from: -1 }, /^invalid scaled message: \/from /],
    ['scaled', { to: -1 }, /^invalid scaled message: \/to /],
    ['scaled', { reason: 'bored' }, /^invalid scaled message: \/reason /],
    ['scaled', { reason: '' }, /^invalid scaled message: \/reason /],
    ['scaled', { at: -1 }, /^invalid scaled message: \/at /],
    ['scaled', { extra: 1 }, /^invalid scaled message: /],
    ['sleepRequest', { force: 'yes' }, /^invalid sleep request: \/force /],
    ['sleepReply', { outcome: 'napping' }, /^invalid sleep reply: \/outcome /],
  ])('refuses a %s payload with %j', (kind, change, reason) => {
    const value = { ...valid[kind], ...change };
    expect(() => decode(kind, value)).toThrow(PayloadError);
    expect(() => decode(kind, value)).toThrow(reason);
  });

  it.each(Object.keys(valid) as Kind[])(
    'names the %s payload and the root when a field is missing',
    (kind) => {
      expect(() => decode(kind, {})).toThrow(new RegExp(`^invalid ${names[kind]}: / `));
      expect(() => decode(kind, [])).toThrow(new RegExp(`^invalid ${names[kind]}: / `));
    },
  );

  it('checks the lengths of a valid-looking id apart, naming the payload', () => {
    expect(() => decode('wake', { ...valid.wake, backend: `${'n'.repeat(64)}/b` })).toThrow(
      /^invalid wake message: invalid backend id .*63/,
    );
    expect(() => decode('backend', { ...valid.backend, id: `${'n'.repeat(64)}/b` })).toThrow(
      /^invalid backend record: invalid backend id .*63/,
    );
  });
});

describe('decodeMessage errors', () => {
  const data = codecs.activity.encode({ backend: 'shop/api', requests: 1, inflight: 0, at: 1, source: 'x' });

  it('names the message kind and both backends when subject and payload disagree', () => {
    expect(() => decodeMessage('activity', { subject: 'wakegate.activity.shop.web', data })).toThrow(
      'invalid activity message: backend shop/api does not match subject wakegate.activity.shop.web',
    );
  });

  it('names the message kind when the subject names no backend', () => {
    expect(() => decodeMessage('ready', { subject: 'wakegate.ready.shop', data })).toThrow(
      /^invalid ready message: /,
    );
  });
});
