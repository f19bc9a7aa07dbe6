/**
 * SSE polling (MCP 2025-11-25 Streamable HTTP) through the HTTP router: a backend (the SDK v1 server with an
 * event store, fixtures/servers/polling-http-server.mjs) closes a call's answer stream after its priming event,
 * before the answer; the SDK v1 client resumes it with GET and Last-Event-ID, through the router, and receives
 * the answer there. The router passes the clean end through, sends the resuming GET to the backend session that
 * holds the answer (even after the session moved), books the answer as the call's, and keeps the client's own
 * GET stream as the one a move writes its notices on.
 */
import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';
import { pollingServer, type PollingServer } from '../helpers/polling-http.js';

const http = (s: PollingServer) => ({ type: 'http' as const, url: s.url, headers: {} });
const text = (r: unknown): string => (r as { content: { text: string }[] }).content[0]!.text;

/** Polls until `cond` holds; fails naming `what` (a guard against hanging, not a timed assertion). */
async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(20)) if (await cond()) return;
  assert.fail(`never happened: ${what}`);
}

/** One series of the router's /metrics (0 when absent). */
async function metric(base: string, name: string, labels: string): Promise<number> {
  const body = await (await fetch(`${base}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('SSE polling through the HTTP router', () => {
  const backends: PollingServer[] = [];
  let r: RouterHarness | undefined;
  let client: Client | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await r?.close();
    r = undefined;
    await Promise.all(backends.splice(0).map((b) => b.stop()));
  });

  async function connect(): Promise<{ client: Client; changes: () => number }> {
    client = new Client({ name: 'polling-test', version: '1.0.0' });
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    await client.connect(new StreamableHTTPClientTransport(new URL(r!.url('poll'))));
    return { client, changes: () => changes };
  }

  it('an answer stream closed before the answer: the client resumes it through the router, gets the answer and its progress, and nothing counts as failed', async () => {
    const backend = await pollingServer();
    backends.push(backend);
    r = await startRouter((reg) => reg.deploy('poll', { version: '1.0.0', transport: http(backend) }).then(() => undefined));
    const c = await connect();
    await until('the client listens on its GET stream', () => r!.router.openStreams() === 1);
    const progress: number[] = [];
    const answer = await c.client.callTool({ name: 'wait', arguments: { polls: 2, ms: 50 } }, undefined, { onprogress: (p) => void progress.push(p.progress), timeout: 20_000 });
    assert.equal(text(answer), 'polling waited 2 x 50 ms');
    assert.deepEqual(progress, [1], 'the progress sent between the two closes came on the resumed stream');
    assert.equal(await backend.closes(), 2, 'the backend closed the answer stream twice');
    // A close that comes while the client has not resumed yet (a loaded machine) closes nothing: one resumption then
    // carries the rest, so the count is at least one, not one per close.
    assert.ok((await backend.resumes()) >= 1, 'the client resumed it through the router');
    const v = 'server="poll",version="1.0.0"';
    assert.equal(await metric(r.base, 'mcp_rollout_transport_failures_total', v), 0, 'a polled answer is no transport failure');
    assert.equal(await metric(r.base, 'mcp_rollout_requests_total', `${v},method="tools/call"`), 1, 'the call is booked once, when its answer came');
    assert.equal(await metric(r.base, 'mcp_rollout_errors_total', v), 0);
    assert.equal(r.router.openStreams(), 1, "the client's own GET stream is still the session's");
    assert.equal(text(await c.client.callTool({ name: 'echo', arguments: { text: 'after' } })), 'polling echo: after');
  });

  it('a session that moves while its answer waits between polls: the resumed stream goes to the backend session holding it, and the move\'s notice reaches the client\'s own GET stream', async () => {
    // Green closes the call's stream and holds its answer; the client resumes only after 1.5 s (`retry:`), by
    // which time the rollback has moved the session to blue.
    const blue = await pollingServer({ TAG: 'blue' });
    const green = await pollingServer({ TAG: 'green', EXTRA: '1', RETRY_MS: '1500' });
    backends.push(blue, green);
    r = await startRouter(async (reg) => {
      await reg.deploy('poll', { version: '1.0.0', transport: http(blue) });
      await reg.deploy('poll', { version: '2.0.0', transport: http(green), traffic: 100 });
    });
    const c = await connect();
    await until('the client listens on its GET stream', () => r!.router.openStreams() === 1);
    const call = c.client.callTool({ name: 'wait', arguments: { polls: 1, ms: 0, hold: true } }, undefined, { timeout: 20_000 });
    await until('green closed the answer stream', async () => (await green.closes()) === 1);
    await r.registry.rollback('poll', '2.0.0', 'bad');
    await until('tools/list_changed reached the client', () => c.changes() > 0); // blue has no alerts tool
    assert.equal(await green.release(), 1, 'the held call is released on green');
    assert.equal(text(await call), 'green waited 1 x 0 ms', 'the answer came from the backend session that held it');
    assert.equal(text(await c.client.callTool({ name: 'echo', arguments: { text: 'next' } })), 'blue echo: next', 'the next call is answered by the blue');
    assert.equal(await metric(r.base, 'mcp_rollout_transport_failures_total', 'server="poll",version="2.0.0"'), 0);
    assert.equal(await metric(r.base, 'mcp_rollout_requests_total', 'server="poll",version="2.0.0",method="tools/call"'), 1);
  });
});
