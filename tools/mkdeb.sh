#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `make deb`: builds the Debian package with `dpkg-buildpackage -us -uc -b` in a scratch copy of the
# tree (so no build product lands in the repository), copies the .deb, .changes, .buildinfo and the
# build log into OUTDIR and runs lintian on them; its output is printed and kept in OUTDIR/lintian.txt.
# Usage: tools/mkdeb.sh [OUTDIR]          (default: build/deb)
# Exit 0 when the package was built and lintian reported no error (E:), 1 otherwise.
set -eu
srcdir=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:-$srcdir/build/deb}

for tool in dpkg-buildpackage dpkg-parsechangelog dh lintian; do
        if ! command -v "$tool" >/dev/null 2>&1; then
                echo "mkdeb: $tool is missing; as root: apt-get install dpkg-dev debhelper lintian" >&2
                exit 1
        fi
done
version=$(dpkg-parsechangelog -l "$srcdir/debian/changelog" -S Version)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT INT TERM
tree=$scratch/pve-gpu-reset-$version
mkdir "$tree"
# The working tree (tracked or not) without build products, VCS data, e2e downloads or debhelper state.
tar -C "$srcdir" --exclude=./.git --exclude=./build --exclude=./tests/e2e/cache \
        --exclude=./debian/.debhelper --exclude=./debian/pve-gpu-reset --exclude=./debian/tmp \
        --exclude=./debian/files --exclude='./debian/*.substvars' --exclude=./debian/debhelper-build-stamp \
        -cf - . | tar -C "$tree" -xf -

echo "mkdeb: building pve-gpu-reset $version"
if ! (cd "$tree" && dpkg-buildpackage -us -uc -b) >"$scratch/build.log" 2>&1; then
        tail -n 40 "$scratch/build.log" >&2
        echo "mkdeb: dpkg-buildpackage failed (log above)" >&2
        exit 1
fi
mkdir -p "$outdir"
rm -f "$outdir"/*.deb "$outdir"/*.changes "$outdir"/*.buildinfo "$outdir"/lintian.txt
cp "$scratch"/*.deb "$scratch"/*.changes "$scratch"/*.buildinfo "$scratch/build.log" "$outdir"/
for deb in "$outdir"/*.deb; do
        echo "mkdeb: $deb"
done

# lintian on the .changes checks the .deb and the .buildinfo. It warns on stderr when run as root.
changes=$(find "$outdir" -maxdepth 1 -name "*.changes" | head -n 1)
rc=0
lintian --display-info --pedantic "$changes" >"$outdir/lintian.txt" 2>"$scratch/lintian.err" || rc=$?
grep -v 'running with root privileges' "$scratch/lintian.err" >&2 || true
echo "mkdeb: lintian:"
if [ -s "$outdir/lintian.txt" ]; then
        sed 's/^/  /' "$outdir/lintian.txt"
else
        echo "  (no tags)"
fi
if grep -q '^E:' "$outdir/lintian.txt" || [ "$rc" -ne 0 ]; then
        echo "mkdeb: lintian reported errors (exit $rc)" >&2
        exit 1
fi
