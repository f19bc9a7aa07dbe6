/** Server names appear in URLs (/mcp/<name>), file keys and log lines, so they are kept to a safe alphabet. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True when `name` is usable as a server name: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export function isServerName(name: string): boolean {
  return NAME.test(name);
}
