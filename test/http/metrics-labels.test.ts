/**
 * /metrics stays bounded whatever clients send: through a real `mcp-rollout serve`, requests with made-up
 * method names are counted under method="other", so the request series are MCP's methods plus one.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { MCP_REQUEST_METHODS } from '../../src/protocol/mcp-methods.js';
import { freePort } from '../helpers/everything-http.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const MADE_UP = 1000;

describe('/metrics method labels through mcp-rollout serve', () => {
  let p: TempProject;
  let serve: ChildProcessWithoutNullStreams;
  let base: string;
  before(async () => {
    p = await tempProject();
    await new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env })).deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } });
    const port = await freePort();
    serve = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(port)], { cwd: p.dir, env: p.env });
    serve.stderr.resume();
    let out = '';
    serve.stdout.setEncoding('utf8');
    while (!out.includes('listening')) {
      const [chunk] = (await Promise.race([once(serve.stdout, 'data'), once(serve, 'exit').then(() => { throw new Error(`serve exited: ${out}`); })])) as [string];
      out += chunk;
    }
    serve.stdout.resume();
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    if (serve.exitCode === null && serve.signalCode === null) {
      const exited = once(serve, 'exit');
      serve.kill('SIGTERM');
      await exited;
    }
    await p.cleanup();
  });

  it(`${MADE_UP} made-up methods add one series, method="other", counting ${MADE_UP}`, async () => {
    const client = new Client({ name: 'labels-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/raw`));
    await client.connect(transport);
    await client.listTools();
    // The raw server answers any method it does not know with {echoed: method}; 20 at a time.
    for (let i = 0; i < MADE_UP; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => client.request({ method: `made-up/${Math.random().toString(36).slice(2)}-${i + j}` }, ResultSchema)));
    }
    const text = await (await fetch(`${base}/metrics`)).text();
    const series = text.split('\n').filter((l) => l.startsWith('mcp_rollout_requests_total{server="raw"'));
    const methods = series.map((l) => /method="([^"]*)"/.exec(l)?.[1]);
    assert.deepEqual(methods.sort(), ['initialize', 'other', 'tools/list'], series.join('\n'));
    assert.ok(series.includes(`mcp_rollout_requests_total{server="raw",version="1.0.0",method="other"} ${MADE_UP}`), series.join('\n'));
    for (const m of methods) assert.ok(m === 'other' || MCP_REQUEST_METHODS.has(m!), `${m} is an MCP method`);
    await transport.terminateSession();
    await client.close();
  });
});
