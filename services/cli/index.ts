/** The `wakegate` command (main.ts is its entry point): its client of the control API and its rendering. */
export {
  ApiError,
  ControlClient,
  type ControlEvent,
  EXIT,
  type SleepAnswer,
  type WakeAnswer,
} from './client.ts';
export { changeLine, duration, statusTable, wakeSummary } from './render.ts';
export { resolveTarget, type Target } from './target.ts';
