/**
 * The registry's invariants, checked in one place: after every operation and on every file load.
 */
import { isSemver } from './semver.js';
import type { ServerState } from './types.js';

/**
 * Returns every violated invariant of `server` as `path: message` strings (empty when all hold):
 * valid unique semver versions; integer traffic 0-100; at most one blue; inactive carries 0%; a server with
 * versions has exactly one blue and its traffic sums to exactly 100; `mcpVersionHistory.currentBlue` names it.
 * `path` prefixes each message (for example `servers.weather`).
 */
export function checkServer(server: ServerState, path = `servers.${server.name}`): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  let sum = 0;
  const blues: string[] = [];
  server.versions.forEach((v, i) => {
    const at = `${path}.versions[${i}]`;
    if (!isSemver(v.version)) errors.push(`${at}.version: "${v.version}" is not a semantic version`);
    if (seen.has(v.version)) errors.push(`${at}.version: "${v.version}" appears more than once`);
    seen.add(v.version);
    if (!Number.isInteger(v.trafficPercentage) || v.trafficPercentage < 0 || v.trafficPercentage > 100) {
      errors.push(`${at}.trafficPercentage: must be an integer from 0 to 100, got ${JSON.stringify(v.trafficPercentage)}`);
    } else {
      sum += v.trafficPercentage;
    }
    if (v.status === 'blue') blues.push(v.version);
    if (v.status === 'inactive' && v.trafficPercentage !== 0) {
      errors.push(`${at}.trafficPercentage: inactive version "${v.version}" must carry 0%, has ${v.trafficPercentage}%`);
    }
  });
  if (blues.length > 1) errors.push(`${path}: more than one blue version (${blues.join(', ')})`);
  const greens = server.versions.filter((v) => v.status === 'green').map((v) => v.version);
  if (greens.length > 0 && blues.length === 0) errors.push(`${path}: green version(s) ${greens.join(', ')} but no blue version`);
  if (blues.length === 1 && sum !== 100) errors.push(`${path}: traffic sums to ${sum}%, must be exactly 100%`);
  const current = server.mcpVersionHistory.currentBlue;
  const blue = blues.length === 1 ? blues[0]! : null;
  if (blues.length <= 1 && current !== blue) {
    errors.push(
      `${path}.mcpVersionHistory.currentBlue: says ${JSON.stringify(current)} but the blue version is ${JSON.stringify(blue)}`,
    );
  }
  return errors;
}
