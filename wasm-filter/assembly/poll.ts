// The long poll for the backend table, and what a new table sets off.
import {
  BUFFER_HTTP_CALL_RESPONSE_BODY,
  getBuffer,
  HostBytes,
  LOG_DEBUG,
  LOG_INFO,
  LOG_WARN,
  log,
} from './abi';
import { reportActivity, reportDueOnSleep, reportsReferTo } from './activity';
import { answerHeldInWindow } from './asleep-window';
import {
  applyDelta,
  applyTable,
  isTableKnown,
  markReady,
  readRemoved,
  readTable,
  revisionText,
  UNKNOWN,
} from './backends';
import { backoff, CALL_TIMEOUT_MS, callBridge, failedStatus, PollCall } from './calls';
import { currentConfig } from './config';
import { parseJson } from './json';
import { heldOf, ledgerRefersTo } from './ledger';
import { releaseReady, sortUnknown } from './release';
import { pagedBackendReady } from './waiting-page';
import { wakeEntryChanged, wakeInFlight } from './wake';

let revision = '0';
let inFlight = false;
let nextPollAt: f64 = 0;
let backoffMs: f64 = 0;
/** Polls failing: one WARN per streak. */
let failing = false;
const answerBody = new HostBytes();
/** Asks the bridge for the changes since our revision rather than the whole table. */
const DELTA_HEADERS = ['x-wakegate-delta', '1'];

/** The revision of the table applied last ('0' before the first): wakes carry it as `since`. */
export function tableRevision(): string {
  return revision;
}

/** Polls if none is in flight and the backoff after a failure is over (the first poll: at the first tick). */
export function pollIfDue(now: f64): void {
  if (!inFlight && now >= nextPollAt) startPoll(now);
}

function startPoll(now: f64): void {
  const c = currentConfig();
  const path = `/v1/backends?since=${revision}&wait=${c.pollWaitMs.toString()}`;
  const timeoutMs = <u32>c.pollWaitMs + CALL_TIMEOUT_MS;
  if (!callBridge(new PollCall(), 'GET', path, '', timeoutMs, now, DELTA_HEADERS)) {
    pollFailed(now, 'the call could not be made (check bridge_cluster)');
    return;
  }
  inFlight = true;
}

function pollFailed(now: f64, why: string): void {
  backoffMs = backoff(backoffMs);
  nextPollAt = now + backoffMs;
  const level = failing ? LOG_DEBUG : LOG_WARN;
  failing = true;
  log(level, `wakegate: backend table poll failed: ${why}; retrying in ${(<i64>backoffMs).toString()} ms`);
}

/** No answer will come: cancelled with its root (poll again at the next tick, the bridge did nothing wrong),
 * or its deadline passed. */
export function pollLost(cancelled: bool, now: f64): void {
  inFlight = false;
  if (cancelled) nextPollAt = now;
  else pollFailed(now, 'no answer within the call timeout');
}

/** Whether anything still refers to the backend's index (a held or in-flight request, a count not yet
 * reported, a wake or report in flight): until nothing does, the index is not reused for another backend. */
function referenced(index: i32): bool {
  return ledgerRefersTo(index) || wakeInFlight(index) || reportsReferTo(index);
}

/** The bridge answered the poll: the whole table or a delta is applied, and the next poll goes out. A delta
 * made from another revision than ours (an answer lost, late or repeated on the way) is not applied: the next
 * poll asks for the whole table. */
export function pollAnswered(status: i32, bodyLength: u32, now: f64): void {
  inFlight = false;
  if (status != 200) {
    pollFailed(now, failedStatus(status));
    return;
  }
  if (!getBuffer(BUFFER_HTTP_CALL_RESPONSE_BODY, bodyLength, answerBody)) {
    pollFailed(now, 'no body');
    return;
  }
  const doc = parseJson(answerBody.ptr, answerBody.len);
  answerBody.free();
  const table = readTable(doc);
  // Without `from` the answer is a whole table (`full`, or from a bridge that sends no deltas).
  const from = table === null ? '' : revisionText(doc!, 'from');
  let removed: string[] | null = null;
  if (from.length > 0) removed = readRemoved(doc!);
  if (table === null || (from.length > 0 && removed === null)) {
    pollFailed(now, 'the answer is not a backend table');
    return;
  }
  if (from.length > 0 && from != revision) {
    log(LOG_DEBUG, `wakegate: changes since ${from} do not apply to table ${revision}; asking for it whole`);
    revision = '0';
    startPoll(now);
    return;
  }
  const first = !isTableKnown();
  if (failing || first)
    log(LOG_INFO, `wakegate: backend table received (${table.length.toString()} backends)`);
  failing = false;
  backoffMs = 0;
  revision = revisionText(doc!);
  if (removed === null) applyTable(table, referenced);
  else applyDelta(table, removed, referenced);
  let sleeping = false;
  for (let i = 0; i < table.length; i++) {
    const entry = table[i];
    // The bridge did not know a backend: only a new entry for it can make a wake worth sending again.
    if (entry.changed) wakeEntryChanged(entry.index);
    if (entry.wentToSleep && reportDueOnSleep(entry.index)) sleeping = true;
    if (entry.becameReady && entry.index >= 0) {
      markReady(entry.index, now);
      pagedBackendReady(entry.index, now);
    }
  }
  // A backend going to sleep with anything the scaler has not heard of (requests since the last report, an
  // in-flight count that changed) is reported now, not at the next interval: the scaler's drain period is
  // shorter than the interval and must see them before it scales to zero.
  if (sleeping) reportActivity(now);
  if (first && heldOf(UNKNOWN) > 0) sortUnknown(now);
  answerHeldInWindow();
  releaseReady(now);
  startPoll(now);
}
