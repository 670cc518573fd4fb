#!/usr/bin/env bash
# Install the Debian 12 packages the host needs (asterisk/host-packages.txt), only if missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
missing=()
for pkg in $(grep -v '^\s*#' "$here/host-packages.txt"); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "host-deps.sh: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
fi
echo "host-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
