/**
 * The floor of bench/bridge-fanout.ts: a bare `node:http` server that holds every GET and, on a trigger,
 * writes the same bytes to all of them, answered as the bridge answers a long poll (`writeHead` with the
 * same headers, then `end` with the body). Run as its own process, as the bridge is, by the benchmark over
 * IPC: `{ kind: 'held' }` is answered with how many it holds, `{ kind: 'answer', body }` answers them all.
 * It prints `{"port"}` once listening.
 */
import { createServer, type ServerResponse } from 'node:http';

const JSON_TYPE = 'application/json; charset=utf-8';

type Message = { kind: 'held' } | { kind: 'answer'; body: string };

let held: ServerResponse[] = [];
const server = createServer((_request, response) => {
  held.push(response);
});
// As the bridge's: no server-side timeout may cut a held call.
server.requestTimeout = 0;

process.on('message', (message: Message) => {
  if (message.kind === 'held') {
    process.send?.({ held: held.length });
    return;
  }
  const body = Buffer.from(message.body);
  const answered = held;
  held = [];
  for (const response of answered) {
    response.writeHead(200, ['content-type', JSON_TYPE, 'content-length', String(body.length)]);
    response.end(body);
  }
});
// The benchmark went away: so does the floor, held calls and all.
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
