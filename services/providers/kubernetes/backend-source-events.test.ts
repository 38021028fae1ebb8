/**
 * Warning Events for a problem that lasts: the API server deletes an Event an hour after its last write
 * (`--event-ttl`), and the watcher reports a problem still there again once its Event has expired, and
 * a problem fixed meanwhile not at all. The double expires Events after a shortened lifetime, and the
 * source is told that lifetime.
 */
import { describe, expect, it } from 'vitest';
import { deploymentObject, type KubeObject, serviceObject } from '../../../test/kube-api/index.ts';
import { useKubeSource } from '../../../test/kube-source.ts';
import { until } from '../../../test/until.ts';
import { MAX_MESSAGE_CHARS } from './events.ts';

/** The Events' lifetime, shortened from kube-apiserver's hour. */
const EVENT_TTL_MS = 600;

const annotationOf = (event: KubeObject) => String(event.message).split(':')[0] ?? '';

describe('Kubernetes backend source: Events of lasting problems', () => {
  const kube = useKubeSource();

  it('reports a problem still there again each time its Event expired, and one fixed meanwhile no more', async () => {
    const api = await kube.startApi({ eventTtlMs: EVENT_TTL_MS });
    /** The annotation each Event created names, in order. */
    const created: string[] = [];
    api.onChange(({ type, resource, object }) => {
      if (resource.resource === 'events' && type === 'ADDED') created.push(annotationOf(object));
    });
    const annotations = { 'wakegate.dev/idle-timeout': 'forever', 'wakegate.dev/max-buffered': '-5' };
    api.create(deploymentObject('web', { replicas: 0, annotations }));
    api.create(serviceObject('web', 'web'));
    await kube.startSource({ eventTtlMs: EVENT_TTL_MS });
    await until('an Event for each problem', () => created.length === 2);

    // One problem is fixed; the other stays.
    const deployment = api.get('deployments', 'shop', 'web') as KubeObject;
    api.update({
      ...deployment,
      metadata: { ...deployment.metadata, annotations: { 'wakegate.dev/idle-timeout': 'forever' } },
    });
    const timesCreated = (annotation: string) => created.filter((a) => a === annotation).length;
    await until(
      "the lasting problem's Event created again after each of two expiries",
      () => timesCreated('wakegate.dev/idle-timeout') === 3,
      10 * EVENT_TTL_MS,
    );
    expect(timesCreated('wakegate.dev/max-buffered')).toBe(1);
    expect(api.list('events', 'shop').map(annotationOf)).toEqual(['wakegate.dev/idle-timeout']);
  });

  it("keeps trying problems whose Events another process left, without counting those tries against the Deployment's share", async () => {
    // The API server keeps Events far longer than the source thinks: every renewal meets the old ones (409).
    const api = await kube.startApi({ eventTtlMs: 60_000 });
    const annotations = {
      'wakegate.dev/idle-timeout': 'forever',
      'wakegate.dev/max-buffered': '-5',
      'wakegate.dev/max-wait': 'soon',
      'wakegate.dev/strategy': 'maybe',
      'wakegate.dev/probe-protocol': 'ftp',
      'wakegate.dev/awake-during': 'never',
    };
    api.create(deploymentObject('web', { replicas: 0, annotations }));
    api.create(serviceObject('web', 'web'));
    const first = await kube.startSource({ eventTtlMs: EVENT_TTL_MS });
    await until('an Event for each problem', () => api.list('events', 'shop').length === 6);
    await first.close();
    await kube.startSource({ eventTtlMs: EVENT_TTL_MS });
    const creates = () => api.requests.filter((r) => r.verb === 'create' && r.resource === 'events').length;
    await until('more tries than the share of one Deployment', () => creates() > 6 + 12, 10 * EVENT_TTL_MS);
    expect(api.list('events', 'shop').filter((e) => e.reason !== 'InvalidAnnotation')).toEqual([]);
  });

  it('quotes only the start of a long malformed value, and tells each new one apart', async () => {
    const api = await kube.startApi();
    const messages: string[] = [];
    api.onChange(({ type, resource, object }) => {
      if (resource.resource === 'events' && type === 'ADDED') messages.push(String(object.message));
    });
    const long = (last: string) => ({ 'wakegate.dev/asleep-during': `${'x'.repeat(100_000)}${last}` });
    api.create(deploymentObject('web', { replicas: 0, annotations: long('a') }));
    api.create(serviceObject('web', 'web'));
    await kube.startSource();
    await until('an Event for the malformed value', () => messages.length === 1);
    expect(messages[0]).toMatch(/^wakegate\.dev\/asleep-during: /);
    expect(messages[0]?.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);

    // Another value (the same start) is another problem, reported in its turn.
    const deployment = api.get('deployments', 'shop', 'web') as KubeObject;
    api.update({ ...deployment, metadata: { ...deployment.metadata, annotations: long('b') } });
    await until('an Event for the changed value', () => messages.length === 2);
  });
});
