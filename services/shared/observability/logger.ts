import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/service-config.ts';

export type { Logger };

/** JSON logs, one event per line, each tagged with the service; add `backend` with `logger.child`. */
export function createLogger(service: string, level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime });
}
