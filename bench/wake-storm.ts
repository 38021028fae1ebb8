/**
 * 10,000 requests spread over 4 filter workers, all for one sleeping backend: every one is answered, and
 * the whole storm costs one scale call (the filters send one wake per worker, the bridge deduplicates them
 * in JetStream, the scaler scales only from 0).
 *
 *   node bench/wake-storm.ts     BENCH_REQUESTS (10000), BENCH_WORKERS (4)
 */
import { demoBackend, readMetric, startE2eStack } from '../test/e2e/local-stack.ts';
import { freePort } from '../test/ports.ts';
import { sendMany } from './h2c-client.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);

const stack = await startE2eStack({
  backends: demoBackend('storm', await freePort(), { delayMs: 1000, maxWait: '2m', maxBuffered: REQUESTS }),
  env: { LOG_LEVEL: 'error' },
  gatewayEnv: { WAKEGATE_GATEWAY_WORKERS: String(WORKERS) },
});

try {
  const load = await sendMany(stack.gatewayUrl, 'storm.localhost', REQUESTS, 20);
  const answers = await load.answers;
  load.close();
  const scaleCalls = await readMetric(stack.scalerUrl, 'wakegate_scale_operations_total', 'direction="up"');
  const wakeMessages = await readMetric(stack.bridgeUrl, 'wakegate_bridge_wakes_published_total');
  const failed = answers.filter((a) => a.status !== 200).length;
  process.stdout.write(
    `${JSON.stringify({ bench: 'wake-storm', requests: REQUESTS, workers: WORKERS, scaleCalls, wakeMessages, failed })}\n`,
  );
} finally {
  await stack.close();
}
