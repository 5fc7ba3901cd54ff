// `Worker`: claims runs and executes them with a handler, holding each
// run's lease for it (SPEC §2.5, §9) — the Python `Worker`'s shape and
// guarantees on Node's event loop:
//
// 1. `concurrency` claiming slots, each long-polling `POST /v1/runs/claim`
//    (`wait_ms`); a claim that got no answer is asked again with the same
//    Idempotency-Key, so a run it started is handed to us, not left to time out;
// 2. a heartbeat every third of the lease;
// 3. `handler(ctx)`; `ctx.append` carries the epoch; `ctx.leaseLost` (an
//    AbortSignal, so it can be handed to fetch) aborts as soon as a
//    heartbeat or append answers `stale_lease`, or when the lease has run out
//    on our own clock without a successful heartbeat;
// 4. finish with the epoch: the handler's resolved value is the `succeeded`
//    run's `result`; a throw makes it `failed` with the error as `error`.
//
// Shutdown (SIGTERM/SIGINT in `run()`, or `stop()`): claiming stops,
// `ctx.stopping` aborts, in-flight handlers get `graceMs`; a run still busy
// after that is finished `failed` naming the shutdown, and its `leaseLost`
// aborted. Heartbeats share the event loop with handlers: a handler must
// not block it (CPU-heavy work belongs in a worker_thread), or its lease
// can lapse — which `leaseLost` then reports.

import type { Client } from './client.js';
import { RunledgerProblem, TransportError } from './problem.js';
import { isRetryableAnswer } from './retry.js';
import { newKey, sleep } from './transport.js';
import type { Appended, Run } from './types.js';

/** Longest `error` a failed run is given. */
const ERROR_CHARS_MAX = 16 * 1024;
/** How long a claiming slot waits after the server could not be reached. */
const CLAIM_RETRY_WAIT_MS = 1_000;

/** What a worker runs for each claimed run; resolves to the run's `result`. */
export type Handler = (ctx: RunContext) => unknown;

/** A logger (console's shape). */
export interface WorkerLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** How a worker is made. */
export interface WorkerOptions {
  /** A kind, a list of kinds, or absent for any. */
  kinds?: string | readonly string[];
  concurrencyKey?: string;
  /** Runs at once (default 1). */
  concurrency?: number;
  /** Names this worker in leases (default `host:pid:random`). */
  owner?: string;
  /** Lease length (default 30,000 ms); heartbeats every third. */
  leaseTtlMs?: number;
  /** A claim's long poll (default 5,000 ms, at most 30,000). */
  waitMs?: number;
  /** How long in-flight handlers may run after shutdown begins (default 30,000 ms). */
  graceMs?: number;
  /** Default `console`. */
  logger?: WorkerLogger;
}

/** What a handler gets. */
export class RunContext {
  readonly run: Run;
  /** The lease epoch every write carries. */
  readonly epoch: number;
  /** Aborts when the run is no longer ours (cancelled, reaped, taken over, or the lease lapsed): stop, nothing you write counts. */
  readonly leaseLost: AbortSignal;
  /** Aborts when the worker begins shutting down: finish soon. */
  readonly stopping: AbortSignal;
  private readonly lost: AbortController;

  /** @internal */
  constructor(
    readonly client: Client,
    run: Run,
    stopping: AbortSignal,
  ) {
    if (run.lease === null || run.lease === undefined) throw new Error(`run ${run.id} was handed to a worker without a lease`);
    this.run = run;
    this.epoch = run.lease.epoch;
    this.lost = new AbortController();
    this.leaseLost = this.lost.signal;
    this.stopping = stopping;
  }

  /** Appends an event under the lease; a `stale_lease` also aborts `leaseLost`. */
  async append(type: string, data: unknown = null): Promise<Appended> {
    try {
      return await this.client.appendEvent(this.run.id, { type, data, lease_epoch: this.epoch });
    } catch (error) {
      if (error instanceof RunledgerProblem && error.code === 'stale_lease') this.loseLease(error);
      throw error;
    }
  }

  /** @internal */
  loseLease(reason: unknown): void {
    if (!this.lost.signal.aborted) this.lost.abort(reason);
  }
}

/** Claims runs and runs `handler` on each, at most `concurrency` at once. */
export class Worker {
  readonly owner: string;
  /** What made the worker give up (e.g. the server refusing claims). */
  error: unknown;
  /** Runs finished by this worker. */
  runsFinished = 0;
  private readonly options: Required<Omit<WorkerOptions, 'kinds' | 'concurrencyKey' | 'owner'>> &
    Pick<WorkerOptions, 'kinds' | 'concurrencyKey'>;
  private readonly stopper = new AbortController();
  private slots: Promise<void>[] = [];
  private readonly inFlight = new Map<string, Execution>();

  constructor(
    readonly client: Client,
    readonly handler: Handler,
    options: WorkerOptions = {},
  ) {
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be 1 or more, not ${concurrency}`);
    this.options = {
      kinds: options.kinds,
      concurrencyKey: options.concurrencyKey,
      concurrency,
      leaseTtlMs: options.leaseTtlMs ?? 30_000,
      waitMs: options.waitMs ?? 5_000,
      graceMs: options.graceMs ?? 30_000,
      logger: options.logger ?? console,
    };
    this.owner = options.owner ?? defaultOwner();
  }

  /** Aborts when shutdown has begun. */
  get stopping(): AbortSignal {
    return this.stopper.signal;
  }

  /** @internal */
  get logger(): WorkerLogger {
    return this.options.logger;
  }

  /** @internal */
  get leaseTtlMs(): number {
    return this.options.leaseTtlMs;
  }

  /**
   * Starts the worker and resolves once it has stopped. In Node, SIGTERM and
   * SIGINT begin a graceful shutdown; a second one exits at once. Rejects
   * with what made the worker give up.
   */
  async run(): Promise<void> {
    const process = nodeProcess();
    const onSignal = (signal: string): void => {
      this.logger.info(`worker ${this.owner}: ${signal}, shutting down (again to stop at once)`);
      process?.removeListener('SIGTERM', onSignal);
      process?.removeListener('SIGINT', onSignal);
      process?.once('SIGTERM', () => process.exit(143));
      process?.once('SIGINT', () => process.exit(130));
      this.stop();
    };
    process?.once('SIGTERM', onSignal);
    process?.once('SIGINT', onSignal);
    try {
      this.start();
      await this.join();
    } finally {
      process?.removeListener('SIGTERM', onSignal);
      process?.removeListener('SIGINT', onSignal);
    }
    if (this.error !== undefined) throw this.error;
  }

  /** Starts the claiming slots and returns. */
  start(): void {
    if (this.slots.length > 0) throw new Error('this worker was already started');
    this.logger.info(`worker ${this.owner} claiming ${JSON.stringify(this.options.kinds ?? 'any kind')} (concurrency ${this.options.concurrency})`);
    for (let index = 0; index < this.options.concurrency; index += 1) this.slots.push(this.slot());
  }

  /** Begins a graceful shutdown: no new claims; in-flight handlers have `graceMs`. */
  stop(): void {
    if (!this.stopper.signal.aborted) this.stopper.abort(new Error(`worker ${this.owner} is shutting down`));
  }

  /** Waits for `stop()` (or a slot giving up), then for the in-flight runs, at most `graceMs`; runs still busy are finished `failed`. */
  async join(): Promise<void> {
    if (!this.stopping.aborted) await new Promise((done) => this.stopping.addEventListener('abort', done, { once: true }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((done) => {
      timer = setTimeout(done, this.options.graceMs);
    });
    await Promise.race([Promise.all(this.slots), grace]);
    clearTimeout(timer);
    const abandoned = [...this.inFlight.values()];
    await Promise.all(
      abandoned.map((execution) =>
        execution.abandon(`worker ${this.owner} shut down before the handler returned (grace period ${this.options.graceMs} ms)`),
      ),
    );
  }

  private async slot(): Promise<void> {
    // One Idempotency-Key per claim until it gets a definite answer: a claim
    // whose answer was lost may have started a run for us, and asking again
    // with its key replays that run.
    let key: string | undefined;
    // When an attempt under `key` first failed: a run replayed for the key
    // was leased no later than that.
    let failedAt: number | undefined;
    while (!this.stopping.aborted) {
      key ??= newKey();
      let run: Run | null;
      try {
        const body: Parameters<Client['claim']>[0] = {
          owner: this.owner,
          lease_ttl_ms: this.options.leaseTtlMs,
          wait_ms: this.options.waitMs,
        };
        if (this.options.kinds !== undefined) body.kind = typeof this.options.kinds === 'string' ? this.options.kinds : [...this.options.kinds];
        if (this.options.concurrencyKey !== undefined) body.concurrency_key = this.options.concurrencyKey;
        run = await this.client.claim(body, { idempotencyKey: key });
      } catch (error) {
        const retryable =
          error instanceof TransportError ||
          (error instanceof RunledgerProblem && (isRetryableAnswer(error.status, error.code) || error.status >= 500));
        if (retryable) {
          this.logger.warn(`worker ${this.owner}: claim failed: ${String(error)}`);
          failedAt ??= Date.now();
          await sleep(CLAIM_RETRY_WAIT_MS, this.stopping).catch(() => undefined);
          continue;
        }
        this.logger.error(`worker ${this.owner}: giving up, claim refused: ${String(error)}`);
        this.error = error;
        this.stop();
        return;
      }
      const leasedFrom = failedAt ?? Date.now();
      key = undefined;
      failedAt = undefined;
      // A run claimed as the shutdown began is still ours: run it.
      if (run !== null) await this.execute(run, leasedFrom);
    }
  }

  private async execute(run: Run, leasedFrom: number): Promise<void> {
    const execution = new Execution(this, new RunContext(this.client, run, this.stopping), leasedFrom);
    this.inFlight.set(run.id, execution);
    try {
      await execution.run();
    } finally {
      this.inFlight.delete(run.id);
    }
  }
}

/** One claimed run: its heartbeat, its lease watch, its handler call and its finish (taken once). */
class Execution {
  private finished = false;
  private done = false;
  private leaseUntil: number;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private watchTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly worker: Worker,
    readonly ctx: RunContext,
    leasedFrom: number,
  ) {
    // Our own clock's bound on the lease: from the claim (or when its lost
    // answer was seen), then from when each successful heartbeat was sent.
    this.leaseUntil = leasedFrom + worker.leaseTtlMs;
  }

  async run(): Promise<void> {
    this.scheduleHeartbeat();
    this.watch();
    try {
      const result = await this.worker.handler(this.ctx);
      await this.finish('succeeded', result, undefined);
    } catch (error) {
      await this.finish('failed', undefined, describe(error));
    } finally {
      this.done = true;
      clearTimeout(this.heartbeatTimer);
      clearTimeout(this.watchTimer);
    }
  }

  async abandon(reason: string): Promise<void> {
    await this.finish('failed', undefined, reason);
    this.ctx.loseLease(new Error(reason));
    this.done = true;
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.watchTimer);
  }

  private async finish(outcome: 'succeeded' | 'failed', result: unknown, error: string | undefined): Promise<void> {
    if (this.finished || this.ctx.leaseLost.aborted) return;
    this.finished = true;
    const id = this.ctx.run.id;
    const body: Parameters<Client['finish']>[1] = { lease_epoch: this.ctx.epoch, outcome };
    if (result !== undefined) body.result = result;
    if (error !== undefined) body.error = error;
    try {
      const run = await this.worker.client.finish(id, body);
      this.worker.logger.info(`run ${id} ${run.state}`);
      this.worker.runsFinished += 1;
    } catch (failure) {
      if (failure instanceof RunledgerProblem && ['stale_lease', 'invalid_transition', 'not_found'].includes(failure.code)) {
        this.ctx.loseLease(failure);
        this.worker.logger.warn(`run ${id}: lease lost before finishing: ${String(failure)}`);
      } else {
        this.worker.logger.error(`run ${id}: finish failed: ${String(failure)}`);
      }
    }
  }

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), this.worker.leaseTtlMs / 3);
  }

  private async heartbeat(): Promise<void> {
    // Once the lease is lost, extending it would only delay the reaping of a run nobody works on.
    if (this.done || this.ctx.leaseLost.aborted) return;
    const sent = Date.now();
    try {
      await this.worker.client.heartbeat(this.ctx.run.id, { lease_epoch: this.ctx.epoch });
      this.leaseUntil = sent + this.worker.leaseTtlMs;
      this.watch();
    } catch (error) {
      if (error instanceof RunledgerProblem && ['stale_lease', 'invalid_transition', 'not_found'].includes(error.code)) {
        this.worker.logger.warn(`run ${this.ctx.run.id}: lease lost: ${String(error)}`);
        this.ctx.loseLease(error);
        return;
      }
      // The lease watch gives the lease up when it runs out.
      this.worker.logger.warn(`run ${this.ctx.run.id}: heartbeat failed: ${String(error)}`);
    }
    if (!this.done && !this.ctx.leaseLost.aborted) this.scheduleHeartbeat();
  }

  /** Aborts `leaseLost` when the lease runs out on our clock without a successful heartbeat. */
  private watch(): void {
    clearTimeout(this.watchTimer);
    this.watchTimer = setTimeout(
      () => {
        if (this.done || this.ctx.leaseLost.aborted) return;
        if (Date.now() < this.leaseUntil) {
          this.watch();
          return;
        }
        this.worker.logger.warn(`run ${this.ctx.run.id}: lease ran out without a successful heartbeat; presumed lost`);
        this.ctx.loseLease(new Error('the lease ran out without a successful heartbeat'));
      },
      Math.max(0, this.leaseUntil - Date.now()),
    );
  }
}

/** A failed run's `error`: the error and its stack, the end kept. */
function describe(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  return text.length <= ERROR_CHARS_MAX ? text : `…${text.slice(-ERROR_CHARS_MAX)}`;
}

interface NodeProcess {
  pid: number;
  env: Record<string, string | undefined>;
  once(event: string, listener: (signal: string) => void): unknown;
  removeListener(event: string, listener: (signal: string) => void): unknown;
  exit(code: number): never;
}

/** Node's `process`, read off globalThis so this module loads in a browser too. */
function nodeProcess(): NodeProcess | undefined {
  const candidate = (globalThis as { process?: Partial<NodeProcess> }).process;
  return typeof candidate?.once === 'function' ? (candidate as NodeProcess) : undefined;
}

function defaultOwner(): string {
  const process = nodeProcess();
  const host = process?.env.HOSTNAME ?? 'worker';
  const pid = process?.pid ?? 0;
  return `${host}:${pid}:${newKey().slice(0, 8)}`;
}
