import { describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../errors.ts';
import {
  applyBackendBounds,
  backendBoundsFromEnv,
  DEFAULT_BACKEND_BOUNDS,
  DEFAULT_BACKEND_CONFIG,
  normalizeHost,
  parseBackendSettings,
} from './backend-settings.ts';
import { parseDurationMs } from './duration.ts';

describe('per-backend settings', () => {
  it('uses the defaults when nothing is set', () => {
    expect(parseBackendSettings({})).toEqual({
      hosts: [],
      config: DEFAULT_BACKEND_CONFIG,
      probeProtocol: 'http1',
      problems: [],
    });
    expect(DEFAULT_BACKEND_CONFIG).toEqual({
      idleTimeoutMs: 300_000,
      wakeReplicas: 1,
      maxWaitMs: 30_000,
      maxBuffered: 1000,
    });
  });

  it('refuses no-wake rules the filter cannot match: more than 64, or anything but printable ASCII', () => {
    for (const noWake of ['Café-bot', 'a\tb', Array.from({ length: 65 }, (_, i) => `bot${i}`).join(',')]) {
      const settings = parseBackendSettings({ 'no-wake': noWake });
      expect(settings.config.noWake).toBeUndefined();
      expect(settings.problems.map((p) => p.setting)).toEqual(['no-wake']);
    }
  });

  it('reads every setting', () => {
    const settings = parseBackendSettings({
      hosts: 'Web.Example.com:8080, *.apps.example.com,web.example.com',
      'idle-timeout': '90s',
      'wake-replicas': '3',
      'max-wait': '1m30s',
      'max-buffered': '50',
      'probe-path': '/healthz',
      'probe-protocol': ' H2C ',
      strategy: ' Page ',
      'no-wake': '/healthz, UptimeRobot/ ,,/healthz',
    });
    expect(settings).toEqual({
      probeProtocol: 'h2c',
      hosts: ['web.example.com', '*.apps.example.com'],
      config: {
        idleTimeoutMs: 90_000,
        wakeReplicas: 3,
        maxWaitMs: 90_000,
        maxBuffered: 50,
        probePath: '/healthz',
        strategy: 'page',
        noWake: ['/healthz', 'UptimeRobot/'],
      },
      problems: [],
    });
  });

  it('reads a group and dependencies, and reports malformed ones without keeping them', () => {
    const ok = parseBackendSettings({ group: ' shop ', 'depends-on': 'shop/db, shop/cache,shop/db' });
    expect(ok.config).toMatchObject({ group: 'shop', dependsOn: ['shop/db', 'shop/cache'] });
    expect(ok.problems).toEqual([]);
    const bad = parseBackendSettings({ group: 'Shop_Front', 'depends-on': 'db, shop/cache' });
    expect(bad.config.group).toBeUndefined();
    expect(bad.config.dependsOn).toEqual(['shop/cache']);
    expect(bad.problems).toEqual([
      { setting: 'group', value: 'Shop_Front', reason: 'expected a DNS label such as shop' },
      { setting: 'depends-on', value: 'db', reason: 'expected backend ids <namespace>/<name>' },
    ]);
  });

  it('reads schedules, and reports one that does not parse without keeping it', () => {
    const ok = parseBackendSettings({
      'awake-during': 'Mon-Fri 08:00-18:00 Europe/Berlin, Sat 10:00-14:00 Europe/Berlin',
      'asleep-during': 'daily 01:00-05:00',
    });
    expect(ok.config).toMatchObject({
      awakeDuring: 'Mon-Fri 08:00-18:00 Europe/Berlin, Sat 10:00-14:00 Europe/Berlin',
      asleepDuring: 'daily 01:00-05:00',
    });
    const bad = parseBackendSettings({ 'awake-during': 'Mon-Fri 08:00-18:00 Europe/Atlantis' });
    expect(bad.config.awakeDuring).toBeUndefined();
    expect(bad.problems).toEqual([
      {
        setting: 'awake-during',
        value: 'Mon-Fri 08:00-18:00 Europe/Atlantis',
        reason: 'unknown time zone "Europe/Atlantis"',
      },
    ]);
  });

  it('replaces each malformed value by its default and reports it', () => {
    const settings = parseBackendSettings({
      hosts: 'ok.example.com, bad host, a.*.b',
      'idle-timeout': 'forever',
      'wake-replicas': '0',
      'max-wait': '-1s',
      'max-buffered': 'lots',
      'probe-path': 'healthz',
      'probe-protocol': 'grpc-web',
      strategy: 'spinner',
      'no-wake': `/healthz,${'x'.repeat(257)}`,
    });
    expect(settings.hosts).toEqual(['ok.example.com']);
    expect(settings.config).toEqual(DEFAULT_BACKEND_CONFIG);
    expect(settings.problems.map((p) => p.setting)).toEqual([
      'hosts',
      'hosts',
      'idle-timeout',
      'max-wait',
      'wake-replicas',
      'max-buffered',
      'probe-path',
      'probe-protocol',
      'strategy',
      'no-wake',
    ]);
    expect(settings.probeProtocol).toBe('http1');
    expect(settings.problems.slice(-3).map((p) => p.reason)).toEqual([
      'expected http1, h2c or grpc',
      'expected hold, page or auto',
      'expected at most 64 comma-separated paths (/healthz) or user-agent substrings of at most 256 printable ASCII characters',
    ]);
  });

  it('refuses a max-wait over 24 h, which no filter could take, keeping the default', () => {
    const over = parseBackendSettings({ 'max-wait': '600h' });
    expect(over.config.maxWaitMs).toBe(DEFAULT_BACKEND_CONFIG.maxWaitMs);
    expect(over.problems).toEqual([
      {
        setting: 'max-wait',
        value: '600h',
        reason: 'expected a duration from 1 ms to 24h such as 30s or 5m',
      },
    ]);
    const longest = parseBackendSettings({ 'max-wait': '24h' });
    expect([longest.config.maxWaitMs, longest.problems]).toEqual([86_400_000, []]);
  });

  it('refuses a probe-path with an unpaired surrogate, which would make every filter refuse its table', () => {
    // YAML's "\ud800" gives one; JSON.stringify writes it as an escape the filter's parser refuses.
    const lone = parseBackendSettings({ 'probe-path': '/health\ud800' });
    expect(lone.config.probePath).toBeUndefined();
    expect(lone.problems).toEqual([
      {
        setting: 'probe-path',
        value: '/health\ud800',
        reason: 'expected well-formed Unicode text: it has an unpaired surrogate',
      },
    ]);
    const paired = parseBackendSettings({ 'probe-path': `/health/\u{1F600}/${'p'.repeat(2037)}` });
    expect([paired.config.probePath?.length, paired.problems]).toEqual([2048, []]);
  });

  it("bounds what the owner asks by the operator's ceiling and floor, and reports each as a problem", () => {
    const settings = parseBackendSettings(
      { 'wake-replicas': '2147483647', 'idle-timeout': '1s', 'max-wait': '10s' },
      { maxWakeReplicas: 4, minIdleTimeoutMs: 20_000 },
    );
    expect(settings.config).toEqual({
      ...DEFAULT_BACKEND_CONFIG,
      wakeReplicas: 4,
      idleTimeoutMs: 20_000,
      maxWaitMs: 10_000,
    });
    expect(settings.problems).toEqual([
      {
        setting: 'wake-replicas',
        value: '2147483647',
        reason: "above the operator's ceiling WAKEGATE_MAX_WAKE_REPLICAS (4)",
        instead: '4',
      },
      {
        setting: 'idle-timeout',
        value: '1s',
        reason: "below the operator's floor WAKEGATE_MIN_IDLE_TIMEOUT (20000 ms)",
        instead: '20000 ms',
      },
    ]);
    // Values within the bounds, the bounds themselves included, are kept and not reported.
    expect(
      parseBackendSettings(
        { 'wake-replicas': '4', 'idle-timeout': '20s' },
        { maxWakeReplicas: 4, minIdleTimeoutMs: 20_000 },
      ),
    ).toMatchObject({ config: { wakeReplicas: 4, idleTimeoutMs: 20_000 }, problems: [] });
  });

  it("reads the operator's bounds from the environment, with defaults of 10 replicas and 30 s", () => {
    expect(DEFAULT_BACKEND_BOUNDS).toEqual({ maxWakeReplicas: 10, minIdleTimeoutMs: 30_000 });
    expect(backendBoundsFromEnv({})).toEqual(DEFAULT_BACKEND_BOUNDS);
    expect(
      backendBoundsFromEnv({ WAKEGATE_MAX_WAKE_REPLICAS: '3', WAKEGATE_MIN_IDLE_TIMEOUT: '2s' }),
    ).toEqual({ maxWakeReplicas: 3, minIdleTimeoutMs: 2000 });
    expect(() => backendBoundsFromEnv({ WAKEGATE_MAX_WAKE_REPLICAS: '0' })).toThrow(ConfigError);
    expect(() => backendBoundsFromEnv({ WAKEGATE_MIN_IDLE_TIMEOUT: '500ms' })).toThrow(ConfigError);
  });

  it("reads the bounds from the process environment when none are given, as the watcher's providers do", () => {
    vi.stubEnv('WAKEGATE_MAX_WAKE_REPLICAS', '3');
    vi.stubEnv('WAKEGATE_MIN_IDLE_TIMEOUT', '5s');
    try {
      expect(parseBackendSettings({ 'wake-replicas': '5', 'idle-timeout': '2s' }).config).toMatchObject({
        wakeReplicas: 3,
        idleTimeoutMs: 5000,
      });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('bounds a record the same way, leaving one within the bounds as it is', () => {
    const config = { ...DEFAULT_BACKEND_CONFIG, wakeReplicas: 2_147_483_647, idleTimeoutMs: 1000 };
    expect(applyBackendBounds(config, DEFAULT_BACKEND_BOUNDS)).toEqual({
      config: { ...config, wakeReplicas: 10, idleTimeoutMs: 30_000 },
      applied: [
        { setting: 'wake-replicas', asked: 2_147_483_647, used: 10 },
        { setting: 'idle-timeout', asked: 1000, used: 30_000 },
      ],
    });
    const within = { ...DEFAULT_BACKEND_CONFIG, wakeReplicas: 10, idleTimeoutMs: 30_000 };
    expect(applyBackendBounds(within, DEFAULT_BACKEND_BOUNDS).config).toBe(within);
  });

  it.each([
    ['1500ms', 1500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['0.5s', 500],
    ['250', 250],
    ['', undefined],
    ['5 minutes', undefined],
    ['1d', undefined],
    [`1${'0'.repeat(400)}`, undefined],
    [`1${'0'.repeat(400)}h`, undefined],
    ['9007199254740991', 9_007_199_254_740_991],
    ['9007199254740992', undefined],
  ])('parses the duration %j', (input, ms) => {
    expect(parseDurationMs(input)).toBe(ms);
  });

  it('normalizes hosts', () => {
    expect(normalizeHost('Demo.LocalHost:8080')).toBe('demo.localhost');
    expect(normalizeHost('*.example.com')).toBe('*.example.com');
    expect(normalizeHost('example.com.')).toBe('example.com');
    expect(normalizeHost('ex ample.com')).toBeUndefined();
    expect(normalizeHost('a.*.com')).toBeUndefined();
  });
});
