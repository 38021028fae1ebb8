/** Runs once before all test files: fail early, with one clear line, when a tool the tests need is missing. */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'nats-server is not installed: apt-get install -y nats-server (bash .ci/run does it for you)',
    );
  }
}
