/**
 * `wakegate_<service>_nats_connected`: 1 while the service's NATS connection is up, and
 * `wakegate_<service>_nats_control_connected` the same for the connection that answers control requests
 * (the bridge's and the scaler's control user), each read from the connection's status events at each
 * scrape (the bridge's main one is in its metrics).
 */
import { Gauge, type Registry } from 'prom-client';
import type { NatsLink } from '../nats/connection.ts';

function linkGauge(registry: Registry, name: string, help: string, link: NatsLink): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(link.connected ? 1 : 0);
    },
  });
}

export function natsConnectedGauge(registry: Registry, service: 'scaler' | 'watcher', link: NatsLink): void {
  linkGauge(
    registry,
    `wakegate_${service}_nats_connected`,
    `1 while the ${service} is connected to NATS, else 0`,
    link,
  );
}

export function natsControlConnectedGauge(
  registry: Registry,
  service: 'bridge' | 'scaler',
  link: NatsLink,
): void {
  linkGauge(
    registry,
    `wakegate_${service}_nats_control_connected`,
    `1 while the ${service}'s connection that answers control requests is connected to NATS, else 0`,
    link,
  );
}
