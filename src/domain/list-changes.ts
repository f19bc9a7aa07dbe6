/**
 * Which `list_changed` notifications a client gets when its session moves to another version: one for each
 * list (tools, prompts, resources) that differs between what the old and the new version offer. Shared by the
 * stdio proxy and the HTTP router, which learn the lists differently (asking both backends, or the versions'
 * stored contracts). Pure.
 */
import type { Contract } from './contract-diff.js';

export type ListName = 'tools' | 'prompts' | 'resources';

/** Each list: the request that reads it, and the notification that says it changed. */
export const LISTS: readonly { list: ListName; method: string; notice: string }[] = [
  { list: 'tools', method: 'tools/list', notice: 'notifications/tools/list_changed' },
  { list: 'prompts', method: 'prompts/list', notice: 'notifications/prompts/list_changed' },
  { list: 'resources', method: 'resources/list', notice: 'notifications/resources/list_changed' },
];

/** What a version offers, per list (the `result[list]` of its list request; absent: it offers none or did not say). */
export type Surface = Partial<Record<ListName, unknown>>;

/** The notification methods for the lists that differ (compared as JSON, order included: a reorder is a change). */
export function listChangedNotices(before: Surface, after: Surface): string[] {
  return LISTS.filter(({ list }) => JSON.stringify(before[list] ?? null) !== JSON.stringify(after[list] ?? null)).map((l) => l.notice);
}

/**
 * Without the old lists to compare with, every list the new server offers may have changed: the notification
 * methods for each list capability in its initialize result's `capabilities`.
 */
export function noticesForCapabilities(capabilities: unknown): string[] {
  const caps = (typeof capabilities === 'object' && capabilities !== null ? capabilities : {}) as Record<string, unknown>;
  return LISTS.filter(({ list }) => Boolean(caps[list])).map((l) => l.notice);
}

/** A stored contract as a surface (resource templates are no list of their own to announce). */
export function surfaceOfContract(c: Contract): Surface {
  return { tools: c.tools, prompts: c.prompts, resources: c.resources };
}
