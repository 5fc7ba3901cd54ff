// `Worker` against the real binary (SPEC §2.5, §9): claims, heartbeats at
// a third of the lease, finishes with the epoch (result or error), reports
// a lost lease at once, and shuts down gracefully on SIGTERM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '../dist/index.js';
import { startServer, eventually, idMaker, quiet } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));

test('claims, heartbeats past the lease, finishes succeeded with the result or failed with the error', async () => {
  const env = await startServer();
  const client = env.client();
  const ids = idMaker();
  const kind = ids('work');
  try {
    await client.create({ id: ids('ok'), kind, attributes: { n: 2 } });
    await client.create({ id: ids('bad'), kind });
    const worker = new Worker(
      client,
      async (ctx) => {
        if (ctx.run.id === ids('bad')) throw new Error('the handler broke');
        await ctx.append('progress', { part: 1 });
        // Longer than the lease: only the heartbeats keep it.
        await new Promise((done) => setTimeout(done, 1_500));
        assert.equal(ctx.leaseLost.aborted, false);
        return { doubled: /** @type {number} */ (ctx.run.attributes.n) * 2 };
      },
      { kinds: [kind], concurrency: 2, leaseTtlMs: 600, waitMs: 200, graceMs: 5_000, logger: quiet },
    );
    worker.start();
    const ok = /** @type {import('../dist/index.js').Run} */ (await eventually(async () => {
      const run = await client.get(ids('ok'));
      return run.state === 'succeeded' ? run : null;
    }, 'the run succeeds'));
    assert.deepEqual(ok.result, { doubled: 4 });
    const bad = await eventually(async () => {
      const run = await client.get(ids('bad'));
      return run.state === 'failed' ? run : null;
    }, 'the run fails');
    assert.match(String(bad?.error), /the handler broke/);
    const types = (await client.listEvents(ids('ok'))).map((event) => event.type);
    assert.deepEqual(types, ['created', 'started', 'progress', 'succeeded']);
    const beats = ok.version - 1 - types.length + 1;
    assert.ok(beats >= 3, `heartbeats kept the 600 ms lease for 1.5 s (${beats} row changes beyond the events)`);
    worker.stop();
    await worker.join();
    assert.equal(worker.runsFinished, 2);
  } finally {
    await env.done();
  }
});

test('a cancel is a lost lease: leaseLost aborts and no finish is sent', async () => {
  const env = await startServer();
  const client = env.client();
  const ids = idMaker();
  const kind = ids('cancel');
  try {
    await client.create({ id: ids('r'), kind });
    /** @type {unknown} */
    let reason;
    const worker = new Worker(
      client,
      async (ctx) => {
        await new Promise((done) => ctx.leaseLost.addEventListener('abort', done, { once: true }));
        reason = ctx.leaseLost.reason;
        return 'too late';
      },
      { kinds: kind, leaseTtlMs: 600, waitMs: 200, logger: quiet },
    );
    worker.start();
    await eventually(async () => (await client.get(ids('r'))).state === 'running', 'the run is claimed');
    await client.cancel(ids('r'), { reason: 'operator' });
    await eventually(() => reason !== undefined, 'leaseLost aborts within a heartbeat');
    assert.equal(/** @type {any} */ (reason).code, 'stale_lease');
    worker.stop();
    await worker.join();
    const run = await client.get(ids('r'));
    assert.equal(run.state, 'cancelled');
    assert.equal(run.error, 'operator');
    assert.equal(worker.runsFinished, 0);
  } finally {
    await env.done();
  }
});

test('SIGTERM: claiming stops, stopping aborts, the in-flight run finishes with its result', async () => {
  const env = await startServer();
  const client = env.client();
  const ids = idMaker();
  const kind = ids('term');
  try {
    await client.create({ id: ids('r'), kind });
    const child = spawn(process.execPath, [join(here, 'worker_process.mjs'), env.server.url, kind], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => (output += chunk));
    const exited = new Promise((done) => child.once('exit', (code) => done(code)));
    await eventually(() => output.includes(`claimed ${ids('r')}`), 'the worker claims the run');
    await client.create({ id: ids('later'), kind });
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(output, /stopped/);
    const run = await client.get(ids('r'));
    assert.equal(run.state, 'succeeded');
    assert.deepEqual(run.result, { stopped: true });
    assert.equal((await client.get(ids('later'))).state, 'queued', 'nothing is claimed after SIGTERM');
  } finally {
    await env.done();
  }
});

test('a handler still busy after the grace period: the run is finished failed, naming the shutdown', async () => {
  const env = await startServer();
  const client = env.client();
  const ids = idMaker();
  const kind = ids('grace');
  try {
    await client.create({ id: ids('r'), kind });
    let lost = false;
    const worker = new Worker(
      client,
      async (ctx) => {
        await new Promise((done) => ctx.leaseLost.addEventListener('abort', done, { once: true }));
        lost = true;
      },
      { kinds: kind, leaseTtlMs: 3_000, waitMs: 200, graceMs: 300, logger: quiet },
    );
    worker.start();
    await eventually(async () => (await client.get(ids('r'))).state === 'running', 'the run is claimed');
    worker.stop();
    await worker.join();
    const run = await client.get(ids('r'));
    assert.equal(run.state, 'failed');
    assert.match(String(run.error), /shut down before the handler returned/);
    assert.equal(lost, true);
  } finally {
    await env.done();
  }
});
