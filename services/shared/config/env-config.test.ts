import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { env, loadConfig, withoutPasswords } from './env-config.ts';
import {
  bridgeTokenSpec,
  drainSpec,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
} from './service-config.ts';

const spec = {
  ...natsConfigSpec,
  ...logConfigSpec,
  ...portSpec(8080),
  ...providerConfigSpec,
  ...bridgeTokenSpec,
  ...drainSpec,
};

describe('configuration from the environment', () => {
  it('uses the defaults when nothing is set', () => {
    expect(loadConfig(spec, {})).toEqual({
      natsUrl: 'nats://127.0.0.1:4222',
      natsCreds: undefined,
      natsUser: undefined,
      natsPassword: undefined,
      jetstreamReplicas: 'auto',
      logLevel: 'info',
      port: 8080,
      host: '0.0.0.0',
      provider: 'kubernetes',
      namespaces: [],
      processConfig: undefined,
      pair: '',
      bridgeToken: undefined,
      drainMs: 2000,
    });
  });

  it('listens on any host name or address a server can bind', () => {
    for (const host of [
      '127.0.0.1',
      '::',
      '::1',
      'fe80::1%eth0',
      'bridge',
      'wakegate_bridge_1',
      'a.b.example',
    ])
      expect(loadConfig(spec, { HOST: host }).host, host).toBe(host);
  });

  it('reads every variable', () => {
    const config = loadConfig(spec, {
      NATS_URL: 'nats://a:4222,nats://b:4222',
      // Any readable file will do: it is checked at start, read when connecting.
      NATS_CREDS: import.meta.filename,
      NATS_USER: 'u',
      NATS_PASSWORD: 'p',
      LOG_LEVEL: 'debug',
      PORT: '9000',
      WAKEGATE_PROVIDER: 'docker',
      WAKEGATE_NAMESPACES: 'shop, default',
      WAKEGATE_PROCESS_CONFIG: './local.yaml',
      WAKEGATE_BRIDGE_TOKEN: 's3cret',
      WAKEGATE_DRAIN_MS: '5s',
    });
    expect(config).toMatchObject({
      natsCreds: import.meta.filename,
      port: 9000,
      provider: 'docker',
      namespaces: ['shop', 'default'],
      drainMs: 5000,
    });
  });

  it.each([
    ['NATS_URL', 'http://example:4222', /NATS_URL: expected a nats or tls or ws or wss URL/],
    ['NATS_URL', 'not a url', /NATS_URL: not a URL/],
    ['NATS_URL', 'nats://', /NATS_URL: no host in "nats:\/\/"/],
    [
      'NATS_CREDS',
      '/nonexistent/wakegate.creds',
      /NATS_CREDS: cannot read \/nonexistent\/wakegate.creds: ENOENT/,
    ],
    ['NATS_TLS_CA', '/nonexistent/ca.pem', /NATS_TLS_CA: cannot read \/nonexistent\/ca.pem: ENOENT/],
    ['NATS_TLS_CA', '/tmp', /NATS_TLS_CA: \/tmp is a directory/],
    ['NATS_URL', 'nats://me:s3cret@bad host:4222', /NATS_URL: not a URL: "nats:\/\/me:\*\*\*@bad host:4222"/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL: expected one of fatal, error/],
    ['PORT', '70000', /PORT: expected a whole number from 0 to 65535/],
    ['PORT', 'eighty', /PORT: expected a whole number/],
    ['HOST', 'not a host', /HOST: expected a host name or an IP address to listen on, got "not a host"/],
    ['HOST', 'http://0.0.0.0', /HOST: expected a host name or an IP address/],
    ['HOST', 'a..b', /HOST: expected a host name or an IP address/],
    ['WAKEGATE_PROVIDER', 'nomad', /WAKEGATE_PROVIDER: expected one of kubernetes, docker, process/],
    ['WAKEGATE_NAMESPACES', 'shop,Bad_NS', /WAKEGATE_NAMESPACES: "Bad_NS" is not a valid namespace/],
    ['WAKEGATE_DRAIN_MS', 'soon', /WAKEGATE_DRAIN_MS: expected a duration/],
    ['WAKEGATE_DRAIN_MS', '-5', /WAKEGATE_DRAIN_MS: expected a duration/],
    ['WAKEGATE_DRAIN_MS', '0', /WAKEGATE_DRAIN_MS: expected a duration from 200 ms/],
    ['WAKEGATE_DRAIN_MS', '199ms', /WAKEGATE_DRAIN_MS: expected a duration from 200 ms/],
  ])('rejects %s=%j with one message naming it', (variable, value, message) => {
    const error = (() => {
      try {
        loadConfig(spec, { [variable]: value });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('names a required variable that is missing', () => {
    expect(() => loadConfig({ path: env.string('WAKEGATE_PROCESS_CONFIG') }, {})).toThrow(
      'WAKEGATE_PROCESS_CONFIG: is required',
    );
  });

  it('reads the NATS password from a file, refuses both ways at once, and names an unreadable file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wakegate-nats-password-'));
    await writeFile(join(dir, 'password'), 's3cret\n');
    const user = { NATS_USER: 'wakegate-bridge' };
    expect(loadConfig(spec, { ...user, NATS_PASSWORD_FILE: join(dir, 'password') }).natsPassword).toBe(
      's3cret',
    );
    expect(() => loadConfig(spec, { NATS_PASSWORD: 'p', NATS_PASSWORD_FILE: join(dir, 'password') })).toThrow(
      'NATS_PASSWORD_FILE: and NATS_PASSWORD are both set; set one',
    );
    expect(() => loadConfig(spec, { NATS_PASSWORD_FILE: join(dir, 'missing') })).toThrow(
      'NATS_PASSWORD_FILE: cannot be read: ENOENT',
    );
    // Without its user the password was ignored, and the service connected as nobody.
    expect(() => loadConfig(spec, { NATS_PASSWORD_FILE: join(dir, 'password') })).toThrow(
      'NATS_PASSWORD_FILE: is set but NATS_USER is not: a password needs its user',
    );
    expect(() => loadConfig(spec, { NATS_PASSWORD: 'p' })).toThrow(
      /^NATS_PASSWORD: is set but NATS_USER is not/,
    );
  });
});

describe('withoutPasswords', () => {
  it('hides a password, a token and a password with an @ in it, and leaves URLs without credentials alone', () => {
    expect(withoutPasswords('nats://me:s3cret@nats:4222')).toBe('nats://me:***@nats:4222');
    expect(withoutPasswords('nats://T0KEN@nats:4222')).toBe('nats://***@nats:4222');
    expect(withoutPasswords('nats://me:p@ss@nats:4222')).toBe('nats://me:***@nats:4222');
    expect(withoutPasswords('nats://a:4222,nats://me:x@b:4222')).toBe('nats://a:4222,nats://me:***@b:4222');
    expect(withoutPasswords('tls://nats.example.com:4222/')).toBe('tls://nats.example.com:4222/');
  });
});
