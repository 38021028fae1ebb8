export { BackendStore } from './backend-store.ts';
export { WatcherMetrics } from './metrics.ts';
export { Watcher, type WatcherOptions } from './watcher.ts';
