/** Runs once before all test files: fail early, with one clear line, when a tool the tests need is missing,
 * and build the wasm filter and its test modules when their sources changed (a clean clone has none). */
import { execFileSync } from 'node:child_process';
import { buildWasm } from '../wasm-filter/build.ts';

export default async function setup(): Promise<void> {
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'nats-server is not installed: apt-get install -y nats-server (bash .ci/run does it for you)',
    );
  }
  await buildWasm({ onlyIfStale: true });
}
