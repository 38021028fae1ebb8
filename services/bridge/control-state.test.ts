import { describe, expect, it } from 'vitest';
import type { BackendId, BackendRecord, IntentRecord } from '../shared/index.ts';
import { ControlState, deriveState, type Observed, wakePhases } from './control-state.ts';

const ID = 'shop/api' as BackendId;

function record(replicas: number, readyReplicas = replicas): BackendRecord {
  return {
    id: ID,
    hosts: ['api.example.com'],
    ready: readyReplicas > 0,
    replicas,
    readyReplicas,
    config: { idleTimeoutMs: 300_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 1000 },
    updatedAt: 0,
  };
}

const intent = (state: IntentRecord['state'], at: number): IntentRecord => ({ state, at, by: 'scaler' });

/** A backend whose observed facts the test sets, and the ControlState reading them. */
function fixture() {
  let now: Observed | undefined = { record: record(0), intent: undefined, ready: false };
  const control = new ControlState(
    (id) => (id === ID ? now : undefined),
    () => (now === undefined ? [] : [ID]),
  );
  control.changed(ID, 0);
  return {
    control,
    set(observed: Observed | undefined, at: number) {
      now = observed;
      return control.changed(ID, at);
    },
  };
}

describe('deriveState', () => {
  it.each<[string, Observed, boolean, string]>([
    ['ready for traffic', { record: record(1), intent: intent('awake', 0), ready: true }, false, 'awake'],
    ['a wake under way at zero', { record: record(0), intent: undefined, ready: false }, true, 'waking'],
    [
      'replicas wanted, none ready',
      { record: record(1, 0), intent: intent('awake', 0), ready: false },
      false,
      'waking',
    ],
    [
      'sleeping with pods left',
      { record: record(1), intent: intent('sleeping', 0), ready: false },
      false,
      'draining',
    ],
    [
      'stopping with pods left',
      { record: record(1), intent: intent('stopping', 0), ready: false },
      false,
      'draining',
    ],
    ['sleeping at zero', { record: record(0), intent: intent('sleeping', 0), ready: false }, false, 'asleep'],
    ['never woken, at zero', { record: record(0), intent: undefined, ready: false }, false, 'asleep'],
    [
      'a wake met a drain',
      { record: record(1), intent: intent('sleeping', 0), ready: false },
      true,
      'waking',
    ],
  ])('%s', (_, observed, pending, state) => {
    expect(deriveState(observed, pending)).toBe(state);
  });
});

describe('wakePhases', () => {
  it('splits a wake at the scale call and never goes negative across clocks', () => {
    expect(wakePhases({ requestedAt: 1000, scaledAt: 1200, readyAt: 1700 })).toEqual({
      scaleMs: 200,
      readyMs: 500,
      totalMs: 700,
    });
    expect(wakePhases({ requestedAt: 1000, scaledAt: 990, readyAt: 1500 })).toEqual({
      scaleMs: 0,
      readyMs: 510,
      totalMs: 500,
    });
    expect(wakePhases({ requestedAt: 1000, readyAt: 1300 })).toEqual({ readyMs: 300, totalMs: 300 });
    expect(wakePhases({ requestedAt: 1000 })).toEqual({});
  });
});

describe('ControlState', () => {
  it('follows a cold start asleep → waking → awake and keeps its phases', () => {
    const { control, set } = fixture();
    expect(control.row(ID)?.state).toBe('asleep');
    expect(control.wakeRequested(ID, 1000)).toEqual({
      id: ID,
      state: 'waking',
      previous: 'asleep',
      at: 1000,
    });
    // A second bridge's wake of the same cold start does not restart the clock.
    expect(control.wakeRequested(ID, 1100)).toBeUndefined();
    control.scaled(ID, { reason: 'wake', from: 0, to: 1, at: 1250 });
    set({ record: record(1, 0), intent: intent('awake', 1200), ready: false }, 1300);
    expect(set({ record: record(1), intent: intent('awake', 1200), ready: true }, 1900)).toEqual({
      id: ID,
      state: 'awake',
      previous: 'waking',
      at: 1900,
    });
    expect(control.row(ID)).toEqual({
      id: ID,
      state: 'awake',
      ready: true,
      replicas: 1,
      readyReplicas: 1,
      hosts: ['api.example.com'],
      lastWake: {
        requestedAt: 1000,
        scaledAt: 1250,
        readyAt: 1900,
        phases: { scaleMs: 250, readyMs: 650, totalMs: 900 },
      },
      coldStarts: [{ at: 1000, scaleMs: 250, readyMs: 650 }],
    });
  });

  it('keeps the last ten cold starts with the wake and release phases this bridge measured', () => {
    const { control, set } = fixture();
    for (let i = 0; i < 12; i += 1) {
      const at = i * 10_000;
      expect(control.wakePublished(ID, at, 2.4)?.state).toBe('waking');
      control.scaled(ID, { reason: 'wake', from: 0, to: 1, at: at + 30 });
      control.released(ID, 1.6);
      set({ record: record(1), intent: intent('awake', at), ready: true }, at + 400);
      // A release measured after the cold start ended does not overwrite the one it had.
      control.released(ID, 50);
      set({ record: record(0), intent: intent('sleeping', at + 5000), ready: false }, at + 5000);
    }
    const coldStarts = control.row(ID)?.coldStarts ?? [];
    expect(coldStarts).toHaveLength(10);
    expect(coldStarts[0]).toEqual({ at: 20_000, wakeMs: 2, scaleMs: 30, readyMs: 370, releaseMs: 2 });
    expect(coldStarts[9]?.at).toBe(110_000);
    expect(control.row(ID)?.lastWake).toEqual({
      requestedAt: 110_000,
      scaledAt: 110_030,
      readyAt: 110_400,
      phases: { scaleMs: 30, readyMs: 370, totalMs: 400 },
    });
  });

  it('adds a wake phase to a cold start another wake began, and lists no cold start until it is ready', () => {
    const { control } = fixture();
    control.wakeRequested(ID, 1000);
    expect(control.wakePublished(ID, 1001, 3)).toBeUndefined();
    control.released(ID, 1);
    expect(control.row(ID)?.coldStarts).toBeUndefined();
    expect(control.row(ID)?.lastWake).toEqual({ requestedAt: 1000, phases: {} });
  });

  it('lists the group and dependencies the backend’s settings name', () => {
    const relatedRecord = {
      ...record(1),
      config: { ...record(1).config, group: 'front', dependsOn: ['shop/db'] },
    };
    const control = new ControlState(
      () => ({ record: relatedRecord, intent: undefined, ready: true }),
      () => [ID],
    );
    expect(control.row(ID)).toMatchObject({ group: 'front', dependsOn: ['shop/db'] });
  });

  it('ignores wakes of an awake backend: the last wake stays the cold start', () => {
    const { control, set } = fixture();
    control.wakeRequested(ID, 1000);
    set({ record: record(1), intent: intent('awake', 1000), ready: true }, 1500);
    expect(control.wakeRequested(ID, 2000)).toBeUndefined();
    expect(control.row(ID)?.lastWake?.requestedAt).toBe(1000);
  });

  it('goes awake → draining → asleep through a drain, and a new wake starts a new timeline', () => {
    const { control, set } = fixture();
    set({ record: record(1), intent: intent('awake', 0), ready: true }, 100);
    expect(set({ record: record(1), intent: intent('sleeping', 5000), ready: false }, 5000)?.state).toBe(
      'draining',
    );
    expect(set({ record: record(1), intent: intent('stopping', 7000), ready: false }, 7000)).toBeUndefined();
    expect(set({ record: record(0), intent: intent('sleeping', 7100), ready: false }, 7200)).toEqual({
      id: ID,
      state: 'asleep',
      previous: 'draining',
      at: 7200,
    });
    expect(control.wakeRequested(ID, 9000)?.state).toBe('waking');
    expect(control.row(ID)?.lastWake).toEqual({ requestedAt: 9000, phases: {} });
  });

  it('ends a wake under way when a sleep is written after it', () => {
    const { control, set } = fixture();
    control.wakeRequested(ID, 1000);
    expect(set({ record: record(0), intent: intent('sleeping', 2000), ready: false }, 2000)?.state).toBe(
      'asleep',
    );
  });

  it('takes the scale of a wake only while that wake is under way', () => {
    const { control, set } = fixture();
    control.wakeRequested(ID, 1000);
    set({ record: record(1), intent: intent('awake', 1000), ready: true }, 1400);
    control.scaled(ID, { reason: 'wake', from: 0, to: 1, at: 1600 });
    control.scaled(ID, { reason: 'idle', from: 1, to: 0, at: 1700 });
    expect(control.row(ID)?.lastWake?.scaledAt).toBeUndefined();
  });

  it('reports a backend that left the list once, and forgets it', () => {
    const { control, set } = fixture();
    expect(set(undefined, 3000)).toEqual({ id: ID, state: undefined, previous: 'asleep', at: 3000 });
    expect(control.row(ID)).toBeUndefined();
    expect(control.rows()).toEqual([]);
    expect(set(undefined, 3100)).toBeUndefined();
    expect(control.wakeRequested(ID, 3200)).toBeUndefined();
  });
});
