#!/bin/bash
# tests/e2e/run.sh BUILDDIR [SCENARIO...] — the e2e suite (`make check-e2e`).
# Runs each guest scenario (default: guest/smoke.sh, then scenarios/*.sh) on each Debian 12 kernel in
# QEMU with BUILDDIR/pve-gpu-reset installed as /usr/sbin/pve-gpu-reset. A scenario passes when it
# exits 0 inside the guest; 77 (its "# e2e-kernels:" header excludes the kernel) is a skip.
# Environment: E2E_VERBOSE=1 streams every console; E2E_ONLY_KERNELS="6.12*" restricts the kernels
# (shell globs); the knobs of lib.sh (E2E_TIMEOUT, E2E_CACHE, ...) apply.
# Last line: "e2e: N passed, N failed"; exit status 1 when anything failed.
set -u
# shellcheck disable=SC2119
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
. "$E2E_DIR/lib.sh" || { echo "e2e: 0 passed, 1 failed"; exit 1; }

if [ $# -lt 1 ]; then
        echo "usage: $0 BUILDDIR [SCENARIO...]" >&2
        echo "e2e: 0 passed, 1 failed"
        exit 2
fi
E2E_BUILDDIR=$(cd "$1" 2>/dev/null && pwd) || { echo "e2e: no build dir $1" >&2; echo "e2e: 0 passed, 1 failed"; exit 2; }
shift
[ -x "$E2E_BUILDDIR/pve-gpu-reset" ] || e2e_log "warning: $E2E_BUILDDIR/pve-gpu-reset is missing; scenarios run without the hook"
export E2E_BUILDDIR

if [ $# -gt 0 ]; then
        scenarios=("$@")
else
        scenarios=("$E2E_DIR/guest/smoke.sh")
        shopt -s nullglob
        scenarios+=("$E2E_DIR"/scenarios/*.sh)
        shopt -u nullglob
fi

t0=$(e2e_now)
if ! e2e_fetch_kernels; then
        echo "e2e: 0 passed, 1 failed"
        exit 1
fi
kernels=""
for k in $E2E_KERNELS; do
        if [ -n "${E2E_ONLY_KERNELS:-}" ]; then
                keep=""
                for g in $E2E_ONLY_KERNELS; do
                        # shellcheck disable=SC2254
                        case $k in $g) keep=1 ;; esac
                done
                [ -n "$keep" ] || continue
        fi
        kernels="$kernels $k"
done
[ -n "$kernels" ] || { e2e_log "no kernel matches E2E_ONLY_KERNELS=$E2E_ONLY_KERNELS"; echo "e2e: 0 passed, 1 failed"; exit 1; }
for k in $kernels; do echo "e2e: kernel $k = $(e2e_kernel_package "$k")"; done

passed=0 failed=0 skipped=0 failures=""
[ "${E2E_VERBOSE:-0}" = 1 ] || export E2E_QUIET=1
# The guest program is built once, before the kernels' runs go side by side.
e2e_guest_vfio_reset >/dev/null || { echo "e2e: 0 passed, 1 failed"; exit 1; }

# run_kernel KVER DIR: every scenario on one kernel; its lines to stdout, its counts to DIR/KVER.counts
# and its failure lines to DIR/KVER.failures.
run_kernel() {
        local k=$1 dir=$2 s name t1 rc wall p=0 f=0 sk=0 fl=""

        for s in "${scenarios[@]}"; do
                name=$(basename "$s" .sh)
                t1=$(e2e_now)
                e2e_run_scenario "$k" "$s"
                rc=$?
                wall=$(e2e_elapsed "$t1")
                case $rc in
                0)
                        p=$((p + 1))
                        echo "PASS $name [$k] ${wall}s (boot ${E2E_BOOT_SECS:-?}s)" ;;
                77)
                        sk=$((sk + 1))
                        echo "SKIP $name [$k] (e2e-kernels header)" ;;
                *)
                        f=$((f + 1))
                        fl+="  $name [$k]: ${E2E_WHY:-exit status $rc}; log ${E2E_LAST_LOG:-none}"$'\n'
                        echo "FAIL $name [$k] ${wall}s: ${E2E_WHY:-exit status $rc}"
                        if [ "${E2E_VERBOSE:-0}" != 1 ] && [ -n "${E2E_LAST_LOG:-}" ] && [ -f "$E2E_LAST_LOG" ]; then
                                echo "---- console (last 80 lines of $E2E_LAST_LOG)"
                                tail -n 80 "$E2E_LAST_LOG"
                                echo "----"
                        fi ;;
                esac
        done
        echo "$p $f $sk" >"$dir/$k.counts"
        printf '%s' "$fl" >"$dir/$k.failures"
}

# One QEMU (TCG, one vCPU thread) per kernel at a time: E2E_JOBS kernels side by side (default: 2 on a
# machine with 2 or more CPUs, which halves the suite's time; 1 runs them one after the other).
jobs=${E2E_JOBS:-$(( $(nproc 2>/dev/null || echo 1) >= 2 ? 2 : 1 ))}
resdir=$(mktemp -d "${TMPDIR:-/tmp}/e2e-run.XXXXXX") || { echo "e2e: 0 passed, 1 failed"; exit 1; }
running=0
for k in $kernels; do
        if [ "$jobs" -le 1 ]; then
                run_kernel "$k" "$resdir"
                continue
        fi
        run_kernel "$k" "$resdir" >"$resdir/$k.out" 2>&1 &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
                wait -n
                running=$((running - 1))
        fi
done
wait
for k in $kernels; do
        [ -f "$resdir/$k.out" ] && cat "$resdir/$k.out"
        if [ -f "$resdir/$k.counts" ]; then
                read -r p f sk <"$resdir/$k.counts"
                passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + sk))
                failures+=$(cat "$resdir/$k.failures")
                [ -s "$resdir/$k.failures" ] && failures+=$'\n'
        else
                failed=$((failed + 1))
                failures+="  [$k]: the kernel's run ended without its counts"$'\n'
        fi
done
rm -rf "$resdir"

echo "e2e: total $(e2e_elapsed "$t0")s, $skipped skipped"
[ -n "$failures" ] && printf 'e2e: failures:\n%s' "$failures"
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
