// A web page the operator happens to have open tries to act with the
// operator's dashboard cookie (SPEC §4 "Browsers"), in real Chromium.
//
//   node cross_site.mjs <base-url> <token> <run-id> <open-base-url> <open-run-id>
//
// <base-url> is a server with tokens where <token> signs in to the
// dashboard; <open-base-url> is a server with no token at all (loopback
// default). <run-id> and <open-run-id> are queued runs on each. The script
// signs in, then serves an attacker page from another port of the same
// host (same site: the SameSite=Strict cookie IS sent) and from
// `localhost` (another site), which, against both servers:
//   - auto-submits a form POST to /v1/runs/<id>/cancel (a form-encoded body)
//     and the dashboard's own cancel form (/dashboard/cancel, a guessed CSRF
//     token),
//   - sends fetch POSTs to /cancel in no-cors mode (text/plain, no body),
//   - opens /v1/ws and subscribes to the whole tenant,
//   - reads GET /v1/runs with credentials.
// It prints what the page could do; the Rust test checks the runs are still
// queued afterwards. Finally the dashboard itself still works: its live
// stream connects. Exits 0 when every check passed, 1 otherwise.

import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, token, runId, openBase, openRunId] = process.argv.slice(2);
if (!base || !token || !runId || !openBase || !openRunId) {
  console.error('usage: node cross_site.mjs <base-url> <token> <run-id> <open-base-url> <open-run-id>');
  process.exit(2);
}
const executablePath = process.env.RUNLEDGER_CHROMIUM || '/usr/bin/chromium';

let passed = 0;
let failed = 0;
function check(condition, what) {
  if (condition) {
    passed += 1;
    console.log(`ok - ${what}`);
  } else {
    failed += 1;
    console.log(`not ok - ${what}`);
  }
}

/// The attacker's page: every attempt against one target, results in window.results.
function attackerPage(target, id) {
  const ws = target.replace(/^http/, 'ws') + '/v1/ws';
  return `<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" action="${target}/v1/runs/${id}/cancel" target="sink"
      enctype="application/x-www-form-urlencoded"></form>
<form id="d" method="POST" action="${target}/dashboard/cancel" target="sink"
      enctype="application/x-www-form-urlencoded">
  <input name="run" value="${id}"><input name="cascade" value="true"><input name="csrf" value="guess">
</form>
<script>
window.results = { wsOpened: false, wsEvents: 0, wsMessages: [], readRuns: null, done: false };
document.getElementById('f').submit();
setTimeout(() => document.getElementById('d').submit(), 300);
fetch('${target}/v1/runs/${id}/cancel', { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => {});
fetch('${target}/v1/runs/${id}/cancel', { method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: { 'Content-Type': 'text/plain' }, body: '{"reason":"csrf"}' }).catch(() => {});
fetch('${target}/v1/runs', { credentials: 'include' })
  .then((r) => r.text()).then((t) => { window.results.readRuns = t; })
  .catch(() => { window.results.readRuns = 'blocked'; });
try {
  const socket = new WebSocket('${ws}');
  socket.onopen = () => {
    window.results.wsOpened = true;
    socket.send(JSON.stringify({ op: 'subscribe', run_id: null, after: 0 }));
  };
  socket.onmessage = (m) => {
    window.results.wsMessages.push(m.data);
    if (String(m.data).includes('"op":"event"')) window.results.wsEvents += 1;
  };
} catch (e) { window.results.wsError = String(e); }
setTimeout(() => { window.results.done = true; }, 2500);
</script></body></html>`;
}

const pages = new Map();
const attacker = createServer((request, response) => {
  const html = pages.get(request.url);
  response.writeHead(html ? 200 : 404, { 'content-type': 'text/html' });
  response.end(html || 'no such page');
});
await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
const port = attacker.address().port;
pages.set('/signed-in', attackerPage(base, runId));
pages.set('/open', attackerPage(openBase, openRunId));

const profile = mkdtempSync(join(tmpdir(), 'runledger-cross-site-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
  ],
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(20_000);

async function attack(url) {
  await page.goto(url);
  await page.waitForFunction(() => window.results && window.results.done, null, { timeout: 10_000 });
  return page.evaluate(() => window.results);
}

try {
  // The operator signs in to the dashboard: the cookie now exists.
  await page.goto(base + '/');
  await page.fill('#token', token);
  await Promise.all([
    page.waitForURL(base + '/'),
    page.click('form[action="/dashboard/sign-in"] button[type="submit"]'),
  ]);
  await page.locator('main#dashboard').waitFor();
  check(true, 'the operator is signed in');

  const sameSite = `http://127.0.0.1:${port}`;
  const crossSite = `http://localhost:${port}`;
  for (const [origin, label] of [[sameSite, 'same-site page on another port'], [crossSite, 'cross-site page']]) {
    for (const [path, server] of [['/signed-in', 'the server with tokens'], ['/open', 'the server without tokens']]) {
      const results = await attack(origin + path);
      check(results.wsEvents === 0, `${label} reads no event of ${server} over a WebSocket`);
      check(!results.wsOpened, `${label} cannot open a WebSocket to ${server}`);
      check(results.readRuns === 'blocked', `${label} cannot read ${server}'s runs`);
    }
  }

  // The dashboard itself still works: its live stream connects.
  await page.goto(base + '/');
  await page.locator('main#dashboard').waitFor();
  await page.locator('#live-status', { hasText: /^live$/ }).waitFor();
  check(true, "the dashboard's own live stream still connects");
} catch (error) {
  failed += 1;
  console.log(`not ok - ${error.message}`);
} finally {
  await context.close();
  attacker.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
