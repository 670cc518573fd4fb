#!/usr/bin/env bash
# Install Asterisk 22 (Debian sid) in a root filesystem kept in a project-local folder.
# Usage: asterisk/install.sh ROOTFS_DIR
# Idempotent: a second run with the same package list returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${1:?usage: install.sh ROOTFS_DIR}
packages=$(grep -v '^\s*#' "$here/packages.txt" | xargs | tr ' ' ',')
stamp="$root/.ccpros-packages"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$packages" ] && [ -x "$root/usr/sbin/asterisk" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: building the Asterisk root filesystem needs root (mmdebstrap, chroot)" >&2
    exit 1
fi
command -v mmdebstrap >/dev/null || { echo "install.sh: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }

tmp="$root.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$root")"
echo "install.sh: building Debian sid root filesystem with $packages (about 30 s)" >&2
# The sid index served here may be a few weeks old: do not reject it as expired.
mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
    --include="$packages" sid "$tmp"

# Without /etc/hosts Asterisk keeps resolving the host name against an unreachable DNS during calls.
printf '127.0.0.1 localhost %s\n::1 localhost ip6-localhost\n' "$(hostname)" > "$tmp/etc/hosts"
# Channels use language=fr: the French core sounds are packaged as fr_CA_f_June.
sounds="$tmp/usr/share/asterisk/sounds"
[ -e "$sounds/fr" ] || ln -s fr_CA_f_June "$sounds/fr"
mkdir -p "$tmp/var/lib/ccpros"
chroot "$tmp" chown asterisk:asterisk /var/lib/ccpros

rm -rf "$root"
mv "$tmp" "$root"
echo "$packages" > "$stamp"
chroot "$root" asterisk -V >&2
