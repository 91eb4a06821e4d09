#!/bin/sh
# B3 (tests/bench/run.sh): scale — 8 GPU-like slots (bochs-display + intel-hda behind 8 root ports,
# topology piece "gpu8") given to 8 VMs; all 8 post-stop hooks started at once. Every run must succeed,
# each VM's output must name only its own slot, and each function must be reset exactly once per batch.
# Compared with the slowest single post-stop of the same VMs run alone. Two policies, one boot:
#   default  the shipped defaults (the slot rung: reset_subordinate, no settle)
#   slow     a card whose reset is mostly waiting, as real GPUs are: the Bridge Control rung with
#            settle_ms=$B3_SLOW_SETTLE (default 200): shows whether the waits of 8 VMs overlap or queue
# Prints "BENCH B3 VARIANT ..." lines for run.sh.
# e2e-topology: gpu gpu8
# e2e-timeout: 400
# e2e-files: guest/hook.sh:/e2e/hook.sh ../bench/guest/common.sh:/e2e/bench-common.sh
# shellcheck shell=bash disable=SC1091
[ -n "${BASH_VERSION:-}" ] || exec /opt/bench/bash "$0" "$@"
. /e2e/lib.sh
. /e2e/hook.sh
. /e2e/bench-common.sh

B3_REPS=${B3_REPS:-3}
B3_SLOW_SETTLE=${B3_SLOW_SETTLE:-200}
fail=0
bench "B3 info kernel=$(uname -r) reps=$B3_REPS cpus=$(nproc) slow_settle_ms=$B3_SLOW_SETTLE"

slots=()
for s in 16 17 18 19 20 21 22 23; do
        a=$(cat "/sys/bus/pci/slots/$s/address" 2>/dev/null)
        [ -n "$a" ] || { echo "# slot $s missing"; fail=1; continue; }
        slots+=("$a")
done
t_eq "8 GPU-like slots" "${#slots[@]}" 8
all_fns() { local a; for a in "${slots[@]}"; do echo "$a.0 $a.1"; done; }

vm=201
vms=()
for a in "${slots[@]}"; do
        vmconf $vm "hostpci0: $a,pcie=1"
        hook $vm pre-start >/dev/null
        if [ "$HOOK_RC" != 0 ] || ! all_on_vfio "$a.0" "$a.1"; then
                echo "# VM $vm pre-start failed"
                fail=1
        fi
        vms+=("$vm")
        vm=$((vm + 1))
done
# shellcheck disable=SC2046
t_check "every slot on vfio-pci after pre-start" all_on_vfio $(all_fns)

# One batch's outputs: each VM names only its own slot, logs no failure, and every function of its
# slot is reset exactly once (a slot reset is done once; the sibling function only verifies).
check_batch() {
        local tag=$1 i f a other n fn bad=0
        for i in "${!vms[@]}"; do
                f=/tmp/b3.$tag.${vms[i]}
                a=${slots[i]}
                for other in "${slots[@]}"; do
                        [ "$other" = "$a" ] && continue
                        if grep -q "$other" "$f"; then echo "# VM ${vms[i]} output names $other"; bad=1; fi
                done
                for fn in 0 1; do
                        n=$(grep -Ec "$a\.$fn (bus-reset [a-z_]+|reset [a-z_]+|remove-rescan) ok" "$f")
                        [ "$n" = 1 ] || { echo "# $a.$fn reset $n times by VM ${vms[i]}"; bad=1; }
                done
                n=$(grep -Ec "$a\.[0-9] (bus-reset [a-z_]+|remove-rescan) ok [0-9.]+(us|ms|s): .* done, back" "$f")
                [ "$n" -le 1 ] || { echo "# slot $a reset $n times in one run"; bad=1; }
                if grep -q ' failed ' "$f"; then echo "# VM ${vms[i]} logged a failure"; bad=1; fi
        done
        return $bad
}

variant() {
        local v=$1 r i c args
        bench "B3 $v policy run=all json=$(tr -d ' \n' </etc/pve-gpu-reset.json 2>/dev/null || echo '{}')"
        # each VM alone
        for r in $(seq "$B3_REPS"); do
                for i in "${!vms[@]}"; do
                        timed_hook "B3 $v single vm=${vms[i]}" "$r" "${vms[i]}" post-stop || fail=1
                done
        done
        # all eight at once: one batch per rep, each VM's output in its own file
        for r in $(seq "$B3_REPS"); do
                args=()
                for i in "${!vms[@]}"; do
                        : >"/tmp/b3.$v$r.${vms[i]}"
                        [ ${#args[@]} -gt 0 ] && args+=(:::)
                        args+=(-c "vm=${vms[i]}" -o "/tmp/b3.$v$r.${vms[i]}" -- /usr/sbin/pve-gpu-reset "${vms[i]}" post-stop)
                done
                "$TIMEIT" -P -n 1 "${args[@]}" | sed "s/^TIMEIT \\([^ ]*\\) /BENCH B3 $v parallel \\1 run=$r /"
                check_batch "$v$r"
                c=$?
                bench "B3 $v check run=$r ok=$((c == 0))"
                [ $c = 0 ] || fail=1
                for i in "${!vms[@]}"; do
                        read -r act n <<<"$(action_usec "/tmp/b3.$v$r.${vms[i]}")"
                        bench "B3 $v parallel-action vm=${vms[i]} run=$r action_us=$act actions=$n"
                        sed "s/^/#   [$v$r] /" "/tmp/b3.$v$r.${vms[i]}"
                done
                # shellcheck disable=SC2046
                t_check "$v batch $r: every slot back on vfio-pci" all_on_vfio $(all_fns)
        done
}

policy ""
variant default
policy "{\"defaults\": {\"reset_methods\": [\"slot\"], \"bus_reset\": \"bridge\", \"settle_ms\": $B3_SLOW_SETTLE}}"
variant slow
policy ""

t_eq "every benchmark run succeeded" "$fail" 0
t_done
