/**
 * Semantic version check (semver.org 2.0.0 grammar). Kept tiny and dependency-free.
 */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** True when `v` is a valid semantic version such as `1.2.3` or `2.0.0-rc.1+build.5`. */
export function isSemver(v: string): boolean {
  return SEMVER.test(v);
}
