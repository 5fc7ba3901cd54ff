// The browser path (issue #15, SPEC §4 auth, §9) in Debian's Chromium via
// playwright-core: a page served from a second origin (allowed with
// --cors-origin) loads the built package, subscribes to the tenant and two
// runs on one WebSocket (token as the `runledger.bearer.<token>`
// subprotocol), and runs an `onChange` feed; this process appends 5,000
// events while killing and restarting the server twice. Checked: every
// event once per subscription, in order; the server never holds more than
// one WebSocket (its `runledger_open_websockets` gauge, sampled
// throughout); `onChange` fires at most once per debounce window under
// more than 1,000 events/s and misses no changed run id. A page from an
// origin that is not allowed is refused (fetch blocked by CORS, the
// WebSocket upgrade answered 403).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, dirname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Client } from '../dist/index.js';
import { Server, freshDir, sqliteUrl, addTenant, metric } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
const EVENTS = 5_000;
const DEBOUNCE_MS = 150;
const METRICS_TOKEN = 'metrics-secret-for-the-browser-test';

/** The tenant's last position: the highest of its runs' last events. */
async function lastPosition(client, others) {
  let highest = 0;
  for (const id of ['browser-a', 'browser-b', ...others]) {
    const events = await client.listEvents(id, { after: (await client.get(id)).last_seq - 1 });
    highest = Math.max(highest, ...events.map((event) => event.position));
  }
  return highest;
}

/** Serves `/` (the page) and `/dist/*` (the built package) on 127.0.0.1:port. */
async function pageServer(html) {
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(html);
      return;
    }
    if (path.startsWith('/dist/')) {
      const file = normalize(join(dist, path.slice('/dist/'.length)));
      if (file.startsWith(dist)) {
        try {
          const body = await readFile(file);
          response.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream' });
          response.end(body);
          return;
        } catch {
          // 404 below.
        }
      }
    }
    response.writeHead(404);
    response.end();
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', () => done(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return { server, port: address.port };
}

const PAGE = `<!doctype html><html><body><script type="module">
import { Client } from '/dist/index.js';
window.start = async (base, token, runA, runB, debounceMs) => {
  const client = new Client({ baseUrl: base, token, retry: { maxAttempts: 1 } });
  window.client = client;
  const state = { tenant: [], a: [], b: [], errors: [], changes: [], socketsSeenByPage: 0 };
  window.state = state;
  const pump = async (subscription, into) => {
    try { for await (const event of subscription) into.push([event.run_id, event.seq, event.position]); }
    catch (error) { state.errors.push(String(error)); }
  };
  // Many callers at once, as components of an app would: one socket.
  await Promise.all([client.connect(), client.connect(), client.connect()]);
  const tenant = client.subscribe({ runId: null });
  const a = client.subscribe({ runId: runA });
  const b = client.subscribe({ runId: runB });
  pump(tenant, state.tenant); pump(a, state.a); pump(b, state.b);
  const feed = client.onChange({}, (ids) => state.changes.push([performance.now(), [...ids]]), { debounceMs });
  await Promise.all([tenant.ready, a.ready, b.ready, feed.ready]);
  return true;
};
window.replay = (debounceMs, total) => new Promise((resolve) => {
  const client = window.client;
  const calls = [];
  const arrivals = [];
  const counter = client.subscribe({ runId: null });
  const feed = client.onChange({}, (ids) => calls.push([performance.now(), [...ids]]), { debounceMs, after: 0 });
  (async () => {
    for await (const event of counter) {
      arrivals.push(performance.now());
      if (event.position >= total) break;
    }
    setTimeout(() => {
      feed.stop();
      resolve({ events: arrivals.length, spanMs: arrivals[arrivals.length - 1] - arrivals[0], calls });
    }, debounceMs * 3);
  })();
});
window.foreign = async (base, token) => {
  const client = new Client({ baseUrl: base, token, retry: { maxAttempts: 1 } });
  const result = { fetch: null, socket: null };
  try { await client.listRuns(); result.fetch = 'allowed'; } catch (error) { result.fetch = error.name + ': ' + error.message; }
  try { await client.connect(); result.socket = 'opened'; } catch (error) { result.socket = String(error.message); }
  client.close();
  return result;
};
</script></body></html>`;

test('a second-origin page: 5,000 events through two server restarts, one WebSocket, debounced onChange; a foreign origin is refused', async () => {
  const allowed = await pageServer(PAGE);
  const foreign = await pageServer(PAGE);
  const origin = `http://127.0.0.1:${allowed.port}`;
  const dir = freshDir('rlts-browser');
  const dbUrl = sqliteUrl(dir);
  const token = addTenant(dbUrl, 'acme');
  const server = await new Server(dbUrl, dir, ['--cors-origin', origin, '--metrics-token', METRICS_TOKEN, '--rate-limit-rps', '0']).start();
  const node = new Client({ baseUrl: server.url, token, retry: { maxAttempts: 50, backoffInitialMs: 50, backoffMaxMs: 500 } });
  const runA = 'browser-a';
  const runB = 'browser-b';
  const epochs = {};
  for (const id of [runA, runB]) {
    const { run } = await node.create({ id, kind: 'ui', start: { owner: 'node', lease_ttl_ms: 600_000 } });
    epochs[id] = /** @type {NonNullable<typeof run.lease>} */ (run.lease).epoch;
  }
  /** @type {import('playwright-core').Browser | undefined} */
  let browser;
  let maxSockets = 0;
  let sampling = true;
  /** @type {Promise<void>} */
  let sampler = Promise.resolve();
  try {
  browser = await chromium.launch({
    executablePath: process.env.RUNLEDGER_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  sampler = (async () => {
    while (sampling) {
      try {
        maxSockets = Math.max(maxSockets, await metric(server.url, 'runledger_open_websockets', METRICS_TOKEN));
      } catch {
        // The server is down for a restart: nothing to sample.
      }
      await new Promise((done) => setTimeout(done, 10));
    }
  })();
    const page = await browser.newPage();
    page.on('pageerror', (error) => console.error('page error:', error));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => typeof (/** @type {any} */ (window).start) === 'function');
    assert.equal(await page.evaluate(([base, t, a, b, d]) => /** @type {any} */ (window).start(base, t, a, b, d), [server.url, token, runA, runB, DEBOUNCE_MS]), true);

    // 5,000 events, alternately on the two runs and on short-lived others,
    // in bursts of 50 concurrent appends; the server is killed twice.
    const touched = new Set([runA, runB]);
    let last = { position: 0 };
    const others = [];
    for (let n = 0; n < 20; n += 1) {
      const id = `browser-other-${n}`;
      await node.create({ id, kind: 'ui' });
      others.push(id);
      touched.add(id);
    }
    const started = Date.now();
    for (let sent = 0; sent < EVENTS; sent += 50) {
      if (sent === 1_500 || sent === 3_500) await server.restart({ kill: true });
      const burst = [];
      for (let n = sent; n < sent + 50; n += 1) {
        const target = n % 3 === 0 ? runA : n % 3 === 1 ? runB : /** @type {string} */ (others[n % others.length]);
        const body = target === runA || target === runB ? { type: 'tick', data: n, lease_epoch: epochs[target] } : { type: 'tick', data: n };
        burst.push(node.appendEvent(target, body));
      }
      for (const appended of await Promise.all(burst)) if (appended.position > last.position) last = appended;
    }
    const elapsedS = (Date.now() - started) / 1000;
    const runAEnd = (await node.get(runA)).last_seq;
    const runBEnd = (await node.get(runB)).last_seq;
    const finalPosition = last.position;

    const state = await page.waitForFunction(
      ([p, a, b]) => {
        const s = /** @type {any} */ (window).state;
        const top = (list, index) => (list.length ? list[list.length - 1][index] : 0);
        return top(s.tenant, 2) >= p && top(s.a, 1) >= a && top(s.b, 1) >= b ? s : null;
      },
      [finalPosition, runAEnd, runBEnd],
      { timeout: 120_000, polling: 100 },
    ).then((handle) => handle.jsonValue());
    // Let the last debounce window close.
    await new Promise((done) => setTimeout(done, DEBOUNCE_MS * 3));
    const changes = await page.evaluate(() => /** @type {any} */ (window).state.changes);

    assert.deepEqual(state.errors, [], 'no subscription failed');
    const positions = state.tenant.map((entry) => entry[2]);
    assert.deepEqual(positions, Array.from({ length: finalPosition }, (_, index) => index + 1), 'the tenant: every position once, in order');
    assert.deepEqual(state.a.map((entry) => entry[1]), Array.from({ length: runAEnd }, (_, index) => index + 1), 'run A: every seq once, in order');
    assert.deepEqual(state.b.map((entry) => entry[1]), Array.from({ length: runBEnd }, (_, index) => index + 1), 'run B: every seq once, in order');
    assert.ok(runAEnd > 1_600 && runBEnd > 1_600);

    // Debounce: at most one call per window, and every changed run reported.
    const rate = EVENTS / elapsedS;
    console.log(`# appended ${EVENTS} events in ${elapsedS.toFixed(1)} s (${rate.toFixed(0)}/s); onChange fired ${changes.length} times`);
    for (let n = 1; n < changes.length; n += 1) {
      const gap = changes[n][0] - changes[n - 1][0];
      assert.ok(gap >= DEBOUNCE_MS - 1, `two onChange calls ${gap.toFixed(1)} ms apart (window ${DEBOUNCE_MS} ms)`);
    }
    const reported = new Set(changes.flatMap((entry) => entry[1]));
    assert.deepEqual([...touched].filter((id) => !reported.has(id)), [], 'every changed run id was reported');
    assert.ok(changes.length < EVENTS / 10, 'calls are batched, not one per event');

    // One socket from the page at any time (the reconnects replace it).
    sampling = false;
    await sampler;
    assert.equal(maxSockets, 1, 'the server never held more than one WebSocket from the page');
    const opened = await page.evaluate(() => /** @type {any} */ (window).client.socketsOpened);
    assert.ok(opened >= 3, `the page reconnected after each restart (${opened} sockets in turn)`);

    // Live appends as fast as this machine takes them (a debug build: a few hundred per second).
    const burstStart = Date.now();
    const before = changes.length;
    const appends = [];
    for (let n = 0; n < 2_000; n += 1) appends.push(node.appendEvent(/** @type {string} */ (others[n % others.length]), { type: 'fast', data: n }));
    await Promise.all(appends);
    const burstRate = 2_000 / ((Date.now() - burstStart) / 1000);
    await new Promise((done) => setTimeout(done, DEBOUNCE_MS * 3));
    const after = await page.evaluate(() => /** @type {any} */ (window).state.changes);
    const burstCalls = after.slice(before);
    console.log(`# burst at ${burstRate.toFixed(0)} events/s: onChange fired ${burstCalls.length} times`);
    for (let n = Math.max(1, before); n < after.length; n += 1) {
      assert.ok(after[n][0] - after[n - 1][0] >= DEBOUNCE_MS - 1, 'at most one call per window during the burst');
    }
    const burstIds = new Set(burstCalls.flatMap((entry) => entry[1]));
    assert.deepEqual(others.filter((id) => !burstIds.has(id)), [], 'every run changed in the burst was reported');

    // Over 1,000 events/s for certain: a new feed from position 0 catches up
    // the whole log (over 9,000 events) at the speed of the database.
    const replay = await page.evaluate(
      ([d, total]) => /** @type {any} */ (window).replay(d, total),
      [DEBOUNCE_MS, await lastPosition(node, others)],
    );
    const replayRate = replay.events / (replay.spanMs / 1000);
    console.log(`# replay at ${replayRate.toFixed(0)} events/s: onChange fired ${replay.calls.length} times`);
    assert.ok(replayRate > 1_000, `the replay reached the page at over 1,000 events/s (${replayRate.toFixed(0)})`);
    for (let n = 1; n < replay.calls.length; n += 1) {
      assert.ok(replay.calls[n][0] - replay.calls[n - 1][0] >= DEBOUNCE_MS - 1, 'at most one call per window during the replay');
    }
    const replayIds = new Set(replay.calls.flatMap((entry) => entry[1]));
    assert.deepEqual([...touched].filter((id) => !replayIds.has(id)), [], 'every run of the log was reported by the replay');

    // A page on an origin the server does not allow.
    const stranger = await browser.newPage();
    await stranger.goto(`http://127.0.0.1:${foreign.port}/`);
    await stranger.waitForFunction(() => typeof (/** @type {any} */ (window).foreign) === 'function');
    const refusedBefore = await metric(server.url, 'runledger_http_requests_total{method="GET",route="/v1/ws",status="403"}', METRICS_TOKEN);
    const result = await stranger.evaluate(([base, t]) => /** @type {any} */ (window).foreign(base, t), [server.url, token]);
    assert.match(result.fetch, /^TransportError/, `a read from a foreign origin is blocked by CORS: ${result.fetch}`);
    assert.match(result.socket, /could not be opened/, `the WebSocket from a foreign origin is refused: ${result.socket}`);
    const refusedAfter = await metric(server.url, 'runledger_http_requests_total{method="GET",route="/v1/ws",status="403"}', METRICS_TOKEN);
    assert.equal(refusedAfter - refusedBefore, 1, 'the server answered the foreign upgrade 403');
  } finally {
    sampling = false;
    await sampler;
    await browser?.close();
    node.close();
    await server.stop({ kill: true });
    allowed.server.close();
    foreign.server.close();
  }
});
