// Errors: every refusal of the server is an RFC 9457 problem with a stable
// `code` (SPEC §4), thrown as one class, `RunledgerProblem`, whose `code`
// narrows it (catch, then switch on `code`, never on message text).

import type { ProblemBody, ProblemCode } from './types.js';

/** The HTTP status of each problem code (SPEC §4), for problems that arrive without one (WebSocket `error` messages). */
export const STATUS_BY_CODE: Readonly<Record<ProblemCode, number>> = {
  invalid_run_id: 422,
  invalid_request: 422,
  not_found: 404,
  run_conflict: 409,
  concurrency_limit: 409,
  invalid_transition: 409,
  stale_lease: 409,
  version_conflict: 412,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  idempotency_key_reused: 422,
  idempotency_key_in_flight: 409,
  unauthorized: 401,
  rate_limited: 429,
  payload_too_large: 413,
  uri_too_long: 414,
  headers_too_large: 431,
  forbidden_origin: 403,
  misdirected_request: 421,
  insufficient_storage: 507,
  too_many_streams: 429,
  internal: 500,
};

/** Base of every error this package throws. */
export class RunledgerError extends Error {
  override name = 'RunledgerError';
}

/**
 * The server refused the request with a problem. `code` is the stable
 * machine name (a {@link ProblemCode}, or a newer code this client does not
 * know yet); `body` is the whole problem, extras included (`active_run_ids`,
 * `fields`, `current_epoch`, `field`, …).
 */
export class RunledgerProblem extends RunledgerError {
  override name = 'RunledgerProblem';
  readonly status: number;
  readonly code: ProblemCode | (string & {});
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  readonly body: Partial<ProblemBody> & Record<string, unknown>;

  constructor(status: number, body: unknown) {
    const object: Record<string, unknown> =
      typeof body === 'object' && body !== null && !Array.isArray(body)
        ? { ...(body as Record<string, unknown>) }
        : { detail: typeof body === 'string' ? body : '' };
    const code = typeof object.code === 'string' ? object.code : 'unknown';
    const statusOf = typeof object.status === 'number' ? object.status : status;
    const detail = typeof object.detail === 'string' ? object.detail : '';
    super(`${statusOf} ${code}: ${detail}`);
    this.status = statusOf;
    this.code = code;
    this.title = typeof object.title === 'string' ? object.title : '';
    this.detail = detail;
    this.type = typeof object.type === 'string' ? object.type : 'about:blank';
    this.body = object as Partial<ProblemBody> & Record<string, unknown>;
  }

  /** The run concerned, when there is one. */
  get runId(): string | undefined {
    return typeof this.body.run_id === 'string' ? this.body.run_id : undefined;
  }

  /** A batch's refused item (`POST /v1/runs/batch`). */
  get index(): number | undefined {
    return typeof this.body.index === 'number' ? this.body.index : undefined;
  }

  /**
   * A problem from a WebSocket `error` message: `code`, `detail`, and the
   * subscription it is about as `run_id` (null: the tenant's) when the
   * server named one; the status is the code's HTTP status.
   */
  static fromSocket(code: string, detail: string, runId?: string | null): RunledgerProblem {
    const status = (STATUS_BY_CODE as Record<string, number>)[code] ?? 400;
    return new RunledgerProblem(status, runId === undefined ? { code, detail, status } : { code, detail, status, run_id: runId });
  }
}

/** Whether `error` is a problem with `code` (a type guard). */
export function isProblem(error: unknown, code?: ProblemCode): error is RunledgerProblem {
  return error instanceof RunledgerProblem && (code === undefined || error.code === code);
}

/**
 * The server could not be reached or the connection broke, and the retries
 * were used up (or the call may not be retried). `cause` is the underlying
 * error (a `fetch` `TypeError`, an abort, a timeout).
 */
export class TransportError extends RunledgerError {
  override name = 'TransportError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The server sent something this client cannot read: a WebSocket message
 * that is not the protocol's (SPEC §4), or an SSE message whose data is
 * not an event. `raw` is what arrived.
 */
export class ProtocolError extends RunledgerError {
  override name = 'ProtocolError';
  readonly raw: string;
  constructor(message: string, raw: string) {
    super(message);
    this.raw = raw;
  }
}
