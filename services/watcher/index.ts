/** The watcher's public face: follows the platform and writes each backend's record to NATS KV. */
export { WATCHER_NODE_FLAGS, WATCHER_PORT, type WatcherConfig, watcherConfigSpec } from './config.ts';
export { type RunningWatcher, startWatcher, type WatcherServiceOptions } from './service.ts';
export { Watcher, type WatcherOptions } from './watcher.ts';
