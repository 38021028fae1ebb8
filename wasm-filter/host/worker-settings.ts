/** What a worker (one VM) is built with: its plugin's configuration and what it shares with the other workers,
 * and where its logs and http calls go. */
import type { LogLevelName } from './abi.ts';
import type { Clock } from './clock.ts';
import type { ClusterModel } from './clusters.ts';
import type { HttpCallHandler } from './http-calls.ts';
import type { MetricStore } from './metrics.ts';

export type LogEntry = { worker: number; level: LogLevelName; message: string; contextId: number };

export type WorkerSettings = {
  index: number;
  name: string;
  rootId: string;
  vmId: string;
  vmConfiguration: Uint8Array;
  pluginConfiguration: Uint8Array;
  clock: Clock;
  logLevel: LogLevelName;
  clusters: ReadonlySet<string> | undefined;
  /** Envoy's clusters, their hosts and the route table (shared by every worker); none: any known cluster has
   * a host and streams resolve no route. */
  routing?: ClusterModel | undefined;
  properties: ReadonlyMap<string, Uint8Array>;
  /** The VM's environment (vm-environment.ts), read by the module through WASI `environ_get`. */
  environment: ReadonlyMap<string, string>;
  metrics: MetricStore;
  httpCall: HttpCallHandler;
  log: (entry: LogEntry) => void;
  /** Envoy's `allow_on_headers_stop_iteration` (default false). */
  allowOnHeadersStopIteration?: boolean | undefined;
  /** The connection manager's request buffer limit (default 1 MiB, Envoy's `per_connection_buffer_limit_bytes`). */
  bufferLimitBytes?: number | undefined;
  /** The Wasm filter's `fail_open` (default false): streams of a failed VM pass instead of getting 503. */
  failOpen?: boolean | undefined;
  /** The connection manager's `stream_idle_timeout` (default 300000 ms; 0 turns it off). */
  streamIdleTimeoutMs?: number | undefined;
  /** Count the module's host calls (the worker's `hostCalls`); off by default. */
  countHostCalls?: boolean | undefined;
};
