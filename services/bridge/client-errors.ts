/**
 * Requests refused before any route sees them, answered with the bridge's error body (`{"error","message"}`)
 * like every other refusal: one Node's HTTP parser cannot read (malformed, headers too large, not received
 * in time), and one fastify cannot route (a path with a broken percent-escape).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorReply, errorBody } from './schemas.ts';

function refusal(code: string | undefined): { status: number; body: ErrorReply } {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return { status: 408, body: errorBody('request_timeout', 'the request was not received in time') };
  if (code === 'HPE_HEADER_OVERFLOW')
    return { status: 431, body: errorBody('headers_too_large', 'the request headers are too large') };
  return { status: 400, body: errorBody('invalid_request', 'malformed HTTP request') };
}

/**
 * fastify's `clientErrorHandler`. Logged at debug by its code only: Node attaches the request's raw bytes to
 * the error (`rawPacket`), bearer token included, and fastify's own handler logs the error whole.
 */
export function answerClientError(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, body: reply } = refusal(error.code);
  this.log.debug({ code: error.code, status }, 'malformed request refused');
  if (socket.writable) {
    const body = JSON.stringify(reply);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** fastify's `frameworkErrors`: a request it cannot route (a path it cannot decode) is a 400 `invalid_request`. */
export function answerFrameworkError(error: Error, _request: FastifyRequest, reply: FastifyReply): void {
  reply.code(400).send(errorBody('invalid_request', error.message));
}
