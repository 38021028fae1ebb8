/** The HTTP face of the double: kube-apiserver's REST and watch protocol over node:http. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isAllowed } from '../../services/providers/kubernetes/permissions.ts';
import type { RbacSubject } from '../rbac.ts';
import { parseLabelSelector, type SelectorError } from './label-selector.ts';
import { jsonPatch, mergePatch, PatchError } from './patch.ts';
import { apiVersionOf, findResource, RESOURCES, type ResourceType, VERBS } from './resources.ts';
import { ApiError, conflict, invalid, type KubeObject, type ObjectStore, type StoreEvent } from './store.ts';

/** One API call as RBAC sees it. */
export interface RecordedRequest {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
  group: string;
  version: string;
  resource: string;
  subresource?: string | undefined;
  namespace?: string | undefined;
  name?: string | undefined;
}

/** A call held before it is served until the test releases it (`KubeApiServer.holdNext`). */
export interface HeldCall {
  match: Partial<RecordedRequest>;
  reached: () => void;
  released: Promise<void>;
}

export interface InjectedFailure {
  match: Partial<RecordedRequest>;
  code: number;
  reason: string;
  message: string;
  remaining: number;
}

interface Watcher {
  response: ServerResponse;
  bookmarks: boolean;
  type: ResourceType;
  /** The connection went silent: nothing more is written to it, and the server never closes it. */
  stalled: boolean;
  send(event: StoreEvent): void;
}

/** How the double's watches end over time (all off by default). */
export interface WatchTimeouts {
  /**
   * The server's watch timeout when the client sends no `timeoutSeconds`: kube-apiserver closes such a
   * watch cleanly after a random time in [minRequestTimeout, 2 × minRequestTimeout)
   * (`apiserver/pkg/endpoints/handlers/get.go` `ListResource`; `--min-request-timeout`, 1800 s by default).
   */
  minRequestTimeoutMs?: number | undefined;
}

function status(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code < 400 ? 'Success' : 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/**
 * kube-apiserver's answer to a call its authorizer denies (`responsewriters.forbiddenMessage`): 403
 * Forbidden, naming the user, verb, resource (with its subresource) and group, and where.
 */
function forbidden(user: string, call: RecordedRequest): ApiError {
  const resource = call.subresource ? `${call.resource}/${call.subresource}` : call.resource;
  const groupResource = call.group === '' ? call.resource : `${call.resource}.${call.group}`;
  const subject = call.name === undefined ? groupResource : `${groupResource} "${call.name}"`;
  const scope =
    call.namespace === undefined ? 'at the cluster scope' : `in the namespace "${call.namespace}"`;
  return new ApiError(
    403,
    'Forbidden',
    `${subject} is forbidden: User "${user}" cannot ${call.verb} resource "${resource}" in API group "${call.group}" ${scope}`,
    { ...(call.name === undefined ? {} : { name: call.name }), group: call.group, kind: call.resource },
  );
}

/** A continue token: opaque to clients, base64 JSON as kube-apiserver's (`storage.EncodeContinue`). */
function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as Record<string, unknown>;
    if (decoded.v === 'meta.k8s.io/v1' && typeof decoded.rv === 'number' && typeof decoded.start === 'string')
      return { rv: decoded.rv, start: decoded.start };
  } catch {
    // Not a token this server wrote: refused below.
  }
  throw new ApiError(
    400,
    'BadRequest',
    'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
  );
}

function send(response: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendError(response: ServerResponse, error: ApiError): void {
  const body = status(error.code, error.reason, error.message, error.details);
  // A 410 for a continue token carries one that continues from the current state.
  const listMeta = (error as ApiError & { listMeta?: Record<string, unknown> }).listMeta;
  send(response, error.code, listMeta ? { ...body, metadata: listMeta } : body);
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'BadRequest', `the request body is not valid JSON: ${text.slice(0, 80)}`);
  }
}

interface Route {
  type: ResourceType;
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

function scaleOf(deployment: KubeObject) {
  const template = deployment.spec?.selector as { matchLabels?: Record<string, string> } | undefined;
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: deployment.metadata?.name,
      namespace: deployment.metadata?.namespace,
      uid: deployment.metadata?.uid,
      resourceVersion: deployment.metadata?.resourceVersion,
      creationTimestamp: deployment.metadata?.creationTimestamp,
    },
    spec: { replicas: deployment.spec?.replicas ?? 1 },
    status: {
      replicas: (deployment.status?.replicas as number | undefined) ?? 0,
      selector: Object.entries(template?.matchLabels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    },
  };
}

export class ApiHttpServer {
  readonly server: Server;
  readonly requests: RecordedRequest[] = [];
  readonly failures: InjectedFailure[] = [];
  readonly holds: HeldCall[] = [];
  /** Every injected failure actually answered, in order: a test confirms its fault was served. */
  readonly servedFailures: (RecordedRequest & { code: number })[] = [];
  /** Every call refused by RBAC (403), in order. */
  readonly refused: RecordedRequest[] = [];
  private readonly store: ObjectStore;
  private readonly watchers = new Set<Watcher>();
  private readonly rbac: RbacSubject | undefined;
  private readonly timeouts: WatchTimeouts;
  /** Watches the server has closed at their timeout. */
  timedOutWatches = 0;
  /** Called with the resource of each watch the server closes at its timeout. */
  readonly timeoutListeners = new Set<(resource: string) => void>();
  /** Every watch request answered 200, whatever became of it. */
  openedWatches = 0;

  constructor(store: ObjectStore, rbac?: RbacSubject, timeouts: WatchTimeouts = {}) {
    this.store = store;
    this.rbac = rbac;
    this.timeouts = timeouts;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (error instanceof ApiError) sendError(response, error);
        else if (!response.headersSent) send(response, 500, status(500, 'InternalError', String(error)));
        else response.destroy();
      });
    });
    store.subscribe((event) => {
      for (const watcher of this.watchers) if (watcher.type === event.resource) watcher.send(event);
    });
  }

  /** Ends open watches; stalled ones only with `stalled` (the double shutting down). */
  dropWatches(abrupt: boolean, stalled = false): void {
    for (const watcher of this.watchers) {
      if (watcher.stalled && !stalled) continue;
      if (abrupt) watcher.response.destroy();
      else watcher.response.end();
    }
    for (const watcher of this.watchers) if (stalled || !watcher.stalled) this.watchers.delete(watcher);
  }

  /**
   * Every open watch goes silent, as over a connection a middlebox dropped: no event, no bookmark, no
   * close from the server. Only the client's own idle timeout ends it.
   */
  stallWatches(): number {
    let stalled = 0;
    for (const watcher of this.watchers) {
      if (watcher.stalled) continue;
      watcher.stalled = true;
      stalled++;
    }
    return stalled;
  }

  sendBookmarks(): void {
    for (const watcher of this.watchers) {
      if (!watcher.bookmarks || watcher.stalled) continue;
      this.bookmark(watcher);
    }
  }

  private bookmark(watcher: Watcher): void {
    const object = {
      apiVersion: apiVersionOf(watcher.type),
      kind: watcher.type.kind,
      metadata: { resourceVersion: String(this.store.resourceVersion) },
    };
    watcher.response.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
  }

  /** Watches whose connection is still open, stalled ones included. */
  get openWatches(): number {
    return this.watchers.size;
  }

  private discovery(path: string[]): unknown {
    if (path.length === 1 && path[0] === 'api')
      return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
    const groups = [...new Set(RESOURCES.filter((r) => r.group !== '').map((r) => r.group))];
    if (path.length === 1 && path[0] === 'apis')
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((name) => {
          const version = RESOURCES.find((r) => r.group === name)?.version as string;
          const gv = { groupVersion: `${name}/${version}`, version };
          return { name, versions: [gv], preferredVersion: gv };
        }),
      };
    const [group, version] = path[0] === 'api' ? ['', path[1]] : [path[1], path[2]];
    const types = RESOURCES.filter((r) => r.group === group && r.version === version);
    if (types.length === 0) return undefined;
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: group === '' ? version : `${group}/${version}`,
      resources: types.flatMap((r) => [
        { name: r.resource, singularName: r.singular, namespaced: true, kind: r.kind, verbs: VERBS },
        ...r.subresources.map((sub) => ({
          name: `${r.resource}/${sub}`,
          singularName: '',
          namespaced: true,
          kind: sub === 'scale' ? 'Scale' : r.kind,
          ...(sub === 'scale' ? { group: 'autoscaling', version: 'v1' } : {}),
          verbs: ['get', 'patch', 'update'],
        })),
      ]),
    };
  }

  private route(path: string[]): Route | undefined {
    let group: string;
    let version: string | undefined;
    let rest: string[];
    if (path[0] === 'api') [group, version, rest] = ['', path[1], path.slice(2)];
    else if (path[0] === 'apis') [group, version, rest] = [path[1] ?? '', path[2], path.slice(3)];
    else return undefined;
    if (version === undefined) return undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const type = findResource(group, version, rest[2] as string);
      if (!type || rest.length > 5) return undefined;
      return { type, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
    const type = rest.length === 1 ? findResource(group, version, rest[0] as string) : undefined;
    return type && { type };
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname.split('/').filter((s) => s !== '');
    if (request.method === 'GET' && path.length === 1 && path[0] === 'version')
      return send(response, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-wakegate-double' });
    const route = this.route(path);
    if (!route) {
      const document = request.method === 'GET' ? this.discovery(path) : undefined;
      if (document) return send(response, 200, document);
      return sendError(
        response,
        new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
      );
    }
    const { type, namespace, name, subresource } = route;
    if (subresource !== undefined && !type.subresources.includes(subresource))
      return sendError(
        response,
        new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
      );
    const watch = url.searchParams.get('watch');
    const verb = this.verbOf(request.method ?? 'GET', name, watch === 'true' || watch === '1');
    if (!verb)
      return sendError(response, new ApiError(405, 'MethodNotAllowed', `${request.method} is not supported`));
    const recorded: RecordedRequest = {
      verb,
      group: type.group,
      version: type.version,
      resource: type.resource,
    };
    if (subresource !== undefined) recorded.subresource = subresource;
    if (namespace !== undefined) recorded.namespace = namespace;
    if (name !== undefined) recorded.name = name;
    this.requests.push(recorded);
    if (this.rbac && !this.rbac.rules.some(({ rule, namespace }) => isAllowed([rule], recorded, namespace))) {
      this.refused.push(recorded);
      return sendError(response, forbidden(this.rbac.user, recorded));
    }

    const failure = this.failures.find((f) =>
      Object.entries(f.match).every(([k, v]) => recorded[k as keyof RecordedRequest] === v),
    );
    if (failure) {
      if (--failure.remaining <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
      this.servedFailures.push({ ...recorded, code: failure.code });
      return sendError(response, new ApiError(failure.code, failure.reason, failure.message));
    }
    const hold = this.holds.find((h) =>
      Object.entries(h.match).every(([k, v]) => recorded[k as keyof RecordedRequest] === v),
    );
    if (hold) {
      this.holds.splice(this.holds.indexOf(hold), 1);
      hold.reached();
      await hold.released;
      // The client gave up meanwhile: nothing to answer, and no watch to keep.
      if (request.socket.destroyed) return;
    }

    switch (verb) {
      case 'list':
        return send(response, 200, this.list(type, namespace, url.searchParams));
      case 'watch':
        return this.watch(type, namespace, url.searchParams, response);
      case 'get':
        return send(response, 200, this.read(type, namespace as string, name as string, subresource));
      case 'create': {
        if (namespace === undefined)
          throw new ApiError(405, 'MethodNotAllowed', 'create needs a namespaced collection');
        const body = (await readBody(request)) as KubeObject;
        const bodyNamespace = body?.metadata?.namespace;
        if (bodyNamespace !== undefined && bodyNamespace !== namespace)
          throw new ApiError(
            400,
            'BadRequest',
            'the namespace of the provided object does not match the namespace sent on the request',
          );
        return send(response, 201, this.store.create(type, namespace, body));
      }
      case 'update':
        return send(
          response,
          200,
          this.replace(
            type,
            namespace as string,
            name as string,
            subresource,
            (await readBody(request)) as KubeObject,
          ),
        );
      case 'patch':
        return send(
          response,
          200,
          this.patch(
            type,
            namespace as string,
            name as string,
            subresource,
            request.headers['content-type'],
            await readBody(request),
          ),
        );
      case 'delete':
        this.store.delete(type, namespace as string, name as string);
        return send(response, 200, status(200, '', '', { name, group: type.group, kind: type.resource }));
      default:
        throw new ApiError(405, 'MethodNotAllowed', `${verb} is not supported by this double`);
    }
  }

  private verbOf(
    method: string,
    name: string | undefined,
    watch: boolean,
  ): RecordedRequest['verb'] | undefined {
    if (method === 'GET') return watch ? 'watch' : name === undefined ? 'list' : 'get';
    if (method === 'POST') return name === undefined ? 'create' : undefined;
    if (method === 'PUT') return name === undefined ? undefined : 'update';
    if (method === 'PATCH') return name === undefined ? undefined : 'patch';
    if (method === 'DELETE') return name === undefined ? 'deletecollection' : 'delete';
    return undefined;
  }

  private filter(params: URLSearchParams): (object: KubeObject | undefined) => boolean {
    let labels: ReturnType<typeof parseLabelSelector>;
    try {
      labels = parseLabelSelector(params.get('labelSelector') ?? '');
    } catch (error) {
      throw new ApiError(400, 'BadRequest', (error as SelectorError).message);
    }
    const fields = (params.get('fieldSelector') ?? '')
      .split(',')
      .filter((t) => t !== '')
      .map((term) => {
        const match = /^metadata\.(name|namespace)(==|=|!=)(.*)$/.exec(term);
        if (!match) throw new ApiError(400, 'BadRequest', `field label not supported: ${term}`);
        return match;
      });
    return (object) =>
      object !== undefined &&
      labels(object.metadata?.labels) &&
      fields.every(
        ([, field, op, value]) => (object.metadata?.[field as string] === value) !== (op === '!='),
      );
  }

  /**
   * A list, paged with `limit` and `continue` as the etcd3 store serves one (`apiserver/pkg/storage/etcd3/
   * store.go` `GetList`): items in key order, every page read at the first page's resourceVersion, an
   * opaque continue token, `remainingItemCount` only without a selector (a filtered count would be a
   * guess), and 410 Expired for a token whose version was compacted, carrying a token that continues
   * from the current state instead (an inconsistent list).
   */
  private list(type: ResourceType, namespace: string | undefined, params: URLSearchParams) {
    const matches = this.filter(params);
    const limit = Number(params.get('limit') ?? '0');
    const token = params.get('continue') ?? '';
    let rv = this.store.resourceVersion;
    let start = '';
    if (token !== '') {
      const decoded = decodeContinue(token);
      start = decoded.start;
      if (decoded.rv > 0) rv = decoded.rv;
    }
    const items = this.store.listAt(type, rv, namespace);
    if (!items) {
      const expired = new ApiError(
        410,
        'Expired',
        'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
      );
      throw Object.assign(expired, { listMeta: { continue: encodeContinue(-1, start) } });
    }
    const keyOf = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;
    const ordered = items
      .filter((o) => keyOf(o) >= start)
      .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    const matching = ordered.filter(matches);
    const page = limit > 0 ? matching.slice(0, limit) : matching;
    const last = page.at(-1);
    const more = limit > 0 && last !== undefined && matching.length > page.length;
    const filtered = (params.get('labelSelector') ?? '') !== '' || (params.get('fieldSelector') ?? '') !== '';
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (more) {
      metadata.continue = encodeContinue(rv, `${keyOf(last)}\u0000`);
      if (!filtered) metadata.remainingItemCount = ordered.length - ordered.indexOf(last) - 1;
    }
    return { apiVersion: apiVersionOf(type), kind: `${type.kind}List`, metadata, items: page };
  }

  private watch(
    type: ResourceType,
    namespace: string | undefined,
    params: URLSearchParams,
    response: ServerResponse,
  ): void {
    const matches = this.filter(params);
    const rvParam = params.get('resourceVersion') ?? '';
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    response.flushHeaders();
    this.openedWatches++;
    const write = (eventType: string, object: unknown) => {
      if (!watcher.stalled) response.write(`${JSON.stringify({ type: eventType, object })}\n`);
    };
    const watcher: Watcher = {
      response,
      type,
      stalled: false,
      bookmarks: params.get('allowWatchBookmarks') === 'true',
      send: (event) => {
        if (namespace !== undefined && event.namespace !== namespace) return;
        const now = matches(event.object);
        const before = event.type === 'MODIFIED' && matches(event.previous);
        // With a selector, an object moving in or out of it is an ADDED or DELETED for this watch.
        if (event.type === 'MODIFIED' && now !== before) write(now ? 'ADDED' : 'DELETED', event.object);
        else if (now) write(event.type, event.object);
      },
    };
    if (rvParam === '' || rvParam === '0') {
      // "Any" version: start with the current state as ADDED events, as the real server does.
      for (const object of this.store.list(type, namespace).filter(matches)) write('ADDED', object);
    } else {
      const rv = Number(rvParam);
      const backlog = Number.isInteger(rv) ? this.store.eventsSince(rv) : undefined;
      if (!backlog) {
        write(
          'ERROR',
          status(
            410,
            'Expired',
            `too old resource version: ${rvParam} (${this.store.compactedResourceVersion})`,
          ),
        );
        response.end();
        return;
      }
      for (const event of backlog) if (event.resource === type) watcher.send(event);
    }
    this.watchers.add(watcher);
    response.on('close', () => this.watchers.delete(watcher));
    const requested = Number(params.get('timeoutSeconds') ?? '');
    const minimum = this.timeouts.minRequestTimeoutMs;
    const timeoutMs =
      requested > 0 ? requested * 1000 : minimum === undefined ? undefined : minimum * (1 + Math.random());
    if (timeoutMs !== undefined) {
      const timer = setTimeout(() => {
        // A stalled connection carries nothing, not even the server's end of the watch.
        if (watcher.stalled) return;
        this.timedOutWatches++;
        this.watchers.delete(watcher);
        // The watch cache sends a watch that asked for bookmarks one just before its deadline
        // (`apiserver/pkg/storage/cacher/cache_watcher.go` `nextBookmarkTime`, 2 s before it), so the
        // client resumes from a current version.
        if (watcher.bookmarks) this.bookmark(watcher);
        response.end();
        for (const listener of [...this.timeoutListeners]) listener(type.resource);
      }, timeoutMs);
      response.on('close', () => clearTimeout(timer));
    }
  }

  private read(
    type: ResourceType,
    namespace: string,
    name: string,
    subresource: string | undefined,
  ): unknown {
    const object = this.store.get(type, namespace, name);
    if (!object)
      throw new ApiError(404, 'NotFound', `${type.resource} "${name}" not found`, {
        name,
        group: type.group,
        kind: type.resource,
      });
    return subresource === 'scale' ? scaleOf(object) : object;
  }

  private replace(
    type: ResourceType,
    namespace: string,
    name: string,
    subresource: string | undefined,
    body: KubeObject,
  ): unknown {
    if (body?.metadata?.name !== undefined && body.metadata.name !== name)
      throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    const withName = { ...body, metadata: { ...body?.metadata, name } };
    if (subresource === 'scale') return this.writeScale(type, namespace, name, withName);
    return this.store.update(type, namespace, withName, { statusOnly: subresource === 'status' });
  }

  private writeScale(type: ResourceType, namespace: string, name: string, scale: KubeObject): unknown {
    const replicas = scale.spec?.replicas;
    if (!(Number.isInteger(replicas) && (replicas as number) >= 0))
      throw invalid(type, name, 'spec.replicas', 'must be greater than or equal to 0', replicas);
    const current = this.read(type, namespace, name, undefined) as KubeObject;
    const expected = scale.metadata?.resourceVersion;
    if (expected && expected !== current.metadata?.resourceVersion) throw conflict(type, name);
    const updated = this.store.update(type, namespace, {
      ...current,
      spec: { ...current.spec, replicas: replicas as number },
    });
    return scaleOf(updated);
  }

  private patch(
    type: ResourceType,
    namespace: string,
    name: string,
    subresource: string | undefined,
    contentType: string | undefined,
    patch: unknown,
  ): unknown {
    const media = (contentType ?? '').split(';')[0]?.trim() ?? '';
    const current = this.read(type, namespace, name, subresource);
    // Strategic merge patch needs the Go types' patch strategies, which a CRD does not have:
    // apiextensions-apiserver accepts only JSON patch, merge patch and apply (`customresource_handler.go`).
    const accepted = type.custom
      ? ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']
      : [
          'application/json-patch+json',
          'application/merge-patch+json',
          'application/strategic-merge-patch+json',
          'application/apply-patch+yaml',
        ];
    let next: KubeObject;
    try {
      // Server-side apply is not modelled: a call that uses it fails loudly rather than passing for a merge.
      if (media === 'application/apply-patch+yaml')
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          'the kube-api double does not implement server-side apply',
        );
      if (!accepted.includes(media))
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
        );
      if (media === 'application/json-patch+json') next = jsonPatch(current, patch) as KubeObject;
      // Strategic merge differs from a merge patch only for lists with merge keys; the double treats it as merge.
      else next = mergePatch(current, patch) as KubeObject;
    } catch (error) {
      if (error instanceof PatchError) throw new ApiError(422, 'Invalid', error.message);
      throw error;
    }
    if (next.metadata?.name !== name)
      throw new ApiError(422, 'Invalid', 'a patch may not change metadata.name');
    if (subresource === 'scale') return this.writeScale(type, namespace, name, next);
    return this.store.update(type, namespace, next, { statusOnly: subresource === 'status' });
  }
}
