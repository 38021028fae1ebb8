export { Watcher, type WatcherOptions } from './watcher.ts';
