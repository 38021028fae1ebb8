/**
 * The operations endpoints every service serves: `/healthz` (process alive), `/readyz` (the service's own
 * readiness check; 503 `{"status":"not ready","reason"}` when it fails) and `/metrics` (Prometheus). The
 * watcher, the scaler and the local gateway serve them on a server of their own; the bridge beside its API.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

export interface OpsServerOptions {
  registry: Registry;
  /** Returns undefined when ready, else the reason it is not. */
  notReadyReason: () => string | undefined;
}

/** The three endpoints as a plugin, for an app that has other routes too (`app.register(opsRoutes(…))`). */
export function opsRoutes(options: OpsServerOptions): FastifyPluginAsync {
  return async (app) => {
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
  };
}

/**
 * A server of only the three endpoints (and what a caller adds); `listen()` stays with the caller. Anything
 * refused is answered with the body every wakegate API uses, `{"error","message"}`.
 */
export function buildOpsServer(options: OpsServerOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode < 500 ? error.statusCode : 500;
    reply.code(status).send({
      error: status === 500 ? 'internal' : 'invalid_request',
      message: status === 500 ? 'internal error' : error.message,
    });
  });
  app.register(opsRoutes(options));
  return app;
}
