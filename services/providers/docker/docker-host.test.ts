import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/index.ts';
import { dockerFromEnvironment, dockerHostProblem } from './docker-host.ts';

describe('DOCKER_HOST', () => {
  it.each([
    undefined,
    'unix:///var/run/docker.sock',
    'unix:///run/docker-proxy/docker.sock',
    'tcp://127.0.0.1:2375',
    'tcp://docker:2376',
    'ssh://me@build-host',
  ])('takes %j', (value) => {
    expect(dockerHostProblem(value)).toBeUndefined();
  });

  it.each([
    // The docker CLI refuses these; dockerode would take each for a TCP host (port 80 of localhost).
    ['/var/run/docker.sock', /expected unix:\/\/\/path/],
    ['docker:2375', /expected unix:\/\/\/path/],
    ['http://127.0.0.1:2375', /expected unix:\/\/\/path/],
    ['tcp://', /no host/],
  ])('refuses %j, naming the variable', (value, reason) => {
    expect(() => dockerFromEnvironment({ DOCKER_HOST: value })).toThrow(ConfigError);
    expect(() => dockerFromEnvironment({ DOCKER_HOST: value })).toThrow(/^DOCKER_HOST: /);
    expect(dockerHostProblem(value)).toMatch(reason);
  });
});
