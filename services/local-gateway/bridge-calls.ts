/**
 * The filter's `proxy_http_call`s, made over real HTTP to the bridge (`WAKEGATE_BRIDGE_URL`, one URL per
 * replica), as Envoy would send them to the bridge cluster: spread round robin over its endpoints, a failed
 * one skipped until its health check passes (bridge-endpoints.ts). Also notes which backends each worker's filter has learned from
 * `GET /v1/backends`, which is what the gateway's readiness means.
 */
import { Agent, request } from 'undici';
import type { HeaderPairs, HttpCallHandler, HttpCallResponse } from '../../wasm-filter/host/index.ts';
import type { BackendsReply } from '../bridge/index.ts';
import { asError, type Logger } from '../shared/index.ts';
import { type BridgeEndpoint, BridgeEndpoints } from './bridge-endpoints.ts';
import { InFlight } from './in-flight.ts';

export interface BridgeCallsOptions {
  /** One URL, or a comma-separated list: an endpoint per bridge replica. */
  bridgeUrl: string;
  /** The only cluster the filter may call. */
  cluster: string;
  logger: Logger;
  /** Each 200 answer to `GET /v1/backends`: the backends it lists, with their readiness; `full` for a whole
   * table, else a delta (the others unchanged, `removed` gone). */
  onTable: (worker: number, backends: Map<string, boolean>, full: boolean, removed: string[]) => void;
  onFailure: () => void;
  /** The healthy endpoints, whenever their number changes. */
  onHealthy?: ((healthy: number) => void) | undefined;
  /** How often an ejected endpoint is checked (Envoy's health check `interval`; default 500 ms). */
  healthCheckMs?: number | undefined;
}

export interface BridgeCalls {
  handler: HttpCallHandler;
  close(): Promise<void>;
}

const BACKENDS_PATH = '/v1/backends';

function header(pairs: HeaderPairs, name: string): string | undefined {
  return pairs.find(([k]) => k === name)?.[1];
}

const HEALTH_CHECK_MS = 500;

export function createBridgeCalls(options: BridgeCallsOptions): BridgeCalls {
  const endpoints = new BridgeEndpoints(options.bridgeUrl.split(',').map((url) => url.trim()));
  // Long polls hold one connection per worker; wakes and activity reports need a few more.
  const agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  const calls = new InFlight();
  const checking = new Set<NodeJS.Timeout>();
  const healthCheckMs = options.healthCheckMs ?? HEALTH_CHECK_MS;

  /** Ejects `endpoint` and checks it every interval until `/readyz` answers 200 (a bridge that has its tables
   * and NATS, as a Kubernetes Service lists only ready pods). */
  const eject = (endpoint: BridgeEndpoint) => {
    if (!endpoints.failed(endpoint)) return;
    options.logger.warn({ endpoint: endpoint.url }, 'bridge endpoint ejected: a call got no answer');
    options.onHealthy?.(endpoints.healthyCount);
    const timer = setInterval(async () => {
      const passed = await calls
        .run(healthCheckMs, async (signal) => {
          const answer = await request(`${endpoint.url}/readyz`, { dispatcher: agent, signal });
          await answer.body.dump();
          return answer.statusCode === 200;
        })
        .catch(() => false);
      if (!passed || !checking.has(timer)) return;
      clearInterval(timer);
      checking.delete(timer);
      if (endpoints.healthy(endpoint)) {
        options.logger.info({ endpoint: endpoint.url }, 'bridge endpoint healthy again');
        options.onHealthy?.(endpoints.healthyCount);
      }
    }, healthCheckMs);
    checking.add(timer);
  };

  const handler: HttpCallHandler = async (call) => {
    if (call.cluster !== options.cluster) return undefined;
    const method = header(call.headers, ':method') ?? 'GET';
    const path = header(call.headers, ':path') ?? '/';
    const isPoll = method === 'GET' && path.startsWith(BACKENDS_PATH);
    const headers: Record<string, string> = {};
    for (const [name, value] of call.headers) if (!name.startsWith(':')) headers[name] = value;
    const endpoint = endpoints.pick();
    try {
      const { response, body } = await calls.run(
        call.timeoutMs > 0 ? call.timeoutMs + 1000 : 0,
        async (signal) => {
          const response = await request(`${endpoint.url}${path}`, {
            method: method as 'GET',
            headers,
            body: call.body.length > 0 ? Buffer.from(call.body) : undefined,
            dispatcher: agent,
            signal,
            // The filter's own timeout (on its tick) is the one that counts for a long poll.
            headersTimeout: 0,
            bodyTimeout: 0,
          });
          return { response, body: new Uint8Array(await response.body.arrayBuffer()) };
        },
      );
      const pairs: HeaderPairs = [[':status', String(response.statusCode)]];
      for (const [name, value] of Object.entries(response.headers)) {
        if (value === undefined) continue;
        for (const one of [value].flat()) pairs.push([name, one]);
      }
      if (isPoll && response.statusCode === 200) noteTable(call.worker, body);
      const result: HttpCallResponse = { headers: pairs, body };
      return result;
    } catch (error) {
      if (!calls.aborted) {
        eject(endpoint);
        options.onFailure();
        options.logger.debug({ err: asError(error), path, endpoint: endpoint.url }, 'bridge call failed');
      }
      return undefined;
    }
  };

  const noteTable = (worker: number, body: Uint8Array) => {
    try {
      const table = JSON.parse(Buffer.from(body).toString('utf8')) as Partial<BackendsReply> & {
        full?: boolean;
        removed?: unknown[];
      };
      const backends = new Map<string, boolean>();
      for (const b of table.backends ?? [])
        if (typeof b.id === 'string') backends.set(b.id, b.ready === true);
      const removed = (table.removed ?? []).filter((id): id is string => typeof id === 'string');
      options.onTable(worker, backends, table.full === true, removed);
    } catch {
      // The filter judges the answer itself; readiness just does not advance.
    }
  };

  return {
    handler,
    async close() {
      calls.abort();
      for (const timer of checking) clearInterval(timer);
      checking.clear();
      await agent.close();
    },
  };
}
