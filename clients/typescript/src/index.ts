// @runledger/client: the runledger HTTP API over fetch, one shared
// WebSocket for live events, a debounced change feed, and a Node worker.
// Start at `Client`.

export { Client, type ClientOptions, type WriteOptions, type BatchItem } from './client.js';
export { Subscription, type SubscribeOptions, type WebSocketConstructor } from './socket.js';
export type { ChangeFeed, ChangeFilter, OnChangeOptions } from './changes.js';
export type { FollowOptions } from './sse.js';
export { Worker, RunContext, type Handler, type WorkerOptions, type WorkerLogger } from './worker.js';
export { RunledgerError, RunledgerProblem, TransportError, ProtocolError, isProblem, STATUS_BY_CODE } from './problem.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export { TERMINAL_EVENT_TYPES } from './events.js';
export type * from './types.js';
export type { components, paths } from './generated/openapi.js';
