import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKEND_CONFIG, normalizeHost, parseBackendSettings } from './backend-settings.ts';
import { parseDurationMs } from './duration.ts';

describe('per-backend settings', () => {
  it('uses the defaults when nothing is set', () => {
    expect(parseBackendSettings({})).toEqual({ hosts: [], config: DEFAULT_BACKEND_CONFIG, problems: [] });
    expect(DEFAULT_BACKEND_CONFIG).toEqual({
      idleTimeoutMs: 300_000,
      wakeReplicas: 1,
      maxWaitMs: 30_000,
      maxBuffered: 1000,
    });
  });

  it('reads every setting', () => {
    const settings = parseBackendSettings({
      hosts: 'Web.Example.com:8080, *.apps.example.com,web.example.com',
      'idle-timeout': '90s',
      'wake-replicas': '3',
      'max-wait': '1m30s',
      'max-buffered': '50',
      'probe-path': '/healthz',
    });
    expect(settings).toEqual({
      hosts: ['web.example.com', '*.apps.example.com'],
      config: {
        idleTimeoutMs: 90_000,
        wakeReplicas: 3,
        maxWaitMs: 90_000,
        maxBuffered: 50,
        probePath: '/healthz',
      },
      problems: [],
    });
  });

  it('replaces each malformed value by its default and reports it', () => {
    const settings = parseBackendSettings({
      hosts: 'ok.example.com, bad host, a.*.b',
      'idle-timeout': 'forever',
      'wake-replicas': '0',
      'max-wait': '-1s',
      'max-buffered': 'lots',
      'probe-path': 'healthz',
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
    ]);
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
