/**
 * Docker provider: containers labelled `wakegate.enable=true` are backends. The Docker host comes from
 * DOCKER_HOST (unix://, tcp://, with DOCKER_TLS_VERIFY / DOCKER_CERT_PATH), else the default socket.
 */
import type { BackendSource, ProviderContext, WorkloadScaler } from '../provider.ts';
import { DockerBackendSource } from './backend-source.ts';
import { dockerFromEnvironment } from './docker-host.ts';
import { DockerWorkloadScaler } from './workload-scaler.ts';

export { DockerBackendSource } from './backend-source.ts';
export { DockerWorkloadScaler } from './workload-scaler.ts';

export async function createBackendSource(context: ProviderContext): Promise<BackendSource> {
  const source = new DockerBackendSource({
    docker: dockerFromEnvironment(),
    logger: context.logger.child({ provider: 'docker' }),
    namespaces: context.namespaces,
  });
  source.start();
  return source;
}

export async function createWorkloadScaler(context: ProviderContext): Promise<WorkloadScaler> {
  return new DockerWorkloadScaler({
    docker: dockerFromEnvironment(),
    logger: context.logger.child({ provider: 'docker' }),
    namespaces: context.namespaces,
  });
}
