/**
 * Puts the bridge service together: NATS connection and JetStream setup, the publisher, the HTTP app and
 * the KV watch feeding its merged view. `startBridge` listens; `close` is the SIGTERM path.
 */
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Kvm } from '@nats-io/kv';
import {
  asError,
  type BackendId,
  BRIDGES_BUCKET,
  closeControl,
  closeOnce,
  connectAndSetUp,
  connectForControl,
  flushWithin,
  type Logger,
  type NatsConnection,
  natsControlConnectedGauge,
  natsLink,
  type RunningService,
  startOrUndo,
} from '../shared/index.ts';
import type { BridgeApp } from './app.ts';
import { assembleApp } from './app-assembly.ts';
import type { BridgeAuth } from './auth.ts';
import { serveControlOverNats } from './control-nats.ts';
import { BridgeHeartbeat } from './heartbeat.ts';
import { watchKvView } from './kv-view.ts';
import { NatsPublisher } from './nats-publisher.ts';
import { watchReadyTraces } from './ready-watch.ts';
import { watchScaled } from './scaled-watch.ts';
import type { BackendRow } from './schemas.ts';

const CLOSE_GRACE_MS = 2000;
/** How long the start waits for NATS to confirm the control subscriptions. */
const CONTROL_FLUSH_TIMEOUT_MS = 2000;

/** Bridges started in this process so far. */
let startedHere = 0;

export interface BridgeOptions {
  natsUrl: string;
  natsCreds?: string | undefined;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  natsTlsCa?: string | undefined;
  natsControlCreds?: string | undefined;
  /** `WAKEGATE_JETSTREAM_REPLICAS`: `auto` (the default) or a number. */
  jetstreamReplicas?: string | undefined;
  /** Who may call `/v1`: an explicit choice, never a default (see auth-config.ts). */
  auth: BridgeAuth;
  /** Who may call `/v1/control` (WAKEGATE_ADMIN_TOKEN); undefined: the control API is off. */
  adminToken?: string | undefined;
  maxLongPolls: number;
  /** Long polls one client (address) may hold at once (default: `maxLongPolls`). */
  maxLongPollsPerClient?: number | undefined;
  port: number;
  host: string;
  logger: Logger;
}

/** `close()` stops accepting, answers held long polls with the current table and drains NATS. */
export interface RunningBridge extends RunningService {
  readonly app: BridgeApp;
  readonly nc: NatsConnection;
  /** The port bound (the one asked for, or the one the system chose for 0). */
  readonly port: number;
  /** `http://host:port` the bridge listens on. */
  readonly url: string;
  /** Its name as the `source` of what it publishes and the key of its heartbeat. */
  readonly instance: string;
  /** Resolves once both KV snapshots are loaded (from then on `/readyz` depends on NATS only). */
  whenSynced(): Promise<void>;
}

export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const { logger } = options;
  const nc = await connectAndSetUp({ ...options, service: 'bridge', logger });
  return startOrUndo(async (undoOnFailure) => {
    undoOnFailure(() => nc.close());
    const controlNc = await connectForControl({ ...options, service: 'bridge', logger });
    undoOnFailure(() => controlNc.close());
    // Activity sources are `<this>/<filter source>` within the 256 characters of ActivityMessage.source.
    // Unique among bridges, also for several in one process (tests, embedding): heartbeats are keyed by it,
    // and a scaled event names the bridge whose wake it answered by it.
    const instance = `bridge/${hostname().slice(0, 170)}/${process.pid}${++startedHere > 1 ? `-${startedHere}` : ''}`;
    const publisher = new NatsPublisher({ nc, source: instance });
    const { app, view, longPolls, metrics, coldStart, traces, control, controlFeed, wake } = assembleApp({
      publisher,
      synced: () => watch.synced,
      maxLongPolls: options.maxLongPolls,
      maxLongPollsPerClient: options.maxLongPollsPerClient,
      logger,
      auth: options.auth,
      adminToken: options.adminToken,
    });
    undoOnFailure(() => app.close());
    natsControlConnectedGauge(metrics.registry, 'bridge', natsLink(controlNc));
    // The control API's states follow everything applied (Date.now: the time its streams report).
    const observe = (id: BackendId) => controlFeed.emit(control.changed(id, Date.now()));
    view.onRowChange((id, before) => {
      changed(id, before);
      observe(id);
    });
    let heartbeat: BridgeHeartbeat | undefined;
    const changed = (id: BackendId, before: BackendRow | undefined) => {
      heartbeat?.nudge();
      coldStart.changed(id, before?.ready, view.get(id)?.ready, performance.now());
      longPolls.notify();
      for (const { backend, phase, seconds } of coldStart.released(performance.now())) {
        metrics.coldStart.observe({ phase }, seconds);
        if (phase === 'release') {
          control.released(backend, seconds * 1000);
          const now = Date.now();
          traces.released(backend, now - seconds * 1000, now);
        }
        if (phase === 'total') logger.info({ backend, seconds }, 'cold start released');
      }
    };
    const scaled = watchScaled({
      nc,
      logger,
      onScaledOnWake: (id, wakeSource) => {
        // A scale naming no wake (a scaler older than this bridge) leaves every bridge recording its own.
        // A backend this bridge does not list has no cold start here to record, now or later.
        if (wakeSource !== undefined && view.has(id))
          coldStart.scaledOnWake(id, wakeSource === instance, performance.now());
      },
      onScaledToZero: (id, generation, uid) => {
        if (view.scaledToZero(id, generation, uid)) {
          logger.info({ backend: id }, 'scaled to zero; not ready until the watcher records it again');
          observe(id);
        }
      },
      onInvalid: () => metrics.invalidScaled.inc(),
    });
    undoOnFailure(async () => scaled.stop());
    const readyTraces = watchReadyTraces({ nc, logger, onReady: (id, ctx) => traces.ready(id, ctx) });
    undoOnFailure(async () => readyTraces.stop());
    const watch = await watchKvView({
      nc,
      view,
      logger,
      onApplied: observe,
      onInvalid: (bucket) => metrics.invalidKvValues.inc({ bucket }),
    });
    undoOnFailure(() => watch.stop());
    const controlNats = serveControlOverNats({
      nc,
      controlNc,
      logger,
      control,
      feed: controlFeed,
      synced: () => watch.synced,
      wake,
      now: Date.now,
      onInvalid: () => metrics.invalidWakes.inc(),
    });
    undoOnFailure(async () => controlNats.stop());
    // Started means answering: the control subscriptions are at the server once their connection's round
    // trip is. A control connection down right now does not hold the start up: it serves once it is back.
    await flushWithin(controlNc, CONTROL_FLUSH_TIMEOUT_MS).catch((error: unknown) =>
      logger.warn(
        { err: asError(error) },
        'control subscriptions not confirmed by NATS; serving them once it answers',
      ),
    );
    heartbeat = new BridgeHeartbeat({
      kv: await new Kvm(nc).open(BRIDGES_BUCKET),
      instance,
      applied: () => watch.intentsApplied,
      serving: () => watch.synced && publisher.connected,
      logger,
    });
    heartbeat.start();
    const beating = heartbeat;
    undoOnFailure(() => beating.stop());
    const address = await app.listen({ port: options.port, host: options.host });
    const anonymous = 'anonymous' in options.auth;
    if (anonymous) {
      logger.warn(
        'the bridge takes calls WITHOUT a token (WAKEGATE_BRIDGE_ALLOW_ANONYMOUS=true): whoever reaches it can list every host, wake every backend and keep them awake',
      );
    }
    logger.info({ url: address, anonymous, control: options.adminToken !== undefined }, 'bridge listening');
    return {
      app,
      nc,
      port: (app.server.address() as AddressInfo).port,
      url: `http://${new URL(address).host}`,
      instance,
      whenSynced: () => watch.whenSynced,
      ...closeOnce(async () => {
        // First stop vouching for this bridge's filters, so the scaler does not wait for its entry to expire.
        await beating.stop();
        // Held long polls are answered as the app closes; a keep-alive connection Node does not see as
        // idle (a client between requests) must not keep the process alive past a short grace.
        const force = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
        await app.close();
        clearTimeout(force);
        scaled.stop();
        readyTraces.stop();
        traces.stop();
        controlNats.stop();
        await watch.stop();
        await closeControl(controlNc);
        await nc.drain();
      }),
    };
  });
}
