// Streams: their contexts, headers, holding, continue and local replies, a failed VM and the stream idle timeout.
import { afterEach, describe, expect, it } from 'vitest';
import { closePlugins, continued, get, run } from '../../test/host/probe-plugin.ts';
import { header } from './pairs.ts';

afterEach(closePlugins);

describe('streams', () => {
  it('creates a context per stream and ends it log → done → delete when the client closes', async () => {
    const { plugin, logs } = await run('lifecycle');
    const s = plugin.openStream({ headers: get });
    continued(s.settled);
    s.close();
    expect(logs.slice(3)).toEqual(['create 2 1', 'headers 2 3 true', 'log 2', 'done 2', 'delete 2']);
    // Ids are never reused.
    plugin.openStream({ headers: get }).close();
    expect(logs).toContain('create 3 1');
  });

  it('reads, adds, replaces and removes request headers', async () => {
    const { plugin, logs } = await run('headers');
    const s = plugin.openStream({
      headers: [
        [':authority', 'example.com'],
        ['X-In', 'abc'],
        ['x-replace', 'old'],
        ['x-remove', 'gone'],
      ],
    });
    expect(logs).toContain('pairs :authority=example.com;x-in=abc;x-replace=old;x-remove=gone;');
    expect(logs).toContain('x-in abc missing <none>');
    expect(continued(s.settled).headers).toEqual([
      [':authority', 'example.com'],
      ['x-in', 'abc'],
      ['x-replace', 'new'],
      ['x-added', '1'],
    ]);
  });

  it('holds a stream on StopIteration and delivers its body only after the resume', async () => {
    const { plugin, logs, clock } = await run('hold');
    const body = new TextEncoder().encode('payload');
    const s = plugin.openStream({ headers: { ...get, ':method': 'POST' }, body });
    expect(s.settled).toBeUndefined();
    expect(logs.some((l) => l.startsWith('body'))).toBe(false);
    clock.advance(100);
    const o = continued(await s.outcome);
    expect(new TextDecoder().decode(o.body)).toBe('payload');
    expect(logs).toContain('effective 2 0');
    expect(logs).toContain('body 2 payload true');
  });

  it('applies a continue asked for inside the headers callback once it has returned', async () => {
    const { plugin, logs } = await run('continue-in-callback');
    const s = plugin.openStream({ headers: get, body: new TextEncoder().encode('b') });
    continued(s.settled);
    expect(logs.slice(-2)).toEqual(['headers returns stop', 'body 2 b true']);
  });

  it('sends a local reply after the callback returns, then ends the stream', async () => {
    const { plugin, logs } = await run('reply');
    const s = plugin.openStream({ headers: get });
    expect(s.settled).toEqual({
      kind: 'local-reply',
      status: 403,
      headers: [
        ['content-type', 'text/plain'],
        ['x-probe', 'yes'],
      ],
      body: new TextEncoder().encode('not you'),
      details: 'probe_denied',
      grpcStatus: undefined,
    });
    expect(logs.slice(-4)).toEqual(['reply sent', 'log 2', 'done 2', 'delete 2']);
    expect(plugin.workers[0]?.openStreams).toBe(0);
  });

  it('sends a local reply to a gRPC request as 200 with grpc-status and grpc-message', async () => {
    const { plugin } = await run('reply');
    const s = plugin.openStream({ headers: { ...get, 'content-type': 'application/grpc' } });
    const o = s.settled;
    expect(o?.kind === 'local-reply' && [o.status, o.grpcStatus, o.headers]).toEqual([
      200,
      7,
      [
        ['content-type', 'application/grpc'],
        ['grpc-status', '7'],
        ['grpc-message', 'not you'],
        ['x-probe', 'yes'],
      ],
    ]);
    // As in Envoy, grpc-web is not gRPC here: the reply stays HTTP.
    const web = plugin.openStream({
      headers: { ...get, 'content-type': 'application/grpc-web+proto' },
    }).settled;
    expect(web?.kind === 'local-reply' && [web.status, web.grpcStatus]).toEqual([403, undefined]);
  });

  it('tells gRPC apart exactly as Envoy hasGrpcContentType: application/grpc, or followed by +', async () => {
    const { plugin } = await run('reply');
    const cases: [string, boolean][] = [
      ['application/grpc', true],
      ['application/grpc+proto', true],
      ['application/grpc+', true],
      ['application/grpc;charset=utf-8', false],
      ['Application/GRPC', false],
      ['application/GRPC+proto', false],
      ['application/grpc-web', false],
      ['application/grpcx', false],
    ];
    const seen = cases.map(([contentType]) => {
      const o = plugin.openStream({
        headers: { ...get, 'content-type': contentType, 'x-grpc-status': '7' },
      }).settled;
      return [contentType, o?.kind === 'local-reply' && o.status === 200 && o.grpcStatus === 7];
    });
    expect(seen).toEqual(cases);
  });

  it('percent-encodes grpc-message as Envoy: %, controls and bytes from ~ up; spaces stay', async () => {
    const { plugin } = await run('reply');
    const o = plugin.openStream({
      headers: { ...get, 'content-type': 'application/grpc', 'x-body': 'a b%c~é\t"+/' },
    }).settled;
    expect(o?.kind === 'local-reply' && header(o.headers, 'grpc-message')).toBe('a b%25c%7E%C3%A9%09"+/');
  });

  it('replaces whitespace in the details with _, each character on its own, as Envoy', async () => {
    const { plugin } = await run('reply');
    const o = plugin.openStream({ headers: { ...get, 'x-details': ' probe  said\tno\r\n\f\v' } }).settled;
    expect(o?.kind === 'local-reply' && o.details).toBe('_probe__said_no____');
  });

  // The probe answers 403; without a usable gRPC status Envoy derives PERMISSION_DENIED (7) from it.
  it.each([
    ['17', 7],
    ['-1', 7],
    ['1000', 7],
    ['2147483647', 7],
    ['-2147483648', 7],
    ['16', 16],
    ['0', 0],
    ['14', 14],
  ])('takes gRPC status %s as Envoy does (outside 0-16 is none): grpc-status %i', async (given, expected) => {
    const { plugin, logs } = await run('reply');
    const o = plugin.openStream({
      headers: { ...get, 'content-type': 'application/grpc', 'x-grpc-status': given },
    }).settled;
    expect(o?.kind === 'local-reply' && [o.status, o.grpcStatus, header(o.headers, 'grpc-status')]).toEqual([
      200,
      expected,
      String(expected),
    ]);
    expect(logs).toContain('reply 0');
  });

  it('sends the reply without headers when the pairs are malformed, as cpp-host toPairs (not a refusal)', async () => {
    const { plugin, logs } = await run('reply');
    const o = plugin.openStream({ headers: { ...get, 'x-bad-pairs': '1' } }).settled;
    expect(o?.kind === 'local-reply' && [o.status, o.headers]).toEqual([
      403,
      [['content-type', 'text/plain']],
    ]);
    expect(logs).toContain('reply 0');
  });

  it('resets the effective context after each callback; a root continue alone is a no-op', async () => {
    const { plugin, logs, clock } = await run('effective');
    const s = plugin.openStream({ headers: get });
    clock.advance(100);
    clock.advance(100);
    expect(logs).toContain('root continue 0');
    expect(s.settled).toBeUndefined();
    clock.advance(100);
    continued(await s.outcome);
    s.close();
    clock.advance(100);
    expect(logs).toContain('effective deleted 2');
  });

  it('fails closed when the module traps: the stream gets 503 and the VM is marked failed', async () => {
    const { plugin, entries } = await run('trap');
    const s = plugin.openStream({ headers: get });
    const o = await s.outcome;
    expect(o.kind === 'local-reply' && [o.status, o.details]).toEqual([503, 'wasm_fail_stream']);
    expect(plugin.workers[0]?.failed).toBeInstanceOf(Error);
    expect(entries.some((e) => e.level === 'critical')).toBe(true);
    const later = plugin.openStream({ headers: get });
    expect(later.settled?.kind).toBe('local-reply');
  });

  it('leaves held streams hanging when the VM traps, until the stream idle timeout; its 504 meets the dead VM and becomes the 503', async () => {
    const { plugin, clock, logs } = await run('hold', { streamIdleTimeoutMs: 1000 });
    const held = plugin.openStream({ headers: { ...get, 'x-headers-returns': '1' } });
    clock.advance(10);
    const trapping = plugin.openStream({ headers: { ...get, 'x-trap': '1' } });
    const o = trapping.settled;
    expect(o?.kind === 'local-reply' && [o.status, o.details]).toEqual([503, 'wasm_fail_stream']);
    expect(plugin.workers[0]?.failed).toBeInstanceOf(Error);
    // The tick that would have resumed it never runs on a dead VM, and nothing answers it for it.
    clock.advance(989);
    await Promise.resolve();
    expect(held.settled).toBeUndefined();
    clock.advance(1);
    // Envoy's 504 goes through the filter's encodeHeaders; cpp-host's CHECK_FAIL_HTTP finds the VM failed and
    // fails the stream: the 503 goes straight to the client in place of the 504.
    const timedOut = await held.outcome;
    expect(timedOut.kind === 'local-reply' && [timedOut.status, timedOut.details]).toEqual([
      503,
      'wasm_fail_stream',
    ]);
    expect(timedOut.kind === 'local-reply' && timedOut.body.length).toBe(0);
    // No callback ran in the dead VM for it.
    expect(logs.filter((l) => l.startsWith('effective'))).toEqual([]);
    expect(plugin.workers[0]?.openStreams).toBe(0);
  });

  it('answers a gRPC request on a failed VM with UNAVAILABLE', async () => {
    const { plugin } = await run('trap');
    plugin.openStream({ headers: get });
    const s = plugin.openStream({ headers: { ...get, 'content-type': 'application/grpc' } });
    const o = s.settled;
    expect(o?.kind === 'local-reply' && [o.status, o.grpcStatus, o.details]).toEqual([
      200,
      14,
      'wasm_fail_stream',
    ]);
  });

  it('with failOpen passes the trapping stream and later ones untouched, but not the held ones', async () => {
    const { plugin, clock } = await run('hold', { failOpen: true, streamIdleTimeoutMs: 1000 });
    const held = plugin.openStream({ headers: get });
    const body = new TextEncoder().encode('b');
    const trailers: [string, string][] = [['x-checksum', 'c0ffee']];
    const trapping = plugin.openStream({ headers: { ...get, 'x-trap': '1' }, body, trailers });
    expect(new TextDecoder().decode(continued(trapping.settled).body)).toBe('b');
    expect(continued(trapping.settled).trailers).toEqual(trailers);
    const later = plugin.openStream({ headers: { ...get, 'x-trap': '1' }, body, trailers });
    expect(continued(later.settled).headers).toEqual(Object.entries({ ...get, 'x-trap': '1' }));
    expect(continued(later.settled).trailers).toEqual(trailers);
    clock.advance(999);
    await Promise.resolve();
    expect(held.settled).toBeUndefined();
    clock.advance(1);
    const o = await held.outcome;
    expect(o.kind === 'local-reply' && o.status).toBe(504);
  });

  it('answers the response of a stream that went on before the VM failed with the 503, or passes it with failOpen', async () => {
    for (const failOpen of [false, true]) {
      const { plugin } = await run('hold', { failOpen });
      const before = plugin.openStream({ headers: { ...get, 'x-headers-returns': '0' } });
      continued(await before.outcome);
      plugin.openStream({ headers: { ...get, 'x-trap': '1' } });
      expect(plugin.workers[0]?.failed).toBeInstanceOf(Error);
      const r = await before.respond({ headers: { ':status': '200' }, body: new TextEncoder().encode('ok') });
      // cpp-host's CHECK_FAIL_HTTP in onResponseHeaders: failStream's 503 goes straight to the client.
      if (failOpen)
        expect(r.kind === 'response' && [r.status, new TextDecoder().decode(r.body)]).toEqual([200, 'ok']);
      else expect(r.kind === 'local-reply' && [r.status, r.details]).toEqual([503, 'wasm_fail_stream']);
      if (failOpen) {
        // A stream opened after the failure has no filter at all: its response passes as it came.
        const after = plugin.openStream({ headers: get });
        continued(await after.outcome);
        const passed = await after.respond({ headers: { ':status': '204', 'x-a': 'b' } });
        expect(passed.kind === 'response' && [passed.status, passed.headers]).toEqual([204, [['x-a', 'b']]]);
      }
    }
  });

  it('ends a held stream of a live VM at the stream idle timeout, then its context (0 turns it off)', async () => {
    const { plugin, clock, logs } = await run('lifecycle', { streamIdleTimeoutMs: 50 });
    const s = plugin.openStream({ headers: { ...get, 'x-hold': '1' } });
    clock.advance(49);
    await Promise.resolve();
    expect(s.settled).toBeUndefined();
    clock.advance(1);
    const o = s.settled;
    expect(o?.kind === 'local-reply' && [o.status, o.details]).toEqual([504, 'stream_idle_timeout']);
    expect(logs.slice(-3)).toEqual(['log 2', 'done 2', 'delete 2']);
    expect(plugin.workers[0]?.openStreams).toBe(0);
    const { plugin: off, clock: offClock } = await run('lifecycle', { streamIdleTimeoutMs: 0 });
    const kept = off.openStream({ headers: { ...get, 'x-hold': '1' } });
    offClock.advance(10 * 60_000);
    await Promise.resolve();
    expect(kept.settled).toBeUndefined();
  });

  it('cancels a held stream the client closes', async () => {
    const { plugin, clock, logs } = await run('hold');
    const s = plugin.openStream({ headers: get });
    s.close();
    expect(await s.outcome).toEqual({ kind: 'cancelled' });
    clock.advance(100);
    expect(logs).toContain('effective 2 2');
  });

  describe('bodies, as Envoy passes them for each headers and body answer', () => {
    const post = { ...get, ':method': 'POST' };
    const payload = new TextEncoder().encode('payload');
    const bodyCalls = (logs: string[]) => logs.filter((l) => l.startsWith('body '));

    it('with allow_on_headers_stop_iteration, Continue from the body callback lets a held stream go on', async () => {
      const { plugin, logs } = await run('hold', { allowOnHeadersStopIteration: true });
      const s = plugin.openStream({ headers: post, body: payload });
      // StopIteration stops the headers only: the body reaches the module at once, and Continue continues all.
      expect(bodyCalls(logs)).toEqual(['body 2 payload true']);
      expect(new TextDecoder().decode(continued(s.settled).body)).toBe('payload');
    });

    it('with allow_on_headers_stop_iteration, StopIterationAndWatermark keeps the body until the resume', async () => {
      const { plugin, logs, clock } = await run('hold', { allowOnHeadersStopIteration: true });
      const s = plugin.openStream({ headers: { ...post, 'x-body-returns': '2' }, body: payload });
      expect(bodyCalls(logs)).toEqual(['body 2 payload true']);
      expect(s.settled).toBeUndefined();
      clock.advance(100);
      expect(new TextDecoder().decode(continued(await s.outcome).body)).toBe('payload');
      // The filter saw the body once; on the resume it goes on to the next filter.
      expect(bodyCalls(logs)).toHaveLength(1);
    });

    it('with allow_on_headers_stop_iteration, request trailers resume a stream whose headers alone were stopped; a StopAllIteration keeps them until the resume', async () => {
      const trailers: [string, string][] = [['x-checksum', 'c0ffee']];
      const { plugin, clock } = await run('hold', { allowOnHeadersStopIteration: true });
      // No trailers callback in the module: Envoy's answer is Continue, which resumes the whole stream.
      const single = plugin.openStream({ headers: post, body: payload, trailers });
      expect(continued(single.settled).trailers).toEqual(trailers);
      const all = plugin.openStream({
        headers: { ...post, 'x-headers-returns': '4' },
        body: payload,
        trailers,
      });
      expect(all.settled).toBeUndefined();
      clock.advance(100);
      const outcome = continued(await all.outcome);
      expect([new TextDecoder().decode(outcome.body), outcome.trailers]).toEqual(['payload', trailers]);
    });

    it('answers 413 when a StopIterationAndBuffer body passes the buffer limit', async () => {
      const { plugin } = await run('hold', { allowOnHeadersStopIteration: true, bufferLimitBytes: 4 });
      const s = plugin.openStream({ headers: { ...post, 'x-body-returns': '1' }, body: payload });
      expect(s.settled).toMatchObject({
        kind: 'local-reply',
        status: 413,
        details: 'request_payload_too_large',
      });
      // Under the limit it is buffered like the watermark.
      const small = plugin.openStream({
        headers: { ...post, 'x-body-returns': '1' },
        body: new TextEncoder().encode('ok'),
      });
      expect(small.settled).toBeUndefined();
    });

    it('drops the body on StopIterationNoBuffer and on values past the enum', async () => {
      for (const value of ['3', '7']) {
        const { plugin, clock } = await run('hold', { allowOnHeadersStopIteration: true });
        const s = plugin.openStream({ headers: { ...post, 'x-body-returns': value }, body: payload });
        expect(s.settled).toBeUndefined();
        clock.advance(100);
        expect(continued(await s.outcome).body).toEqual(new Uint8Array(0));
      }
    });

    it('answers 413 at once when StopAllIterationAndBuffer holds a body past the limit; watermark does not', async () => {
      const { plugin, logs } = await run('hold', { bufferLimitBytes: 4 });
      const s = plugin.openStream({ headers: { ...post, 'x-headers-returns': '3' }, body: payload });
      expect(s.settled).toMatchObject({
        kind: 'local-reply',
        status: 413,
        details: 'request_payload_too_large',
      });
      expect(bodyCalls(logs)).toEqual([]);
      for (const value of ['1', '4', '9']) {
        const held = plugin.openStream({ headers: { ...post, 'x-headers-returns': value }, body: payload });
        expect(held.settled).toBeUndefined();
      }
      expect(bodyCalls(logs)).toEqual([]);
    });

    it('holds a resumed stream again when its body callback stops it, until the module continues it', async () => {
      const { plugin, logs, clock } = await run('hold');
      const s = plugin.openStream({ headers: { ...post, 'x-body-returns': '2' }, body: payload });
      clock.advance(100);
      // Resumed once: the body callback ran and stopped it again.
      expect(bodyCalls(logs)).toEqual(['body 2 payload true']);
      expect(s.settled).toBeUndefined();
      clock.advance(100);
      expect(new TextDecoder().decode(continued(await s.outcome).body)).toBe('payload');
      expect(bodyCalls(logs)).toHaveLength(1);
    });
  });
});
