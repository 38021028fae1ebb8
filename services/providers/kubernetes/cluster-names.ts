/**
 * The Envoy cluster name a gateway gives a backend's route, so the filter can probe the right cluster before
 * releasing when a held request carried no `xds.cluster_name` (Envoy before 1.25, or a route it could not
 * resolve yet). Which naming applies is the operator's choice (`WAKEGATE_GATEWAY_FLAVOR`):
 *
 * - `istio`: the sidecar/gateway outbound cluster, `outbound|<port>||<service>.<namespace>.svc.<domain>`, with
 *   the Service's port and `WAKEGATE_CLUSTER_DOMAIN` (default `cluster.local`);
 * - `envoy-gateway`: the cluster of the HTTPRoute rule that sends to the Service,
 *   `httproute/<namespace>/<route>/rule/<index>`;
 * - `envoy` (default): a plain Envoy's cluster names are its operator's own; none is computed.
 */
import type { V1Service } from '@kubernetes/client-node';
import type { ClusterNaming } from '../provider.ts';

export type { ClusterNaming };

export const DEFAULT_CLUSTER_NAMING: ClusterNaming = { flavor: 'envoy', clusterDomain: 'cluster.local' };

/** A route rule that sends to one of the backend's Services: its route's namespace and name, its index. */
export type RouteRuleRef = { namespace: string; name: string; rule: number };

/** The Service port the gateway uses: the one named `http`, else the first TCP one. */
export function servicePort(service: V1Service): number | undefined {
  const ports = service.spec?.ports ?? [];
  return (ports.find((p) => p.name === 'http') ?? ports.find((p) => (p.protocol ?? 'TCP') === 'TCP'))?.port;
}

export function istioCluster(service: string, namespace: string, port: number, domain: string): string {
  return `outbound|${port}||${service}.${namespace}.svc.${domain}`;
}

export function envoyGatewayCluster(rule: RouteRuleRef): string {
  return `httproute/${rule.namespace}/${rule.name}/rule/${rule.rule}`;
}

/** A Service port that traffic reaches the backend through: the one a route names, or `servicePort`. */
export type ServiceTarget = { service: string; namespace: string; port: number };

/** The backend's cluster under the naming, from its first Service target (by name, then port) and the first
 * HTTPRoute rule (by route name, then rule) sending to it; undefined when the naming computes none or the
 * parts are missing. */
export function clusterNameOf(
  naming: ClusterNaming,
  targets: readonly ServiceTarget[],
  rules: readonly RouteRuleRef[],
): string | undefined {
  if (naming.flavor === 'istio') {
    const target = [...targets].sort((a, b) => a.service.localeCompare(b.service) || a.port - b.port)[0];
    if (!target) return undefined;
    return istioCluster(target.service, target.namespace, target.port, naming.clusterDomain);
  }
  if (naming.flavor === 'envoy-gateway') {
    const rule = [...rules].sort((a, b) => a.name.localeCompare(b.name) || a.rule - b.rule)[0];
    return rule ? envoyGatewayCluster(rule) : undefined;
  }
  return undefined;
}
