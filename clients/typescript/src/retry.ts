// When to try a request again and how long to wait (pure decisions, as the
// Python client's `_retry.py`). Retried: connection failures, 429
// (`rate_limited`, `too_many_streams`), 502, 503, 504 and
// `409 idempotency_key_in_flight`; never any other 4xx. A POST is safe to
// retry because every attempt of one call carries the same Idempotency-Key.

/** Statuses that mean "try again later" whatever the problem code. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** How often and how patiently a call is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included (default 5). */
  maxAttempts: number;
  /** First back-off; doubles per attempt, with jitter (default 200 ms). */
  backoffInitialMs: number;
  /** Longest back-off (default 5,000 ms). */
  backoffMaxMs: number;
  /** A longer `Retry-After` ends the retries (default 60,000 ms). */
  retryAfterMaxMs: number;
}

/** The default policy. */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  backoffInitialMs: 200,
  backoffMaxMs: 5_000,
  retryAfterMaxMs: 60_000,
});

/** Whether an answer with `status` (and problem `code`) may succeed later. */
export function isRetryableAnswer(status: number, code: string | undefined): boolean {
  return RETRYABLE_STATUSES.has(status) || (status === 409 && code === 'idempotency_key_in_flight');
}

/** The jittered back-off before attempt `attempt + 1` (`attempt` from 1): between half and all of the ceiling. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * The wait before retrying after attempt `attempt`, or `undefined` when the
 * attempts are used up or the server asks for longer than `retryAfterMaxMs`.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  retryAfter: string | null,
  now: number = Date.now(),
): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const asked = parseRetryAfterMs(retryAfter, now);
  if (asked === undefined) return backoffMs(policy, attempt);
  return asked > policy.retryAfterMaxMs ? undefined : asked;
}

/** `Retry-After` (delta-seconds or an HTTP date) in milliseconds; `undefined` when absent or unreadable. */
export function parseRetryAfterMs(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? undefined : Math.max(0, when - now);
}
