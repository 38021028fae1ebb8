/**
 * Groups and dependencies on the local stack: a wake wakes the dependencies and the group, a dependent's
 * requests are released only once its dependencies are ready, a group sleeps only when every member is
 * idle, and a dependency stays up while a dependent is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlRow } from '../../services/bridge/index.ts';
import { freePort } from '../ports.ts';
import { until } from '../until.ts';
import { demoBackend, type E2eStack, send, startE2eStack } from './local-stack.ts';

const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const DB_DELAY_MS = 700;

describe('groups and dependencies', () => {
  let stack: E2eStack;

  beforeAll(async () => {
    stack = await startE2eStack({
      backends: [
        demoBackend('app', await freePort(), { delayMs: 50, dependsOn: ['local/db'], idleTimeout: '3s' }),
        demoBackend('db', await freePort(), { delayMs: DB_DELAY_MS, idleTimeout: '1s' }),
        demoBackend('web', await freePort(), { delayMs: 50, group: 'front', idleTimeout: '2s' }),
        demoBackend('api', await freePort(), { delayMs: 50, group: 'front', idleTimeout: '2s' }),
      ].join(''),
      env: { WAKEGATE_ADMIN_TOKEN: ADMIN_TOKEN },
      // Reports well inside the idle timeouts: at the default 5 s, the loop would find a busy member
      // idle between two reports and begin (then cancel) drains, which is not what these tests are about.
      gatewayEnv: { WAKEGATE_FILTER_CONFIG: JSON.stringify({ activity_interval_ms: 250 }) },
    });
  }, 60_000);
  afterAll(() => stack?.close());

  const row = async (id: string): Promise<ControlRow> => {
    const response = await fetch(`${stack.bridgeUrl}/v1/control/backends/${id}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    return (await response.json()) as ControlRow;
  };
  const state = async (id: string) => (await row(id)).state;

  it('wakes the dependency and releases the dependent’s requests only once both are ready', async () => {
    const answer = await send(stack, 'app.localhost');
    expect(answer.status).toBe(200);
    // The app itself is ready after 50 ms; its request was held for the database's start as well.
    expect(
      Number(answer.json<{ headers: Record<string, string> }>().headers['x-wakegate-held-ms']),
    ).toBeGreaterThanOrEqual(DB_DELAY_MS);
    const [app, db] = [await row('local/app'), await row('local/db')];
    expect([app.state, db.state]).toEqual(['awake', 'awake']);
    // Both stamped by the bridge when it saw each ready for traffic: the database first.
    expect(db.lastWake?.readyAt).toBeLessThanOrEqual(app.lastWake?.readyAt ?? 0);
    expect(db.lastWake?.requestedAt).toBeLessThanOrEqual(app.lastWake?.requestedAt ?? 0);
  });

  it('keeps the dependency awake while its dependent is, and puts it to sleep after it', async () => {
    // The database's idle timeout (1 s) passes several times while the app is in use.
    const busyUntil = Date.now() + 3500;
    while (Date.now() < busyUntil) {
      expect((await send(stack, 'app.localhost')).status).toBe(200);
      expect(await state('local/db')).toBe('awake');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    let dbWhenAppSlept: string | undefined;
    await until(
      'the app to sleep',
      async () => {
        if ((await state('local/app')) !== 'asleep') return false;
        dbWhenAppSlept = await state('local/db');
        return true;
      },
      15_000,
    );
    // The database was still up (or only draining) when its dependent was first seen asleep.
    expect(dbWhenAppSlept).not.toBe('asleep');
    await until('the database to sleep after it', async () => (await state('local/db')) === 'asleep', 15_000);
  });

  it('wakes a whole group by one member and keeps it up while any member is used', async () => {
    expect((await send(stack, 'web.localhost')).status).toBe(200);
    await until('the other member to wake', async () => (await state('local/api')) === 'awake');
    // Only web is used: api's idle timeout (2 s) passes, but the group sleeps only as a whole.
    const busyUntil = Date.now() + 4500;
    while (Date.now() < busyUntil) {
      expect((await send(stack, 'web.localhost')).status).toBe(200);
      expect(await state('local/api')).toBe('awake');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await until(
      'the group to sleep',
      async () => (await state('local/web')) === 'asleep' && (await state('local/api')) === 'asleep',
      15_000,
    );
  });
});
