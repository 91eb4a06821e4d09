#!/bin/sh
# Runs every cmocka unit test binary in BUILDDIR/tests; each test runs from a fresh copy of the
# fixture trees (tests write to reset, bind and friends). Prints "N passed, N failed".
set -u
builddir=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0 failed=0
for t in "$builddir"/tests/test_*; do
        [ -x "$t" ] || continue
        scratch=$(mktemp -d)
        cp -a "$builddir/fixtures" "$scratch/fixtures" 2>/dev/null || true
        out=$(PGR_FIXTURES="$scratch/fixtures" PGR_REAL="$top/tests/fixtures/real" PGR_SRCDIR="$top" "$t" 2>&1)
        rc=$?
        rm -rf "$scratch"
        n_ok=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
        n_bad=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
        passed=$((passed + ${n_ok:-0}))
        failed=$((failed + ${n_bad:-0}))
        if [ $rc -ne 0 ]; then
                [ -z "$n_bad" ] && failed=$((failed + 1))
                printf '%s\n' "$out"
                echo "FAIL: $(basename "$t") (exit $rc)"
        else
                echo "ok: $(basename "$t") (${n_ok:-0} tests)"
        fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
