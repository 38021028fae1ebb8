/** For the tests of what a process exposes: the local addresses a TCP port is listened on (Linux /proc). */
import { readFile } from 'node:fs/promises';

const LISTEN = '0A';

function ipv4(hex: string): string {
  // /proc/net/tcp keeps the address in host (little-endian) byte order.
  return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join('.');
}

/** Addresses (`127.0.0.1`, `0.0.0.0`, or `ipv6:<hex>`) with a socket listening on `port`. */
export async function listeningAddresses(port: number): Promise<string[]> {
  const found: string[] = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== LISTEN) continue;
      const [address = '', portHex = ''] = local.split(':');
      if (Number.parseInt(portHex, 16) !== port) continue;
      found.push(v6 ? `ipv6:${address}` : ipv4(address));
    }
  }
  return found;
}
