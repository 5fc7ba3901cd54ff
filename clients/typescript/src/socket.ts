// One WebSocket per client carrying every subscription (SPEC §4 `/v1/ws`,
// §9), the same design as the Rust client's `socket.rs`:
//
// - A *topic* is what the server sees: one wire subscription per run id (or
//   the tenant), started from the smallest resume point of its locals.
// - A *local* is one `subscribe()` call: its own queue and resume point
//   `last` (seq for a run, position for the tenant). An event is handed to a
//   local only when it is that local's next counter (`last + 1`); seqs and
//   positions have no gaps, so this one rule gives exactly-once, in-order
//   delivery whatever the wire does — a replay after a reconnect, a run's
//   events arriving on both its own and the tenant's subscription, events
//   still in flight while a topic is re-subscribed.
// - The socket is opened by one promise that every concurrent caller
//   awaits, and replaced only after it closed: never two at once. After a
//   drop it is reopened with equal-jitter exponential back-off and every
//   topic re-subscribed from its locals' smallest `last`.
// - An `error` about a subscription names it with `run_id` (null: the
//   tenant's). When it is the subscription the server is answering next
//   (answers come in send order), it refuses that subscribe: the topic's
//   locals end with a `RunledgerProblem`. Otherwise it is a live
//   subscription the server had to end: that topic alone is re-subscribed
//   from its locals' smallest `last`. Either way the socket and the other
//   topics go on. An `error` without `run_id` (a server before it was
//   added) is matched by order alone, and one that answers nothing makes
//   the client reconnect, which re-subscribes every topic.

import { isTerminalType, parseEvent } from './events.js';
import { ProtocolError, RunledgerProblem } from './problem.js';
import type { RunEvent } from './types.js';

/** The subprotocol the server selects (SPEC §4). */
export const WS_PROTOCOL = 'runledger.v1';
/** The prefix of the subprotocol that carries the token. */
export const BEARER_SUBPROTOCOL_PREFIX = 'runledger.bearer.';
/** First wait before a reconnect; doubles per failure. */
const RECONNECT_BACKOFF_INITIAL_MS = 100;
/** Longest wait before a reconnect. */
const RECONNECT_BACKOFF_MAX_MS = 5_000;
/** A connection that lived this long resets the back-off. */
const CONNECTION_HEALTHY_MS = 1_000;
/** Events a subscription buffers before it stops taking more (and catches up later from its `last`). */
export const SUBSCRIPTION_BUFFER_EVENTS_MAX = 10_000;

/**
 * A WebSocket constructor with the browser's API (`onopen`, `onmessage`,
 * `onclose`, `send`, `close`, `readyState`): the global one (browsers,
 * Node ≥ 22) or the `ws` package's `WebSocket` (Node 20). Typed loosely so
 * that `ws`'s class fits without this package depending on its types.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => unknown;

/** What the client does with a socket (the browser's WebSocket API). */
type BrowserWebSocket = new (url: string, protocols?: string | string[]) => WebSocket;

/** Why there is no socket: no `WebSocket` option and no global one. */
export const NO_WEBSOCKET_MESSAGE =
  'no WebSocket constructor: this runtime has no global WebSocket (Node 20 without --experimental-websocket); ' +
  "pass one as the WebSocket option, e.g. new Client({ WebSocket }) with import { WebSocket } from 'ws'";

/** The constructor to use: the one given, else the global one, else `undefined`. */
export function webSocketConstructor(given: WebSocketConstructor | undefined): WebSocketConstructor | undefined {
  return given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}

/** What `subscribe()` takes. */
export interface SubscribeOptions {
  /** The run to follow; `null` or absent: the whole tenant. */
  runId?: string | null;
  /** Resume after this seq (run) or position (tenant); default 0, the whole log. */
  after?: number;
  /** Events buffered before the subscription pauses (default 10,000). */
  bufferEvents?: number;
}

interface Waiter {
  resolve: (result: IteratorResult<RunEvent, undefined>) => void;
  reject: (error: unknown) => void;
}

/**
 * One subscription: an async iterator over its events (each once, in
 * order), and `unsubscribe()`. A run's subscription ends after the run's
 * terminal event; a refused one (e.g. `not_found`) throws its
 * `RunledgerProblem` from the iterator, after any events already received.
 */
export class Subscription implements AsyncIterableIterator<RunEvent> {
  /** The run followed, or `null` for the tenant. */
  readonly runId: string | null;
  /** Resolves once the server confirmed the subscription; rejects when it refused it. */
  readonly ready: Promise<void>;
  private lastCounter: number;
  private readonly queue: RunEvent[] = [];
  private waiter: Waiter | undefined;
  private ending = false;
  private failure: unknown;
  private readonly bufferMax: number;
  /** Set when the buffer was full and an event was not taken. */
  lagging = false;
  private resolveReady!: () => void;
  private rejectReady!: (error: unknown) => void;

  /** @internal */
  constructor(
    private readonly socket: LiveSocket,
    runId: string | null,
    after: number,
    bufferMax: number,
  ) {
    this.runId = runId;
    this.lastCounter = after;
    this.bufferMax = bufferMax;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody has to await `ready`: a refusal also reaches the iterator.
    this.ready.catch(() => undefined);
  }

  /** The seq (run) or position (tenant) of the last event taken in; the resume point. */
  get last(): number {
    return this.lastCounter;
  }

  /** Whether the subscription has ended (terminal event, refusal, unsubscribe). */
  get ended(): boolean {
    return this.ending;
  }

  /** @internal The event's counter for this subscription. */
  counterOf(event: RunEvent): number {
    return this.runId === null ? event.position : event.seq;
  }

  /** @internal Takes `event` if it is the next one; returns whether it was taken. */
  offer(event: RunEvent): boolean {
    if (this.ending || this.counterOf(event) !== this.lastCounter + 1) return false;
    if (this.waiter === undefined && this.queue.length >= this.bufferMax) {
      this.lagging = true;
      return false;
    }
    this.lastCounter += 1;
    const terminal = this.runId !== null && isTerminalType(event.type);
    if (this.waiter !== undefined) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve({ value: event, done: false });
    } else {
      this.queue.push(event);
    }
    if (terminal) this.end(undefined);
    return true;
  }

  /** @internal The server confirmed it. */
  confirmed(): void {
    this.resolveReady();
  }

  /** @internal Ends it, with `error` thrown after the queued events (or cleanly). */
  end(error: unknown): void {
    if (this.ending) return;
    this.ending = true;
    this.failure = error;
    if (error === undefined) this.resolveReady();
    else this.rejectReady(error);
    this.socket.detach(this);
    if (this.waiter !== undefined && this.queue.length === 0) {
      const waiter = this.waiter;
      this.waiter = undefined;
      this.settleEnd(waiter);
    }
  }

  private settleEnd(waiter: Waiter): void {
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      waiter.reject(failure);
    } else {
      waiter.resolve({ value: undefined, done: true });
    }
  }

  /** The next event. */
  next(): Promise<IteratorResult<RunEvent, undefined>> {
    const event = this.queue.shift();
    if (event !== undefined) {
      if (this.lagging && this.queue.length <= this.bufferMax / 2) {
        this.lagging = false;
        this.socket.caughtUp(this);
      }
      return Promise.resolve({ value: event, done: false });
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.ending) this.settleEnd(waiter);
      else this.waiter = waiter;
    });
  }

  /** Ends the iteration (a `break` out of `for await`): unsubscribes. */
  return(): Promise<IteratorResult<RunEvent, undefined>> {
    this.unsubscribe();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Stops the subscription; a pending `next()` finishes with `done`. */
  unsubscribe(): void {
    this.queue.length = 0;
    this.end(undefined);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** What one wire subscription is: a run's log or the tenant's. */
class Topic {
  readonly locals = new Set<Subscription>();
  /** `after` of the subscribe sent on the current connection, if any. */
  wireFrom: number | undefined;
  /** The highest counter seen for this topic on the current connection. */
  wireSeen = 0;
  constructor(readonly runId: string | null) {}

  /** The smallest resume point of its locals. */
  from(): number {
    let smallest = Number.MAX_SAFE_INTEGER;
    for (const local of this.locals) smallest = Math.min(smallest, local.last);
    return smallest;
  }
}

type Pending = { op: 'subscribe' | 'unsubscribe'; key: string };

function topicKey(runId: string | null): string {
  return runId === null ? '' : `run:${runId}`;
}

/** The client's one WebSocket and its subscriptions. */
export class LiveSocket {
  private readonly topics = new Map<string, Topic>();
  private socket: WebSocket | undefined;
  /** Resolves when the socket in `socket` has closed. */
  private socketClosed: Promise<void> | undefined;
  private opening: Promise<void> | undefined;
  private pending: Pending[] = [];
  private failures = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Sockets this instance opened, for tests and diagnostics. */
  socketsOpened = 0;

  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
    private readonly WebSocketImpl: WebSocketConstructor | undefined,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Opens the socket if it is not open; concurrent callers share one attempt. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('this client was closed'));
    if (this.socket !== undefined && this.socket.readyState === 1) return Promise.resolve();
    if (this.opening === undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      // A socket still closing is waited for: never two at once.
      const closing = this.socketClosed ?? Promise.resolve();
      this.opening = closing.then(() => this.open()).finally(() => {
        this.opening = undefined;
      });
    }
    return this.opening;
  }

  /** A new subscription on the shared socket. */
  subscribe(options: SubscribeOptions): Subscription {
    const runId = options.runId ?? null;
    const after = options.after ?? 0;
    if (!Number.isSafeInteger(after) || after < 0) throw new RangeError(`after must be 0 or more, not ${after}`);
    const local = new Subscription(this, runId, after, options.bufferEvents ?? SUBSCRIPTION_BUFFER_EVENTS_MAX);
    if (this.closed) {
      local.end(new Error('this client was closed'));
      return local;
    }
    if (webSocketConstructor(this.WebSocketImpl) === undefined) {
      // No retry can help: the subscription ends with the reason.
      local.end(new TypeError(NO_WEBSOCKET_MESSAGE));
      return local;
    }
    const key = topicKey(runId);
    let topic = this.topics.get(key);
    if (topic === undefined) {
      topic = new Topic(runId);
      this.topics.set(key, topic);
    }
    topic.locals.add(local);
    if (this.isOpen()) {
      // A new topic, or one whose wire is already past this local: (re)subscribe from the smallest `last`.
      if (topic.wireFrom === undefined || after < Math.max(topic.wireFrom, topic.wireSeen)) this.sendSubscribe(topic);
      else if (topic.wireFrom !== undefined && this.pendingFor(key) === false) local.confirmed();
    } else {
      this.connect().catch((error: unknown) => {
        this.onError(error);
        this.scheduleReconnect();
      });
    }
    return local;
  }

  /** Closes the socket and ends every subscription. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const topic of [...this.topics.values()]) {
      for (const local of [...topic.locals]) local.end(undefined);
    }
    this.topics.clear();
    this.socket?.close(1000);
    this.socket = undefined;
  }

  /** @internal A local has ended: drop it, and its topic once empty. */
  detach(local: Subscription): void {
    const key = topicKey(local.runId);
    const topic = this.topics.get(key);
    if (topic === undefined || !topic.locals.delete(local)) return;
    if (topic.locals.size === 0) {
      this.topics.delete(key);
      if (this.isOpen() && topic.wireFrom !== undefined) this.send({ op: 'unsubscribe', run_id: topic.runId }, key);
    }
  }

  /** @internal A lagging local has room again: catch it up from its `last`. */
  caughtUp(local: Subscription): void {
    const topic = this.topics.get(topicKey(local.runId));
    if (topic !== undefined && this.isOpen()) this.sendSubscribe(topic);
  }

  private isOpen(): boolean {
    return this.socket !== undefined && this.socket.readyState === 1;
  }

  private pendingFor(key: string): boolean {
    return this.pending.some((entry) => entry.key === key && entry.op === 'subscribe');
  }

  private open(): Promise<void> {
    const WebSocketImpl = webSocketConstructor(this.WebSocketImpl) as BrowserWebSocket | undefined;
    if (WebSocketImpl === undefined) return Promise.reject(new TypeError(NO_WEBSOCKET_MESSAGE));
    const protocols = [WS_PROTOCOL];
    if (this.token !== undefined) protocols.push(BEARER_SUBPROTOCOL_PREFIX + this.token);
    return new Promise<void>((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocketImpl(this.url, protocols);
      } catch (error) {
        reject(error);
        return;
      }
      this.socketsOpened += 1;
      let opened = false;
      let markClosed: () => void = () => undefined;
      const closed = new Promise<void>((done) => {
        markClosed = done;
      });
      let openedAt = 0;
      socket.onopen = () => {
        if (this.closed) {
          socket.close(1000);
          reject(new Error('this client was closed'));
          return;
        }
        opened = true;
        openedAt = Date.now();
        this.socket = socket;
        this.socketClosed = closed;
        this.pending = [];
        for (const topic of this.topics.values()) {
          topic.wireFrom = undefined;
          topic.wireSeen = 0;
          this.sendSubscribe(topic);
        }
        resolve();
      };
      socket.onmessage = (message: MessageEvent) => {
        if (this.socket === socket) this.receive(typeof message.data === 'string' ? message.data : String(message.data));
      };
      socket.onerror = () => {
        // The close that follows does the work; a browser says nothing more.
      };
      socket.onclose = (closing: CloseEvent) => {
        markClosed();
        if (!opened) {
          reject(new Error(`the WebSocket to ${this.url} could not be opened (close code ${closing.code})`));
          return;
        }
        if (this.socket === socket) {
          this.socket = undefined;
          this.socketClosed = undefined;
        }
        this.pending = [];
        if (Date.now() - openedAt >= CONNECTION_HEALTHY_MS) this.failures = 0;
        for (const topic of this.topics.values()) topic.wireFrom = undefined;
        if (!this.closed && this.topics.size > 0) this.scheduleReconnect();
      };
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined || this.opening !== undefined || this.isOpen()) return;
    if (this.topics.size === 0) return;
    const ceiling = Math.min(RECONNECT_BACKOFF_MAX_MS, RECONNECT_BACKOFF_INITIAL_MS * 2 ** this.failures);
    this.failures += 1;
    const wait = ceiling / 2 + Math.random() * (ceiling / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().catch((error: unknown) => {
        this.onError(error);
        this.scheduleReconnect();
      });
    }, wait);
  }

  private sendSubscribe(topic: Topic): void {
    const after = topic.from();
    topic.wireFrom = after;
    topic.wireSeen = after;
    this.send({ op: 'subscribe', run_id: topic.runId, after }, topicKey(topic.runId), 'subscribe');
  }

  private send(message: object, key: string, op: Pending['op'] = 'unsubscribe'): void {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== 1) return;
    this.pending.push({ op, key });
    socket.send(JSON.stringify(message));
  }

  /** Reads one server message. */
  private receive(raw: string): void {
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('not an object');
      message = parsed as Record<string, unknown>;
    } catch {
      this.onError(new ProtocolError('the server sent a WebSocket message that is not a JSON object', raw));
      return;
    }
    switch (message.op) {
      case 'event':
        this.receiveEvent(message, raw);
        return;
      case 'subscribed':
      case 'unsubscribed': {
        const head = this.pending.shift();
        const key = topicKey(typeof message.run_id === 'string' ? message.run_id : null);
        const expected = message.op === 'subscribed' ? 'subscribe' : 'unsubscribe';
        if (head === undefined || head.op !== expected || head.key !== key) {
          this.onError(new ProtocolError(`the server answered ${message.op} out of order; reconnecting`, raw));
          this.socket?.close(4000, 'answers out of order');
          return;
        }
        if (message.op === 'subscribed') {
          const topic = this.topics.get(key);
          if (topic !== undefined && !this.pendingFor(key)) for (const local of topic.locals) local.confirmed();
        }
        return;
      }
      case 'error': {
        const code = typeof message.code === 'string' ? message.code : 'unknown';
        const detail = typeof message.detail === 'string' ? message.detail : '';
        if ('run_id' in message) {
          if (message.run_id !== null && typeof message.run_id !== 'string') {
            this.onError(new ProtocolError('the server sent an error whose run_id is neither a run id nor null', raw));
            return;
          }
          this.receiveError(topicKey(message.run_id), RunledgerProblem.fromSocket(code, detail, message.run_id));
          return;
        }
        const problem = RunledgerProblem.fromSocket(code, detail);
        const head = this.pending.shift();
        if (head === undefined) {
          // A subscription the server had to drop: catch every topic up.
          this.onError(problem);
          this.socket?.close(4000, 'a subscription failed');
          return;
        }
        if (head.op === 'subscribe') this.refuse(head.key, problem);
        else this.onError(problem);
        return;
      }
      default:
        this.onError(new ProtocolError(`the server sent an unknown WebSocket op ${JSON.stringify(message.op)}`, raw));
    }
  }

  /** An `error` that names the subscription `key`. */
  private receiveError(key: string, problem: RunledgerProblem): void {
    const head = this.pending[0];
    if (head !== undefined && head.op === 'subscribe' && head.key === key) {
      // The answer to that subscribe: refused.
      this.pending.shift();
      this.refuse(key, problem);
      return;
    }
    // A live subscription the server ended: catch that topic alone up.
    this.onError(problem);
    const topic = this.topics.get(key);
    if (topic !== undefined && this.isOpen()) this.sendSubscribe(topic);
  }

  private receiveEvent(message: Record<string, unknown>, raw: string): void {
    let event: RunEvent;
    try {
      event = parseEvent(message);
    } catch (error) {
      // Attributed to the run it names (else the tenant): that subscription
      // ends with the error, the socket and the others go on.
      const runId = typeof message.run_id === 'string' ? message.run_id : undefined;
      const key = runId !== undefined && this.topics.has(topicKey(runId)) ? topicKey(runId) : topicKey(null);
      const protocolError = new ProtocolError(`the server sent a malformed event: ${(error as Error).message}`, raw);
      if (this.topics.has(key)) this.refuse(key, protocolError);
      else this.onError(protocolError);
      return;
    }
    // An event frame names its run, not the subscription it came on: the
    // tenant's subscription carries every run's events. A topic takes events
    // only once the server confirmed its subscribe (`subscribed` comes
    // before any event of that subscription), so a subscribe the server
    // refuses never yields one; what a pending topic drops, its own
    // subscription sends again from the `after` it asked for.
    const tenant = this.confirmedTopic(topicKey(null));
    if (tenant !== undefined) this.dispatch(tenant, event, event.position);
    const run = this.confirmedTopic(topicKey(event.run_id));
    if (run !== undefined) this.dispatch(run, event, event.seq);
  }

  /** The topic of `key` if its subscribe on this connection was confirmed. */
  private confirmedTopic(key: string): Topic | undefined {
    const topic = this.topics.get(key);
    if (topic === undefined || topic.wireFrom === undefined || this.pendingFor(key)) return undefined;
    return topic;
  }

  private dispatch(topic: Topic, event: RunEvent, counter: number): void {
    topic.wireSeen = Math.max(topic.wireSeen, counter);
    for (const local of [...topic.locals]) local.offer(event);
  }

  /** Ends a topic's locals with `error`; unsubscribes its wire subscription. */
  private refuse(key: string, error: unknown): void {
    const topic = this.topics.get(key);
    if (topic === undefined) return;
    this.topics.delete(key);
    for (const local of [...topic.locals]) local.end(error);
    if (this.isOpen()) this.send({ op: 'unsubscribe', run_id: topic.runId }, key);
  }
}
