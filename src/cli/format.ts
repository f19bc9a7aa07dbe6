/**
 * Human output: tables, traffic bars, colour (only on a terminal), secret masking, times.
 */
import { maskValues } from '../domain/deployment-log.js';
import { describeManaged } from '../domain/managed-spec.js';
import type { Status, VersionRecord } from '../domain/types.js';

const ANSI = /\x1b\[[0-9;]*m/g;

export interface Style {
  color: boolean;
}

const CODES: Record<string, string> = { blue: '34', green: '32', dim: '2', bold: '1', red: '31', yellow: '33' };

/** Wraps `text` in an ANSI colour when `style.color` is on. */
export function paint(style: Style, code: keyof typeof CODES, text: string): string {
  return style.color ? `\x1b[${CODES[code]}m${text}\x1b[0m` : text;
}

export function paintStatus(style: Style, status: Status): string {
  return status === 'inactive' ? paint(style, 'dim', status) : paint(style, status, status);
}

/** A fixed-width bar for a percentage: 20 cells, one per 5%, rounded. */
export function trafficBar(pct: number, width = 20): string {
  const full = Math.round((pct / 100) * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

/** Left-aligned columns separated by two spaces; colour codes do not count toward widths. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(cell))));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visible(cell)))).join('  ').trimEnd());
}

const visible = (s: string): number => [...s.replace(ANSI, '')].length;

/** `2026-11-23 23:55:01` in UTC, from epoch ms. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Where a version runs, with secrets masked: `node server.js (env: KEY=***)` or a URL. */
export function describeTarget(v: VersionRecord): string {
  if (v.type === 'stdio') {
    const cmd = [v.command, ...v.args].map(quoteWord).join(' ');
    const env = Object.keys(v.env);
    const parts = [cmd];
    if (env.length > 0) parts.push(`(env: ${env.map((k) => `${k}=***`).join(' ')})`);
    if (v.cwd) parts.push(`(cwd: ${v.cwd})`);
    return parts.join(' ');
  }
  if (v.type === 'http' && v.managed) return describeManaged({ ...v.managed, env: {} });
  const headers = Object.keys(v.headers);
  return headers.length > 0 ? `${v.url} (headers: ${headers.map((k) => `${k}: ***`).join(', ')})` : v.url;
}

function quoteWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** A version record for --json output, secrets masked unless `reveal`. */
export function versionJson(v: VersionRecord, scope: string, reveal: boolean): Record<string, unknown> {
  const masked = reveal ? v : v.type === 'stdio' ? { ...v, env: maskValues(v.env) } : { ...v, headers: maskValues(v.headers), ...(v.managed ? { managed: { ...v.managed, env: maskValues(v.managed.env) } } : {}) };
  return { ...masked, scope };
}
