import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { checkRequest } from './guard.js';

const opts = { hosts: [], origins: ['https://dash.example'] };

describe('request guard', () => {
  const table: [string, Parameters<typeof checkRequest>[0], number | undefined][] = [
    ['loopback host, no origin', { host: '127.0.0.1:7300' }, undefined],
    ['localhost host and origin', { host: 'localhost:7300', origin: 'http://localhost:5173' }, undefined],
    ['IPv6 loopback', { host: '[::1]:7300', origin: 'http://[::1]:3000' }, undefined],
    ['a foreign origin', { host: '127.0.0.1:7300', origin: 'https://evil.example' }, 403],
    ['an allowed extra origin', { host: '127.0.0.1:7300', origin: 'https://dash.example' }, undefined],
    ['a rebinding host', { host: 'attacker.example:7300' }, 403],
    ['no host at all', {}, 403],
    ['origin null', { host: '127.0.0.1', origin: 'null' }, 403],
  ];
  for (const [label, headers, status] of table) {
    it(label, () => assert.equal(checkRequest(headers, opts)?.status, status));
  }
  it('a bearer token when one is configured', () => {
    const t = { ...opts, token: 's3cret' };
    assert.equal(checkRequest({ host: '127.0.0.1' }, t)?.status, 401);
    assert.equal(checkRequest({ host: '127.0.0.1', authorization: 'Bearer nope' }, t)?.status, 401);
    assert.equal(checkRequest({ host: '127.0.0.1', authorization: 'Bearer s3cret' }, t), undefined);
  });
});
