/** The watcher's NATS side: `wakegate-backends` with compare-and-set writes, and `wakegate.ready.*` events. */
import { jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { MsgHdrs } from '@nats-io/transport-node';
import {
  BACKENDS_BUCKET,
  type BackendId,
  type BackendRecord,
  backendFromKey,
  backendKey,
  codecs,
  isRevisionConflict,
  KV_TIMEOUT_MS,
  type Logger,
  type NatsConnection,
  PayloadError,
  subjectFor,
} from '../shared/index.ts';

export interface StoredBackend {
  record: BackendRecord | undefined;
  /** Revision of the key's last entry (a delete marker included); 0 when it never existed. */
  revision: number;
}

export class BackendStore {
  private readonly kv: KV;
  private readonly nc: NatsConnection;
  private readonly logger: Logger;
  private readonly onUnreadable: () => void;
  /** The revision of each key whose value could not be read, so a value read again is told of once. */
  private readonly unreadable = new Map<BackendId, number>();

  /** `onUnreadable` is told of every value of the bucket this store could not read, once. */
  constructor(kv: KV, nc: NatsConnection, logger: Logger, onUnreadable: () => void) {
    this.kv = kv;
    this.nc = nc;
    this.logger = logger;
    this.onUnreadable = onUnreadable;
  }

  async read(id: BackendId): Promise<StoredBackend> {
    const entry = await this.kv.get(backendKey(id));
    // The entry's server timestamp is left alone: ages are measured on the watcher's own clock.
    const base = { revision: entry?.revision ?? 0 };
    if (entry?.operation !== 'PUT') {
      this.unreadable.delete(id);
      return { record: undefined, ...base };
    }
    try {
      const record = codecs.backend.decode(entry.value);
      this.unreadable.delete(id);
      return { record, ...base };
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      // A value this watcher cannot read is replaced by the next write.
      if (this.unreadable.get(id) !== entry.revision) {
        this.unreadable.set(id, entry.revision);
        this.logger.warn({ backend: id, err: error }, 'unreadable value in wakegate-backends');
        this.onUnreadable();
      }
      return { record: undefined, ...base };
    }
  }

  /** Writes only if the key is still at `revision`: the new revision, or undefined when someone else wrote
   * first. */
  async put(record: BackendRecord, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.put(backendKey(record.id), codecs.backend.encode(record), {
        previousSeq: revision,
      });
    } catch (error) {
      if (isRevisionConflict(error)) return undefined;
      throw error;
    }
  }

  /** Deletes only if the key is still at `revision`: 0 when done (the marker's revision is not returned),
   * undefined when someone else wrote first. */
  async remove(id: BackendId, revision: number): Promise<0 | undefined> {
    try {
      await this.kv.delete(backendKey(id), { previousSeq: revision });
      return 0;
    } catch (error) {
      if (isRevisionConflict(error)) return undefined;
      throw error;
    }
  }

  /**
   * Every key the bucket holds (deleted ones may be among them; reading them says so). Asks the stream
   * for its subjects in one request rather than running a consumer over the bucket (`kv.keys()`), which
   * can stall while another replica writes. Without the manager's API check: that asks JetStream's meta
   * group, whose leader can be elected seconds after the bucket's (a killed NATS server led both), and the
   * retry of a failed write lists the keys first, so the ready record waited for the meta group too.
   */
  async ids(): Promise<BackendId[]> {
    const jsm = await jetstreamManager(this.nc, { timeout: KV_TIMEOUT_MS, checkAPI: false });
    const prefix = `$KV.${BACKENDS_BUCKET}.`;
    const info = await jsm.streams.info(`KV_${BACKENDS_BUCKET}`, { subjects_filter: `${prefix}>` });
    const ids: BackendId[] = [];
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const key = subject.slice(prefix.length);
      try {
        ids.push(backendFromKey(key));
      } catch {
        this.logger.warn({ key }, 'key in wakegate-backends is not a backend id');
      }
    }
    return ids;
  }

  /** `headers`: the trace context of the backend's ready span, when its cold start is traced. */
  publishReady(record: BackendRecord, at: number, headers?: MsgHdrs): void {
    const { id, ready, replicas, readyReplicas } = record;
    this.nc.publish(
      subjectFor('ready', id),
      codecs.ready.encode({ backend: id, ready, replicas, readyReplicas, at }),
      { headers },
    );
  }
}
