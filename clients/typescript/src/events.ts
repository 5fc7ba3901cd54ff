// Reading events off the wire: every field checked, so a malformed server
// message is a typed error on the stream it came from, never a crash deeper
// in the application.

import type { RunEvent } from './types.js';

/** The lifecycle events after which a run's log has nothing more. */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

/** Whether `type` ends a run's log. */
export function isTerminalType(type: string): boolean {
  return TERMINAL_EVENT_TYPES.has(type);
}

/** Whether a run in `state` has ended. */
export function isTerminalState(state: string): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled' || state === 'timed_out';
}

/** `/v1/runs/{id}` with the id percent-encoded (`:` kept), so a malformed id reaches the server and gets `invalid_run_id` rather than another route. */
export function runPath(runId: string): string {
  return `/v1/runs/${encodeURIComponent(runId).replaceAll('%3A', ':')}`;
}

/** `value` as an event, or throws a `TypeError` naming the field that is wrong. */
export function parseEvent(value: unknown): RunEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('an event must be a JSON object');
  }
  const event = value as Record<string, unknown>;
  const counter = (name: string): number => {
    const field = event[name];
    if (typeof field !== 'number' || !Number.isSafeInteger(field) || field < 1) {
      throw new TypeError(`${name} must be a whole number from 1, not ${JSON.stringify(field)}`);
    }
    return field;
  };
  const text = (name: string): string => {
    const field = event[name];
    if (typeof field !== 'string' || field === '') throw new TypeError(`${name} must be a non-empty string`);
    return field;
  };
  if (!('data' in event)) throw new TypeError('data is missing');
  return {
    run_id: text('run_id'),
    seq: counter('seq'),
    position: counter('position'),
    type: text('type'),
    data: event.data,
    at: text('at'),
  };
}
