#!/usr/bin/env bash
# Installs the named Debian packages that are missing. Without root it only says what is missing:
# the tests that need them then skip with that reason (and fail when CI is set).
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "debian_deps: not root, not installing: ${missing[*]} (tests that need them will skip)" >&2
  exit 0
fi
echo "debian_deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
