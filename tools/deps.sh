#!/bin/sh
# The Debian 12 packages every target needs (build, make check, make demo, make bench, make deb, make fuzz),
# in one list. `make deps`, `make check` and `make demo` call it; tests/package/run.sh checks that
# debian/control's Build-Depends are in it.
#   tools/deps.sh           install what is missing (as root with apt-get; otherwise print the command).
#                           Prints nothing when everything is there.
#   tools/deps.sh --list    print the list, one package a line
set -eu

# package       needed by
pkgs="
build-essential  build: cc, make; e2e: gcc -static (libc6-dev) for the guest's vfio-reset
pkg-config       build: finds the libraries below
libpci-dev       build: libpci (config space)
libjson-c-dev    build: json-c (policy, --json)
libsystemd-dev   build: sd-journal
libkmod-dev      build: libkmod (doctor: modprobe.d, module indexes)
pci.ids          plan/doctor: device names (libpci reads /usr/share/misc/pci.ids)
python3          tests: tests/fixtures/mktree builds the fixture sysfs trees
libcmocka-dev    tests: unit suite
clang            tests: fuzz targets (libFuzzer), check-asan
libclang-rt-14-dev tests: libFuzzer and sanitizer runtimes for clang
valgrind         tests: hardening suite
systemd          tests: journal suite and demo (a private systemd-journald)
jq               tests: reading --json output in shell suites
qemu-system-x86  e2e and demo: the emulated Proxmox-like host
busybox-static   e2e and demo: the guest's userland
cpio             e2e and demo: the guest's initramfs
kmod             e2e and demo: module dependencies of the guest kernels
pciutils         e2e and demo: lspci and setpci, copied into the guest
xz-utils         e2e and demo: unpacking kernel modules (.ko.xz)
dpkg-dev         package: dpkg-buildpackage
debhelper        package: dh
fakeroot         package: dpkg-buildpackage -rfakeroot as a non-root user
lintian          package: lintian must report no tags
bash-completion  package: the completion file's install path
file             package: checks the installed binary
"
names=$(printf '%s\n' "$pkgs" | awk 'NF { print $1 }')

if [ "${1:-}" = --list ]; then
        printf '%s\n' "$names"
        exit 0
fi

# One dpkg-query for the whole list: a fully provisioned machine answers in a few milliseconds.
# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $names 2>/dev/null | awk '$2 == "installed" { print $1 }')
installed=" $(echo $installed) "
missing=""
for p in $names; do
        case $installed in *" $p "*) ;; *) missing="$missing $p" ;; esac
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
