/** The connection manager's early header mutation every shipped Envoy configuration has: a client's
 * x-wakegate-held-ms dropped as the request arrives, before any filter (only the filter sets it). */
export const DROP_CLIENT_HELD_MS = [
  {
    name: 'envoy.http.early_header_mutation.header_mutation',
    typed_config: {
      '@type':
        'type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation',
      mutations: [{ remove: 'x-wakegate-held-ms' }],
    },
  },
];
