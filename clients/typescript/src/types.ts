// The API's bodies by their SPEC names, taken from the types generated from
// the server's OpenAPI document (src/generated/openapi.ts): request bodies
// keep the API's JSON names (snake_case), so a body here is exactly what
// goes on the wire.

import type { components } from './generated/openapi.js';

type Schemas = components['schemas'];

/** A run record (SPEC §1). */
export type Run = Schemas['RunBody'];
/** A run's state. */
export type RunState = Schemas['RunStateBody'];
/** The lease of a running run. */
export type Lease = Schemas['LeaseBody'];
/** One entry of an event log: `seq` per run, `position` per tenant. */
export type RunEvent = Schemas['EventBody'];
/** The answer of an append: the event's `seq` and `position`. */
export type Appended = Schemas['AppendedBody'];
/** One page of runs and the cursor of the next. */
export type RunPage = Schemas['RunList'];
/** The body of `POST /v1/runs`. */
export type CreateRunRequest = Schemas['CreateRunRequest'];
/** A concurrency group as a create names it (SPEC §3). */
export type Concurrency = Schemas['ConcurrencyRequest'];
/** The body of `start` (and a create's `start`). */
export type LeaseRequest = Schemas['LeaseRequest'];
/** The body of `heartbeat`. */
export type HeartbeatRequest = Schemas['HeartbeatRequest'];
/** The body of `finish`. */
export type FinishRequest = Schemas['FinishRequest'];
/** The body of `cancel`; `cascade` is sent only when true. */
export type CancelRequest = Schemas['CancelRequest'];
/** The body of `POST /v1/runs/claim`. */
export type ClaimRequest = Schemas['ClaimRequest'];
/** The body of `POST /v1/runs/{id}/events`. */
export type AppendEventRequest = Schemas['AppendEventRequest'];
/** How a run ended. */
export type Outcome = Schemas['OutcomeBody'];
/** A problem's body (RFC 9457 plus `code` and its extras). */
export type ProblemBody = Schemas['ProblemBody'];
/** The stable machine names of problems. */
export type ProblemCode = Schemas['ProblemCode'];

/** The answer of a create: the run, and whether this call created it (`201`) or found it (`200`). */
export interface Created {
  run: Run;
  created: boolean;
}

/** The query of `GET /v1/runs`; times as RFC 3339 strings or `Date`s. */
export interface ListRunsQuery {
  state?: RunState;
  kind?: string;
  parent_id?: string;
  concurrency_key?: string;
  created_after?: string | Date;
  created_before?: string | Date;
  order?: 'asc' | 'desc';
  limit?: number;
  cursor?: string;
}
