export { IDLE_LOOP_LEASE } from './leader-lease.ts';
export {
  createScaler,
  Scaler,
  type ScalerOptions,
  type ScalerTiming,
} from './scaler.ts';
