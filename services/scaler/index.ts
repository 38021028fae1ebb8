/** The scaler's public face: takes wakes and scales workloads up, puts idle backends to sleep. */
export { SCALER_NODE_FLAGS, SCALER_PORT, type ScalerConfig, scalerConfigSpec } from './config.ts';
export { IDLE_LOOP_LEASE } from './leader-lease.ts';
export {
  createScaler,
  Scaler,
  type ScalerOptions,
  type ScalerTiming,
} from './scaler.ts';
export { type RunningScaler, type ScalerServiceOptions, startScaler } from './service.ts';
