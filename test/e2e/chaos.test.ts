/**
 * Faults at the worst moment on the HA stack (issue 15), CI-sized: one SIGKILL of each kind of process
 * during a cold start with 50 requests held, the whole NATS cluster down for 3 s, the drain race under
 * load for 10 s and a 60 s soak. The full run, with every moment and longer loads, is bench/chaos.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AHEAD_WAIT_MS } from '../../services/bridge/index.ts';
import { BRIDGE_TTL_MS } from '../../services/shared/index.ts';
import { busyboxBackend, DRAIN_BACKEND, type HaStack, rssOf, startHaStack } from '../chaos/ha-stack.ts';
import {
  type Kind,
  killDuringColdStart,
  type Moment,
  natsOutage,
  OUTAGE_MAX_WAIT_MS,
  soak,
  steadyLoad,
} from '../chaos/scenarios.ts';
import { freePort } from '../ports.ts';
import { demoBackend } from './local-stack.ts';

const STARTUP_MS = 600;
const MAX_WAIT_MS = 30_000;
/** One kill of each kind of process, each at a moment of its own. */
const KILLS: [Kind, Moment][] = [
  ['nats-leader', 'wake'],
  ['bridge', 'wake'],
  ['scaler-wake', 'scaling'],
  ['nats-node', 'scaling'],
  ['watcher', 'before-ready'],
  ['scaler-lease', 'release'],
];
const SOAK_BACKENDS = 5;

let stack: HaStack;
beforeAll(async () => {
  stack = await startHaStack({
    backends: async (dir) => {
      const entries: string[] = [];
      for (const [kind] of KILLS)
        entries.push(demoBackend(`kill-${kind}`, await freePort(), { delayMs: STARTUP_MS, maxWait: '30s' }));
      entries.push(
        await busyboxBackend(dir, 'outage', await freePort(), { maxWait: `${OUTAGE_MAX_WAIT_MS}ms` }),
      );
      entries.push(demoBackend('drain', await freePort(), DRAIN_BACKEND));
      for (let i = 0; i < SOAK_BACKENDS; i++)
        entries.push(await busyboxBackend(dir, `soak-${i}`, await freePort(), { idleTimeout: '1s' }));
      return entries.join('');
    },
    // The drain period of the full run (bench/chaos.ts) is 500 ms; here the default 2 s, because a request
    // an Envoy passes just before it learns of a drain is reported at once, and that report must reach the
    // scaler within the drain period: with the whole suite beside it on 2 cores, 500 ms was too short for
    // 2 requests of 500 (README, Limitations, "Drain and in-flight requests").
    env: { WAKEGATE_DRAIN_MS: '2s' },
  });
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

describe('the HA stack under faults', () => {
  it.each(KILLS)(
    'answers every held request when the %s is killed at "%s"',
    async (kind, moment) => {
      const from = Date.now();
      const result = await killDuringColdStart(stack, {
        backend: `local/kill-${kind}`,
        host: `kill-${kind}.localhost`,
        kind,
        moment,
        inFlight: 50,
        maxWaitMs: MAX_WAIT_MS,
        startupMs: STARTUP_MS,
      });
      console.log(JSON.stringify(result));
      expect(result.killed).not.toBe('none');
      expect(result, stack.log.since(from)).toMatchObject({
        sent: 50,
        ok: 50,
        timeouts: 0,
        other: 0,
        lost: 0,
      });
    },
    60_000,
  );

  it('wakes a backend once the whole NATS cluster is back after 3 s down', async () => {
    const from = Date.now();
    const result = await natsOutage(stack, {
      host: 'outage.localhost',
      inFlight: 50,
      downMs: 3000,
      maxWaitMs: OUTAGE_MAX_WAIT_MS,
    });
    console.log(JSON.stringify(result));
    const story = stack.log.since(from);
    expect(result, story).toMatchObject({ sent: 50, ok: 50, timeouts: 0, other: 0, lost: 0 });
    // The target is 1 s from JetStream serving a cold start again (the wake stream, the scalers' consumer,
    // the backends and intents buckets have leaders, and the buckets commit writes) to the first answer
    // (bench/chaos.ts measures it); here 0.07–0.8 s in most runs, so the bound only catches the regression
    // this suite was built against (a consumer waiting out its 30 s pull; a wake answered 503 at once is
    // nats-outage.test.ts's). After the whole cluster was SIGKILLed its servers' copies of the backends
    // bucket can number the same writes differently, and a filter whose table came from the bridge on the
    // higher-numbered copy is then held by the other up to AHEAD_WAIT_MS before it gets that bridge's table
    // (long-poll.ts; 5,016 ms once in a CI run). Electing the leaders after the whole cluster was killed, and
    // the buckets taking writes again (11 s after their election once in CI), is NATS's own time
    // (jetStreamBackMs).
    expect(result.afterJetStreamMs, story).toBeGreaterThanOrEqual(0);
    expect(result.afterJetStreamMs, story).toBeLessThan(AHEAD_WAIT_MS + 2000);
  }, 120_000);

  it('answers every request of a steady 50 requests/s while the idle loop keeps trying to drain', async () => {
    const from = Date.now();
    // 10 s, and on until the idle loop began a drain under the load (one in most runs within 10 s). The idle
    // loop drains nothing while a bridge's heartbeat is there but silent: a bridge killed by an earlier test
    // holds drains back until its entry expires (BRIDGE_TTL_MS), so the load may need that long and more.
    const result = await steadyLoad(stack, {
      backend: 'local/drain',
      host: 'drain.localhost',
      rps: 50,
      seconds: 10,
      drains: 1,
      maxSeconds: BRIDGE_TTL_MS / 1000 + 15,
      maxWaitMs: MAX_WAIT_MS,
    });
    console.log(JSON.stringify(result));
    const story = stack.log.since(from);
    expect(result.drainsBegun, story).toBeGreaterThan(0);
    expect(result.sent, story).toBeGreaterThanOrEqual(500);
    expect(result, story).toMatchObject({ ok: result.sent, timeouts: 0, other: 0, lost: 0 });
  }, 90_000);

  it('keeps answering, and holds nothing and leaks no consumer, after 60 s of backends cycling sleep and wake', async () => {
    const from = Date.now();
    const result = await soak(
      stack,
      {
        hosts: Array.from({ length: SOAK_BACKENDS }, (_, i) => `soak-${i}.localhost`),
        everyMs: 4000,
        seconds: 60,
        firstMs: 20_000,
        maxWaitMs: MAX_WAIT_MS,
      },
      rssOf,
    );
    console.log(JSON.stringify(result));
    expect(result.sent).toBeGreaterThan(50);
    expect(result, stack.log.since(from)).toMatchObject({ timeouts: 0, other: 0, lost: 0, heldAtEnd: 0 });
    expect(result.ok, stack.log.since(from)).toBe(result.sent);
    // Backends slept and woke again and again, not just once.
    expect(result.wakes).toBeGreaterThan(SOAK_BACKENDS * 3);
    expect(result.consumers[1]).toBe(result.consumers[0]);
  }, 120_000);
});
