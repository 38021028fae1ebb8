/**
 * Temp folders for the process provider's state files, where its default state folder is: in memory on
 * Linux (`/dev/shm`), else the temp folder (services/providers/process/state-file.ts). On a disk a write
 * of the state file waits for the journal now and then (up to 413 ms on the development machine's ext4
 * `/tmp`), and a test would measure the disk.
 */
import { mkdtemp } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { defaultStateFolder } from '../services/providers/process/index.ts';

export function memoryTempFolder(prefix: string): Promise<string> {
  return mkdtemp(join(dirname(defaultStateFolder({})), prefix));
}
