// Backends in an asleep-during window (the table's `asleepUntil`): their requests are answered at once with
// the window's end, no wake is sent, and requests held when the window's row arrives get the same answer.
import { afterEach, describe, expect, it } from 'vitest';
import { awake, closeFilters, expectReply, request, sleeping, start } from '../test/filter/harness.ts';
import { header } from './host/index.ts';

const decoder = new TextDecoder();
/** The harness's manual clock starts here (wall clock). */
const START = Date.UTC(2026, 0, 1);
const navigation = {
  accept: 'text/html,application/xhtml+xml',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
};

afterEach(closeFilters);

describe('asleep-during windows', () => {
  it('answers a backend in its window 503 at once, retry-after = seconds to its end, and sends no wake', async () => {
    const { plugin, bridge, clock } = await start({ backends: [] });
    // The window ends in 90.5 s by the host's wall clock: retry-after rounds up.
    const until = Math.floor(clock.now()) + 90_500;
    await bridge.setBackendsAndWait([{ ...sleeping, asleepUntil: until }]);
    const plain = expectReply(request(plugin, 'app.example.com').settled);
    expect(plain.status).toBe(503);
    expect(header(plain.headers, 'retry-after')).toBe('91');
    expect(header(plain.headers, 'x-wakegate')).toBe('asleep');
    expect(header(plain.headers, 'cache-control')).toBe('no-store');
    expect(JSON.parse(decoder.decode(plain.body))).toEqual({
      error: 'the service is asleep by its schedule',
    });
    // A browser gets the same answer, not the waiting page (which would wait for a wake that cannot come);
    // gRPC gets UNAVAILABLE.
    expect(expectReply(request(plugin, 'app.example.com', navigation).settled).status).toBe(503);
    const grpc = expectReply(
      request(plugin, 'app.example.com', { 'content-type': 'application/grpc' }).settled,
    );
    expect(grpc.grpcStatus).toBe(14);
    expect(header(grpc.headers, 'retry-after')).toBe('91');
    clock.advance(30_000);
    await bridge.settle();
    expect(header(expectReply(request(plugin, 'app.example.com').settled).headers, 'retry-after')).toBe('61');
    expect(bridge.wakes).toHaveLength(0);
    expect(plugin.metric('wakegate_asleep_by_schedule_total')).toBe(4);
    expect(plugin.metric('wakegate_held')).toBe(0);
  });

  it('answers a backend still up in its window too (the scaler is putting it to sleep), and no other', async () => {
    const { plugin } = await start({
      backends: [
        { ...awake, asleepUntil: START + 5000 },
        { ...awake, id: 'demo/other', hosts: ['other.example.com'] },
      ],
    });
    expect(expectReply(request(plugin, 'app.example.com').settled).status).toBe(503);
    expect(request(plugin, 'other.example.com').settled?.kind).toBe('continue');
    expect(plugin.metric('wakegate_asleep_by_schedule_total')).toBe(1);
  });

  it('answers the requests held when the window opens with the window, released neither by a wake nor by max-wait', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const held = request(plugin, 'app.example.com');
    const heldGrpc = request(plugin, 'app.example.com', { 'content-type': 'application/grpc' });
    const other = request(plugin, 'other.apps.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    expect(plugin.metric('wakegate_held')).toBe(3);
    const until = Math.floor(clock.now()) + 3_600_000;
    await bridge.setBackendsAndWait([{ ...sleeping, asleepUntil: until }]);
    for (const stream of [held, other]) {
      const reply = expectReply(await stream.outcome);
      expect(reply.status).toBe(503);
      expect(header(reply.headers, 'retry-after')).toBe('3600');
      expect(header(reply.headers, 'x-wakegate')).toBe('asleep');
    }
    expect(expectReply(await heldGrpc.outcome).grpcStatus).toBe(14);
    expect(plugin.metric('wakegate_held')).toBe(0);
    expect(plugin.metric('wakegate_timeouts_total')).toBe(0);
  });

  it('handles the backend as any sleeping one once its window ended by the wall clock, before the row is cleared', async () => {
    const { plugin, bridge, clock } = await start({ backends: [] });
    await bridge.setBackendsAndWait([{ ...sleeping, asleepUntil: Math.floor(clock.now()) + 2000 }]);
    expect(expectReply(request(plugin, 'app.example.com').settled).status).toBe(503);
    clock.advance(2000);
    const held = request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    expect(held.settled).toBeUndefined();
    await bridge.setBackendsAndWait([awake]);
    expect((await held.outcome)?.kind).toBe('continue');
  });

  it('refuses a table whose asleepUntil is not a time, as any malformed row', async () => {
    const { plugin, bridge, logged } = await start({ backends: [] });
    const refused = logged('not a backend table');
    bridge.setBackends([{ ...sleeping, asleepUntil: 'tomorrow' as unknown as number }]);
    await refused;
    // The table is still the empty one: the host is not managed.
    expect(request(plugin, 'app.example.com').settled?.kind).toBe('continue');
  });
});
