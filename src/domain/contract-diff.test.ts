import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { diffContracts, type Contract } from './contract-diff.js';

const contract = (c: Partial<Contract>): Contract => ({ tools: [], prompts: [], resources: [], resourceTemplates: [], ...c });
const tool = (name: string, properties: Record<string, unknown>, required: string[] = [], extra: Record<string, unknown> = {}) => ({
  name,
  inputSchema: { type: 'object', properties, required, ...extra },
});
const kinds = (stable: Partial<Contract>, candidate: Partial<Contract>) => {
  const d = diffContracts(contract(stable), contract(candidate));
  return { breaking: d.breaking.map((c) => `${c.kind}: ${c.message}`), additive: d.additive.map((c) => `${c.kind}: ${c.message}`) };
};

describe('contract diff', () => {
  it('identical contracts: nothing', () => {
    const c = { tools: [tool('echo', { message: { type: 'string' } }, ['message'])] };
    assert.deepEqual(kinds(c, c), { breaking: [], additive: [] });
  });

  const table: [string, Partial<Contract>, Partial<Contract>, string[], string[]][] = [
    ['removed tool', { tools: [tool('a', {}), tool('b', {})] }, { tools: [tool('a', {})] }, ['tool-removed: tool "b": removed'], []],
    ['new tool', { tools: [tool('a', {})] }, { tools: [tool('a', {}), tool('c', {})] }, [], ['tool-added: tool "c": added']],
    ['new required argument', { tools: [tool('a', { x: { type: 'string' } })] }, { tools: [tool('a', { x: { type: 'string' }, y: { type: 'number' } }, ['y'])] }, ['argument-required: tool "a" argument "y": new required argument'], []],
    ['optional argument becomes required', { tools: [tool('a', { x: { type: 'string' } })] }, { tools: [tool('a', { x: { type: 'string' } }, ['x'])] }, ['argument-required: tool "a" argument "x": is now required'], []],
    ['new optional argument', { tools: [tool('a', {})] }, { tools: [tool('a', { z: { type: 'boolean' } })] }, [], ['argument-added: tool "a" argument "z": new optional argument']],
    ['changed argument type', { tools: [tool('a', { n: { type: 'string' } })] }, { tools: [tool('a', { n: { type: 'number' } })] }, ['argument-type-changed: tool "a" argument "n": type changed from "string" to "number"'], []],
    ['integer to number is a widening', { tools: [tool('a', { n: { type: 'integer' } })] }, { tools: [tool('a', { n: { type: 'number' } })] }, [], ['argument-type-widened: tool "a" argument "n": type widened from "integer" to "number"']],
    ['nullable widening', { tools: [tool('a', { n: { type: 'string' } })] }, { tools: [tool('a', { n: { type: ['string', 'null'] } })] }, [], ['argument-type-widened: tool "a" argument "n": type widened from "string" to ["string","null"]']],
    ['removed enum value', { tools: [tool('a', { u: { type: 'string', enum: ['c', 'f', 'k'] } })] }, { tools: [tool('a', { u: { type: 'string', enum: ['c', 'f', 'x'] } })] }, ['enum-value-removed: tool "a" argument "u": enum value(s) "k" removed'], ['enum-value-added: tool "a" argument "u": enum value(s) "x" added']],
    ['argument dropped under a closed schema', { tools: [tool('a', { x: {} }, [], { additionalProperties: false })] }, { tools: [tool('a', {}, [], { additionalProperties: false })] }, ['argument-removed: tool "a" argument "x": removed'], []],
    ['argument dropped under an open schema', { tools: [tool('a', { x: {} })] }, { tools: [tool('a', {})] }, [], []],
    ['nested property becomes required', { tools: [tool('a', { o: { type: 'object', properties: { p: { type: 'string' } } } })] }, { tools: [tool('a', { o: { type: 'object', properties: { p: { type: 'string' } }, required: ['p'] } })] }, ['argument-required: tool "a" argument "o" property "p": is now required'], []],
    ['narrowed output schema', { tools: [{ name: 'a', outputSchema: { type: 'object', properties: { t: { type: 'number' }, u: { type: 'string' } }, required: ['t', 'u'] } }] }, { tools: [{ name: 'a', outputSchema: { type: 'object', properties: { t: { type: 'string' }, v: { type: 'string' } }, required: ['t'] } }] },
      ['output-narrowed: tool "a" output property "t": type changed from "number" to "string"', 'output-narrowed: tool "a" output property "u": removed'], ['output-extended: tool "a" output property "v": added']],
    ['output schema dropped', { tools: [{ name: 'a', outputSchema: { type: 'object' } }] }, { tools: [{ name: 'a' }] }, ['output-narrowed: tool "a" output: output schema removed: structured results are no longer promised'], []],
    ['removed prompt, new prompt', { prompts: [{ name: 'p' }] }, { prompts: [{ name: 'q' }] }, ['prompt-removed: prompt "p": removed'], ['prompt-added: prompt "q": added']],
    ['prompt gains a required argument', { prompts: [{ name: 'p', arguments: [{ name: 'a' }] }] }, { prompts: [{ name: 'p', arguments: [{ name: 'a', required: true }, { name: 'b' }] }] }, ['argument-required: prompt "p" argument "a": is now required'], ['argument-added: prompt "p" argument "b": new optional argument']],
    ['removed resource and template', { resources: [{ uri: 'file:///a' }], resourceTemplates: [{ uriTemplate: 'x://{id}' }] }, { resources: [{ uri: 'file:///b' }] }, ['resource-removed: resource "file:///a": removed', 'resource-removed: resource template "x://{id}": removed'], ['resource-added: resource "file:///b": added']],
  ];
  for (const [label, stable, candidate, breaking, additive] of table) {
    it(label, () => assert.deepEqual(kinds(stable, candidate), { breaking, additive }));
  }
});
