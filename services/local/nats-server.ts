/** How wakegate runs nats-server locally; the test fixture runs it the same way. */

/** JetStream on, storing in `storeDir`, on loopback only; port -1 lets it choose a free one. */
export function natsServerArgs(storeDir: string, port: number): string[] {
  return ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)];
}

/** The log line that names the port it listens on. */
export const NATS_LISTENING = /Listening for client connections on [^:\s]+:(\d+)/;

/** The log line after which JetStream is usable. */
export const NATS_READY = /Server is ready/;
