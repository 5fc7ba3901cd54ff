// `onChange`: the building block for UI cache invalidation. Subscriptions
// on the client's one WebSocket feed a set of changed run ids; the callback
// gets that set at most once per `debounceMs` window. A window opens with
// the first change after the previous call and closes `debounceMs` later
// (a throttle with a trailing call, not a resetting debounce: under a
// steady stream of events a resetting timer would never fire). Ids that
// change while the callback runs go to the next window, so none is missed.

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
   * Resume after this position (tenant) or seq (each run); default 0,
   * which first reports every run of the log once (there is no route that
   * answers the tenant's current position).
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

/** See {@link ChangeFilter} and {@link OnChangeOptions}. */
export function onChange(
  live: LiveSocket,
  filter: ChangeFilter,
  callback: (runIds: Set<string>) => void,
  options: OnChangeOptions,
): ChangeFeed {
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  if (!(debounceMs >= 0)) throw new RangeError(`debounceMs must be 0 or more, not ${debounceMs}`);
  const types = filter.types === undefined ? undefined : new Set(filter.types);
  const after = options.after ?? 0;
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

  const subscriptions: Subscription[] =
    filter.runIds === undefined
      ? [live.subscribe({ runId: null, after })]
      : filter.runIds.map((runId) => live.subscribe({ runId, after }));
  for (const subscription of subscriptions) {
    void (async () => {
      try {
        for await (const event of subscription) note(event);
      } catch (error) {
        if (!stopped) onError(error);
      }
    })();
  }
  const ready = Promise.all(subscriptions.map((subscription) => subscription.ready)).then(() => undefined);
  ready.catch(() => undefined);
  return {
    ready,
    stop(): void {
      stopped = true;
      clearTimeout(timer);
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
}
