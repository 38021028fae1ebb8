/**
 * `wakegate_<service>_nats_connected`: 1 while the service's NATS connection is up, read from the
 * connection's status events at each scrape (the bridge's own is in its metrics).
 */
import { Gauge, type Registry } from 'prom-client';
import type { NatsLink } from '../nats/connection.ts';

export function natsConnectedGauge(registry: Registry, service: 'scaler' | 'watcher', link: NatsLink): void {
  new Gauge({
    name: `wakegate_${service}_nats_connected`,
    help: `1 while the ${service} is connected to NATS, else 0`,
    registers: [registry],
    collect() {
      this.set(link.connected ? 1 : 0);
    },
  });
}
