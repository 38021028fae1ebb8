/**
 * Docker provider wake and sleep, against a real dockerd (test/dockerd.ts: WAKEGATE_TEST_DOCKER_HOST or a
 * private one, as root). One busybox httpd container with a probe path, started and stopped BENCH_RUNS
 * (20) times through the provider; prints one JSON line:
 *
 *   startCallMs     the scaler's start call (docker start) returning
 *   readyMs         from the start call to the watch side's snapshot saying ready (event, inspect, probe)
 *   stopCallMs      the scaler's stop call returning (SIGTERM through docker-init, httpd exits)
 *   notReadyMs      from the stop call to the snapshot saying not ready
 *
 *   node bench/docker-wake.ts
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { DockerBackendSource, DockerWorkloadScaler } from '../services/providers/docker/index.ts';
import { httpdContainer, startDockerd } from '../test/dockerd.ts';
import { freePort } from '../test/ports.ts';
import { untilBackend } from '../test/snapshots.ts';
import { ascending, percentile } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);

const dockerd = await startDockerd();
try {
  const image = await dockerd.importBusyboxImage();
  const project = `wgb${randomBytes(3).toString('hex')}`;
  const id = `${project}/web`;
  const port = await freePort();
  await dockerd.run(
    httpdContainer({
      name: `${project}-web-1`,
      image,
      port,
      labels: {
        'com.docker.compose.project': project,
        'com.docker.compose.service': 'web',
        'wakegate.probe-path': '/',
        'wakegate.port': String(port),
      },
    }),
    false,
  );

  const logger = pino({ level: 'silent' });
  const options = { docker: dockerd.docker, logger, namespaces: [project] };
  const source = new DockerBackendSource(options);
  const scaler = new DockerWorkloadScaler(options);
  source.start();
  const snapshots = source.snapshots()[Symbol.asyncIterator]();
  const until = (ready: boolean) =>
    untilBackend(snapshots, id, (b) => b.ready === ready && (ready || b.replicas === 0), 120_000);
  await until(false);

  const startCall: number[] = [];
  const ready: number[] = [];
  const stopCall: number[] = [];
  const notReady: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    let t0 = performance.now();
    await scaler.setReplicas(id, 1);
    startCall.push(performance.now() - t0);
    await until(true);
    ready.push(performance.now() - t0);

    t0 = performance.now();
    await scaler.setReplicas(id, 0);
    stopCall.push(performance.now() - t0);
    await until(false);
    notReady.push(performance.now() - t0);
  }
  await source.close();

  const figures = (values: number[]) => {
    const sorted = ascending(values);
    return { p50: Math.round(percentile(sorted, 50)), p99: Math.round(percentile(sorted, 99)) };
  };
  process.stdout.write(
    `${JSON.stringify({
      bench: 'docker-wake',
      runs: RUNS,
      startCallMs: figures(startCall),
      readyMs: figures(ready),
      stopCallMs: figures(stopCall),
      notReadyMs: figures(notReady),
    })}\n`,
  );
} finally {
  await dockerd.close();
}
