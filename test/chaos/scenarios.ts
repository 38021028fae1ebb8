/**
 * The fault scenarios of issue 15, shared by the CI subset (test/e2e/chaos.test.ts) and the benchmark
 * (bench/chaos.ts). Each sends real requests through the gateway and counts what became of them: `ok` (200),
 * `timeouts` (504 within max-wait), `other` (any other answer), `lost` (no answer at all: reset, or nothing
 * by max-wait plus 10 s).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { Agent, request } from 'undici';
import type { ChildService } from '../../services/local/index.ts';
import {
  BACKENDS_BUCKET,
  type BackendId,
  backendKey,
  INTENTS_BUCKET,
  KV_TIMEOUT_MS,
  type NatsConnection,
  SCALER_CONSUMER,
  WAKE_STREAM,
} from '../../services/shared/index.ts';
import { until } from '../until.ts';
import type { HaStack } from './ha-stack.ts';

export interface Tally {
  sent: number;
  ok: number;
  timeouts: number;
  other: number;
  lost: number;
  /** The status of each `other` answer, counted. */
  otherStatuses?: Record<string, number>;
}

export const emptyTally = (): Tally => ({ sent: 0, ok: 0, timeouts: 0, other: 0, lost: 0 });

export function addTally(into: Tally, from: Tally): Tally {
  for (const key of ['sent', 'ok', 'timeouts', 'other', 'lost'] as const) into[key] += from[key];
  for (const [status, count] of Object.entries(from.otherStatuses ?? {})) {
    into.otherStatuses ??= {};
    into.otherStatuses[status] = (into.otherStatuses[status] ?? 0) + count;
  }
  return into;
}

const clients = new Agent({ connections: 2048, keepAliveTimeout: 10_000 });

/** One request through the gateway; counts its outcome into `tally`, resolves with when it was answered. */
export async function sendCounted(
  stack: { gatewayUrl: string },
  host: string,
  tally: Tally,
  maxWaitMs: number,
  path = '/',
): Promise<number> {
  tally.sent++;
  try {
    const answer = await request(`${stack.gatewayUrl}${path}`, {
      headers: { host },
      dispatcher: clients,
      signal: AbortSignal.timeout(maxWaitMs + 10_000),
    });
    await answer.body.dump();
    if (answer.statusCode === 200) tally.ok++;
    else if (answer.statusCode === 504) tally.timeouts++;
    else {
      tally.other++;
      tally.otherStatuses ??= {};
      tally.otherStatuses[answer.statusCode] = (tally.otherStatuses[answer.statusCode] ?? 0) + 1;
    }
  } catch {
    tally.lost++;
  }
  return Date.now();
}

export const KINDS = [
  'nats-node',
  'nats-leader',
  'bridge',
  'scaler-wake',
  'scaler-lease',
  'watcher',
] as const;
export type Kind = (typeof KINDS)[number];
export const MOMENTS = ['wake', 'scaling', 'before-ready', 'release'] as const;
export type Moment = (typeof MOMENTS)[number];

export interface KillResult extends Tally {
  kind: Kind;
  moment: Moment;
  /** The process killed. */
  killed: string;
  /** From the kill to the last of the held requests answered. */
  recoveryMs: number;
  /** NATS kills: from the kill until every Raft group of wakegate's has a live leader again (NATS's part). */
  electionMs?: number;
  /** NATS kills: `recoveryMs` − `electionMs`, wakegate's part after the election. */
  beyondElectionMs?: number;
}

/**
 * A cold start of `host` (asleep, never woken on this stack) with `inFlight` requests held, and one process
 * of `kind` SIGKILLed at `moment`: right after the wake is taken (the scaler writes the intent `awake`),
 * while scaling (the process runs, not yet ready), 60 % of `startupMs` after that (just before ready), or
 * when the record turns ready (during the release). The process is started again 2 s after the kill.
 */
export async function killDuringColdStart(
  stack: HaStack,
  options: {
    backend: string;
    host: string;
    kind: Kind;
    moment: Moment;
    inFlight: number;
    maxWaitMs: number;
    startupMs: number;
    restartAfterMs?: number;
  },
): Promise<KillResult> {
  const { kind, moment } = options;
  await stack.settled();
  // Who holds what before the cold start: the stream's leader and the lease holder do not move by themselves.
  const leader = await stack.streamLeader();
  // A killed holder's lease runs out before another scaler takes it (15 s).
  let lease = await stack.leaseHolder();
  while (kind === 'scaler-lease' && lease === undefined) {
    await delay(200);
    lease = await stack.leaseHolder();
  }
  let wakeTaker: ChildService | undefined;
  const target = (): ChildService | undefined => {
    switch (kind) {
      case 'nats-node':
        return stack.natsNodes.find((node) => node !== leader);
      case 'nats-leader':
        return leader;
      case 'bridge':
        return stack.bridges[0];
      case 'scaler-wake':
        return wakeTaker;
      case 'scaler-lease':
        return lease;
      case 'watcher':
        return stack.watchers[0];
    }
  };

  const reached = Promise.withResolvers<void>();
  let scalingSeen = false;
  const stopWatching = await stack.watchBackend(options.backend, ({ kind: what, value }) => {
    if (what === 'intent' && value.state === 'awake' && wakeTaker === undefined) {
      wakeTaker = stack.scalerNamed(String(value.by));
      if (moment === 'wake') reached.resolve();
    }
    if (what === 'record' && Number(value.replicas) > 0 && value.ready === false && !scalingSeen) {
      scalingSeen = true;
      if (moment === 'scaling') reached.resolve();
      if (moment === 'before-ready') void delay(options.startupMs * 0.6).then(() => reached.resolve());
    }
    if (what === 'record' && value.ready === true && moment === 'release') reached.resolve();
  });

  const tally = emptyTally();
  let lastAnswer = 0;
  const requests = Array.from({ length: options.inFlight }, () =>
    sendCounted(stack, options.host, tally, options.maxWaitMs).then((at) => {
      lastAnswer = Math.max(lastAnswer, at);
    }),
  );
  const settled = Promise.all(requests);
  // The release can answer every request before this client hears of the ready record: a kill then still
  // comes at the release. A moment that never comes (the cold start went another way) is `killed: none`.
  const hit = await Promise.race([
    reached.promise.then(() => true),
    settled.then(() => delay(1000)).then(() => false),
  ]);
  const victim = hit ? target() : undefined;
  const killAt = Date.now();
  let restarted: Promise<void> = Promise.resolve();
  let elected: Promise<number> | undefined;
  if (victim) {
    await victim.kill();
    let back = false;
    if (kind === 'nats-node' || kind === 'nats-leader')
      elected = stack.ledWithout(victim.name, () => back).then(() => Date.now() - killAt);
    restarted = delay(options.restartAfterMs ?? 2000)
      .then(() => victim.start())
      .then(() => {
        back = true;
      });
  }
  await settled;
  stopWatching();
  const electionMs = await elected;
  await restarted;
  await stack.settled();
  const recoveryMs = Math.max(0, lastAnswer - killAt);
  return {
    kind,
    moment,
    killed: victim?.name ?? 'none',
    ...tally,
    recoveryMs,
    ...(electionMs === undefined ? {} : { electionMs, beyondElectionMs: recoveryMs - electionMs }),
  };
}

/**
 * `max-wait` of the outage scenario's backend, above the 30 s of the others: its requests wait out the
 * servers' restart and Raft elections (5–16 s here beside busy loops, more beside the whole suite), which are NATS's own time.
 * What the scenario holds wakegate to is its share once JetStream is back, `afterJetStreamMs`.
 */
export const OUTAGE_MAX_WAIT_MS = 60_000;

export interface OutageResult extends Tally {
  /** From every NATS server started again to the first held request answered 200. */
  recoveryMs: number;
  /** From the servers started again to JetStream serving a cold start again: the wake stream, the
   * scalers' consumer, the backends and intents buckets have leaders, and the buckets commit writes
   * again (`untilCommitting`). */
  jetStreamBackMs: number;
  /** From then to the first held request answered 200: wakegate's own share. */
  afterJetStreamMs: number;
}

/**
 * The whole NATS cluster SIGKILLed, a cold start of `host` begun while it is down (its wake cannot reach the
 * stream), and the cluster started again after `downMs`.
 */
export async function natsOutage(
  stack: HaStack,
  options: { host: string; inFlight: number; downMs: number; maxWaitMs: number },
): Promise<OutageResult> {
  await Promise.all(stack.natsNodes.map((node) => node.kill()));
  const tally = emptyTally();
  let firstOk = 0;
  // Past this, every held request has had its answer: there is nothing left to measure.
  const deadline = Date.now() + options.maxWaitMs;
  const requests = Array.from({ length: options.inFlight }, () =>
    sendCounted(stack, options.host, tally, options.maxWaitMs).then((at) => {
      if (tally.ok > 0 && firstOk === 0) firstOk = at;
    }),
  );
  await delay(options.downMs);
  // JetStream is back for a cold start once every Raft group it needs has a leader again: the wake stream,
  // the scalers' consumer of it, the backends and intents buckets; the server that becomes a leader says so.
  const groups = [
    `stream leader for '\\$G > ${WAKE_STREAM}'`,
    `consumer leader for '\\$G > ${WAKE_STREAM} > ${SCALER_CONSUMER}'`,
    `stream leader for '\\$G > KV_${BACKENDS_BUCKET}'`,
    `stream leader for '\\$G > KV_${INTENTS_BUCKET}'`,
  ];
  const leaderElected = Promise.all(
    groups.map((group) =>
      Promise.race(stack.natsNodes.map((node) => node.waitForLine(new RegExp(`new ${group}`)))),
    ),
  );
  await Promise.all(stack.natsNodes.map((node) => node.start()));
  const backAt = Date.now();
  await leaderElected;
  const jetStreamAt = await untilCommitting(stack.nc, deadline);
  await Promise.all(requests);
  return {
    ...tally,
    recoveryMs: firstOk === 0 ? -1 : firstOk - backAt,
    jetStreamBackMs: jetStreamAt - backAt,
    afterJetStreamMs: firstOk === 0 ? -1 : firstOk - jetStreamAt,
  };
}

/** The buckets a cold start writes to (the ready record, the intent), each with a subject of its stream
 * that holds nothing: the key of a backend no test has. */
const COMMIT_PROBES: [stream: string, subject: string][] = [BACKENDS_BUCKET, INTENTS_BUCKET].map((bucket) => [
  `KV_${bucket}`,
  `$KV.${bucket}.${backendKey('chaos-probe/none' as BackendId)}`,
]);

/**
 * Waits until each bucket a cold start writes to commits writes again, and returns since when that can be
 * said: the time of the last probe that went unanswered (or now, when none did). A stream can have a
 * leader, as its server logs, and still leave writes unanswered: after the whole cluster was SIGKILLed,
 * the backends bucket's did for 11 s in one CI run, no server logging anything. The probe is a purge of a
 * subject that holds nothing: an entry of the stream's Raft group like a write, answered once committed,
 * that removes no value (the buckets' consumers, the services' watches, take no acks that a purge could
 * drop). It waits as long as the services wait for a write (KV_TIMEOUT_MS), so a commit slow but within
 * that does not count against NATS. The wake stream is not probed: a purge there would also clear the
 * redeliveries the scalers' consumer owes; its and its consumer's leaders are what a wake needs.
 */
async function untilCommitting(nc: NatsConnection, deadline: number): Promise<number> {
  // Without the API check: it asks the meta group, which is not what the probes are about.
  const jsm = await jetstreamManager(nc, { timeout: KV_TIMEOUT_MS, checkAPI: false });
  // One deadline for all: when one bucket's probe gives up, the others stop with it.
  const since = await Promise.all(
    COMMIT_PROBES.map(async ([stream, subject]) => {
      let unanswered = Date.now();
      await until(
        `${stream} to take a write before every held request was answered`,
        async () => {
          const sentAt = Date.now();
          try {
            await jsm.streams.purge(stream, { filter: subject });
            return true;
          } catch {
            unanswered = sentAt;
            return false;
          }
        },
        deadline - Date.now(),
      );
      return unanswered;
    }),
  );
  return Math.max(...since);
}

export interface SteadyLoadResult extends Tally {
  /** Drains begun (intent `sleeping`) during the load: the race the scenario is about. */
  drainsBegun: number;
  /** Times the backend was put to sleep (intent `stopping`) during the load. */
  stops: number;
}

/**
 * Follows a backend's intents, one at a time: each new one is a drain begun (`sleeping`, but for the one that
 * ends a stop at zero), a stop (`stopping`), or neither.
 */
function intentSteps(): (state: unknown) => 'drain' | 'stop' | undefined {
  let previous: unknown;
  return (state) => {
    const before = previous;
    previous = state;
    if (state === 'stopping') return 'stop';
    return state === 'sleeping' && before !== 'stopping' ? 'drain' : undefined;
  };
}

/**
 * `rps` requests per second to `host` for `seconds`, while its idle timeout and drain are short enough that
 * the idle loop keeps trying to put it to sleep between activity reports; with `drains`, on past `seconds`
 * (up to `maxSeconds`) until the idle loop began that many drains, so that the race surely ran.
 */
export async function steadyLoad(
  stack: HaStack,
  options: {
    backend: string;
    host: string;
    rps: number;
    seconds: number;
    maxWaitMs: number;
    drains?: number;
    maxSeconds?: number;
  },
): Promise<SteadyLoadResult> {
  const tally = emptyTally();
  let drainsBegun = 0;
  let stops = 0;
  const step = intentSteps();
  const stopWatching = await stack.watchBackend(options.backend, ({ kind, value }) => {
    if (kind !== 'intent') return;
    const what = step(value.state);
    if (what === 'drain') drainsBegun++;
    if (what === 'stop') stops++;
  });
  const pending: Promise<unknown>[] = [];
  const start = Date.now();
  const last = Math.max(options.seconds, options.maxSeconds ?? 0) * options.rps;
  for (let i = 0; i < last; i++) {
    if (i >= options.seconds * options.rps && drainsBegun >= (options.drains ?? 0)) break;
    const due = start + (i * 1000) / options.rps;
    if (due > Date.now()) await delay(due - Date.now());
    pending.push(sendCounted(stack, options.host, tally, options.maxWaitMs));
  }
  await Promise.all(pending);
  stopWatching();
  return { ...tally, drainsBegun, stops };
}

export interface LongRequestsResult extends Tally {
  /** Drains begun (intent `sleeping`) while long requests were open: each must be cancelled. */
  drainsBegun: number;
  /** Whether the backend was put to sleep (intent `stopping`, or its record at 0 replicas) while one was
   * still open. */
  sleptEarly: boolean;
}

/** `count` requests each answered after `holdMs` (beyond the backend's idle timeout), all at once. */
export async function longRequests(
  stack: HaStack,
  options: { backend: string; host: string; count: number; holdMs: number; maxWaitMs: number },
): Promise<LongRequestsResult> {
  const tally = emptyTally();
  let open = 0;
  let drainsBegun = 0;
  let sleptEarly = false;
  const step = intentSteps();
  const stopWatching = await stack.watchBackend(options.backend, ({ kind, value }) => {
    // Every intent is followed, so that one written while nothing is open still counts as the one before.
    const what = kind === 'intent' ? step(value.state) : undefined;
    if (open === 0) return;
    if (what === 'drain') drainsBegun++;
    if (what === 'stop') sleptEarly = true;
    if (kind === 'record' && value.replicas === 0) sleptEarly = true;
  });
  await Promise.all(
    Array.from({ length: options.count }, async () => {
      open++;
      await sendCounted(stack, options.host, tally, options.maxWaitMs, `/?delay=${options.holdMs}`);
      open--;
    }),
  );
  stopWatching();
  return { ...tally, drainsBegun, sleptEarly };
}

export interface SoakResult extends Tally {
  /** Each process's resident memory after the first window and at the end, in MB. */
  rssMb: Record<string, [number, number]>;
  /** The largest end/first ratio of any process. */
  rssGrowth: number;
  /** Each process's resident memory every `sampleEveryMs` from the start, in MB (when asked for). */
  rssSeriesMb?: Record<string, number[]>;
  consumers: [number, number];
  heldAtEnd: number;
  wakes: number;
}

/**
 * `hosts.length` backends cycling sleep → wake: each gets a request every `everyMs` (longer than its idle
 * timeout plus the drain, so it is asleep again by then) for `seconds`; memory is read after `firstMs`.
 */
export async function soak(
  stack: HaStack,
  options: {
    hosts: string[];
    everyMs: number;
    seconds: number;
    firstMs: number;
    maxWaitMs: number;
    sampleEveryMs?: number;
  },
  rss: (pid: number | undefined) => number | undefined,
): Promise<SoakResult> {
  const tally = emptyTally();
  const names = () => [...stack.processes(), stack.gateway];
  const memory = () => Object.fromEntries(names().map((p) => [p.name, (rss(p.pid) ?? 0) / 2 ** 20]));
  const end = Date.now() + options.seconds * 1000;
  const wakesBefore = await stack.gatewayMetric('wakegate_wakes_sent_total');
  let first: Record<string, number> | undefined;
  let consumersFirst = 0;
  const firstAt = Date.now() + options.firstMs;
  const loops = options.hosts.map(async (host, i) => {
    // Spread over the period so that wakes do not all come at once.
    await delay((i * options.everyMs) / options.hosts.length);
    while (Date.now() < end) {
      const next = Date.now() + options.everyMs;
      await sendCounted(stack, host, tally, options.maxWaitMs);
      if (next > Date.now()) await delay(next - Date.now());
    }
  });
  const sampler = (async () => {
    await delay(Math.max(0, firstAt - Date.now()));
    first = memory();
    consumersFirst = await stack.consumers();
  })();
  const series: Record<string, number[]> = {};
  const sampling = options.sampleEveryMs
    ? setInterval(() => {
        for (const [name, mb] of Object.entries(memory()))
          series[name] = [...(series[name] ?? []), Math.round(mb)];
      }, options.sampleEveryMs)
    : undefined;
  await Promise.all([...loops, sampler]);
  clearInterval(sampling);
  const last = memory();
  const rssMb: Record<string, [number, number]> = {};
  let rssGrowth = 0;
  for (const [name, mb] of Object.entries(last)) {
    const before = first?.[name] ?? 0;
    rssMb[name] = [Math.round(before), Math.round(mb)];
    if (before > 0) rssGrowth = Math.max(rssGrowth, mb / before);
  }
  return {
    ...tally,
    rssMb,
    rssGrowth: Math.round(rssGrowth * 100) / 100,
    ...(sampling ? { rssSeriesMb: series } : {}),
    consumers: [consumersFirst, await stack.consumers()],
    heldAtEnd: await stack.gatewayMetric('wakegate_held'),
    wakes: (await stack.gatewayMetric('wakegate_wakes_sent_total')) - wakesBefore,
  };
}
