// Every operation of SPEC §4 through `Client`, against the real binary on
// SQLite and PostgreSQL: answers parsed, problems thrown as
// `RunledgerProblem` with their `code` and fields.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RunledgerProblem, isProblem } from '../dist/index.js';
import { BACKENDS, startServer, idMaker } from './support.mjs';

/**
 * Awaits `promise` and returns the problem it threw.
 * @param {Promise<unknown>} promise
 * @param {string} code
 * @returns {Promise<RunledgerProblem>}
 */
async function refused(promise, code) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RunledgerProblem, `expected a RunledgerProblem, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.ok(isProblem(error, /** @type {any} */ (code)));
    return error;
  }
  assert.fail(`expected ${code}, the call succeeded`);
}

for (const backend of BACKENDS) {
  describe(`operations on ${backend}`, () => {
    /** @type {Awaited<ReturnType<typeof startServer>>} */
    let env;
    before(async () => {
      env = await startServer({ backend });
    });
    after(async () => env.done());

    test('create, get, idempotent repeat, run_conflict, child ids, not_found parent, invalid_run_id', async () => {
      const client = env.client();
      const ids = idMaker();
      const first = await client.create({ id: ids('etl'), kind: 'etl', attributes: { day: 1 } });
      assert.equal(first.created, true);
      assert.equal(first.run.state, 'queued');
      assert.deepEqual(first.run.attributes, { day: 1 });
      const again = await client.create({ id: ids('etl'), kind: 'etl', attributes: { day: 1 } });
      assert.equal(again.created, false);
      assert.equal(again.run.version, first.run.version);
      const conflict = await refused(client.create({ id: ids('etl'), kind: 'other', attributes: { day: 1 } }), 'run_conflict');
      assert.equal(conflict.status, 409);
      assert.deepEqual(conflict.body.fields, ['kind']);
      const child = await client.create({ kind: 'step', parent_id: ids('etl'), key: 'eu' });
      assert.equal(child.run.id, `${ids('etl')}:eu`);
      assert.equal((await client.get(ids('etl'))).children.total, 1);
      const orphan = await refused(client.create({ kind: 'step', parent_id: ids('none'), key: 'x' }), 'not_found');
      assert.equal(orphan.status, 404);
      const bad = await refused(client.create({ id: 'has space', kind: 'etl' }), 'invalid_run_id');
      assert.equal(bad.status, 422);
      assert.match(bad.detail, /character|rule|space/);
      await refused(client.get(ids('missing')), 'not_found');
      const generated = await client.create({ kind: 'etl' });
      assert.ok(generated.run.id.length > 0, 'the server generates an id');
    });

    test('an Idempotency-Key replays the first answer; a different body is idempotency_key_reused', async () => {
      const client = env.client();
      const key = `key-${idMaker()('k')}`;
      const first = await client.create({ kind: 'etl' }, { idempotencyKey: key });
      const replayed = await client.create({ kind: 'etl' }, { idempotencyKey: key });
      assert.equal(replayed.run.id, first.run.id, 'one run for one key');
      const reused = await refused(client.create({ kind: 'other' }, { idempotencyKey: key }), 'idempotency_key_reused');
      assert.equal(reused.status, 422);
    });

    test('concurrency_limit names the active runs', async () => {
      const client = env.client();
      const ids = idMaker();
      await client.create({ id: ids('a'), kind: 'etl', concurrency: { key: ids('g'), limit: 1 } });
      const full = await refused(client.create({ id: ids('b'), kind: 'etl', concurrency: { key: ids('g') } }), 'concurrency_limit');
      assert.deepEqual(full.body.active_run_ids, [ids('a')]);
      const pending = await client.create({ id: ids('c'), kind: 'etl', concurrency: { key: ids('g'), on_full: 'enqueue' } });
      assert.equal(pending.run.state, 'pending');
    });

    test('start, heartbeat, append, finish with the epoch; stale_lease, invalid_transition, version_conflict', async () => {
      const client = env.client();
      const ids = idMaker();
      const { run } = await client.create({ id: ids('r'), kind: 'etl' });
      const started = await client.start(run.id, { owner: 'w1', lease_ttl_ms: 60_000 });
      assert.equal(started.state, 'running');
      const epoch = /** @type {NonNullable<typeof started.lease>} */ (started.lease).epoch;
      await refused(client.start(run.id, { owner: 'w2', lease_ttl_ms: 60_000 }), 'invalid_transition');
      const beat = await client.heartbeat(run.id, { lease_epoch: epoch, lease_ttl_ms: 30_000 });
      assert.equal(beat.version, started.version + 1);
      const stale = await refused(client.heartbeat(run.id, { lease_epoch: epoch + 5 }), 'stale_lease');
      assert.equal(stale.body.current_epoch, epoch);
      const conflict = await refused(client.heartbeat(run.id, { lease_epoch: epoch }, { ifMatch: 1 }), 'version_conflict');
      assert.equal(conflict.status, 412);
      assert.equal(conflict.body.expected_version, 1);
      const appended = await client.appendEvent(run.id, { type: 'progress', data: { part: 1 }, lease_epoch: epoch });
      assert.equal(appended.seq, 3);
      await refused(client.appendEvent(run.id, { type: 'progress', data: null }), 'stale_lease');
      const events = await client.listEvents(run.id);
      assert.deepEqual(
        events.map((event) => event.type),
        ['created', 'started', 'progress'],
      );
      assert.deepEqual(await client.listEvents(run.id, { after: 2, limit: 1 }), [events[2]]);
      const current = await client.get(run.id);
      const finished = await client.finish(run.id, { lease_epoch: epoch, outcome: 'succeeded', result: { rows: 3 } }, { ifMatch: current.version });
      assert.equal(finished.state, 'succeeded');
      assert.deepEqual(finished.result, { rows: 3 });
      const repeat = await client.finish(run.id, { lease_epoch: epoch, outcome: 'succeeded', result: { rows: 3 } });
      assert.equal(repeat.version, finished.version, 'a repeated finish is idempotent');
      const queued = await client.create({ id: ids('q'), kind: 'etl' });
      await refused(client.finish(queued.run.id, { lease_epoch: 1, outcome: 'failed' }), 'invalid_transition');
      const invalid = await refused(client.heartbeat(run.id, /** @type {any} */ ({})), 'invalid_request');
      assert.match(invalid.detail, /lease_epoch/);
    });

    test('cancel with a reason', async () => {
      const client = env.client();
      const ids = idMaker();
      await client.create({ id: ids('p'), kind: 'job' });
      const cancelled = await client.cancel(ids('p'), { reason: 'stop' });
      assert.equal(cancelled.state, 'cancelled');
      assert.equal(cancelled.error, 'stop');
      const again = await client.cancel(ids('p'), { reason: 'other' });
      assert.equal(again.version, cancelled.version, 'a repeated cancel returns the run unchanged');
      const plain = await client.create({ id: ids('plain'), kind: 'job' });
      assert.equal((await client.cancel(plain.run.id)).state, 'cancelled');
    });

    test('claim: the oldest queued run of the kind, or null (204) when none', async () => {
      const client = env.client();
      const ids = idMaker();
      const kind = ids('kind');
      await client.create({ id: ids('one'), kind });
      await client.create({ id: ids('two'), kind });
      const claimed = await client.claim({ owner: 'w', lease_ttl_ms: 60_000, kind: [kind] });
      assert.equal(claimed?.id, ids('one'));
      assert.equal(claimed?.state, 'running');
      assert.equal((await client.claim({ owner: 'w', lease_ttl_ms: 60_000, kind }))?.id, ids('two'));
      assert.equal(await client.claim({ owner: 'w', lease_ttl_ms: 60_000, kind, wait_ms: 50 }), null);
    });

    test('listRuns: filters, order, pages, iterRuns; a bad filter is invalid_request', async () => {
      const client = env.client();
      const ids = idMaker();
      const kind = ids('list');
      const made = [];
      for (let n = 0; n < 5; n += 1) made.push((await client.create({ id: ids(`r${n}`), kind })).run);
      const page = await client.listRuns({ kind, limit: 2 });
      assert.deepEqual(
        page.runs.map((run) => run.id),
        [ids('r0'), ids('r1')],
      );
      assert.ok(page.next_cursor);
      const newest = await client.listRuns({ kind, order: 'desc', limit: 1 });
      assert.equal(newest.runs[0]?.id, ids('r4'));
      const all = [];
      for await (const run of client.iterRuns({ kind, limit: 2 })) all.push(run.id);
      assert.deepEqual(
        all,
        made.map((run) => run.id),
      );
      const window = await client.listRuns({
        kind,
        created_after: new Date(Date.parse(made[0].created_at) - 1),
        created_before: new Date(Date.parse(made[4].created_at) + 1),
      });
      assert.equal(window.runs.length, 5);
      assert.equal((await client.listRuns({ kind, state: 'queued' })).runs.length, 5);
      await refused(client.listRuns({ state: /** @type {any} */ ('sleeping') }), 'invalid_request');
      await refused(client.listRuns({ cursor: 'not-a-cursor' }), 'invalid_request');
    });

    test('follow (SSE) reads a run to its terminal event; followTenant resumes after a position', async () => {
      const client = env.client();
      const ids = idMaker();
      const { run } = await client.create({ id: ids('f'), kind: 'etl', start: { owner: 'w', lease_ttl_ms: 60_000 } });
      const epoch = /** @type {NonNullable<typeof run.lease>} */ (run.lease).epoch;
      const seen = [];
      const reading = (async () => {
        for await (const event of client.follow(run.id)) seen.push(`${event.seq}:${event.type}`);
      })();
      await client.appendEvent(run.id, { type: 'progress', data: 1, lease_epoch: epoch });
      await client.finish(run.id, { lease_epoch: epoch, outcome: 'failed', error: 'boom' });
      await reading;
      assert.deepEqual(seen, ['1:created', '2:started', '3:progress', '4:failed']);
      // A finished run followed from its end: nothing, and the follow ends.
      const none = [];
      for await (const event of client.follow(run.id, { after: 4 })) none.push(event);
      assert.deepEqual(none, []);
      await refused(
        (async () => {
          for await (const event of client.follow(ids('missing'))) void event;
        })(),
        'not_found',
      );
      const events = await client.listEvents(run.id);
      const from = /** @type {typeof events[number]} */ (events[1]).position;
      const controller = new AbortController();
      const tenant = [];
      for await (const event of client.followTenant({ after: from, signal: controller.signal })) {
        tenant.push(event.position);
        if (event.run_id === run.id && event.type === 'failed') controller.abort();
      }
      assert.equal(tenant[0], from + 1, 'resumes right after the position');
      for (let n = 1; n < tenant.length; n += 1) assert.equal(tenant[n], /** @type {number} */ (tenant[n - 1]) + 1);
    });

    test('health answers true', async () => {
      assert.equal(await env.client().health(), true);
    });
  });
}

describe('problems of the transport (SQLite)', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let env;
  before(async () => {
    env = await startServer({ tenants: ['acme', 'other'], extraArgs: ['--rate-limit-rps', '2', '--rate-limit-burst', '2'] });
  });
  after(async () => env.done());

  test('unauthorized without a token or with a wrong one; a tenant cannot see another tenant\'s run', async () => {
    await refused(env.client({ token: undefined }).listRuns(), 'unauthorized');
    const wrong = await refused(env.client({ token: 'rl_wrong' }).listRuns(), 'unauthorized');
    assert.equal(wrong.status, 401);
    const acme = env.client({ token: env.tokens.acme, retry: { maxAttempts: 10 } });
    const other = env.client({ token: env.tokens.other, retry: { maxAttempts: 10 } });
    const { run } = await acme.create({ kind: 'etl' });
    await refused(other.get(run.id), 'not_found');
  });

  test('rate_limited: retried after Retry-After, then thrown with retry_after_s when retries are off', async () => {
    const patient = env.client({ token: env.tokens.acme, retry: { maxAttempts: 20 } });
    const started = Date.now();
    for (let n = 0; n < 6; n += 1) await patient.listRuns({ limit: 1 });
    assert.ok(Date.now() - started >= 1_000, 'six requests at 2/s with a burst of 2 take over a second: Retry-After was honoured');
    const hasty = env.client({ token: env.tokens.acme, retry: { maxAttempts: 1 } });
    let problem;
    for (let n = 0; n < 10 && problem === undefined; n += 1) {
      try {
        await hasty.listRuns({ limit: 1 });
      } catch (error) {
        problem = error;
      }
    }
    assert.ok(problem instanceof RunledgerProblem);
    assert.equal(problem.code, 'rate_limited');
    assert.equal(problem.status, 429);
    assert.ok(typeof problem.body.retry_after_s === 'number');
  });
});

describe('problems the client cannot cause by itself (SQLite, requests bent by a fetch wrapper)', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let env;
  before(async () => {
    env = await startServer();
  });
  after(async () => env.done());

  /**
   * A client whose requests `bend` rewrites before they go out.
   * @param {(init: RequestInit & { headers: Record<string, string> }) => RequestInit} bend
   */
  const bent = (bend) =>
    env.client({
      retry: { maxAttempts: 1 },
      fetch: (url, init) => fetch(url, bend(/** @type {any} */ ({ ...init, headers: { ...(init?.headers ?? {}) } }))),
    });

  test('unsupported_media_type, method_not_allowed, payload_too_large, forbidden_origin', async () => {
    const ids = idMaker();
    await refused(bent((init) => ({ ...init, headers: { ...init.headers, 'content-type': 'text/plain' } })).create({ kind: 'etl' }), 'unsupported_media_type');
    await refused(bent((init) => ({ ...init, method: 'PUT' })).create({ kind: 'etl' }), 'method_not_allowed');
    const big = await refused(env.client({ retry: { maxAttempts: 1 } }).create({ kind: 'etl', attributes: { blob: 'x'.repeat(1_100_000) } }), 'payload_too_large');
    assert.equal(big.status, 413);
    // With no token, a state change from a foreign page is refused (SPEC §4 "Browsers").
    const foreign = await refused(
      bent((init) => ({ ...init, headers: { ...init.headers, origin: 'http://evil.example' } })).create({ id: ids('x'), kind: 'etl' }),
      'forbidden_origin',
    );
    assert.equal(foreign.status, 403);
  });
});
