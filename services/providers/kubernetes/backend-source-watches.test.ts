/**
 * The backend source's informers over time (issue 22), against an API double whose watches end the ways a
 * cluster's do: the server closes each watch at the timeout it asked for (`timeoutSeconds`; without one a
 * cluster's is 30 to 60 minutes, far beyond the client's idle abort), history is compacted so a resume
 * from an old resourceVersion meets 410 Expired (the label-filtered Deployment watch never sees the changes
 * of other Deployments, so its version falls behind), and a connection stalls silently, which only the
 * client's idle abort ends (client-node `src/watch.ts`: no byte for `requestTimeoutMs`, 30 s, aborts the
 * watch with a TimeoutError; `src/cache.ts` then resumes it at once from the last resourceVersion). The
 * first run shortens the idle abort so it passes it several times in a few seconds; the second meets the
 * client's own 30 s abort once.
 */
import { describe, expect, it } from 'vitest';
import { deploymentObject, serviceObject } from '../../../test/kube-api/index.ts';
import { useKubeSource } from '../../../test/kube-source.ts';
import { untilBackend } from '../../../test/snapshots.ts';
import { until } from '../../../test/until.ts';
import type { ObservedBackend } from '../provider.ts';
import { CLIENT_WATCH_IDLE_TIMEOUT_MS } from './informers.ts';

/** The client's idle abort, scaled down from client-node's 30 s. */
const IDLE_MS = 3_000;
/** The timeout each watch asks for, below the idle abort as the watcher's 25 s is below 30 s. */
const WATCH_TIMEOUT_SECONDS = 1;
/** The six informers of one namespace. */
const INFORMERS = 6;
/**
 * The longest a change may take to reach a snapshot: one idle abort (a stalled watch) plus room for a
 * loaded machine. client-node's reconnect backoff, doubling from 1 s on each clean close of a watch that
 * carried no event, is past it after the quiet closes here (4 s or more), and reaches 30 s.
 */
const BOUND_MS = IDLE_MS + 2_000;

describe('Kubernetes backend source: watches over time', () => {
  const kube = useKubeSource();

  it('loses no change and delays none beyond a bound across server timeouts, a compaction and a stalled connection', async () => {
    // No server timeout of its own: only the one each watch asks for closes it.
    const api = await kube.startApi({ historyLimit: 10 });
    api.create(deploymentObject('web', { replicas: 0 }));
    api.create(serviceObject('web', 'web'));
    // Not opted in: its changes are outside the Deployment watch's label selector.
    api.create(deploymentObject('other', { replicas: 0, enabled: false }));
    const snapshots = kube.snapshots(
      await kube.startSource({ watchIdleTimeoutMs: IDLE_MS, watchTimeoutSeconds: WATCH_TIMEOUT_SECONDS }),
    );
    const lists = () => api.requests.filter((r) => r.verb === 'list' && r.resource === 'deployments').length;
    const delays: Record<string, number> = {};
    /** Makes a change and waits for web's state to show it, recording how long that took. */
    async function change(what: string, make: () => void, seen: (b: ObservedBackend) => boolean) {
      const start = Date.now();
      make();
      await untilBackend(snapshots, 'shop/web', seen);
      delays[what] = Date.now() - start;
      expect(delays[what], what).toBeLessThan(BOUND_MS);
    }
    await untilBackend(snapshots, 'shop/web', (b) => b.replicas === 0 && !b.ready);

    // 1. Every watch is closed by the server again and again, with nothing to carry in between.
    let closed = api.timedOutWatches;
    await until(
      'each watch closed by the server a few times',
      () => api.timedOutWatches >= closed + 4 * INFORMERS,
      20_000,
    );
    // The change lands just as the server closes the (quiet) EndpointSlice watch that must carry it.
    await new Promise<void>((resolve) => {
      const off = api.onWatchTimeout((resource) => {
        if (resource !== 'endpointslices') return;
        off();
        resolve();
      });
    });
    await change(
      'after quiet server timeouts',
      () => api.scale('shop', 'web', 1),
      (b) => b.ready,
    );

    // 2. History is compacted past the Deployment watch's version while it sees nothing it selects; the
    // bookmark before each server close keeps its version current: it resumes without listing again.
    // The burst in one turn with every watch open: a resume in flight during it would meet 410 rightly.
    const listsBeforeCompaction = lists();
    await until('every watch open', () => api.openWatches === INFORMERS);
    for (let i = 0; i < 12; i++) api.scale('shop', 'other', i % 2);
    closed = api.timedOutWatches;
    await until(
      'each watch closed by the server again',
      () => api.timedOutWatches >= closed + 2 * INFORMERS,
      20_000,
    );
    await change(
      'after a compaction',
      () => api.scale('shop', 'web', 0),
      (b) => b.replicas === 0 && !b.ready,
    );
    expect(lists(), 'the Deployment watch listed again').toBe(listsBeforeCompaction);

    // 3. Every connection goes silent: no event, bookmark or close; only the idle abort ends each. Meanwhile
    // history moves past the stalled Deployment watch's version: its resume meets 410 and relists.
    const listsBefore = lists();
    const opened = api.openedWatches;
    // The server closes watches every second: stall them in the same turn that saw all six open
    // (no timer runs between the check and the stall), not while one is reconnecting.
    await until('every watch open', () => api.openWatches === INFORMERS);
    expect(api.stallWatches()).toBe(INFORMERS);
    for (let i = 0; i < 12; i++) api.scale('shop', 'other', i % 2);
    await change(
      'across a stalled connection',
      () => api.scale('shop', 'web', 1),
      (b) => b.ready,
    );
    expect(api.openedWatches).toBeGreaterThan(opened);
    expect(lists()).toBeGreaterThan(listsBefore);
    await until('every stalled watch aborted by the client', () => api.openWatches <= INFORMERS);

    expect(Object.keys(delays)).toHaveLength(3);
  }, 60_000);

  it("meets client-node's own 30 s idle abort on a silent connection: the change made meanwhile arrives within the abort and a bound (a 35 s run)", async () => {
    // No server timeouts and the client's real idle abort: only client-node's own timer ends the stall.
    const api = await kube.startApi({ historyLimit: 10 });
    api.create(deploymentObject('web', { replicas: 0 }));
    api.create(serviceObject('web', 'web'));
    api.create(deploymentObject('other', { replicas: 0, enabled: false }));
    const snapshots = kube.snapshots(await kube.startSource());
    await untilBackend(snapshots, 'shop/web', (b) => b.replicas === 0 && !b.ready);
    await until('every watch open', () => api.openWatches === INFORMERS);
    const lists = () => api.requests.filter((r) => r.verb === 'list' && r.resource === 'deployments').length;
    const listsBefore = lists();
    expect(api.stallWatches()).toBe(INFORMERS);
    // History moves past the stalled Deployment watch's version: its resume meets 410 and relists.
    for (let i = 0; i < 12; i++) api.scale('shop', 'other', i % 2);
    const start = Date.now();
    api.scale('shop', 'web', 1);
    await untilBackend(snapshots, 'shop/web', (b) => b.ready, CLIENT_WATCH_IDLE_TIMEOUT_MS + 10_000);
    const delay = Date.now() - start;
    expect(delay).toBeLessThan(CLIENT_WATCH_IDLE_TIMEOUT_MS + 3_000);
    expect(lists()).toBeGreaterThan(listsBefore);
  }, 60_000);
});
