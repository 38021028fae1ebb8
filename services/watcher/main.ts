/** Entry point: `node services/watcher/main.ts`, configured by the environment (see docs/watcher.md). */
import { runService } from '../shared/index.ts';
import { watcherConfigSpec } from './config.ts';
import { startWatcher } from './service.ts';

await runService('watcher', watcherConfigSpec, startWatcher);
