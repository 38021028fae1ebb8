/**
 * Schedules: a seed picks the actors and a plan (client requests and faults: kills and restarts, NATS
 * partitions, slow networks, platform API outages, wall-clock steps) over a fault phase; a quiet phase
 * follows (every actor back, no faults), with probe requests whose answers I5 checks, then time for the
 * idle backend to go back to sleep. The same seed always gives the same run: every choice comes from the
 * seed's PRNG and the event queue orders ties by scheduling order.
 */
import {
  BACKEND,
  BridgeActor,
  CONFIG,
  FilterActor,
  HOSTS,
  ScalerActor,
  type Sim,
  T,
  WatcherActor,
} from './actors.ts';
import { Checker, type Violation } from './invariants.ts';
import { EventQueue, Nats, Platform, Rng } from './world.ts';

export const FAULT_END = 12_000;
export const PROBE_AT = FAULT_END + 6000;
export const END = PROBE_AT + 12_000;

export type Target = `bridge${number}` | `scaler${number}` | `watcher${number}`;

export type PlanItem =
  | { at: number; kind: 'request'; filter: number }
  | { at: number; kind: 'kill'; target: Target; downMs: number }
  | { at: number; kind: 'partition'; target: Target; ms: number; detectMs: number }
  | { at: number; kind: 'slow'; ms: number }
  | { at: number; kind: 'api-down'; ms: number }
  | { at: number; kind: 'clock-step'; target: Target; ms: number };

export interface Schedule {
  seed: number;
  bridges: number;
  scalers: number;
  watchers: number;
  filters: number;
  plan: PlanItem[];
}

export function generate(seed: number): Schedule {
  const rng = new Rng(seed ^ 0x9e3779b9);
  const shape = {
    seed,
    bridges: rng.int(1, 2),
    scalers: rng.int(1, 2),
    watchers: rng.int(1, 2),
    filters: 2,
  };
  const targets: Target[] = [];
  for (let i = 0; i < shape.bridges; i++) targets.push(`bridge${i}`);
  for (let i = 0; i < shape.scalers; i++) targets.push(`scaler${i}`);
  for (let i = 0; i < shape.watchers; i++) targets.push(`watcher${i}`);
  const plan: PlanItem[] = [];
  // Bursts of requests, sometimes spaced past the idle timeout so the backend sleeps and wakes within one run.
  const bursts = rng.int(1, 4);
  for (let b = 0; b < bursts; b++) {
    const at = rng.int(0, FAULT_END);
    const n = rng.int(1, 4);
    for (let i = 0; i < n; i++)
      plan.push({ at: at + rng.int(0, 800), kind: 'request', filter: rng.int(0, 1) });
  }
  const faults = rng.int(0, 6);
  for (let f = 0; f < faults; f++) {
    const at = rng.int(0, FAULT_END - 100);
    const roll = rng.next();
    if (roll < 0.3) plan.push({ at, kind: 'kill', target: rng.pick(targets), downMs: rng.int(50, 4000) });
    else if (roll < 0.6) {
      const ms = rng.int(20, 3000);
      plan.push({
        at,
        kind: 'partition',
        target: rng.pick(targets),
        ms,
        detectMs: rng.int(0, Math.min(ms, 300)),
      });
    } else if (roll < 0.75) plan.push({ at, kind: 'slow', ms: rng.int(100, 3000) });
    else if (roll < 0.9) plan.push({ at, kind: 'api-down', ms: rng.int(50, 2000) });
    else
      plan.push({
        at,
        kind: 'clock-step',
        target: rng.pick(targets),
        ms: rng.pick([-3_600_000, 3_600_000, -5000]),
      });
  }
  plan.sort((a, b) => a.at - b.at);
  return { ...shape, plan };
}

export interface RunResult {
  schedule: Schedule;
  violations: Violation[];
  steps: number;
  trace?: string[];
}

export interface RunOptions {
  trace?: boolean;
  /** A broken filter that forwards whatever its table says: shows that the checks can fail. */
  sabotage?: boolean;
}

export function run(schedule: Schedule, options: RunOptions = {}): RunResult {
  const rng = new Rng(schedule.seed);
  const queue = new EventQueue();
  const nats = new Nats(queue, rng, { latencyMs: [1, 6], ackWaitMs: 7500, dedupeMs: 500 });
  const platform = new Platform(queue, rng, { startMs: [100, 1500], observeMs: [5, 150] });
  const hooks = {
    onForward: () => {},
    onAnswer: () => {},
    onScaleToZero: () => {},
  } as Sim['hooks'];
  const sim: Sim = {
    queue,
    rng,
    nats,
    platform,
    bridges: [],
    filters: [],
    scalers: [],
    watchers: [],
    hooks,
    wallOffset: new Map(),
    sabotage: options.sabotage === true,
    ...(options.trace ? { trace: [] as string[] } : {}),
  };
  const checker = new Checker(sim);
  hooks.onForward = (f, released) => checker.onForward(f, released);
  hooks.onAnswer = (f, status, sentAt, held) => checker.onAnswer(f, status, sentAt, held);
  hooks.onScaleToZero = (s) => checker.onScaleToZero(s);

  // The backend as the watcher left it before the run: asleep, listed.
  nats.bucket('backends').put(BACKEND, {
    id: BACKEND,
    hosts: HOSTS,
    ready: false,
    replicas: 0,
    readyReplicas: 0,
    config: CONFIG,
    updatedAt: 0,
    generation: 1,
    observedGeneration: 1,
  });
  nats.bucket('intents');
  nats.bucket('bridges', T.bridgeTtlMs);
  nats.bucket('leases', T.leaseTtlMs);

  for (let i = 0; i < schedule.watchers; i++) sim.watchers.push(new WatcherActor(sim, `watcher${i}`));
  for (let i = 0; i < schedule.bridges; i++) sim.bridges.push(new BridgeActor(sim, `bridge${i}`));
  for (let i = 0; i < schedule.scalers; i++) sim.scalers.push(new ScalerActor(sim, `scaler${i}`));
  for (let i = 0; i < schedule.filters; i++) {
    sim.filters.push(new FilterActor(sim, `filter${i}`, { revision: 0, present: true, ready: false }));
  }
  for (const a of [...sim.watchers, ...sim.bridges, ...sim.scalers, ...sim.filters]) a.start();

  const actor = (target: Target) =>
    [...sim.bridges, ...sim.scalers, ...sim.watchers].find((a) => a.name === target);
  const restart = (a: BridgeActor | ScalerActor | WatcherActor) => {
    if (a.life.alive) return;
    sim.trace?.push(`${String(queue.now).padStart(6)} fault: ${a.name} restarts`);
    a.life.restart();
    a.start();
    nats.redispatch();
  };
  for (const item of schedule.plan) {
    queue.at(item.at, () => {
      if (item.kind !== 'request')
        sim.trace?.push(`${String(queue.now).padStart(6)} fault: ${describe(item)}`);
      switch (item.kind) {
        case 'request':
          sim.trace?.push(`${String(queue.now).padStart(6)} client: request to filter${item.filter}`);
          sim.filters[item.filter % sim.filters.length]?.request();
          break;
        case 'kill': {
          const a = actor(item.target);
          if (!a?.life.alive) break;
          if (a instanceof BridgeActor || a instanceof ScalerActor) a.kill();
          else a.life.kill();
          queue.at(Math.min(queue.now + item.downMs, FAULT_END), () => restart(a));
          break;
        }
        case 'partition': {
          const a = actor(item.target);
          if (!a) break;
          const until = Math.min(queue.now + item.ms, FAULT_END);
          if (a.cutUntil > queue.now) break;
          a.cutUntil = until;
          queue.at(Math.min(queue.now + item.detectMs, until), () => {
            if ('onStatus' in a) a.onStatus?.('disconnect');
          });
          queue.at(until, () => {
            sim.trace?.push(`${String(queue.now).padStart(6)} fault: ${a.name} reconnects`);
            if ('onStatus' in a) a.onStatus?.('reconnect');
            nats.redispatch();
          });
          break;
        }
        case 'slow':
          nats.slowUntil = Math.min(queue.now + item.ms, FAULT_END);
          break;
        case 'api-down':
          platform.failing = true;
          queue.at(Math.min(queue.now + item.ms, FAULT_END), () => {
            platform.failing = false;
          });
          break;
        case 'clock-step':
          sim.wallOffset.set(item.target, (sim.wallOffset.get(item.target) ?? 0) + item.ms);
          break;
      }
    });
  }
  // The quiet phase: a few requests that must be served, then nothing, so the backend must go to sleep.
  checker.probeFrom = PROBE_AT;
  for (let i = 0; i < 3; i++) {
    const at = PROBE_AT + rng.int(0, 1000);
    const filter = rng.int(0, schedule.filters - 1);
    checker.probes.sent++;
    queue.at(at, () => {
      sim.trace?.push(`${String(queue.now).padStart(6)} client: probe request to filter${filter}`);
      sim.filters[filter]?.request();
    });
  }
  while (queue.step(END)) {
    checker.afterStep();
    if (checker.violations.length > 0 && !options.trace) break;
  }
  if (checker.violations.length === 0) checker.atEnd();
  return {
    schedule,
    violations: checker.violations,
    steps: queue.steps,
    ...(sim.trace ? { trace: sim.trace } : {}),
  };
}

export function describe(item: PlanItem): string {
  switch (item.kind) {
    case 'request':
      return `request to filter${item.filter}`;
    case 'kill':
      return `${item.target} killed for ${item.downMs} ms`;
    case 'partition':
      return `${item.target} cut from NATS for ${item.ms} ms (noticed after ${item.detectMs} ms)`;
    case 'slow':
      return `NATS slow for ${item.ms} ms`;
    case 'api-down':
      return `platform API down for ${item.ms} ms`;
    case 'clock-step':
      return `${item.target}'s wall clock stepped ${item.ms} ms`;
  }
}

/**
 * Shrinks a failing schedule: drops plan items, then actors, as long as the same invariant still fails
 * (a greedy delta debugging; the seed stays, so what remains is replayed the same way).
 */
export function shrink(failing: RunResult, options: RunOptions = {}): RunResult {
  const invariant = failing.violations[0]?.invariant;
  if (invariant === undefined) return failing;
  const fails = (s: Schedule) => {
    const r = run(s, { ...options, trace: false });
    return r.violations.some((v) => v.invariant === invariant) ? r : undefined;
  };
  let best = failing;
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = best.schedule.plan.length - 1; i >= 0; i--) {
      const plan = best.schedule.plan.filter((_, j) => j !== i);
      const r = fails({ ...best.schedule, plan });
      if (r) {
        best = r;
        changed = true;
      }
    }
    for (const key of ['bridges', 'scalers', 'watchers'] as const) {
      if (best.schedule[key] <= 1) continue;
      const r = fails({ ...best.schedule, [key]: best.schedule[key] - 1 });
      if (r) {
        best = r;
        changed = true;
      }
    }
  }
  return run(best.schedule, { ...options, trace: true });
}

/** A failure as printed: the seed, the shrunk schedule, the violation and the trace. */
export function report(result: RunResult): string {
  const s = result.schedule;
  const lines = [
    `seed ${s.seed}: ${result.violations.map((v) => `${v.invariant} at ${v.at} ms: ${v.detail}`).join('; ')}`,
    `actors: ${s.bridges} bridge(s), ${s.scalers} scaler(s), ${s.watchers} watcher(s), ${s.filters} filters`,
    `plan: ${s.plan.map((p) => `${p.at} ${describe(p)}`).join(' | ') || '(none)'}`,
    ...(result.trace ?? []),
  ];
  return lines.join('\n');
}
