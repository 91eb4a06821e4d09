#!/bin/sh
# Installs the Debian 12 packages the build and the test suites need, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -eu
pkgs="build-essential python3 pkg-config libpci-dev pci.ids libjson-c-dev libsystemd-dev libcmocka-dev systemd
      clang libclang-rt-14-dev valgrind qemu-system-x86 busybox-static cpio kmod dpkg-dev debhelper lintian
      bash-completion file jq"
missing=""
for p in $pkgs; do
        dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
        echo "deps: missing Debian packages:$missing" >&2
        echo "deps: run as root: apt-get install -y$missing" >&2
        exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "deps: apt-get update failed; trying the install with the lists we have" >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
