#!/usr/bin/env node
// An example MCP server in several versions, for the demo and the tests:
//   node weather-server.mjs <variant>               over stdio
//   node weather-server.mjs <variant> --http <port>  over Streamable HTTP at http://127.0.0.1:<port>/mcp
//   v1        tools: current, forecast
//   v2        v1 plus alerts (an additive change)
//   v3        like v2, but about a third of tool calls fail with a JSON-RPC error
//   faulty    like v2, but every other tool call fails as a tool (isError: true, "weather station offline")
//   breaking  forecast removed, current gains a required argument (a breaking change)
//   slow      like v1, every call takes 150 ms
//   stall     never answers initialize
//   crash     exits with an error before the handshake
//   linger    like v1, but ignores the end of stdin (an unclean shutdown)
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';

const variant = process.argv[2] ?? 'v1';
const httpPort = process.argv[3] === '--http' ? Number(process.argv[4]) : undefined;
if (variant === 'crash') {
  process.stderr.write('weather-server: cannot open database: /var/lib/weather.db: no such file\n');
  process.exit(3);
}
if (variant === 'stall') {
  process.stdin.resume(); // read and ignore everything, answer nothing
  process.stdin.on('end', () => process.exit(0));
} else {
  const tools = [
    {
      name: 'current',
      description: 'Current conditions at the default station',
      inputSchema: variant === 'breaking'
        ? { type: 'object', properties: { station: { type: 'string' } }, required: ['station'] }
        : { type: 'object', properties: {} },
      annotations: { readOnlyHint: true },
    },
    ...(variant === 'breaking' ? [] : [{
      name: 'forecast',
      description: 'Forecast for a city',
      inputSchema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city'] },
      annotations: { readOnlyHint: true },
    }]),
    ...(['v2', 'v3', 'faulty'].includes(variant) ? [{
      name: 'alerts',
      description: 'Weather alerts for a region',
      inputSchema: { type: 'object', properties: { region: { type: 'string' } }, required: ['region'] },
      annotations: { readOnlyHint: true },
    }] : []),
  ];
  let calls = 0; // shared by every session, so "a third of calls" holds across them
  const newServer = () => {
    const server = new Server({ name: 'weather', version: variant }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
    server.setRequestHandler(CallToolRequestSchema, async (req) => {
      const { name, arguments: args = {} } = req.params;
      const tool = tools.find((t) => t.name === name);
      if (!tool) throw new McpError(ErrorCode.InvalidParams, `unknown tool "${name}"`);
      for (const r of tool.inputSchema.required ?? []) {
        if (typeof args[r] !== 'string') throw new McpError(ErrorCode.InvalidParams, `tool "${name}": argument "${r}" (string) is required`);
      }
      calls += 1;
      if (variant === 'v3' && calls % 3 === 0) throw new McpError(ErrorCode.InternalError, 'weather backend timed out');
      // The protocol succeeds and the tool reports its failure: clients see no error, the analysis sees tool errors.
      if (variant === 'faulty' && calls % 2 === 0) return { content: [{ type: 'text', text: `weather station offline (${variant})` }], isError: true };
      if (variant === 'slow') await new Promise((r) => setTimeout(r, 150));
      const text = name === 'current' ? `sunny, 21°C (${variant})`
        : name === 'forecast' ? `${args.city}: sunny for ${args.days ?? 3} days (${variant})`
        : `no alerts for ${args.region} (${variant})`;
      return { content: [{ type: 'text', text }] };
    });
    return server;
  };
  if (httpPort !== undefined) {
    const sessions = new Map();
    const http = createServer(async (req, res) => {
      const sid = req.headers['mcp-session-id'];
      let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (!transport) {
        if (typeof sid === 'string') {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
          return;
        }
        transport = new StreamableHTTPServerTransport({ sessionIdGenerator: randomUUID, onsessioninitialized: (id) => sessions.set(id, transport) });
        transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
        await newServer().connect(transport);
      }
      await transport.handleRequest(req, res);
    });
    http.listen(httpPort, '127.0.0.1', () => process.stdout.write(`weather ${variant} listening on port ${httpPort}\n`));
    process.on('SIGTERM', () => process.exit(0));
  } else {
    await newServer().connect(new StdioServerTransport());
    // The SDK's stdio transport does not notice the end of stdin; a well-behaved server exits then.
    if (variant === 'linger') setInterval(() => {}, 60_000); // keeps running after stdin ends
    else process.stdin.on('end', () => process.exit(0));
  }
}
