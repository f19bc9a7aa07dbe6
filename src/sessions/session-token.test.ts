import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { newKeyRing, parseKeyRing, rotatedKeyRing } from '../state/key-ring.js';
import { isSessionDigest, openSession, sealSession, sessionDigest, type SessionClaims } from './session-token.js';

const uuid = '0b4bd6a3-64e7-4c8a-9a55-4f3cf1f3d8a1';
const claims: SessionClaims = { server: 'weather', version: '1.2.0', backendSession: uuid, startedAt: 1_767_000_000_000 };

describe('session tokens', () => {
  const ring = newKeyRing();

  it('round trip: every field comes back, for HTTP and process-backed sessions', () => {
    const table: SessionClaims[] = [
      claims,
      { server: 'w', version: '0.0.1', startedAt: 0 },
      { server: 'files', version: '2.0.0-rc.1', owner: 'http://[::1]:7300', startedAt: 5 },
      { server: 'ünï', version: '1.0.0', backendSession: 'x'.repeat(128), startedAt: 1 },
    ];
    for (const c of table) assert.deepEqual(openSession(ring, sealSession(ring, c)), c);
  });

  it('a digest: the same for the same id, another for another, of a digest\'s form, and without the id in it', () => {
    const a = sealSession(ring, claims);
    const b = sealSession(ring, claims);
    assert.equal(sessionDigest(a), sessionDigest(a));
    assert.notEqual(sessionDigest(a), sessionDigest(b));
    assert.ok(isSessionDigest(sessionDigest(a)), sessionDigest(a));
    assert.ok(!a.includes(sessionDigest(a)));
    for (const bad of ['', 'x'.repeat(21), 'x'.repeat(23), `${'x'.repeat(21)}.`, a]) assert.equal(isSessionDigest(bad), false, bad);
  });

  it('is visible ASCII, short, unique for equal claims, and does not show what it carries', () => {
    const a = sealSession(ring, claims);
    const b = sealSession(ring, claims);
    assert.notEqual(a, b);
    assert.match(a, /^[\x21-\x7e]+$/);
    assert.ok(a.length <= 200, `${a.length} characters`); // 164 with a UUID backend session
    for (const hidden of ['weather', '1.2.0', uuid, uuid.slice(0, 8)]) {
      assert.ok(!a.includes(hidden) && !Buffer.from(a.split('.')[1]!, 'base64url').toString('latin1').includes(hidden), hidden);
    }
  });

  it('tampering anywhere gives undefined: each character of the body, the key id, truncation, garbage', () => {
    const t = sealSession(ring, claims);
    const [id, body] = t.split('.') as [string, string];
    const flip = (c: string): string => (c === 'A' ? 'B' : 'A');
    for (let i = 0; i < body.length; i++) {
      const altered = `${id}.${body.slice(0, i)}${flip(body[i]!)}${body.slice(i + 1)}`;
      assert.equal(openSession(ring, altered), undefined, `character ${i}`);
    }
    // Every other spelling of the same bytes (the last character's spare bits set otherwise) is refused too:
    // a client must not be able to mint a second id for one session.
    const same = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_']
      .map((c) => `${body.slice(0, -1)}${c}`)
      .filter((b) => b !== body && Buffer.from(b, 'base64url').equals(Buffer.from(body, 'base64url')));
    for (const b of same) assert.equal(openSession(ring, `${id}.${b}`), undefined, b);
    const other = { current: { ...ring.current, id: 'AAAAAAAA' } }; // same key under another id: the id is authenticated
    assert.equal(openSession(other, `AAAAAAAA.${body}`), undefined);
    for (const bad of ['', '.', `${id}.`, `${id}.${body.slice(0, 20)}`, t.slice(0, -1), 'eyJ9.abc', `${id}`, 'x'.repeat(5000)]) {
      assert.equal(openSession(ring, bad), undefined, bad);
    }
    assert.equal(openSession(newKeyRing(), t), undefined, 'another ring');
  });

  it('a token sealed with the previous key still opens; one sealed with a removed key does not', () => {
    const first = newKeyRing();
    const old = sealSession(first, claims);
    const second = rotatedKeyRing(first);
    assert.equal(second.previous?.id, first.current.id);
    assert.deepEqual(openSession(second, old), claims);
    const fresh = sealSession(second, claims);
    assert.ok(fresh.startsWith(`${second.current.id}.`));
    const third = rotatedKeyRing(second);
    assert.equal(openSession(third, old), undefined, 'two rotations later the first key is gone');
    assert.deepEqual(openSession(third, fresh), claims);
  });

  it('parseKeyRing accepts a stored ring and names what is wrong with a bad one', () => {
    const stored = JSON.parse(JSON.stringify(rotatedKeyRing(newKeyRing()))) as unknown;
    assert.deepEqual(parseKeyRing(stored), { ok: true, value: stored });
    assert.deepEqual(parseKeyRing({ current: { id: 'a.b', key: 'c2hvcnQ=' } }), {
      ok: false,
      errors: ['current.id: expected up to 32 letters, digits, - or _', 'current.key: expected 32 bytes in base64'],
    });
    assert.equal(parseKeyRing(null).ok, false);
  });
});
