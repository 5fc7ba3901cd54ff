// One logical call over fetch: the headers every attempt carries (bearer
// token, one Idempotency-Key per POST call, If-Match), the retries, and the
// reading of the answer (a problem becomes a `RunledgerProblem`).

import { RunledgerProblem, TransportError } from './problem.js';
import { type RetryPolicy, isRetryableAnswer, retryDelayMs } from './retry.js';

/** The server `runledger serve` starts by default. */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:7878';
/** Milliseconds a request may take before it counts as a connection failure. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** What one call sends. */
export interface Call {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  ifMatch?: number | undefined;
  idempotencyKey?: string | undefined;
  /** Added to the timeout (a claim's long poll). */
  extraTimeoutMs?: number;
  signal?: AbortSignal | undefined;
}

/** A successful answer. */
export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** The environment, in Node (`RUNLEDGER_SERVER`, `RUNLEDGER_TOKEN`, as the CLI reads them); nothing in a browser. */
export function environment(name: string): string | undefined {
  const process = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = process?.env?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/** A fresh UUID (v4), for Idempotency-Keys. */
export function newKey(): string {
  return globalThis.crypto.randomUUID();
}

/** Sleeps `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Sends calls to one server. */
export class Transport {
  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
    readonly retry: RetryPolicy,
    readonly timeoutMs: number,
    private readonly fetchImpl: typeof fetch,
  ) {}

  /** A bare fetch through this client's `fetch` (the SSE reader's). */
  fetch(url: string, init: RequestInit): Promise<Response> {
    return this.fetchImpl(url, init);
  }

  /** The URL of `path` with `query` (only the values given). */
  url(path: string, query?: Record<string, string | undefined>): string {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    return url.toString();
  }

  /** Headers every request carries. */
  baseHeaders(): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    return headers;
  }

  /** Sends `call`, retrying what may succeed later; resolves with a 2xx answer or throws. */
  async send(call: Call): Promise<Answer> {
    const key = call.idempotencyKey ?? (call.method === 'POST' ? newKey() : undefined);
    const headers = this.baseHeaders();
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    if (key !== undefined) headers['idempotency-key'] = key;
    if (call.ifMatch !== undefined) headers['if-match'] = `"${call.ifMatch}"`;
    const url = this.url(call.path, call.query);
    const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
    for (let attempt = 1; ; attempt += 1) {
      const timeout = AbortSignal.timeout(this.timeoutMs + (call.extraTimeoutMs ?? 0));
      const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
      let response: Response;
      try {
        const init: RequestInit = { method: call.method, headers, signal };
        if (payload !== undefined) init.body = payload;
        response = await this.fetchImpl(url, init);
      } catch (error) {
        if (call.signal?.aborted) throw call.signal.reason;
        const delay = retryDelayMs(this.retry, attempt, null);
        if (delay === undefined) {
          throw new TransportError(`${call.method} ${call.path}: ${describe(error)}`, { cause: error });
        }
        await sleep(delay, call.signal);
        continue;
      }
      const body = await readBody(response);
      if (response.status < 400) return { status: response.status, headers: response.headers, body };
      const problem = new RunledgerProblem(response.status, body);
      if (isRetryableAnswer(response.status, problem.code)) {
        const delay = retryDelayMs(this.retry, attempt, response.headers.get('retry-after'));
        if (delay !== undefined) {
          await sleep(delay, call.signal);
          continue;
        }
      }
      throw problem;
    }
  }
}

/** The answer's JSON, `undefined` when empty, the text when it is not JSON. */
async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
