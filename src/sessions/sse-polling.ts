/**
 * SSE polling (MCP 2025-11-25 Streamable HTTP): a backend may end a request's answer stream after an event with
 * an id (and a `retry:` field), before the answer; the client then resumes the stream with GET and
 * `Last-Event-ID`, and the answer comes there. The router keeps the requests of such a stream under its last
 * event id ("parked") until the client's GET claims them: that GET goes to the backend session the requests went
 * to (even after the session moved), its answers are booked as theirs, and that backend session is not ended
 * under them. Requests never claimed fail, booked as transport failures, at their deadline.
 */
import type { Leg, Session } from './http-session.js';
import { enterLeg } from './http-session.js';
import type { ErrorReply, RequestLedger } from './request-ledger.js';

/** The most answer streams one session may have waiting for its client's GET: past this the oldest expires. */
export const MAX_PARKED = 100;

/** The requests of an answer stream that ended before their answers, waiting for the client to resume it. */
export interface Parked {
  /** The requests, still pending, with their booking rule (each keeps `failed`, where its error reply goes). */
  ledger: RequestLedger<ErrorReply[]>;
  /** Where the ledger puts the error replies of requests that fail (the resuming GET writes them). */
  failed: ErrorReply[];
  /** The backend, backend session and version the requests went to. */
  record: { url: string; headers: Record<string, string> };
  backendSession: string | undefined;
  leg: Leg | undefined;
  version: string;
  /** When the requests' deadline passes, performance.now() ms. */
  deadline: number;
}

interface Held extends Parked {
  /** Stops the expiry timer and lets the backend session's leg go; true the first time. */
  release(): boolean;
}

/**
 * Keeps `p` under `lastEventId` until the client's GET claims it (claim), the session ends (releaseParked) or
 * the deadline passes: then `expire` fails its requests. Holds the backend session's leg meanwhile, so a session
 * that moves does not end the backend session holding the answers.
 */
export function park(s: Session, lastEventId: string, p: Parked, expire: (p: Parked) => void): void {
  const parked = (s.parked ??= new Map());
  const leave = enterLeg(p.leg);
  let held = true;
  const timer = setTimeout(() => {
    if (parked.get(lastEventId) === entry) parked.delete(lastEventId);
    if (entry.release()) expire(p);
  }, Math.max(0, p.deadline - performance.now()));
  timer.unref();
  const entry: Held = {
    ...p,
    release: () => {
      if (!held) return false;
      held = false;
      clearTimeout(timer);
      leave();
      return true;
    },
  };
  parked.get(lastEventId)?.release();
  parked.set(lastEventId, entry);
  if (parked.size > MAX_PARKED) {
    const [oldestId, oldest] = parked.entries().next().value!;
    parked.delete(oldestId);
    if (oldest.release()) expire(oldest);
  }
}

/**
 * The parked requests the client's GET with `lastEventId` resumes, taken out of the session (undefined when
 * none wait under that id: the GET is the client's stream for the backend's own messages). Call it after the
 * claiming exchange entered the parked leg, so the leg does not run empty in between: `leave` is to be called
 * once it has.
 */
export function claim(s: Session, lastEventId: string | undefined): (Parked & { leave: () => void }) | undefined {
  if (lastEventId === undefined) return undefined;
  const entry = s.parked?.get(lastEventId);
  if (!entry) return undefined;
  s.parked!.delete(lastEventId);
  return { ...entry, leave: () => void entry.release() };
}

/** The session is over: its parked requests are forgotten (nobody is left to answer them). */
export function releaseParked(s: Session): void {
  for (const p of s.parked?.values() ?? []) (p as Held).release();
  s.parked?.clear();
}
