// Generated from the OpenAPI document `runledger serve` answers at
// GET /v1/openapi.json, by openapi-typescript (`npm run generate`).
// Do not edit: CI (`npm run check-types`) fails when this file differs
// from what the built server serves.

export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * `200` when the database answers and no write was refused for lack of
         *     disk space in the last minute.
         */
        get: operations["healthz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Prometheus text: HTTP requests, runs by state, the writer, the reaper, the audit. */
        get: operations["metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The tenant's events after position `after`, oldest first, and the
         *     tenant's newest position.
         */
        get: operations["list_tenant_events"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/events/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Follows the tenant's events as Server-Sent Events, after position
         *     `after` (or `Last-Event-ID`).
         */
        get: operations["tenant_events_stream"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The OpenAPI 3.1 document of this API. */
        get: operations["openapi_document"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A page of runs, oldest first (`order=desc`: newest first), filtered. */
        get: operations["list_runs"];
        put?: never;
        /** Creates a run, or answers the existing identical one. */
        post: operations["create_run"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Creates up to 1,000 runs in one request. */
        post: operations["create_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/claim": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Claims the oldest queued run matching the filters. */
        post: operations["claim_run"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The run `id`. */
        get: operations["get_run"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Cancels a pending, queued or running run. A repeat answers the run
         *     unchanged, whatever its reason.
         */
        post: operations["cancel_run"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/{id}/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A run's events after seq `after`, oldest first. */
        get: operations["list_events"];
        put?: never;
        /** Appends a caller event to a run's log. */
        post: operations["append_event"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/{id}/events/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Follows one run's events as Server-Sent Events, after seq `after` (or
         *     `Last-Event-ID`), until its terminal event.
         */
        get: operations["run_events_stream"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/{id}/finish": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Ends a running run: succeeded or failed. A repeat of the same finish
         *     answers the run unchanged.
         */
        post: operations["finish_run"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/{id}/heartbeat": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Extends the lease of a running run. */
        post: operations["heartbeat_run"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/runs/{id}/start": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Starts a queued run under a new lease epoch. */
        post: operations["start_run"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/ws": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Opens the WebSocket of live event subscriptions. */
        get: operations["websocket"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description The body of `POST /v1/runs/{id}/events`. */
        AppendEventRequest: {
            /** @description Any JSON value (null included), at most 256 KiB serialized. Required. */
            data: unknown;
            /**
             * Format: int64
             * @description The lease epoch; required while the run is running.
             */
            lease_epoch?: number | null;
            /** @description `[a-z0-9][a-z0-9._-]{0,63}`, not a lifecycle name. */
            type: string;
        };
        /** @description The answer of an append. */
        AppendedBody: {
            /**
             * Format: int64
             * @description The event's position in its tenant.
             */
            position: number;
            /**
             * Format: int64
             * @description The event's seq in its run.
             */
            seq: number;
        };
        /** @description The answer of `POST /v1/runs/batch`: one entry per item, in request order. */
        BatchAnswer: {
            /** @description Each item's answer. */
            results: components["schemas"]["BatchItemAnswer"][];
        };
        /**
         * @description One item's answer: `status` 201 or 200 with the run, or a 4xx (5xx)
         *     status with the problem a single create would have answered.
         */
        BatchItemAnswer: {
            problem?: components["schemas"]["ProblemBody"] | null;
            run?: components["schemas"]["RunBody"] | null;
            /**
             * Format: int32
             * @description The HTTP status a single create of this item would have answered.
             */
            status: number;
        };
        /** @description The body of `POST /v1/runs/{id}/cancel` (may be empty). */
        CancelRequest: {
            /**
             * @description Also cancel every descendant that has not ended, in the same
             *     transaction; each gets its own `cancelled` event and the `error`
             *     `parent <id> cancelled: <reason>`.
             */
            cascade?: boolean;
            /** @description Why; becomes the run's `error`. */
            reason?: string | null;
        };
        /** @description Counts of a run's direct children: `total` plus each non-zero state. */
        ChildrenBody: {
            /**
             * Format: int64
             * @description All direct children.
             */
            total: number;
        } & {
            [key: string]: number;
        };
        /** @description The body of `POST /v1/runs/claim`. */
        ClaimRequest: {
            /** @description Only runs of this concurrency group. */
            concurrency_key?: string | null;
            kind?: components["schemas"]["KindFilter"] | null;
            /**
             * Format: int64
             * @description Lease length, 100–86,400,000 ms.
             */
            lease_ttl_ms: number;
            /** @description The worker taking the run: 1–256 printable characters. */
            owner: string;
            /**
             * Format: int64
             * @description How long to wait for a matching run to be queued, 0–30,000 ms; 0
             *     when absent.
             */
            wait_ms?: number | null;
        };
        /** @description A concurrency group as a create names it. */
        ConcurrencyRequest: {
            /** @description The group: `[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}`. */
            key: string;
            /**
             * Format: int32
             * @description Most active runs, 1–10,000; 1 when absent.
             */
            limit?: number | null;
            on_full?: components["schemas"]["OnFullBody"] | null;
        };
        /** @description The body of `POST /v1/runs/batch`. */
        CreateBatchRequest: {
            /** @description All or nothing; `false` when absent. */
            atomic?: boolean | null;
            /**
             * @description The creates, 1 to 1,000, each the body of `POST /v1/runs`; an item
             *     may name an earlier item as its parent.
             */
            runs: components["schemas"]["CreateRunRequest"][];
        };
        /** @description The body of `POST /v1/runs`. */
        CreateRunRequest: {
            /** @description A JSON object, at most 64 KiB serialized; `{}` when absent. */
            attributes?: Record<string, unknown> | null;
            concurrency?: components["schemas"]["ConcurrencyRequest"] | null;
            /**
             * @description The run id; generated (UUIDv7) when absent. For a child, absent or
             *     exactly `<parent_id>:<key>`.
             */
            id?: string | null;
            /** @description The child key, for a child run (with `parent_id`). */
            key?: string | null;
            /** @description What is being run: `[A-Za-z0-9._-]{1,128}`. */
            kind: string;
            /** @description The parent, for a child run (with `key`). */
            parent_id?: string | null;
            start?: components["schemas"]["LeaseRequest"] | null;
        };
        /** @description One entry of a run's event log. */
        EventBody: {
            /** @description RFC 3339 UTC, milliseconds. */
            at: string;
            /** @description Any JSON value. */
            data: unknown;
            /**
             * Format: int64
             * @description Per tenant, from 1, no gaps, in commit order.
             */
            position: number;
            /** @description The run. */
            run_id: string;
            /**
             * Format: int64
             * @description Per run, from 1, no gaps.
             */
            seq: number;
            /** @description A lifecycle name (`created`, `started`, …) or the caller's type. */
            type: string;
        };
        /** @description A page of a run's events, in seq order. */
        EventList: {
            /** @description The events. */
            events: components["schemas"]["EventBody"][];
        };
        /** @description The body of `POST /v1/runs/{id}/finish`. */
        FinishRequest: {
            /** @description A failure's message, at most 64 KiB. */
            error?: string | null;
            /**
             * Format: int64
             * @description The epoch of the lease held (required).
             */
            lease_epoch: number;
            /** @description `succeeded` or `failed`. */
            outcome: components["schemas"]["OutcomeBody"];
            /** @description Any JSON value, at most 256 KiB serialized. */
            result?: unknown;
        };
        /** @description The body of `GET /healthz`. */
        Health: {
            /** @description `ok`. */
            status: string;
        };
        /** @description The body of `POST /v1/runs/{id}/heartbeat`. */
        HeartbeatRequest: {
            /**
             * Format: int64
             * @description The epoch of the lease held (required).
             */
            lease_epoch: number;
            /**
             * Format: int64
             * @description A new lease length, 100–86,400,000 ms; the previous one when absent.
             */
            lease_ttl_ms?: number | null;
        };
        /** @description One kind or a list of kinds. */
        KindFilter: string | string[];
        /** @description The lease a running run's worker holds. */
        LeaseBody: {
            /**
             * Format: int64
             * @description +1 on every start; heartbeat, append and finish must carry it.
             */
            epoch: number;
            /** @description RFC 3339 UTC, milliseconds: when the reaper may time the run out. */
            expires_at: string;
            /** @description The worker. */
            owner: string;
        };
        /** @description A worker taking a run: `start` of a create, and `POST /v1/runs/{id}/start`. */
        LeaseRequest: {
            /**
             * Format: int64
             * @description Lease length, 100–86,400,000 ms.
             */
            lease_ttl_ms: number;
            /** @description The worker: 1–256 printable characters. */
            owner: string;
        };
        /**
         * @description What a create does when its group is full.
         * @enum {string}
         */
        OnFullBody: "reject" | "enqueue" | "cancel_active" | "replace_pending";
        /**
         * @description How a run ended.
         * @enum {string}
         */
        OutcomeBody: "succeeded" | "failed";
        /**
         * @description The JSON body of a problem: the RFC 9457 members, the stable `code`, and
         *     the structured extras of the codes that have them.
         */
        ProblemBody: {
            /** @description `concurrency_limit`: the active runs of the group, oldest first. */
            active_run_ids?: string[] | null;
            /** @description The stable machine name of the error. */
            code: components["schemas"]["ProblemCode"];
            /** @description `concurrency_limit`: the group. */
            concurrency_key?: string | null;
            /**
             * Format: int64
             * @description `stale_lease`: the run's current lease epoch.
             */
            current_epoch?: number | null;
            /**
             * Format: int64
             * @description `version_conflict`: the run's current version.
             */
            current_version?: number | null;
            /** @description What exactly went wrong and what was expected. */
            detail: string;
            /**
             * Format: int64
             * @description `version_conflict`: the version `If-Match` named.
             */
            expected_version?: number | null;
            /** @description `invalid_request`: the offending field, as named in the JSON API. */
            field?: string | null;
            /** @description `run_conflict`: the creation parameters that differ. */
            fields?: string[] | null;
            /** @description `POST /v1/runs/batch`: the refused item, in request order. */
            index?: number | null;
            /**
             * Format: int32
             * @description `concurrency_limit`: the limit applied; `too_many_streams`: the
             *     caller's cap on open streams.
             */
            limit?: number | null;
            /** @description `invalid_transition`: the refused operation. */
            operation?: string | null;
            /** @description `not_found` of a child's parent: the parent asked for. */
            parent_id?: string | null;
            /**
             * Format: int64
             * @description `rate_limited`: seconds until a request may succeed (also `Retry-After`).
             */
            retry_after_s?: number | null;
            /** @description The run concerned, when there is one. */
            run_id?: string | null;
            /** @description `invalid_transition` and `stale_lease`: the run's current state. */
            state?: string | null;
            /**
             * Format: int32
             * @description The HTTP status.
             */
            status: number;
            /** @description A fixed summary of the code. */
            title: string;
            /** @description `urn:runledger:problem:<code>`. */
            type: string;
        };
        /**
         * @description The stable machine name of the error.
         * @enum {string}
         */
        ProblemCode: "invalid_run_id" | "invalid_request" | "not_found" | "run_conflict" | "concurrency_limit" | "invalid_transition" | "stale_lease" | "version_conflict" | "unsupported_media_type" | "method_not_allowed" | "idempotency_key_reused" | "idempotency_key_in_flight" | "unauthorized" | "rate_limited" | "payload_too_large" | "uri_too_long" | "headers_too_large" | "forbidden_origin" | "misdirected_request" | "insufficient_storage" | "too_many_streams" | "internal";
        /** @description A run record. */
        RunBody: {
            /** @description The JSON object given at creation. */
            attributes: Record<string, unknown>;
            /** @description Direct children per state. */
            children: components["schemas"]["ChildrenBody"];
            /** @description The concurrency group. */
            concurrency_key?: string | null;
            /**
             * Format: int32
             * @description The limit the run was created with.
             */
            concurrency_limit?: number | null;
            /** @description RFC 3339 UTC, milliseconds. */
            created_at: string;
            /** @description A failure's message; a cancelled run's reason. */
            error?: string | null;
            /** @description RFC 3339 UTC, milliseconds. */
            finished_at?: string | null;
            /** @description Unique per tenant. */
            id: string;
            /** @description The child key of a child run. */
            key?: string | null;
            /** @description What is being run. */
            kind: string;
            /**
             * Format: int64
             * @description Seq of the run's newest event.
             */
            last_seq: number;
            lease?: components["schemas"]["LeaseBody"] | null;
            /** @description The parent of a child run. */
            parent_id?: string | null;
            /** @description Set when the run finishes: any JSON value. */
            result?: unknown;
            /** @description RFC 3339 UTC, milliseconds. */
            started_at?: string | null;
            /** @description Current state. */
            state: components["schemas"]["RunStateBody"];
            /** @description The owning tenant. */
            tenant: string;
            /** @description RFC 3339 UTC, milliseconds. */
            updated_at: string;
            /**
             * Format: int64
             * @description 1 at creation, +1 on every change (`If-Match`).
             */
            version: number;
        };
        /** @description One page of runs, in the order asked (oldest first by default). */
        RunList: {
            /** @description Pass as `cursor` for the next page; null on the last page. */
            next_cursor?: string | null;
            /** @description The runs. */
            runs: components["schemas"]["RunBody"][];
        };
        /**
         * @description A run's state.
         * @enum {string}
         */
        RunStateBody: "pending" | "queued" | "running" | "succeeded" | "failed" | "cancelled" | "timed_out";
        /** @description A page of the tenant's events, in position order, and its newest position. */
        TenantEventList: {
            /** @description The events. */
            events: components["schemas"]["EventBody"][];
            /**
             * Format: int64
             * @description The position of the tenant's newest event when the page was read (0
             *     before the first): a tenant stream or subscription resumed after it
             *     carries only what happens next.
             */
            last_position: number;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    healthz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The database answers. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the database does not answer. Or `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: a write was refused in the last minute because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    metrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Prometheus text format 0.0.4. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            /** @description `unauthorized`: API tokens exist and the request did not bring the server's `--metrics-token` as a bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the database does not answer. Or `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    list_tenant_events: {
        parameters: {
            query?: {
                /** @description Only events with a larger position; 0 when absent. */
                after?: number;
                /** @description Page size, 1–1,000; 50 when absent. */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page of the tenant's events and its newest position. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TenantEventList"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    tenant_events_stream: {
        parameters: {
            query?: {
                /**
                 * @description Resume after this seq (run stream) or position (tenant stream); 0
                 *     when absent. `Last-Event-ID` wins over it.
                 */
                after?: number;
            };
            header?: {
                /** @description Resume after this position; wins over `after`. */
                "Last-Event-ID"?: number | null;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Server-Sent Events: `id:` the position, `event:` the event type, `data:` the event JSON `{run_id, seq, position, type, data, at}`; keep-alive comments while idle. Does not end until the client or the server goes away. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `too_many_streams`: the caller already holds `--max-streams-per-token` open streams. Or `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    openapi_document: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The OpenAPI 3.1 document. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": Record<string, unknown>;
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    list_runs: {
        parameters: {
            query?: {
                /** @description Only runs in this state. */
                state?: components["schemas"]["RunStateBody"];
                /** @description Only runs of this kind. */
                kind?: string;
                /** @description Only direct children of this run. */
                parent_id?: string;
                /** @description Only runs of this concurrency group. */
                concurrency_key?: string;
                /** @description Only runs created strictly after this RFC 3339 instant. */
                created_after?: string;
                /** @description Only runs created strictly before this RFC 3339 instant. */
                created_before?: string;
                /** @description `asc` (oldest first, the default) or `desc` (newest first). */
                order?: string;
                /** @description Page size, 1–1,000; 50 when absent. */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page of runs. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunList"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    create_run: {
        parameters: {
            query?: never;
            header?: {
                /** @description Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters). */
                "Idempotency-Key"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateRunRequest"];
            };
        };
        responses: {
            /** @description The run existed with identical creation parameters. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunBody"];
                };
            };
            /** @description The run was created. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunBody"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`: the parent does not exist. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `run_conflict` (the run exists with other creation parameters; `fields` names them) or `concurrency_limit` (`active_run_ids` lists the group's active runs). Or `idempotency_key_in_flight`: the first request with this Idempotency-Key is still running. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `payload_too_large`: the body is over 1 MiB. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `unsupported_media_type`: the body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. Or `idempotency_key_reused`: the Idempotency-Key was used with a different request. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: the write was refused because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    create_batch: {
        parameters: {
            query?: never;
            header?: {
                /** @description Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters). */
                "Idempotency-Key"?: string;
                /** @description `"<version>"`: apply only at this run version, else `412 version_conflict`. */
                "If-Match"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateBatchRequest"];
            };
        };
        responses: {
            /** @description Each item's answer, in request order. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BatchAnswer"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `atomic`: an item's parent does not exist (`index` names it); nothing was written. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `atomic`: the first refused item's problem (`run_conflict`, `concurrency_limit`, …) with its `index`; nothing was written. Or `idempotency_key_in_flight`: the first request with this Idempotency-Key is still running. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `payload_too_large`: the body is over 1 MiB. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `unsupported_media_type`: the body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request`: 0 or more than 1,000 items, an item that is not a create, a parent that is a later item, one id twice with different parameters (`index` names the item); for `atomic`, any invalid item. Or `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. Or `idempotency_key_reused`: the Idempotency-Key was used with a different request. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: the write was refused because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    claim_run: {
        parameters: {
            query?: never;
            header?: {
                /** @description Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters). */
                "Idempotency-Key"?: string;
                /** @description `"<version>"`: apply only at this run version, else `412 version_conflict`. */
                "If-Match"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ClaimRequest"];
            };
        };
        responses: {
            /** @description The claimed run, running under a new lease for `owner`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunBody"];
                };
            };
            /** @description No matching run was queued within `wait_ms`. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `stale_lease`: a retry (same `Idempotency-Key`) of a claim whose answer was lost, when the lease it took no longer holds. Or `idempotency_key_in_flight`: the first request with this Idempotency-Key is still running. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `payload_too_large`: the body is over 1 MiB. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `unsupported_media_type`: the body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. Or `idempotency_key_reused`: the Idempotency-Key was used with a different request. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `too_many_streams`: a waiting claim takes a stream slot, and the caller holds `--max-streams-per-token` already. Or `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: the write was refused because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    get_run: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The run id (a child's is `<parent id>:<key>`). */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The run. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunBody"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`: no such run in this tenant. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    cancel_run: {
        parameters: {
            query?: never;
            header?: {
                /** @description Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters). */
                "Idempotency-Key"?: string;
                /** @description `"<version>"`: apply only at this run version, else `412 version_conflict`. */
                "If-Match"?: string;
            };
            path: {
                /** @description The run id. */
                id: string;
            };
            cookie?: never;
        };
        /** @description May be empty. */
        requestBody: {
            content: {
                "application/json": components["schemas"]["CancelRequest"];
            };
        };
        responses: {
            /** @description The cancelled run. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunBody"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_transition`: the run already ended otherwise. Or `idempotency_key_in_flight`: the first request with this Idempotency-Key is still running. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `version_conflict`. */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `payload_too_large`: the body is over 1 MiB. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `unsupported_media_type`: the body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. Or `idempotency_key_reused`: the Idempotency-Key was used with a different request. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: the write was refused because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    list_events: {
        parameters: {
            query?: {
                /** @description Only events with a larger seq; 0 when absent. */
                after?: number;
                /** @description Page size, 1–1,000; 50 when absent. */
                limit?: number;
            };
            header?: never;
            path: {
                /** @description The run id. */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page of events. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EventList"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    append_event: {
        parameters: {
            query?: never;
            header?: {
                /** @description Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters). */
                "Idempotency-Key"?: string;
                /** @description `"<version>"`: apply only at this run version, else `412 version_conflict`. */
                "If-Match"?: string;
            };
            path: {
                /** @description The run id. */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AppendEventRequest"];
            };
        };
        responses: {
            /** @description The event was appended. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AppendedBody"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `stale_lease` (a running run needs its current epoch; an ended run takes no events). Or `idempotency_key_in_flight`: the first request with this Idempotency-Key is still running. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `version_conflict`. */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `payload_too_large`: the body is over 1 MiB. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `unsupported_media_type`: the body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. Or `idempotency_key_reused`: the Idempotency-Key was used with a different request. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: the write was refused because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    run_events_stream: {
        parameters: {
            query?: {
                /**
                 * @description Resume after this seq (run stream) or position (tenant stream); 0
                 *     when absent. `Last-Event-ID` wins over it.
                 */
                after?: number;
            };
            header?: {
                /** @description Resume after this seq; wins over `after`. */
                "Last-Event-ID"?: number | null;
            };
            path: {
                /** @description The run id. */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Server-Sent Events: `id:` the seq, `event:` the event type, `data:` the event JSON `{run_id, seq, position, type, data, at}`; keep-alive comments while idle. Ends after the run's terminal event (at once when that was already sent). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `too_many_streams`: the caller already holds `--max-streams-per-token` open streams. Or `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    finish_run: {
        parameters: {
            query?: never;
            header?: {
                /** @description Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters). */
                "Idempotency-Key"?: string;
                /** @description `"<version>"`: apply only at this run version, else `412 version_conflict`. */
                "If-Match"?: string;
            };
            path: {
                /** @description The run id. */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["FinishRequest"];
            };
        };
        responses: {
            /** @description The finished run. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunBody"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `stale_lease` or `invalid_transition`. Or `idempotency_key_in_flight`: the first request with this Idempotency-Key is still running. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `version_conflict`. */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `payload_too_large`: the body is over 1 MiB. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `unsupported_media_type`: the body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. Or `idempotency_key_reused`: the Idempotency-Key was used with a different request. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: the write was refused because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    heartbeat_run: {
        parameters: {
            query?: never;
            header?: {
                /** @description Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters). */
                "Idempotency-Key"?: string;
                /** @description `"<version>"`: apply only at this run version, else `412 version_conflict`. */
                "If-Match"?: string;
            };
            path: {
                /** @description The run id. */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["HeartbeatRequest"];
            };
        };
        responses: {
            /** @description The run with its lease extended. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunBody"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `stale_lease` (another epoch, or the run stopped running) or `invalid_transition` (it never started). Or `idempotency_key_in_flight`: the first request with this Idempotency-Key is still running. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `version_conflict`. */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `payload_too_large`: the body is over 1 MiB. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `unsupported_media_type`: the body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. Or `idempotency_key_reused`: the Idempotency-Key was used with a different request. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: the write was refused because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    start_run: {
        parameters: {
            query?: never;
            header?: {
                /** @description Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters). */
                "Idempotency-Key"?: string;
                /** @description `"<version>"`: apply only at this run version, else `412 version_conflict`. */
                "If-Match"?: string;
            };
            path: {
                /** @description The run id. */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["LeaseRequest"];
            };
        };
        responses: {
            /** @description The running run with its new lease. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunBody"];
                };
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_transition`: the run is not queued. Or `idempotency_key_in_flight`: the first request with this Idempotency-Key is still running. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `version_conflict`: `If-Match` named another version. */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `payload_too_large`: the body is over 1 MiB. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `unsupported_media_type`: the body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. Or `idempotency_key_reused`: the Idempotency-Key was used with a different request. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `insufficient_storage`: the write was refused because the database's disk is full. */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
    websocket: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching to the WebSocket protocol. Client messages: `{"op":"subscribe","run_id": id or null,"after": n}` (null: the whole tenant; `after` is a seq for a run, a position for the tenant) and `{"op":"unsubscribe","run_id": …}`. Server messages: `{"op":"subscribed","run_id"}`, `{"op":"unsubscribed","run_id"}`, `{"op":"error","code","detail","run_id"}` (`not_found`, `invalid_run_id`, `invalid_request`, `too_many_streams`; the connection stays open; `run_id` names the subscription a refused subscribe or a failed live subscription is about, null for the tenant's, and is absent when the message was not a readable op) and `{"op":"event","run_id","seq","position","type","data","at"}`. */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `unauthorized`: tokens exist and none valid was sent. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `uri_too_long`: the path and query are over 8 KiB. */
            414: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`. */
            421: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `too_many_streams`: the caller already holds `--max-streams-per-token` open streams (the connection counts one, each of its subscriptions one more). Or `rate_limited`: the token's rate limit is exhausted; see `Retry-After`. */
            429: {
                headers: {
                    /** @description Seconds until the bucket has a token again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `headers_too_large`: the request has over 100 header fields. */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description `internal`: the server failed; the detail is in its log. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
            /** @description Any other error (e.g. `method_not_allowed`), as problem+json. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ProblemBody"];
                };
            };
        };
    };
}
