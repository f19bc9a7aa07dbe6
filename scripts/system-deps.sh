#!/usr/bin/env bash
# System packages the tests use for real: Debian's PostgreSQL (a throwaway cluster per test file) and haproxy
# (a real load balancer in front of several routers). Installs what is missing with apt-get; does nothing when
# both are present. Not root and something missing: fails with the exact command to run.
set -euo pipefail

missing=()
# initdb lives outside PATH on Debian (/usr/lib/postgresql/<major>/bin); any major version will do.
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null; then
  missing+=(postgresql)
fi
if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
  missing+=(haproxy)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

install="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: the tests need ${missing[*]}; install as root:" >&2
  echo "  sudo sh -c '$install'" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "system-deps: the tests need ${missing[*]} and this machine has no apt-get; install them with its package manager" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}" >&2
sh -c "$install" >&2
