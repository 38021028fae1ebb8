/** Envoy's router filter as far as a stream the module lets go on meets it: the route resolved when the stream
 * was created (`xds.cluster_name`, `xds.route_name`), and the local reply the router sends at once, before any
 * upstream attempt, when the route's cluster is unknown or has no host. Without a cluster model every stream
 * goes upstream, as before the model existed. */
import { GRPC_NONE } from '../assembly/abi-numbers.ts';
import type { ClusterModel, ResolvedRoute } from './clusters.ts';
import { type LocalReply, localReply } from './local-reply.ts';
import type { HeaderPairs } from './pairs.ts';

/** A router local reply, with the response flag Envoy logs for it (`%RESPONSE_FLAGS%`). */
export type RouterReply = LocalReply & { responseFlag: 'UH' | 'NC' };

const encoder = new TextEncoder();

/** `xds.cluster_name` / `xds.route_name` of a stream on the worker, or undefined (NotFound). */
export function routeProperty(
  model: ClusterModel | undefined,
  worker: number,
  route: ResolvedRoute | undefined,
  path: string,
): Uint8Array | undefined {
  if (!route || !model) return undefined;
  if (path === 'xds.cluster_name') {
    return model.knows(worker, route.cluster) ? encoder.encode(route.cluster) : undefined;
  }
  if (path === 'xds.route_name' && route.name !== undefined) return encoder.encode(route.name);
  return undefined;
}

export class Router {
  readonly #model: ClusterModel | undefined;
  readonly #worker: number;

  constructor(model: ClusterModel | undefined, worker: number) {
    this.#model = model;
    this.#worker = worker;
  }

  /**
   * The route of a new stream, resolved before the first filter runs (the connection manager's
   * `refreshCachedRoute`). Its cluster is visible to filters (`xds.cluster_name`, the stream info's upstream
   * cluster) only when this worker knows the cluster then.
   */
  resolve(headers: HeaderPairs): ResolvedRoute | undefined {
    return this.#model?.route(headers);
  }

  /**
   * What the router does with a stream that goes on (its `decodeHeaders`): undefined when a host can be picked
   * (the request goes upstream); else its immediate local reply. An unknown cluster is 503 with details
   * `cluster_not_found` and no body (flag NC); a cluster without a host is 503 `no healthy upstream`, details
   * `no_healthy_upstream` (flag UH). Either comes before any upstream attempt, so no retry policy applies.
   */
  decide(route: ResolvedRoute | undefined, requestHeaders: HeaderPairs): RouterReply | undefined {
    const model = this.#model;
    if (!model || !route) return undefined;
    if (!model.knows(this.#worker, route.cluster)) {
      return {
        ...localReply(requestHeaders, 503, 'cluster_not_found', new Uint8Array(0), [], GRPC_NONE >>> 0),
        responseFlag: 'NC',
      };
    }
    if (model.hasHost(this.#worker, route.cluster)) return undefined;
    return {
      ...localReply(
        requestHeaders,
        503,
        'no_healthy_upstream',
        encoder.encode('no healthy upstream'),
        [],
        GRPC_NONE >>> 0,
      ),
      responseFlag: 'UH',
    };
  }
}
