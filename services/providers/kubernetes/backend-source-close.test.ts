/**
 * Closing the backend source while an informer is between watches (issue 22): client-node's ListWatch
 * checks that it was stopped only before it relists, so a stop during a relist, or while the next watch
 * request is still unanswered, used to leave that watch open until the server's timeout (30 to 60 minutes
 * on a real cluster). The double holds the call in flight until the source is closed.
 */
import { describe, expect, it } from 'vitest';
import { deploymentObject, serviceObject } from '../../../test/kube-api/index.ts';
import { useKubeSource } from '../../../test/kube-source.ts';
import { until } from '../../../test/until.ts';
import type { BackendSource } from '../provider.ts';

/** Room for a loaded machine: a watch closed by the client goes within milliseconds. */
const PROMPTLY_MS = 2_000;

describe('Kubernetes backend source: close between watches', () => {
  const kube = useKubeSource();

  async function startSource(options: { watchTimeoutSeconds?: number } = {}): Promise<BackendSource> {
    const api = await kube.startApi();
    api.create(deploymentObject('web', { replicas: 0 }));
    api.create(serviceObject('web', 'web'));
    return kube.startSource(options);
  }

  const serviceWatches = () =>
    kube.api.requests.filter((r) => r.verb === 'watch' && r.resource === 'services');

  it('leaves no watch open when closed during a relist', async () => {
    const started = await startSource();
    const api = kube.api;
    await until('every informer watching', () => api.openWatches === 6);
    // A change the Services watch does not carry, then a compaction past it: that watch resumes from a
    // compacted version, meets 410 and relists, and the list hangs.
    const list = api.holdNext({ verb: 'list', resource: 'services' });
    api.create(deploymentObject('other', { replicas: 0, enabled: false }));
    api.compact();
    api.dropWatches();
    await list.reached;
    const watchesBefore = serviceWatches().length;
    await started.close();
    list.release();
    // The informer goes on to watch after its list; that watch must close at once.
    await until('the watch after the relist', () => serviceWatches().length > watchesBefore);
    await until('no watch left open', () => api.openWatches === 0, PROMPTLY_MS);
  });

  it('leaves no watch open when closed while a watch is being reestablished after the server timed it out', async () => {
    // 3 s: longer than a stalled machine takes to close, and than PROMPTLY_MS, so only a forgotten watch meets it.
    const started = await startSource({ watchTimeoutSeconds: 3 });
    const api = kube.api;
    const watch = api.holdNext({ verb: 'watch', resource: 'services' });
    await watch.reached;
    await started.close();
    // The server's timeout (the 3 s the watch asked for) would close a forgotten watch: it must close first.
    const timedOut: string[] = [];
    api.onWatchTimeout((resource) => {
      if (resource === 'services') timedOut.push(resource);
    });
    const opened = api.openedWatches;
    watch.release();
    await until('the held watch answered', () => api.openedWatches > opened);
    await until('no watch left open', () => api.openWatches === 0, PROMPTLY_MS);
    expect(timedOut, 'the watch was left to the server timeout').toEqual([]);
  });
});
