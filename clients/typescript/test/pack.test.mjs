// `npm pack` output installs into an empty folder and its example runs
// against a local server (issue #15 item 6).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, freshDir } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');

test('npm pack installs into an empty folder and its example runs', async () => {
  const dir = freshDir('rlts-pack');
  const env = await startServer();
  try {
    // --ignore-scripts: `prepack` would rebuild dist/ under the test files
    // running beside this one (they import it); ci.sh built it already.
    const packed = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: packageDir, encoding: 'utf8' }).trim().split('\n').at(-1);
    const tarball = join(dir, /** @type {string} */ (packed));
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // `ws` as a Node 20 app adds it: packed from the copy `npm ci` put in
    // node_modules, so the install needs neither the registry nor a warm
    // npm cache.
    const wsPacked = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir, join(packageDir, 'node_modules', 'ws')], { cwd: packageDir, encoding: 'utf8' }).trim().split('\n').at(-1);
    const wsTarball = join(dir, /** @type {string} */ (wsPacked));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball, wsTarball], { cwd: app, stdio: 'pipe' });
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules', '@runledger', 'client', 'package.json'), 'utf8'));
    assert.equal(manifest.dependencies, undefined, 'the package has no runtime dependency');
    const installed = join(app, 'node_modules', '@runledger', 'client');
    const files = readdirSync(installed);
    assert.ok(files.includes('dist') && files.includes('examples') && files.includes('README.md'), files.join(', '));
    assert.ok(!files.includes('src') && !files.includes('test'), 'only what a user needs is shipped');
    const output = execFileSync(
      process.execPath,
      [join(installed, 'examples', 'example.mjs')],
      { cwd: app, encoding: 'utf8', env: { ...process.env, RUNLEDGER_SERVER: env.server.url, RUNLEDGER_TOKEN: '' }, timeout: 60_000 },
    );
    assert.match(output, /queued new/);
    assert.match(output, /3 progress \{"part":1\}/);
    assert.match(output, /4 succeeded/);
    assert.match(output, /result \{"rows":42\}/);
  } finally {
    await env.done();
    rmSync(dir, { recursive: true, force: true });
  }
});
