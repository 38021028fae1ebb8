/** Entry point: `node services/bridge/main.ts`, configured by the environment (see docs/bridge.md). */
import { runService } from '../shared/index.ts';
import { bridgeConfigSpec } from './config.ts';
import { startBridge } from './service.ts';

await runService('bridge', bridgeConfigSpec, startBridge);
