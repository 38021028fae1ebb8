import { describe, expect, it } from 'vitest';
import { formatLogLine } from './log-lines.ts';

describe('terminal log lines of npm start', () => {
  it('shortens a pino line to service, level, message and flat fields', () => {
    const line = JSON.stringify({
      level: 30,
      time: '2026-01-01T00:00:00.000Z',
      service: 'scaler',
      pid: 1,
      backend: 'local/demo',
      from: 0,
      to: 1,
      nested: { skipped: true },
      msg: 'scaled up on wake',
    });
    expect(formatLogLine('scaler', line)).toBe(
      'scaler   info  scaled up on wake  backend=local/demo from=0 to=1',
    );
  });

  it('adds the error message of a failure', () => {
    const line = JSON.stringify({
      level: 50,
      msg: 'upstream request failed',
      err: { message: 'ECONNREFUSED' },
    });
    expect(formatLogLine('gateway', line)).toBe('gateway  error upstream request failed  error=ECONNREFUSED');
  });

  it('passes other output through with the service name', () => {
    expect(formatLogLine('nats', '[123] [WRN] slow consumer')).toBe('nats     [123] [WRN] slow consumer');
    expect(formatLogLine('nats', '{"no":"msg"}')).toBe('nats     {"no":"msg"}');
  });
});
