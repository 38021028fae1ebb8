/**
 * The small HTTP server every service without its own API (watcher, scaler) exposes for operations:
 * `/healthz` (process alive), `/readyz` (the service's own readiness check) and `/metrics` (Prometheus).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface OpsServerOptions {
  registry: Registry;
  /** Returns undefined when ready, else the reason it is not. */
  notReadyReason: () => string | undefined;
}

export function buildOpsServer(options: OpsServerOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reason = options.notReadyReason();
    if (reason) return reply.code(503).send({ status: 'not ready', reason });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.registry.contentType);
    return options.registry.metrics();
  });
  return app;
}
