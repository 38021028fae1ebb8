/**
 * The probe against real servers: an HTTP/1.1 one and an h2c one (a gRPC server's port speaks HTTP/2 only),
 * each probed with the scheme of its protocol and with the other, and gRPC's own health service (grpc-js
 * with the reference `grpc-health-check` implementation).
 */
import { createServer } from 'node:http';
import { createServer as createH2cServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test/ports.ts';
import { probeHttp, probeUrlOf } from './http-probe.ts';

describe('probeHttp', () => {
  let requests = 0;
  const http1 = createServer((_request, response) => {
    requests++;
    response.writeHead(204).end();
  });
  const h2c = createH2cServer();
  h2c.on('stream', (stream: ServerHttp2Stream, headers) => {
    stream.respond({ ':status': headers[':path'] === '/healthz' ? 200 : 404 });
    stream.end();
  });
  const portOf = (server: { address(): unknown }) => (server.address() as AddressInfo).port;

  beforeAll(async () => {
    await Promise.all([
      new Promise<void>((resolve) => http1.listen(0, '127.0.0.1', resolve)),
      new Promise<void>((resolve) => h2c.listen(0, '127.0.0.1', resolve)),
    ]);
  });
  afterAll(() => {
    http1.close();
    h2c.close();
  });

  it('speaks HTTP/1.1 to an http:// URL and h2c to an h2c:// one, each only to its own kind of server', async () => {
    const url = (server: typeof http1 | typeof h2c, path: string, protocol: 'http1' | 'h2c') =>
      probeUrlOf('127.0.0.1', portOf(server), path, protocol);
    expect(await probeHttp(url(http1, '/healthz', 'http1'))).toBe(true);
    expect(await probeHttp(url(h2c, '/healthz', 'h2c'))).toBe(true);
    expect(await probeHttp(url(h2c, '/missing', 'h2c'))).toBe(false);
    // The wrong protocol is a failed probe, never a pass.
    expect(await probeHttp(url(h2c, '/healthz', 'http1'), 500)).toBe(false);
    expect(await probeHttp(url(http1, '/healthz', 'h2c'), 500)).toBe(false);
  });

  it('connects first and asks once on that connection, and asks nothing where nothing listens', async () => {
    const before = requests;
    expect(await probeHttp(probeUrlOf('127.0.0.1', portOf(http1), '/healthz', 'http1'))).toBe(true);
    expect(requests).toBe(before + 1);
    expect(await probeHttp(probeUrlOf('127.0.0.1', await freePort(), '/healthz', 'http1'))).toBe(false);
  });
});

describe('probeHttp with gRPC health checks', () => {
  const server = new Server();
  const health = new HealthImplementation({
    '': 'SERVING',
    'demo.Echo': 'SERVING',
    'demo.Admin': 'NOT_SERVING',
  });
  health.addToServer(server);
  let port = 0;

  beforeAll(async () => {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  });
  afterAll(() => server.forceShutdown());

  const probe = (path: string) => probeHttp(probeUrlOf('127.0.0.1', port, path, 'grpc'));

  it('passes while the server, or the service the probe path names, is SERVING', async () => {
    expect(await probe('/')).toBe(true);
    expect(await probe('/demo.Echo')).toBe(true);
    // NOT_SERVING, and NOT_FOUND for a service the server does not know, fail.
    expect(await probe('/demo.Admin')).toBe(false);
    expect(await probe('/demo.Unknown')).toBe(false);
    // A malformed escape is a service name like any other (none such here), never a throw.
    expect(await probe('/demo.%E0%A4%A')).toBe(false);
    health.setStatus('', 'NOT_SERVING');
    expect(await probe('/')).toBe(false);
    health.setStatus('', 'SERVING');
    expect(await probe('/')).toBe(true);
  });

  it('fails against a server that is not gRPC, whatever it answers', async () => {
    const plain = createH2cServer((_request, response) => response.writeHead(200).end('ok'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      expect(
        await probeHttp(probeUrlOf('127.0.0.1', (plain.address() as AddressInfo).port, '/', 'grpc')),
      ).toBe(false);
    } finally {
      plain.close();
    }
  });
});
