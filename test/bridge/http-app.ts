/**
 * The bridge's HTTP app without NATS, for tests of its HTTP behaviour through `app.inject()`: the merged
 * view is fed directly and the publisher records what it was asked to publish.
 */
import {
  type AssembledApp,
  assembleApp,
  type PublishedWake,
  type Publisher,
} from '../../services/bridge/index.ts';
import {
  type ActivityReport,
  createLogger,
  type Logger,
  type SleepReply,
} from '../../services/shared/index.ts';
import { backendRecord } from '../backend-record.ts';

/** A publisher that keeps every wake and activity call; every wake is a first one. */
export class RecordingPublisher implements Publisher {
  connected = true;
  readonly wakes: { backend: string; atMs: number }[] = [];
  readonly activities: { reports: readonly ActivityReport[]; atMs: number; filterSource?: string }[] = [];

  /** When set, every wake fails with it. */
  wakeError: Error | undefined;

  async wake(backend: string, atMs: number): Promise<PublishedWake> {
    if (this.wakeError) throw this.wakeError;
    this.wakes.push({ backend, atMs });
    return { duplicate: false };
  }

  async activity(reports: readonly ActivityReport[], atMs: number, filterSource?: string): Promise<void> {
    this.activities.push({ reports, atMs, ...(filterSource === undefined ? {} : { filterSource }) });
  }

  /** What the lease holder answers every sleep with (`asleep` unless a test sets another outcome). */
  sleepOutcome: SleepReply['outcome'] = 'asleep';
  readonly sleeps: { backend: string; force: boolean }[] = [];
  /** When set, every sleep fails with it (what the real publisher throws). */
  sleepError: Error | undefined;

  async sleep(backend: string, force: boolean): Promise<SleepReply> {
    this.sleeps.push({ backend, force });
    if (this.sleepError) throw this.sleepError;
    return { backend, outcome: this.sleepOutcome };
  }
}

export interface HttpApp
  extends Pick<AssembledApp, 'app' | 'view' | 'longPolls' | 'control' | 'controlFeed'> {
  publisher: RecordingPublisher;
}

/** The app, synced, over a view listing `backends` (each ready), quiet; open to anyone unless given tokens. */
export function buildHttpApp(
  options: {
    backends?: string[];
    tokens?: string[];
    adminToken?: string;
    maxLongPolls?: number;
    maxLongPollsPerClient?: number;
    /** Silent unless given. */
    logger?: Logger;
  } = {},
): HttpApp {
  const publisher = new RecordingPublisher();
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
  return { app, view, longPolls, control, controlFeed, publisher };
}
