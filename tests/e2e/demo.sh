#!/bin/bash
# `make demo`: boots an emulated Proxmox-like host (QEMU, Debian 12's 6.12 kernel, a GPU-like
# multifunction card) and runs VM 100's pre-start / post-stop cycle through the real hook, then shows
# the reset history from the journal. Usage: tests/e2e/demo.sh BUILDDIR
set -u
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
. "$E2E_DIR/lib.sh" || exit 1
E2E_BUILDDIR=$(cd "${1:-build}" && pwd) || exit 2
export E2E_BUILDDIR E2E_QUIET=1
echo "demo: fetching the test kernels (cached in tests/e2e/cache) ..."
e2e_fetch_kernels >/dev/null || exit 1
kver=""
for k in $E2E_KERNELS; do case $k in 6.12*) kver=$k ;; esac; done
[ -n "$kver" ] || kver=${E2E_KERNELS##* }
echo "demo: booting the emulated host (QEMU q35 + intel-iommu, kernel $kver; about 10-20 s) ..."
e2e_run_scenario "$kver" "$E2E_DIR/guest/demo.sh"
rc=$?
tr -d '\r' <"$E2E_LAST_LOG" | sed -n '/^DEMO-BEGIN/,/^DEMO-END/p' | sed '1d;$d'
if [ $rc -ne 0 ]; then
        echo "demo: FAILED (${E2E_WHY:-status $rc}); full console: $E2E_LAST_LOG" >&2
        exit 1
fi
echo
echo "demo: done. Console log: $E2E_LAST_LOG"
