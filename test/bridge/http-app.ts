/**
 * The bridge's HTTP app over a real nats-server, for tests of its HTTP behaviour through `app.inject()`:
 * wakes and activity go through the bridge's own NatsPublisher, and what they published is read back from
 * NATS; only the merged view is fed directly instead of by a watcher's records. With `leaseHolder`, a
 * subscriber answers sleeps as the idle-loop lease holder would (the scaler's side of the protocol).
 */
import { connect } from '@nats-io/transport-node';
import { type AssembledApp, assembleApp, NatsPublisher } from '../../services/bridge/index.ts';
import {
  type ActivityMessage,
  allControlSubjects,
  allSubjects,
  codecs,
  createLogger,
  ensureJetStream,
  type Logger,
  type SleepReply,
} from '../../services/shared/index.ts';
import { backendRecord } from '../backend-record.ts';
import { metricSum } from '../metrics-text.ts';
import type { NatsServerFixture } from '../nats-server.ts';

export interface HttpApp
  extends Pick<AssembledApp, 'app' | 'view' | 'longPolls' | 'control' | 'controlFeed'> {
  /** Backends of the wakes this app published so far, in the order the server received them. */
  wakes(): Promise<string[]>;
  /** Activity messages this app published so far. */
  activities(): Promise<ActivityMessage[]>;
  /**
   * Wakes the app took so far, as its metrics count them: published, or answered as a duplicate of one
   * published in the same 2 s window (which reaches NATS no second time).
   */
  wakesTaken(): Promise<number>;
  /** Sleeps the lease holder was asked for (with `leaseHolder`). */
  readonly sleeps: { backend: string; force: boolean }[];
  /** What the lease holder answers: an outcome (`asleep` at first), or a reply no bridge can read. */
  sleepAnswer: SleepReply['outcome'] | 'unreadable';
  /** Closes the bridge's NATS connection: from then on it is not connected. */
  disconnect(): Promise<void>;
  /** Closes the app and its NATS connections. */
  close(): Promise<void>;
}

let apps = 0;

/**
 * The app, synced, over a view listing `backends` (each ready), quiet; open to anyone unless given tokens.
 * Its NATS user is the test server's own (`server.clientOptions`).
 */
export async function buildHttpApp(
  server: NatsServerFixture,
  options: {
    backends?: string[];
    tokens?: string[];
    adminToken?: string;
    maxLongPolls?: number;
    maxLongPollsPerClient?: number;
    /** Silent unless given. */
    logger?: Logger;
    leaseHolder?: boolean;
    /** Every wake fails with this error, as a bug in the publisher would (the real one, but for `wake`). */
    failWakesWith?: Error;
  } = {},
): Promise<HttpApp> {
  const source = `bridge/http-app-${++apps}`;
  const nc = await connect(server.clientOptions);
  const observer = await connect(server.clientOptions);
  await ensureJetStream(nc);
  // Every message a bridge publishes, read back as the server delivers it; this app's by their source.
  const wakes: string[] = [];
  const activities: ActivityMessage[] = [];
  observer.subscribe(allSubjects('wake'), {
    callback: (_, msg) => {
      const wake = codecs.wake.decode(msg.data);
      if (wake.source === source) wakes.push(wake.backend);
    },
  });
  observer.subscribe(allSubjects('activity'), {
    callback: (_, msg) => {
      const activity = codecs.activity.decode(msg.data);
      if (activity.source === source || activity.source.startsWith(`${source}/`)) activities.push(activity);
    },
  });
  const sleeps: HttpApp['sleeps'] = [];
  if (options.leaseHolder) {
    observer.subscribe(allControlSubjects('sleep'), {
      callback: (_, msg) => {
        const asked = codecs.sleepRequest.decode(msg.data);
        sleeps.push({ backend: asked.backend, force: asked.force });
        const answer = built.sleepAnswer;
        msg.respond(
          answer === 'unreadable'
            ? JSON.stringify({ backend: asked.backend, outcome: 'postponed' })
            : codecs.sleepReply.encode({ backend: asked.backend, outcome: answer }),
        );
      },
    });
  }
  await observer.flush();
  const fault = options.failWakesWith;
  const publisher = fault
    ? new (class extends NatsPublisher {
        async wake(): Promise<never> {
          throw fault;
        }
      })({ nc, source })
    : new NatsPublisher({ nc, source });
  const { app, view, longPolls, control, controlFeed } = assembleApp({
    publisher,
    synced: () => true,
    maxLongPolls: options.maxLongPolls ?? 100,
    maxLongPollsPerClient: options.maxLongPollsPerClient,
    logger: options.logger ?? createLogger('bridge', 'silent'),
    auth: options.tokens === undefined ? { anonymous: true } : { tokens: options.tokens },
    adminToken: options.adminToken,
  });
  let seq = 0;
  for (const id of options.backends ?? []) view.setBackend(id, backendRecord(id, true), ++seq);
  // A round trip on the observer's connection after the server took the publishes (the wakes' acks, the
  // activity's flush): every message before it has been delivered to the observer.
  const delivered = async () => {
    if (!observer.isClosed()) await observer.flush();
  };
  const built: HttpApp = {
    app,
    view,
    longPolls,
    control,
    controlFeed,
    async wakes() {
      await delivered();
      return [...wakes];
    },
    async activities() {
      await delivered();
      return [...activities];
    },
    async wakesTaken() {
      const text = (await app.inject({ url: '/metrics' })).body;
      return (
        (metricSum(text, 'wakegate_bridge_wakes_published_total') ?? 0) +
        (metricSum(text, 'wakegate_bridge_wake_duplicates_total') ?? 0)
      );
    },
    sleeps,
    sleepAnswer: 'asleep',
    async disconnect() {
      await nc.close();
    },
    async close() {
      await app.close();
      await Promise.all([nc.close(), observer.close()]);
    },
  };
  return built;
}
