/**
 * How a service makes its first NATS connection: it waits for a NATS that is not up yet, and fails at once,
 * with one clear error, where waiting cannot help: credentials refused, or a server its CA did not sign
 * (NATS over TLS with a CA of the operator's own, a self-signed one made here with openssl).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerFixture, startNatsServer } from '../../../test/nats-server.ts';
import { loadConfig } from '../config/env-config.ts';
import { natsConfigSpec } from '../config/service-config.ts';
import { createLogger } from '../observability/logger.ts';
import { connectNats, followStatus, NatsConnectError } from './connection.ts';

const openssl = (dir: string, ...args: string[]) => promisify(execFile)('openssl', args, { cwd: dir });

/** A CA, and a certificate it signs for 127.0.0.1 and localhost. */
async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name} CA`,
    '-keyout',
    `${name}-ca.key`,
    '-out',
    `${name}-ca.pem`,
  );
  await openssl(
    dir,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=nats',
    '-keyout',
    `${name}-server.key`,
    '-out',
    `${name}-server.csr`,
  );
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}-server.csr`,
    '-CA',
    `${name}-ca.pem`,
    '-CAkey',
    `${name}-ca.key`,
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    `${name}-server.pem`,
  );
}

let dir: string;
let server: NatsServerFixture;
const logger = createLogger('test', 'silent');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wakegate-nats-tls-'));
  await makeCa(dir, 'ours');
  await makeCa(dir, 'other');
  const config = join(dir, 'tls.conf');
  await writeFile(
    config,
    `tls {\n  cert_file: ${JSON.stringify(join(dir, 'ours-server.pem'))}\n  key_file: ${JSON.stringify(join(dir, 'ours-server.key'))}\n}\n`,
  );
  server = await startNatsServer({ config });
});
afterAll(() => server?.close());

describe('NATS over TLS', () => {
  it('connects a service given the CA, verifying the server', async () => {
    const config = loadConfig(natsConfigSpec, {
      NATS_URL: server.url,
      NATS_TLS_CA: join(dir, 'ours-ca.pem'),
    });
    const nc = await connectNats({ ...config, name: 'wakegate-test', logger });
    expect(nc.info?.tls_required).toBe(true);
    await nc.close();
  });

  it('refuses a server its CA did not sign, and one whose CA it was not given', async () => {
    const other = loadConfig(natsConfigSpec, {
      NATS_URL: server.url,
      NATS_TLS_CA: join(dir, 'other-ca.pem'),
    });
    await expect(connectNats({ ...other, name: 'wakegate-test', logger })).rejects.toThrow(/certificate/);
    const none = loadConfig(natsConfigSpec, { NATS_URL: server.url });
    await expect(connectNats({ ...none, name: 'wakegate-test', logger })).rejects.toThrow(/certificate/);
  });
});

it('logs an outage as its disconnect and its reconnect, its attempts at debug only', async () => {
  const server = await startNatsServer();
  const lines: { level: number; msg: string }[] = [];
  const capturing = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const nc = await connectNats({ natsUrl: server.url, name: 'wakegate-test', logger: capturing });
  try {
    let attempts = 0;
    const { promise: tried, resolve: triedEnough } = Promise.withResolvers<void>();
    const { promise: back, resolve: isBack } = Promise.withResolvers<void>();
    followStatus(nc, (status) => {
      if (status.type === 'reconnecting' && ++attempts === 4) triedEnough();
      if (status.type === 'reconnect') isBack();
    });
    await server.stop();
    await tried;
    await server.start();
    await back;
    const said = lines.map((line) => line.msg);
    expect(said).not.toContain('nats reconnecting');
    expect(said.filter((msg) => msg === 'nats disconnect' || msg === 'nats reconnect')).toEqual([
      'nats disconnect',
      'nats reconnect',
    ]);
  } finally {
    await nc.close();
    await server.close();
  }
});

describe('the first NATS connection', () => {
  it('waits for a NATS that is not up yet, and connects once it is', async () => {
    const later = await startNatsServer();
    try {
      await later.stop();
      let connected = false;
      const { promise: waiting, resolve: sayWaiting } = Promise.withResolvers<void>();
      const quiet = pino(
        { level: 'debug' },
        {
          write: (line: string) => {
            if (line.includes('nats not reachable yet')) sayWaiting();
          },
        },
      );
      const connecting = connectNats({ natsUrl: later.url, name: 'wakegate-test', logger: quiet }).then(
        (nc) => {
          connected = true;
          return nc;
        },
      );
      // A failed attempt is logged and waited out, not a failed start.
      await waiting;
      expect(connected).toBe(false);
      await later.start();
      await (await connecting).close();
    } finally {
      await later.close();
    }
  });

  it('fails at once, naming the cause, when NATS refuses the credentials', async () => {
    const users = await startNatsServer({ users: true });
    try {
      const attempt = connectNats({
        natsUrl: users.url,
        natsUser: 'wakegate-bridge',
        natsPassword: 'not-the-password',
        name: 'wakegate-test',
        logger,
      });
      await expect(attempt).rejects.toBeInstanceOf(NatsConnectError);
      await expect(attempt).rejects.toThrow(
        `cannot connect to NATS at ${users.url} as wakegate-bridge: Authorization Violation`,
      );
    } finally {
      await users.close();
    }
  });

  it('names the server without the password a URL carries', async () => {
    const users = await startNatsServer({ users: true });
    try {
      const withPassword = users.url.replace('nats://', 'nats://wakegate-bridge:not-the-password@');
      const attempt = connectNats({ natsUrl: withPassword, name: 'wakegate-test', logger });
      await expect(attempt).rejects.toThrow(
        `cannot connect to NATS at ${users.url.replace('nats://', 'nats://wakegate-bridge:***@')}: Authorization Violation`,
      );
    } finally {
      await users.close();
    }
  });

  it('logs what the server refused, not only that something failed', async () => {
    const users = await startNatsServer({ users: true });
    const lines: { msg: string; err?: string }[] = [];
    const capturing = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const nc = await connectNats({
      natsUrl: users.url,
      natsUser: 'wakegate-watcher',
      natsPassword: users.passwords?.watcher,
      name: 'wakegate-watcher',
      logger: capturing,
    });
    try {
      nc.publish('wakegate.scaled.shop.api', '{}');
      await expect
        .poll(() => lines.find((line) => line.msg === 'nats error')?.err)
        .toMatch(/Permissions Violation for Publish to "wakegate\.scaled\.shop\.api"/);
    } finally {
      await nc.close();
      await users.close();
    }
  });
});
