# tests/bench/guest/common.sh — helpers for the benchmark scenarios inside the e2e guest (bash, sourced
# after /e2e/lib.sh and /e2e/hook.sh). Installed as /e2e/bench-common.sh by tests/bench/run.sh, together
# with /opt/bench/{bash,timeit,floor} and /e2e/bench.env (REPS=..., RECIPE_REPS=...).
#
#   now_us                      CLOCK_REALTIME in microseconds (bash's $EPOCHREALTIME: no fork)
#   bench LINE...               print "BENCH LINE" (what the host parses)
#   timed_hook TAG RUN VMID PHASE
#                               one hook run under /opt/bench/timeit: prints
#                               "BENCH TAG run=RUN hook_us=.. rss_kb=.. rc=.. action_us=.. actions=.."
#                               (action_us: sum of the reset actions' durations as the hook logged them,
#                               in the "... ok 12ms:" stderr lines); the output is kept in $TIMED_OUT
#   bare TAG RUN CMD...         time CMD (a shell function doing sysfs writes) in-process: prints
#                               "BENCH TAG run=RUN us=.. rc=.."
# shellcheck shell=bash
TIMEIT=/opt/bench/timeit
[ -f /e2e/bench.env ] && . /e2e/bench.env
REPS=${REPS:-10}
RECIPE_REPS=${RECIPE_REPS:-5}

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
bench() { echo "BENCH $*"; }

# Duration of the hook's reset actions in one run's output, in microseconds: every "reset M",
# "bus-reset M" or "remove-rescan" line that ended ok (ms figures are truncated to whole ms).
action_usec() {
        awk '
        match($0, /(reset [a-z_]+|bus-reset [a-z_]+|remove-rescan) (ok|failed) [0-9.]+(us|ms|s):/) {
                s = substr($0, RSTART, RLENGTH - 1)
                n = split(s, w, " ")
                d = w[n]
                if (d ~ /us$/) v = substr(d, 1, length(d) - 2) + 0
                else if (d ~ /ms$/) v = (substr(d, 1, length(d) - 2) + 0) * 1000
                else v = (substr(d, 1, length(d) - 1) + 0) * 1000000
                tot += v; cnt++
        }
        END { printf "%d %d\n", tot, cnt }' "$1"
}

TIMED_OUT=/tmp/bench-hook.out
timed_hook() {
        local tag=$1 run=$2 line hook_us rss rc act
        shift 2
        : >"$TIMED_OUT"
        line=$("$TIMEIT" -n 1 -w 0 -c hook -o "$TIMED_OUT" -- /usr/sbin/pve-gpu-reset "$@")
        [[ $line =~ median_us=([0-9]+) ]] && hook_us=${BASH_REMATCH[1]}
        [[ $line =~ rss_kb=([0-9]+) ]] && rss=${BASH_REMATCH[1]}
        [[ $line =~ fails=([0-9]+) ]] && rc=${BASH_REMATCH[1]}
        read -r act n <<<"$(action_usec "$TIMED_OUT")"
        bench "$tag run=$run hook_us=${hook_us:-0} rss_kb=${rss:-0} rc=${rc:-1} action_us=$act actions=$n"
        sed 's/^/#   /' "$TIMED_OUT"
        [ "${rc:-1}" = 0 ] && ! grep -q ' failed ' "$TIMED_OUT"
}

bare() {
        local tag=$1 run=$2 t0 t1 rc
        shift 2
        t0=$(now_us)
        "$@"
        rc=$?
        t1=$(now_us)
        bench "$tag run=$run us=$((t1 - t0)) rc=$rc"
        return $rc
}

# w FILE VALUE: one sysfs write, like `echo VALUE > FILE`, failing loudly
w() { echo "$2" >"$1" || { echo "# write '$2' > $1 failed"; return 1; }; }

# bind_vfio BDF...: driver_override + drivers_probe, as a hand-written script would
bind_vfio() {
        local d
        for d in "$@"; do w "/sys/bus/pci/devices/$d/driver_override" vfio-pci || return 1; done
        for d in "$@"; do w /sys/bus/pci/drivers_probe "$d" || return 1; done
}
