/**
 * Grouped backends at scale: `node bench/grouped-backends.ts` prints one JSON line.
 *
 * 10,000 backends in groups of 1,000 (one in 100 also depends on another), against the same 10,000 with
 * neither, as the floor: what the bridge pays for groups and dependencies beyond the table itself. Each is
 * a bridge of its own process on its own nats-server, the way a tenant's Deployments reach every bridge:
 * - snapshotMs: from the bridge's start to its `/readyz` (both KV snapshots applied) with the records
 *   already in KV, as after a restart or a rollout of the bridges;
 * - liveMs: from the first of the records written to a running bridge to the last one applied (its
 *   `wakegate_bridge_backends` gauge), as when a watcher lists them;
 * - `…Ratio`: grouped over plain, from the same run.
 * Before the snapshot was applied as one change and a group change stopped rebuilding the graph, 10,000
 * grouped records took the bridge 32 s to load from its snapshot and 35 s to apply live (every record
 * rebuilt the graph and merged every grouped backend again; 51× and 104× the floor, one run); there is no
 * target beyond staying near the floor.
 */
import { performance } from 'node:perf_hooks';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { BACKENDS_BUCKET, codecs, ensureJetStream } from '../services/shared/index.ts';
import { backendRecord } from '../test/backend-record.ts';
import { metricSum } from '../test/metrics-text.ts';
import { startNatsServer } from '../test/nats-server.ts';
import { until } from '../test/until.ts';
import { AUTHORIZATION, startBridgeProcess } from './fanout.ts';

const BACKENDS = 10_000;
const GROUP_SIZE = 1000;
/** Every this many backends, one depends on the one this many before it. */
const DEPENDENCY_EVERY = 100;
const PUT_BATCH = 500;
/** The code before the bridge's fixes took 35 s for a load: a regression still gets measured, not cut off. */
const LOAD_TIMEOUT_MS = 300_000;

const id = (i: number) => `bench/app-${i}`;

function record(i: number, grouped: boolean) {
  if (!grouped) return backendRecord(id(i), false);
  const config = backendRecord(id(i), false).config;
  const dependsOn =
    i >= DEPENDENCY_EVERY && i % DEPENDENCY_EVERY === 0 ? [id(i - DEPENDENCY_EVERY)] : undefined;
  return backendRecord(id(i), false, {
    config: { ...config, group: `g${Math.floor(i / GROUP_SIZE)}`, ...(dependsOn ? { dependsOn } : {}) },
  });
}

async function putAll(natsUrl: string, grouped: boolean): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    await ensureJetStream(nc);
    const kv = await new Kvm(nc).open(BACKENDS_BUCKET);
    for (let from = 0; from < BACKENDS; from += PUT_BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(PUT_BATCH, BACKENDS - from) }, (_, k) =>
          kv.put(id(from + k), codecs.backend.encode(record(from + k, grouped))),
        ),
      );
    }
  } finally {
    await nc.close();
  }
}

const ready = (url: string) => async () => (await fetch(`${url}/readyz`)).status === 200;

/** The bridge's start to its readiness, with the records in KV before it starts. */
async function snapshotMs(grouped: boolean): Promise<number> {
  const server = await startNatsServer();
  try {
    await putAll(server.url, grouped);
    const started = performance.now();
    const bridge = await startBridgeProcess(server.url);
    try {
      await until('the bridge to load its snapshot', ready(bridge.url), LOAD_TIMEOUT_MS);
      return performance.now() - started;
    } finally {
      await bridge.close();
    }
  } finally {
    await server.close();
  }
}

/** The records written to a running bridge, from the first put to the last one applied. */
async function liveMs(grouped: boolean): Promise<number> {
  const server = await startNatsServer();
  try {
    const bridge = await startBridgeProcess(server.url);
    try {
      await until('the bridge to be ready', ready(bridge.url));
      const backends = async () => {
        const text = await (
          await fetch(`${bridge.url}/metrics`, { headers: { authorization: AUTHORIZATION } })
        ).text();
        return metricSum(text, 'wakegate_bridge_backends');
      };
      const started = performance.now();
      await putAll(server.url, grouped);
      await until(
        'the bridge to apply every record',
        async () => (await backends()) === BACKENDS,
        LOAD_TIMEOUT_MS,
      );
      return performance.now() - started;
    } finally {
      await bridge.close();
    }
  } finally {
    await server.close();
  }
}

const round = (ms: number) => Math.round(ms);
const plainSnapshot = await snapshotMs(false);
const groupedSnapshot = await snapshotMs(true);
const plainLive = await liveMs(false);
const groupedLive = await liveMs(true);
process.stdout.write(
  `${JSON.stringify({
    bench: 'grouped-backends',
    backends: BACKENDS,
    groupSize: GROUP_SIZE,
    snapshotMs: round(groupedSnapshot),
    floorSnapshotMs: round(plainSnapshot),
    snapshotRatio: Math.round((groupedSnapshot / plainSnapshot) * 100) / 100,
    liveMs: round(groupedLive),
    floorLiveMs: round(plainLive),
    liveRatio: Math.round((groupedLive / plainLive) * 100) / 100,
  })}\n`,
);
