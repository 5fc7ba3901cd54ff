// Drives the runledger dashboard in real Chromium, as a person would.
//
//   node dashboard.mjs <base-url> <token> [<other-tenant-token>]
//
// Expects (crates/runledger-cli/tests/dashboard.rs sets this up): a server
// at <base-url> with tokens, runs `before-1` and `before-2` in the tenant of
// <token>, and a run `other-tenant-run` in another tenant. Creates, starts,
// appends to and finishes run `after-<time>` through the API while the page is
// open, and checks each change shows without a reload. Then the console:
// children as a tree, a concurrency group's page, newest-first paging both
// ways, the run pane at 1280 px, the cancel button with cascade (after a
// page on another port and one on another site failed to cancel by form
// and by fetch), sign-out ending the session on the server and a revoked
// token ending its session.
//
// Optional environment: RUNLEDGER_EMPTY_TOKEN (a token of a tenant with no
// run: the empty state), RUNLEDGER_REVOKE_TOKEN + RUNLEDGER_REVOKE_ID +
// RUNLEDGER_BIN + RUNLEDGER_DB (a second token of <token>'s tenant, revoked
// with `runledger tenant token revoke` while signed in with it),
// RUNLEDGER_SCREENSHOTS (a directory for screenshots of the main views,
// named after RUNLEDGER_BACKEND). Exits 0 when every check passed, 1 at the
// first failure (with the page's text and a screenshot path), 2 on bad
// usage.
//
// Chromium is Debian's (/usr/bin/chromium, or $RUNLEDGER_CHROMIUM): no
// browser download. Each run uses a fresh profile directory.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, token, otherToken] = process.argv.slice(2);
if (!base || !token) {
  console.error('usage: node dashboard.mjs <base-url> <token> [<other-tenant-token>]');
  process.exit(2);
}
const executablePath = process.env.RUNLEDGER_CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 20_000;
// Fresh ids, so the script can run against one server more than once.
const AFTER = `after-${Date.now().toString(36)}`;
const OTHER_LIVE = `other-live-${Date.now().toString(36)}`;
const SUFFIX = Date.now().toString(36);
const env = process.env;
const SHOTS = env.RUNLEDGER_SCREENSHOTS || '';
const BACKEND = env.RUNLEDGER_BACKEND || 'backend';
if (SHOTS) mkdirSync(SHOTS, { recursive: true });

async function screenshot(name) {
  if (!SHOTS) return;
  await page.screenshot({ path: join(SHOTS, `${BACKEND}-${name}.png`), fullPage: true });
  ok(`screenshot ${BACKEND}-${name}.png`);
}

// A request as a copied cookie would make it (no browser involved).
async function withCookie(path, cookieValue) {
  const response = await fetch(base + path, {
    headers: { Cookie: `runledger_token=${cookieValue}`, Accept: 'application/json' },
    redirect: 'manual',
  });
  return { status: response.status, text: await response.text() };
}

let passed = 0;
function ok(what) {
  passed += 1;
  console.log(`ok ${passed} - ${what}`);
}
function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  ok(what);
}

async function api(method, path, body, bearer = token) {
  const response = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const profile = mkdtempSync(join(tmpdir(), 'runledger-dashboard-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
  ],
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(WAIT_MS);
const pageErrors = [];
page.on('pageerror', (error) => pageErrors.push(`page error: ${error.message}`));
// Documents answered 401 (a bad token) and 404 (another tenant's run) on
// purpose, and Chromium logs each; any other console error, and any failed
// fetch of the page's own script, style or API calls, is a failure.
page.on('console', (message) => {
  if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
    pageErrors.push(`console error: ${message.text()}`);
  }
});
page.on('response', (response) => {
  if (response.status() >= 400 && response.request().resourceType() !== 'document') {
    pageErrors.push(`${response.status()} for ${response.request().resourceType()} ${response.url()}`);
  }
});

async function tokenCookie() {
  return (await context.cookies(base)).find((cookie) => cookie.name === 'runledger_token');
}

async function signIn(withToken) {
  await page.goto(base + '/');
  await page.fill('#token', withToken);
  await Promise.all([
    page.waitForURL(base + '/'),
    page.click('form[action="/dashboard/sign-in"] button[type="submit"]'),
  ]);
  await page.locator('main#dashboard').waitFor();
}

async function signOut() {
  await Promise.all([
    page.waitForURL(base + '/'),
    page.click('form.sign-out button[type="submit"]'),
  ]);
  await page.locator('input#token').waitFor();
}

async function stateOf(id) {
  return page.locator(`#runs-body tr[data-run-id="${id}"] td.state`).textContent();
}

// The console: paging, the group page, the pane at 1280 px, cancel.
async function console_() {
  // Paging: 55 runs of one kind, newest first, older and back newer.
  const kind = `page-${SUFFIX}`;
  const items = Array.from({ length: 55 }, (_, n) => ({ id: `${kind}-${String(n).padStart(2, '0')}`, kind }));
  await api('POST', '/v1/runs/batch', { runs: items, atomic: true });
  await page.goto(`${base}/?kind=${kind}`);
  const ids = () => page.locator('#runs-body tr').evaluateAll((rows) => rows.map((row) => row.dataset.runId));
  let shown = await ids();
  check(shown.length === 50 && shown[0] === `${kind}-54` && shown[49] === `${kind}-05`,
    `the first page is the 50 newest, newest first (${shown[0]} … ${shown[shown.length - 1]})`);
  await screenshot('list');
  await Promise.all([page.waitForURL(/cursor=/), page.click('#older-page')]);
  shown = await ids();
  check(JSON.stringify(shown) === JSON.stringify([4, 3, 2, 1, 0].map((n) => `${kind}-0${n}`)),
    `"Older" shows the 5 oldest (${shown})`);
  await Promise.all([page.waitForURL(/newer=/), page.click('#newer-page')]);
  shown = await ids();
  check(shown.length === 50 && shown[0] === `${kind}-54`, '"Newer" leads back to the newer runs');

  // A concurrency group: active slots and the pending queue, reached from
  // a run's row.
  const key = `deploy-${SUFFIX}`;
  for (let n = 1; n <= 4; n += 1) {
    await api('POST', '/v1/runs', { id: `${key}-${n}`, kind: 'deploy', concurrency: { key, limit: 2, on_full: 'enqueue' } });
  }
  await api('POST', `/v1/runs/${key}-1/start`, { owner: 'deployer', lease_ttl_ms: 60_000 });
  await page.goto(`${base}/?kind=deploy`);
  await Promise.all([
    page.waitForURL(/\/dashboard\/group\?key=/),
    page.click(`#runs-body tr[data-run-id="${key}-3"] a.group-link`),
  ]);
  check((await page.locator('#group-slots').textContent()) === '2 of 2 slots in use, 2 pending', 'the group shows its slots');
  const active = await page.locator('#group-active tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.runId));
  const pending = await page.locator('#group-pending tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.runId));
  check(JSON.stringify(active) === JSON.stringify([`${key}-1`, `${key}-2`]), `active runs (${active})`);
  check(JSON.stringify(pending) === JSON.stringify([`${key}-3`, `${key}-4`]), `pending runs in promotion order (${pending})`);
  await screenshot('group');
  await api('POST', `/v1/runs/${key}-1/finish`, { lease_epoch: 1, outcome: 'succeeded' });
  await page.reload();
  const promoted = await page.locator('#group-pending tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.runId));
  check(JSON.stringify(promoted) === JSON.stringify([`${key}-4`]), 'the oldest pending run was the one promoted');

  // At 1280 px the open run does not squeeze the list.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${base}/?kind=etl&run=${AFTER}`);
  await page.locator('#run-detail').waitFor();
  await screenshot('list-with-run-1280');
  const table = await page.locator('#runs').boundingBox();
  check(table.width >= 1200, `at 1280 px the list keeps the full width (${Math.round(table.width)} px)`);
  const narrowest = Math.min(...await page.locator('#runs thead th').evaluateAll(
    (cells) => cells.map((cell) => cell.getBoundingClientRect().width)));
  check(narrowest >= 60, `no column narrower than 60 px (${Math.round(narrowest)} px)`);
  const lines = await page.locator(`#runs-body tr[data-run-id="${AFTER}"] a.run-link`).first()
    .evaluate((link) => link.getClientRects().length);
  check(lines === 1, `a run id fits on one line (${lines} lines)`);

  // Cancel: first another page tries, by form and by fetch, from another
  // port (same site: the Strict cookie is sent) and from another site.
  const victim = `cancel-me-${SUFFIX}`;
  await api('POST', '/v1/runs', { id: victim, kind: 'etl' });
  await api('POST', '/v1/runs', { parent_id: victim, key: 'child', kind: 'etl' });
  await api('POST', '/v1/runs', { parent_id: `${victim}:child`, key: 'grandchild', kind: 'etl' });
  const attacker = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(`<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="f" method="POST" action="${base}/dashboard/cancel" target="sink">
  <input name="run" value="${victim}"><input name="cascade" value="true"><input name="csrf" value="guess">
</form>
<form id="g" method="POST" action="${base}/dashboard/cancel" target="sink">
  <input name="run" value="${victim}"><input name="cascade" value="true">
</form>
<script>
document.getElementById('f').submit();
setTimeout(() => document.getElementById('g').submit(), 300);
const body = new URLSearchParams({ run: '${victim}', cascade: 'true', csrf: 'guess' });
fetch('${base}/dashboard/cancel', { method: 'POST', mode: 'no-cors', credentials: 'include', body }).catch(() => {});
fetch('${base}/v1/runs/${victim}/cancel', { method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: { 'Content-Type': 'text/plain' }, body: '{"cascade":true}' }).catch(() => {});
fetch('${base}/v1/runs/${victim}/cancel', { method: 'POST', credentials: 'include',
  headers: { 'Content-Type': 'application/json' }, body: '{"cascade":true}' }).catch(() => {});
fetch('${base}/?run=${victim}', { credentials: 'include' }).then((r) => r.text())
  .then((t) => { window.stolen = t; }).catch(() => { window.stolen = 'blocked'; });
setTimeout(() => { window.done = true; }, 1500);
</script></body></html>`);
  });
  await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  const port = attacker.address().port;
  const evil = await context.newPage();
  try {
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      await evil.goto(origin + '/');
      await evil.waitForFunction(() => window.done === true, null, { timeout: 10_000 });
      check((await evil.evaluate(() => window.stolen)) === 'blocked', `${origin} cannot read the dashboard (or its CSRF token)`);
    }
  } finally {
    await evil.close();
    attacker.close();
  }
  for (const id of [victim, `${victim}:child`, `${victim}:child:grandchild`]) {
    const run = await api('GET', `/v1/runs/${id}`);
    check(run.state === 'queued' && run.version === 1, `no foreign page cancelled ${id} (${run.state}, version ${run.version})`);
  }

  // The dashboard's own button, with cascade.
  await page.goto(`${base}/?run=${victim}`);
  await page.fill('#cancel-form input[name="reason"]', 'stopped from the dashboard');
  await page.check('#cancel-form input[name="cascade"]');
  await Promise.all([
    page.waitForURL(`${base}/?run=${victim}`),
    page.click('#cancel-form button[type="submit"]'),
  ]);
  await page.locator('#detail-state', { hasText: 'cancelled' }).waitFor();
  ok('the dashboard\'s cancel button cancels the run');
  const grandchild = await api('GET', `/v1/runs/${victim}:child:grandchild`);
  check(grandchild.state === 'cancelled' && grandchild.error === `parent ${victim} cancelled: stopped from the dashboard`,
    `cascade cancelled every descendant (${grandchild.state}: ${grandchild.error})`);
  check((await page.locator('#detail-error').textContent()) === 'stopped from the dashboard', 'the reason is the run\'s error');
}

async function run() {
  // 1. Tokens exist: the sign-in form, nothing else.
  const first = await page.goto(base + '/');
  check(first.status() === 200, 'GET / answers 200');
  check(first.headers()['content-type'] === 'text/html; charset=utf-8', '/ is text/html');
  await page.locator('form[action="/dashboard/sign-in"] input#token').waitFor();
  check((await page.locator('#runs-body tr').count()) === 0, 'no runs before sign-in');

  // 2. A bad token: the form again, with an error, and no cookie.
  await page.fill('#token', 'rl_not_a_real_token');
  const [refused] = await Promise.all([
    page.waitForResponse((response) => response.url().endsWith('/dashboard/sign-in')),
    page.click('form[action="/dashboard/sign-in"] button[type="submit"]'),
  ]);
  check(refused.status() === 401, 'a bad token is refused with 401');
  await page.locator('#sign-in-error').waitFor();
  check((await tokenCookie()) === undefined, 'a bad token sets no cookie');

  // 2b. A tenant with no run: how to create the first one; the first run
  // then shows live and the hint goes.
  if (env.RUNLEDGER_EMPTY_TOKEN) {
    await signIn(env.RUNLEDGER_EMPTY_TOKEN);
    const hint = await page.locator('#empty-state').innerText();
    check(hint.includes(`runledger runs create --kind hello --server ${base}`), 'the empty state shows the CLI command');
    check(hint.includes(`curl -X POST ${base}/v1/runs`) && hint.includes('Authorization: Bearer'),
      'the empty state shows the curl command with a token');
    await page.locator('#live-status', { hasText: /^live$/ }).waitFor();
    await screenshot('empty');
    await api('POST', '/v1/runs', { id: 'first-run', kind: 'hello' }, env.RUNLEDGER_EMPTY_TOKEN);
    await page.locator('#runs-body tr[data-run-id="first-run"]').waitFor();
    await page.locator('#empty-state').waitFor({ state: 'detached' });
    ok('the first run shows live and the empty state goes');
    await signOut();
  }

  // 3. The real token: the dashboard with this tenant's runs only.
  await page.fill('#token', token);
  await Promise.all([
    page.waitForURL(base + '/'),
    page.click('form[action="/dashboard/sign-in"] button[type="submit"]'),
  ]);
  await page.locator('main#dashboard').waitFor();
  for (const id of ['before-1', 'before-2']) {
    await page.locator(`#runs-body tr[data-run-id="${id}"]`).waitFor();
  }
  ok('signed in: the runs created beforehand are listed');
  const text = await page.locator('body').innerText();
  check(!text.includes('other-tenant-run'), "another tenant's run is not shown");

  // 4. The cookie: HttpOnly, SameSite=Strict, Path=/, invisible to scripts.
  const cookie = await tokenCookie();
  check(cookie !== undefined, 'sign-in set the runledger_token cookie');
  check(cookie.value !== token && !cookie.value.includes(token.slice(3)) && /^[0-9a-f]{64}$/.test(cookie.value),
    'the cookie is a random session id, not the API token');
  check(cookie.httpOnly === true, 'the cookie is HttpOnly');
  check(cookie.sameSite === 'Strict', 'the cookie is SameSite=Strict');
  check(cookie.path === '/', 'the cookie has Path=/');
  check(!(await page.evaluate(() => document.cookie)).includes('runledger_token'),
    'page scripts cannot read the session cookie');

  // 5. Live: the stream is open; a marker shows the page is never reloaded.
  await page.locator('#live-status', { hasText: /^live$/ }).waitFor();
  ok('the live stream is connected');
  await page.evaluate(() => { window.notReloaded = true; });
  const queuedBefore = Number(await page.locator('#count-queued').textContent());

  if (otherToken) {
    await api('POST', '/v1/runs', { id: OTHER_LIVE, kind: 'etl' }, otherToken);
  }
  await api('POST', '/v1/runs', { id: AFTER, kind: 'etl', attributes: { note: '<b>bold?</b>' } });
  await page.locator(`#runs-body tr[data-run-id="${AFTER}"]`).waitFor();
  ok('a run created through the API appears without a reload');
  check((await stateOf(AFTER)) === 'queued', 'the new run shows as queued');
  check((await page.locator('#runs-body tr').first().getAttribute('data-run-id')) === AFTER,
    'the new run is at the top: newest first');
  const created = await page.locator(`#runs-body tr[data-run-id="${AFTER}"] td.created`).innerText();
  check(/UTC/.test(created) && /(ago|just now)/.test(created), `created time shows its zone and how long ago (${created})`);
  await page.waitForFunction(
    (expected) => Number(document.getElementById('count-queued').textContent) === expected,
    queuedBefore + 1,
  );
  ok('the queued count went up');

  await api('POST', `/v1/runs/${AFTER}/start`, { owner: 'worker-1', lease_ttl_ms: 60_000 });
  await page.locator(`#runs-body tr[data-run-id="${AFTER}"] td.state`, { hasText: 'running' }).waitFor();
  ok('a state change shows without a reload');
  check((await page.locator(`#runs-body tr[data-run-id="${AFTER}"] td.lease`).textContent())
    === 'worker-1 \u00b7 epoch 1', 'the lease owner and epoch show');
  await page.waitForFunction((id) => {
    const cell = document.querySelector(`#runs-body tr[data-run-id="${id}"] td.duration`);
    return cell && /^\d+(ms|s)$/.test(cell.textContent) && cell.dataset.runningSince;
  }, AFTER);
  ok('a running run shows how long it has run');

  // 6. Open the run: its fields and events; then its event list grows.
  await page.click(`#runs-body tr[data-run-id="${AFTER}"] a.run-link`);
  await page.locator(`#run-detail[data-run-id="${AFTER}"]`).waitFor();
  check(new URL(page.url()).searchParams.get('run') === AFTER, 'the URL names the open run');
  await page.locator('#events-body tr', { hasText: 'started' }).waitFor();
  check((await page.locator('#events-body tr').count()) === 2, 'the open run lists its 2 events');
  check((await page.locator('#detail-attributes').textContent()).includes('<b>bold?</b>'),
    'attributes show as text, not markup');
  check((await page.locator('#run-detail b').count()) === 0, 'no markup came from run data');

  await api('POST', `/v1/runs/${AFTER}/events`, { type: 'progress', data: { pct: 50 }, lease_epoch: 1 });
  await page.locator('#events-body tr', { hasText: 'progress' }).waitFor();
  ok("an appended event of a new type joins the open run's list");
  const data = await page.locator('#events-body tr', { hasText: 'progress' }).locator('pre.event-data').textContent();
  check(data === '{\n  "pct": 50\n}', `event data is pretty-printed (${JSON.stringify(data)})`);

  // 6b. Children as a tree: counts per state, live, and expandable.
  // (The grandchild first: the pane redraws when the open run's counts
  // change, and the last change must find c1 with its child.)
  await api('POST', '/v1/runs', { parent_id: AFTER, key: 'c1', kind: 'step' });
  await api('POST', '/v1/runs', { parent_id: `${AFTER}:c1`, key: 'g1', kind: 'substep' });
  await api('POST', '/v1/runs', { parent_id: AFTER, key: 'c2', kind: 'step', start: { owner: 'w', lease_ttl_ms: 60_000 } });
  await page.locator('#children-counts', { hasText: '2 (1 queued, 1 running)' }).waitFor();
  ok('the open run\'s children counts per state update live');
  const expectedTop = [`${AFTER}:c2`, `${AFTER}:c1:g1`, `${AFTER}:c1`, AFTER];
  await page.waitForFunction(() => document.querySelectorAll('#runs-body tr').length >= 6);
  const top = await page.locator('#runs-body tr').evaluateAll((rows) => rows.slice(0, 4).map((row) => row.dataset.runId));
  check(JSON.stringify(top) === JSON.stringify(expectedTop), `runs added live stay newest first (${top})`);
  const branch = page.locator(`#detail-children details.subtree[data-run-id="${AFTER}:c1"]`);
  await branch.locator('summary').click();
  await branch.locator(`li[data-run-id="${AFTER}:c1:g1"]`).waitFor();
  ok('a child expands to show its own children');
  check((await page.locator(`#detail-children li[data-run-id="${AFTER}:c2"] .leaf .state`).textContent()) === 'running',
    'a leaf child shows its state');
  await screenshot('run-with-tree');
  await api('POST', `/v1/runs/${AFTER}/finish`, { lease_epoch: 1, outcome: 'succeeded', result: { rows: 42 } });
  await page.locator('#events-body tr', { hasText: 'succeeded' }).waitFor();
  await page.locator('#detail-state', { hasText: 'succeeded' }).waitFor();
  await page.locator(`#runs-body tr[data-run-id="${AFTER}"] td.state`, { hasText: 'succeeded' }).waitFor();
  const seqs = await page.locator('#events-body tr').evaluateAll(
    (rows) => rows.map((row) => Number(row.dataset.seq)));
  check(JSON.stringify(seqs) === JSON.stringify([1, 2, 3, 4]), `events in seq order once each (${seqs})`);
  await page.locator('#detail-result', { hasText: '42' }).waitFor();
  ok('the result shows');
  await page.locator('#detail-duration', { hasText: /^\d+(ms|s)$/ }).waitFor();
  ok('the finished run shows its duration');
  check((await page.locator('#cancel-form').count()) === 0, 'a finished run offers no cancel');
  check(await page.evaluate(() => window.notReloaded === true), 'the page was never reloaded');

  // 7. Another tenant's runs: not listed live, not openable.
  const text2 = await page.locator('body').innerText();
  check(!text2.includes(OTHER_LIVE) && !text2.includes('other-tenant-run'),
    "another tenant's runs never show, live or not");
  const other = await page.goto(base + '/?run=other-tenant-run');
  check(other.status() === 404, "opening another tenant's run is 404");
  await page.locator('#run-detail .error', { hasText: 'no run other-tenant-run' }).waitFor();
  ok("another tenant's run reads as missing");

  // 8. Readable without a click: the served pane shows the finished run.
  await page.goto(`${base}/?run=${AFTER}`);
  check((await page.locator('#events-body tr').count()) === 4, 'a reload shows the same 4 events');

  // 9. The filter form works without script help: only succeeded runs.
  await page.goto(base + '/');
  await page.selectOption('form.filters select[name="state"]', 'succeeded');
  await Promise.all([
    page.waitForURL(/state=succeeded/),
    page.click('form.filters button[type="submit"]'),
  ]);
  const states = await page.locator('#runs-body tr td.state').allTextContents();
  check(states.length === 1 && states[0] === 'succeeded', `the state filter lists only succeeded runs (${states})`);
  await page.locator(`#runs-body tr[data-run-id="${AFTER}"]`).waitFor();

  await console_();

  // 10. Sign out: the session ends on the server, so a copy of the cookie
  // taken before stops working; the cookie is gone and the form is back.
  const copied = (await tokenCookie()).value;
  check((await withCookie('/v1/runs', copied)).status === 200, 'a copy of the cookie works while signed in');
  await page.goto(base + '/');
  await signOut();
  check((await tokenCookie()) === undefined, 'sign-out cleared the cookie');
  check((await withCookie('/v1/runs', copied)).status === 401, 'after sign-out the copied cookie is refused by the API');
  check((await withCookie('/', copied)).text.includes('session has ended'),
    'after sign-out the copied cookie gets the sign-in form');

  // 11. A revoked token ends its session.
  if (env.RUNLEDGER_REVOKE_TOKEN) {
    await signIn(env.RUNLEDGER_REVOKE_TOKEN);
    const doomed = (await tokenCookie()).value;
    check((await withCookie('/v1/runs', doomed)).status === 200, 'the second token signs in');
    // Off the live page first: its stream is closed on revocation, and a
    // refused reconnect would count as a page error.
    await page.goto('about:blank');
    execFileSync(env.RUNLEDGER_BIN, ['tenant', 'token', 'revoke', env.RUNLEDGER_REVOKE_ID, '--db', env.RUNLEDGER_DB],
      { stdio: 'pipe' });
    const deadline = Date.now() + 5000;
    let status = 200;
    while (status !== 401 && Date.now() < deadline) {
      status = (await withCookie('/v1/runs', doomed)).status;
      if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    check(status === 401, 'after revoking its token the session is refused by the API');
    await page.goto(base + '/');
    await page.locator('#sign-in-error', { hasText: 'session has ended' }).waitFor();
    ok('after revoking its token the dashboard asks to sign in again');
  }

  check(pageErrors.length === 0, `no script or console errors (${pageErrors.join('; ')})`);
}

let failed = false;
try {
  await run();
  console.log(`${passed} passed, 0 failed`);
} catch (error) {
  failed = true;
  console.error(`not ok - ${error.stack || error}`);
  for (const message of pageErrors) console.error(message);
  try {
    const shot = join(tmpdir(), `runledger-dashboard-failure-${process.pid}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.error(`screenshot: ${shot}`);
    console.error(`page text:\n${await page.locator('body').innerText()}`);
  } catch (_) { /* the page is gone */ }
  console.log(`${passed} passed, 1 failed`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
