import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { listChangedNotices, noticesForCapabilities, surfaceOfContract } from './list-changes.js';

const TOOLS = 'notifications/tools/list_changed';
const PROMPTS = 'notifications/prompts/list_changed';
const RESOURCES = 'notifications/resources/list_changed';

describe('list_changed notices for a moved session', () => {
  const cases: { name: string; before: Record<string, unknown>; after: Record<string, unknown>; want: string[] }[] = [
    { name: 'same lists', before: { tools: [{ name: 'a' }] }, after: { tools: [{ name: 'a' }] }, want: [] },
    { name: 'a tool added', before: { tools: [{ name: 'a' }] }, after: { tools: [{ name: 'a' }, { name: 'b' }] }, want: [TOOLS] },
    { name: 'a schema changed', before: { tools: [{ name: 'a', inputSchema: {} }] }, after: { tools: [{ name: 'a', inputSchema: { type: 'object' } }] }, want: [TOOLS] },
    { name: 'prompts appear, resources go', before: { resources: [{ uri: 'x' }] }, after: { prompts: [{ name: 'p' }] }, want: [PROMPTS, RESOURCES] },
    { name: 'nothing on either side', before: {}, after: {}, want: [] },
    { name: 'every list differs', before: { tools: [], prompts: [], resources: [] }, after: { tools: [1], prompts: [1], resources: [1] }, want: [TOOLS, PROMPTS, RESOURCES] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(listChangedNotices(c.before, c.after), c.want));

  it('without the old lists: one notice per list capability of the new server', () => {
    assert.deepEqual(noticesForCapabilities({ tools: {}, logging: {}, resources: { subscribe: true } }), [TOOLS, RESOURCES]);
    assert.deepEqual(noticesForCapabilities(undefined), []);
  });

  it('stored contracts compare like live lists', () => {
    const a = surfaceOfContract({ tools: [{ name: 'current' }], prompts: [], resources: [], resourceTemplates: [] });
    const b = surfaceOfContract({ tools: [{ name: 'current' }, { name: 'alerts' }], prompts: [], resources: [], resourceTemplates: [{ uriTemplate: 'x' }] });
    assert.deepEqual(listChangedNotices(a, b), [TOOLS]);
  });
});
