/**
 * A real `@modelcontextprotocol/server-everything` restarted under a live session of `mcp-rollout serve`. It
 * answers a session id it does not know with `400 "Bad Request: No valid session ID provided"` (as every server
 * written from the SDK's example servers does), not the specification's 404: the router must take that 400 for
 * what it is. A real serve process, real server-everything restarted on the same port, the official SDK v1 client.
 */
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { freePort, startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };

async function echo(client: Client, message: string): Promise<string> {
  const r = await client.callTool({ name: 'echo', arguments: { message } });
  return (r.content as { text: string }[])[0]!.text;
}

/** One series of serve's counter of ended-or-moved sessions (0 when absent). */
async function ended(base: string, reason: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^mcp_rollout_sessions_ended_total\\{server="everything",version="1\\.0\\.0",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** serve's gauge of open sessions of everything 1.0.0 (0 when absent). */
async function active(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^mcp_rollout_sessions_active\{server="everything",version="1\.0\.0"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('serve over a real server-everything that restarts under a live session', { timeout: 120_000 }, () => {
  let p: TempProject;
  let backend: RunningBackend;
  let serve: ServeProcess | undefined;
  let client: Client | undefined;
  beforeEach(async () => {
    p = await tempProject();
    backend = await startEverything();
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await serve?.stop();
    serve = undefined;
    await backend.stop();
    await p.cleanup();
  });

  /** serve with `args`, an SDK v1 client with one call answered, then server-everything restarted on its port. */
  const sessionThenRestart = async (args: readonly string[] = []): Promise<StreamableHTTPClientTransport> => {
    serve = await startServe(await freePort(), { cwd: p.dir, env: p.env }, args);
    const transport = new StreamableHTTPClientTransport(new URL(`${serve.base}/mcp/everything`));
    client = new Client({ name: 'restart-test', version: '1.0.0' });
    await client.connect(transport);
    assert.equal(await echo(client, 'before'), 'Echo: before');
    const port = Number(new URL(backend.url).port);
    await backend.stop();
    backend = await startEverything({}, 'streamableHttp', port); // it knows no session
    return transport;
  };

  it('the call after the restart is answered on a new backend session; the session keeps its id and the move is counted', async () => {
    const transport = await sessionThenRestart();
    const sid = transport.sessionId;
    // Before: this call, and every later one, failed with the backend's 400.
    assert.equal(await echo(client!, 'after'), 'Echo: after');
    assert.equal(await echo(client!, 'and again'), 'Echo: and again');
    assert.equal(transport.sessionId, sid, 'the same session');
    assert.equal(await ended(serve!.base, 'BackendSessionGone'), 1);
    assert.equal(await active(serve!.base), 1);
  });

  it('a 400 that is not about the session reaches the client unchanged, and the session stays', async () => {
    const transport = await sessionThenRestart();
    assert.equal(await echo(client!, 'moved'), 'Echo: moved');
    // A protocol version server-everything does not support: its own 400, the same code as its session refusal.
    const res = await fetch(`${serve!.base}/mcp/everything`, {
      method: 'POST',
      headers: { ...HEADERS, 'mcp-protocol-version': '1999-01-01', 'mcp-session-id': transport.sessionId! },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
    });
    assert.equal(res.status, 400);
    const error = ((await res.json()) as { error: { code: number; message: string } }).error;
    assert.equal(error.code, -32000);
    assert.match(error.message, /^Bad Request: Unsupported protocol version: 1999-01-01/);
    assert.equal(await echo(client!, 'still'), 'Echo: still');
    assert.equal(await ended(serve!.base, 'BackendSessionGone'), 1, 'one move, for the restart');
  });

  it('under --on-rollback 404, the session ends: the call after the restart gets the router\'s 404, counted as BackendSessionGone', async () => {
    await sessionThenRestart(['--on-rollback', '404']);
    await assert.rejects(echo(client!, 'after'), (e: Error & { code?: number }) => {
      assert.equal(e.code, 404, e.message);
      assert.match(e.message, /Session not found: server \\"everything\\" version 1\.0\.0 no longer knows the session \(its backend restarted\); initialize a new session/);
      return true;
    });
    assert.equal(await ended(serve!.base, 'BackendSessionGone'), 1);
    assert.equal(await active(serve!.base), 0);
  });
});
