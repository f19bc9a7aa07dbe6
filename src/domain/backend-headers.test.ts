import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { checkBackendHeaders, isRouterOwnedHeader } from './backend-headers.js';

describe('checkBackendHeaders', () => {
  const cases: [string, Record<string, string>, string[] | undefined][] = [
    ['none', {}, undefined],
    ['credentials and custom headers pass', { Authorization: 'Bearer t', 'X-Api-Key': 'k', 'mcp-rollout-client': 'c' }, undefined],
    ['Host', { Host: 'h' }, ['--header "Host" cannot be set: the router sets it']],
    ['framing, any case', { 'CONTENT-LENGTH': '1', 'transfer-Encoding': 'chunked' }, ['--header "CONTENT-LENGTH" cannot be set: the router sets it', '--header "transfer-Encoding" cannot be set: the router sets it']],
    ...['Connection', 'Keep-Alive', 'Proxy-Connection', 'TE', 'Trailer', 'Upgrade', 'Proxy-Authenticate', 'Proxy-Authorization'].map(
      (h): [string, Record<string, string>, string[]] => [h, { [h.toLowerCase()]: 'x' }, [`--header "${h.toLowerCase()}" cannot be set: it is hop-by-hop`]],
    ),
  ];
  for (const [name, headers, errors] of cases) {
    it(name, () => assert.deepEqual(checkBackendHeaders(headers), errors === undefined ? { ok: true, value: headers } : { ok: false, errors }));
  }
  it('isRouterOwnedHeader ignores case and Object members', () => {
    assert.equal(isRouterOwnedHeader('HOST'), true);
    assert.equal(isRouterOwnedHeader('toString'), false);
    assert.equal(isRouterOwnedHeader('authorization'), false);
  });
});
