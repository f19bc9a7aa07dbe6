/**
 * The router's own conversation with a Streamable HTTP backend, outside any client request: opening a backend
 * session for a session that moves (the client's `initialize` replayed, then `notifications/initialized`) and
 * reading its lists. One JSON-RPC message per POST; the answer may come as JSON or as an SSE stream.
 */
import type { Surface } from '../domain/list-changes.js';
import { readLists, type Ask } from './session-move.js';
import { backendTarget, send, type BackendCall } from '../backends/backend-client.js';

export interface BackendEndpoint {
  url: string;
  headers: Record<string, string>;
}

export interface CallOptions {
  /** The backend's session id (absent for initialize). */
  session?: string;
  protocolVersion?: string;
  /** ms for the whole exchange (default 10000). */
  timeoutMs?: number;
  /** ms the backend may take to accept a connection (default: the backend client's). */
  connectTimeoutMs?: number;
}

type Msg = { id?: unknown; method?: string; result?: Record<string, unknown>; error?: unknown };

export interface CallAnswer {
  status: number;
  /** The `Mcp-Session-Id` the backend answered with, if any. */
  session?: string;
  /** The message answering the request (by id), if one came. */
  answer?: Msg;
}

/** Sends one message; resolves with the status and the answer. Rejects when the backend cannot be reached or is late. */
export function backendCall(ep: BackendEndpoint, message: Record<string, unknown>, opts: CallOptions = {}): Promise<CallAnswer> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...ep.headers };
  if (opts.session !== undefined) headers['mcp-session-id'] = opts.session;
  if (opts.protocolVersion !== undefined) headers['mcp-protocol-version'] = opts.protocolVersion;
  return new Promise((resolve, reject) => {
    let head: { status: number; headers: Record<string, string> } | undefined;
    const parts: Buffer[] = [];
    let call: BackendCall | undefined;
    const timer = setTimeout(() => {
      call?.abort();
      reject(new Error(`did not answer ${String(message.method)} within ${timeoutMs} ms`));
    }, timeoutMs).unref();
    const done = (): void => {
      clearTimeout(timer);
      const sid = head!.headers['mcp-session-id'];
      const answer = messagesIn(head!.headers['content-type'] ?? '', Buffer.concat(parts).toString('utf8')).find((m) => m.method === undefined && m.id === message.id && message.id !== undefined);
      resolve({ status: head!.status, ...(sid === undefined ? {} : { session: sid }), ...(answer === undefined ? {} : { answer }) });
    };
    try {
      call = send(backendTarget(ep.url), 'POST', headers, Buffer.from(JSON.stringify(message)), {
        head: (h) => (head = h),
        data: (c) => {
          parts.push(c);
          // An SSE answer to a request may stay open after it (a server's stream): the answer is enough.
          if (message.id !== undefined && (head?.headers['content-type'] ?? '').includes('text/event-stream') && messagesIn('text/event-stream', Buffer.concat(parts).toString('utf8')).some((m) => m.id === message.id && m.method === undefined)) {
            call?.abort();
            done();
          }
        },
        end: done,
        error: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      }, opts.connectTimeoutMs);
    } catch (e) {
      clearTimeout(timer);
      reject(e as Error);
    }
  });
}

/** The JSON-RPC messages in a JSON body or an SSE stream; what does not parse is skipped. */
function messagesIn(contentType: string, text: string): Msg[] {
  const parse = (t: string): Msg[] => {
    try {
      const v = JSON.parse(t) as Msg | Msg[];
      return Array.isArray(v) ? v : [v];
    } catch {
      return [];
    }
  };
  if (!contentType.includes('text/event-stream')) return parse(text);
  const out: Msg[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, ''));
    if (data.length > 0) out.push(...parse(data.join('\n')));
  }
  return out;
}

export interface OpenedSession {
  /** The backend's session id (absent for a backend that keeps none). */
  session?: string;
  /** The initialize result (its protocolVersion, capabilities). */
  result: Record<string, unknown>;
}

/**
 * Opens a backend session with the client's initialize params, then says `notifications/initialized`
 * (`beforeInitialized` is told the session in between, and waited for: what the backend sends once initialized
 * may be heard).
 * Throws an Error saying what the backend did instead (the caller adds server and version).
 */
export async function openBackendSession(ep: BackendEndpoint, initParams: Record<string, unknown>, opts: CallOptions = {}, beforeInitialized?: (session: string | undefined, protocolVersion: string | undefined) => Promise<void> | void): Promise<OpenedSession> {
  const init = await backendCall(ep, { jsonrpc: '2.0', id: 'mcp-rollout:initialize', method: 'initialize', params: initParams }, opts);
  const result = init.answer?.result;
  if (init.status !== 200 || !result) {
    throw new Error(`refused the replayed initialize (HTTP ${init.status}${init.answer?.error === undefined ? '' : `: ${JSON.stringify(init.answer.error)}`})`);
  }
  const pv = typeof result.protocolVersion === 'string' ? result.protocolVersion : undefined;
  const session = init.session;
  await beforeInitialized?.(session, pv);
  await backendCall(ep, { jsonrpc: '2.0', method: 'notifications/initialized' }, { ...opts, ...(session === undefined ? {} : { session }), ...(pv === undefined ? {} : { protocolVersion: pv }) });
  return { ...(session === undefined ? {} : { session }), result };
}

/** What a backend session offers, per list; a list it cannot give (no such capability, an error) is absent. */
export function readSurface(ep: BackendEndpoint, opts: CallOptions): Promise<Surface> {
  const ask: Ask = (method, params, timeoutMs) =>
    backendCall(ep, { jsonrpc: '2.0', id: `mcp-rollout:${method}`, method, params }, { ...opts, timeoutMs }).then((a) => a.answer, () => undefined);
  return readLists(ask, opts.timeoutMs ?? 10_000);
}
