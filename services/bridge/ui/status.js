// The wakegate status page: the control API's event stream (/v1/control/events) read with the admin
// token, each backend a row of the table, updated in place at each state change. Plain DOM, no build step.

const TOKEN_KEY = 'wakegate-admin-token';
const PHASES = ['wake', 'scale', 'ready', 'release'];
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

const byId = (id) => document.getElementById(id);
const rows = new Map();
const trs = new Map();
let stopStream = () => undefined;

class Refused extends Error {}

/** A token in the link's fragment (`/ui#token=…`, never sent to a server) moves to this tab's storage and
 * leaves the address bar and the history entry. */
function tokenFromFragment() {
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (match === null) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, '', location.pathname + location.search);
}

function setConnection(text, live = false) {
  const status = byId('connection');
  status.textContent = text;
  status.classList.toggle('live', live);
}

function showLogin(message) {
  stopStream();
  byId('status').hidden = true;
  byId('login').hidden = false;
  byId('login-error').textContent = message;
  setConnection('Not connected');
  byId('token').focus();
}

const namespaceOf = (id) => id.slice(0, id.indexOf('/'));
const ms = (value) => `${Math.round(value)} ms`;

function phaseMs(coldStart) {
  return PHASES.map((phase) => [phase, coldStart[`${phase}Ms`]]).filter(([, value]) => value !== undefined);
}

function phaseText(coldStart) {
  return phaseMs(coldStart)
    .map(([phase, value]) => `${phase} ${ms(value)}`)
    .join(', ');
}

function cell(tr, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  tr.append(td);
  return td;
}

function lastWakeText(row) {
  const wake = row.lastWake;
  if (wake === undefined) return '—';
  const at = new Date(wake.requestedAt).toLocaleTimeString();
  if (wake.readyAt === undefined) return `${at} · under way`;
  const last = row.coldStarts?.at(-1);
  const phases = last?.at === wake.requestedAt ? ` (${phaseText(last)})` : '';
  return `${at} · ${ms(wake.phases.totalMs ?? 0)}${phases}`;
}

/** One column per cold start, its height its length against the longest of the row, split by phase. */
function chart(row) {
  const coldStarts = row.coldStarts ?? [];
  const box = document.createElement('div');
  box.className = 'chart';
  if (coldStarts.length === 0) {
    box.textContent = 'none yet';
    box.classList.add('muted');
    return box;
  }
  box.setAttribute('role', 'img');
  box.setAttribute(
    'aria-label',
    `${coldStarts.length} cold starts, oldest first: ${coldStarts.map(phaseText).join('; ')}`,
  );
  const total = (coldStart) => phaseMs(coldStart).reduce((sum, [, value]) => sum + value, 0);
  const longest = Math.max(1, ...coldStarts.map(total));
  for (const coldStart of coldStarts) {
    const column = document.createElement('div');
    column.className = 'cold';
    column.title = `${new Date(coldStart.at).toLocaleTimeString()}: ${phaseText(coldStart)}`;
    for (const [phase, value] of phaseMs(coldStart)) {
      const segment = document.createElement('span');
      segment.className = `phase-${phase}`;
      segment.style.height = `${(value / longest) * 100}%`;
      column.append(segment);
    }
    box.append(column);
  }
  return box;
}

function rowElement(row) {
  const tr = document.createElement('tr');
  tr.dataset.id = row.id;
  tr.dataset.state = row.state;
  const name = document.createElement('th');
  name.scope = 'row';
  name.textContent = row.id;
  tr.append(name);
  const state = document.createElement('span');
  state.className = `state state-${row.state}`;
  state.textContent = row.state;
  cell(tr, '').append(state);
  cell(tr, row.hosts.join(', ') || '—', 'hosts');
  cell(tr, `${row.readyReplicas}/${row.replicas} ready`);
  cell(tr, lastWakeText(row), 'last-wake');
  cell(tr, '').append(chart(row));
  return tr;
}

function visible(row) {
  const namespace = byId('namespace').value;
  const state = byId('state').value;
  return (namespace === '' || namespaceOf(row.id) === namespace) && (state === '' || row.state === state);
}

function applyFilters() {
  let shown = 0;
  for (const [id, tr] of trs) {
    tr.hidden = !visible(rows.get(id));
    if (!tr.hidden) shown += 1;
  }
  byId('count').textContent = `${shown} of ${rows.size} backends shown`;
}

function updateNamespaces() {
  const select = byId('namespace');
  const wanted = [...new Set([...rows.keys()].map(namespaceOf))].sort();
  const current = [...select.options].slice(1).map((option) => option.value);
  if (wanted.join('\n') === current.join('\n')) return;
  const chosen = select.value;
  select.replaceChildren(select.options[0], ...wanted.map((namespace) => new Option(namespace, namespace)));
  select.value = wanted.includes(chosen) ? chosen : '';
}

/** Puts a backend's row in place (rows stay sorted by id), or removes it when it left the list.
 * `last`: the row goes after every other (the snapshot comes sorted). */
function place(id, row, last = false) {
  const old = trs.get(id);
  if (row === null) {
    rows.delete(id);
    trs.delete(id);
    old?.remove();
    return;
  }
  rows.set(id, row);
  const tr = rowElement(row);
  trs.set(id, tr);
  if (old !== undefined) {
    old.replaceWith(tr);
    tr.classList.add('changed');
    setTimeout(() => tr.classList.remove('changed'), 600);
    return;
  }
  const next = last ? undefined : [...trs.keys()].filter((other) => other > id).sort()[0];
  byId('rows').insertBefore(tr, next === undefined ? null : trs.get(next));
}

function onEvent(event, data) {
  if (event === 'snapshot') {
    rows.clear();
    trs.clear();
    byId('rows').replaceChildren();
    for (const row of data.backends) place(row.id, row, true);
  } else if (event === 'state') {
    place(data.id, data.backend);
  } else {
    return;
  }
  updateNamespaces();
  applyFilters();
}

/** Reads the stream until it ends; EventSource cannot send a header, so this is fetch and a small parser. */
async function stream(token, signal) {
  const response = await fetch('/v1/control/events', {
    headers: { authorization: `Bearer ${token}` },
    cache: 'no-store',
    signal,
  });
  if (response.status === 401) throw new Refused('the bridge refused this token (401)');
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.message ?? `HTTP ${response.status}`);
  }
  setConnection('Live', true);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const blocks = buffer.split('\n\n');
    buffer = blocks.pop();
    for (const block of blocks) {
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data !== '') onEvent(event, JSON.parse(data));
    }
  }
}

async function run() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token === null) return showLogin('');
  // Keyboard users who gave the token land on the table's heading, not on a hidden field.
  const fromForm = byId('login').contains(document.activeElement);
  byId('login').hidden = true;
  byId('status').hidden = false;
  if (fromForm) byId('backends-title').focus();
  const controller = new AbortController();
  stopStream = () => controller.abort();
  let delay = RETRY_MIN_MS;
  while (!controller.signal.aborted) {
    setConnection('Connecting…');
    try {
      await stream(token, controller.signal);
      delay = RETRY_MIN_MS;
      setConnection('The stream ended; reconnecting…');
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof Refused) {
        sessionStorage.removeItem(TOKEN_KEY);
        return showLogin(`${error.message}. Check the token and try again.`);
      }
      setConnection(`Not connected (${error.message}); retrying…`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}

byId('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, byId('token').value.trim());
  byId('token').value = '';
  run();
});
byId('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin('The token is forgotten.');
});
byId('namespace').addEventListener('change', applyFilters);
byId('state').addEventListener('change', applyFilters);
tokenFromFragment();
run();
