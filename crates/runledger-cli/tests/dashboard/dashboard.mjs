// Drives the runledger dashboard in real Chromium, as a person would.
//
//   node dashboard.mjs <base-url> <token> [<other-tenant-token>]
//
// Expects (crates/runledger-cli/tests/dashboard.rs sets this up): a server
// at <base-url> with tokens, runs `before-1` and `before-2` in the tenant of
// <token>, and a run `other-tenant-run` in another tenant. Creates, starts,
// appends to and finishes run `after-<time>` through the API while the page is
// open, and checks each change shows without a reload. Exits 0 when every
// check passed, 1 at the first failure (with the page's text and a
// screenshot path), 2 on bad usage.
//
// Chromium is Debian's (/usr/bin/chromium, or $RUNLEDGER_CHROMIUM): no
// browser download. Each run uses a fresh profile directory.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
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

async function stateOf(id) {
  return page.locator(`#runs-body tr[data-run-id="${id}"] td.state`).textContent();
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
  check(cookie !== undefined && cookie.value === token, 'sign-in set the runledger_token cookie');
  check(cookie.httpOnly === true, 'the cookie is HttpOnly');
  check(cookie.sameSite === 'Strict', 'the cookie is SameSite=Strict');
  check(cookie.path === '/', 'the cookie has Path=/');
  check(!(await page.evaluate(() => document.cookie)).includes('runledger_token'),
    'page scripts cannot read the token');

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
  await api('POST', `/v1/runs/${AFTER}/finish`, { lease_epoch: 1, outcome: 'succeeded', result: { rows: 42 } });
  await page.locator('#events-body tr', { hasText: 'succeeded' }).waitFor();
  await page.locator('#detail-state', { hasText: 'succeeded' }).waitFor();
  await page.locator(`#runs-body tr[data-run-id="${AFTER}"] td.state`, { hasText: 'succeeded' }).waitFor();
  const seqs = await page.locator('#events-body tr').evaluateAll(
    (rows) => rows.map((row) => Number(row.dataset.seq)));
  check(JSON.stringify(seqs) === JSON.stringify([1, 2, 3, 4]), `events in seq order once each (${seqs})`);
  check((await page.locator('#detail-result').textContent()).includes('42'), 'the result shows');
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

  // 10. Sign out: the cookie is gone and the form is back.
  await Promise.all([
    page.waitForURL(base + '/'),
    page.click('form.sign-out button[type="submit"]'),
  ]);
  await page.locator('input#token').waitFor();
  check((await tokenCookie()) === undefined, 'sign-out cleared the cookie');

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
