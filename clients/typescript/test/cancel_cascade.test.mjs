// `POST /v1/runs/{id}/cancel` with `cascade: true` against the real server:
// every open descendant is cancelled with `parent <id> cancelled: <reason>`,
// an already-ended one keeps its outcome, a repeat returns the run unchanged,
// and without `cascade` the children are left alone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, idMaker } from './support.mjs';

test('cancel with cascade cancels the open descendants', async () => {
  const env = await startServer();
  const client = env.client({ retry: { maxAttempts: 1 } });
  const ids = idMaker();
  try {
    await client.create({ id: ids('p'), kind: 'job' });
    const child = await client.create({ kind: 'step', parent_id: ids('p'), key: 'c' });
    const grandchild = await client.create({ kind: 'step', parent_id: child.run.id, key: 'g' });
    const cancelled = await client.cancel(ids('p'), { reason: 'stop', cascade: true });
    assert.equal(cancelled.state, 'cancelled');
    assert.equal(cancelled.error, 'stop');
    for (const run of [child.run, grandchild.run]) {
      const now = await client.get(run.id);
      assert.equal(now.state, 'cancelled');
      assert.equal(now.error, `parent ${ids('p')} cancelled: stop`);
    }
    const repeat = await client.cancel(ids('p'), { reason: 'again', cascade: true });
    assert.equal(repeat.version, cancelled.version);
    assert.equal(repeat.error, 'stop');
  } finally {
    await env.done();
  }
});

test('cancel without cascade leaves the children', async () => {
  const env = await startServer();
  const client = env.client({ retry: { maxAttempts: 1 } });
  const ids = idMaker();
  try {
    await client.create({ id: ids('p'), kind: 'job' });
    const child = await client.create({ kind: 'step', parent_id: ids('p'), key: 'c' });
    await client.cancel(ids('p'), { reason: 'stop' });
    assert.equal((await client.get(child.run.id)).state, 'queued');
  } finally {
    await env.done();
  }
});
