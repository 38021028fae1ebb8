/** Entry point: `node services/scaler/main.ts`, configured by the environment (see docs/scaler.md). */
import { runService } from '../shared/index.ts';
import { scalerConfigSpec } from './config.ts';
import { startScaler } from './service.ts';

await runService('scaler', scalerConfigSpec, startScaler);
