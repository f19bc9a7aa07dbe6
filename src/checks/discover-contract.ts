/**
 * Reads a connected server's contract: every page of tools, prompts, resources and resource templates that
 * its capabilities announce. Works in both eras (the v2 SDK client adds the 2026-07-28 `_meta` itself).
 */
import type { Client } from '@modelcontextprotocol/client';
import type { Contract } from '../domain/contract-diff.js';

const MAX_PAGES = 50;

async function allPages<T>(fetchPage: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string | undefined }>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await fetchPage(cursor);
    out.push(...page.items);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return out;
}

/** Lists everything the server announces, each request bounded by `timeoutMs`. */
export async function discoverContract(client: Client, timeoutMs: number): Promise<Contract> {
  const caps = client.getServerCapabilities() ?? {};
  // Always ask the server: a cached list (2026-07-28 results carry cache hints) would tell nothing about it.
  const opts = { timeout: timeoutMs, cacheMode: 'bypass' as const };
  const p = (cursor?: string) => (cursor === undefined ? {} : { cursor });
  const tools = caps.tools
    ? await allPages(async (c) => {
        const r = await client.listTools(p(c), opts);
        return { items: r.tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema, ...(t.outputSchema ? { outputSchema: t.outputSchema } : {}), ...(t.annotations ? { annotations: t.annotations } : {}) })), nextCursor: r.nextCursor };
      })
    : [];
  const prompts = caps.prompts
    ? await allPages(async (c) => {
        const r = await client.listPrompts(p(c), opts);
        return { items: r.prompts.map((x) => ({ name: x.name, ...(x.arguments ? { arguments: x.arguments.map((a) => ({ name: a.name, ...(a.required ? { required: true } : {}) })) } : {}) })), nextCursor: r.nextCursor };
      })
    : [];
  const resources = caps.resources
    ? await allPages(async (c) => {
        const r = await client.listResources(p(c), opts);
        return { items: r.resources.map((x) => ({ uri: x.uri, name: x.name })), nextCursor: r.nextCursor };
      })
    : [];
  const resourceTemplates = caps.resources
    ? await allPages(async (c) => {
        const r = await client.listResourceTemplates(p(c), opts);
        return { items: r.resourceTemplates.map((x) => ({ uriTemplate: x.uriTemplate, name: x.name })), nextCursor: r.nextCursor };
      })
    : [];
  return { tools, prompts, resources, resourceTemplates };
}
