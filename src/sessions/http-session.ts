/**
 * One client session of the HTTP router, as the session core sees it: its pin (server, version, since when),
 * the backend it speaks to (an HTTP backend session, or a bridge to a stdio or sse backend behind a
 * client-facing front), and what a move needs (the client's initialize, its GET stream).
 */
import type { ServerResponse } from 'node:http';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { VersionRecord } from '../domain/types.js';
import type { StreamableFront } from '../fronts/streamable-front.js';
import type { FrontLink } from './front-link.js';
import type { HeldStream } from './held-stream.js';
import type { SessionBridge } from './session-bridge.js';
import type { Parked } from './sse-polling.js';

export interface Session {
  token: string;
  /** sessionDigest(token), once the table needs it (its router shares session ends through the store). */
  digest?: string;
  server: string;
  version: string;
  /** Where an HTTP backend is (absent for a stdio backend, which `bridge` serves). */
  record?: { url: string; headers: Record<string, string> };
  bridge?: SessionBridge;
  /** The client-facing transport of a bridged session: Streamable HTTP, or legacy HTTP+SSE. */
  front?: StreamableFront | SSEServerTransport;
  backendSession?: string;
  /** It runs a backend process of its own (a bridged stdio version), which the process budget bounds. */
  process?: boolean;
  /** When the session was pinned to `version` (it started, or last moved), epoch ms. */
  startedAt: number;
  lastUsed: number;
  /** The client's initialize params, replayed to the new backend when the session moves. */
  init?: Record<string, unknown>;
  /** The protocol version the session speaks (its initialize result, or an adopted session's header). */
  protocolVersion?: string;
  /** An HTTP session's requests on its current backend session (the one it leaves is ended once they are done). */
  leg?: Leg;
  /** An HTTP session's GET stream while its client holds it open: a move writes list_changed on it, then ends it. */
  listener?: { res: ServerResponse; stop: AbortController };
  /** The GET stream of the backend session it moved to, held for the client's next GET (see held-stream.ts). */
  held?: HeldStream;
  /** The client's SSE event ids came from a backend session it has left: not passed to the next one. */
  staleEventIds?: boolean;
  /** A bridged session: its current bridge's link to the front (a move puts a new bridge behind the same front). */
  link?: FrontLink;
  /** Requests whose answer stream ended before their answers, by the stream's last event id (see sse-polling.ts). */
  parked?: Map<string, Parked & { release(): boolean }>;
  /** A move under way: the session's requests wait for it. Resolves with why it ended instead, or undefined. */
  moving?: Promise<string | undefined>;
}

/** One backend session of an HTTP session: its requests in flight, and what to do once they are done after a move. */
export interface Leg {
  inflight: number;
  left?: () => void;
}

/** A JSON-RPC message as the router reads it. */
export type JsonRpc = { jsonrpc?: string; id?: string | number | null; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: unknown };

/**
 * Where an http version's requests go (default: its stored URL and headers); serve resolves managed versions
 * to their running server. Throws for a version with no server answering.
 */
export type BackendOf = (server: string, record: VersionRecord & { type: 'http' | 'sse' }) => { url: string; headers: Record<string, string> };

/** Runs `then` once no request is in flight on `leg`. */
export function whenDone(leg: Leg, then: () => void): void {
  if (leg.inflight === 0) then();
  else leg.left = then;
}

/** One request more in flight on `leg`; the function returned says it is done (and runs what waited for that). */
export function enterLeg(leg: Leg | undefined): () => void {
  if (leg) leg.inflight++;
  return () => leaveLeg(leg);
}

/** One request fewer in flight on `leg` (entered with `leg.inflight++`): the last one out runs what waited. */
export function leaveLeg(leg: Leg | undefined): void {
  if (leg && --leg.inflight === 0 && leg.left) {
    const left = leg.left;
    delete leg.left;
    left();
  }
}

/**
 * The initialize replayed for a session taken on from its id alone (the id does not carry the client's
 * params): the protocol version the client speaks (its MCP-Protocol-Version header; 2025-06-18 without one),
 * no capabilities.
 */
export function minimalInit(protocolVersion: string | undefined): Record<string, unknown> {
  return { protocolVersion: protocolVersion ?? '2025-06-18', capabilities: {}, clientInfo: { name: 'mcp-rollout (adopted session)', version: '1' } };
}

/** Keeps `key -> value` as the newest entry of a map bounded to 10,000 entries (the oldest goes first). */
export function remember(map: Map<string, string>, key: string, value: string): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > 10_000) map.delete(map.keys().next().value!);
}
