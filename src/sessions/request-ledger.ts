/**
 * The ledger of a session's pending requests, in one place for every front and backend (the stdio proxy, a
 * bridged HTTP session, a pooled stdio process): which requests of the client still wait for an answer, their
 * deadlines, progress tokens and cancellation, the metrics booking of each answer or failure, and the JSON-RPC
 * error a failed request gets (naming the server and the version). It does no I/O: answers come in through
 * `settle`, error replies and bookings go out through the callbacks it is given, and its only timers are the
 * deadlines, taken through a scheduler (unref'd `setTimeout` unless a test injects its own).
 */
import { didNotAnswer } from '../protocol/router-errors.js';

export type RequestId = string | number;

/** How a request ended, as VersionMetrics.request counts it. */
export interface Outcome {
  /** Answered with a JSON-RPC error, or failed by the router. */
  error?: boolean;
  /** A `tools/call` answered with `result.isError: true` (a success at the protocol level). */
  toolError?: boolean;
  /** No answer came: the backend died, timed out or could not be reached. */
  transportFailure?: boolean;
}

/** The parts of a JSON-RPC message the ledger reads. */
export interface Answer {
  id?: RequestId | null;
  method?: string;
  result?: unknown;
  error?: unknown;
}

/** One request waiting for its answer. `T`: what the owner keeps with it (the backend it went to, a resolver). */
export interface Pending<T> {
  id: RequestId;
  method: string;
  /** The version the request went to (named in its error and booked under). */
  version: string;
  /** The progress token its notifications carry, when it asked for progress. */
  progressToken?: RequestId;
  context: T;
  /** When it was opened, in the scheduler's ms. */
  started: number;
  cancelDeadline?: () => void;
}

/** What one answered or failed request books: `latencyMs` from `open` to its end. */
export interface Booking<T> {
  /** The ledger's server. */
  server: string;
  id: RequestId;
  method: string;
  version: string;
  latencyMs: number;
  outcome: Outcome;
  context: T;
}

/** A JSON-RPC error reply as the ledger builds it (always -32603: the router's failure, not the client's). */
export interface ErrorReply {
  jsonrpc: '2.0';
  id: RequestId;
  error: { code: number; message: string };
}

export interface LedgerEvents<T> {
  /** Every answered or failed request, once (not a cancelled one: the client gave up, the version did not fail). */
  book?: (booking: Booking<T>) => void;
  /** A failed request's error, to send to the client under the request's id. */
  reply: (error: ErrorReply, request: Pending<T>) => void;
  /** The last pending request was answered, failed or cancelled. */
  idle?: () => void;
}

/** Where the ledger's time comes from: ms now, and a one-shot timer that `after` returns the cancel of. */
export interface LedgerScheduler {
  now: () => number;
  after: (ms: number, fn: () => void) => () => void;
}

/** performance.now and unref'd timers: a pending deadline never keeps the process alive on its own. */
export const REAL_SCHEDULER: LedgerScheduler = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** One key per id: 1 and "1" are different ids, and 0 is one. */
export function requestKey(id: RequestId): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}

/** The outcome of an answer to `method`: a JSON-RPC error, or a `tools/call` whose result says `isError`. */
export function answerOutcome(method: string, answer: Answer): Outcome {
  const result = answer.result as { isError?: unknown } | undefined;
  return { error: answer.error !== undefined, toolError: method === 'tools/call' && result?.isError === true };
}

const isId = (v: unknown): v is RequestId => typeof v === 'string' || typeof v === 'number';

export class RequestLedger<T = undefined> {
  private readonly pending = new Map<string, Pending<T>>();
  /**
   * Pending requests by progress token: a pooled process's progress must not scan every client's requests. Made
   * for the first request that has one (most exchanges have none).
   */
  private byToken: Map<string, Pending<T>> | undefined;

  /**
   * @param server named, with the version, in the deadline's error text
   * @param events where bookings and error replies go
   * @param scheduler the clock and timers (default: the real ones, unref'd)
   */
  constructor(
    private readonly server: string,
    private readonly events: LedgerEvents<T>,
    private readonly scheduler: LedgerScheduler = REAL_SCHEDULER,
  ) {}

  /**
   * A request of the client is on its way to `version`. Without `deadlineMs` it has no deadline (a
   * `subscriptions/listen` stream lasts until the client closes it); with one, it fails with a -32603 error
   * naming server, version and method once that many ms pass without an answer. An id still pending is
   * replaced (the client reused it; the newer request is the one an answer belongs to).
   */
  open(id: RequestId, method: string, opts: { version: string; deadlineMs?: number; progressToken?: RequestId; context: T }): void {
    const k = requestKey(id);
    const replaced = this.pending.get(k);
    if (replaced) this.forget(k, replaced);
    const p: Pending<T> = { id, method, version: opts.version, context: opts.context, started: this.scheduler.now() };
    if (opts.progressToken !== undefined) {
      p.progressToken = opts.progressToken;
      (this.byToken ??= new Map()).set(requestKey(opts.progressToken), p);
    }
    const deadline = opts.deadlineMs;
    if (deadline !== undefined) {
      p.cancelDeadline = this.scheduler.after(deadline, () => {
        if (this.pending.get(k) !== p) return;
        this.fail(k, p, didNotAnswer(this.server, p.version, deadline, method), { transportFailure: true });
        this.idleCheck();
      });
    }
    this.pending.set(k, p);
  }

  /**
   * An answer from the backend: books it and returns the booking, or undefined when it is no answer (a request
   * or notification) or nobody waits for it any more (answered, failed or cancelled already: the client has
   * what it gets, and a late answer must not reach it twice).
   */
  settle(answer: Answer): Booking<T> | undefined {
    if (answer.method !== undefined || answer.id === undefined || answer.id === null) return undefined;
    const k = requestKey(answer.id);
    const p = this.pending.get(k);
    if (!p) return undefined;
    const booking = this.close(k, p, answerOutcome(p.method, answer));
    this.idleCheck();
    return booking;
  }

  /**
   * One pending request fails: it is booked with `outcome` and its client gets a -32603 error with `text`.
   * False when it was not pending.
   */
  failOne(id: RequestId, text: string, outcome: Outcome = { error: true }): boolean {
    const k = requestKey(id);
    const p = this.pending.get(k);
    if (!p) return false;
    this.fail(k, p, text, outcome);
    this.idleCheck();
    return true;
  }

  /** Every pending request (those `where` picks, when given) fails as `failOne` fails one; returns how many. */
  failAll(text: string, outcome: Outcome = { transportFailure: true }, where?: (p: Pending<T>) => boolean): number {
    let n = 0;
    for (const [k, p] of [...this.pending]) {
      if (where && !where(p)) continue;
      this.fail(k, p, text, outcome);
      n++;
    }
    if (n > 0) this.idleCheck();
    return n;
  }

  /**
   * Every pending request ends booked with `outcome` but gets no error reply: the channel its answer would have
   * taken is gone (an HTTP answer stream that ended before it), so there is nobody to tell. Returns how many.
   */
  abandonAll(outcome: Outcome = { transportFailure: true }): number {
    const n = this.pending.size;
    for (const [k, p] of [...this.pending]) this.close(k, p, outcome);
    if (n > 0) this.idleCheck();
    return n;
  }

  /**
   * The client cancelled `id` (`notifications/cancelled`'s requestId, unchecked): it is forgotten, with no
   * booking, no deadline error and no late answer. Returns it, or undefined when it was not pending.
   */
  cancel(id: unknown): Pending<T> | undefined {
    if (!isId(id)) return undefined;
    const k = requestKey(id);
    const p = this.pending.get(k);
    if (!p) return undefined;
    this.forget(k, p);
    this.idleCheck();
    return p;
  }

  /** The pending request `id`, if any. */
  get(id: RequestId): Pending<T> | undefined {
    return this.pending.get(requestKey(id));
  }

  /** The pending request whose progress notifications carry `token`, if any. */
  byProgressToken(token: unknown): Pending<T> | undefined {
    return isId(token) ? this.byToken?.get(requestKey(token)) : undefined;
  }

  /** The only pending request, when there is exactly one. */
  sole(): Pending<T> | undefined {
    return this.pending.size === 1 ? this.pending.values().next().value : undefined;
  }

  /** How many requests wait for an answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** True when a pending request satisfies `test`. */
  some(test: (p: Pending<T>) => boolean): boolean {
    for (const p of this.pending.values()) if (test(p)) return true;
    return false;
  }

  /** Forgets every pending request silently (the session is over: nobody is left to answer or book). */
  clear(): void {
    for (const p of this.pending.values()) p.cancelDeadline?.();
    this.pending.clear();
    this.byToken?.clear();
  }

  private fail(k: string, p: Pending<T>, text: string, outcome: Outcome): void {
    this.close(k, p, outcome);
    this.events.reply({ jsonrpc: '2.0', id: p.id, error: { code: -32603, message: text } }, p);
  }

  private close(k: string, p: Pending<T>, outcome: Outcome): Booking<T> {
    this.forget(k, p);
    const booking: Booking<T> = { server: this.server, id: p.id, method: p.method, version: p.version, latencyMs: this.scheduler.now() - p.started, outcome, context: p.context };
    this.events.book?.(booking);
    return booking;
  }

  /** Takes `p` (under key `k`) out of the ledger and stops its deadline. */
  private forget(k: string, p: Pending<T>): void {
    p.cancelDeadline?.();
    this.pending.delete(k);
    if (p.progressToken === undefined) return;
    const tk = requestKey(p.progressToken);
    if (this.byToken?.get(tk) === p) this.byToken.delete(tk);
  }

  /** After the reply (if any) went out: tells the owner when nothing is pending any more. */
  private idleCheck(): void {
    if (this.pending.size === 0) this.events.idle?.();
  }
}
