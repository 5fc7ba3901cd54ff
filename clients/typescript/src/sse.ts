// Server-Sent Events read with fetch (SPEC §4 auth: `Authorization` is a
// header, the token never in a URL; EventSource cannot set headers). A
// follow resumes with `Last-Event-ID` after the last seq (run stream) or
// position (tenant stream) it handed out, reconnecting with jittered
// back-off after a drop, a silent connection or a server restart: every
// event once, in order (SPEC §2.7).

import { ProtocolError, RunledgerProblem } from './problem.js';
import { isRetryableAnswer } from './retry.js';
import { type Transport, sleep } from './transport.js';
import { parseEvent, isTerminalType, isTerminalState, runPath } from './events.js';
import type { Run, RunEvent } from './types.js';

/** Longest wait between two reconnects of a follow. */
const RECONNECT_BACKOFF_MAX_MS = 5_000;
/** First wait before a reconnect. */
const RECONNECT_BACKOFF_INITIAL_MS = 100;
/** Without a byte for this long (keep-alives included; the server sends one every 15 s) a stream is presumed dead. */
export const STREAM_READ_TIMEOUT_MS = 60_000;

/** One dispatched SSE message. */
export interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
}

/** Turns lines (without terminators) into messages at each blank line; comments yield nothing. */
export class SseDecoder {
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  /** Takes one line; returns the message it completes, if any. */
  feed(line: string): SseMessage | undefined {
    if (line === '') {
      const data = this.data;
      const event = this.event;
      this.data = [];
      this.event = '';
      if (data.length === 0) return undefined;
      return { event: event || 'message', data: data.join('\n'), id: this.id };
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') this.event = value;
    else if (name === 'data') this.data.push(value);
    else if (name === 'id' && !value.includes('\0')) this.id = value;
    return undefined;
  }
}

/** Splits a byte stream into lines (LF, CRLF or CR). */
async function* lines(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let silence: ReturnType<typeof setTimeout> | undefined;
  const arm = (): void => {
    clearTimeout(silence);
    silence = setTimeout(() => reader.cancel(new Error('the stream was silent too long')).catch(() => undefined), STREAM_READ_TIMEOUT_MS);
  };
  const onAbort = (): void => void reader.cancel(signal.reason).catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    arm();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arm();
      buffered += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffered.search(/\r\n|\r|\n/)) !== -1) {
        const line = buffered.slice(0, end);
        const width = buffered.startsWith('\r\n', end) ? 2 : 1;
        // A lone CR at the end of a chunk may be the first half of CRLF.
        if (width === 1 && buffered[end] === '\r' && end === buffered.length - 1) break;
        buffered = buffered.slice(end + width);
        yield line;
      }
    }
  } finally {
    clearTimeout(silence);
    signal.removeEventListener('abort', onAbort);
    // Done with it (also when the consumer stopped early): close the connection.
    await reader.cancel().catch(() => undefined);
  }
}

/** Options of a follow. */
export interface FollowOptions {
  /** Resume after this seq (run) or position (tenant); default 0, the whole log. */
  after?: number;
  /** Ends the follow. */
  signal?: AbortSignal;
}

/**
 * Follows `path` (a run's or the tenant's SSE stream), yielding each event
 * once, in order, across reconnects. A run's follow ends after its terminal
 * event; problems the server answers (other than "later") are thrown.
 */
export async function* follow(
  transport: Transport,
  runId: string | null,
  options: FollowOptions = {},
): AsyncGenerator<RunEvent, void, undefined> {
  const path = runId === null ? '/v1/events/stream' : `${runPath(runId)}/events/stream`;
  const by = runId === null ? 'position' : 'seq';
  let last = options.after ?? 0;
  if (!Number.isSafeInteger(last) || last < 0) throw new RangeError(`after must be 0 or more, not ${last}`);
  let failures = 0;
  const outer = options.signal;
  for (;;) {
    if (outer?.aborted) return;
    const controller = new AbortController();
    const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
    let response: Response | undefined;
    try {
      response = await transport.fetch(transport.url(path), {
        headers: { ...transport.baseHeaders(), accept: 'text/event-stream', 'last-event-id': String(last) },
        signal,
      });
    } catch (error) {
      if (outer?.aborted) return;
      void error;
    }
    if (response !== undefined && !response.ok) {
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: the text is the detail.
      }
      const problem = new RunledgerProblem(response.status, body);
      if (!isRetryableAnswer(response.status, problem.code)) throw problem;
      response = undefined;
    }
    if (response?.body) {
      const decoder = new SseDecoder();
      try {
        for await (const line of lines(response.body, signal)) {
          const message = decoder.feed(line);
          if (message === undefined) continue;
          let event: RunEvent;
          try {
            event = parseEvent(JSON.parse(message.data));
          } catch (error) {
            throw new ProtocolError(`an SSE message is not an event: ${String(error)}`, message.data);
          }
          const value = by === 'seq' ? event.seq : event.position;
          if (value <= last) continue;
          last = value;
          failures = 0;
          yield event;
          if (by === 'seq' && isTerminalType(event.type)) return;
        }
      } catch (error) {
        if (error instanceof ProtocolError) throw error;
        if (outer?.aborted) return;
      } finally {
        controller.abort();
      }
      // The stream ended or broke: reconnect after `last`, unless the run
      // has ended and nothing follows `last` (its stream ends at once).
      if (runId !== null) {
        try {
          const run = (await transport.send({ method: 'GET', path: runPath(runId), signal: outer })).body as Run;
          if (isTerminalState(run.state) && last >= run.last_seq) return;
        } catch (error) {
          if (outer?.aborted) return;
          if (error instanceof RunledgerProblem && !isRetryableAnswer(error.status, error.code)) throw error;
        }
      }
    }
    failures += 1;
    const ceiling = Math.min(RECONNECT_BACKOFF_MAX_MS, RECONNECT_BACKOFF_INITIAL_MS * 2 ** (failures - 1));
    try {
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2), outer);
    } catch {
      return;
    }
  }
}
