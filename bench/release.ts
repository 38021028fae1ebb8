/**
 * 10,000 requests held for one backend, then released at once when it becomes healthy: how long until the
 * last is answered, and how many were lost (anything but a 200 from the backend).
 *
 *   node bench/release.ts     BENCH_HELD (10000)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { DEMO_BACKEND, eventually, readMetric, startE2eStack } from '../test/e2e/local-stack.ts';
import { freePort } from '../test/ports.ts';
import { sendMany } from './h2c-client.ts';

const HELD = Number(process.env.BENCH_HELD ?? 10_000);
const port = await freePort();

// The scaler starts a process that never serves; the benchmark itself brings the server up on the
// backend's port when every request is held, so the release moment is known.
const stack = await startE2eStack({
  backends: `  release:
    command: node
    args: ["-e", "setInterval(() => {}, 1000)"]
    url: http://127.0.0.1:${port}
    probe-path: /healthz
    hosts: [release.localhost]
    max-wait: 5m
    max-buffered: ${HELD}
    stop-grace: 200ms
`,
  env: { LOG_LEVEL: 'error' },
});

let backend: ChildProcess | undefined;
try {
  const load = await sendMany(stack.gatewayUrl, 'release.localhost', HELD, 20);
  await eventually(
    () => readMetric(stack.gatewayAdminUrl, 'wakegate_held'),
    (held) => held === HELD,
    120_000,
  );

  backend = spawn(process.execPath, [DEMO_BACKEND], {
    env: { ...process.env, PORT: String(port), DEMO_STARTUP_DELAY_MS: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: backend.stdout as NodeJS.ReadableStream });
  const [healthyLine] = (await once(lines, 'line')) as [string];
  if (!healthyLine.includes('healthy')) throw new Error(`unexpected backend output: ${healthyLine}`);
  const readyAt = performance.now();

  const answers = await load.answers;
  load.close();
  const lastAt = Math.max(...answers.map((a) => a.endedAt));
  const lost = answers.filter((a) => a.status !== 200).length;

  process.stdout.write(
    `${JSON.stringify({ bench: 'release', held: HELD, releaseAllMs: Math.round(lastAt - readyAt), lost })}\n`,
  );
} finally {
  // Started by the benchmark, not the scaler: nothing else would stop it when a step above fails.
  if (backend && backend.exitCode === null && backend.signalCode === null) {
    const exited = once(backend, 'exit');
    backend.kill('SIGTERM');
    await exited;
  }
  await stack.close();
}
