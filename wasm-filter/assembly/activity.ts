// Activity reports: per backend, the requests since the last report and those in flight, so the scaler
// keeps busy backends awake and sees when they drain.
import { currentTimeMs, LOG_DEBUG, LOG_INFO, LOG_WARN, log, random_get } from './abi';
import { backends } from './backends';
import { ActivityCall, backoff, CALL_TIMEOUT_MS, callBridge, failedStatus, Report } from './calls';
import { filterNow } from './clock';
import { quote } from './json';
import { inflightOf, requestsOf, restoreRequests, takeRequests } from './ledger';
import { PerBackend } from './per-backend';

/** The bridge takes at most 4096 reports and 64 KiB a body: stay well inside both. */
const MAX_REPORTS_PER_CALL: i32 = 500;
const MAX_REPORT_CHARS: i32 = 60_000;

/** This VM's id in activity reports: the scaler counts in-flight requests per source, and every Envoy worker
 * behind one bridge is a source of its own. Random, made once per VM. */
let source = '';
let nextReportAt: f64 = 0;
/** Activity reports failing: one WARN per streak. */
let reportsFailing = false;
/** Delay of the next quick retry of a failed report about a sleeping backend (0: none pending). */
let quickRetryMs: f64 = 0;
/** Per backend: the in-flight count of its last report (it stays in the reports until one says 0; -1 when
 * unknown whether the bridge saw it), and the activity calls in flight that carry it. */
const reportedInflight = new PerBackend();
const reportsInFlight = new PerBackend();

const HEX = '0123456789abcdef';
const RANDOM = memory.data(8);

/** 16 lowercase hex characters from WASI random_get (not Math.random: that needs an env.seed import Envoy
 * does not provide). */
function newSourceId(): string {
  const bytes = RANDOM;
  if (random_get(bytes, 8) != 0) {
    // Not expected from Envoy; the time still tells VMs apart well enough for the scaler.
    store<u64>(bytes, <u64>(currentTimeMs() * 1000));
    log(LOG_WARN, 'wakegate: random_get failed; activity source id taken from the clock');
  }
  let id = '';
  for (let i = 0; i < 8; i++) {
    const b = <i32>load<u8>(bytes + i);
    id += HEX.charAt(b >> 4) + HEX.charAt(b & 15);
  }
  return id;
}

/** Whether the reports still refer to the backend: a call carrying it in flight, or an in-flight count the
 * bridge was told and not yet told is 0 (its index cannot be reused yet). */
export function reportsReferTo(index: i32): bool {
  return reportsInFlight.get(index) != 0 || reportedInflight.get(index) != 0;
}

/** Whether a backend the table just put to sleep has anything the scaler has not heard of: requests since
 * the last report, or an in-flight count other than the last one reported (a request that finished just
 * before counts as much as one still running: the scaler must not scale to zero on an old report). */
export function reportDueOnSleep(index: i32): bool {
  const inflight = inflightOf(index);
  return requestsOf(index) > 0 || inflight > 0 || inflight != reportedInflight.get(index);
}

/** Gives the VM its source id, once. */
export function makeSourceId(): void {
  if (source.length == 0) source = newSourceId();
}

/**
 * How soon after a wake is accepted the requests held for it are reported. The scaler's idle clock starts
 * at the wake, and a backend whose requests wait for slower dependencies (or a slow start) must not look idle
 * to it until the next interval (5 s by default) tells of them: it would be drained with requests held.
 */
const HELD_REPORT_MS: f64 = 250;

/** A wake was accepted: the next report goes out within HELD_REPORT_MS, unless it is due sooner. */
export function reportHeldSoon(now: f64): void {
  const at = now + HELD_REPORT_MS;
  if (at < nextReportAt) nextReportAt = at;
}

/** A configuration was accepted: the next report is one interval away. */
export function scheduleReports(intervalMs: i32, now: f64): void {
  nextReportAt = now + <f64>intervalMs;
}

/** Reports if the interval is over. */
export function reportIfDue(intervalMs: i32, now: f64): void {
  if (now < nextReportAt) return;
  nextReportAt = now + <f64>intervalMs;
  reportActivity(now);
}

/** Reports every backend with traffic, in as many calls as the bridge's limits need. The requests counted
 * go back on their backends if a call fails, so the next report carries them. */
export function reportActivity(now: f64): void {
  // Parts joined once per call: appending to one string copies it each time, quadratic at 500 entries.
  let parts: string[] = [];
  let chars = 0;
  let reports: Report[] = [];
  for (let i = 1; i < backends.length; i++) {
    const inflight = inflightOf(i);
    if (requestsOf(i) == 0 && inflight == 0 && reportedInflight.get(i) == 0) continue;
    const entry = `{"backend":${quote(backends[i].id)},"requests":${requestsOf(i).toString()},"inflight":${inflight.toString()}}`;
    const count = parts.length;
    if (count == MAX_REPORTS_PER_CALL || (count > 0 && chars + count + entry.length > MAX_REPORT_CHARS)) {
      sendReports(parts, reports, now);
      parts = [];
      chars = 0;
      reports = [];
    }
    parts.push(entry);
    chars += entry.length;
    reports.push(new Report(i, takeRequests(i)));
    reportedInflight.set(i, inflight);
    reportsInFlight.add(i, 1);
  }
  if (parts.length > 0) sendReports(parts, reports, now);
}

function sendReports(parts: string[], reports: Report[], now: f64): void {
  const body = `{"source":"${source}","reports":[${parts.join(',')}]}`;
  if (!callBridge(new ActivityCall(reports), 'POST', '/v1/activity', body, CALL_TIMEOUT_MS, now)) {
    reportsFailed(reports, 'the call could not be made (check bridge_cluster)');
  }
}

function reportsFailed(reports: Report[], why: string): void {
  restoreReports(reports);
  retrySoonIfSleeping(reports);
  log(
    reportsFailing ? LOG_DEBUG : LOG_WARN,
    `wakegate: activity report failed: ${why}; its counts go with the next report`,
  );
  reportsFailing = true;
}

/** A failed report about a backend being put to sleep must reach the scaler within its drain: the next
 * report comes after a short backoff (200 ms doubling to 5 s), not at the next interval. */
function retrySoonIfSleeping(reports: Report[]): void {
  let sleeping = false;
  for (let i = 0; i < reports.length; i++) {
    const b = backends[reports[i].backend];
    if (b.present && !b.ready) sleeping = true;
  }
  if (!sleeping) return;
  quickRetryMs = backoff(quickRetryMs);
  const at = filterNow() + quickRetryMs;
  if (at < nextReportAt) nextReportAt = at;
}

function restoreReports(reports: Report[]): void {
  for (let i = 0; i < reports.length; i++) {
    const report = reports[i];
    restoreRequests(report.backend, report.requestCount);
    reportsInFlight.add(report.backend, -1);
    // Unknown whether the bridge saw it: report the in-flight count again.
    reportedInflight.set(report.backend, -1);
  }
}

/** The bridge answered an activity call. */
export function reportsAnswered(call: ActivityCall, status: i32): void {
  if (status < 200 || status >= 300) {
    reportsFailed(call.reports, failedStatus(status));
    return;
  }
  for (let i = 0; i < call.reports.length; i++) reportsInFlight.add(call.reports[i].backend, -1);
  quickRetryMs = 0;
  if (reportsFailing) log(LOG_INFO, 'wakegate: activity reports accepted again');
  reportsFailing = false;
}

/** No answer will come: cancelled with its root (no fault of the bridge: the counts simply go with the next
 * report), or its deadline passed. */
export function reportsLost(call: ActivityCall, cancelled: bool): void {
  if (cancelled) restoreReports(call.reports);
  else reportsFailed(call.reports, 'no answer within the call timeout');
}
