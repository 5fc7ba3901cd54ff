// `onChange` under load (issue #15 item 5): while writers drive more than
// 1,000 events/s for a few seconds, the callback fires at most once per
// debounce window and never misses a changed run id. The rate is measured
// and asserted, so the test cannot pass without the load it is about.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { startServer, eventually, idMaker } from './support.mjs';

/** The rate the writers must reach, in events per second. */
const EVENTS_PER_SECOND_MIN = 1_000;
/** How long the writers write. */
const LOAD_MS = 3_000;
/** Concurrent writers: batch creators and appenders. */
const BATCH_WRITERS = 3;
const APPENDERS = 3;
/** Runs per batch create: one `created` event each. */
const BATCH_RUNS = 200;
const DEBOUNCE_MS = 100;
/** Timer slack: a window may close this much early on a coarse clock. */
const CLOCK_SLACK_MS = 2;

test('onChange at over 1,000 events/s: at most one call per window, no changed run id missed', async (t) => {
  const env = await startServer({ extraArgs: ['--rate-limit-rps', '0'] });
  const feedClient = env.client();
  const writer = env.client({ retry: { maxAttempts: 10 } });
  try {
    const ids = idMaker();
    // Written before the feed starts: a feed reports changes from now on.
    const before = await writer.createBatch(Array.from({ length: 20 }, (_, n) => ({ id: ids(`before${n}`), kind: 'load' })));
    assert.equal(before.length, 20);
    /** Runs the appenders write to; they exist before the feed starts. */
    const hot = [];
    for (let n = 0; n < APPENDERS; n += 1) hot.push((await writer.create({ id: ids(`hot${n}`), kind: 'load' })).run.id);

    /** @type {Array<{ at: number, runIds: Set<string> }>} */
    const calls = [];
    const reported = new Set();
    const feed = feedClient.onChange(
      {},
      (runIds) => {
        calls.push({ at: performance.now(), runIds });
        for (const id of runIds) reported.add(id);
      },
      { debounceMs: DEBOUNCE_MS },
    );
    await feed.ready;

    /** Every run id the writers changed, and how many events they wrote. */
    const changed = new Set();
    let events = 0;
    const started = performance.now();
    const deadline = started + LOAD_MS;
    const batchWriter = async (/** @type {number} */ writerIndex) => {
      for (let batch = 0; performance.now() < deadline; batch += 1) {
        const runs = Array.from({ length: BATCH_RUNS }, (_, n) => ({ id: ids(`w${writerIndex}-b${batch}-r${n}`), kind: 'load' }));
        const results = await writer.createBatch(runs);
        for (const item of results) {
          assert.equal(item.status, 201, JSON.stringify(item.problem?.body));
          changed.add(/** @type {NonNullable<typeof item.run>} */ (item.run).id);
        }
        events += results.length;
      }
    };
    const appender = async (/** @type {string} */ runId) => {
      for (let n = 0; performance.now() < deadline; n += 1) {
        await writer.appendEvent(runId, { type: 'tick', data: n });
        changed.add(runId);
        events += 1;
      }
    };
    await Promise.all([
      ...Array.from({ length: BATCH_WRITERS }, (_, n) => batchWriter(n)),
      ...hot.map((runId) => appender(runId)),
    ]);
    const elapsedMs = performance.now() - started;
    const rate = events / (elapsedMs / 1000);
    t.diagnostic(`writers: ${events} events in ${Math.round(elapsedMs)} ms = ${Math.round(rate)} events/s; ${calls.length} callbacks during the load`);
    assert.ok(rate >= EVENTS_PER_SECOND_MIN, `the writers reached only ${Math.round(rate)} events/s`);

    await eventually(() => [...changed].every((id) => reported.has(id)), 'every changed run id is reported', 30_000);
    const quietSince = performance.now();
    await new Promise((done) => setTimeout(done, DEBOUNCE_MS * 3));
    assert.ok(calls.every((call) => call.at <= quietSince), 'nothing is reported once every change was');

    const missed = [...changed].filter((id) => !reported.has(id));
    assert.deepEqual(missed, [], 'no changed run id is missed');
    const strangers = [...reported].filter((id) => !changed.has(id));
    assert.deepEqual(strangers, [], 'only changed runs are reported (the feed starts at the current position)');
    for (let n = 1; n < calls.length; n += 1) {
      const gap = /** @type {any} */ (calls[n]).at - /** @type {any} */ (calls[n - 1]).at;
      assert.ok(gap >= DEBOUNCE_MS - CLOCK_SLACK_MS, `calls ${n - 1} and ${n} are ${gap.toFixed(1)} ms apart, under one ${DEBOUNCE_MS} ms window`);
    }
    // At most once per window, and not starved: it kept firing during the load.
    const windows = Math.ceil((performance.now() - started) / DEBOUNCE_MS);
    assert.ok(calls.length <= windows, `${calls.length} calls in ${windows} windows`);
    assert.ok(calls.length >= LOAD_MS / DEBOUNCE_MS / 6, `only ${calls.length} calls during ${LOAD_MS} ms of load`);
    for (const call of calls) assert.ok(call.runIds.size > 0, 'a call names at least one run');
    feed.stop();
  } finally {
    feedClient.close();
    await env.done();
  }
});
