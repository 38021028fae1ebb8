/**
 * The Docker Engine client, at `DOCKER_HOST` as the docker CLI reads it. dockerode takes any other value for
 * a TCP host (a bare `/var/run/docker.sock` becomes port 80 of localhost), so the provider would start and
 * retry a wrong address forever; such a value stops it at start instead, naming the variable.
 */
import Docker from 'dockerode';
import { ConfigError, type Env } from '../../shared/index.ts';

const SCHEMES = ['unix', 'tcp', 'ssh', 'npipe'];

/** Why `DOCKER_HOST` is unusable, or undefined when it is unset or usable. */
export function dockerHostProblem(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const scheme = /^([a-z]+):\/\//.exec(value)?.[1];
  if (scheme === undefined || !SCHEMES.includes(scheme)) {
    return `expected unix:///path/to/docker.sock, tcp://host:port or ssh://user@host, got ${JSON.stringify(value)}`;
  }
  if (scheme === 'tcp' || scheme === 'ssh') {
    let host = '';
    try {
      host = new URL(value).hostname;
    } catch {
      // Not a URL: no host either.
    }
    if (host === '') return `no host in ${JSON.stringify(value)}`;
  }
  return undefined;
}

export function dockerFromEnvironment(source: Env = process.env): Docker {
  const problem = dockerHostProblem(source.DOCKER_HOST);
  if (problem !== undefined) throw new ConfigError('DOCKER_HOST', problem);
  return new Docker();
}
