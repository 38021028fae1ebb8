/**
 * What the fan-out benchmarks (bridge-fanout.ts, scale.ts) share: a minimal long-poll client on raw
 * sockets, the bridge as its own process, the floor (fanout-floor.ts, a bare `node:http` server in its own
 * process writing the same bytes to as many held calls), and blocks of rounds that take turns between the
 * bridge and the floor, so that load from elsewhere on the machine falls on both alike.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BRIDGE_NODE_FLAGS } from '../services/bridge/index.ts';
import { percentile } from './stats.ts';

export type Answer = { body: Buffer; at: number };

/** Sockets opened at once: the listen backlog (511 for node:http) must not drop connection attempts. */
const CONNECT_BATCH = 256;
const BRIDGE_MAIN = fileURLToPath(new URL('../services/bridge/main.ts', import.meta.url));
const FLOOR = fileURLToPath(new URL('./fanout-floor.ts', import.meta.url));
const RAISED = 'WAKEGATE_BENCH_NOFILE_RAISED';
/** The bridge always runs with a token: the bearer check is on every call's path. */
export const BENCH_TOKEN = 'bench-token-0123456789abcdef';
export const AUTHORIZATION = `Bearer ${BENCH_TOKEN}`;

/**
 * One keep-alive HTTP/1.1 connection sending GETs one at a time: enough for long polls, and cheap enough
 * that thousands of them sharing the machine with the server measure the server rather than the client.
 */
export class LongPollConnection {
  readonly #socket: Socket;
  readonly #head: string;
  readonly connected: Promise<unknown>;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: ((answer: Answer) => void) | undefined;

  /** `headers` go on every request. */
  constructor(url: URL, headers: Record<string, string> = {}) {
    this.#head = Object.entries({ host: url.host, ...headers })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    this.#socket = connect(Number(url.port), url.hostname);
    this.#socket.setNoDelay(true);
    this.connected = once(this.#socket, 'connect');
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  /** Resolves with the 200 answer's body and when its last byte arrived. */
  get(path: string): Promise<Answer> {
    this.#socket.write(`GET ${path} HTTP/1.1\r\n${this.#head}\r\n`);
    return new Promise((resolve) => {
      this.#pending = resolve;
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const headEnd = this.#buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.#buffer.subarray(0, headEnd).toString('latin1');
    if (!head.startsWith('HTTP/1.1 200')) throw new Error(`unexpected answer: ${head}`);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
    if (this.#buffer.length < headEnd + 4 + length) return;
    const at = performance.now();
    const body = this.#buffer.subarray(headEnd + 4, headEnd + 4 + length);
    this.#buffer = this.#buffer.subarray(headEnd + 4 + length);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.({ body, at });
  }
}

/** The soft limit on open files, or the hard one (`H`); Infinity when unlimited. */
function nofile(which: 'S' | 'H'): number {
  const text = execFileSync('sh', ['-c', `ulimit -${which}n`])
    .toString()
    .trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
}

/**
 * Makes sure each process may open `needed` files (a socket per waiter, and room for the rest). Node cannot
 * raise its own limit: a shell raises it and runs the benchmark again, whose children inherit it; this
 * process then exits with its status. Fails, saying so, when the hard limit is lower.
 */
export function ensureOpenFiles(needed: number): void {
  if (nofile('S') >= needed) return;
  const hard = nofile('H');
  if (hard < needed || process.env[RAISED]) {
    throw new Error(
      `the benchmark needs ${needed} open files per process; the hard limit (ulimit -Hn) is ${hard}: raise it (limits.conf, systemd LimitNOFILE, docker --ulimit nofile=)`,
    );
  }
  const again = spawnSync(
    'sh',
    [
      '-c',
      `ulimit -n ${needed} && exec "$@"`,
      'sh',
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, [RAISED]: '1' } },
  );
  process.exit(again.status ?? 1);
}

/** The bridge as its own process (`node services/bridge/main.ts`, with the flags it ships with) on loopback,
 * with the benchmark's token. */
export async function startBridgeProcess(natsUrl: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...BRIDGE_NODE_FLAGS, BRIDGE_MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      NATS_URL: natsUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      WAKEGATE_BRIDGE_TOKEN: BENCH_TOKEN,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const event = JSON.parse(line) as { msg?: string; url?: string };
      if (event.msg === 'bridge listening' && event.url) resolve(event.url);
    });
    child.once('exit', (code) => reject(new Error(`bridge exited with ${code}`)));
  });
  return {
    url,
    pid: child.pid as number,
    close: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A server the long polls are held by: where, what to ask, how many it holds, what answers them. */
export interface FanoutTarget {
  readonly url: URL;
  readonly headers?: Record<string, string>;
  path(): string;
  held(): Promise<number>;
  trigger(): Promise<void>;
  /** Checks the answers of a round (and takes what the next one asks from them). */
  answered(bodies: Buffer[]): void;
}

/** Opens `n` keep-alive connections, a batch at a time. */
async function connectAll(target: FanoutTarget, n: number): Promise<LongPollConnection[]> {
  const connections: LongPollConnection[] = [];
  while (connections.length < n) {
    const batch = Array.from(
      { length: Math.min(CONNECT_BATCH, n - connections.length) },
      () => new LongPollConnection(target.url, target.headers),
    );
    await Promise.all(batch.map((c) => c.connected));
    connections.push(...batch);
  }
  return connections;
}

/** One block on `connections`: a round to warm up (not measured), then `rounds` measured ones. Time from
 * each trigger to each answer, a list per round. */
async function block(
  target: FanoutTarget,
  connections: LongPollConnection[],
  rounds: number,
): Promise<number[][]> {
  const waiters = connections.length;
  const warmup = 1;
  const measured: number[][] = [];
  for (let round = 0; round < warmup + rounds; round++) {
    let triggeredAt = 0;
    const latencies: number[] = [];
    const path = target.path();
    const polls = connections.map(async (connection) => {
      const { body, at } = await connection.get(path);
      latencies.push(at - triggeredAt);
      return body;
    });
    while ((await target.held()) < waiters) await new Promise((resolve) => setTimeout(resolve, 10));
    triggeredAt = performance.now();
    await target.trigger();
    target.answered(await Promise.all(polls));
    if (round >= warmup) measured.push(latencies);
  }
  return measured;
}

export interface FanoutShape {
  waiters: number;
  blocks: number;
  rounds: number;
  /** Each block connects its waiters and closes them after (default), so that both sides' sockets are never
   * open at once; or both sets stay connected throughout, as gateways keep theirs. */
  reconnect?: boolean;
}

const round2 = (ms: number) => Math.round(ms * 100) / 100;

/** p50 and p99 of every answer of every round, and how many rounds reach the p99 (have an answer at or above
 * it): one means a single slow round (a GC, a burst of load elsewhere) sets the tail. */
function figures(rounds: number[][]) {
  const all = rounds.flat().sort((a, c) => a - c);
  const p99 = percentile(all, 99);
  return {
    p50: percentile(all, 50),
    p99,
    roundsAtP99: rounds.filter((latencies) => latencies.some((ms) => ms >= p99)).length,
  };
}

/** The bridge and the floor, a block each in turn; the floor is asked for its target only once the bridge's
 * first block ran (it may need bytes the bridge answered). `rounds` is how many measured rounds of `waiters`
 * answers each side's percentiles are taken over. */
export async function againstFloor(
  bridge: FanoutTarget,
  floor: () => FanoutTarget,
  { waiters, blocks, rounds, reconnect = true }: FanoutShape,
) {
  const notify: number[][] = [];
  const floorRounds: number[][] = [];
  let floorTarget: FanoutTarget | undefined;
  const kept = new Map<FanoutTarget, LongPollConnection[]>();
  /** The block's connections: kept ones, or new ones closed after it. */
  const run = async (target: FanoutTarget) => {
    let connections = kept.get(target);
    if (!connections) {
      connections = await connectAll(target, waiters);
      if (!reconnect) kept.set(target, connections);
    }
    try {
      return await block(target, connections, rounds);
    } finally {
      if (reconnect) for (const connection of connections) connection.close();
    }
  };
  try {
    for (let b = 0; b < blocks; b++) {
      notify.push(...(await run(bridge)));
      floorTarget ??= floor();
      floorRounds.push(...(await run(floorTarget)));
    }
  } finally {
    for (const connections of kept.values()) for (const connection of connections) connection.close();
  }
  const bridgeFigures = figures(notify);
  const floorFigures = figures(floorRounds);
  return {
    rounds: notify.length,
    notifyP50Ms: round2(bridgeFigures.p50),
    notifyP99Ms: round2(bridgeFigures.p99),
    notifyP99Rounds: bridgeFigures.roundsAtP99,
    floorP50Ms: round2(floorFigures.p50),
    floorP99Ms: round2(floorFigures.p99),
    floorP99Rounds: floorFigures.roundsAtP99,
    ratioP99: round2(bridgeFigures.p99 / floorFigures.p99),
  };
}

/** The floor server in its own process, answering over IPC: `target(body)` has it write `body`. */
export async function startFloor(): Promise<{
  target: (body: Buffer, headers?: Record<string, string>) => FanoutTarget;
  close: () => Promise<void>;
}> {
  const child = spawn(process.execPath, [FLOOR], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => {
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`floor exited with ${code}`)));
  });
  const held = async () => {
    const reply = once(child, 'message') as Promise<[{ held: number }]>;
    child.send({ kind: 'held' });
    return (await reply)[0].held;
  };
  return {
    target: (body, headers) => ({
      url: new URL(`http://127.0.0.1:${port}`),
      ...(headers ? { headers } : {}),
      path: () => '/v1/backends',
      held,
      trigger: async () => {
        child.send({ kind: 'answer', body: body.toString() });
      },
      answered: (bodies) => {
        if (bodies.some((b) => !b.equals(body))) throw new Error('the floor answered other bytes');
      },
    }),
    close: async () => {
      const exited = once(child, 'exit');
      child.disconnect();
      await exited;
    },
  };
}
