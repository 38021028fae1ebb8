/**
 * NATS adapter of the control API: feeds ControlState the wakes (every bridge's, from the stream's
 * subjects) and scales it cannot see in KV, and answers the request/reply twins of the HTTP calls,
 * `wakegate.control.list` and `wakegate.control.wake.<token>`, in the queue group `wakegate-bridge` (one
 * bridge answers each), on the control user's connection: the only one that may reply.
 * `wakegate.control.sleep.<token>` is the scaler's (see NatsPublisher.sleep).
 * Replies are the HTTP bodies: `{"backends"}`, `{"duplicate","backend"}`, or `{"error","message"}`.
 */
import type { Msg, Subscription } from '@nats-io/transport-node';
import {
  allControlSubjects,
  allSubjects,
  asError,
  backendFromControlSubject,
  CONTROL_LIST_SUBJECT,
  codecFor,
  decodeMessage,
  type Logger,
  type NatsConnection,
  WakegateError,
} from '../shared/index.ts';
import { type ControlWakeParts, controlWake } from './control-wake.ts';
import { NotSyncedError } from './errors.ts';
import { ControlWakeQuery, errorBody } from './schemas.ts';

export const CONTROL_QUEUE = 'wakegate-bridge';

const wakeRequest = codecFor('control wake request', ControlWakeQuery);
const encoder = new TextEncoder();

export interface ControlNatsOptions extends ControlWakeParts {
  nc: NatsConnection;
  /** The control user's connection (`connectForControl`), which takes the requests and replies. */
  controlNc: NatsConnection;
  logger: Logger;
  /** A wake or scaled message that could not be read. */
  onInvalid: () => void;
}

export interface ControlNats {
  stop(): void;
}

export function serveControlOverNats(options: ControlNatsOptions): ControlNats {
  const { nc, controlNc, logger, control, feed } = options;
  // Never throws: a throw in a subscription's callback would stop the connection reading. A reply above the
  // server's max_payload (a long list) would be refused by the client, so it becomes an error reply.
  const respond = (msg: Msg, body: unknown) => {
    let reply = encoder.encode(JSON.stringify(body));
    const max = controlNc.info?.max_payload;
    if (max !== undefined && reply.length > max) {
      logger.warn({ subject: msg.subject, bytes: reply.length, max }, 'control reply above max_payload');
      const message = `the reply is ${reply.length} bytes, above this NATS server's max_payload of ${max}; GET /v1/control/backends has no such limit`;
      reply = encoder.encode(JSON.stringify(errorBody('reply_too_large', message)));
    }
    try {
      msg.respond(reply);
    } catch (error) {
      logger.warn({ subject: msg.subject, err: asError(error) }, 'control reply not sent');
    }
  };
  const refuse = (msg: Msg, error: unknown) => {
    if (error instanceof WakegateError) respond(msg, errorBody(error.code, error.message));
    else {
      logger.warn({ subject: msg.subject, err: asError(error) }, 'control request failed');
      respond(msg, errorBody('invalid_request', asError(error).message));
    }
  };

  const subscriptions: Subscription[] = [
    nc.subscribe(allSubjects('wake'), {
      callback(error, msg) {
        if (error) return;
        try {
          const wake = decodeMessage('wake', msg);
          feed.emit(control.wakeRequested(wake.backend, wake.at));
        } catch (problem) {
          logger.warn({ subject: msg.subject, err: asError(problem) }, 'ignoring invalid wake message');
          options.onInvalid();
        }
      },
    }),
    nc.subscribe(allSubjects('scaled'), {
      callback(error, msg) {
        if (error) return;
        try {
          const scaled = decodeMessage('scaled', msg);
          feed.emit(control.scaled(scaled.backend, scaled));
        } catch {
          // The scale-to-zero guard's subscription logs and counts the same message (scaled-watch.ts).
        }
      },
    }),
    controlNc.subscribe(CONTROL_LIST_SUBJECT, {
      queue: CONTROL_QUEUE,
      callback(error, msg) {
        if (error) return;
        if (!options.synced()) refuse(msg, new NotSyncedError());
        else respond(msg, { backends: control.rows() });
      },
    }),
    controlNc.subscribe(allControlSubjects('wake'), {
      queue: CONTROL_QUEUE,
      callback(error, msg) {
        if (error) return;
        const arrivedAt = performance.now();
        (async () => {
          const id = backendFromControlSubject('wake', msg.subject);
          const { wait } = wakeRequest.decode(msg.data.length === 0 ? '{}' : msg.data);
          respond(
            msg,
            await controlWake(options, id, arrivedAt, wait, (problem) =>
              logger.debug({ err: problem, backend: id }, 'wake repeat failed'),
            ),
          );
        })().catch((problem: unknown) => refuse(msg, problem));
      },
    }),
  ];
  return {
    stop() {
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
}
