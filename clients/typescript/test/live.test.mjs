// The shared WebSocket in Node (SPEC §4 `/v1/ws`, §9): concurrent connects
// open one socket; subscriptions resume across a server restart without
// loss or repeat; bad input — a missing run, another tenant's run, a
// malformed server message — is a typed error on that subscription only,
// and the socket and the other subscriptions keep working.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket as WsWebSocket } from 'ws';
import { Client, RunledgerProblem, ProtocolError } from '../dist/index.js';
import { startServer, eventually, metric, idMaker, TestWebSocket } from './support.mjs';

/** Collects a subscription's events (and its error) in the background. */
function collect(subscription) {
  const seen = { events: /** @type {any[]} */ ([]), error: /** @type {unknown} */ (undefined), done: false };
  (async () => {
    try {
      for await (const event of subscription) seen.events.push(event);
    } catch (error) {
      seen.error = error;
    }
    seen.done = true;
  })();
  return seen;
}

test('one socket for concurrent connects; exactly-once delivery across a kill -9 restart', async () => {
  const env = await startServer();
  const client = env.client();
  const writer = env.client({ retry: { maxAttempts: 50 } });
  try {
    await Promise.all(Array.from({ length: 10 }, () => client.connect()));
    const subs = Array.from({ length: 5 }, () => client.subscribe({ runId: null }));
    await Promise.all(subs.map((sub) => sub.ready));
    assert.equal(client.socketsOpened, 1);
    assert.equal(await metric(env.server.url, 'runledger_open_websockets'), 1);
    for (const sub of subs.slice(1)) sub.unsubscribe();
    const ids = idMaker();
    const { run } = await writer.create({ id: ids('live'), kind: 'etl' });
    const runSub = collect(client.subscribe({ runId: run.id }));
    const tenant = collect(/** @type {any} */ (subs[0]));
    for (let n = 0; n < 100; n += 1) {
      if (n === 50) await env.server.restart({ kill: true });
      await writer.appendEvent(run.id, { type: 'tick', data: n });
    }
    await writer.cancel(run.id, { reason: 'done' });
    await eventually(() => runSub.done, 'the run subscription ends after the terminal event');
    assert.deepEqual(runSub.events.map((event) => event.seq), Array.from({ length: 102 }, (_, n) => n + 1));
    await eventually(() => tenant.events.length >= 102, 'the tenant subscription catches up');
    assert.deepEqual(tenant.events.map((event) => event.position), Array.from({ length: 102 }, (_, n) => n + 1));
    assert.equal(await metric(env.server.url, 'runledger_open_websockets'), 1, 'one socket after the restart');
  } finally {
    client.close();
    await env.done();
  }
});

test('a missing run, another tenant\'s run and a malformed message fail only their subscription', async () => {
  const env = await startServer({ tenants: ['acme', 'other'] });
  /** @type {unknown[]} */
  const clientErrors = [];
  // A WebSocket that lets the test slip messages in, as a broken server would send them.
  /** @type {((text: string) => void) | undefined} */
  let inject;
  const Base = /** @type {any} */ (TestWebSocket);
  class Bent extends Base {
    /** @param {string} url @param {string | string[]} [protocols] */
    constructor(url, protocols) {
      super(url, protocols);
      inject = (text) => /** @type {any} */ (this.onmessage)?.({ data: text, type: 'message', target: this });
    }
  }
  const client = env.client({ token: env.tokens.acme, WebSocket: Bent, onError: (error) => clientErrors.push(error) });
  const other = env.client({ token: env.tokens.other });
  try {
    const ids = idMaker();
    const { run: mine } = await client.create({ id: ids('mine'), kind: 'etl' });
    const { run: theirs } = await other.create({ id: ids('theirs'), kind: 'etl' });
    const tenant = collect(client.subscribe({ runId: null }));
    const good = collect(client.subscribe({ runId: mine.id }));
    const missing = collect(client.subscribe({ runId: ids('nowhere') }));
    const foreign = collect(client.subscribe({ runId: theirs.id }));
    await eventually(() => missing.done && foreign.done, 'the refused subscriptions end');
    for (const [refused, runId] of /** @type {const} */ ([[missing, ids('nowhere')], [foreign, theirs.id]])) {
      assert.ok(refused.error instanceof RunledgerProblem);
      assert.equal(refused.error.code, 'not_found');
      assert.equal(refused.error.status, 404);
      assert.equal(refused.error.runId, runId, 'the server\'s error names the subscription');
      assert.deepEqual(refused.events, []);
    }
    await eventually(() => good.events.length === 1 && tenant.events.length >= 1, 'the others received the created event');

    // Malformed messages: one that names a subscribed run ends that
    // subscription; ones that name nothing are reported to onError only.
    await client.create({ id: ids('target'), kind: 'etl' });
    const target = collect(client.subscribe({ runId: ids('target') }));
    await eventually(() => target.events.length === 1, 'the target subscription works');
    /** @type {(text: string) => void} */ (inject)(JSON.stringify({ op: 'event', run_id: ids('target'), seq: 'two' }));
    /** @type {(text: string) => void} */ (inject)('this is not JSON');
    /** @type {(text: string) => void} */ (inject)(JSON.stringify({ op: 'mystery' }));
    await eventually(() => target.done, 'the malformed event ends its subscription');
    assert.ok(target.error instanceof ProtocolError, String(target.error));
    assert.equal(clientErrors.filter((error) => error instanceof ProtocolError).length, 2);

    // An error naming a live subscription while another subscribe awaits
    // its answer: routed by run_id, not by order — the named one is
    // re-subscribed from where it is (no loss, no repeat), the pending
    // subscribe is confirmed, not refused.
    await client.create({ id: ids('later'), kind: 'etl' });
    const later = collect(client.subscribe({ runId: ids('later') }));
    /** @type {(text: string) => void} */ (inject)(JSON.stringify({ op: 'error', code: 'internal', detail: 'the subscription failed', run_id: mine.id }));
    /** @type {(text: string) => void} */ (inject)(JSON.stringify({ op: 'error', code: 'internal', detail: 'bad run_id', run_id: 7 }));
    await eventually(() => later.events.length === 1, 'the pending subscribe went through');
    assert.equal(later.error, undefined);
    const routed = clientErrors.find((error) => error instanceof RunledgerProblem && error.code === 'internal');
    assert.ok(routed instanceof RunledgerProblem);
    assert.equal(routed.runId, mine.id);
    assert.equal(routed.status, 500);
    assert.equal(clientErrors.filter((error) => error instanceof ProtocolError).length, 3, 'a run_id of the wrong type is a ProtocolError');

    await client.appendEvent(mine.id, { type: 'after', data: 1 });
    await eventually(() => good.events.length === 2, 'the run subscription still works');
    assert.deepEqual(good.events.map((event) => event.seq), [1, 2], 'the re-subscribed run: every event once, in order');
    await eventually(() => tenant.events.some((event) => event.type === 'after'), 'the tenant subscription still works');
    assert.equal(good.error, undefined);
    assert.equal(tenant.error, undefined);
    assert.equal(client.socketsOpened, 1, 'the socket stayed open through all of it');
  } finally {
    client.close();
    await env.done();
  }
});

test('onChange: debounced sets of changed run ids, filtered by run', async () => {
  const env = await startServer();
  const client = env.client();
  try {
    const ids = idMaker();
    await client.create({ id: ids('a'), kind: 'etl' });
    await client.create({ id: ids('b'), kind: 'etl' });
    /** @type {Array<[number, string[]]>} */
    const calls = [];
    const feed = client.onChange({ runIds: [ids('a')] }, (changed) => calls.push([Date.now(), [...changed]]), { debounceMs: 200 });
    await feed.ready;
    for (let n = 0; n < 20; n += 1) {
      await client.appendEvent(ids('a'), { type: 'tick', data: n });
      await client.appendEvent(ids('b'), { type: 'tick', data: n });
    }
    await eventually(() => calls.length > 0 && Date.now() - /** @type {any} */ (calls.at(-1))[0] > 400, 'the feed settles');
    assert.ok(calls.every(([, changed]) => changed.length === 1 && changed[0] === ids('a')), JSON.stringify(calls));
    for (let n = 1; n < calls.length; n += 1) assert.ok(/** @type {any} */ (calls[n])[0] - /** @type {any} */ (calls[n - 1])[0] >= 199);
    feed.stop();

    // The tenant: changes from now on by default; `after: 0` replays the log first.
    await client.create({ id: ids('c'), kind: 'etl' });
    /** @type {Set<string>} */
    const fromNow = new Set();
    /** @type {Set<string>} */
    const fromStart = new Set();
    const now = client.onChange({}, (changed) => changed.forEach((id) => fromNow.add(id)), { debounceMs: 20 });
    const replay = client.onChange({}, (changed) => changed.forEach((id) => fromStart.add(id)), { debounceMs: 20, after: 0 });
    await Promise.all([now.ready, replay.ready]);
    await client.appendEvent(ids('b'), { type: 'tock', data: 1 });
    await eventually(() => fromNow.has(ids('b')) && fromStart.has(ids('b')), 'both feeds see the new change');
    assert.deepEqual([...fromNow], [ids('b')], 'from now: only the change made after it started');
    assert.deepEqual([...fromStart].sort(), [ids('a'), ids('b'), ids('c')].sort(), 'after 0: every run of the log');
    // Each run's current seq with runIds: the run's earlier events are not reported.
    /** @type {string[][]} */
    const perRun = [];
    const runFeed = client.onChange({ runIds: [ids('c')] }, (changed) => perRun.push([...changed]), { debounceMs: 20 });
    await runFeed.ready;
    await client.cancel(ids('c'));
    await eventually(() => perRun.length === 1, 'the run feed reports the cancel');
    assert.deepEqual(perRun, [[ids('c')]]);
    // A missing run: its lookup fails, `ready` rejects with not_found and onError hears it once.
    /** @type {unknown[]} */
    const feedErrors = [];
    const missing = client.onChange({ runIds: [ids('nowhere')] }, () => undefined, { onError: (error) => feedErrors.push(error) });
    await assert.rejects(missing.ready, (error) => error instanceof RunledgerProblem && error.code === 'not_found');
    assert.equal(feedErrors.length, 1);
    for (const running of [now, replay, runFeed, missing]) running.stop();
  } finally {
    client.close();
    await env.done();
  }
});

test('without a global WebSocket, Client works with the WebSocket option and says how to get one', async () => {
  const saved = globalThis.WebSocket;
  // @ts-ignore: the global is removed to act as Node 20 without the flag (a no-op there).
  delete globalThis.WebSocket;
  const env = await startServer();
  const bare = new Client({ baseUrl: env.server.url });
  const given = new Client({ baseUrl: env.server.url, WebSocket: WsWebSocket });
  try {
    assert.equal(globalThis.WebSocket, undefined);
    await assert.rejects(bare.connect(), (error) => error instanceof TypeError && /WebSocket option/.test(error.message) && /'ws'/.test(error.message));
    // A subscription ends at once with that error instead of retrying forever.
    const ended = bare.subscribe({});
    await assert.rejects(ended.next(), /WebSocket option/);
    await assert.rejects(ended.ready, /WebSocket option/);
    assert.equal(bare.socketsOpened, 0);
    // HTTP needs no WebSocket.
    const { run } = await bare.create({ kind: 'etl' });
    // The `ws` package's WebSocket, injected: subscribe, events, the terminal event ends it.
    const seen = [];
    const reading = (async () => {
      for await (const event of given.subscribe({ runId: run.id })) seen.push(event.type);
    })();
    await given.appendEvent(run.id, { type: 'tick', data: 1 });
    await given.cancel(run.id);
    await reading;
    assert.deepEqual(seen, ['created', 'tick', 'cancelled']);
    assert.equal(given.socketsOpened, 1);
  } finally {
    if (saved !== undefined) globalThis.WebSocket = saved;
    bare.close();
    given.close();
    await env.done();
  }
});
