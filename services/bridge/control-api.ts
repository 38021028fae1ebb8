/**
 * The control API under `/v1/control`: list backends with their state, wake one (optionally until ready),
 * put one to sleep through the idle-loop lease holder's drain, and follow state changes as server-sent
 * events. It has its own token (`WAKEGATE_ADMIN_TOKEN`): a filter's token opens none of it, and without an
 * admin token every call is refused.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { type BackendId, backendId, type SleepReply } from '../shared/index.ts';
import { bearerTokenCheck } from './auth.ts';
import type { ControlRow, StateChange } from './control-state.ts';
import { type ControlWakeParts, controlWake, listedRow } from './control-wake.ts';
import { ControlDisabledError, NotSyncedError, SleepRefusedError } from './errors.ts';
import {
  ControlListReply,
  ControlParams,
  ControlRowSchema,
  ControlSleepQuery,
  ControlSleepReply,
  ControlWakeQuery,
  ControlWakeReply,
  ErrorReply,
  errorBody,
  NoQuery,
} from './schemas.ts';

/** A comment line on every stream this often, so proxies and clients see the connection alive. */
const KEEPALIVE_MS = 15_000;
/** What a stream may leave unsent beyond its snapshot before it is closed: a reader that stops reading would
 * otherwise make the bridge keep every change for it. The status page (as an EventSource) reconnects to a
 * new snapshot. */
const MAX_STREAM_BACKLOG_BYTES = 1024 * 1024;

export interface ControlApiOptions extends ControlWakeParts {
  /** The control API's token; undefined: the API is off. */
  adminToken: string | undefined;
  /** Asks the idle-loop lease holder to put the backend to sleep. */
  sleep: (backend: BackendId, force: boolean) => Promise<SleepReply>;
}

const errors = {
  400: ErrorReply,
  401: ErrorReply,
  403: ErrorReply,
  404: ErrorReply,
  409: ErrorReply,
  502: ErrorReply,
  503: ErrorReply,
  504: ErrorReply,
};

/** Outcomes of a sleep that leave the backend up, other than 409 (the drain protocol or a schedule said no). */
const REFUSED_STATUS: Record<string, number> = { failed: 502, unknown: 404 };

export function controlRoutes(options: ControlApiOptions) {
  const { control, feed } = options;
  const rowOf = (id: BackendId): ControlRow => listedRow(options, id);
  const idOf = (params: { namespace: string; name: string }) => backendId(params.namespace, params.name);

  return async (plugin: FastifyInstance) => {
    const api = plugin.withTypeProvider<TypeBoxTypeProvider>();
    const check = options.adminToken === undefined ? undefined : bearerTokenCheck([options.adminToken]);
    api.addHook('onRequest', (request, reply, done) => {
      if (check === undefined) return done(new ControlDisabledError());
      if (check(request.headers.authorization)) return done();
      reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send(errorBody('unauthorized', 'missing or wrong admin token (WAKEGATE_ADMIN_TOKEN)'));
    });
    // No control call takes a body: `{"wait":5000}` sent as one was a wake that silently did not wait.
    api.addHook('preValidation', (request, reply, done) => {
      if (request.body === undefined) return done();
      reply.code(400).send({
        error: 'invalid_request',
        message:
          'control calls take no body: give wait and force as query parameters (?wait=5000, ?force=true)',
      });
    });

    api.get(
      '/backends',
      { schema: { querystring: NoQuery, response: { 200: ControlListReply, ...errors } } },
      async () => {
        if (!options.synced()) throw new NotSyncedError();
        return { backends: control.rows() };
      },
    );

    api.get(
      '/backends/:namespace/:name',
      {
        schema: {
          params: ControlParams,
          querystring: NoQuery,
          response: { 200: ControlRowSchema, ...errors },
        },
      },
      async (request) => rowOf(idOf(request.params)),
    );

    api.post(
      '/backends/:namespace/:name/wake',
      {
        schema: {
          params: ControlParams,
          querystring: ControlWakeQuery,
          response: { 200: ControlWakeReply, 202: ControlWakeReply, ...errors },
        },
      },
      async (request, reply) => {
        const { wait } = request.query;
        const woken = await controlWake(
          options,
          idOf(request.params),
          performance.now() - reply.elapsedTime,
          wait,
          (error) => request.log.debug({ err: error, backend: idOf(request.params) }, 'wake repeat failed'),
        );
        return reply.code(wait === undefined ? 202 : 200).send(woken);
      },
    );

    api.post(
      '/backends/:namespace/:name/sleep',
      {
        schema: {
          params: ControlParams,
          querystring: ControlSleepQuery,
          response: { 200: ControlSleepReply, ...errors },
        },
      },
      async (request) => {
        const id = idOf(request.params);
        rowOf(id);
        const { outcome } = await options.sleep(id, request.query.force ?? false);
        if (outcome !== 'asleep' && outcome !== 'already-asleep') {
          throw new SleepRefusedError(id, outcome, REFUSED_STATUS[outcome] ?? 409);
        }
        // The drain wrote `sleeping` and scaled to zero; the view may be a moment behind the watcher.
        return { outcome, backend: rowOf(id) };
      },
    );

    api.get('/events', { schema: { querystring: NoQuery } }, (request, reply) => {
      if (!options.synced()) throw new NotSyncedError();
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      });
      raw.write(`event: snapshot\ndata: ${JSON.stringify({ backends: control.rows() })}\n\n`);
      const backlogLimit = raw.writableLength + MAX_STREAM_BACKLOG_BYTES;
      const write = (text: string) => {
        if (raw.destroyed) return;
        raw.write(text);
        if (raw.writableLength <= backlogLimit) return;
        request.log.warn(
          { unsentBytes: raw.writableLength },
          'control event stream closed: its reader fell behind by more than 1 MiB',
        );
        raw.destroy();
      };
      const keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
      const stop = feed.subscribe(
        (change: StateChange) =>
          write(
            `event: state\ndata: ${JSON.stringify({ ...change, backend: control.row(change.id) ?? null })}\n\n`,
          ),
        () => raw.end(),
      );
      raw.once('close', () => {
        clearInterval(keepalive);
        stop();
      });
    });
  };
}
