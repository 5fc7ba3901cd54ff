// runledger dashboard: makes the server-rendered page live.
//
// One EventSource follows the tenant's log (/v1/events/stream) from the
// position the page was read at. Each event marks its run: rows on the page
// are fetched again (/v1/runs/{id}) and redrawn, new runs are added at the
// top of the newest page when they match the filters, counts are fetched
// again after lifecycle events, and the open run's event list grows. The
// run pane and the children tree are HTML the server renders
// (/dashboard/run, /dashboard/children), swapped in whole; times say how
// long ago and running durations keep counting.
//
// An EventSource hands a named event (`event: started`) only to a listener
// for that name, so listeners are added for the lifecycle types and for
// every type seen since; a gap in positions (an event of a type nobody
// listened for) or a quiet open run is caught up from the run's events.
//
// Server data only ever reaches the page as text (textContent, attribute
// values) or as markup this server rendered and escaped: never as markup
// built here from data.
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
  const newestPage = root.dataset.newestPage === 'true';
  const AGO_REFRESH_MS = 1000;
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

  // `2026-11-27 00:10:13 UTC`, as short_time in view/text.rs.
  function timeEl(text) {
    const short = String(text).split('.')[0].replace(/Z$/, '').replace('T', ' ') + ' UTC';
    return el('time', { datetime: text, title: text }, short);
  }

  // `5s`, `3m 05s`, `2h 07m`, `3d 04h`, as duration in view/text.rs.
  function durationText(ms) {
    ms = Math.max(0, Math.floor(ms));
    if (ms < 1000) return `${ms}ms`;
    const seconds = Math.floor(ms / 1000);
    const minutes = Math.floor(seconds / 60);
    const hours = Math.floor(seconds / 3600);
    const days = Math.floor(seconds / 86400);
    const two = (n) => String(n).padStart(2, '0');
    if (days > 0) return `${days}d ${two(hours % 24)}h`;
    if (hours > 0) return `${hours}h ${two(minutes % 60)}m`;
    if (minutes > 0) return `${minutes}m ${two(seconds % 60)}s`;
    return `${seconds}s`;
  }

  // As ago in view/text.rs.
  function agoText(at) {
    const ms = Date.now() - Date.parse(at);
    if (ms < 0) return `in ${durationText(-ms)}`;
    if (ms < 1000) return 'just now';
    return `${durationText(ms)} ago`;
  }

  function timeCell(at) {
    return [timeEl(at), ' ', el('span', { class: 'ago', 'data-at': at }, agoText(at))];
  }

  function durationCell(run) {
    let text = NONE;
    if (run.started_at && run.finished_at) {
      text = durationText(Date.parse(run.finished_at) - Date.parse(run.started_at));
    } else if (run.started_at && run.state === 'running') {
      text = durationText(Date.now() - Date.parse(run.started_at));
    }
    const running = run.state === 'running' && run.started_at ? run.started_at : null;
    return el('td', { class: 'duration', 'data-running-since': running }, text);
  }

  function groupHref(key) {
    return '/dashboard/group?key=' + encodeURIComponent(key);
  }

  // Keeps "ago" and running durations current.
  setInterval(() => {
    if (document.hidden) return;
    for (const node of document.querySelectorAll('.ago[data-at]')) node.textContent = agoText(node.dataset.at);
    for (const node of document.querySelectorAll('[data-running-since]')) {
      node.textContent = durationText(Date.now() - Date.parse(node.dataset.runningSince));
    }
  }, AGO_REFRESH_MS);

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
    const chars = Array.from(JSON.stringify(value, null, 2));
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
      el('td', { class: 'concurrency' }, run.concurrency_key
        ? el('a', { class: 'group-link', href: groupHref(run.concurrency_key) }, run.concurrency_key) : NONE),
      el('td', { class: 'lease' }, leaseText(run.lease)),
      durationCell(run),
      el('td', { class: 'created' }, ...timeCell(run.created_at)),
    ];
  }

  function matchesFilter(run) {
    return (!filter.state || run.state === filter.state) && (!filter.kind || run.kind === filter.kind);
  }

  let liveRowsAdded = 0;
  // id -> position of its `created` event, for runs that may be added.
  const createdPositions = new Map();
  const CREATED_POSITIONS_MAX = 5000;

  // Redraws the run's row, or adds it when it belongs here. Answers are
  // applied newest version only, whatever order they arrive in.
  function showRun(run, mayAdd) {
    let row = rowFor(run.id);
    if (row) {
      if (Number(row.dataset.version || 0) > run.version) return;
    } else {
      if (!mayAdd || !newestPage || !matchesFilter(run) || liveRowsAdded >= LIVE_ROWS_MAX) return;
      const empty = tbody.querySelector('tr.empty');
      if (empty) empty.remove();
      const emptyState = document.getElementById('empty-state');
      if (emptyState) emptyState.remove();
      row = el('tr', { class: 'fresh' });
      // Newest first: above every older added row (by the position of the
      // `created` event; runs that joined otherwise go on top) and above
      // the rows the page came with, whatever order the fetches answer in.
      const position = createdPositions.get(run.id) || Number.MAX_SAFE_INTEGER;
      createdPositions.delete(run.id);
      row.dataset.createdPosition = String(position);
      let before = null;
      for (const other of tbody.rows) {
        if (!other.classList.contains('fresh') || Number(other.dataset.createdPosition) < position) {
          before = other;
          break;
        }
      }
      tbody.insertBefore(row, before);
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
        const counts = document.getElementById('children-counts');
        const childrenChanged = counts !== null && counts.textContent !== childrenText(run.children);
        if (openRun !== null && openRun.id === run.id && (run.version > openRun.version || childrenChanged)) {
          onPane(() => refreshPane(run.id));
        }
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
      el('td', null, el('pre', { class: 'event-data' }, jsonShort(event.data))));
  }

  // HTML this server rendered (a pane or a tree level), parsed inertly.
  async function getHtml(path) {
    const response = await fetch(path, {
      headers: { Accept: 'text/html' }, credentials: 'same-origin', cache: 'no-store',
    });
    if (response.status === 401) setStatus('off', 'signed out: reload to sign in');
    if (!response.ok) {
      const error = new Error(`${path} answered ${response.status}`);
      try { error.problem = await response.json(); } catch (_) { /* not JSON */ }
      throw error;
    }
    return new DOMParser().parseFromString(await response.text(), 'text/html');
  }

  // The whole pane, or (`live`) only what is above its events.
  function paneHtml(id, live) {
    return getHtml('/dashboard/run?run=' + encodeURIComponent(id) + (live ? '&part=live' : ''));
  }

  function closeLink() {
    return el('a', { class: 'close', href: viewHref(null) }, 'Close');
  }

  function placePane(section) {
    const existing = document.getElementById('run-detail');
    if (existing) existing.replaceWith(section);
    else root.querySelector('.panes').append(section);
  }

  // Swaps the pane's fields, tree and cancel form for the server's newer
  // rendering; the event list is left alone (it grows from the stream).
  async function refreshPane(id) {
    if (openRun === null || openRun.id !== id) return;
    const fresh = (await paneHtml(id, true)).getElementById('detail-live');
    const current = document.getElementById('detail-live');
    if (!fresh || !current || openRun === null || openRun.id !== id) return;
    const version = Number(fresh.dataset.version || 0);
    if (version < openRun.version) return;
    openRun.version = version;
    const state = fresh.querySelector('#detail-state');
    if (state) openRun.state = state.textContent;
    const opened = new Set(Array.from(current.querySelectorAll('details.subtree[open]'), (node) => node.dataset.runId));
    current.replaceWith(document.adoptNode(fresh));
    for (const node of fresh.querySelectorAll('details.subtree')) {
      if (opened.has(node.dataset.runId)) node.open = true;
    }
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
    let section;
    try {
      section = (await paneHtml(id)).getElementById('run-detail');
      if (!section) throw new Error('the run pane did not come back');
    } catch (error) {
      const detail = (error.problem && error.problem.detail) || error.message;
      placePane(el('section', { id: 'run-detail', class: 'detail', 'aria-label': 'Run' },
        el('p', { class: 'error', role: 'alert' }, detail), closeLink()));
      openRun = null;
      return;
    }
    if (openRun === null || openRun.id !== id) return; // another run was opened meanwhile
    section = document.adoptNode(section);
    for (const close of section.querySelectorAll('a.close')) close.replaceWith(closeLink());
    placePane(section);
    adoptServedPane();
    for (const cell of section.querySelectorAll('#events-body .event-type')) listen(cell.textContent);
    // Events written while the pane loaded.
    await catchUp();
  }

  function closePane(push) {
    if (push) history.pushState({ run: null }, '', viewHref(null));
    openRun = null;
    const pane = document.getElementById('run-detail');
    if (pane) pane.remove();
  }

  // Takes the pane on the page (served with it, or just swapped in) as
  // the open run.
  function adoptServedPane() {
    const served = document.getElementById('run-detail');
    const live = document.getElementById('detail-live');
    if (!served || !served.dataset.runId) return;
    openRun = {
      id: served.dataset.runId,
      lastSeq: Number(served.dataset.lastSeq || 0),
      version: live ? Number(live.dataset.version || 0) : 0,
      state: served.dataset.state || '',
    };
  }
  adoptServedPane();

  // A tree level is fetched the first time it is opened.
  document.addEventListener('toggle', (toggle) => {
    const node = toggle.target;
    if (!(node instanceof HTMLDetailsElement) || !node.open || !node.classList.contains('subtree')) return;
    if (node.dataset.loaded) return;
    node.dataset.loaded = 'true';
    getHtml('/dashboard/children?run=' + encodeURIComponent(node.dataset.runId))
      .then((doc) => {
        const list = doc.querySelector('ul.tree');
        const placeholder = node.querySelector(':scope > .tree-loading');
        if (list && placeholder) placeholder.replaceWith(document.adoptNode(list));
      })
      .catch(() => { delete node.dataset.loaded; });
  }, true);

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
    const adding = mayAdd(event);
    if (adding && event.type === 'created') {
      if (createdPositions.size >= CREATED_POSITIONS_MAX) createdPositions.clear();
      createdPositions.set(event.run_id, event.position);
    }
    markDirty(event.run_id, adding);
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

  // Whether the event's run may join the table: only on the newest page, and
  // for a `created` only when its data (kind, state) fits the filters, so
  // runs that cannot show are never fetched.
  function mayAdd(event) {
    if (!newestPage || liveRowsAdded >= LIVE_ROWS_MAX) return false;
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
