/**
 * Temp folders for the process provider's state files, in memory as its default state folder is (`/dev/shm`
 * on Linux, services/providers/process/state-file.ts): on this machine's ext4 `/tmp` a write of the state
 * file waited for the journal now and then (up to 420 ms), and a test would measure the disk.
 */
import { mkdtemp } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { defaultStateFolder } from '../services/providers/process/index.ts';

export function memoryTempFolder(prefix: string): Promise<string> {
  return mkdtemp(join(dirname(defaultStateFolder({})), prefix));
}
