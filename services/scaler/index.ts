export { IDLE_LOOP_LEASE } from './leader-lease.ts';
export {
  createScaler,
  DEFAULT_SCALER_TIMING,
  Scaler,
  type ScalerOptions,
  type ScalerTiming,
} from './scaler.ts';
