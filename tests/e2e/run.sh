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

# run_one KVER SCENARIO DIR/ID: one scenario on one kernel; its lines to DIR/ID.out (to stdout at once
# when the runs go one at a time), its status (0 pass, 77 skip, else fail) to DIR/ID.rc and its
# failure line to DIR/ID.failure.
run_one() {
        local k=$1 s=$2 out=$3 name t1 rc wall
        name=$(basename "$s" .sh)
        if [ "$jobs" -le 1 ]; then exec 3>&1; else exec 3>"$out.out"; fi
        t1=$(e2e_now)
        e2e_run_scenario "$k" "$s" >&3 2>&1
        rc=$?
        wall=$(e2e_elapsed "$t1")
        {
                case $rc in
                0) echo "PASS $name [$k] ${wall}s (boot ${E2E_BOOT_SECS:-?}s)" ;;
                77) echo "SKIP $name [$k] (e2e-kernels header)" ;;
                *)
                        echo "FAIL $name [$k] ${wall}s: ${E2E_WHY:-exit status $rc}"
                        echo "  $name [$k]: ${E2E_WHY:-exit status $rc}; log ${E2E_LAST_LOG:-none}" >"$out.failure"
                        if [ "${E2E_VERBOSE:-0}" != 1 ] && [ -n "${E2E_LAST_LOG:-}" ] && [ -f "$E2E_LAST_LOG" ]; then
                                echo "---- console (last 80 lines of $E2E_LAST_LOG)"
                                tail -n 80 "$E2E_LAST_LOG"
                                echo "----"
                        fi ;;
                esac
        } >&3
        exec 3>&-
        echo "$rc" >"$out.rc"
}

# One QEMU (TCG, one vCPU thread) per run: E2E_JOBS runs side by side (default: 2 on a machine with 2
# or more CPUs; 1 runs them one after the other). The runs of every kernel share one queue, longest
# first (a scenario's "# e2e-timeout:" header, else E2E_TIMEOUT, stands for its length): a job takes
# the next run as soon as its last one ended, so neither CPU idles while the other kernel still has
# scenarios left. The output is printed per kernel in scenario order once all have run.
jobs=${E2E_JOBS:-$(( $(nproc 2>/dev/null || echo 1) >= 2 ? 2 : 1 ))}
resdir=$(mktemp -d "${TMPDIR:-/tmp}/e2e-run.XXXXXX") || { echo "e2e: 0 passed, 1 failed"; exit 1; }
queue=$(for i in "${!scenarios[@]}"; do
                t=$(e2e_scenario_header "${scenarios[i]}" timeout)
                printf '%s %s\n' "${t:-$E2E_TIMEOUT}" "$i"
        done | sort -k1,1nr -k2,2n -s | cut -d' ' -f2)
running=0
for i in $queue; do
        for k in $kernels; do
                mkdir -p "$resdir/$k"
                if [ "$jobs" -le 1 ]; then
                        run_one "$k" "${scenarios[i]}" "$resdir/$k/$i"
                        continue
                fi
                if [ "$running" -ge "$jobs" ]; then
                        wait -n
                        running=$((running - 1))
                fi
                run_one "$k" "${scenarios[i]}" "$resdir/$k/$i" &
                running=$((running + 1))
        done
done
wait
for k in $kernels; do
        for i in "${!scenarios[@]}"; do
                r=$resdir/$k/$i
                [ -f "$r.out" ] && cat "$r.out"
                rc=$(cat "$r.rc" 2>/dev/null || echo none)
                case $rc in
                0) passed=$((passed + 1)) ;;
                77) skipped=$((skipped + 1)) ;;
                none)
                        failed=$((failed + 1))
                        failures+="  $(basename "${scenarios[i]}" .sh) [$k]: the run ended without a status"$'\n' ;;
                *)
                        failed=$((failed + 1))
                        failures+=$(cat "$r.failure" 2>/dev/null)$'\n' ;;
                esac
        done
done
rm -rf "$resdir"

echo "e2e: total $(e2e_elapsed "$t0")s, $skipped skipped"
[ -n "$failures" ] && printf 'e2e: failures:\n%s' "$failures"
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
