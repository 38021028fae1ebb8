/** The Secrets the job reads and writes, through the Kubernetes API. Values are written to `data` (base64),
 * which is what the API server stores; nothing is ever deleted. */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { apiStatus } from '../providers/kubernetes/index.ts';
import type { ExistingSecret, SecretValues, SecretWrite } from './plan.ts';

const LABELS = {
  'app.kubernetes.io/part-of': 'wakegate',
  'app.kubernetes.io/managed-by': 'wakegate-secrets',
};

function decode(secret: V1Secret): SecretValues {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.data ?? {}))
    values[key] = Buffer.from(value, 'base64').toString('utf8');
  return values;
}

function encode(values: SecretValues): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
  );
}

export class SecretStore {
  readonly #api: CoreV1Api;
  /** Each Secret as last read, by namespace/name: a replace keeps its labels, annotations and type. */
  readonly #read = new Map<string, V1Secret>();

  constructor(kc: KubeConfig) {
    this.#api = kc.makeApiClient(CoreV1Api);
  }

  /** The Secret, or undefined when there is none. */
  async read(namespace: string, name: string): Promise<ExistingSecret | undefined> {
    try {
      const secret = await this.#api.readNamespacedSecret({ namespace, name });
      this.#read.set(`${namespace}/${name}`, secret);
      return { values: decode(secret), resourceVersion: secret.metadata?.resourceVersion ?? '' };
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error;
    }
  }

  /** Creates the Secret, or replaces the one this store read at the version the write names: either answers
   * 409 when someone else wrote it first. */
  async write(write: SecretWrite): Promise<void> {
    const { namespace, name } = write;
    if (write.resourceVersion === undefined) {
      await this.#api.createNamespacedSecret({
        namespace,
        body: { metadata: { name, namespace, labels: LABELS }, type: 'Opaque', data: encode(write.values) },
      });
      return;
    }
    const current = this.#read.get(`${namespace}/${name}`);
    if (!current) throw new Error(`replacing Secret ${namespace}/${name}, which this store never read`);
    await this.#api.replaceNamespacedSecret({
      namespace,
      name,
      body: {
        ...current,
        metadata: { ...current.metadata, resourceVersion: write.resourceVersion },
        data: encode(write.values),
      },
    });
  }
}
