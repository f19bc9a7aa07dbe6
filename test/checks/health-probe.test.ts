/**
 * The health probe's message for a server that dies between the handshake and tools/list (a crash under
 * traffic): it names what happened, not the HTTP client's bare "fetch failed". A real socket: the server answers
 * the handshake, then drops the connection that carries tools/list.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { probeVersion } from '../../src/pipeline/health-probe.js';

/** An MCP server over HTTP that speaks the legacy era, answers initialize, and drops tools/list's connection. */
async function dyingServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number | string; method: string };
      const answer = (body: unknown): void => void res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'dying-1' }).end(JSON.stringify(body));
      if (m.method === 'initialize') return answer({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'dying', version: '1.0.0' } } });
      if (m.id === undefined) return void res.writeHead(202).end();
      if (m.method === 'tools/list') return void req.socket.destroy();
      answer({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `Method not found: ${m.method}` } });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('the health probe', () => {
  it('names a connection the server dropped after its handshake, not "fetch failed"', async () => {
    const s = await dyingServer();
    try {
      const probe = await probeVersion({ version: '1.0.0', type: 'http', url: s.url, headers: {} } as Parameters<typeof probeVersion>[0], 5000);
      assert.equal(probe.healthy, false);
      assert.match(probe.message, /^tools\/list failed: the server closed the connection \((ECONNRESET|UND_ERR_SOCKET|UND_ERR_CLOSED)\)$/);
    } finally {
      await s.close();
    }
  });
});
