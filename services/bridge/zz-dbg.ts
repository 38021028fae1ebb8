import { startNatsServer } from '../../test/nats-server.ts';
import { createLogger } from '../shared/index.ts';
import { startBridge } from './bridge.ts';

const server = await startNatsServer();
const b = await startBridge({
  natsUrl: server.url,
  maxLongPolls: 2000,
  port: 0,
  host: '127.0.0.1',
  logger: createLogger('bridge', 'warn'),
});
await new Promise((r) => setTimeout(r, 300));
const mode = process.argv[2];
if (mode === 'big') {
  const r = await fetch(`${b.url}/v1/wake`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ backend: 'a'.repeat(1024 * 1024) }),
  });
  console.log(r.status, await r.text());
}
if (mode === 'abort') {
  const { revision } = await (await fetch(`${b.url}/v1/backends`)).json();
  const c = new AbortController();
  const p = fetch(`${b.url}/v1/backends?since=${revision}&wait=30000`, { signal: c.signal }).catch(
    (e) => e.name,
  );
  await new Promise((r) => setTimeout(r, 200));
  c.abort();
  console.log(await p);
}
if (mode === 'ct') {
  const r = await fetch(`${b.url}/v1/wake`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'backend=x',
  });
  console.log(r.status, await r.text());
}
if (mode === 'empty') {
  const r = await fetch(`${b.url}/v1/wake`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '',
  });
  console.log(r.status, await r.text());
}
const t = Date.now();
const timer = setInterval(() => console.log('conns', (b.app.server as any)._connections), 1000);
await b.app.close();
console.log('app closed', Date.now() - t);
await b.close();
console.log('closed', Date.now() - t);
clearInterval(timer);
await server.close();
