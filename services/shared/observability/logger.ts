import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/service-config.ts';

export type { Logger };

/**
 * JSON logs, one event per line, each tagged with the service; add `backend` with `logger.child`.
 * Written synchronously to stdout: pino's default asynchronous stream could write a line after a later one
 * when a write had to be retried (seen as "stopped" before "stopping" under load), and a main that exits
 * right after logging must not lose its last line. The services log events, not requests, so the cost is
 * small.
 */
export function createLogger(service: string, level: LogLevel = 'info'): Logger {
  return pino(
    { level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: true }),
  );
}
