import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { encodeHeaderValue, mcpRequestHeaders } from './modern-headers.js';

const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const b64 = (s: string): string => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

describe('mcpRequestHeaders', () => {
  const cases: [string, unknown, string | undefined, Record<string, string>][] = [
    ['modern tools/call', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {}, _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' }],
    ['modern prompts/get', { jsonrpc: '2.0', id: 0, method: 'prompts/get', params: { name: 'greet', _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'prompts/get', 'mcp-name': 'greet' }],
    ['modern resources/read: the URI', { jsonrpc: '2.0', id: 'r', method: 'resources/read', params: { uri: 'file:///a b.txt', _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'resources/read', 'mcp-name': 'file:///a b.txt' }],
    ['modern tasks/get: the task id', { jsonrpc: '2.0', id: 2, method: 'tasks/get', params: { taskId: 't-1', _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tasks/get', 'mcp-name': 't-1' }],
    ['non-ASCII name in base64', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'météo', _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': b64('météo') }],
    ['modern method without a name', { jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' }],
    ['modern server/discover', { jsonrpc: '2.0', id: 5, method: 'server/discover', params: { _meta: meta } }, '2025-06-18',
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' }],
    ['a name that is not a string is left out', { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 7, _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' }],
    ['the version comes from _meta, whatever it is', { jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } }, undefined,
      { 'mcp-protocol-version': '2099-01-01', 'mcp-method': 'tools/list' }],
    ['modern notification: method, no name', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'notifications/cancelled' }],
    ['a method named like an Object member', { jsonrpc: '2.0', id: 8, method: 'constructor', params: { name: 'x', _meta: meta } }, undefined,
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'constructor' }],
    ['legacy initialize: nothing yet', { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18' } }, undefined, {}],
    ['legacy request after initialize: the negotiated version only', { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo' } }, '2025-06-18',
      { 'mcp-protocol-version': '2025-06-18' }],
    ['legacy response after initialize', { jsonrpc: '2.0', id: 10, result: {} }, '2025-03-26', { 'mcp-protocol-version': '2025-03-26' }],
    ['legacy batch after initialize', [{ jsonrpc: '2.0', id: 11, method: 'tools/list', params: { _meta: meta } }], '2025-03-26', { 'mcp-protocol-version': '2025-03-26' }],
    ['not an object', 'tools/call', undefined, {}],
    ['null params', { jsonrpc: '2.0', id: 12, method: 'tools/list', params: null }, undefined, {}],
  ];
  for (const [name, message, negotiated, want] of cases) it(name, () => assert.deepEqual(mcpRequestHeaders(message, negotiated), want));
});

describe('encodeHeaderValue', () => {
  const cases: [string, string][] = [
    ['echo', 'echo'],
    ['file:///tmp/a b.txt', 'file:///tmp/a b.txt'],
    ['tab\tinside', 'tab\tinside'],
    ['', b64('')],
    [' padded', b64(' padded')],
    ['line\nbreak', b64('line\nbreak')],
    ['日本', b64('日本')],
    ['=?base64?abc?=', b64('=?base64?abc?=')],
  ];
  for (const [value, want] of cases) it(JSON.stringify(value), () => assert.equal(encodeHeaderValue(value), want));
});
