import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { refusesSession } from './session-refusal.js';

const json = 'application/json; charset=utf-8';
const sdkExample = JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' } });

describe('refusesSession', () => {
  const cases: [string, number, string, string | undefined, boolean][] = [
    ['404, whatever the body (the specification)', 404, '', undefined, true],
    ['400 of the SDK example servers (server-everything)', 400, json, sdkExample, true],
    ['the same with the request id echoed', 400, json, JSON.stringify({ jsonrpc: '2.0', id: 3, error: { code: -32000, message: 'Bad Request: No valid session ID provided' } }), true],
    ['400 "Session not found"', 400, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }), true],
    ['400 about the request itself', 400, json, JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32602, message: 'Invalid params: city is required' } }), false],
    ['400 whose word "sessions" is only a part of another word', 400, json, JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'sessionless servers refuse this' } }), false],
    ['400 in plain text', 400, 'text/plain', 'Bad Request: No valid session ID provided', false],
    ['400 with a body that is not JSON', 400, json, '<html>session</html>', false],
    ['400 with no body read', 400, json, undefined, false],
    ['500 about the session', 500, json, sdkExample, false],
    ['200', 200, json, '{}', false],
  ];
  for (const [name, status, type, body, expected] of cases) {
    it(name, () => assert.equal(refusesSession(status, type, body), expected));
  }
});
