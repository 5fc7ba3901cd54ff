// Every operation of SPEC §4 through `Client`, against the real binary on
// SQLite and PostgreSQL: answers parsed, problems thrown as
// `RunledgerProblem` with their `code` and fields.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { RunledgerProblem, isProblem } from '../dist/index.js';
import { BACKENDS, startServer, idMaker, eventually } from './support.mjs';

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

    test('idempotency_key_in_flight: the same key while the first call still runs', async () => {
      const ids = idMaker();
      const kind = ids('inflight');
      const key = `key-${ids('k')}`;
      const body = { owner: 'w', lease_ttl_ms: 60_000, kind, wait_ms: 20_000 };
      // Two identical long-polling claims with one key, no retries: one
      // runs, the other is refused while the first is still waiting.
      const once = env.client({ retry: { maxAttempts: 1 } });
      /** @type {(call: Promise<unknown>) => Promise<{ run?: any, error?: any }>} */
      const settle = (call) => call.then((run) => ({ run }), (error) => ({ error }));
      const both = [settle(once.claim(body, { idempotencyKey: key })), settle(once.claim(body, { idempotencyKey: key }))];
      const refusedOne = await Promise.race(both);
      assert.ok(refusedOne.error instanceof RunledgerProblem, `the first answer is a refusal, not ${JSON.stringify(refusedOne)}`);
      assert.equal(refusedOne.error.code, 'idempotency_key_in_flight', refusedOne.error.message);
      assert.equal(refusedOne.error.status, 409);
      const { run } = await once.create({ id: ids('work'), kind });
      const answers = await Promise.all(both);
      assert.deepEqual(answers.map((answer) => /** @type {any} */ (answer).run?.id).filter(Boolean), [run.id], 'one claim ran');
      // Once it answered, the key replays that answer.
      assert.equal((await once.claim(body, { idempotencyKey: key }))?.id, run.id);
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

    test('listTenantEvents pages the tenant\'s log by position; lastPosition is its newest', async () => {
      const client = env.client();
      const ids = idMaker();
      const before = await client.lastPosition();
      const { run } = await client.create({ id: ids('t'), kind: 'etl' });
      const appended = await client.appendEvent(run.id, { type: 'progress', data: 1 });
      assert.equal(appended.position, before + 2, 'positions have no gaps');
      assert.equal(await client.lastPosition(), appended.position);
      const page = await client.listTenantEvents({ after: before, limit: 1 });
      assert.deepEqual(
        page.events.map((event) => [event.position, event.run_id, event.type]),
        [[before + 1, run.id, 'created']],
      );
      assert.equal(page.last_position, appended.position);
      const rest = await client.listTenantEvents({ after: before + 1 });
      assert.deepEqual(rest.events.map((event) => event.type), ['progress']);
      await refused(client.listTenantEvents({ limit: 0 }), 'invalid_request');
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

  test('uri_too_long, headers_too_large, misdirected_request', async () => {
    const client = env.client({ retry: { maxAttempts: 1 } });
    const long = await refused(client.get('a'.repeat(9_000)), 'uri_too_long');
    assert.equal(long.status, 414);
    assert.match(long.detail, /8192/);
    const padded = await refused(
      bent((init) => ({ ...init, headers: { ...init.headers, ...Object.fromEntries(Array.from({ length: 120 }, (_, n) => [`x-pad-${n}`, 'x'])) } })).listRuns(),
      'headers_too_large',
    );
    assert.equal(padded.status, 431);
    assert.match(padded.detail, /100/);
    // fetch sets Host from the URL; node:http lets a request name another
    // host, as a DNS-rebinding page's request would (SPEC §4 "Browsers").
    const rebound = env.client({ retry: { maxAttempts: 1 }, fetch: fetchWithHost('rebound.example') });
    const misdirected = await refused(rebound.listRuns(), 'misdirected_request');
    assert.equal(misdirected.status, 421);
    assert.match(misdirected.detail, /rebound\.example/);
  });
});

/**
 * A `fetch` over node:http whose requests carry `Host: host` whatever the
 * URL says (fetch itself always derives Host from the URL).
 * @param {string} host
 * @returns {typeof fetch}
 */
function fetchWithHost(host) {
  return /** @type {typeof fetch} */ (
    (input, init = {}) =>
      new Promise((resolve, reject) => {
        const headers = { ...Object.fromEntries(new Headers(init.headers).entries()), host };
        const outgoing = httpRequest(String(input), { method: init.method ?? 'GET', headers }, (incoming) => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
          const body = /** @type {ReadableStream} */ (Readable.toWeb(incoming));
          resolve(new Response(body, { status: incoming.statusCode, headers: responseHeaders }));
        });
        outgoing.on('error', reject);
        outgoing.end(typeof init.body === 'string' ? init.body : undefined);
      })
  );
}

describe('too_many_streams: the per-token cap on open streams (SQLite)', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let env;
  before(async () => {
    env = await startServer({ extraArgs: ['--max-streams-per-token', '2'] });
  });
  after(async () => env.done());

  test('a subscription past the cap fails alone, as too_many_streams naming it; the socket goes on', async () => {
    const client = env.client();
    const ids = idMaker();
    try {
      const { run } = await client.create({ id: ids('capped'), kind: 'etl' });
      // The connection holds one slot, the tenant subscription the second.
      const tenant = client.subscribe({});
      await tenant.ready;
      const past = client.subscribe({ runId: run.id });
      const problem = await past.next().then(
        () => assert.fail('the subscription past the cap was accepted'),
        (error) => error,
      );
      assert.ok(problem instanceof RunledgerProblem, String(problem));
      assert.equal(problem.code, 'too_many_streams');
      assert.equal(problem.status, 429);
      assert.equal(problem.runId, run.id);
      // The socket and the tenant subscription go on.
      await client.appendEvent(run.id, { type: 'still', data: 1 });
      const seen = [];
      for await (const event of tenant) {
        seen.push(event.type);
        if (event.type === 'still') break;
      }
      assert.deepEqual(seen, ['created', 'still']);
      // The tenant's slot given back (the unsubscribe went first), the run can be subscribed to.
      await client.subscribe({ runId: run.id }).ready;
      assert.equal(client.socketsOpened, 1);
    } finally {
      client.close();
    }
  });
});

describe('insufficient_storage: SQLite on a disk that fills up', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let env;
  before(async () => {
    env = await startServer({ tinyDiskBytes: 2 * 1024 * 1024 });
  });
  after(async () => env.done());

  test('a write the disk cannot hold is 507 insufficient_storage; reads still answer', async () => {
    const client = env.client({ retry: { maxAttempts: 1 } });
    const ids = idMaker();
    const { run } = await client.create({ id: ids('big'), kind: 'etl' });
    const chunk = 'x'.repeat(200 * 1024);
    /** @type {RunledgerProblem | undefined} */
    let full;
    let appended = 0;
    for (let n = 0; n < 100 && full === undefined; n += 1) {
      try {
        await client.appendEvent(run.id, { type: 'blob', data: chunk });
        appended += 1;
      } catch (error) {
        if (!(error instanceof RunledgerProblem)) throw error;
        full = error;
      }
    }
    assert.ok(full instanceof RunledgerProblem, 'a 2 MiB disk took 20 MiB of events');
    assert.equal(full.code, 'insufficient_storage', full.message);
    assert.equal(full.status, 507);
    assert.ok(appended >= 1, 'the disk held something before it was full');
    assert.equal((await client.get(run.id)).last_seq, 1 + appended, 'the refused append wrote nothing');
  });
});

describe('internal: a database the server cannot use (PostgreSQL, a table renamed under it)', { skip: !BACKENDS.includes('postgres') && 'RUNLEDGER_TEST_NO_PG=1' }, () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let env;
  before(async () => {
    env = await startServer({ backend: 'postgres' });
  });
  after(async () => env.done());

  test('500 internal, its detail hiding the cause; the server answers again once the table is back', async () => {
    const client = env.client({ retry: { maxAttempts: 1 } });
    const ids = idMaker();
    const { run } = await client.create({ id: ids('r'), kind: 'etl' });
    const psql = (/** @type {string} */ sql) => execFileSync('psql', [env.dbUrl, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql]);
    psql('ALTER TABLE events RENAME TO events_hidden');
    try {
      const broken = await refused(client.listEvents(run.id), 'internal');
      assert.equal(broken.status, 500);
      assert.doesNotMatch(broken.detail, /events_hidden|relation|sqlx|SQLSTATE/, 'a 5xx body hides its source');
    } finally {
      psql('ALTER TABLE events_hidden RENAME TO events');
    }
    assert.deepEqual((await client.listEvents(run.id)).map((event) => event.type), ['created']);
  });
});
