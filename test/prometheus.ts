/**
 * Test fixture: a real Prometheus (Debian's `prometheus` package) on a free loopback port, scraping the
 * given targets every second and evaluating the given rule files every second, storing in its own temp
 * folder. `query` runs an instant query through the HTTP API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.ts';

export interface ScrapeJob {
  job: string;
  /** `host:port` of each target; each serves /metrics. */
  targets: string[];
}

export interface QueryAnswer {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export interface PrometheusFixture {
  readonly url: string;
  query(expr: string): Promise<QueryAnswer>;
  /** GET an API path (`/api/v1/targets`, …) and its JSON. */
  api<T>(path: string): Promise<T>;
  close(): Promise<void>;
}

export async function startPrometheus(options: {
  jobs: ScrapeJob[];
  ruleFiles?: string[];
}): Promise<PrometheusFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'wakegate-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: options.jobs.map(({ job, targets }) => ({
        job_name: job,
        static_configs: [{ targets }],
      })),
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', (error) =>
        reject(
          (error as NodeJS.ErrnoException).code === 'ENOENT'
            ? new Error('prometheus is not installed (apt-get install prometheus, or run bash .ci/run)')
            : error,
        ),
      );
      child.once('exit', (code) => reject(new Error(`prometheus exited with ${code}:\n${log}`)));
      // Ready has no event to wait for but its endpoint answering 200.
      const poll = async () => {
        const ready = await fetch(`${url}/-/ready`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) resolve();
        else if (child.exitCode === null) setTimeout(poll, 50);
      };
      void poll();
    });
  } catch (error) {
    await close();
    throw error;
  }
  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${url}${path}`)).json()) as T;
  return {
    url,
    api,
    query: (expr) => api<QueryAnswer>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    close,
  };
}
