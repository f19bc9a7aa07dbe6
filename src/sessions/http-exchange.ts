/**
 * One exchange of an HTTP router session (or a stateless request) with a Streamable HTTP backend: the client's
 * POST, GET or DELETE forwarded, its requests booked in a ledger, the answer streamed back, and the errors of
 * a failed exchange written as the response still allows, naming server and version.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { finished } from 'node:stream/promises';
import { brokeOff, didNotAnswer, malformedAnswer, unreachable } from '../protocol/router-errors.js';
import { mcpRequestHeaders } from '../protocol/modern-headers.js';
import { json, rpcError, sseEvent } from '../fronts/replies.js';
import { forward, TimeoutError, type ForwardResult } from '../backends/http-forward.js';
import { MalformedAnswerError } from '../backends/backend-client.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { leaveLeg, type JsonRpc, type Session } from './http-session.js';
import { RequestLedger, type ErrorReply, type LedgerEvents } from './request-ledger.js';
import { park, type Parked } from './sse-polling.js';
import type { HeldStream } from './held-stream.js';

export const LISTEN = 'subscriptions/listen';

/** No header to add to the client's response (shared: nothing writes to it). */
export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const noHeaders = (): Readonly<Record<string, string>> => NO_HEADERS;

/**
 * One exchange with a backend: the body and its messages (none for GET and DELETE); `withHeaders` adds headers
 * to the client's response once the backend's status is known (default none; it is given the session); `onResult` sees each answer to
 * a request of the body; `intercept`: an answer (not 2xx) it accepts from a backend that should know the
 * session is not passed on (see ForwardRequest.intercept).
 */
export interface Exchange {
  body?: Buffer | undefined;
  messages: JsonRpc[];
  withHeaders?: ((r: ForwardResult, s: Session) => Readonly<Record<string, string>>) | undefined;
  onResult?: ((m: unknown) => void) | undefined;
  intercept?: ((r: ForwardResult, body: string | undefined) => boolean) | undefined;
  /**
   * A GET that resumes an answer stream the backend ended before its answers (SSE polling): it goes to the
   * backend session of the parked requests and books their answers; `leave` lets go of their leg.
   */
  resume?: Parked & { leave: () => void };
}

export interface ExchangeOptions {
  /** A request unanswered this long fails, ms (listen streams and the GET stream have no deadline). */
  requestTimeoutMs: number;
  /** How long the backend may take to accept a connection, ms. */
  connectTimeoutMs: number;
  /** The client's Authorization header goes on to the backend (the router checks none of its own). */
  forwardAuthorization: boolean;
}

export class HttpExchange {
  /** Every exchange's ledger books its answers here; a failed request's error reply joins its exchange's `failed`. */
  private readonly booking: LedgerEvents<ErrorReply[]>;

  constructor(metrics: VersionMetrics, private readonly opts: ExchangeOptions) {
    this.booking = {
      book: (b) => metrics.request(b.server, b.version, b.method, b.latencyMs, b.outcome),
      reply: (error, p) => void p.context.push(error),
    };
  }

  /**
   * Forwards one request of a session (or a modern request) and counts what comes back. With `intercept`, the
   * result of an answer it took says `intercepted`. Resolves with the exchange's result, or undefined when it
   * failed (the client has its error) or was a GET that took over the stream held since a move.
   */
  async exchange(req: IncomingMessage, res: ServerResponse, s: Session, x: Exchange): Promise<ForwardResult | undefined> {
    const { body, messages, withHeaders = noHeaders, onResult, intercept, resume } = x;
    // The stream of the backend session the session moved to, held since the move: the client's GET takes it over.
    const held = req.method === 'GET' && !resume ? s.held : undefined;
    if (held) {
      s.held = undefined;
      if (held.attach(res)) return this.listenHeld(res, s, held);
    }
    // Counted on the backend session it goes to: a session that moves ends its old one after these.
    const leg = resume ? resume.leg : s.leg;
    if (leg) leg.inflight++;
    resume?.leave();
    try {
      const backend = resume?.record ?? s.record!;
      const backendSession = resume ? resume.backendSession : s.backendSession;
      // The version it went to, whatever the session moves to meanwhile: answers and errors name this one.
      const version = resume?.version ?? s.version;
      let clientHeaders = req.headers;
      let stop: AbortController | undefined;
      if (req.method === 'GET' && s.token !== '' && !resume) {
        stop = listenOn(s, res);
        if (s.staleEventIds) {
          s.staleEventIds = false;
          clientHeaders = { ...req.headers };
          delete clientHeaders['last-event-id'];
        }
      }
      // The requests of this POST (or those a resuming GET takes over). No deadline here: `forward` times the
      // exchange. The error replies of a failed exchange are collected, not sent: the catch below writes them as
      // the response allows.
      const failed: ErrorReply[] = resume?.failed ?? [];
      failed.length = 0;
      const pending = resume?.ledger ?? new RequestLedger(s.server, this.booking);
      // A subscriptions/listen stream is not a request to time: it lasts until the client closes it.
      for (const m of messages) if (m.method !== undefined && m.method !== LISTEN && m.id !== undefined && m.id !== null) pending.open(m.id, m.method, { version, context: failed });
      const asked = pending.inFlight > 0;
      // The requests' deadline counts from the POST, across the streams a polling backend answers them on.
      const deadline = resume?.deadline ?? performance.now() + this.opts.requestTimeoutMs;
      let streaming = false; // the backend answers with an SSE stream
      const onMessage = (m: unknown): void => {
        if (pending.settle(m as JsonRpc)) onResult?.(m);
      };
      let outcome;
      try {
        outcome = await forward(
          {
            url: backend.url,
            method: req.method as 'POST' | 'GET' | 'DELETE',
            clientHeaders,
            headers: backend.headers,
            // Every field is set, undefined where it does not apply: one object shape for `forward` to read.
            mcpHeaders: req.method === 'POST' && messages.length === 1 ? mcpRequestHeaders(messages[0]) : undefined,
            backendSession,
            body,
            forwardAuthorization: this.opts.forwardAuthorization,
            // A request unanswered by the deadline fails (listen streams and the GET stream have none).
            // A fresh request gets the one constant duration: Node keeps one timer list per duration, and a duration
            // that differs per request (what is left of a deadline) costs a list of its own each time.
            timeoutMs: !asked ? undefined : resume ? Math.max(1, Math.ceil(deadline - performance.now())) : this.opts.requestTimeoutMs,
            connectTimeoutMs: this.opts.connectTimeoutMs,
            stop: stop?.signal,
            intercept: req.method !== 'DELETE' && backendSession !== undefined ? intercept : undefined,
          },
          res,
          (r) => {
            streaming = r.contentType?.includes('text/event-stream') === true;
            return withHeaders(r, s);
          },
          onMessage,
          () => asked && pending.inFlight === 0,
        );
      } catch (e) {
        const message = e instanceof TimeoutError
          ? didNotAnswer(s.server, version, e.timeoutMs)
          : res.headersSent
            ? brokeOff(s.server, version, (e as Error).message)
            : e instanceof MalformedAnswerError
              ? malformedAnswer(s.server, version, e.message)
              : unreachable(s.server, version, backend.url, (e as Error).message);
        pending.failAll(message); // booked as transport failures; their error replies land in `failed`
        if (res.headersSent) {
          // Mid-stream: an SSE answer can still carry the errors; anything else can only be cut.
          if (!streaming || res.writableEnded) return void res.destroy();
          for (const error of failed) res.write(sseEvent(error));
          return void res.end();
        }
        if (failed.length === 0) return void rpcError(res, 502, -32603, message, null);
        return void json(res, 200, Array.isArray(messages) && messages.length > 1 ? failed : failed[0]);
      }
      // The client left: what it did not wait for is nobody's failure. Otherwise requests whose answer never came
      // (the stream ended first) count as failures of the version.
      // Intercepted: the backend did not serve it. Detached: the session moved, its GET stream is the mover's.
      if (outcome.clientGone || outcome.intercepted || outcome.detached) return outcome;
      // An answer stream that ended after an event id, before its answers: the backend polls (MCP 2025-11-25), and
      // the client resumes the stream with GET and Last-Event-ID. Its requests wait for that GET.
      // A resumed stream the backend closes again before any event of its own is resumed from the same id.
      const resumedFrom = resume ? req.headers['last-event-id'] : undefined;
      const parkAt = outcome.lastEventId ?? (typeof resumedFrom === 'string' ? resumedFrom : undefined);
      if (streaming && parkAt !== undefined && pending.inFlight > 0 && s.token !== '') {
        const expire = (p: Parked): void => void p.ledger.failAll(didNotAnswer(s.server, p.version, this.opts.requestTimeoutMs));
        park(s, parkAt, { ledger: pending, failed, record: backend, backendSession, leg, version, deadline }, expire);
        return outcome;
      }
      pending.abandonAll({ transportFailure: true });
      return outcome;
    } finally {
      leaveLeg(leg);
    }
  }

  /** The client's GET on a stream held since a move: its listener until either side ends it. */
  private async listenHeld(res: ServerResponse, s: Session, held: HeldStream): Promise<undefined> {
    const leg = s.leg;
    if (leg) leg.inflight++;
    listenOn(s, res).signal.addEventListener('abort', () => held.close(true));
    try {
      await finished(res).catch(() => undefined);
    } finally {
      leaveLeg(leg);
    }
    return undefined;
  }
}

/** The client's GET stream of `s`: a move writes its notices there and ends it, after `stop` detached the backend's side. */
function listenOn(s: Session, res: ServerResponse): AbortController {
  const listener = { res, stop: new AbortController() };
  s.listener = listener;
  res.on('close', () => s.listener === listener && delete s.listener);
  return listener.stop;
}
