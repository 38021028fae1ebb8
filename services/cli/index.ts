/** The `wakegate` command (main.ts is its entry point); other parts use its client of the control API. */
export { ControlClient } from './client.ts';
