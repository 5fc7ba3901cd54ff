// runledger dashboard: makes the server-rendered page live.
//
// One EventSource follows the tenant's log (/v1/events/stream) from the
// position the page was read at. Each event marks its run: rows on the page
// are fetched again (/v1/runs/{id}) and redrawn, new runs are added on the
// last page when they match the filters, counts are fetched again after
// lifecycle events, and the open run's event list grows.
//
// An EventSource hands a named event (`event: started`) only to a listener
// for that name, so listeners are added for the lifecycle types and for
// every type seen since; a gap in positions (an event of a type nobody
// listened for) or a quiet open run is caught up from the run's events.
//
// Server data only ever reaches the page as text (textContent, attribute
// values): never as markup.
'use strict';

(() => {
  const root = document.getElementById('dashboard');
  if (!root) return; // the sign-in page has nothing live

  const STATES = ['pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'];
  const LIFECYCLE = ['created', 'promoted', 'started', 'succeeded', 'failed', 'cancelled', 'timed_out'];
  // The state a lifecycle event leaves its run in (`created` depends).
  const STATE_AFTER = {
    promoted: 'queued', started: 'running', succeeded: 'succeeded', failed: 'failed',
    cancelled: 'cancelled', timed_out: 'timed_out',
  };
  const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);
  const NONE = '\u2014';
  const DATA_SHOWN_CHARS_MAX = 2000; // as EVENT_DATA_SHOWN_CHARS_MAX in view/text.rs
  const EVENTS_PAGE_MAX = 1000; // the newest events a pane opens with
  const EVENTS_KEPT_MAX = 2000; // rows the pane keeps as it grows
  const LIVE_ROWS_MAX = 500; // rows added without a reload
  const FETCHES_PER_FLUSH_MAX = 32;
  const FLUSH_DELAY_MS = 100;
  const COUNTS_DELAY_MS = 1000; // counts are a GROUP BY: at most one a second
  const OPEN_RUN_POLL_MS = 5000;
  const RECONNECT_DELAY_MS = 3000;
  const RECONNECT_DELAY_MAX_MS = 60000;

  const filter = { state: root.dataset.filterState || '', kind: root.dataset.filterKind || '' };
  const lastPage = root.dataset.lastPage === 'true';
  const tbody = document.getElementById('runs-body');
  const status = document.getElementById('live-status');

  // ---- building the page from data, as text only

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // `2026-11-27 00:10:13`, as short_time in view/text.rs.
  function timeEl(text) {
    const short = String(text).split('.')[0].replace(/Z$/, '').replace('T', ' ');
    return el('time', { datetime: text, title: text }, short);
  }

  function viewHref(runId) {
    const params = new URLSearchParams(location.search);
    if (runId) params.set('run', runId); else params.delete('run');
    const text = params.toString();
    return text ? '/?' + text : '/';
  }

  function runLink(id) {
    return el('a', { class: 'run-link', href: viewHref(id) }, id);
  }

  // The same wording as view/text.rs.
  function childrenText(children) {
    if (!children || !children.total) return NONE;
    const parts = STATES.filter((state) => children[state]).map((state) => `${children[state]} ${state}`);
    return `${children.total} (${parts.join(', ')})`;
  }

  function leaseText(lease) {
    return lease ? `${lease.owner} \u00b7 epoch ${lease.epoch}` : NONE;
  }

  function jsonShort(value) {
    const chars = Array.from(JSON.stringify(value));
    return chars.length > DATA_SHOWN_CHARS_MAX
      ? chars.slice(0, DATA_SHOWN_CHARS_MAX).join('') + '\u2026'
      : chars.join('');
  }

  function stateBadge(state, id) {
    return el('span', { class: 'state state-' + state, id }, state);
  }

  // ---- talking to the API (the browser sends the cookie)

  async function getJson(path) {
    const response = await fetch(path, {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
    });
    if (response.status === 401) setStatus('off', 'signed out: reload to sign in');
    if (!response.ok) {
      const error = new Error(`${path} answered ${response.status}`);
      error.status = response.status;
      try { error.problem = await response.json(); } catch (_) { /* not JSON */ }
      throw error;
    }
    return response.json();
  }

  function runPath(id) {
    return '/v1/runs/' + encodeURIComponent(id);
  }

  // ---- the runs table

  function rowFor(id) {
    for (const row of tbody.rows) if (row.dataset.runId === id) return row;
    return null;
  }

  function runCells(run) {
    return [
      el('td', { class: 'id' }, runLink(run.id)),
      el('td', { class: 'kind' }, run.kind),
      el('td', { class: 'state' }, stateBadge(run.state)),
      el('td', { class: 'parent' }, run.parent_id ? runLink(run.parent_id) : NONE),
      el('td', { class: 'children' }, childrenText(run.children)),
      el('td', { class: 'concurrency' }, run.concurrency_key || NONE),
      el('td', { class: 'lease' }, leaseText(run.lease)),
      el('td', { class: 'created' }, timeEl(run.created_at)),
      el('td', { class: 'updated' }, timeEl(run.updated_at)),
    ];
  }

  function matchesFilter(run) {
    return (!filter.state || run.state === filter.state) && (!filter.kind || run.kind === filter.kind);
  }

  let liveRowsAdded = 0;

  // Redraws the run's row, or adds it when it belongs here. Answers are
  // applied newest version only, whatever order they arrive in.
  function showRun(run, mayAdd) {
    let row = rowFor(run.id);
    if (row) {
      if (Number(row.dataset.version || 0) > run.version) return;
    } else {
      if (!mayAdd || !lastPage || !matchesFilter(run) || liveRowsAdded >= LIVE_ROWS_MAX) return;
      const empty = tbody.querySelector('tr.empty');
      if (empty) empty.remove();
      row = el('tr', { class: 'fresh' });
      tbody.append(row);
      liveRowsAdded += 1;
      if (liveRowsAdded === LIVE_ROWS_MAX) {
        tbody.closest('table').after(el('p', { id: 'live-more', role: 'status' },
          `${LIVE_ROWS_MAX} runs were added live; reload to see newer ones.`));
      }
    }
    row.replaceChildren(...runCells(run));
    row.dataset.runId = run.id;
    row.dataset.state = run.state;
    row.dataset.version = String(run.version);
  }

  // Runs to fetch again: id -> whether the run may be added as a new row.
  const dirty = new Map();
  let flushTimer = null;

  function markDirty(id, mayAdd) {
    dirty.set(id, Boolean(dirty.get(id)) || mayAdd);
    if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_DELAY_MS);
  }

  async function flush() {
    flushTimer = null;
    const batch = [];
    for (const [id, mayAdd] of dirty) {
      if (batch.length >= FETCHES_PER_FLUSH_MAX) break;
      batch.push([id, mayAdd]);
    }
    for (const [id] of batch) dirty.delete(id);
    if (dirty.size > 0) flushTimer = setTimeout(flush, FLUSH_DELAY_MS);
    await Promise.all(batch.map(async ([id, mayAdd]) => {
      const isOpen = openRun !== null && openRun.id === id;
      if (!rowFor(id) && !mayAdd && !isOpen) return;
      try {
        const run = await getJson(runPath(id));
        showRun(run, mayAdd);
        if (openRun !== null && openRun.id === run.id) showDetailRun(run);
      } catch (_) { /* the next event or a reload shows it */ }
    }));
  }

  // ---- counts by state

  let countsTimer = null;
  let countsBusy = false;

  function scheduleCounts() {
    if (!countsTimer) countsTimer = setTimeout(refreshCounts, COUNTS_DELAY_MS);
  }

  async function refreshCounts() {
    countsTimer = null;
    if (countsBusy) { scheduleCounts(); return; }
    countsBusy = true;
    try {
      const body = await getJson('/dashboard/counts');
      for (const state of STATES) {
        const node = document.getElementById('count-' + state);
        if (node) node.textContent = String(body.counts[state] || 0);
      }
      const total = document.getElementById('count-total');
      if (total) total.textContent = String(body.total);
    } catch (_) { /* kept as they were */ } finally {
      countsBusy = false;
    }
  }

  // ---- the open run

  // {id, lastSeq, version, state} of the run in the pane, or null.
  let openRun = null;
  // One change of the pane at a time, in arrival order.
  let paneChain = Promise.resolve();

  function onPane(task) {
    paneChain = paneChain.then(task).catch(() => { /* shown on the next change */ });
  }

  function eventRow(event) {
    return el('tr', { 'data-seq': event.seq },
      el('td', null, event.seq),
      el('td', null, event.position),
      el('td', { class: 'event-type' }, event.type),
      el('td', null, timeEl(event.at)),
      el('td', null, el('code', null, jsonShort(event.data))));
  }

  function fieldList(run) {
    let concurrency = NONE;
    if (run.concurrency_key) {
      concurrency = run.concurrency_limit !== null && run.concurrency_limit !== undefined
        ? `${run.concurrency_key} (limit ${run.concurrency_limit})` : run.concurrency_key;
    }
    const pairs = [
      ['Kind', run.kind],
      ['State', stateBadge(run.state, 'detail-state')],
      ['Parent', run.parent_id || NONE],
      ['Key', run.key || NONE],
      ['Concurrency', concurrency],
      ['Lease', run.lease ? `${leaseText(run.lease)}, expires ${run.lease.expires_at}` : NONE],
      ['Children', childrenText(run.children)],
      ['Version', run.version],
      ['Last seq', run.last_seq],
      ['Created', run.created_at],
      ['Updated', run.updated_at],
      ['Started', run.started_at || NONE],
      ['Finished', run.finished_at || NONE],
      ['Error', run.error === null || run.error === undefined ? NONE : run.error],
    ];
    return pairs.flatMap(([name, value]) => [el('dt', null, name), el('dd', null, value)]);
  }

  function pretty(value) {
    return value === null || value === undefined ? NONE : JSON.stringify(value, null, 2);
  }

  function closeLink() {
    return el('a', { class: 'close', href: viewHref(null) }, 'Close');
  }

  function placePane(section) {
    const existing = document.getElementById('run-detail');
    if (existing) existing.replaceWith(section);
    else root.querySelector('.panes').append(section);
  }

  function renderPane(run, events) {
    const section = el('section', {
      id: 'run-detail', class: 'detail', 'aria-label': 'Run', 'data-run-id': run.id,
    },
    el('div', { class: 'detail-head' },
      el('h2', null, 'Run ', el('code', { id: 'detail-id' }, run.id)), closeLink()),
    el('dl', { class: 'fields', id: 'detail-fields' }, ...fieldList(run)),
    el('h3', null, 'Attributes'),
    el('pre', { class: 'json', id: 'detail-attributes' }, pretty(run.attributes)),
    el('h3', null, 'Result'),
    el('pre', { class: 'json', id: 'detail-result' }, pretty(run.result)),
    el('h3', null, 'Events'),
    el('table', { id: 'events' },
      el('thead', null, el('tr', null,
        el('th', null, 'Seq'), el('th', null, 'Position'), el('th', null, 'Type'),
        el('th', null, 'At'), el('th', null, 'Data'))),
      el('tbody', { id: 'events-body' }, ...events.map(eventRow))));
    placePane(section);
    if (events.length > 0 && events[0].seq > 1) showEarlierNote(run.id, events.length);
  }

  function showDetailRun(run) {
    const fields = document.getElementById('detail-fields');
    if (!fields || openRun === null || openRun.id !== run.id) return;
    if (openRun.version > run.version) return;
    openRun.version = run.version;
    openRun.state = run.state;
    fields.replaceChildren(...fieldList(run));
    document.getElementById('detail-attributes').textContent = pretty(run.attributes);
    document.getElementById('detail-result').textContent = pretty(run.result);
  }

  function showEarlierNote(id, shown) {
    const note = el('p', { id: 'events-earlier' },
      `Only the newest ${shown} events are shown; the earlier ones are in `,
      el('a', { href: `${runPath(id)}/events` }, 'the API'), '.');
    const existing = document.getElementById('events-earlier');
    if (existing) existing.replaceWith(note);
    else document.getElementById('events').before(note);
  }

  function appendEventRow(event) {
    const body = document.getElementById('events-body');
    if (!body) return;
    body.append(eventRow(event));
    openRun.lastSeq = event.seq;
    listen(event.type);
    if (body.rows.length > EVENTS_KEPT_MAX) {
      body.rows[0].remove();
      showEarlierNote(openRun.id, body.rows.length);
    }
  }

  // Fetches the open run's events after the last one shown.
  async function catchUp() {
    if (openRun === null || !Number.isFinite(openRun.lastSeq)) return;
    const id = openRun.id;
    const page = await getJson(`${runPath(id)}/events?after=${openRun.lastSeq}&limit=${EVENTS_PAGE_MAX}`);
    if (openRun === null || openRun.id !== id) return;
    for (const event of page.events) {
      if (event.seq === openRun.lastSeq + 1) appendEventRow(event);
    }
    if (page.events.length > 0) markDirty(id, false);
  }

  async function addOpenRunEvent(event) {
    if (openRun === null || openRun.id !== event.run_id || !Number.isFinite(openRun.lastSeq)) return;
    if (event.seq <= openRun.lastSeq) return;
    if (event.seq > openRun.lastSeq + 1) await catchUp();
    if (openRun !== null && openRun.id === event.run_id && event.seq === openRun.lastSeq + 1) {
      appendEventRow(event);
    }
  }

  async function openPane(id, push) {
    if (push) history.pushState({ run: id }, '', viewHref(id));
    // Loading: events that arrive now are left to the catch-up below.
    openRun = { id, lastSeq: Infinity, version: 0, state: '' };
    let run;
    let events;
    try {
      run = await getJson(runPath(id));
      const after = Math.max(0, run.last_seq - EVENTS_PAGE_MAX);
      events = (await getJson(`${runPath(id)}/events?after=${after}&limit=${EVENTS_PAGE_MAX}`)).events;
    } catch (error) {
      const detail = (error.problem && error.problem.detail) || error.message;
      placePane(el('section', { id: 'run-detail', class: 'detail', 'aria-label': 'Run' },
        el('p', { class: 'error', role: 'alert' }, detail), closeLink()));
      openRun = null;
      return;
    }
    if (openRun === null || openRun.id !== id) return; // another run was opened meanwhile
    openRun = {
      id, lastSeq: events.length ? events[events.length - 1].seq : 0,
      version: run.version, state: run.state,
    };
    renderPane(run, events);
    for (const event of events) listen(event.type);
    // Events written while the pane loaded.
    await catchUp();
  }

  function closePane(push) {
    if (push) history.pushState({ run: null }, '', viewHref(null));
    openRun = null;
    const pane = document.getElementById('run-detail');
    if (pane) pane.remove();
  }

  // The pane the server rendered, if any.
  const served = document.getElementById('run-detail');
  if (served && served.dataset.runId) {
    openRun = {
      id: served.dataset.runId,
      lastSeq: Number(served.dataset.lastSeq || 0),
      version: 0,
      state: served.dataset.state || '',
    };
  }

  document.addEventListener('click', (click) => {
    if (click.button !== 0 || click.metaKey || click.ctrlKey || click.shiftKey || click.altKey) return;
    const link = click.target instanceof Element ? click.target.closest('a.run-link, a.close') : null;
    if (!link || !root.contains(link)) return;
    click.preventDefault();
    if (link.classList.contains('close')) {
      closePane(true);
      return;
    }
    const id = new URL(link.href, location.href).searchParams.get('run');
    if (id) onPane(() => openPane(id, true));
  });

  window.addEventListener('popstate', () => {
    const id = new URLSearchParams(location.search).get('run');
    if (id) onPane(() => openPane(id, false));
    else closePane(false);
  });

  // At most one catch-up waits in the pane's queue, however many ask.
  let catchUpQueued = false;

  function scheduleCatchUp() {
    if (catchUpQueued) return;
    catchUpQueued = true;
    onPane(() => {
      catchUpQueued = false;
      return catchUp();
    });
  }

  // A quiet open run may still get events of a type nobody listens for.
  setInterval(() => {
    if (openRun === null || document.hidden || TERMINAL.has(openRun.state)) return;
    scheduleCatchUp();
  }, OPEN_RUN_POLL_MS);

  // ---- the live stream

  function setStatus(kind, text) {
    if (!status) return;
    status.className = 'live live-' + kind;
    status.textContent = text;
  }

  let source = null;
  let lastPosition = Number(root.dataset.position || 0);
  const listened = new Set();

  function onStreamEvent(message) {
    let event;
    try { event = JSON.parse(message.data); } catch (_) { return; }
    if (event.position > lastPosition + 1 && openRun !== null) {
      // Events nobody listened for came in between: the open run may have some.
      scheduleCatchUp();
    }
    lastPosition = Math.max(lastPosition, event.position);
    const lifecycle = LIFECYCLE.includes(event.type);
    markDirty(event.run_id, mayAdd(event));
    if (lifecycle) {
      scheduleCounts();
      const cut = event.run_id.lastIndexOf(':');
      if (cut > 0) markDirty(event.run_id.slice(0, cut), false); // the parent's children counts
    }
    if (openRun !== null && openRun.id === event.run_id) {
      if (TERMINAL.has(event.type)) openRun.state = event.type;
      onPane(() => addOpenRunEvent(event));
    }
  }

  // Whether the event's run may join the table: only on the last page, and
  // for a `created` only when its data (kind, state) fits the filters, so
  // runs that cannot show are never fetched.
  function mayAdd(event) {
    if (!lastPage || liveRowsAdded >= LIVE_ROWS_MAX) return false;
    if (event.type === 'created') {
      const data = event.data || {};
      return (!filter.kind || data.kind === undefined || data.kind === filter.kind)
        && (!filter.state || data.state === undefined || data.state === filter.state);
    }
    return filter.state !== '' && STATE_AFTER[event.type] === filter.state;
  }

  function listen(type) {
    if (listened.has(type)) return;
    listened.add(type);
    if (source) source.addEventListener(type, onStreamEvent);
  }

  let reconnectDelayMs = RECONNECT_DELAY_MS;

  function connect() {
    setStatus('wait', 'connecting\u2026');
    source = new EventSource('/v1/events/stream?after=' + encodeURIComponent(String(lastPosition)));
    for (const type of listened) source.addEventListener(type, onStreamEvent);
    source.addEventListener('open', () => {
      reconnectDelayMs = RECONNECT_DELAY_MS;
      setStatus('on', 'live');
    });
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) {
        setStatus('wait', 'reconnecting\u2026'); // the EventSource retries by itself
        return;
      }
      // Refused outright: an EventSource gives up. Find out why before
      // trying again (from where we were), more slowly each time.
      source.close();
      fetch('/dashboard/counts', { credentials: 'same-origin', cache: 'no-store' })
        .then((response) => response.status === 401)
        .catch(() => false)
        .then((signedOut) => {
          if (signedOut) {
            setStatus('off', 'signed out: reload to sign in');
            return;
          }
          setStatus('off', 'offline, retrying\u2026');
          setTimeout(connect, reconnectDelayMs);
          reconnectDelayMs = Math.min(reconnectDelayMs * 2, RECONNECT_DELAY_MAX_MS);
        });
    });
  }

  for (const type of LIFECYCLE) listen(type);
  for (const cell of document.querySelectorAll('#events-body .event-type')) listen(cell.textContent);
  connect();
})();
