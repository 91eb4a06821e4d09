#!/bin/sh
# The layer rule (tools/check-layers.sh) holds for lib/, and the check itself catches what it is for:
# a copy of lib/ with one wrong include of each kind must fail, naming the file and line.
set -eu
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
check=$srcdir/tools/check-layers.sh
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$srcdir/tests/tap.sh"

if "$check" "$srcdir/lib"; then ok "lib/ keeps the layer rule"; else not_ok "lib/ keeps the layer rule"; fi

# expect_wrong NAME FILE LINE-TO-ADD PATTERN: that line added to a copy makes the check fail with PATTERN
expect_wrong() {
        rm -rf "${t:?}/lib" && cp -r "$srcdir/lib" "$t/lib"
        printf '%s\n' "$3" >>"$t/lib/$2"
        if "$check" "$t/lib" >"$t/out" 2>&1; then
                not_ok "$1: the check passed"
        elif grep -q "$4" "$t/out"; then
                ok "$1"
        else
                not_ok "$1: $(cat "$t/out")"
        fi
}
expect_wrong "kernel including reset fails" kernel/pcidev.c '#include "reset/state.h"' \
        'lib/kernel/pcidev.c:[0-9]*: "reset/state.h": kernel must not include reset'
expect_wrong "kernel and log are side by side" log/journal.c '#include "kernel/sysfs.h"' 'log must not include kernel'
expect_wrong "doctor including ops fails" doctor/doctor.c '#include "ops/attach.h"' 'doctor must not include ops'
expect_wrong "a header without its layer fails" reset/plan.c '#include "util.h"' 'include a header of lib as "layer/name.h"'
expect_wrong "a path around the rule fails" base/util.c '#include "../reset/plan.h"' 'include a header of lib as "layer/name.h"'
rm -rf "${t:?}/lib" && cp -r "$srcdir/lib" "$t/lib" && : >"$t/lib/stray.c"
if "$check" "$t/lib" >"$t/out" 2>&1 || ! grep -q 'stray.c: not in a layer folder' "$t/out"; then
        not_ok "a file outside the layer folders fails: $(cat "$t/out")"
else
        ok "a file outside the layer folders fails"
fi

tap_done layers
