// `Client`: every operation of SPEC §4 over fetch, the SSE follows, and the
// one shared WebSocket (`subscribe`, `connect`, `onChange`). The method
// names mirror the Python client's (`create`, `list_runs` → `listRuns`, …);
// request bodies are the API's JSON (snake_case, typed from the OpenAPI
// document), options that become headers are camelCase.

import { onChange, type ChangeFeed, type ChangeFilter, type OnChangeOptions } from './changes.js';
import { runPath, parseEvent } from './events.js';
import { RunledgerProblem } from './problem.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { LiveSocket, type SubscribeOptions, type Subscription, type WebSocketConstructor } from './socket.js';
import { follow, type FollowOptions } from './sse.js';
import { DEFAULT_BASE_URL, DEFAULT_TIMEOUT_MS, Transport, environment } from './transport.js';
import type {
  AppendEventRequest,
  Appended,
  CancelRequest,
  ClaimRequest,
  CreateRunRequest,
  Created,
  FinishRequest,
  HeartbeatRequest,
  LeaseRequest,
  ListRunsQuery,
  ProblemBody,
  Run,
  RunEvent,
  RunPage,
} from './types.js';

/** Milliseconds added to the timeout of a claim's long poll. */
const CLAIM_TIMEOUT_MARGIN_MS = 10_000;

/** How a client is made; every field is optional. */
export interface ClientOptions {
  /** The server; default `RUNLEDGER_SERVER` (Node), else `http://127.0.0.1:7878`. */
  baseUrl?: string;
  /** The API token; default `RUNLEDGER_TOKEN` (Node), else none (a server without tokens). */
  token?: string;
  /** Retries of every call (POSTs reuse one Idempotency-Key). */
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout (default 30,000 ms). */
  timeoutMs?: number;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
  /** The WebSocket constructor (default the global one; on Node 20 pass `ws`'s or run with `--experimental-websocket`). */
  WebSocket?: WebSocketConstructor;
  /** Told about live-socket trouble that belongs to no subscription (a failed connect, an unreadable message). */
  onError?: (error: unknown) => void;
}

/** Options of a call that changes a run. */
export interface WriteOptions {
  /** `If-Match: "<version>"`: refused with `412 version_conflict` unless the run is at this version. */
  ifMatch?: number;
  /** The Idempotency-Key of every attempt (default: a fresh UUID per call). */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** One item of a batch create's answer: the run (`200`/`201`) or the item's problem. */
export type BatchItem = { status: number; run: Run; problem?: undefined } | { status: number; run?: undefined; problem: RunledgerProblem };

/** A client of one runledger server. */
export class Client {
  private readonly transport: Transport;
  private readonly live: LiveSocket;

  constructor(options: ClientOptions = {}) {
    const baseUrl = (options.baseUrl ?? environment('RUNLEDGER_SERVER') ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    const token = options.token ?? environment('RUNLEDGER_TOKEN');
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.transport = new Transport(
      baseUrl,
      token,
      { ...DEFAULT_RETRY, ...options.retry },
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      fetchImpl,
    );
    const onError = options.onError ?? (() => undefined);
    this.live = new LiveSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/ws`, token, options.WebSocket, onError);
  }

  /** The server's base URL. */
  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /** WebSockets this client has opened so far (one, plus one per reconnect). */
  get socketsOpened(): number {
    return this.live.socketsOpened;
  }

  // -- runs ------------------------------------------------------------------

  /** `POST /v1/runs`: `created` is true for `201`, false for an identical existing run (`200`). */
  async create(request: CreateRunRequest, options: WriteOptions = {}): Promise<Created> {
    const answer = await this.transport.send({ method: 'POST', path: '/v1/runs', body: request, ...write(options) });
    return { run: answer.body as Run, created: answer.status === 201 };
  }

  /**
   * `POST /v1/runs/batch`: one item per request, in order. With `atomic`,
   * every item is created or none, and a refusal throws the first refused
   * item's problem (with `index`).
   */
  async createBatch(
    runs: readonly CreateRunRequest[],
    options: WriteOptions & { atomic?: boolean } = {},
  ): Promise<BatchItem[]> {
    const body: { runs: readonly CreateRunRequest[]; atomic?: boolean } = { runs };
    if (options.atomic) body.atomic = true;
    const answer = await this.transport.send({ method: 'POST', path: '/v1/runs/batch', body, ...write(options) });
    const results = (answer.body as { results: Array<{ status: number; run?: Run; problem?: ProblemBody }> }).results;
    return results.map((item) =>
      item.run !== undefined && item.run !== null
        ? { status: item.status, run: item.run }
        : { status: item.status, problem: new RunledgerProblem(item.status, item.problem) },
    );
  }

  /** `GET /v1/runs/{id}`. */
  async get(runId: string, options: { signal?: AbortSignal } = {}): Promise<Run> {
    return (await this.transport.send({ method: 'GET', path: runPath(runId), signal: options.signal })).body as Run;
  }

  /** `GET /v1/runs`: one page. */
  async listRuns(query: ListRunsQuery = {}, options: { signal?: AbortSignal } = {}): Promise<RunPage> {
    const params: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(query) as Array<[string, unknown]>) {
      if (value === undefined || value === null) continue;
      params[name] = value instanceof Date ? value.toISOString() : String(value);
    }
    return (await this.transport.send({ method: 'GET', path: '/v1/runs', query: params, signal: options.signal }))
      .body as RunPage;
  }

  /** Every run matching `query`, page after page. */
  async *iterRuns(query: Omit<ListRunsQuery, 'cursor'> = {}): AsyncGenerator<Run, void, undefined> {
    let cursor: string | undefined;
    do {
      const page: RunPage = await this.listRuns({ ...query, ...(cursor === undefined ? {} : { cursor }) });
      yield* page.runs;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** `POST /v1/runs/{id}/start`. */
  async start(runId: string, body: LeaseRequest, options: WriteOptions = {}): Promise<Run> {
    return this.post(`${runPath(runId)}/start`, body, options);
  }

  /** `POST /v1/runs/{id}/heartbeat`. */
  async heartbeat(runId: string, body: HeartbeatRequest, options: WriteOptions = {}): Promise<Run> {
    return this.post(`${runPath(runId)}/heartbeat`, body, options);
  }

  /** `POST /v1/runs/{id}/finish`. */
  async finish(runId: string, body: FinishRequest, options: WriteOptions = {}): Promise<Run> {
    return this.post(`${runPath(runId)}/finish`, body, options);
  }

  /** `POST /v1/runs/{id}/cancel`; `cascade: true` also cancels every non-terminal descendant. */
  async cancel(runId: string, body: CancelRequest = {}, options: WriteOptions = {}): Promise<Run> {
    const sent: CancelRequest = { ...body };
    if (!sent.cascade) delete sent.cascade;
    return this.post(`${runPath(runId)}/cancel`, sent, options);
  }

  /**
   * `POST /v1/runs/claim`: the oldest queued run matching the filters,
   * started for `owner`; `null` when none was queued within `wait_ms`.
   */
  async claim(body: ClaimRequest, options: Omit<WriteOptions, 'ifMatch'> = {}): Promise<Run | null> {
    const answer = await this.transport.send({
      method: 'POST',
      path: '/v1/runs/claim',
      body,
      extraTimeoutMs: (body.wait_ms ?? 0) + CLAIM_TIMEOUT_MARGIN_MS,
      ...write(options),
    });
    return answer.status === 204 ? null : (answer.body as Run);
  }

  // -- events ----------------------------------------------------------------

  /** `POST /v1/runs/{id}/events`. */
  async appendEvent(runId: string, body: AppendEventRequest, options: WriteOptions = {}): Promise<Appended> {
    const answer = await this.transport.send({ method: 'POST', path: `${runPath(runId)}/events`, body, ...write(options) });
    return answer.body as Appended;
  }

  /** `GET /v1/runs/{id}/events`: the events after seq `after`. */
  async listEvents(
    runId: string,
    query: { after?: number; limit?: number } = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<RunEvent[]> {
    const answer = await this.transport.send({
      method: 'GET',
      path: `${runPath(runId)}/events`,
      query: {
        after: String(query.after ?? 0),
        limit: query.limit === undefined ? undefined : String(query.limit),
      },
      signal: options.signal,
    });
    return (answer.body as { events: unknown[] }).events.map(parseEvent);
  }

  /**
   * `GET /v1/events`: the tenant's events after position `after`, oldest
   * first, and `last_position`, the position of its newest event.
   */
  async listTenantEvents(
    query: { after?: number; limit?: number } = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<{ events: RunEvent[]; last_position: number }> {
    const answer = await this.transport.send({
      method: 'GET',
      path: '/v1/events',
      query: {
        after: String(query.after ?? 0),
        limit: query.limit === undefined ? undefined : String(query.limit),
      },
      signal: options.signal,
    });
    const body = answer.body as { events: unknown[]; last_position: number };
    return { events: body.events.map(parseEvent), last_position: body.last_position };
  }

  /** The position of the tenant's newest event (0 before the first): subscribe after it for what happens next. */
  async lastPosition(options: { signal?: AbortSignal } = {}): Promise<number> {
    // A page past every position: no event is sent, only the position.
    return (await this.listTenantEvents({ after: Number.MAX_SAFE_INTEGER, limit: 1 }, options)).last_position;
  }

  /** A run's events over SSE from seq `after`, resuming across reconnects; ends after the terminal event. */
  follow(runId: string, options: FollowOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    return follow(this.transport, runId, options);
  }

  /** The tenant's events over SSE from position `after`, resuming across reconnects; ends when `signal` aborts. */
  followTenant(options: FollowOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    return follow(this.transport, null, options);
  }

  // -- the shared WebSocket --------------------------------------------------

  /** Opens the client's WebSocket now (subscribing opens it anyway); concurrent calls share one socket. */
  connect(): Promise<void> {
    return this.live.connect();
  }

  /** A subscription on the client's one WebSocket: iterate it, and `unsubscribe()` when done. */
  subscribe(options: SubscribeOptions = {}): Subscription {
    return this.live.subscribe(options);
  }

  /**
   * Calls `callback` at most once per `debounceMs` (default 100) with the
   * ids of the runs that changed since the last call — for cache
   * invalidation (`queryClient.invalidateQueries`). Changes from now on:
   * it starts at the tenant's current position (each run's current seq
   * with `runIds`) unless `after` says where.
   */
  onChange(filter: ChangeFilter, callback: (runIds: Set<string>) => void, options: OnChangeOptions = {}): ChangeFeed {
    return onChange(this.live, filter, callback, options, {
      tenant: (signal) => this.lastPosition({ signal }),
      run: async (runId, signal) => (await this.get(runId, { signal })).last_seq,
    });
  }

  /** `GET /healthz`: true when the server and its database answer. */
  async health(): Promise<boolean> {
    try {
      return (await this.transport.send({ method: 'GET', path: '/healthz' })).status === 200;
    } catch (error) {
      if (error instanceof RunledgerProblem) return false;
      throw error;
    }
  }

  /** Closes the WebSocket and ends every subscription. */
  close(): void {
    this.live.close();
  }

  private async post(path: string, body: unknown, options: WriteOptions): Promise<Run> {
    return (await this.transport.send({ method: 'POST', path, body, ...write(options) })).body as Run;
  }
}

function write(options: WriteOptions): { ifMatch?: number; idempotencyKey?: string; signal?: AbortSignal } {
  return { ifMatch: options.ifMatch, idempotencyKey: options.idempotencyKey, signal: options.signal } as {
    ifMatch?: number;
    idempotencyKey?: string;
    signal?: AbortSignal;
  };
}
