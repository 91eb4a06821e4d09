# tests/e2e/guest/lib.sh — helpers for scenario scripts running inside the e2e guest (busybox sh).
# Installed as /e2e/lib.sh by e2e_run_scenario; a scenario starts with `. /e2e/lib.sh` and ends with
# `t_done` (exit status = number of failed checks, capped at 100).
#
#   t_phase NAME        start timing a phase; t_phase_end prints "E2E-TIME NAME SECS"
#   t_check DESC CMD..  run CMD; print "ok - DESC" or "not ok - DESC"; count failures
#   t_eq DESC GOT WANT  compare two strings
#   t_info TEXT         an informational line ("# TEXT")
#   sys_write FILE VAL  write VAL to FILE like `echo VAL > FILE`, with a timeout ($T_WRITE_TIMEOUT, 30 s);
#                       returns the write's status, puts the shell's error text in $SYS_ERR
#   sys_read FILE       cat FILE, or "-" when it is missing/unreadable
#   drv BDF             current driver name of 0000:BDF ("" when unbound)
#   wait_for SECS CMD.. poll CMD every 50 ms until it succeeds (0) or SECS pass (1)
#   pci BDF             /sys/bus/pci/devices/BDF (BDF with domain)

# shellcheck shell=sh disable=SC2016
T_FAILED=0
T_COUNT=0
T_WRITE_TIMEOUT=${T_WRITE_TIMEOUT:-30}
PCI=/sys/bus/pci/devices

t_now() { cut -d' ' -f1 /proc/uptime; }
t_info() { echo "# $*"; }

t_phase() { T_PHASE=$1; T_PHASE_START=$(t_now); }
t_phase_end() {
        echo "E2E-TIME $T_PHASE $(awk -v a="$T_PHASE_START" -v b="$(t_now)" 'BEGIN { printf "%.2f", b - a }')"
}

t_pass() { T_COUNT=$((T_COUNT + 1)); echo "ok $T_COUNT - $*"; }
t_fail() { T_COUNT=$((T_COUNT + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_COUNT - $*"; }

t_check() {
        _d=$1
        shift
        if "$@"; then t_pass "$_d"; else t_fail "$_d (command: $*)"; fi
}

t_eq() {
        if [ "$2" = "$3" ]; then t_pass "$1"; else t_fail "$1: got '$2', want '$3'"; fi
}

t_done() {
        echo "# $T_COUNT checks, $T_FAILED failed"
        [ "$T_FAILED" -gt 100 ] && exit 100
        exit "$T_FAILED"
}

pci() { echo "$PCI/$1"; }

sys_read() { cat "$1" 2>/dev/null || echo -; }

sys_write() {
        SYS_ERR=$(timeout "$T_WRITE_TIMEOUT" sh -c 'echo "$2" > "$1"' sh "$1" "$2" 2>&1)
        _rc=$?
        SYS_ERR=$(echo "$SYS_ERR" | sed 's/^sh: //; s/^write error: //')
        return $_rc
}

drv() {
        _l=$(readlink "$PCI/$1/driver" 2>/dev/null) || { echo ""; return 0; }
        basename "$_l"
}

wait_for() {
        _limit=$(awk -v a="$(t_now)" -v s="$1" 'BEGIN { printf "%.2f", a + s }')
        shift
        while :; do
                "$@" && return 0
                awk -v a="$(t_now)" -v l="$_limit" 'BEGIN { exit !(a >= l) }' && return 1
                usleep 50000
        done
}
