/**
 * Who may do what on NATS: one user per service, each allowed only the subjects its part of the protocol
 * needs (docs/security.md). Anyone else cannot connect at all; a service cannot write what another owns
 * (the watcher alone writes backend records, the scaler alone intents, leases and `scaled`), only the
 * scaler may change a stream's settings, and nobody may delete or purge a stream. The bridge and the scaler also answer control requests, through a second user
 * of their own (`controlUserOf`, same password) that may only take those requests and reply to them. The
 * same table renders nats-server's `authorization` block for local mode, compose and Kubernetes, and the
 * tests run every service under it.
 */
import {
  allControlSubjects,
  allSubjects,
  BACKENDS_BUCKET,
  BRIDGES_BUCKET,
  CONTROL_LIST_SUBJECT,
  INTENTS_BUCKET,
  LEASES_BUCKET,
  MAX_CONTROL_WAIT_MS,
  WAKE_STREAM,
} from '../ids/subjects.ts';
import { JETSTREAM_NEEDS } from './jetstream-setup.ts';

export const NATS_SERVICES = ['bridge', 'watcher', 'scaler'] as const;
export type NatsService = (typeof NATS_SERVICES)[number];

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  /**
   * The control subjects it answers (request/reply). Its control user subscribes to them and may publish
   * nothing but one reply to each request. A user of its own because nats-server remembers, for a user
   * with response permission, the reply subject of every message it delivers until the reply or the
   * permission's expiry, and a service's main connection takes 150–200 messages a second with reply
   * subjects (KV watches, wakes): remembered for the 11 minutes a control wake may take to answer, that
   * would be 100,000 subjects held per connection.
   */
  answers?: string[];
}

/** The NATS user of a service, and the connection name it connects with. */
export const natsUserOf = (service: NatsService) => `wakegate-${service}`;

/** The user that answers a service's control requests: its main user's name (NATS_USER) and `-control`. */
export const controlUserOf = (user: string) => `${user}-control`;

/**
 * How long a control user may reply to a request: the longest a control request waits before its answer
 * (a control wake's `wait`) and a minute more for the answer's own work. nats-server's default is 2
 * minutes, after which it refuses the reply.
 */
export const CONTROL_REPLY_EXPIRY_S = MAX_CONTROL_WAIT_MS / 1000 + 60;

/** Replies to a service's requests come to inboxes only it may subscribe to (`inboxPrefix`). */
export const inboxPrefixOf = (service: NatsService) => `_INBOX.${natsUserOf(service)}`;

const api = '$JS.API';
const kvStream = (bucket: string) => `KV_${bucket}`;

/**
 * Every service creates what it needs at start (jetstream-setup.ts), and the scaler alone updates it: a
 * stream update can set `republish`, which has the server itself write anywhere, past every permission
 * here. Nobody may delete or purge.
 */
const setUpStream = (stream: string, updates: boolean) => [
  `${api}.STREAM.INFO.${stream}`,
  `${api}.STREAM.CREATE.${stream}`,
  ...(updates ? [`${api}.STREAM.UPDATE.${stream}`] : []),
];

/** Read a bucket and follow it: direct and stream gets, and the ordered consumers of a watch. */
const readBucket = (bucket: string) => [
  `${api}.DIRECT.GET.${kvStream(bucket)}.>`,
  `${api}.STREAM.MSG.GET.${kvStream(bucket)}`,
  `${api}.CONSUMER.CREATE.${kvStream(bucket)}`,
  `${api}.CONSUMER.CREATE.${kvStream(bucket)}.>`,
  `${api}.CONSUMER.INFO.${kvStream(bucket)}.>`,
  `${api}.CONSUMER.DELETE.${kvStream(bucket)}.>`,
];

const writeBucket = (bucket: string) => [...readBucket(bucket), `$KV.${bucket}.>`];

/** What a service sets up at start (JETSTREAM_NEEDS), and the account info and flow control every client
 * of JetStream uses. */
function setUp(service: NatsService): string[] {
  const needs = JETSTREAM_NEEDS[service];
  return [
    `${api}.INFO`,
    '$JS.FC.>',
    ...(needs.wakeStream ? setUpStream(WAKE_STREAM, needs.updates) : []),
    ...needs.buckets.flatMap((bucket) => setUpStream(kvStream(bucket), needs.updates)),
  ];
}

export const SERVICE_PERMISSIONS: Record<NatsService, NatsPermissions> = {
  bridge: {
    publish: [
      ...setUp('bridge'),
      allSubjects('wake'),
      allSubjects('activity'),
      ...readBucket(BACKENDS_BUCKET),
      ...readBucket(INTENTS_BUCKET),
      // Its heartbeat: which intents it applied, so the scaler drains nothing it has not seen.
      ...writeBucket(BRIDGES_BUCKET),
      // The control API's sleep, answered by the idle-loop lease holder.
      allControlSubjects('sleep'),
    ],
    subscribe: [
      `${inboxPrefixOf('bridge')}.>`,
      allSubjects('scaled'),
      // `ready` only for the trace context its events carry (the release span's parent).
      allSubjects('ready'),
      // The control API's view of wakes (every bridge's, for the last wake).
      allSubjects('wake'),
    ],
    answers: [CONTROL_LIST_SUBJECT, allControlSubjects('wake')],
  },
  watcher: {
    publish: [...setUp('watcher'), allSubjects('ready'), ...writeBucket(BACKENDS_BUCKET)],
    subscribe: [`${inboxPrefixOf('watcher')}.>`, allSubjects('scaled')],
  },
  scaler: {
    publish: [
      ...setUp('scaler'),
      // Its pair's durable wake consumer: `scaler`, or `scaler-<pair>` (WAKEGATE_PAIR), so any name.
      `${api}.CONSUMER.INFO.${WAKE_STREAM}.*`,
      `${api}.CONSUMER.CREATE.${WAKE_STREAM}.*`,
      `${api}.CONSUMER.CREATE.${WAKE_STREAM}.*.>`,
      `${api}.CONSUMER.DURABLE.CREATE.${WAKE_STREAM}.*`,
      `${api}.CONSUMER.MSG.NEXT.${WAKE_STREAM}.*`,
      `$JS.ACK.${WAKE_STREAM}.*.>`,
      allSubjects('scaled'),
      // The wake at the start of an `awake-during` window, published by the idle-loop leader.
      allSubjects('wake'),
      ...readBucket(BACKENDS_BUCKET),
      ...writeBucket(INTENTS_BUCKET),
      ...writeBucket(LEASES_BUCKET),
      ...readBucket(BRIDGES_BUCKET),
    ],
    subscribe: [`${inboxPrefixOf('scaler')}.>`, allSubjects('activity')],
    answers: [allControlSubjects('sleep')],
  },
};

/** The nats.conf variable each service's password is read from in the shipped configurations (compose
 * defines them in a file the `secrets` service makes, Kubernetes in the NATS container's environment). */
export const natsPasswordVariable = (service: NatsService) =>
  `WAKEGATE_${service.toUpperCase()}_NATS_PASSWORD`;

/** A password, or the nats.conf variable that holds it. */
export type PasswordSource = string | { variable: string };

const passwordValue = (source: PasswordSource) =>
  typeof source === 'string' ? JSON.stringify(source) : `$${source.variable}`;

/**
 * nats-server's `authorization` block for these passwords (nats.conf syntax; JSON strings are valid there).
 * `others` are users with every permission (an operator's tools); wakegate's own services never get one.
 */
export function natsAuthorization(
  passwords: Record<NatsService, PasswordSource>,
  others: { user: string; password: string }[] = [],
): string {
  const unrestricted = others.map(
    ({ user, password }) => `    { user: ${JSON.stringify(user)}, password: ${JSON.stringify(password)} }`,
  );
  const user = (name: string, password: PasswordSource, permissions: string[]) =>
    [
      '    {',
      `      user: ${JSON.stringify(name)}`,
      `      password: ${passwordValue(password)}`,
      '      permissions: {',
      ...permissions.map((line) => `        ${line}`),
      '      }',
      '    }',
    ].join('\n');
  const users = NATS_SERVICES.flatMap((service) => {
    const { publish, subscribe, answers } = SERVICE_PERMISSIONS[service];
    const main = user(natsUserOf(service), passwords[service], [
      `publish: { allow: ${JSON.stringify(publish)} }`,
      `subscribe: { allow: ${JSON.stringify(subscribe)} }`,
    ]);
    if (!answers) return [main];
    return [
      main,
      user(controlUserOf(natsUserOf(service)), passwords[service], [
        'publish: { deny: [">"] }',
        `subscribe: { allow: ${JSON.stringify(answers)} }`,
        `allow_responses: { max: 1, expires: "${CONTROL_REPLY_EXPIRY_S}s" }`,
      ]),
    ];
  });
  return `authorization {\n  users: [\n${[...users, ...unrestricted].join('\n')}\n  ]\n}\n`;
}

/** The block every shipped configuration includes (infra/nats/authorization.conf, the Kubernetes NATS
 * ConfigMap): passwords from `natsPasswordVariable`. */
export function shippedNatsAuthorization(): string {
  const variables = Object.fromEntries(
    NATS_SERVICES.map((service) => [service, { variable: natsPasswordVariable(service) }]),
  ) as Record<NatsService, PasswordSource>;
  return natsAuthorization(variables);
}
