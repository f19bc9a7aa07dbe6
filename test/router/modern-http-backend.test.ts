/**
 * The stateless 2026-07-28 revision through the stdio proxy to an HTTP backend that checks the revision's
 * request headers (the v2 SDK server answers 400 when MCP-Protocol-Version, Mcp-Method or Mcp-Name is missing
 * or disagrees with the body). The proxy derives them from each message it forwards.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const MODERN = fileURLToPath(new URL('../../../test/fixtures/servers/modern-server.mjs', import.meta.url));

describe('2026-07-28 through the stdio proxy to an HTTP backend that checks its headers', () => {
  let p: TempProject;
  let backend: ChildProcess;
  before(async () => {
    p = await tempProject();
    backend = spawn(process.execPath, [MODERN, '--http'], { env: { ...process.env, TAG: 'web' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve) => backend.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('web', { version: '1.0.0', transport: { type: 'http', url: `http://127.0.0.1:${port}/mcp`, headers: {} } });
  });
  after(async () => {
    const exited = new Promise((resolve) => backend.once('exit', resolve));
    backend.kill('SIGTERM');
    await exited;
    await p.cleanup();
  });

  const proxy = (): StdioClientTransport =>
    new StdioClientTransport({ command: process.execPath, args: [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', 'web'], cwd: p.dir, env: p.env as Record<string, string> });

  it('a pinned modern client discovers, lists and calls tools (with progress and an input_required retry)', async () => {
    const client = new Client({ name: 'modern-http-backend', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: { elicitation: { form: {} } } });
    client.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { ok: true } }));
    const transport = proxy();
    try {
      await client.connect(transport);
      // What reaches the client, in order. The v2 SDK client itself sometimes drops progress notifications
      // that arrive in the same read as their answer (it settles the request before it dispatches them), so
      // the proxy's part, every notification before the answer, is asserted on the wire.
      const wire: string[] = [];
      const deliver = transport.onmessage!;
      transport.onmessage = (m) => {
        const x = m as { method?: string; params?: { progress?: number } };
        wire.push(x.method === 'notifications/progress' ? `progress ${x.params?.progress}` : x.method ?? 'answer');
        deliver(m);
      };
      assert.equal(client.getProtocolEra(), 'modern');
      const tools = await client.listTools();
      assert.ok(tools.tools.some((t) => t.name === 'echo'));
      assert.equal(((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).content as { text: string }[])[0]!.text, 'web echo: hi');
      const progress: number[] = [];
      wire.length = 0;
      const counted = await client.callTool({ name: 'count', arguments: { n: 3 } }, { onprogress: (x) => progress.push(x.progress) });
      assert.equal((counted.content as { text: string }[])[0]!.text, 'web counted 3');
      assert.deepEqual(wire, ['progress 1', 'progress 2', 'progress 3', 'answer']);
      assert.ok(progress.every((p, i) => p === i + 1), `progress seen by the client: ${progress.join(', ')}`);
      const confirmed = await client.callTool({ name: 'confirm', arguments: { what: 'it' } });
      assert.equal((confirmed.content as { text: string }[])[0]!.text, 'web did it');
    } finally {
      await client.close();
    }
  });

  it('a legacy client still initialises through the proxy and calls a tool', async () => {
    const client = new Client({ name: 'legacy-http-backend', version: '1.0.0' });
    try {
      await client.connect(proxy());
      assert.equal(client.getProtocolEra(), 'legacy');
      assert.equal(((await client.callTool({ name: 'echo', arguments: { text: 'old' } })).content as { text: string }[])[0]!.text, 'web echo: old');
    } finally {
      await client.close();
    }
  });
});
