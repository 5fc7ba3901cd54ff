// Shared by the tests: real servers (scripts/server.mjs), unique ids, and
// polling with a deadline.

import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Server, freshDir, sqliteUrl, postgresUrl, dropPostgres, addTenant, onTinyDisk } from '../scripts/server.mjs';
import { WebSocket as WsWebSocket } from 'ws';
import { Client } from '../dist/index.js';

export { Server, freshDir, sqliteUrl, postgresUrl, dropPostgres, addTenant };

/** Backends the operation tests run on: SQLite always, PostgreSQL unless RUNLEDGER_TEST_NO_PG=1. */
export const BACKENDS = process.env.RUNLEDGER_TEST_NO_PG === '1' ? ['sqlite'] : ['sqlite', 'postgres'];

/**
 * The WebSocket the tests' clients use: the global one where the runtime
 * has it (Node ≥ 22), else the `ws` package's, passed as the `WebSocket`
 * option — the path a Node 20 app takes (package.json runs the tests
 * without `--experimental-websocket`).
 * @type {import('../dist/index.js').WebSocketConstructor}
 */
export const TestWebSocket = globalThis.WebSocket ?? WsWebSocket;

/** A logger that keeps quiet. */
export const quiet = { info() {}, warn() {}, error() {} };

/** Unique names within a test: `ids('run')` → `run-<8 hex>`. */
export function idMaker() {
  const suffix = randomUUID().slice(0, 8);
  return (/** @type {string} */ name) => `${name}-${suffix}`;
}

/**
 * Starts a server on a fresh database of `backend`; `tokens` tenants get
 * tokens (returned by name). `tinyDiskBytes`: SQLite on a disk of that
 * size, which fills up (no tenants then). Call `done()` at the end.
 * @param {{ backend?: string, extraArgs?: string[], tenants?: string[], tinyDiskBytes?: number }} [options]
 */
export async function startServer({ backend = 'sqlite', extraArgs = [], tenants = [], tinyDiskBytes } = {}) {
  const dir = freshDir();
  const disk = join(dir, 'disk');
  if (tinyDiskBytes !== undefined) mkdirSync(disk);
  const dbUrl = backend === 'postgres' ? postgresUrl() : sqliteUrl(tinyDiskBytes === undefined ? dir : disk);
  /** @type {Record<string, string>} */
  const tokens = {};
  for (const tenant of tenants) tokens[tenant] = addTenant(dbUrl, tenant);
  const prefix = tinyDiskBytes === undefined ? [] : onTinyDisk(disk, tinyDiskBytes);
  const server = await new Server(dbUrl, dir, extraArgs, { prefix }).start();
  return {
    server,
    tokens,
    dbUrl,
    /** @param {import('../dist/index.js').ClientOptions} [options] */
    client: (options = {}) =>
      new Client({ baseUrl: server.url, retry: { backoffInitialMs: 20, backoffMaxMs: 200 }, WebSocket: TestWebSocket, ...options }),
    async done() {
      await server.stop({ kill: true });
      if (backend === 'postgres') dropPostgres(dbUrl);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls `check` until it returns a truthy value, failing after `deadlineMs`.
 * @template T
 * @param {() => T | Promise<T>} check
 * @param {string} what
 * @param {number} [deadlineMs]
 * @returns {Promise<T>}
 */
export async function eventually(check, what, deadlineMs = 15_000) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

/**
 * Reads a gauge or counter from /metrics (0 when absent).
 * @param {string} baseUrl
 * @param {string} sample the sample's name with labels, e.g. `runledger_open_websockets`
 * @param {string} [metricsToken]
 */
export async function metric(baseUrl, sample, metricsToken) {
  /** @type {Record<string, string>} */
  const headers = metricsToken ? { authorization: `Bearer ${metricsToken}` } : {};
  const text = await (await fetch(`${baseUrl}/metrics`, { headers })).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}
