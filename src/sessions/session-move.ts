/**
 * The steps every front takes with a pinned session, written once for the stdio proxy (proxy-migration.ts)
 * and the HTTP router (session-migration.ts): the pin decision asked with the session's pin, and, when the
 * session moves, the client's `initialize` replayed on the new backend (its answer checked) and the
 * `list_changed` notices the client gets. How a front reaches its backend is its own: it passes an `Ask`.
 */
import { LISTS, listChangedNotices, noticesForCapabilities, type Surface } from '../domain/list-changes.js';
import { decidePin, NOTHING_SEEN, type Observed, type PinDecision, type PinPolicy } from '../domain/pin-decision.js';
import type { LiveView } from '../registry/live-view.js';
import type { Answer } from './private-requests.js';

/** A request of the front's own to a backend; resolves with its answer, or undefined when none came in time. */
export type Ask = (method: string, params: Record<string, unknown>, timeoutMs: number) => Promise<Answer | undefined>;

/** What the pin decision needs of a session: where it is pinned, since when, and its last use (epoch ms). */
export interface PinnedSession {
  server: string;
  version: string;
  /** When the session was pinned to `version` (it started, or moved there). */
  startedAt: number;
  /** Omit: no idle timeout applies. */
  lastUsed?: number;
}

/** The pin decision (domain/pin-decision.ts) for `s` at `now` (epoch ms), with what the registry says now. */
export function decideNow(view: LiveView, s: PinnedSession, now: number, policy: PinPolicy, observed: Observed = NOTHING_SEEN): PinDecision {
  const pin = { server: s.server, version: s.version, pinnedAt: s.startedAt, lastUsed: s.lastUsed };
  return decidePin(view.get(s.server), pin, now, policy, observed);
}

export type Replayed = { ok: true; result: Record<string, unknown> } | { ok: false; why: string };

/**
 * Replays the client's `initialize` (`params`) on a new backend through `ask`, waiting `timeoutMs` (ms). Not ok,
 * with why (to follow the version's label), when it gave no result: a backend that would not be initialised
 * must not serve the session half set up. Never rejects when `ask` does not.
 */
export async function replayInitialize(ask: Ask, params: Record<string, unknown>, timeoutMs: number): Promise<Replayed> {
  const answer = await ask('initialize', params, timeoutMs);
  if (answer?.result) return { ok: true, result: answer.result };
  return { ok: false, why: answer?.error === undefined ? `did not answer the replayed initialize within ${timeoutMs} ms` : `refused the replayed initialize: ${JSON.stringify(answer.error)}` };
}

/** What a backend offers, per list, read through `ask` (a list it gives no result for is absent). */
export async function readLists(ask: Ask, timeoutMs: number): Promise<Surface> {
  const answers = await Promise.all(LISTS.map(({ method }) => ask(method, {}, timeoutMs)));
  return Object.fromEntries(LISTS.map(({ list }, i) => [list, answers[i]?.result?.[list]]));
}

/**
 * The `list_changed` notification methods for a move: one for each list that differs between what the old and
 * the new backend say (read both at once). Without `readOld` (the old backend died, or forgot the session),
 * every list the new one offers by its initialize result's `capabilities` may have changed.
 */
export async function noticesBetween(readOld: (() => Promise<Surface>) | undefined, readNew: () => Promise<Surface>, capabilities: unknown): Promise<string[]> {
  if (!readOld) return noticesForCapabilities(capabilities);
  const [before, after] = await Promise.all([readOld(), readNew()]);
  return listChangedNotices(before, after);
}
