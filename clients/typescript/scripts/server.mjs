// Real `runledger serve` processes for the type generator and the tests:
// the binary built by `cargo build -p runledger-cli` (RUNLEDGER_BIN, else
// $CARGO_TARGET_DIR/debug/runledger, else the repository's
// target/debug/runledger), a fresh database each (a SQLite file in a temp
// folder, or a new PostgreSQL database), restartable on the same port.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');

/** Seconds a server may take to print its address. */
const START_TIMEOUT_MS = 60_000;

/** The `runledger` binary the tests run; fails (never skips) without one. */
export function runledgerBinary() {
  const candidates = [
    process.env.RUNLEDGER_BIN,
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug', 'runledger'),
    join(repo, 'target', 'debug', 'runledger'),
  ].filter((path) => typeof path === 'string' && path !== '');
  for (const path of candidates) {
    if (existsSync(/** @type {string} */ (path))) return /** @type {string} */ (path);
  }
  throw new Error(
    `no runledger binary (looked at ${candidates.join(', ')}): run \`cargo build -p runledger-cli\` or set RUNLEDGER_BIN`,
  );
}

/** A fresh temp folder. */
export function freshDir(name = 'rlts') {
  return mkdtempSync(join(tmpdir(), `${name}-`));
}

/** The URL of a new, empty SQLite database in `dir`. */
export function sqliteUrl(dir) {
  return `sqlite://${join(dir, `${randomUUID().slice(0, 8)}.db`)}`;
}

/** PostgreSQL the tests create databases in (RUNLEDGER_TEST_PG). */
export const PG_ADMIN_URL = process.env.RUNLEDGER_TEST_PG || 'postgres://postgres@127.0.0.1:5432/postgres';

/** The URL of a new, empty PostgreSQL database (dropped by `dropPostgres`). */
export function postgresUrl() {
  const name = `rlts_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  execFileSync('psql', [PG_ADMIN_URL, '-v', 'ON_ERROR_STOP=1', '-qAtc', `CREATE DATABASE "${name}"`]);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops a database `postgresUrl` made. */
export function dropPostgres(url) {
  const name = new URL(url).pathname.slice(1);
  execFileSync('psql', [PG_ADMIN_URL, '-qAtc', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`]);
}

/** Creates tenant `name` with `runledger tenant add` and returns its token. */
export function addTenant(dbUrl, name) {
  const out = execFileSync(runledgerBinary(), ['tenant', 'add', name, '--db', dbUrl, '--json'], {
    env: { ...process.env, RUNLEDGER_DB: '' },
  });
  return String(JSON.parse(out.toString()).token);
}

/**
 * The command prefix that runs a server whose `dir` is a tmpfs of `bytes`
 * (a disk that fills up: `insufficient_storage`), mounted in a private
 * user and mount namespace so that no privilege is needed and nothing
 * outside the server sees it.
 * @param {string} dir
 * @param {number} bytes
 */
export function onTinyDisk(dir, bytes) {
  return [
    'unshare', '--map-root-user', '--mount', '--', 'sh', '-c',
    'mount -t tmpfs -o size="$1" runledger-tiny-disk "$2" && shift 2 && exec "$@"',
    'sh', String(bytes), dir,
  ];
}

/** One `runledger serve` on 127.0.0.1, restartable on its port. */
export class Server {
  /**
   * @param {string} dbUrl
   * @param {string} logDir
   * @param {string[]} [extraArgs]
   * @param {{ prefix?: string[] }} [options] `prefix`: a command the server runs under (e.g. {@link onTinyDisk})
   */
  constructor(dbUrl, logDir, extraArgs = [], { prefix = [] } = {}) {
    this.dbUrl = dbUrl;
    this.logDir = logDir;
    this.extraArgs = extraArgs;
    this.prefix = prefix;
    /** @type {number} */
    this.port = 0;
    this.url = '';
    /** @type {import('node:child_process').ChildProcess | null} */
    this.child = null;
    this.logPath = join(logDir, `serve-${randomUUID().slice(0, 8)}.log`);
  }

  /** Starts it (on its old port after a stop) and waits for its address. */
  async start() {
    if (this.child) throw new Error('already running');
    const listen = `127.0.0.1:${this.port}`;
    const log = openSync(this.logPath, 'a');
    const command = [...this.prefix, runledgerBinary(), 'serve', '--db', this.dbUrl, '--listen', listen, ...this.extraArgs];
    const child = spawn(
      /** @type {string} */ (command[0]),
      command.slice(1),
      {
        stdio: ['ignore', 'pipe', log],
        env: { ...process.env, RUST_LOG: 'warn', RUNLEDGER_DB: '', RUNLEDGER_LISTEN: '' },
      },
    );
    closeSync(log);
    this.child = child;
    const address = await new Promise((resolveAddress, reject) => {
      let buffered = '';
      const timer = setTimeout(() => reject(new Error(`runledger serve printed no address: ${this.log()}`)), START_TIMEOUT_MS);
      const stdout = /** @type {import('node:stream').Readable} */ (child.stdout);
      stdout.setEncoding('utf8');
      stdout.on('data', (chunk) => {
        buffered += chunk;
        const match = /listening on (\S+)/.exec(buffered);
        if (match) {
          clearTimeout(timer);
          resolveAddress(match[1]);
          buffered = '';
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`runledger serve exited (${code}): ${this.log()}`));
      });
    });
    this.url = String(address).replace(/\/$/, '');
    this.port = Number(new URL(this.url).port);
    return this;
  }

  /** SIGTERM (graceful) or SIGKILL, and waits for the exit. */
  async stop({ kill = false } = {}) {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill(kill ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }

  /** Stops and starts again on the same port and database. */
  async restart({ kill = false } = {}) {
    await this.stop({ kill });
    // The port may take a moment to be free again after a kill.
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.start();
      } catch (error) {
        this.child = null;
        if (attempt >= 20) throw error;
        await new Promise((done) => setTimeout(done, 100));
      }
    }
  }

  /** What the server logged. */
  log() {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }
}
