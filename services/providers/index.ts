import type { ProviderName } from '../shared/index.ts';
import type { ProviderModule } from './provider.ts';

export { WorkloadNotFoundError } from './errors.ts';
export {
  type ClaimedRoute,
  type HostClaimant,
  type HostOwnership,
  type HostPolicy,
  type HostRefusal,
  type HostRefusalReason,
  parseAllowedSuffixes,
  resolveHostOwnership,
} from './host-ownership.ts';
export { probeHttp } from './http-probe.ts';
export type {
  BackendSource,
  ForbiddenSource,
  ObservedBackend,
  PodRef,
  ProviderContext,
  ProviderModule,
  ScaleResult,
  WorkloadScaler,
} from './provider.ts';
export { type ClusterNaming, GATEWAY_FLAVORS, type GatewayFlavor } from './provider.ts';

/** Loads only the provider in use, so a Docker deployment never imports the Kubernetes client and back. */
export async function loadProvider(name: ProviderName): Promise<ProviderModule> {
  const modules: Record<ProviderName, string> = {
    kubernetes: './kubernetes/index.ts',
    docker: './docker/index.ts',
    process: './process/index.ts',
  };
  return (await import(modules[name])) as ProviderModule;
}
