/** For the process provider's tests: a temp folder with a backends file. */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { memoryTempFolder } from '../memory-folder.ts';

export interface ProcessFixture {
  dir: string;
  configFile: string;
  stateFile: string;
  remove(): Promise<void>;
}

/** A temp folder in memory with `config.yaml` (the given YAML, its state file inside the folder). */
export async function processFixture(yaml: string): Promise<ProcessFixture> {
  const dir = await memoryTempFolder('wakegate-process-');
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, `state-file: state.json\n${yaml}`);
  return {
    dir,
    configFile,
    stateFile: join(dir, 'state.json'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
