/**
 * What this installation is: its version and the executables its package.json installs, read from the package's
 * own package.json at run time (found by walking up from this module, so it holds in a checkout's dist/ and under
 * node_modules/mcp-rollout alike, and cannot go stale the way a copy made at build time can). Read once, on first use: a file of a few hundred bytes, and only
 * by commands that print help, a version or an error.
 *
 * How a command is named to the user is decided here and nowhere else: `mcp-<name>` when that executable is
 * installed, else `mcp-rollout <name>` (validate, serve, proxy, abort and resume have no executable of their own).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'mcp-rollout';

export interface PackageInfo {
  version: string;
  /** The installed executables' names, as in package.json "bin". */
  bins: readonly string[];
}

let cached: PackageInfo | undefined;

/** This package's version and executables. Throws (an internal error, not a user's) when package.json is missing. */
export function packageInfo(): PackageInfo {
  return (cached ??= readPackageInfo(dirname(fileURLToPath(import.meta.url))));
}

function readPackageInfo(from: string): PackageInfo {
  for (let dir = from; ; dir = dirname(dir)) {
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      // none here: look further up
    }
    if (text !== undefined) {
      const pkg = JSON.parse(text) as { name?: unknown; version?: unknown; bin?: unknown };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') {
        const bins = typeof pkg.bin === 'object' && pkg.bin !== null ? Object.keys(pkg.bin) : [];
        return { version: pkg.version, bins };
      }
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${from}`);
  }
}

/** How to type command `name`: `mcp-deploy` when that executable is installed, else `mcp-rollout validate`. */
export function commandDisplayName(name: string): string {
  return hasOwnExecutable(name) ? `mcp-${name}` : `${PACKAGE_NAME} ${name}`;
}

/** Whether command `name` is installed as an executable of its own (`mcp-<name>`). */
export function hasOwnExecutable(name: string): boolean {
  return packageInfo().bins.includes(`mcp-${name}`);
}
