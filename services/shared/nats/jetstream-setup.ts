/**
 * Idempotent setup of the stream, consumer and KV buckets wakegate uses. Safe to run from every replica
 * at every start: what exists with the right settings is left alone, what is missing is created, and what
 * drifted is updated in place by the scaler alone (the others report it): a user that may update a stream
 * may give it any setting, a `republish` among them, through which the server itself writes wherever it is
 * told, past every permission. Only features of nats-server 2.9 are used.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { type NatsConnection, nanos, type ServerInfo } from '@nats-io/transport-node';
import { ConfigError } from '../errors.ts';
import {
  allSubjects,
  BACKENDS_BUCKET,
  BRIDGES_BUCKET,
  INTENTS_BUCKET,
  LEASES_BUCKET,
  SCALER_CONSUMER,
  scalerConsumerOf,
  WAKE_STREAM,
} from '../ids/subjects.ts';

export const LEASE_TTL_MS = 15_000;

/**
 * How long the services' KV reads, writes and watch set-ups wait for JetStream; nats.js's default is 5 s.
 * One sent while the bucket has no leader (a NATS cluster electing one) gets no answer at all: with 5 s, a
 * backend found ready during an election was recorded up to 5 s after the new leader was there, a wake
 * taken as NATS came back waited 5 s on its intent read, and a bridge's renewed watch as long before its
 * next try. Failed sooner, each is tried again and goes through once the leader is there.
 */
export const KV_TIMEOUT_MS = 1000;
/**
 * A bridge heartbeat not renewed for this long is gone: a bridge that crashed (or is cut from NATS) holds
 * drains back this long, then counts as gone. A bridge that stops cleanly deletes its key.
 */
export const BRIDGE_TTL_MS = 30_000;

/**
 * Interest retention: a wake stays until every pair's consumer (`scaler`, `scaler-<pair>`) has settled it,
 * so each watcher/scaler pair sees every wake. A stream an older wakegate made as a work queue is left so
 * (nats-server cannot change that in place, and no service may delete a stream): it serves the default
 * pair alone, and a named pair's consumer is refused on it until the operator deletes the stream once.
 */
const WAKE_STREAM_CONFIG = {
  name: WAKE_STREAM,
  subjects: [allSubjects('wake')],
  retention: RetentionPolicy.Interest,
  storage: StorageType.File,
  max_age: nanos(5 * 60_000),
  duplicate_window: nanos(10_000),
  discard: DiscardPolicy.Old,
} satisfies Partial<StreamConfig>;

/**
 * How long a wake taken by a scaler stays its own without word from it: the scaler reports the wakes it
 * works on in progress four times as often (services/scaler/wake-consumer.ts), so a wake comes back to
 * another scaler this long after its scaler died (SIGKILL, OOM, its machine gone) and not later. Half a
 * second: at 1 s a scaler killed mid cold start cost about 1 s beyond the start (the chaos benchmark's floor
 * for that kill); a live scaler whose event loop stalls past three reports only has another scaler find the
 * backend awake (or, with the process provider, running under a live owner) and do nothing.
 */
export const WAKE_ACK_WAIT_MS = 500;

/** The wake consumer; past `max_deliver` deliveries the server drops a wake, so the scaler terms it itself. */
export const SCALER_CONSUMER_CONFIG = {
  durable_name: SCALER_CONSUMER,
  ack_policy: AckPolicy.Explicit,
  ack_wait: nanos(WAKE_ACK_WAIT_MS),
  max_deliver: 10,
} satisfies Partial<ConsumerConfig>;

/** The wake consumer of a watcher/scaler pair (`WAKEGATE_PAIR`; '' for the default pair). */
export function scalerConsumerConfig(pair: string): typeof SCALER_CONSUMER_CONFIG {
  return { ...SCALER_CONSUMER_CONFIG, durable_name: scalerConsumerOf(pair) };
}

const BUCKETS: { name: string; ttlMs: number }[] = [
  { name: BACKENDS_BUCKET, ttlMs: 0 },
  { name: INTENTS_BUCKET, ttlMs: 0 },
  { name: LEASES_BUCKET, ttlMs: LEASE_TTL_MS },
  { name: BRIDGES_BUCKET, ttlMs: BRIDGE_TTL_MS },
];

export interface SetupReport {
  created: string[];
  updated: string[];
  /** Drifted, and left for the scaler to update (the setup of a service without `updates`). */
  drifted: string[];
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** A compare-and-set KV write refused because the entry moved on from the expected revision. */
export function isRevisionConflict(error: unknown): boolean {
  return (
    isApiError(error, JetStreamApiCodes.StreamWrongLastSequence) ||
    isApiError(error, JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function drifted<T extends object>(current: Partial<T>, wanted: Partial<T>): boolean {
  return Object.entries(wanted).some(
    ([key, value]) => JSON.stringify(current[key as keyof T]) !== JSON.stringify(value),
  );
}

/** How many copies of the stream and buckets JetStream keeps: a number, or `auto` (see `replicasFor`). */
export type JetStreamReplicas = 'auto' | number;

/** Replicas `auto` picks on a cluster of this many servers or more; below it, 1. */
export const CLUSTER_REPLICAS = 3;

/**
 * The replicas to create the stream and buckets with: `auto` is 3 on a cluster of 3 or more servers (the
 * servers a client is told of, `connect_urls` of the server's INFO, itself included) and 1 otherwise, so a
 * single server or a pair works unchanged; a number is taken as it is.
 */
export function replicasFor(setting: JetStreamReplicas, info: ServerInfo | undefined): number {
  if (setting !== 'auto') {
    // nats-server refuses it too, but as an error the setup's patience would retry for 30 s.
    // A server with JetStream of its own and no cluster; one reached as a leaf node (no JetStream here,
    // its hub's answering) may well be clustered, and is let through.
    if (setting > 1 && info?.jetstream === true && !info.cluster) {
      throw new ConfigError(
        'WAKEGATE_JETSTREAM_REPLICAS',
        `${setting} replicas need a NATS cluster, and the server connected to is not clustered (use 1 or auto)`,
      );
    }
    return setting;
  }
  const servers = info?.cluster ? (info.connect_urls?.length ?? 1) : 1;
  return servers >= CLUSTER_REPLICAS ? CLUSTER_REPLICAS : 1;
}

async function ensureStream(
  jsm: JetStreamManager,
  wanted: Partial<StreamConfig> & { name: string },
  updates: boolean,
  report: SetupReport,
) {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(wanted.name)).config;
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    await jsm.streams.add(wanted);
    report.created.push(`stream ${wanted.name}`);
    return;
  }
  // A work queue stays one (nats-server refuses the change): see WAKE_STREAM_CONFIG.
  const keep =
    current.retention === RetentionPolicy.Workqueue ? { ...wanted, retention: current.retention } : wanted;
  await updateDrifted(jsm, wanted.name, current, keep, updates, report, `stream ${wanted.name}`);
}

/**
 * Brings a stream (a bucket's too) whose settings drifted from `wanted` up to date and waits for the copies
 * that adds, or, for a service that does not update, only reports the drift under `label`.
 */
async function updateDrifted(
  jsm: JetStreamManager,
  stream: string,
  current: StreamConfig,
  wanted: Partial<StreamConfig>,
  updates: boolean,
  report: SetupReport,
  label: string,
) {
  if (!drifted(current, wanted)) return;
  if (!updates) {
    report.drifted.push(label);
    return;
  }
  await jsm.streams.update(stream, { ...current, ...wanted });
  report.updated.push(label);
  const replicas = wanted.num_replicas ?? 1;
  if (replicas > (current.num_replicas ?? 1)) await copiesPlaced(jsm, stream, replicas);
}

/**
 * JetStream places a stream's added copies after the update has answered, and a consumer asked for before
 * they exist is refused (`insufficient resources`, nats-server 2.11 and later), so a move to more replicas
 * waits for its copies and their leader. nats-server announces no such event to wait on.
 */
async function copiesPlaced(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  const deadline = Date.now() + PLACEMENT_WAIT_MS;
  for (;;) {
    const { cluster } = await jsm.streams.info(stream);
    const holders = new Set([cluster?.leader, ...(cluster?.replicas ?? []).map((r) => r.name)]);
    holders.delete(undefined);
    holders.delete('');
    if (cluster?.leader && holders.size >= replicas) return;
    if (Date.now() > deadline)
      throw new Error(
        `stream ${stream}: its ${replicas} copies were not placed within ${PLACEMENT_WAIT_MS} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const PLACEMENT_WAIT_MS = 10_000;

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  wanted: Partial<ConsumerConfig> & { durable_name: string },
  report: SetupReport,
) {
  let current: ConsumerConfig;
  try {
    current = (await jsm.consumers.info(stream, wanted.durable_name)).config;
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    await jsm.consumers.add(stream, wanted);
    report.created.push(`consumer ${stream}/${wanted.durable_name}`);
    return;
  }
  if (drifted(current, wanted)) {
    await jsm.consumers.update(stream, wanted.durable_name, { ...wanted });
    report.updated.push(`consumer ${stream}/${wanted.durable_name}`);
  }
}

async function ensureBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  bucket: { name: string; ttlMs: number; replicas: number },
  updates: boolean,
  report: SetupReport,
) {
  const { name, ttlMs, replicas } = bucket;
  const streamName = `KV_${name}`;
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(streamName)).config;
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    await new Kvm(nc).create(name, { history: 1, ttl: ttlMs, storage: StorageType.File, replicas });
    report.created.push(`bucket ${name}`);
    return;
  }
  const wanted = { max_age: nanos(ttlMs), max_msgs_per_subject: 1, num_replicas: replicas };
  await updateDrifted(jsm, streamName, current, wanted, updates, report, `bucket ${name}`);
}

/** A named pair's consumer cannot share a work-queue stream with the default pair's: say what to do. */
async function refuseWorkQueue(jsm: JetStreamManager, pair: string): Promise<void> {
  const { retention } = (await jsm.streams.info(WAKE_STREAM)).config;
  if (retention !== RetentionPolicy.Workqueue) return;
  throw new Error(
    `WAKEGATE_PAIR=${pair} needs the stream ${WAKE_STREAM} with interest retention, but a release before ` +
      `pairs made it a work queue: delete it once (nats stream rm ${WAKE_STREAM}) and start again`,
  );
}

/** What a service uses of JetStream, and so creates at start (and may, by its NATS permissions). */
export interface JetStreamNeeds {
  /** The wake stream (to publish wakes to it, or to consume them). */
  wakeStream: boolean;
  /** The scaler's durable consumer of wakes (its pair's). */
  wakeConsumer: boolean;
  buckets: readonly string[];
  /** Whether it also updates what drifted (the scaler) or leaves that to the scaler and says so. */
  updates: boolean;
}

export const EVERYTHING: JetStreamNeeds = {
  wakeStream: true,
  wakeConsumer: true,
  buckets: BUCKETS.map((bucket) => bucket.name),
  updates: true,
};

/**
 * Each service creates only what it uses, so none needs the right to touch another's part; only the scaler
 * updates, so that the bridge (the part that faces the gateways) and the watcher cannot change a stream.
 */
export const JETSTREAM_NEEDS = {
  bridge: {
    wakeStream: true,
    wakeConsumer: false,
    buckets: [BACKENDS_BUCKET, INTENTS_BUCKET, BRIDGES_BUCKET],
    updates: false,
  },
  watcher: { wakeStream: false, wakeConsumer: false, buckets: [BACKENDS_BUCKET], updates: false },
  scaler: EVERYTHING,
} as const satisfies Record<string, JetStreamNeeds>;

/**
 * Creates what `needs` names, at the replicas `replicas` asks for (`auto` by default), and with `updates`
 * brings what drifted up to date: a stream or bucket made at other replicas is moved to these (JetStream
 * adds or removes copies in place); the consumer follows its stream's replicas.
 */
export async function ensureJetStream(
  nc: NatsConnection,
  needs: JetStreamNeeds = EVERYTHING,
  replicas: JetStreamReplicas = 'auto',
  pair = '',
): Promise<SetupReport> {
  const jsm = await jetstreamManager(nc);
  const copies = replicasFor(replicas, nc.info);
  const report: SetupReport = { created: [], updated: [], drifted: [] };
  if (needs.wakeStream)
    await ensureStream(jsm, { ...WAKE_STREAM_CONFIG, num_replicas: copies }, needs.updates, report);
  if (needs.wakeConsumer && pair !== '') await refuseWorkQueue(jsm, pair);
  if (needs.wakeConsumer) await ensureConsumer(jsm, WAKE_STREAM, scalerConsumerConfig(pair), report);
  for (const bucket of BUCKETS) {
    if (needs.buckets.includes(bucket.name))
      await ensureBucket(nc, jsm, { ...bucket, replicas: copies }, needs.updates, report);
  }
  return report;
}
