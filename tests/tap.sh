# shellcheck shell=sh
# The one result reporter of the shell suites (cli, hardening, package, layers): "ok - NAME" /
# "not ok - NAME" lines, details indented below a failure, and "SUITE: N passed, N failed" at the end.
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
        failed=$((failed + 1))
        echo "not ok - $1"
        shift
        [ $# -eq 0 ] || printf '    %s\n' "$@"
}
# tap_done SUITE: the summary line; the exit status says whether everything passed.
tap_done() {
        echo "$1: $passed passed, $failed failed"
        [ "$failed" -eq 0 ]
}
