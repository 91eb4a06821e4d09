#!/bin/bash
# Runs every cmocka unit test binary in BUILDDIR/tests, $PGR_UNIT_JOBS (default: the number of CPUs) at a
# time; each binary runs from its own fresh copy of the fixture trees (tests write to reset, bind and
# friends) and its own temp dirs (mkdtemp), so no two share a path. The output is printed in name order
# once all have run. Prints "N passed, N failed".
# Usage: tests/run-unit.sh BUILDDIR [FIXTURES]   FIXTURES: the trees of `make fixtures` (default
# BUILDDIR/fixtures; the asan pass reuses build/fixtures: the trees do not depend on the compiler).
set -u
builddir=${1:-build}
fixtures=${2:-$builddir/fixtures}
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=${PGR_UNIT_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in '' | *[!0-9]* | 0) jobs=1 ;; esac
# The copies live in memory when /dev/shm has room for them (a container's may have 64 MB): 10,000 small
# files copied to disk took 7 s per binary on a busy 2-core machine, and test_apply copies a host tree
# per test (60 s on disk, 11 s in memory). Room: two copies per running binary, and one to spare.
need_kb=$(( $(du -sk "$fixtures" 2>/dev/null | cut -f1) * (2 * jobs + 1) ))
shm_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
results=""
[ "${shm_kb:-0}" -gt "$need_kb" ] && results=$(mktemp -d /dev/shm/pgr-unit.XXXXXX 2>/dev/null)
[ -n "$results" ] || results=$(mktemp -d) || exit 1
trap 'rm -rf "$results"' EXIT

# run_one TEST: its output to $results/NAME.out, its exit status to $results/NAME.rc
run_one() {
        local t=$1 name scratch rc
        name=$(basename "$t")
        scratch=$results/$name.d
        mkdir "$scratch"
        # Only a binary that reads PGR_FIXTURES needs the copy (the string is in it when it does).
        if grep -q PGR_FIXTURES "$t"; then
                cp -a "$fixtures" "$scratch/fixtures" 2>/dev/null || true
        fi
        PGR_FIXTURES="$scratch/fixtures" PGR_REAL="$top/tests/fixtures/real" PGR_SRCDIR="$top" \
                "$t" >"$results/$name.out" 2>&1
        rc=$?
        echo "$rc" >"$results/$name.rc"
        rm -rf "$scratch"
}

tests=()
for t in "$builddir"/tests/test_*; do
        [ -x "$t" ] && tests+=("$t")
done
running=0
for t in "${tests[@]}"; do
        run_one "$t" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
                wait -n
                running=$((running - 1))
        fi
done
wait

passed=0 failed=0
for t in "${tests[@]}"; do
        name=$(basename "$t")
        out=$(cat "$results/$name.out" 2>/dev/null)
        rc=$(cat "$results/$name.rc" 2>/dev/null || echo "none")
        n_ok=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
        n_bad=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
        passed=$((passed + ${n_ok:-0}))
        failed=$((failed + ${n_bad:-0}))
        if [ "$rc" != 0 ]; then
                [ -z "$n_bad" ] && failed=$((failed + 1))
                printf '%s\n' "$out"
                echo "FAIL: $name (exit $rc)"
        else
                echo "ok: $name (${n_ok:-0} tests)"
        fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
