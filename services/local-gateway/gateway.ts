/**
 * The local gateway: an HTTP/1.1 + h2c proxy that runs the wakegate filter through the proxy-wasm host the
 * way Envoy runs it, routes by host, path and headers to the process provider's backends (HTTP/1.1 or h2c)
 * and streams bodies both ways; WebSocket upgrades are held, released and spliced to the backend.
 * For local mode and tests only; production runs the same filter in Envoy.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { request as upstreamRequest, stream as upstreamStream } from 'undici';
import {
  createPlugin,
  type HttpCallHandler,
  joinedHeaderValue,
  type LocalReply,
  type LogLevelName,
  type Plugin,
  type Stream,
} from '../../wasm-filter/host/index.ts';
import { loadProcessConfig, readProcessState, watchProcessState } from '../providers/process/index.ts';
import { asError, buildOpsServer, type Logger } from '../shared/index.ts';
import { createBridgeCalls } from './bridge-calls.ts';
import { ClusterHosts } from './cluster-hosts.ts';
import { H2cUpstreams } from './h2c-upstream.ts';
import { authorityOf, downstreamHeaders, pairsToHeaders, requestPairs, upstreamHeaders } from './headers.ts';
import { InFlight } from './in-flight.ts';
import { createDualProtocolServer } from './listener.ts';
import { createGatewayMetrics, registerFilterMetrics } from './metrics.ts';
import { ResponseTimer } from './response-timer.ts';
import { type Route, RouteTable } from './routes.ts';
import { answerOnSocket, proxyUpgrade } from './upgrades.ts';
import { UpstreamPools } from './upstream-pools.ts';

export const BRIDGE_CLUSTER = 'wakegate-bridge';

export interface GatewayOptions {
  processConfig: string;
  wasm: string | Uint8Array;
  bridgeUrl: string;
  bridgeToken?: string | undefined;
  workers: number;
  /** Merged over the gateway's filter configuration. */
  filterConfig?: Record<string, unknown> | undefined;
  /** Delay between the watcher saying a backend is ready and this gateway's workers routing to it, as an
   * Envoy's EDS update lags (default 0). */
  edsLagMs?: number | undefined;
  logger: Logger;
}

export interface Gateway {
  plugin: Plugin;
  /** HTTP/1.1 and h2c on one port. */
  server: Server;
  /**
   * /healthz, /readyz (every worker's filter knows every configured backend), /metrics, and /backends
   * (the last backend table each worker received, with readiness).
   */
  admin: FastifyInstance;
  close(): Promise<void>;
}

type Request = IncomingMessage | Http2ServerRequest;
/** Both response kinds offer the same writeHead/end/stream API; TypeScript cannot call their union. */
type Response = ServerResponse;

const LOG_METHODS: Record<LogLevelName, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
};

const BODILESS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export async function buildGateway(options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  const processConfig = await loadProcessConfig(options.processConfig);
  const routes = new RouteTable(processConfig.backends.values());
  const expected = [...processConfig.backends.keys()];
  const metrics = createGatewayMetrics();

  /** The last backend table each worker's filter received, for readiness and `GET /backends`. */
  const known = new Map<number, Map<string, boolean>>();
  const clusterHosts = new ClusterHosts();
  let plugin: Plugin | undefined;
  const bridgeCalls = createBridgeCalls({
    bridgeUrl: options.bridgeUrl,
    cluster: BRIDGE_CLUSTER,
    logger,
    onTable: (worker, backends, full, removed) => {
      // A delta changes the backends it lists and removes those it names; the others stay as they were.
      const table = full ? new Map<string, boolean>() : (known.get(worker) ?? new Map<string, boolean>());
      for (const id of removed) table.delete(id);
      for (const [id, ready] of backends) table.set(id, ready);
      known.set(worker, table);
      // The cluster gets its host when the watcher says ready (Envoy's EDS push); each worker applies it after
      // the EDS lag. This runs before the filter sees the same table, as the endpoint reaches Envoy first at lag 0.
      for (const id of clusterHosts.apply(backends)) {
        if (processConfig.backends.has(id)) plugin?.clusters?.setHost(id, true);
      }
    },
    onFailure: () => metrics.bridgeCallFailures.inc(),
    onHealthy: (healthy) => metrics.bridgeEndpointsHealthy.set(healthy),
  });
  metrics.bridgeEndpointsHealthy.set(options.bridgeUrl.split(',').length);
  // The cluster loses its host when the scaler records the backend's process stopped (a pod deleted).
  const takeStoppedHosts = async () => {
    const { backends } = await readProcessState(processConfig.stateFile);
    const stopped = [...processConfig.backends.keys()].filter((id) => (backends[id]?.replicas ?? 0) === 0);
    for (const id of clusterHosts.stop(stopped)) plugin?.clusters?.setHost(id, false);
  };
  const stopWatchingState = await watchProcessState(processConfig.stateFile, () => void takeStoppedHosts());
  /** The filter's probes to a backend's cluster, sent to the backend as Envoy's async client would. */
  const probeCalls: HttpCallHandler = async (call) => {
    const route = processConfig.backends.get(call.cluster);
    if (!route) return undefined;
    const method = call.headers.find(([k]) => k === ':method')?.[1] ?? 'HEAD';
    const path = call.headers.find(([k]) => k === ':path')?.[1] ?? '/';
    if (route.protocol === 'h2c') {
      const status = await h2c.probe(route.url, path, method, Math.max(1, call.timeoutMs));
      return status === undefined ? undefined : { headers: [[':status', String(status)]] };
    }
    try {
      const status = await probes.run(Math.max(1, call.timeoutMs), async (signal) => {
        const answer = await upstreamRequest(`${route.url}${path}`, {
          method: method as 'HEAD',
          dispatcher: upstreams.for(route.url),
          signal,
        });
        await answer.body.dump();
        return answer.statusCode;
      });
      return { headers: [[':status', String(status)]] };
    } catch {
      return undefined;
    }
  };
  const upstreams = new UpstreamPools();
  const probes = new InFlight();
  const h2c = new H2cUpstreams();

  plugin = await createPlugin({
    module: options.wasm,
    configuration: {
      bridge_cluster: BRIDGE_CLUSTER,
      ...(options.bridgeToken ? { token: options.bridgeToken } : {}),
      ...options.filterConfig,
    },
    workers: options.workers,
    clusters: [BRIDGE_CLUSTER],
    // A cluster per backend, its host there once the watcher says ready; routes give streams their cluster.
    routing: {
      clusters: Object.fromEntries([...processConfig.backends.keys()].map((id) => [id, false])),
      routes: routes.rules(),
      edsLagMs: options.edsLagMs ?? 0,
    },
    httpCall: (call) => (call.cluster === BRIDGE_CLUSTER ? bridgeCalls.handler(call) : probeCalls(call)),
    // As infra/envoy/envoy.yaml: a trapped VM lets new requests through, held ones end at the stream idle timeout.
    failOpen: true,
    streamIdleTimeoutMs: 330_000,
    // Envoy configures a throwaway VM on its main thread first: the filter must leave nothing behind it.
    canary: true,
    logLevel: 'info',
    onLog: (entry) => logger[LOG_METHODS[entry.level]]({ worker: entry.worker }, entry.message),
  });
  registerFilterMetrics(metrics.registry, plugin);

  const forward = async (
    request: Request,
    response: Response,
    route: Route,
    headers: [string, string][],
    stream: Stream,
  ) => {
    const aborted = new AbortController();
    let finished = false;
    response.once('finish', () => {
      finished = true;
    });
    // A client that leaves mid-way cancels the upstream request; a finished one must not pay for an abort.
    response.once('close', () => {
      if (!finished) aborted.abort();
    });
    const method = request.method ?? 'GET';
    const options = {
      method: method as 'GET',
      headers: upstreamHeaders(headers, request.socket?.remoteAddress),
      body: BODILESS.has(method) ? undefined : request,
      dispatcher: upstreams.for(route.url),
      signal: aborted.signal,
    };
    // An h2c backend's calls are bounded by their own deadlines (grpc-timeout), as on the shipped Envoy's routes.
    const responseTimer = new ResponseTimer(route.protocol === 'h2c' ? 0 : route.responseTimeoutMs, () =>
      aborted.abort(),
    );
    if (BODILESS.has(method) || request.readableEnded) responseTimer.start();
    else request.once('end', () => responseTimer.start());
    try {
      // An h2c backend's answer streams straight back (a gRPC stream has no whole body to hand a module).
      if (route.protocol === 'h2c') {
        await h2c.forward(route.url, request, response, options.headers, !BODILESS.has(method));
        metrics.requests.inc({ outcome: 'proxied' });
        return;
      }
      if (stream.passesResponse) {
        // The module has response callbacks (or its VM failed): the response goes through it whole, as
        // Envoy's encoder filter chain has it, before the client gets what it made of it.
        const answer = await upstreamRequest(`${route.url}${request.url ?? '/'}`, options);
        responseTimer.stop();
        const body = new Uint8Array(await answer.body.arrayBuffer());
        const pairs: [string, string][] = [[':status', String(answer.statusCode)]];
        for (const [k, v] of Object.entries(downstreamHeaders(answer.headers))) {
          for (const value of Array.isArray(v) ? v : [v]) pairs.push([k, value]);
        }
        const out = await stream.respond({ headers: pairs, body });
        if (out.kind === 'cancelled') return;
        if (out.kind === 'reset') {
          response.destroy();
          return;
        }
        response.writeHead(out.status, pairsToHeaders(out.headers));
        response.end(Buffer.from(out.body));
        metrics.requests.inc({ outcome: 'proxied' });
        return;
      }
      // `stream` writes the upstream body straight into the response, with back-pressure both ways.
      await upstreamStream(
        `${route.url}${request.url ?? '/'}`,
        options,
        ({ statusCode, headers: answer }) => {
          responseTimer.stop();
          response.writeHead(statusCode, downstreamHeaders(answer));
          return response;
        },
      );
      metrics.requests.inc({ outcome: 'proxied' });
    } catch (error) {
      if (responseTimer.expired) {
        metrics.requests.inc({ outcome: 'upstream_timeout' });
        logger.warn(
          { backend: route.backend, responseTimeoutMs: route.responseTimeoutMs },
          'upstream request timed out',
        );
        // Envoy's own answer when a route's timeout passes before the response starts.
        response.writeHead(504, { 'content-type': 'text/plain' });
        response.end('upstream request timeout');
        return;
      }
      if (aborted.signal.aborted) return;
      metrics.requests.inc({ outcome: 'upstream_error' });
      logger.warn({ backend: route.backend, err: asError(error) }, 'upstream request failed');
      if (response.headersSent) {
        response.destroy();
        return;
      }
      response.writeHead(502, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'backend unreachable', backend: route.backend }));
    } finally {
      responseTimer.stop();
    }
  };

  // A 5xx the filter or the router answered is logged with its details (as an Envoy access log would show
  // them): `no_healthy_upstream`, a held request's max-wait, an overflow tell apart what the client only sees
  // as a status.
  const countLocalReply = (reply: LocalReply, request: IncomingMessage | Request) => {
    metrics.requests.inc({ outcome: 'local_reply' });
    if (reply.status >= 500)
      logger.info(
        { status: reply.status, details: reply.details, host: authorityOf(request) },
        'local reply',
      );
  };

  const handle = async (request: Request, response: Response) => {
    const pairs = requestPairs(request);
    const stream = plugin.openStream({ headers: pairs });
    // Finished or abandoned, the stream ends for the filter (log → done → delete), like Envoy's.
    response.once('close', () => stream.close());
    const outcome = stream.settled ?? (await stream.outcome);
    if (outcome.kind === 'cancelled') {
      metrics.requests.inc({ outcome: 'cancelled' });
      return;
    }
    if (outcome.kind === 'reset') {
      // The module reset the stream: the client gets no response, as from Envoy.
      metrics.requests.inc({ outcome: 'cancelled' });
      response.destroy();
      return;
    }
    if (outcome.kind === 'local-reply') {
      countLocalReply(outcome, request);
      response.writeHead(outcome.status, pairsToHeaders(outcome.headers));
      response.end(Buffer.from(outcome.body));
      return;
    }
    const route = routes.find(
      authorityOf(request),
      request.url,
      (name) => joinedHeaderValue(pairs, name),
      request.method,
    );
    if (!route) {
      metrics.requests.inc({ outcome: 'no_route' });
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'no backend for this host', host: authorityOf(request) }));
      return;
    }
    await forward(request, response, route, outcome.headers, stream);
  };

  const onRequest = (request: Request, reply: ServerResponse | Http2ServerResponse) => {
    const response = reply as Response;
    handle(request, response).catch((error: unknown) => {
      logger.error({ err: asError(error) }, 'request handling failed');
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'gateway error' }));
      } else response.destroy();
    });
  };
  /** An HTTP/1.1 upgrade (WebSocket): held and released by the filter like any request, then spliced to the
   * backend. The filter's stream lasts as long as the connection, so an open WebSocket counts in flight. */
  const handleUpgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pairs = requestPairs(request);
    pairs.push(['connection', 'Upgrade'], ['upgrade', String(request.headers.upgrade ?? '')]);
    const stream = plugin.openStream({ headers: pairs });
    socket.once('close', () => stream.close());
    socket.on('error', () => socket.destroy());
    const outcome = stream.settled ?? (await stream.outcome);
    if (outcome.kind === 'cancelled' || outcome.kind === 'reset') {
      metrics.requests.inc({ outcome: 'cancelled' });
      socket.destroy();
      return;
    }
    if (outcome.kind === 'local-reply') {
      countLocalReply(outcome, request);
      answerOnSocket(socket, outcome.status, pairsToHeaders(outcome.headers), outcome.body);
      return;
    }
    const route = routes.find(
      authorityOf(request),
      request.url,
      (name) => joinedHeaderValue(pairs, name),
      request.method,
    );
    if (!route) {
      metrics.requests.inc({ outcome: 'no_route' });
      answerOnSocket(
        socket,
        404,
        { 'content-type': 'application/json' },
        Buffer.from(JSON.stringify({ error: 'no backend for this host', host: authorityOf(request) })),
      );
      return;
    }
    try {
      await proxyUpgrade(
        request,
        socket,
        head,
        route.url,
        upstreamHeaders(outcome.headers, request.socket?.remoteAddress),
      );
      metrics.requests.inc({ outcome: 'proxied' });
    } catch (error) {
      metrics.requests.inc({ outcome: 'upstream_error' });
      logger.warn({ backend: route.backend, err: asError(error) }, 'upstream upgrade failed');
      answerOnSocket(
        socket,
        502,
        { 'content-type': 'application/json' },
        Buffer.from(JSON.stringify({ error: 'backend unreachable', backend: route.backend })),
      );
    }
  };

  const http1 = createHttpServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, onRequest);
  http1.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    handleUpgrade(request, socket, head).catch((error: unknown) => {
      logger.error({ err: asError(error) }, 'upgrade handling failed');
      socket.destroy();
    });
  });
  const http2 = createHttp2Server({ maxSessionMemory: 64 }, onRequest);
  const listener = createDualProtocolServer(http1, http2);

  const admin = buildOpsServer({
    registry: metrics.registry,
    notReadyReason: () => {
      for (const worker of plugin.workers) {
        const table = known.get(worker.index);
        if (!table) return `worker ${worker.index} has no backend table from the bridge yet`;
        const missing = expected.find((id) => !table.has(id));
        if (missing) return `worker ${worker.index} does not know backend ${missing} yet`;
      }
      return undefined;
    },
  });

  admin.get('/backends', async () => ({
    workers: plugin.workers.map((worker) => ({
      worker: worker.index,
      backends: Object.fromEntries(known.get(worker.index) ?? []),
    })),
  }));

  return {
    plugin,
    server: listener.server,
    admin,
    async close() {
      stopWatchingState();
      await listener.close();
      await admin.close();
      plugin.close();
      await bridgeCalls.close();
      probes.abort();
      await upstreams.close();
      h2c.close();
    },
  };
}
