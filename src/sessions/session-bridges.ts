/**
 * The bridged sessions of the HTTP router (a stdio version's process, an sse version's connection): a
 * client-facing front that stays for the session's life, and behind it the current bridge to a backend, which
 * a move replaces.
 */
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { VersionRecord } from '../domain/types.js';
import { StreamableFront } from '../fronts/streamable-front.js';
import type { StdioOptions } from '../backends/stdio-upstream.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { FrontLink } from './front-link.js';
import type { Session } from './http-session.js';
import { SessionBridge } from './session-bridge.js';
import type { SessionTable } from './session-table.js';

export interface BridgeDeps {
  table: SessionTable;
  metrics: VersionMetrics;
  stdioOptions: StdioOptions;
  /** A request unanswered this long gets an error naming server and version, ms. */
  requestTimeoutMs: number;
  now: () => number;
  /** The session's current backend died unasked (`reason` names server and version). */
  died: (s: Session, reason: string) => void;
}

export class SessionBridges {
  constructor(private readonly deps: BridgeDeps) {}

  /** Wires a session's client-facing transport to a backend on `record` and registers the session. */
  open(session: Session, record: VersionRecord, front: StreamableFront | SSEServerTransport, room: Promise<unknown>): void {
    this.wireFront(session, front);
    this.attach(session, record, room);
    this.deps.table.add(session);
  }

  /** Gives a bridged session its client-facing transport, which speaks to whichever bridge is current. */
  wireFront(session: Session, front: StreamableFront | SSEServerTransport): void {
    session.front = front;
    // A move replaces the bridge, not the front.
    front.onmessage = (m: JSONRPCMessage) => session.link?.deliver(m);
    front.onclose = () => session.link?.onclose?.();
    if (front instanceof StreamableFront) front.onbacklog = (full) => session.bridge?.backlog(full);
  }

  /**
   * Gives a session whose client initialized elsewhere (on another router, in this router's last run, or on an
   * HTTP backend it is moving away from) a Streamable HTTP front that takes its requests as an initialized
   * session's. The client's DELETE ends the session, which is then not to be taken on again here.
   */
  initializedFront(session: Session): StreamableFront {
    const front = new StreamableFront(session.token, () => this.endedByClient(session), true);
    this.wireFront(session, front);
    return front;
  }

  /**
   * The client of a session with a front here ended it with DELETE: it is not taken on again (here, nor by the
   * other routers of a store that shares session ends), and its bridge closes (its process stops).
   */
  endedByClient(session: Session): void {
    this.deps.table.endedByClient(session.token);
    if (session.bridge) void session.bridge.close();
    else this.deps.table.drop(session);
  }

  /**
   * A bridge to a backend on `record` behind the session's front, made the session's current one; a stdio
   * version's process starts once `room` settles.
   */
  attach(session: Session, record: VersionRecord, room: Promise<unknown>): SessionBridge {
    const { table, metrics, stdioOptions, requestTimeoutMs, now, died } = this.deps;
    const link = new FrontLink(session.front!);
    // Callbacks of a bridge the session has moved away from concern that bridge only, not the session.
    const bridge: SessionBridge = new SessionBridge(session.server, record, link, metrics, () => session.bridge === bridge && table.drop(session), stdioOptions, requestTimeoutMs, room);
    bridge.onsettled = () => (session.lastUsed = now());
    bridge.ondied = (reason) => session.bridge === bridge && died(session, reason);
    session.process = record.type === 'stdio';
    session.bridge = bridge;
    session.link = link;
    metrics.sessionStarted(session.server, record.version);
    return bridge;
  }
}
