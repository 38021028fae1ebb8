/** The filter as the other parts use it: its build. The proxy-wasm host that runs it has its own face,
 * `host/index.ts`. */
export { buildWasm } from './build.ts';
