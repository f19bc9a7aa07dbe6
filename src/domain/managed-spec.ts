/**
 * Managed versions: an http version whose server process the router starts, watches and stops. Pure: how the
 * spec is checked, where the process listens, and what it is told about its port.
 */
import type { ManagedSpec, Transport } from './types.js';

export const DEFAULT_MANAGED_PATH = '/mcp';

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** The options `mcp-deploy --type http` takes for a managed version, as given (strings). */
export interface ManagedInput {
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** "auto" or a port number, as typed. */
  port?: string;
  path?: string;
  url?: string;
}

/**
 * Checks the deploy options of a managed http version: `--command` needs `--port` (auto or 1-65535), `--port`
 * and `--url` exclude each other (the URL follows from the port), `--path` starts with '/'. Returns the spec, or
 * every problem as `option: message`. An input without `--command` and `--port` is no managed version:
 * `{ ok: true, value: undefined }`.
 */
export function checkManagedInput(input: ManagedInput): Checked<ManagedSpec | undefined> {
  const errors: string[] = [];
  const managed = input.command !== undefined || input.port !== undefined;
  if (!managed) {
    if (input.path !== undefined) errors.push('--path: applies to a managed version (with --command and --port)');
    return errors.length > 0 ? { ok: false, errors } : { ok: true, value: undefined };
  }
  if (input.url !== undefined) errors.push('--url: a managed version is reached on its own --port; give --port or --url, not both');
  if (input.command === undefined || input.command === '') errors.push('--command: a managed http version (--port) needs the command that starts its server');
  let port: number | 'auto' | undefined;
  if (input.port === undefined) errors.push('--port: an http version started with --command needs --port auto or --port <1-65535>');
  else if (input.port === 'auto') port = 'auto';
  else if (/^\d+$/.test(input.port) && Number(input.port) >= 1 && Number(input.port) <= 65535) port = Number(input.port);
  else errors.push(`--port: must be "auto" or a port from 1 to 65535, got "${input.port}"`);
  const path = input.path ?? DEFAULT_MANAGED_PATH;
  if (!path.startsWith('/') || /[\s?#]/.test(path)) errors.push(`--path: must start with "/" and hold no spaces, "?" or "#", got "${path}"`);
  if (errors.length > 0 || port === undefined) return { ok: false, errors };
  return {
    ok: true,
    value: { command: input.command!, args: input.args ?? [], env: input.env ?? {}, ...(input.cwd === undefined ? {} : { cwd: input.cwd }), port, path },
  };
}

/** Checks a stored spec (from a registry file); problems as `at.field: message`. */
export function checkStoredSpec(raw: unknown, at: string): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [`${at}: must be {command, args, env, port, path}`];
  const m = raw as Record<string, unknown>;
  const errors: string[] = [];
  if (typeof m.command !== 'string' || m.command === '') errors.push(`${at}.command: must be a non-empty string`);
  if (!Array.isArray(m.args) || !m.args.every((a) => typeof a === 'string')) errors.push(`${at}.args: must be an array of strings`);
  if (typeof m.env !== 'object' || m.env === null || !Object.values(m.env).every((v) => typeof v === 'string')) errors.push(`${at}.env: must be an object of strings`);
  if (m.cwd !== undefined && typeof m.cwd !== 'string') errors.push(`${at}.cwd: must be a string`);
  if (m.port !== 'auto' && !(Number.isInteger(m.port) && (m.port as number) >= 1 && (m.port as number) <= 65535)) errors.push(`${at}.port: must be "auto" or a port from 1 to 65535`);
  if (typeof m.path !== 'string' || !m.path.startsWith('/')) errors.push(`${at}.path: must be a path starting with "/"`);
  return errors;
}

/** Where a managed server listens on `port`: always loopback (the router is its only client). */
export function managedUrl(spec: ManagedSpec, port: number): string {
  return `http://127.0.0.1:${port}${spec.path}`;
}

/** The URL stored with a managed version: the real one for a fixed port, port 0 (chosen at start) for auto. */
export function storedUrl(spec: ManagedSpec): string {
  return managedUrl(spec, spec.port === 'auto' ? 0 : spec.port);
}

/**
 * The arguments and environment of one start on `port`: `PORT` set (the convention of the reference servers and
 * most hosting), and every `{port}` in an argument or environment value replaced, for servers that take a flag.
 * The version's own env wins over the inherited one, and `PORT` over both.
 */
export function launchFor(spec: ManagedSpec, port: number): { args: string[]; env: Record<string, string> } {
  const fill = (s: string): string => s.split('{port}').join(String(port));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.env)) env[k] = fill(v);
  return { args: spec.args.map(fill), env: { ...env, PORT: String(port) } };
}

/** The version's managed spec, if it is a managed version. */
export function managedOf(t: Transport): ManagedSpec | undefined {
  return t.type === 'http' ? t.managed : undefined;
}

/** How a managed version is shown: `node server.js (port auto, path /mcp)`. */
export function describeManaged(spec: ManagedSpec): string {
  return `${[spec.command, ...spec.args].join(' ')} (managed: port ${spec.port}, path ${spec.path})`;
}
