import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { answerOutcome, requestKey, RequestLedger, type Answer, type LedgerScheduler, type Outcome, type RequestId } from './request-ledger.js';

/** A clock moved by hand; timers fire when it passes them. */
function fakeScheduler(): LedgerScheduler & { advance: (ms: number) => void } {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    after: (ms, fn) => {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => (timers = timers.filter((x) => x !== t));
    },
    advance: (ms) => {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
    },
  };
}

/** A ledger whose bookings, replies and idle calls are written down as short lines. */
function recorded() {
  const log: string[] = [];
  const clock = fakeScheduler();
  const ledger = new RequestLedger<string>(
    'weather',
    {
      book: (b) => log.push(`book ${b.method}@${b.version} ${b.latencyMs}ms ${JSON.stringify(b.outcome)}`),
      reply: (e) => log.push(`reply ${JSON.stringify(e.id)} ${e.error.code} ${e.error.message}`),
      idle: () => log.push('idle'),
    },
    clock,
  );
  return { log, clock, ledger };
}

describe('answerOutcome', () => {
  const rows: [string, string, Answer, Outcome][] = [
    ['a result', 'tools/list', { id: 1, result: {} }, { error: false, toolError: false }],
    ['a JSON-RPC error', 'tools/list', { id: 1, error: { code: -1 } }, { error: true, toolError: false }],
    ['a tools/call result with isError', 'tools/call', { id: 1, result: { isError: true } }, { error: false, toolError: true }],
    ['isError on another method is no tool error', 'prompts/get', { id: 1, result: { isError: true } }, { error: false, toolError: false }],
    ['isError must be true, not truthy', 'tools/call', { id: 1, result: { isError: 'yes' } }, { error: false, toolError: false }],
    ['a tools/call result without isError', 'tools/call', { id: 1, result: { content: [] } }, { error: false, toolError: false }],
  ];
  for (const [name, method, answer, want] of rows) it(name, () => assert.deepEqual(answerOutcome(method, answer), want));
});

describe('requestKey', () => {
  it('keys numbers and strings apart, 0 included', () => {
    const ids: RequestId[] = [0, '0', 1, '1', '', 'n1'];
    assert.equal(new Set(ids.map(requestKey)).size, ids.length);
  });
});

describe('RequestLedger', () => {
  type Step = (l: ReturnType<typeof recorded>) => unknown;
  const open = (id: RequestId, method = 'tools/call', deadlineMs: number | null = 1000, progressToken?: RequestId): Step => (r) =>
    r.ledger.open(id, method, { version: '2.0.0', context: `ctx-${String(id)}`, ...(deadlineMs === null ? {} : { deadlineMs }), ...(progressToken === undefined ? {} : { progressToken }) });
  const settle = (answer: Answer): Step => (r) => r.log.push(`settled ${r.ledger.settle(answer) ? 'yes' : 'no'}`);
  const advance = (ms: number): Step => (r) => r.clock.advance(ms);
  const rows: [string, Step[], string[]][] = [
    ['an answer is booked with its latency, then the ledger is idle', [open(1), advance(40), settle({ id: 1, result: {} })], ['book tools/call@2.0.0 40ms {"error":false,"toolError":false}', 'idle', 'settled yes']],
    ['0 is an id', [open(0), settle({ id: 0, result: { isError: true } })], ['book tools/call@2.0.0 0ms {"error":false,"toolError":true}', 'idle', 'settled yes']],
    ['"1" does not answer 1', [open(1), settle({ id: '1', result: {} })], ['settled no']],
    ['a request or notification from the backend settles nothing', [open(1), settle({ id: 1, method: 'sampling/createMessage' }), settle({ method: 'notifications/progress' })], ['settled no', 'settled no']],
    ['no answer by the deadline: a -32603 error naming server, version and method, booked as a transport failure', [open('a', 'tools/list', 500), advance(499), advance(1)], ['book tools/list@2.0.0 500ms {"transportFailure":true}', 'reply "a" -32603 server "weather" version 2.0.0 did not answer tools/list within 500 ms', 'idle']],
    ['an answer after the deadline failed it is dropped', [open(1, 'tools/list', 500), advance(500), settle({ id: 1, result: {} })], ['book tools/list@2.0.0 500ms {"transportFailure":true}', 'reply 1 -32603 server "weather" version 2.0.0 did not answer tools/list within 500 ms', 'idle', 'settled no']],
    ['an answer stops the deadline', [open(1), settle({ id: 1, result: {} }), advance(5000)], ['book tools/call@2.0.0 0ms {"error":false,"toolError":false}', 'idle', 'settled yes']],
    ['without a deadline, nothing fails', [open(1, 'subscriptions/listen', null), advance(1e9)], []],
    ['failOne: booked with its outcome, error replied, late answer dropped', [open(7), (r) => r.ledger.failOne(7, 'too large'), settle({ id: 7, result: {} })], ['book tools/call@2.0.0 0ms {"error":true}', 'reply 7 -32603 too large', 'idle', 'settled no']],
    ['failOne of an id not pending does nothing', [(r) => r.log.push(`failed ${r.ledger.failOne(7, 'x')}`)], ['failed false']],
    ['failAll: each booked and replied, idle once', [open(1), open(2), (r) => r.ledger.failAll('it died')], ['book tools/call@2.0.0 0ms {"transportFailure":true}', 'reply 1 -32603 it died', 'book tools/call@2.0.0 0ms {"transportFailure":true}', 'reply 2 -32603 it died', 'idle']],
    ['failAll with a filter fails only those it picks', [open(1), open(2), (r) => r.ledger.failAll('gone', { error: true }, (p) => p.context === 'ctx-2'), (r) => r.log.push(`left ${r.ledger.inFlight}`)], ['book tools/call@2.0.0 0ms {"error":true}', 'reply 2 -32603 gone', 'left 1']],
    ['abandonAll: each booked, none replied, idle once, a late answer dropped', [open(1), open(2, 'tools/list'), (r) => r.log.push(`abandoned ${r.ledger.abandonAll()}`), settle({ id: 1, result: {} })], ['book tools/call@2.0.0 0ms {"transportFailure":true}', 'book tools/list@2.0.0 0ms {"transportFailure":true}', 'idle', 'abandoned 2', 'settled no']],
    ['abandonAll with nothing pending books nothing and is not idle again', [(r) => r.log.push(`abandoned ${r.ledger.abandonAll()}`)], ['abandoned 0']],
    ['cancel: no booking, no deadline error, a late answer dropped', [open(3), (r) => r.log.push(`cancelled ${r.ledger.cancel(3)?.context}`), advance(5000), settle({ id: 3, result: {} })], ['idle', 'cancelled ctx-3', 'settled no']],
    ['cancel of something that is no id, or not pending', [open(3), (r) => r.log.push(`${String(r.ledger.cancel({}))} ${String(r.ledger.cancel(4))} ${r.ledger.inFlight}`)], ['undefined undefined 1']],
    ['a reused id replaces the request: the first deadline no longer fires', [open(1, 'tools/list', 100), advance(50), open(1, 'tools/call', 100), advance(60), (r) => r.log.push(`in flight ${r.ledger.inFlight}`), advance(40)], ['in flight 1', 'book tools/call@2.0.0 100ms {"transportFailure":true}', 'reply 1 -32603 server "weather" version 2.0.0 did not answer tools/call within 100 ms', 'idle']],
    ['progress token lookup, and the sole request', [open(1, 'tools/call', 100, 'tok'), open(2, 'tools/call', 100, 0), (r) => r.log.push(`${r.ledger.byProgressToken('tok')?.id} ${r.ledger.byProgressToken(0)?.id} ${String(r.ledger.byProgressToken('0'))} ${String(r.ledger.sole())}`), (r) => r.ledger.cancel(1), (r) => r.log.push(`sole ${r.ledger.sole()?.id}`)], ['1 2 undefined undefined', 'sole 2']],
    ['a token is no longer found once its request is answered, or when its id is reused without one', [open(1, 'tools/call', 100, 'tok'), settle({ id: 1, result: {} }), open(2, 'tools/call', 100, 'tok2'), open(2, 'tools/call', 100), (r) => r.log.push(`${String(r.ledger.byProgressToken('tok'))} ${String(r.ledger.byProgressToken('tok2'))}`)], ['book tools/call@2.0.0 0ms {"error":false,"toolError":false}', 'idle', 'settled yes', 'undefined undefined']],
    ['clear forgets everything silently', [open(1), open(2), (r) => r.ledger.clear(), advance(5000), settle({ id: 1, result: {} }), (r) => r.log.push(`in flight ${r.ledger.inFlight}`)], ['settled no', 'in flight 0']],
  ];
  for (const [name, steps, want] of rows) {
    it(name, () => {
      const r = recorded();
      for (const step of steps) step(r);
      assert.deepEqual(r.log, want);
    });
  }
});
