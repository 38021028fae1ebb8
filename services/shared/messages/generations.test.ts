/**
 * The optional generation fields (issue 20, item 2) and the workload uid beside them: records, intents and
 * scaled messages without them (older watchers and scalers, providers without generations or identities)
 * stay readable, the generations are counts and a uid is a non-empty string.
 */
import { describe, expect, it } from 'vitest';
import { PayloadError } from '../errors.ts';
import { codecs } from './codecs.ts';

const record = {
  id: 'shop/api',
  hosts: ['api.example.com'],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: { idleTimeoutMs: 1000, wakeReplicas: 1, maxWaitMs: 1, maxBuffered: 1 },
  updatedAt: 0,
};
const scaled = { backend: 'shop/api', from: 1, to: 0, reason: 'idle', at: 0 };
const intent = { state: 'sleeping', at: 0, by: 'scaler-a', generation: 57 };
const uid = '6f1c2a4e-9b7d-4c1e-8f3a-2d5b7e9c0a14';
const text = (value: object) => JSON.stringify(value);

describe('generation fields', () => {
  it('reads backend records with and without generations', () => {
    expect(codecs.backend.decode(text(record))).toEqual(record);
    const observed = { ...record, generation: 0, observedGeneration: 7 };
    expect(codecs.backend.decode(text(observed))).toEqual(observed);
  });

  it('reads scaled messages with and without the generation after the scale', () => {
    expect(codecs.scaled.decode(text(scaled))).toEqual(scaled);
    expect(codecs.scaled.decode(text({ ...scaled, generation: 5 }))).toMatchObject({ generation: 5 });
  });

  it('refuses generations that are not counts', () => {
    for (const bad of [-1, 1.5, '3']) {
      expect(() => codecs.backend.decode(text({ ...record, generation: bad }))).toThrow(PayloadError);
      expect(() => codecs.backend.decode(text({ ...record, observedGeneration: bad }))).toThrow(PayloadError);
      expect(() => codecs.scaled.decode(text({ ...scaled, generation: bad }))).toThrow(PayloadError);
    }
  });

  it('reads records, intents and scaled messages with and without the workload uid', () => {
    expect(codecs.intent.decode(text(intent))).toEqual(intent);
    for (const [codec, value] of [
      [codecs.backend, { ...record, generation: 1, observedGeneration: 1 }],
      [codecs.intent, intent],
      [codecs.scaled, { ...scaled, generation: 58 }],
    ] as const) {
      expect(codec.decode(text(value))).not.toHaveProperty('uid');
      expect(codec.decode(text({ ...value, uid }))).toEqual({ ...value, uid });
      for (const bad of ['', 7, 'x'.repeat(129)]) {
        expect(() => codec.decode(text({ ...value, uid: bad }))).toThrow(PayloadError);
      }
    }
  });
});
