/**
 * The HTTP adapter: fastify routes of the bridge API (v1) plus the ops endpoints every service has
 * (`/healthz`, `/readyz`, `/metrics`).
 * Everything it needs comes in through BuildAppOptions (app-assembly.ts makes those parts, for the
 * service and for tests alike), and `listen()` stays with the caller.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { context, propagation, ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import Fastify, { type FastifyError, type FastifySchemaValidationError, LogController } from 'fastify';
import {
  type ActivityReport,
  announcesBody,
  type BackendId,
  InvalidBackendIdError,
  inSchedule,
  inSpan,
  type Logger,
  opsRoutes,
  parseBackendId,
  type SleepReply,
} from '../shared/index.ts';
import { type BridgeAuth, bearerTokenCheck } from './auth.ts';
import { BodySlots } from './body-slots.ts';
import { answerClientError, answerFrameworkError } from './client-errors.ts';
import type { ColdStartClock } from './cold-start-clock.ts';
import type { ColdStartTraces } from './cold-start-traces.ts';
import { controlRoutes } from './control-api.ts';
import type { ControlFeed } from './control-feed.ts';
import type { ControlState } from './control-state.ts';
import {
  AsleepByScheduleError,
  ControlDisabledError,
  LongPollLimitError,
  LongPollQuotaError,
  NatsUnavailableError,
  NoLeaderError,
  NotSyncedError,
  SleepRefusedError,
  SleepReplyInvalidError,
  UnknownBackendError,
  ViewBehindError,
  WakeTimeoutError,
} from './errors.ts';
import type { LongPolls } from './long-poll.ts';
import type { MergedView } from './merged-view.ts';
import type { BridgeMetrics } from './metrics.ts';
import type { PublishedWake } from './nats-publisher.ts';
import {
  ActivityBody,
  BackendsHeaders,
  BackendsQuery,
  BackendsReply,
  ErrorReply,
  errorBody,
  NoContent,
  WakeBody,
  WakeReply,
} from './schemas.ts';
import { statusPageRoutes } from './status-page.ts';
import { bridgeValidatorCompiler } from './validator.ts';

export const BODY_LIMIT = 64 * 1024;
/** The longest a client may take to send a whole request (a 64 KiB body is sent in milliseconds). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER_S = '1';
/** How long a wake waits for NATS to take it: below the filter's 5 s call timeout. */
const WAKE_HOLD_MS = 4000;
const NATS_WAIT_STEP_MS = 50;
const JSON_TYPE = 'application/json; charset=utf-8';

/** What the HTTP adapter needs of NATS (NatsPublisher implements it). */
export interface Publisher {
  readonly connected: boolean;
  /** Publishes a wake, trying again for up to `holdMs` while NATS cannot take it. */
  wake(backend: string, atMs: number, holdMs?: number): Promise<PublishedWake>;
  /** Resolves once NATS took the reports; rejects (NatsUnavailableError) when it did not. */
  activity(reports: readonly ActivityReport[], atMs: number, filterSource?: string): Promise<void>;
  /** Asks the idle-loop lease holder to put a backend to sleep; rejects (NoLeaderError) when none answers. */
  sleep(backend: BackendId, force: boolean): Promise<SleepReply>;
}

export interface BuildAppOptions {
  view: MergedView;
  longPolls: LongPolls;
  publisher: Publisher;
  /** Both KV snapshots are loaded. */
  synced: () => boolean;
  metrics: BridgeMetrics;
  /** Told of every wake, so a cold start's `total` phase starts at its first one. */
  coldStart: ColdStartClock;
  /** Told of every wake of a backend not ready, in its span, so the release can be traced under it. */
  traces: ColdStartTraces;
  logger: Logger;
  /** Who may call `/v1`: `Authorization: Bearer <one of the tokens>`, or anyone when anonymous. */
  auth: BridgeAuth;
  /** The control API (`/v1/control`): its state, its feed of changes and its token (undefined: off). */
  control: { state: ControlState; feed: ControlFeed; adminToken: string | undefined };
  /** The wake path (createWake), shared with the control API's NATS twin. */
  wake: Wake;
  now?: () => number;
}

const errorResponses = {
  400: ErrorReply,
  401: ErrorReply,
  404: ErrorReply,
  413: ErrorReply,
  415: ErrorReply,
  429: ErrorReply,
  500: ErrorReply,
  503: ErrorReply,
};

/** One readable line out of the schema errors: `body/reports/0/requests must be >= 0`, `body has unknown field x`. */
function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const lines: string[] = [];
  for (const error of errors) {
    // TypeBox reports an unknown field twice: as `schema is false` at the field and once at the object.
    if (error.keyword === 'boolean') continue;
    const where = `${dataVar}${error.instancePath}`;
    const unknown = (error.params as { additionalProperties?: unknown }).additionalProperties;
    lines.push(
      error.keyword === 'additionalProperties' && Array.isArray(unknown)
        ? `${where} has unknown field ${unknown.join(', ')}`
        : `${where} ${error.message}`,
    );
  }
  return new Error(lines.slice(0, 3).join('; ') || `${dataVar} is invalid`);
}

/** Status, `error` code and whether to add Retry-After for each failure the bridge knows. */
function classify(error: FastifyError | Error): { status: number; code: string; retry: boolean } {
  if (
    error instanceof NatsUnavailableError ||
    error instanceof NotSyncedError ||
    error instanceof ViewBehindError ||
    error instanceof LongPollLimitError
  ) {
    return { status: 503, code: error.code, retry: true };
  }
  if (error instanceof NoLeaderError) return { status: 503, code: error.code, retry: true };
  if (error instanceof AsleepByScheduleError) return { status: 503, code: error.code, retry: true };
  if (error instanceof LongPollQuotaError) return { status: 429, code: error.code, retry: true };
  if (error instanceof ControlDisabledError) return { status: 403, code: error.code, retry: false };
  if (error instanceof SleepRefusedError) return { status: error.status, code: error.code, retry: false };
  if (error instanceof SleepReplyInvalidError) return { status: 502, code: error.code, retry: false };
  if (error instanceof WakeTimeoutError) return { status: 504, code: error.code, retry: false };
  if (error instanceof UnknownBackendError) return { status: 404, code: error.code, retry: false };
  if (error instanceof InvalidBackendIdError) return { status: 400, code: error.code, retry: false };
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) return { status: 400, code: 'invalid_request', retry: false };
  const status = fastifyError.statusCode ?? 500;
  if (status === 413) return { status, code: 'body_too_large', retry: false };
  if (status === 415) return { status, code: 'unsupported_media_type', retry: false };
  if (status >= 400 && status < 500) return { status, code: 'invalid_request', retry: false };
  return { status: 500, code: 'internal', retry: false };
}

/** A wake of a backend: `arrivedAt` on the monotonic clock, each publish tried for up to `holdMs`. */
export type Wake = (backend: BackendId, arrivedAt: number, holdMs?: number) => Promise<PublishedWake>;

/** What a wake needs of the bridge's parts. */
export type WakeParts = Pick<BuildAppOptions, 'view' | 'publisher' | 'coldStart' | 'traces' | 'metrics'> & {
  now: () => number;
  /** Told of the `wake` phase of each wake published for a backend not ready (its cold-start history). */
  control: Pick<BuildAppOptions['control'], 'state' | 'feed'>;
};

/**
 * The wake of a listed backend, from a filter or the control API (HTTP or NATS); `arrivedAt` on the
 * monotonic clock; each publish tried again for up to `holdMs` while NATS cannot take it. 503 without
 * NATS, 404 for a backend the watcher does not list.
 */
export function createWake(parts: WakeParts): Wake {
  const { view, publisher, metrics, now } = parts;
  return async (backend, arrivedAt, holdMs = 0) => {
    const holdUntil = performance.now() + holdMs;
    // Without NATS the wake cannot go anywhere, whatever the view says: 503, which the filter retries.
    if (!publisher.connected) throw new NatsUnavailableError('not connected');
    if (!view.has(backend)) throw new UnknownBackendError(backend);
    const wallNow = now();
    const closed = inSchedule(view.record(backend)?.config.asleepDuring, wallNow);
    if (closed !== undefined) throw new AsleepByScheduleError(backend, closed.endMs, wallNow);
    const ready = view.get(backend)?.ready ?? false;
    /** Publishes one wake and counts it, published or dropped by the stream as a duplicate. */
    const publish = async (id: BackendId, at: number) => {
      const published = await publisher.wake(id, at, holdUntil - performance.now());
      (published.duplicate ? metrics.wakeDuplicates : metrics.wakesPublished).inc();
      return published;
    };
    parts.coldStart.wake(backend, ready, arrivedAt);
    if (!ready) parts.traces.wake(backend, context.active());
    // Its dependencies first, then its group: the stream keeps them in this order, and one wake of each
    // per 2 s window whatever the number of members asking. Each is a cold start begun here as much as the
    // backend's own: the scaler names this bridge for it.
    for (const other of view.wakeSet(backend)) {
      if (view.get(other)?.ready) continue;
      parts.coldStart.wake(other, false, arrivedAt);
      const woken = await publish(other, now());
      if (!woken.duplicate) parts.coldStart.published(other, performance.now() - arrivedAt);
    }
    const at = now();
    const outcome = await publish(backend, at);
    if (!outcome.duplicate && !ready) {
      // Its `wake` phase is observed at the release, by the one bridge that records the cold start.
      const ms = performance.now() - arrivedAt;
      parts.coldStart.published(backend, ms);
      parts.control.feed.emit(parts.control.state.wakePublished(backend, at, ms));
    }
    return outcome;
  };
}

export function buildApp(options: BuildAppOptions) {
  const { view, longPolls, publisher, metrics, wake } = options;
  const bodySlots = new BodySlots();
  const now = options.now ?? Date.now;

  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    schemaErrorFormatter: formatSchemaErrors,
    bodyLimit: BODY_LIMIT,
    // The time to receive a whole request, headers and body, not to answer it: a long poll held a minute
    // is not cut; a body its client stops sending is (408, connection closed).
    requestTimeout: REQUEST_TIMEOUT_MS,
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(bridgeValidatorCompiler);
  // Bodies are JSON only; anything else is a 415 rather than a confusing schema error.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, code, retry } = classify(error);
    if (status >= 500 && status !== 503) {
      // A long poll has no child logger of its own (see the route): its line gets the request id here.
      const log = request.log === app.log ? app.log.child({ reqId: request.id }) : request.log;
      // Request logging is off: this line alone tells which call failed.
      const backend = (request.body as { backend?: unknown } | undefined)?.backend;
      log.error(
        {
          err: error,
          method: request.method,
          route: request.routeOptions.url,
          ...(typeof backend === 'string' ? { backend } : {}),
        },
        'request failed',
      );
    }
    if (retry) {
      reply.header(
        'retry-after',
        error instanceof AsleepByScheduleError ? String(error.retryAfterS) : RETRY_AFTER_S,
      );
    }
    const message =
      status === 500
        ? 'internal error'
        : status === 415
          ? `content-type ${JSON.stringify(request.headers['content-type'] ?? '')} is not supported; send application/json`
          : error.message;
    reply.code(status).send(errorBody(code, message));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
  // No route outside /v1 takes a body, nor does a path under it that is no route: one is refused before it
  // is read (fastify would parse up to 64 KiB for the 404 handler, whose hooks are these root ones, without
  // the /v1 token check), as /v1 refuses it from a caller without the token. The connection closes, so the
  // body never sent is not waited for.
  app.addHook('onRequest', (request, reply, done) => {
    if (!announcesBody(request.headers) || (request.url.startsWith('/v1/') && !request.is404)) return done();
    reply
      .code(400)
      .header('connection', 'close')
      .send(errorBody('invalid_request', `${request.url.split('?')[0]} takes no request body`));
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.countRequest(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode);
    done();
  });
  // Before the server closes, every held long poll gets the current table (and later ones are answered
  // at once), so no filter is cut off or left waiting for its deadline.
  app.addHook('preClose', (done) => {
    longPolls.close();
    options.control.feed.close();
    done();
  });

  app.register(
    opsRoutes({
      registry: metrics.registry,
      notReadyReason: () => {
        if (!publisher.connected) return 'NATS disconnected';
        if (!options.synced()) return 'the backend table is not loaded from NATS yet';
        return undefined;
      },
    }),
  );

  app.register(
    async (plugin) => {
      const v1 = plugin.withTypeProvider<TypeBoxTypeProvider>();
      if ('tokens' in options.auth) {
        const check = bearerTokenCheck(options.auth.tokens);
        v1.addHook('onRequest', (request, reply, done) => {
          if (check(request.headers.authorization)) return done();
          reply
            .code(401)
            .header('www-authenticate', 'Bearer')
            .send(errorBody('unauthorized', 'missing or wrong bearer token'));
        });
      }
      // After the token: a caller without one cannot take the slots the filters' wakes and reports need.
      // A slot is held while the body comes in: given back once it is whole, or its connection closes.
      const receiving = new WeakMap<object, () => void>();
      v1.addHook('onRequest', (request, reply, done) => {
        if (!announcesBody(request.headers)) return done();
        const client = request.ip;
        if (!bodySlots.take(client)) {
          reply
            .code(503)
            .header('retry-after', '1')
            .send(errorBody('too_many_bodies', 'too many requests with a body are being received'));
          return;
        }
        let held = true;
        const release = () => {
          if (held) bodySlots.give(client);
          held = false;
        };
        receiving.set(request, release);
        reply.raw.once('close', release);
        done();
      });
      v1.addHook('preValidation', (request, _reply, done) => {
        receiving.get(request)?.();
        done();
      });

      v1.get(
        '/backends',
        {
          schema: {
            querystring: BackendsQuery,
            headers: BackendsHeaders,
            response: { 200: BackendsReply, ...errorResponses },
          },
          // No child logger per call: thousands are held at once and the handler logs nothing; the one line
          // a long poll can write (a 500, in the error handler) is given its request id there.
          childLoggerFactory: (logger) => logger,
        },
        (request, reply) => {
          if (!options.synced()) throw new NotSyncedError();
          // The hot path of the fan-out: the body is one buffer per revision and since (MergedView) written
          // straight to the socket, without fastify's per-reply serialization and hooks.
          const answer = (body: Buffer) => {
            if (reply.sent) return;
            reply.hijack();
            reply.raw.writeHead(200, ['content-type', JSON_TYPE, 'content-length', String(body.length)]);
            // Counted by the onResponse hook, which fastify runs for a hijacked reply too once it is written.
            reply.raw.end(body);
          };
          // The peer's address: behind Envoy, one gateway pod (whose workers hold one poll each).
          const { since, wait } = request.query;
          const deltas = request.headers['x-wakegate-delta'] === '1';
          const held = longPolls.hold(since, wait ?? 0, answer, request.ip, deltas);
          if (held.kind === 'full') throw new LongPollLimitError(longPolls.max);
          if (held.kind === 'quota') throw new LongPollQuotaError(longPolls.perClient);
          // A client that goes away frees its slot and gets no answer: nobody would read it. (`on`, not
          // `once`: a response closes once, release does nothing after the answer, and `once` wraps it.)
          if (held.kind === 'held') reply.raw.on('close', held.release);
        },
      );

      v1.post(
        '/wake',
        { schema: { body: WakeBody, response: { 202: WakeReply, ...errorResponses } } },
        // One span per wake call, a child of the held request's trace when the filter forwarded its
        // `traceparent`; the publish within it carries the trace to the scaler.
        (request, reply) =>
          inSpan(
            'wakegate.wake',
            { kind: SpanKind.SERVER, attributes: { 'wakegate.backend': request.body.backend } },
            propagation.extract(ROOT_CONTEXT, request.headers),
            async () => {
              const { backend, since } = request.body;
              parseBackendId(backend);
              if (!options.synced()) throw new NotSyncedError();
              // Without NATS the wake cannot go anywhere, whatever the view says: held while NATS comes
              // back, up to WAKE_HOLD_MS, then 503, which the filter retries.
              const holdUntil = performance.now() + WAKE_HOLD_MS;
              while (!publisher.connected) {
                if (performance.now() + NATS_WAIT_STEP_MS >= holdUntil)
                  throw new NatsUnavailableError('not connected');
                await delay(NATS_WAIT_STEP_MS);
              }
              // A 404 tells the filter nobody knows the backend; only a view as new as its table can say so.
              if (!view.has(backend) && !view.hasBackendsOf(since)) throw new ViewBehindError(backend);
              // reply.elapsedTime counts from the request's arrival (fastify's onRequest), on the monotonic clock.
              const outcome = await wake(
                backend,
                performance.now() - reply.elapsedTime,
                holdUntil - performance.now(),
              );
              request.log.debug({ backend, duplicate: outcome.duplicate }, 'wake accepted');
              return reply.code(202).send({ backend, duplicate: outcome.duplicate });
            },
          ),
      );

      v1.post(
        '/activity',
        { schema: { body: ActivityBody, response: { 204: NoContent, ...errorResponses } } },
        async (request, reply) => {
          const { reports, source } = request.body;
          for (const report of reports) parseBackendId(report.backend);
          if (!options.synced()) throw new NotSyncedError();
          // Only listed backends reach the scaler, so nobody can grow its tracker or keep an arbitrary
          // backend awake; a filter whose table is a moment behind still gets its 204.
          const known = reports.filter((report) => view.has(report.backend));
          if (known.length < reports.length) {
            metrics.activityUnknown.inc(reports.length - known.length);
            request.log.debug(
              { backends: reports.filter((r) => !view.has(r.backend)).map((r) => r.backend) },
              'dropping activity for unknown backends',
            );
          }
          // Answered 204 only once NATS took them: a report lost in a partition must be retried, not thanked.
          if (known.length > 0) await publisher.activity(known, now(), source);
          metrics.activityReports.inc(known.length);
          return reply.code(204).send(null);
        },
      );
    },
    { prefix: '/v1' },
  );

  app.register(
    controlRoutes({
      control: options.control.state,
      feed: options.control.feed,
      adminToken: options.control.adminToken,
      synced: options.synced,
      wake,
      now,
      sleep: (backend, force) => publisher.sleep(backend, force),
    }),
    { prefix: '/v1/control' },
  );

  // The status page's static files; its data comes from the control API above, with the admin token.
  app.register(statusPageRoutes());

  return app;
}

export type BridgeApp = ReturnType<typeof buildApp>;
