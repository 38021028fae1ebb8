/**
 * I1–I5 as the simulation checks them. I2 and I3 are checked at the moment of the act they forbid (a
 * forward or release, a scale call to zero reaching the platform); I1 and I4 after every step; I5 at the
 * end of the quiet phase that follows the faults. See docs/testing.md, "Protocol simulation".
 */
import { BACKEND, type FilterActor, type ScalerActor, type Sim, T } from './actors.ts';

export interface Violation {
  invariant: 'I1' | 'I2' | 'I3' | 'I4' | 'I5';
  at: number;
  detail: string;
}

/** What the checks keep between steps. */
export class Checker {
  readonly violations: Violation[] = [];
  /** When the last request was forwarded or released (the truth, not what any scaler heard). */
  lastStart = Number.NEGATIVE_INFINITY;
  /** Requests sent after this time must be answered 200 (I5's probe). */
  probeFrom = Number.POSITIVE_INFINITY;
  probes = { sent: 0, ok: 0, failed: 0 };

  readonly sim: Sim;

  constructor(sim: Sim) {
    this.sim = sim;
  }

  #violate(invariant: Violation['invariant'], detail: string): void {
    if (this.violations.some((v) => v.invariant === invariant)) return;
    this.violations.push({ invariant, at: this.sim.queue.now, detail });
  }

  /** I2: a request goes to the backend only while it has a ready endpoint. */
  onForward(filter: FilterActor, released: boolean): void {
    this.lastStart = this.sim.queue.now;
    if (!this.sim.platform.hasReadyEndpoint()) {
      this.#violate(
        'I2',
        `${filter.name} ${released ? 'released' : 'forwarded'} a request with no ready endpoint`,
      );
    }
  }

  /** I1 (answered in time) and I5's probe requests (answered 200 once the faults are over). */
  onAnswer(filter: FilterActor, status: number, sentAt: number, held: boolean): void {
    const now = this.sim.queue.now;
    if (held && status === 504 && now - sentAt > T.maxWaitMs + 25) {
      this.#violate(
        'I1',
        `${filter.name} answered 504 ${now - sentAt} ms after holding (max wait ${T.maxWaitMs})`,
      );
    }
    if (sentAt >= this.probeFrom) {
      if (status === 200) this.probes.ok++;
      else {
        this.probes.failed++;
        this.#violate('I5', `${filter.name}: a request sent after the faults ended was answered ${status}`);
      }
    }
  }

  /** I3: nothing in flight, and no request started within the idle timeout, when the scale to zero lands. */
  onScaleToZero(scaler: ScalerActor): void {
    const inflight = this.sim.filters.reduce((n, f) => n + f.inflight, 0);
    const since = this.sim.queue.now - this.lastStart;
    if (inflight > 0)
      this.#violate('I3', `${scaler.name} scaled to zero with ${inflight} request(s) in flight`);
    else if (since < T.idleTimeoutMs) {
      this.#violate(
        'I3',
        `${scaler.name} scaled to zero ${since} ms after a request (idle timeout ${T.idleTimeoutMs})`,
      );
    }
  }

  /** After every step: I1's deadlines, I4's single holder. */
  afterStep(): void {
    const now = this.sim.queue.now;
    for (const filter of this.sim.filters) {
      for (const h of filter.held) {
        // The filter checks deadlines on its tick: one tick of slack.
        if (!h.done && now > h.deadline + 25)
          this.#violate('I1', `${filter.name} still holds a request past max wait`);
      }
    }
    let holders = 0;
    for (const scaler of this.sim.scalers) if (scaler.isLeader()) holders++;
    if (holders > 1) this.#violate('I4', `${holders} scalers count themselves the idle-loop leader at once`);
  }

  /** I5 at the end of the quiet phase: every probe answered 200, and the idle backend asleep. */
  atEnd(): void {
    const { platform, nats } = this.sim;
    if (this.probes.sent > 0 && this.probes.ok + this.probes.failed < this.probes.sent) {
      this.#violate(
        'I5',
        `${this.probes.sent - this.probes.ok - this.probes.failed} probe request(s) never answered`,
      );
    }
    if (platform.replicas !== 0) this.#violate('I5', `idle backend still at ${platform.replicas} replica(s)`);
    const intent = nats.bucket('intents').get(BACKEND);
    const state = intent?.operation === 'PUT' ? (intent.value as { state: string }).state : 'none';
    // `awake` at zero replicas is asleep too (a drain's stop restored after a failure): the next wake scales it up.
    if (state === 'stopping')
      this.#violate('I5', 'idle backend left stopping: wakes would meet a stop nobody finishes');
    for (const bridge of this.sim.bridges) {
      if (bridge.life.alive && bridge.view.get(BACKEND)?.ready)
        this.#violate('I5', `${bridge.name} says ready at zero`);
    }
  }
}
