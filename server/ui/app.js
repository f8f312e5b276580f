// Aion's web UI: a few screens over the HTTP API (docs/debugging.md, "The web UI"). Plain browser JavaScript, no build
// step. Every value from the server is put in the page as text, never as HTML: workflow data
// comes from tenants' code.

const view = document.getElementById('view');
const errorBox = document.getElementById('error');
const tokenForm = document.getElementById('token-form');
const namespaceInput = document.getElementById('namespace');
const signOut = document.getElementById('sign-out');

// The API -------------------------------------------------------------------------------------

const TOKEN_KEY = 'aion.token';
const NAMESPACE_KEY = 'aion.namespace';

namespaceInput.value = localStorage.getItem(NAMESPACE_KEY) || 'default';
namespaceInput.addEventListener('change', () => {
  localStorage.setItem(NAMESPACE_KEY, namespaceInput.value.trim() || 'default');
  if (location.hash === '#/' || location.hash === '') render();
  else location.hash = '#/'; // hashchange renders
});

class ApiError extends Error {}

async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
  const response = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (response.status === 401) {
    tokenForm.hidden = false;
    throw new ApiError('this server needs its bearer token');
  }
  if (!response.ok) throw new ApiError(data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${response.status}`);
  return data;
}

const namespace = () => encodeURIComponent(localStorage.getItem(NAMESPACE_KEY) || 'default');
const workflowUrl = (id, suffix = '', params = {}) => {
  const query = new URLSearchParams(Object.entries(params).filter(([, value]) => value !== undefined && value !== ''));
  return `/v1/namespaces/${namespace()}/workflows/${encodeURIComponent(id)}${suffix}${query.size ? `?${query}` : ''}`;
};

tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value);
  tokenForm.hidden = true;
  render();
});
signOut.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  render();
});

// The DOM, as text only -------------------------------------------------------------------------

/** An element with attributes (`on*` are listeners) and children (strings become text). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (name === 'style') element.style.cssText = value; // through CSSOM: the page's CSP allows no inline style
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) element.append(child instanceof Node ? child : String(child));
  return element;
}

const json = (value) => h('pre', {}, JSON.stringify(value, null, 2));
const time = (value) => (value ? new Date(value).toISOString().replace('T', ' ').replace('Z', '') : '');
const status = (value) => h('span', { class: `status ${value}` }, value);
const runLink = (workflowId, runId, text) => h('a', { href: `#/runs/${encodeURIComponent(workflowId)}${runId ? `?runId=${encodeURIComponent(runId)}` : ''}` }, text ?? workflowId);
const fields = (entries) => h('dl', { class: 'fields' }, entries.filter(([, value]) => value !== undefined && value !== '').flatMap(([name, value]) => [h('dt', {}, name), h('dd', {}, value)]));

function showError(error) {
  errorBox.textContent = error instanceof Error ? error.message : String(error);
  errorBox.hidden = false;
}

// Routing ---------------------------------------------------------------------------------------

/** Bumped by each render: a slower, older one sees it and leaves the page alone. */
let generation = 0;

async function render() {
  const mine = ++generation;
  const current = () => mine === generation;
  errorBox.hidden = true;
  signOut.hidden = !sessionStorage.getItem(TOKEN_KEY);
  const [path, search] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(search ?? '');
  try {
    const run = /^\/runs\/(.+)$/.exec(path ?? '');
    if (run) await renderRun(decodeURIComponent(run[1]), params.get('runId') ?? undefined, current);
    else await renderRuns(params, current);
  } catch (error) {
    if (current()) showError(error);
  }
}
window.addEventListener('hashchange', render);

// The runs list ---------------------------------------------------------------------------------

const STATUSES = ['', 'Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'];

async function renderRuns(params, current) {
  const filters = h(
    'form',
    { class: 'filters panel', id: 'filters' },
    h('label', {}, 'Status', h('select', { name: 'status' }, STATUSES.map((value) => h('option', { value, selected: params.get('status') === value }, value || 'any')))),
    h('label', {}, 'Type', h('input', { name: 'type', value: params.get('type') ?? '', size: 14 })),
    h('label', {}, 'Workflow id', h('input', { name: 'workflowId', value: params.get('workflowId') ?? '', size: 14 })),
    h('label', {}, 'Search attributes (JSON predicates)', h('input', { name: 'searchAttributes', value: params.get('searchAttributes') ?? '', size: 28, placeholder: '{"Customer":"ann","Amount":{"gt":10}}' })),
    h('label', {}, 'Started from', h('input', { name: 'startTimeFrom', type: 'datetime-local', value: params.get('startTimeFrom') ?? '' })),
    h('label', {}, 'Started to', h('input', { name: 'startTimeTo', type: 'datetime-local', value: params.get('startTimeTo') ?? '' })),
    h('button', { type: 'submit' }, 'Filter'),
  );
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams([...new FormData(filters)].filter(([, value]) => value !== ''));
    location.hash = `#/?${chosen}`;
  });
  const query = new URLSearchParams({ limit: '200' });
  for (const name of ['status', 'type', 'workflowId', 'searchAttributes']) if (params.get(name)) query.set(name, params.get(name));
  for (const name of ['startTimeFrom', 'startTimeTo']) if (params.get(name)) query.set(name, new Date(params.get(name)).toISOString());
  const { workflows } = await api('GET', `/v1/namespaces/${namespace()}/workflows?${query}`);
  if (!current()) return;
  view.replaceChildren(
    h('h1', {}, 'Workflow runs'),
    filters,
    h(
      'div',
      { class: 'panel' },
      workflows.length === 0
        ? h('p', { class: 'muted' }, 'No run matches.')
        : h(
            'table',
            { id: 'runs' },
            h('thead', {}, h('tr', {}, ['Workflow id', 'Type', 'Status', 'Started', 'Closed', 'Search attributes'].map((name) => h('th', {}, name)))),
            h(
              'tbody',
              {},
              workflows.map((run) =>
                h(
                  'tr',
                  {},
                  h('td', {}, runLink(run.workflowId, run.runId)),
                  h('td', {}, run.workflowType),
                  h('td', {}, status(run.status)),
                  h('td', {}, time(run.startTime)),
                  h('td', {}, time(run.closeTime)),
                  h('td', { class: 'muted' }, Object.keys(run.searchAttributes ?? {}).length ? JSON.stringify(run.searchAttributes) : ''),
                ),
              ),
            ),
          ),
    ),
  );
}

// A run -----------------------------------------------------------------------------------------

async function renderRun(workflowId, runId, current) {
  const [run, { events }] = await Promise.all([api('GET', workflowUrl(workflowId, '', { runId })), api('GET', workflowUrl(workflowId, '/history', { runId }))]);
  if (!current()) return;
  const pinned = runId ?? run.runId;
  const details = h('div', { id: 'event-details' }, h('p', { class: 'muted' }, 'Select an event in the timeline or the list.'));
  const state = statePanel(workflowId, pinned, events);
  const select = (eventId) => {
    for (const row of view.querySelectorAll('tr[data-event]')) row.classList.toggle('selected', Number(row.dataset.event) === eventId);
    const event = events.find((candidate) => candidate.eventId === eventId);
    details.replaceChildren(h('h2', {}, `Event ${eventId}: ${event.type}`), fields([['time', time(event.time)], ['source', event.callSite]]), json(event));
    state.setEvent(eventId);
  };

  view.replaceChildren(
    h('h1', {}, h('a', { href: '#/' }, 'Runs'), ' / ', workflowId, ' ', status(run.status)),
    h('div', { class: 'panel' }, summary(run)),
    h('div', { class: 'panel' }, h('h2', {}, 'Timeline'), timeline(run, events, select)),
    h(
      'div',
      { class: 'grid' },
      h('div', { class: 'panel' }, h('h2', {}, 'Events'), eventTable(events, select)),
      h('div', {}, h('div', { class: 'panel' }, details), state.element, pendingPanel(run, pinned), replayPanel(workflowId, pinned)),
    ),
  );
}

function summary(run) {
  return fields([
    ['type', run.workflowType],
    ['run id', h('span', { id: 'run-id' }, run.runId)],
    ['version', run.version],
    ['task queue', run.taskQueue],
    ['started', time(run.startTime)],
    ['closed', time(run.closeTime)],
    ['history', `${run.historyLength} events`],
    ['parent', run.parent ? runLink(run.parent.workflowId, run.parent.runId) : undefined],
    ['continued from', run.continuedFromRunId ? runLink(run.workflowId, run.continuedFromRunId, run.continuedFromRunId) : undefined],
    ['continued as', run.continuedToRunId ? runLink(run.workflowId, run.continuedToRunId, run.continuedToRunId) : undefined],
    ['failure', run.failure ? `${run.failure.type ?? 'Error'}: ${run.failure.message}` : undefined],
    ['search attributes', Object.keys(run.searchAttributes ?? {}).length ? JSON.stringify(run.searchAttributes) : undefined],
    ['memo', Object.keys(run.memo ?? {}).length ? JSON.stringify(run.memo) : undefined],
  ]);
}

/** Lanes of spans and points built from the history: activities (with attempts), timers, children, updates, signals. */
function timelineItems(events) {
  const spans = new Map();
  const points = [];
  const open = (key, event, kind, label, extra = {}) => spans.set(key, { kind, label, start: event, end: undefined, ...extra });
  const close = (key, event, failed = false, attempt = undefined) => {
    const span = spans.get(key);
    if (span) Object.assign(span, { end: event, failed, attempt });
  };
  for (const event of events) {
    switch (event.type) {
      case 'ActivityScheduled': open(`activity:${event.seq}`, event, 'activity', `activity ${event.activityType}`); break;
      case 'ActivityCompleted': close(`activity:${event.seq}`, event, false, event.attempt); break;
      case 'ActivityFailed': close(`activity:${event.seq}`, event, true, event.attempt); break;
      case 'TimerStarted': open(`timer:${event.seq}`, event, 'timer', `timer ${event.durationMs} ms`, { until: event.fireAt }); break;
      case 'TimerFired': close(`timer:${event.seq}`, event); break;
      case 'TimerCanceled': close(`timer:${event.seq}`, event, true); break;
      case 'ChildWorkflowStarted': open(`child:${event.seq}`, event, 'child', `child ${event.workflowType}`, { child: event }); break;
      case 'ChildWorkflowCompleted': close(`child:${event.seq}`, event); break;
      case 'ChildWorkflowFailed': close(`child:${event.seq}`, event, true); break;
      case 'UpdateAccepted': open(`update:${event.updateId}`, event, 'update', `update ${event.name}`); break;
      case 'UpdateCompleted': close(`update:${event.updateId}`, event, event.failure !== undefined); break;
      case 'SignalReceived': points.push({ label: `signal ${event.name}`, event }); break;
      case 'CancelRequested': points.push({ label: 'cancel requested', event }); break;
      case 'WorkflowContinuedAsNew': points.push({ label: 'continued as new', event }); break;
      default: break;
    }
  }
  return { spans: [...spans.values()], points };
}

function timeline(run, events, select) {
  const { spans, points } = timelineItems(events);
  const start = events[0]?.time ?? 0;
  const end = Math.max(events.at(-1)?.time ?? start, run.status === 'Running' ? Date.now() : 0, start + 1);
  const at = (t) => `${(((t - start) / (end - start)) * 100).toFixed(3)}%`;
  const lanes = spans.map((span) => {
    const finish = span.end?.time ?? Math.min(end, span.until ?? end);
    const title = `${span.label}: ${span.end ? `${Math.max(0, finish - span.start.time)} ms` : 'pending'}${span.attempt ? `, attempt ${span.attempt}` : ''}`;
    const bar = h('div', {
      class: `span ${span.kind}${span.failed ? ' failed' : ''}${span.end ? '' : ' open'}`,
      style: `left:${at(span.start.time)};width:calc(${at(finish)} - ${at(span.start.time)})`,
      title,
      'data-kind': span.kind,
      onclick: () => select(span.start.eventId),
    });
    const label = span.child ? h('span', {}, `${span.label} `, runLink(span.child.workflowId, span.child.runId)) : `${span.label}${span.attempt > 1 ? ` (${span.attempt} attempts)` : ''}`;
    return h('div', { class: 'lane' }, h('div', { class: 'label', title }, label), h('div', { class: 'track' }, bar));
  });
  const markers = h(
    'div',
    { class: 'lane' },
    h('div', { class: 'label' }, 'signals, cancels'),
    h('div', { class: 'track' }, points.map((point) => h('div', { class: 'point', style: `left:${at(point.event.time)}`, title: `${point.label} (event ${point.event.eventId})`, onclick: () => select(point.event.eventId) }))),
  );
  const chain = run.continuedToRunId ? h('p', {}, 'Continued as new in ', runLink(run.workflowId, run.continuedToRunId, `run ${run.continuedToRunId}`)) : undefined;
  return h('div', { class: 'timeline', id: 'timeline' }, lanes.length ? lanes : h('p', { class: 'muted' }, 'No activity, timer, child or update yet.'), points.length ? markers : undefined, chain);
}

function eventTable(events, select) {
  const start = events[0]?.time ?? 0;
  return h(
    'table',
    { id: 'events' },
    h('thead', {}, h('tr', {}, ['#', '+ms', 'Type', 'Source'].map((name) => h('th', {}, name)))),
    h('tbody', {}, events.map((event) => h('tr', { 'data-event': event.eventId, onclick: () => select(event.eventId) }, h('td', {}, event.eventId), h('td', {}, event.time - start), h('td', {}, event.type), h('td', { class: 'muted' }, event.callSite ?? '')))),
  );
}

/** The run as it was after an event: workflowInfo, what it waited on, a query's answer, its logs. */
function statePanel(workflowId, runId, events) {
  const at = h('input', { id: 'inspect-at', type: 'number', min: 1, max: events.length, value: events.length, size: 6 });
  const query = h('input', { id: 'inspect-query', placeholder: 'query name (optional)', size: 16 });
  const args = h('input', { id: 'inspect-args', placeholder: 'args, a JSON array', size: 14 });
  const output = h('div', { id: 'inspect-output' });
  const form = h(
    'form',
    { class: 'row' },
    h('label', {}, 'After event', at),
    h('label', {}, 'Query', query),
    h('label', {}, 'Args', args),
    h('button', { type: 'submit' }, 'Inspect'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    output.replaceChildren(h('p', { class: 'muted' }, 'Replaying…'));
    try {
      const state = await api('GET', workflowUrl(workflowId, '/inspect', { runId, at: at.value, query: query.value.trim(), args: args.value.trim() }));
      output.replaceChildren(
        fields([['after event', state.eventIndex], ['time', time(state.time)]]),
        state.query ? h('div', {}, h('h2', {}, `Query ${query.value}`), state.query.ok ? json(state.query.result) : h('p', { class: 'bad' }, `failed: ${state.query.failure?.message}`)) : undefined,
        h('h2', {}, 'Waiting on'),
        state.pending ? h('pre', { id: 'inspect-pending' }, state.pending) : h('p', { class: 'muted' }, 'nothing'),
        h('h2', {}, 'workflowInfo()'),
        json(state.info),
        h('h2', {}, 'Log'),
        state.logs.length ? h('pre', {}, state.logs.map((log) => `[event ${log.eventIndex}] ${log.level} ${log.message}`).join('\n')) : h('p', { class: 'muted' }, 'no log line'),
      );
    } catch (error) {
      output.replaceChildren(h('p', { class: 'bad' }, error.message));
    }
  });
  return {
    element: h('div', { class: 'panel', id: 'state' }, h('h2', {}, 'State at an event'), form, output),
    setEvent(eventId) {
      at.value = String(eventId);
    },
  };
}

function pendingPanel(run, runId) {
  if (run.status !== 'Running') return undefined;
  const pending = run.pending ?? { activities: [], timers: [], children: [], updates: [] };
  const rows = [
    ...pending.activities.map((a) => [`activity ${a.activityType} #${a.seq}`, `attempt ${a.attempt}${a.nextAttemptAt ? `, next at ${time(a.nextAttemptAt)}` : ''}${a.lastFailure ? `, last failure: ${a.lastFailure.message}` : ''}`]),
    ...pending.timers.map((t) => [`timer #${t.seq}`, `fires at ${time(t.fireAt)}`]),
    ...pending.children.map((c) => [`child ${c.workflowType}`, runLink(c.workflowId, c.runId)]),
    ...pending.updates.map((id) => ['update', id]),
  ];
  return h(
    'div',
    { class: 'panel', id: 'pending' },
    h('h2', {}, 'Pending'),
    rows.length ? fields(rows) : h('p', { class: 'muted' }, 'Waiting on signals or conditions only.'),
    run.taskFailure ? h('p', { class: 'bad' }, `Stalled: ${run.taskFailure.message}`) : undefined,
    run.supervision ? h('p', { class: 'bad' }, `Crashing (${run.supervision.crashes}×): ${run.supervision.lastCrash.message}`) : undefined,
    run.stackTrace ? h('pre', {}, run.stackTrace) : stackButton(run.workflowId, runId),
  );
}

/** Where a parked run waits is one query away (which brings it back into memory): asked on demand. */
function stackButton(workflowId, runId) {
  const output = h('div', {});
  const button = h('button', {
    type: 'button',
    id: 'ask-stack',
    onclick: async () => {
      try {
        const { result } = await api('POST', workflowUrl(workflowId, '/queries/__stack_trace', { runId }), {});
        output.replaceChildren(result ? h('pre', {}, result) : h('p', { class: 'muted' }, 'It waits on nothing.'));
      } catch (error) {
        output.replaceChildren(h('p', { class: 'bad' }, error.message));
      }
    },
  }, 'Where in the code does it wait? (loads a parked run)');
  return h('div', {}, button, output);
}

/** Replays this run's history against a bundle picked from disk (on the server's sandbox threads). */
function replayPanel(workflowId, runId) {
  const file = h('input', { id: 'replay-bundle', type: 'file', accept: '.js' });
  const strict = h('input', { id: 'replay-strict', type: 'checkbox' });
  const all = h('input', { id: 'replay-all', type: 'checkbox' });
  const output = h('div', { id: 'replay-output' });
  const form = h('form', { class: 'row' }, h('label', {}, 'Bundle (aion build)', file), h('label', {}, 'Strict', strict), h('label', {}, 'All', all), h('button', { type: 'submit' }, 'Replay'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!file.files?.[0]) {
      output.replaceChildren(h('p', { class: 'bad' }, 'Pick a bundle file first.'));
      return;
    }
    output.replaceChildren(h('p', { class: 'muted' }, 'Replaying…'));
    try {
      const code = await file.files[0].text();
      const report = await api('POST', workflowUrl(workflowId, '/replay', { runId }), { code, strict: strict.checked, all: all.checked });
      output.replaceChildren(
        report.reproduced
          ? h('p', { class: 'ok' }, `The bundle reproduces the history (${report.events} events).`)
          : h(
              'div',
              {},
              h('p', { class: 'bad' }, `The bundle diverges from the history (${report.divergences.length}).`),
              report.divergences.map((d) =>
                h('div', { class: 'divergence' }, fields([['event', d.eventIndex], ['recorded', d.expected], ['recorded at', d.recordedAt], ['produced', d.actual], ['produced at', d.producedAt], ['hint', d.hint]])),
              ),
            ),
      );
    } catch (error) {
      output.replaceChildren(h('p', { class: 'bad' }, error.message));
    }
  });
  return h('div', { class: 'panel', id: 'replay' }, h('h2', {}, 'Replay against a bundle'), form, output);
}

render();
