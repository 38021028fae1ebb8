import { Counter, Gauge, Registry } from 'prom-client';
import type { ForbiddenSource } from '../providers/index.ts';
import { coldStartHistogram } from '../shared/index.ts';

/** The watcher's Prometheus metrics, on a registry of its own. */
export class WatcherMetrics {
  readonly registry = new Registry();
  readonly backends = new Gauge({
    name: 'wakegate_watcher_backends',
    help: 'Opted-in backends the provider reports',
    registers: [this.registry],
  });
  readonly readyBackends = new Gauge({
    name: 'wakegate_watcher_ready_backends',
    help: 'Backends ready for traffic as the provider reports them',
    registers: [this.registry],
  });
  readonly snapshots = new Counter({
    name: 'wakegate_watcher_snapshots_total',
    help: 'Backend sets received from the provider',
    registers: [this.registry],
  });
  readonly writes = new Counter({
    name: 'wakegate_watcher_kv_writes_total',
    help: 'Writes to wakegate-backends by operation (put or delete)',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly conflicts = new Counter({
    name: 'wakegate_watcher_write_conflicts_total',
    help: 'Compare-and-set writes refused because another replica wrote first',
    registers: [this.registry],
  });
  readonly deferred = new Counter({
    name: 'wakegate_watcher_deferred_writes_total',
    help: 'Writes held back because another replica had already moved the value further',
    registers: [this.registry],
  });
  readonly readyEvents = new Counter({
    name: 'wakegate_watcher_ready_events_total',
    help: 'wakegate.ready events published, by readiness',
    labelNames: ['ready'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'wakegate_watcher_errors_total',
    help: 'Failed NATS operations (retried with a full reconcile)',
    registers: [this.registry],
  });
  readonly oversizedRecords = new Counter({
    name: 'wakegate_watcher_oversized_records_total',
    help: 'Backend records above 64 KiB of JSON, written without their hosts and routes',
    registers: [this.registry],
  });
  readonly kvInvalid = new Counter({
    name: 'wakegate_watcher_kv_invalid_total',
    help: 'wakegate-backends values this watcher could not read, each replaced by its next write',
    registers: [this.registry],
  });
  readonly invalidScaled = new Counter({
    name: 'wakegate_watcher_invalid_messages_total',
    help: 'wakegate.scaled messages ignored because they are not valid',
    registers: [this.registry],
  });
  readonly refusedHostClaims = new Gauge({
    name: 'wakegate_watcher_refused_host_claims',
    help: 'Host claims refused now, by reason (conflict: another backend claimed it first; wide-wildcard; not-allowed by the namespace allowlist)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly hostRefusals = new Counter({
    name: 'wakegate_watcher_host_refusals_total',
    help: 'Host claims refused, counted when each refusal appears, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  /** Read from the provider at each scrape: a refusal lasts as long as the RBAC stays as it is. */
  readonly sourceForbidden: Gauge<'resource' | 'namespace'>;
  readonly coldStart = coldStartHistogram(
    this.registry,
    'Cold start by phase; the watcher measures "ready": scale call done to the backend published ready',
  );

  /** `forbidden`: the provider's sources it may not read now. */
  constructor(forbidden: () => readonly ForbiddenSource[] = () => []) {
    this.sourceForbidden = new Gauge({
      name: 'wakegate_watcher_source_forbidden',
      help: '1 for each optional source the platform refuses the watcher (Kubernetes: a 403 on HTTPRoutes, GRPCRoutes or ReferenceGrants), left out of every backend until allowed; namespace empty when read cluster-wide',
      labelNames: ['resource', 'namespace'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { resource, namespace } of forbidden())
          this.set({ resource, namespace: namespace ?? '' }, 1);
      },
    });
  }
}
