/**
 * The filter's `proxy_http_call`s, made over real HTTP to the bridge (`WAKEGATE_BRIDGE_URL`), as Envoy
 * would send them to the bridge cluster. Also notes which backends each worker's filter has learned from
 * `GET /v1/backends`, which is what the gateway's readiness means.
 */
import { Agent, request } from 'undici';
import type { HeaderPairs, HttpCallHandler, HttpCallResponse } from '../../wasm-filter/host/index.ts';
import type { BackendsReply } from '../bridge/index.ts';
import { asError, type Logger } from '../shared/index.ts';

export interface BridgeCallsOptions {
  bridgeUrl: string;
  /** The only cluster the filter may call. */
  cluster: string;
  logger: Logger;
  /** Each 200 answer to `GET /v1/backends`: the backends it lists, with their readiness; `full` for a whole
   * table, else a delta (the others unchanged, `removed` gone). */
  onTable: (worker: number, backends: Map<string, boolean>, full: boolean, removed: string[]) => void;
  onFailure: () => void;
}

export interface BridgeCalls {
  handler: HttpCallHandler;
  close(): Promise<void>;
}

const BACKENDS_PATH = '/v1/backends';

function header(pairs: HeaderPairs, name: string): string | undefined {
  return pairs.find(([k]) => k === name)?.[1];
}

export function createBridgeCalls(options: BridgeCallsOptions): BridgeCalls {
  const base = options.bridgeUrl.replace(/\/+$/, '');
  // Long polls hold one connection per worker; wakes and activity reports need a few more.
  const agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  const closing = new AbortController();

  const handler: HttpCallHandler = async (call) => {
    if (call.cluster !== options.cluster) return undefined;
    const method = header(call.headers, ':method') ?? 'GET';
    const path = header(call.headers, ':path') ?? '/';
    const isPoll = method === 'GET' && path.startsWith(BACKENDS_PATH);
    const headers: Record<string, string> = {};
    for (const [name, value] of call.headers) if (!name.startsWith(':')) headers[name] = value;
    const signals = [closing.signal];
    if (call.timeoutMs > 0) signals.push(AbortSignal.timeout(call.timeoutMs + 1000));
    try {
      const response = await request(`${base}${path}`, {
        method: method as 'GET',
        headers,
        body: call.body.length > 0 ? Buffer.from(call.body) : undefined,
        dispatcher: agent,
        signal: AbortSignal.any(signals),
        // The filter's own timeout (on its tick) is the one that counts for a long poll.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      const body = new Uint8Array(await response.body.arrayBuffer());
      const pairs: HeaderPairs = [[':status', String(response.statusCode)]];
      for (const [name, value] of Object.entries(response.headers)) {
        if (value === undefined) continue;
        for (const one of [value].flat()) pairs.push([name, one]);
      }
      if (isPoll && response.statusCode === 200) noteTable(call.worker, body);
      const result: HttpCallResponse = { headers: pairs, body };
      return result;
    } catch (error) {
      if (!closing.signal.aborted) {
        options.onFailure();
        options.logger.debug({ err: asError(error), path }, 'bridge call failed');
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
      closing.abort();
      await agent.close();
    },
  };
}
