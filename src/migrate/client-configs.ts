/**
 * Finds the MCP server entries that client configuration files already hold (.mcprc, .mcp.json, Claude
 * Desktop, Claude Code, Cursor, VS Code) and turns each into a transport. Reading only: no client file is
 * edited.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Transport } from '../domain/types.js';
import { isHttpUrl } from '../state/registry-document.js';
import { configHome, projectRoot, type PathEnv } from '../state/scope-paths.js';

export interface ClientConfigFile {
  /** Which client the file belongs to, for messages. */
  client: string;
  path: string;
  /** Where the server map sits in the JSON document. */
  pick: (doc: Record<string, unknown>) => unknown;
}

export interface FoundEntry {
  client: string;
  file: string;
  name: string;
  /** The transport, or why the entry cannot be imported. */
  transport: Transport | { error: string };
}

const key = (k: string) => (doc: Record<string, unknown>) => doc[k];

/** The client configuration files to look at for this project and user, in the order they are read. */
export function clientConfigFiles(p: PathEnv): ClientConfigFile[] {
  const root = projectRoot(p);
  const home = p.env.HOME || homedir();
  const xdg = configHome(p.env);
  const mac = join(home, 'Library', 'Application Support');
  return [
    { client: '.mcprc', path: join(root, '.mcprc'), pick: key('mcpServers') },
    { client: 'project .mcp.json', path: join(root, '.mcp.json'), pick: key('mcpServers') },
    { client: 'Cursor (project)', path: join(root, '.cursor', 'mcp.json'), pick: key('mcpServers') },
    { client: 'VS Code (workspace)', path: join(root, '.vscode', 'mcp.json'), pick: key('servers') },
    { client: 'Claude Desktop', path: join(xdg, 'Claude', 'claude_desktop_config.json'), pick: key('mcpServers') },
    { client: 'Claude Desktop', path: join(mac, 'Claude', 'claude_desktop_config.json'), pick: key('mcpServers') },
    { client: 'Claude Code', path: join(home, '.claude.json'), pick: key('mcpServers') },
    {
      client: 'Claude Code (this project)',
      path: join(home, '.claude.json'),
      pick: (doc) => {
        const projects = doc.projects as Record<string, { mcpServers?: unknown }> | undefined;
        return projects?.[root]?.mcpServers;
      },
    },
    { client: 'Cursor', path: join(home, '.cursor', 'mcp.json'), pick: key('mcpServers') },
    { client: 'VS Code', path: join(xdg, 'Code', 'User', 'mcp.json'), pick: key('servers') },
    { client: 'VS Code', path: join(mac, 'Code', 'User', 'mcp.json'), pick: key('servers') },
  ];
}

export interface ScanResult {
  entries: FoundEntry[];
  /** Files that exist but could not be read as JSON: reported, never fatal. */
  unreadable: { file: string; error: string }[];
  /** Files that were found and read. */
  read: string[];
}

/** Reads every file of `files` that exists and lists its server entries. */
export async function scanClientConfigs(files: readonly ClientConfigFile[]): Promise<ScanResult> {
  const result: ScanResult = { entries: [], unreadable: [], read: [] };
  const cache = new Map<string, Record<string, unknown> | undefined>();
  for (const f of files) {
    if (!cache.has(f.path)) cache.set(f.path, await readJsonc(f.path, result));
    const doc = cache.get(f.path);
    if (!doc) continue;
    const map = f.pick(doc);
    if (map === undefined) continue;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) {
      result.unreadable.push({ file: f.path, error: 'its server list is not an object' });
      continue;
    }
    for (const [name, entry] of Object.entries(map)) {
      result.entries.push({ client: f.client, file: f.path, name, transport: toTransport(entry) });
    }
  }
  return result;
}

async function readJsonc(path: string, result: ScanResult): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') result.unreadable.push({ file: path, error: (e as Error).message });
    return undefined;
  }
  try {
    const doc: unknown = JSON.parse(stripJsonComments(text));
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
    result.read.push(path);
    return doc as Record<string, unknown>;
  } catch (e) {
    result.unreadable.push({ file: path, error: `not valid JSON: ${(e as Error).message}` });
    return undefined;
  }
}

/** Removes // and /* *\/ comments and trailing commas (VS Code files are JSON with comments), outside strings. */
export function stripJsonComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2);
      if (i === -1) break;
      i++;
    } else {
      out += c;
    }
  }
  return out.replace(/,(\s*[}\]])/g, '$1');
}

const isStringMap = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');

/** Maps one client entry to a transport, or says why it cannot be imported. */
export function toTransport(entry: unknown): Transport | { error: string } {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { error: 'entry is not an object' };
  const e = entry as Record<string, unknown>;
  if (typeof e.command === 'string' && e.command !== '') {
    const args = e.args ?? [];
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) return { error: 'args must be an array of strings' };
    const env = e.env ?? {};
    if (!isStringMap(env)) return { error: 'env must map names to strings' };
    return { type: 'stdio', command: e.command, args, env, ...(typeof e.cwd === 'string' ? { cwd: e.cwd } : {}) };
  }
  if (typeof e.url === 'string') {
    if (!isHttpUrl(e.url)) return { error: `url "${e.url}" is not an http(s) URL` };
    const headers = e.headers ?? {};
    if (!isStringMap(headers)) return { error: 'headers must map names to strings' };
    const type = e.type ?? e.transport;
    return { type: type === 'sse' ? 'sse' : 'http', url: e.url, headers };
  }
  return { error: 'entry has neither a command nor a url' };
}
