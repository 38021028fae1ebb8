/**
 * Reports, where the user looks, malformed wakegate.dev/* annotations (a warning log line and an
 * `InvalidAnnotation` Event), route matches left out of a backend's routes (`InvalidRoute`, likewise) and
 * host claims the watcher refused (`HostConflict`, `HostRefused`; the
 * watcher logs those): Warning Events on the Deployment (`kubectl describe deployment`); and an optional
 * source the API server refuses the watcher (`SourceForbidden`; the informer logs it): a Warning Event on
 * the watcher's own Pod, the one object that refusal is about, when the downward API names it. Each is
 * reported once per Event lifetime: the API server deletes an Event an hour after it was written
 * (`--event-ttl`), so a problem still there then is reported again (the backend source reports its current
 * problems again every few minutes for this). The Event name is derived from the problem, so a second
 * replica or a restart gets AlreadyExists instead of a duplicate.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { CoreV1Api } from '@kubernetes/client-node';
import { type GraphProblem, ignoredBecause, type Logger } from '../../shared/index.ts';
import type { HostRefusal } from '../host-ownership.ts';
import type { ForbiddenSource, PodRef } from '../provider.ts';
import { apiStatus, loggedApiError } from './api-errors.ts';
import type { DeploymentBackend } from './backends.ts';

const INVALID_ANNOTATION_REASON = 'InvalidAnnotation';
/** A match of a route sending to the Deployment that a record may not carry (a GRPCRoute method too long). */
const INVALID_ROUTE_REASON = 'InvalidRoute';
/** A match of a route sending to the Deployment that the filter cannot compare (a regular expression). */
const UNSUPPORTED_ROUTE_REASON = 'UnsupportedRoute';
/** A host another backend claimed first. */
const HOST_CONFLICT_REASON = 'HostConflict';
/** A host refused by the rules (a wildcard over a public suffix, outside the namespace's allowlist). */
const HOST_REFUSED_REASON = 'HostRefused';
/** An optional source (HTTPRoutes, GRPCRoutes, ReferenceGrants) the watcher's RBAC does not allow. */
const SOURCE_FORBIDDEN_REASON = 'SourceForbidden';
/** A `depends-on` entry that is ignored: an unknown id, another namespace's backend, a cycle. */
const INVALID_DEPENDENCY_REASON = 'InvalidDependency';
/** More problems on one object than it gets Events for; the rest are in the watcher's log alone. */
const TOO_MANY_PROBLEMS_REASON = 'TooManyProblems';

/**
 * Events per object and process: a tenant's Deployment with thousands of malformed hosts must not make the
 * watcher send thousands of API requests at once (the API server's, and the watcher's, load for everyone).
 */
export const MAX_EVENTS_PER_OBJECT = 10;
/** Problems remembered as reported, past which the memory starts afresh (an Event's name is derived from its
 * problem, so one reported again is refused by the API server as a duplicate, not repeated). */
const MAX_REPORTED = 100_000;

/** How long the API server keeps an Event after its last write: kube-apiserver's `--event-ttl` default. */
export const EVENT_TTL_MS = 60 * 60_000;
/** Checks for problems due again per Event lifetime: one still there is without its Event at most this
 * fraction of the lifetime (10 minutes of the hour). */
export const RENEWALS_PER_TTL = 6;

/** Characters of a malformed annotation's value quoted in its Event and log line. */
const QUOTED_VALUE_CHARS = 200;

/** The value as JSON, its start only when long: an Event is read in `kubectl describe`, not a dump. */
function quoted(value: string): string {
  if (value.length <= QUOTED_VALUE_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, QUOTED_VALUE_CHARS))}… (${value.length} characters)`;
}

/** Characters of an Event's message at most (the `note` limit of events.k8s.io): a parser's reason may
 * quote the value again. */
export const MAX_MESSAGE_CHARS = 1024;

function shortened(message: string): string {
  return message.length <= MAX_MESSAGE_CHARS ? message : `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

type DeploymentRef = DeploymentBackend['deployment'];

interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
}

const deploymentObject = ({ namespace, name, uid }: DeploymentRef): InvolvedObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  namespace,
  name,
  uid,
});

export class AnnotationProblemReporter {
  private readonly core: CoreV1Api;
  private readonly component: string;
  private readonly logger: Logger;
  private readonly pod: PodRef | undefined;
  private readonly ttlMs: number;
  /** When each problem was last sent (ms): sent again once its Event has expired. */
  private readonly reported = new Map<string, number>();
  /** Events created per involved object (`kind|namespace|name|uid`) since `since`, one Event lifetime. */
  private readonly eventsPerObject = new Map<string, { count: number; since: number }>();

  /** `ttlMs`: how long the API server keeps an Event (tests shorten it). */
  constructor(core: CoreV1Api, component: string, logger: Logger, pod?: PodRef, ttlMs = EVENT_TTL_MS) {
    this.core = core;
    this.component = component;
    this.logger = logger;
    this.pod = pod;
    this.ttlMs = ttlMs;
  }

  /**
   * Whether `key` is to be reported now (never, or its Event has expired); if so it counts as sent. Kept by
   * a digest: a key holds the annotation's value, up to the 256 KiB the API server allows, and a tenant
   * changing one character of it per update must not grow the watcher by that much per update.
   */
  private due(key: string): boolean {
    const now = Date.now();
    const digest = createHash('sha256').update(key).digest('base64url');
    const sent = this.reported.get(digest);
    if (sent !== undefined && now - sent < this.ttlMs) return false;
    this.reported.set(digest, now);
    return true;
  }

  report(view: DeploymentBackend): void {
    const { namespace, name, uid } = view.deployment;
    for (const problem of view.problems) {
      const key = `${uid ?? ''}|${namespace}/${name}|${problem.setting}|${problem.value}`;
      if (!this.due(key)) continue;
      const annotation = `wakegate.dev/${problem.setting}`;
      const value = quoted(problem.value);
      const message = shortened(
        `${annotation}: ${problem.reason}, got ${value}; using ${problem.instead ?? 'the default'}`,
      );
      this.logger.warn({ backend: view.backend.id, annotation, value }, message);
      void this.createEvent(deploymentObject(view.deployment), key, INVALID_ANNOTATION_REASON, message);
    }
    for (const problem of view.routeProblems) {
      const route = `${problem.kind} ${problem.namespace}/${problem.name}`;
      const key = `${uid ?? ''}|${namespace}/${name}|route|${route}|${problem.rule}|${problem.match}|${problem.reason}`;
      if (!this.due(key)) continue;
      const why =
        problem.problem === 'invalid'
          ? problem.reason
          : `the filter cannot compare ${problem.reason}; requests it sends here pass unmanaged, never waking the backend`;
      const message = `${route} rule ${problem.rule} match ${problem.match} is left out of this backend's routes: ${why}`;
      this.logger.warn(
        { backend: view.backend.id, route, rule: problem.rule, match: problem.match },
        message,
      );
      const reason = problem.problem === 'invalid' ? INVALID_ROUTE_REASON : UNSUPPORTED_ROUTE_REASON;
      void this.createEvent(deploymentObject(view.deployment), key, reason, message);
    }
  }

  /**
   * A Warning Event on the Deployment of each refused host claim (the watcher logs them); once per Event
   * lifetime, and named from the refusal so replicas and restarts do not repeat it.
   */
  reportHostRefusals(
    refusals: readonly HostRefusal[],
    deploymentOf: (id: string) => DeploymentRef | undefined,
  ): void {
    for (const refusal of refusals) {
      const deployment = deploymentOf(refusal.id);
      if (!deployment) continue;
      // Of another namespace's claim nothing is said but that it exists: the Event is read by this namespace's
      // tenant, who may not learn which of another tenant's Deployments serves a host, nor (by claiming a
      // wildcard) the hosts it serves; nor by the Event's name, made from this key. The watcher's log names it.
      const claimed =
        refusal.owner?.split('/')[0] === refusal.id.split('/')[0]
          ? `${refusal.owner} claimed ${refusal.ownerHost}`
          : 'a backend in another namespace claimed it';
      const key = `${deployment.uid ?? ''}|${refusal.id}|host|${refusal.host}|${refusal.reason}|${refusal.reason === 'conflict' ? claimed : ''}`;
      if (!this.due(key)) continue;
      const message =
        refusal.reason === 'conflict'
          ? `host ${refusal.host} is not served by this backend: ${claimed} first`
          : refusal.reason === 'wide-wildcard'
            ? `host ${refusal.host} is not served: a wildcard must leave two labels below a public suffix`
            : `host ${refusal.host} is not served: it is not under the host suffixes this namespace may claim`;
      void this.createEvent(
        deploymentObject(deployment),
        key,
        refusal.reason === 'conflict' ? HOST_CONFLICT_REASON : HOST_REFUSED_REASON,
        message,
      );
    }
  }

  /** A Warning Event on the Deployment of each ignored dependency (the watcher logs them); once per Event
   * lifetime. */
  reportDependencyProblems(
    problems: readonly GraphProblem[],
    deploymentOf: (id: string) => DeploymentRef | undefined,
  ): void {
    for (const { backend, dependency, reason } of problems) {
      const deployment = deploymentOf(backend);
      if (!deployment) continue;
      const key = `${deployment.uid ?? ''}|${backend}|depends-on|${dependency}|${reason}`;
      if (!this.due(key)) continue;
      const message = `wakegate.dev/depends-on: ${dependency} is ignored: ${ignoredBecause(reason)}`;
      void this.createEvent(deploymentObject(deployment), key, INVALID_DEPENDENCY_REASON, message);
    }
  }

  /**
   * A Warning Event on the watcher's Pod for each source refused now; once per Event lifetime. Outside a cluster
   * (no Pod named) the informer's warning and the watcher's metric report it alone.
   */
  reportForbidden(sources: readonly ForbiddenSource[]): void {
    const pod = this.pod;
    if (!pod) return;
    for (const { resource, namespace } of sources) {
      const key = `${pod.uid ?? ''}|${pod.name}|forbidden|${resource}|${namespace ?? ''}`;
      if (!this.due(key)) continue;
      const where = namespace === undefined ? 'in any namespace' : `in namespace ${namespace}`;
      const message = `the watcher may not list or watch ${resource} ${where} (403): they are left out of every backend until its RBAC allows them`;
      void this.createEvent({ apiVersion: 'v1', kind: 'Pod', ...pod }, key, SOURCE_FORBIDDEN_REASON, message);
    }
  }

  /** Creates the Event unless its object had its share: the one past it says so, and the rest are logged. */
  private async createEvent(
    involvedObject: InvolvedObject,
    key: string,
    reason: string,
    message: string,
  ): Promise<void> {
    if (this.reported.size > MAX_REPORTED) this.reported.clear();
    const { kind, namespace, name, uid } = involvedObject;
    const object = `${kind}|${namespace}|${name}|${uid ?? ''}`;
    const now = Date.now();
    let share = this.eventsPerObject.get(object);
    // The object's Events of the last lifetime are gone: it has its share again.
    if (share === undefined || now - share.since >= this.ttlMs) {
      share = { count: 0, since: now };
      this.eventsPerObject.set(object, share);
    }
    const created = share.count;
    if (created > MAX_EVENTS_PER_OBJECT) return;
    share.count++;
    const sent =
      created === MAX_EVENTS_PER_OBJECT
        ? this.sendEvent(
            involvedObject,
            `${object}|too-many`,
            TOO_MANY_PROBLEMS_REASON,
            `more than ${MAX_EVENTS_PER_OBJECT} problems with this ${kind}: the others are only in the watcher's log`,
          )
        : this.sendEvent(involvedObject, key, reason, message);
    // An Event that was there already (another replica's, an earlier process's) takes none of the share.
    if ((await sent) === 'exists' && share === this.eventsPerObject.get(object)) share.count--;
  }

  /** Creates the Event: 'exists' when the API server has it already (AlreadyExists). */
  private async sendEvent(
    involvedObject: InvolvedObject,
    key: string,
    reason: string,
    message: string,
  ): Promise<'created' | 'exists' | 'failed'> {
    const { namespace, name } = involvedObject;
    const now = new Date();
    const suffix = createHash('sha256').update(key).digest('hex').slice(0, 12);
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${name.slice(0, 200)}.wakegate-${suffix}`, namespace },
          involvedObject,
          reason,
          message,
          type: 'Warning',
          source: { component: this.component },
          reportingComponent: this.component,
          reportingInstance: hostname(),
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      return 'created';
    } catch (error) {
      if (apiStatus(error) === 409) {
        // Its Event is still there (written by another replica or an earlier process, or kept past the hour
        // by the API server's lease reuse): due again by the next renewal (half a renewal early, as the
        // renewals do not wait for this answer), so that it is back soon after it expires.
        this.reported.set(key, Date.now() - this.ttlMs + this.ttlMs / RENEWALS_PER_TTL / 2);
        return 'exists';
      }
      this.logger.warn(
        { object: `${involvedObject.kind} ${namespace}/${name}`, reason, err: loggedApiError(error) },
        'could not create a Kubernetes Event',
      );
      return 'failed';
    }
  }
}
