/**
 * The router's own HTTP replies: plain text, JSON, JSON-RPC errors, and one message as an SSE event.
 */
import type { ServerResponse } from 'node:http';

/** One JSON-RPC message as an SSE event. */
export const sseEvent = (m: unknown): string => `event: message\ndata: ${JSON.stringify(m)}\n\n`;

/** Headers of an SSE answer (a POST's stream or the GET stream). */
export const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' } as const;

export function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text.endsWith('\n') ? text : `${text}\n`);
}

export function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** A JSON-RPC error as the whole answer (`id` null when the request's is unknown). */
export function rpcError(res: ServerResponse, status: number, code: number, message: string, id: string | number | null | undefined, headers: Record<string, string> = {}): void {
  json(res, status, { jsonrpc: '2.0', id: id ?? null, error: { code, message } }, headers);
}
