#!/bin/bash
# tests/e2e/smoke.sh [BUILDDIR] — proves the e2e harness on both Debian 12 kernels: boots each one in
# QEMU (TCG), runs guest/smoke.sh (enumeration, reset_method, vfio-pci binding, FLR, remove + bridge
# rescan, reset_subordinate, Bridge Control SBR, drivers_autoprobe=0) and prints the time of each phase.
# With BUILDDIR, the hook binary BUILDDIR/pve-gpu-reset is copied in too (with its libraries).
# Exit status: 0 when every kernel passed.
set -u
# shellcheck disable=SC2119
. "$(dirname "$0")/lib.sh" || exit 1
[ $# -ge 1 ] && E2E_BUILDDIR=$1

t0=$(e2e_now)
e2e_fetch_kernels || exit 1
echo "e2e smoke: kernels: $E2E_KERNELS (fetch/cache check $(e2e_elapsed "$t0") s)"

pass=0 fail=0 summary=""
for k in $E2E_KERNELS; do
        echo "=== smoke on $k ($(e2e_kernel_package "$k"))"
        t1=$(e2e_now)
        e2e_run_scenario "$k" "$E2E_DIR/guest/smoke.sh"
        rc=$?
        wall=$(e2e_elapsed "$t1")
        if [ $rc = 0 ]; then pass=$((pass + 1)); res=PASS; else fail=$((fail + 1)); res="FAIL(rc=$rc)"; fi
        summary+="$res $k: host wall ${wall}s (build+boot+run), QEMU ${E2E_TOTAL_SECS}s, QEMU start to /init ${E2E_BOOT_SECS:-?}s, guest uptime at /init ${E2E_GUEST_UPTIME:-?}s"$'\n'
        summary+=$(printf '%s\n' "$E2E_TIMES" | awk '{ printf "      %-22s %6.2f s\n", $1, $2 }')$'\n'
        echo "=== log: $E2E_LAST_LOG"
done
echo "=== e2e smoke timings"
printf '%s' "$summary"
echo "e2e smoke: $pass passed, $fail failed (total $(e2e_elapsed "$t0") s)"
[ $fail = 0 ]
