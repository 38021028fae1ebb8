import { DNS_LABEL, env, logConfigSpec, namespaceList } from '../shared/index.ts';

export const secretsConfigSpec = {
  ...logConfigSpec,
  /** Where the bridge, NATS and the services run (the Job's own namespace in the manifests). */
  home: env.string('WAKEGATE_SECRETS_NAMESPACE', {
    default: 'wakegate',
    pattern: DNS_LABEL,
    describe: 'a namespace (DNS-1123 label)',
  }),
  /** Gateway namespaces that get a copy of the bridge token, for their proxies' environment. */
  tokenNamespaces: namespaceList('WAKEGATE_TOKEN_NAMESPACES'),
};
