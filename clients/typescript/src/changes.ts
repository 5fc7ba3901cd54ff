// `onChange`: the building block for UI cache invalidation. Subscriptions
// on the client's one WebSocket feed a set of changed run ids; the callback
// gets that set at most once per `debounceMs` window. A window opens with
// the first change after the previous call and closes `debounceMs` later
// (a throttle with a trailing call, not a resetting debounce: under a
// steady stream of events a resetting timer would never fire). Ids that
// change while the callback runs go to the next window, so none is missed.
// A feed reports changes from now on: it starts after the tenant's current
// position (`GET /v1/events` names it), or each run's current seq, unless
// the caller says `after`; the subscriptions then resume from there across
// reconnects like any other.

import type { LiveSocket, Subscription } from './socket.js';
import type { RunEvent } from './types.js';

/** Default window of `onChange`. */
export const DEFAULT_DEBOUNCE_MS = 100;

/** Which changes count. */
export interface ChangeFilter {
  /** Only these runs (one subscription each); absent: the whole tenant (one subscription). */
  runIds?: readonly string[];
  /** Only events of these types (e.g. lifecycle ones); absent: every event. */
  types?: readonly string[];
}

/** Options of `onChange`. */
export interface OnChangeOptions {
  /** The window (default 100 ms). */
  debounceMs?: number;
  /**
   * Start after this position (tenant) or seq (each run); default: the
   * current one, so only changes from now on are reported (0 reports every
   * run of the log once first).
   */
  after?: number;
  /** Told when a subscription is refused or fails (e.g. `not_found` for a missing run); the others go on. */
  onError?: (error: unknown) => void;
}

/** A running change feed. */
export interface ChangeFeed {
  /** Resolves when every subscription is confirmed (rejects when one is refused). */
  readonly ready: Promise<void>;
  /** Stops it; a window still open is dropped. */
  stop(): void;
}

/** Where "now" is: the tenant's newest position, a run's newest seq. */
export interface CurrentPositions {
  tenant(signal: AbortSignal): Promise<number>;
  run(runId: string, signal: AbortSignal): Promise<number>;
}

/** See {@link ChangeFilter} and {@link OnChangeOptions}. */
export function onChange(
  live: LiveSocket,
  filter: ChangeFilter,
  callback: (runIds: Set<string>) => void,
  options: OnChangeOptions,
  current: CurrentPositions,
): ChangeFeed {
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  if (!(debounceMs >= 0)) throw new RangeError(`debounceMs must be 0 or more, not ${debounceMs}`);
  const types = filter.types === undefined ? undefined : new Set(filter.types);
  const onError = options.onError ?? (() => undefined);
  let changed = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const fire = (): void => {
    timer = undefined;
    if (stopped || changed.size === 0) return;
    const batch = changed;
    changed = new Set();
    try {
      callback(batch);
    } catch (error) {
      onError(error);
    }
  };
  const note = (event: RunEvent): void => {
    if (types !== undefined && !types.has(event.type)) return;
    changed.add(event.run_id);
    timer ??= setTimeout(fire, debounceMs);
  };

  const subscriptions: Subscription[] = [];
  const lookups = new AbortController();
  const follow = async (runId: string | null): Promise<void> => {
    let after: number;
    try {
      after = options.after ?? (runId === null ? await current.tenant(lookups.signal) : await current.run(runId, lookups.signal));
    } catch (error) {
      if (!stopped) onError(error);
      throw error;
    }
    if (stopped) return;
    const subscription = live.subscribe({ runId, after });
    subscriptions.push(subscription);
    void (async () => {
      try {
        for await (const event of subscription) note(event);
      } catch (error) {
        if (!stopped) onError(error);
      }
    })();
    // A refusal reaches onError from the loop above; here it rejects `ready`.
    await subscription.ready;
  };
  const started = filter.runIds === undefined ? [follow(null)] : filter.runIds.map((runId) => follow(runId));
  const ready = Promise.all(started).then(() => undefined);
  ready.catch(() => undefined);
  return {
    ready,
    stop(): void {
      stopped = true;
      clearTimeout(timer);
      lookups.abort();
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
}
