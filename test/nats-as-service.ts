/** For the NATS permission tests: a client connected as a wakegate service would be, and what the server
 * says to a publish it refuses. */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { controlUserOf, inboxPrefixOf, type NatsService, natsUserOf } from '../services/shared/index.ts';

/** Connects as the service does: its user, its inbox prefix. Close it when done. */
export function connectAsService(
  url: string,
  service: NatsService,
  password: string,
): Promise<NatsConnection> {
  return connect({
    servers: url,
    user: natsUserOf(service),
    pass: password,
    inboxPrefix: inboxPrefixOf(service),
  });
}

/** Connects as the service's control user does (the bridge's and the scaler's answers to control
 * requests). Close it when done. */
export function connectAsControl(
  url: string,
  service: NatsService,
  password: string,
): Promise<NatsConnection> {
  return connect({ servers: url, user: controlUserOf(natsUserOf(service)), pass: password });
}

/** Subscribes and resolves with the server's permission error for it (a subscription is never answered). */
export async function refusedSubscription(nc: NatsConnection, subject: string): Promise<string> {
  const refused = serverError(nc, subject);
  nc.subscribe(subject);
  return refused;
}

/** Publishes and resolves with the server's permission error for it (a core publish is never answered). */
export async function refusedPublish(nc: NatsConnection, subject: string): Promise<string> {
  const refused = serverError(nc, subject);
  nc.publish(subject, '{}');
  return refused;
}

/** The first error the server sends `nc` that names `subject` ('closed' if the connection closes first). */
async function serverError(nc: NatsConnection, subject: string): Promise<string> {
  for await (const status of nc.status()) {
    if (status.type === 'error' && String(status.error).includes(subject)) return String(status.error);
  }
  return 'closed';
}
