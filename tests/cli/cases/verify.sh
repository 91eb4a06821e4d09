# shellcheck shell=bash disable=SC2154,SC2015 # scratch, fixtures, bin, ok, not_ok, expect, mkroot: tests/cli/run.sh; ok never fails
# `pve-gpu-reset verify VMID` (the "beyond one reset" issue), sourced by tests/cli/run.sh. qm is
# tests/cli/qm-standin, first on $PATH, playing a good card, a start that fails the second time, a
# probe that fails the second time, a guest without agent, a VM already running and more
# ($QM_STANDIN_MODE). The fixture root is gpu-audio-rootport (VM 100: hostpci0: 01:00, both functions
# on vfio-pci) with link widths added. The journal is a missing directory ($PVE_GPU_RESET_JOURNAL_DIR),
# so resets are "unknown (journal not readable)"; tests/journal/run.sh reads real entries.

vr=$scratch/verify
mkdir -p "$vr/bin"
ln -s "$PWD/tests/cli/qm-standin" "$vr/bin/qm"
cp -a "$fixtures/gpu-audio-rootport" "$vr/root"
vdev=$vr/root/sys/bus/pci/devices/0000:01:00.0
echo 16 >"$vdev/current_link_width"
echo 16 >"$vdev/max_link_width"

# vrun MODE ARGS...: one verify run with a fresh stand-in state; stdout to $vr/out, stderr to $vr/err.
vrun() {
        local mode=$1
        shift
        rm -rf "$vr/qm"
        mkdir -p "$vr/qm"
        [ "$mode" = running ] && touch "$vr/qm/running"
        echo 16 >"$vdev/current_link_width"
        PATH=$vr/bin:$PATH QM_STANDIN_DIR=$vr/qm QM_STANDIN_MODE=$mode QM_STANDIN_LINK=$vdev/current_link_width \
                PVE_GPU_RESET_JOURNAL_DIR=${VJOURNAL:-$vr/no-journal} \
                timeout 60 "$bin" --root "$vr/root" verify 100 --agent-timeout 2 "$@" >"$vr/out" 2>"$vr/err"
        echo $?
}

# check NAME WANT-STATUS GOT-STATUS CONDITION-DESCRIPTION...: the status, then each grep -Eq on out+err.
vcheck() {
        local name=$1 want=$2 got=$3 re
        shift 3
        if [ "$got" -ne "$want" ]; then
                not_ok "$name" "exit $got, want $want" "$(cat "$vr/out" "$vr/err")"
                return
        fi
        for re in "$@"; do
                if ! cat "$vr/out" "$vr/err" | grep -Eq -- "$re"; then
                        not_ok "$name" "output does not match /$re/:" "$(cat "$vr/out" "$vr/err")"
                        return
                fi
        done
        ok "$name"
}

# jcheck NAME JQ-EXPRESSION: --json's document (in $vr/out) makes the expression true.
jcheck() {
        if jq -e "$2" "$vr/out" >/dev/null 2>&1; then
                ok "$1"
        else
                not_ok "$1" "jq -e '$2' is not true:" "$(cat "$vr/out")"
        fi
}

# (a) a good card: three cycles pass, each row says what ran, the promise comes first.
rc=$(vrun good)
vcheck "verify: good card, 3 cycles pass, exit 0" 0 "$rc" \
        "verify starts and shuts down VM 100 3 time\(s\) through qm and changes nothing else" \
        '^CYCLE +VERDICT +START +AGENT +PROBE +LINK +STOP +RESETS' \
        '^1 +pass +ok +[0-9.]+m?s +exit 0 +x16/x16 +shutdown +unknown \(journal not readable\)' \
        '^3 +pass ' 'verify: VM 100: 3 of 3 cycle\(s\) passed'
[ "$(grep -c '^qm start 100$' "$vr/qm/log")" = 3 ] && [ "$(grep -c '^qm shutdown 100 --timeout 120$' "$vr/qm/log")" = 3 ] &&
        grep -q '^qm guest exec 100 --timeout 60 -- nvidia-smi -q$' "$vr/qm/log" && grep -q '^qm guest cmd 100 ping$' "$vr/qm/log" &&
        ok "verify: qm start, guest cmd ping, guest exec nvidia-smi -q, shutdown --timeout, 3 times" ||
        not_ok "verify: qm start, guest cmd ping, guest exec nvidia-smi -q, shutdown --timeout, 3 times" "$(cat "$vr/qm/log")"
rc=$(vrun good --json --cycles 2)
vcheck "verify --json: good card, exit 0" 0 "$rc"
jcheck "verify --json: one document, verdict pass, 2 cycles, both functions" \
        '.vmid == 100 and .verdict == "pass" and .refused == null and .cycles_requested == 2 and (.cycles | length) == 2
         and .functions == ["0000:01:00.0", "0000:01:00.1"]'
jcheck "verify --json: each cycle's steps, link, probe and unknown resets" \
        'all(.cycles[]; .verdict == "pass" and .reason == null and .start.result == "ok" and .agent.result == "ok"
             and .probe.result == "ok" and .probe.exitcode == 0 and .probe.command == "nvidia-smi -q"
             and .links == [{"slot": "0000:01:00.0", "current_width": 16, "max_width": 16}]
             and .stop.result == "ok" and .stop.forced == false and .resets == null
             and (.journal | test("no-journal"))
             and ([.drivers_before_start[].driver] == ["vfio-pci", "vfio-pci"]))'

# A readable journal without the hook's entries: zero resets, and the hint that the hook may not be attached.
mkdir -p "$vr/empty-journal"
rc=$(VJOURNAL=$vr/empty-journal vrun good --cycles 1 --json)
jcheck "verify --json: readable journal without hook entries: no resets, hook_journaled false" \
        '.verdict == "pass" and .cycles[0].resets == [] and .cycles[0].journal == null and .cycles[0].hook_journaled == false'
rc=$(VJOURNAL=$vr/empty-journal vrun good --cycles 1)
vcheck "verify: readable journal without hook entries says the hook may not be attached" 0 "$rc" \
        '^1 +pass .* 0 \(no hook entries: is it attached\?\)$'

# (b) a card that fails on the second start: Proxmox's message is the reason, the other cycles run.
rc=$(vrun fail-second-start)
vcheck "verify: second start fails, exit 1, Proxmox's message is the reason" 1 "$rc" \
        '^1 +pass ' '^2 +fail +failed ' '^3 +pass ' \
        'fail: qm start 100 failed \(exit status 255\): .*Device or resource busy: start failed: QEMU exited with code 1' \
        'verify: VM 100: 2 of 3 cycle\(s\) passed'
rc=$(vrun fail-second-start --json)
jcheck "verify --json: second start fails: verdict fail, cycle 2's reason, probe not run" \
        '.verdict == "fail" and ([.cycles[].verdict] == ["pass", "fail", "pass"])
         and (.cycles[1].reason | test("start failed: QEMU exited with code 1")) and .cycles[1].start.result == "failed"
         and .cycles[1].probe.result == "not run" and .cycles[1].agent.result == "not run"'
rc=$(vrun probe-fail-second)
vcheck "verify: probe fails in the second cycle, exit 1, its output is the reason" 1 "$rc" \
        '^2 +fail +ok +[0-9.]+m?s +exit 9 ' \
        "fail: probe 'nvidia-smi -q': exit status 9: NVIDIA-SMI has failed because it couldn't communicate"

rc=$(vrun probe-timeout --cycles 1 --json)
jcheck "verify: a probe that outlives qm guest exec's timeout fails, exit code unknown" \
        '.verdict == "fail" and .cycles[0].probe.result == "failed" and .cycles[0].probe.exitcode == null
         and .cycles[0].reason == "probe '"'nvidia-smi -q'"': did not finish within 60 s in the guest"'

# (c) a guest without the agent: each cycle fails after --agent-timeout, and says so.
rc=$(vrun no-agent --cycles 1)
vcheck "verify: no guest agent: cycle fails after the timeout, exit 1" 1 "$rc" \
        '^1 +fail +ok +failed +- ' \
        'fail: guest agent did not answer within 2 s \(last: qm guest cmd 100 failed \(exit status 255\): QEMU guest agent is not running\)'
grep -q '^qm shutdown 100' "$vr/qm/log" && ok "verify: no guest agent: the VM is still shut down" ||
        not_ok "verify: no guest agent: the VM is still shut down" "$(cat "$vr/qm/log")"

# Never hang: a qm that does not answer is killed (with what it started) at the timeout.
t0=$(date +%s)
rc=$(vrun hang-ping --cycles 1)
vcheck "verify: a hanging qm guest cmd is killed at --agent-timeout" 1 "$rc" 'fail: guest agent did not answer within 2 s \(last: .*no answer within [0-9]+ s, killed\)'
[ $(($(date +%s) - t0)) -lt 15 ] && ok "verify: a hanging qm costs the timeout, not more" ||
        not_ok "verify: a hanging qm costs the timeout, not more" "took $(($(date +%s) - t0)) s"

# (d) a VM already running: refused, nothing started or stopped; --force shuts it down first.
rc=$(vrun running)
vcheck "verify: running VM refused without --force, exit 1" 1 "$rc" \
        'refused: VM 100 is running \(qm status\): .*pass --force'
[ "$(cat "$vr/qm/log")" = "qm status 100" ] && ok "verify: refusal ran nothing but qm status" ||
        not_ok "verify: refusal ran nothing but qm status" "$(cat "$vr/qm/log")"
rc=$(vrun running --json)
jcheck "verify --json: refusal: verdict fail, no cycle" '.verdict == "fail" and (.refused | test("is running")) and .cycles == []'
rc=$(vrun running --force --cycles 1)
vcheck "verify --force: a running VM is shut down first, then verified" 0 "$rc" \
        'VM 100 was running: shut down' '^1 +pass '

# A function that is not on vfio-pci before a start fails the cycle (the start still runs: the report
# says what happened next too).
ln -sfn ../../../../bus/pci/drivers/snd_hda_intel "$vr/root/sys/bus/pci/devices/0000:01:00.1/driver"
rc=$(vrun good --cycles 1 --json)
ln -sfn ../../../../bus/pci/drivers/vfio-pci "$vr/root/sys/bus/pci/devices/0000:01:00.1/driver"
jcheck "verify: a function on snd_hda_intel before the start fails the cycle" \
        '.verdict == "fail" and .cycles[0].reason == "0000:01:00.1 was on snd_hda_intel before start, not vfio-pci"
         and .cycles[0].drivers_before_start[1].driver == "snd_hda_intel" and .cycles[0].start.result == "ok"'

# More of the same promise: the fallback probe, a narrower link, a guest that does not shut down.
rc=$(vrun no-nvidia-smi --json --cycles 1)
jcheck "verify: no nvidia-smi in the guest: lspci -nnk is the probe" \
        '.verdict == "pass" and .cycles[0].probe.command == "lspci -nnk"'
rc=$(vrun no-nvidia-smi --cycles 1)
vcheck "verify: the table says when lspci -nnk stood in for nvidia-smi" 0 "$rc" \
        '^    probe: lspci -nnk \(no nvidia-smi in the guest\)$'
rc=$(vrun narrow-second)
vcheck "verify: a link that trains narrower after a reset fails its cycle" 1 "$rc" \
        '^2 +fail .* x1/x16 ' 'fail: 0000:01:00.0: link trained at x1, x16 in cycle 1'
rc=$(vrun no-shutdown --cycles 1)
vcheck "verify: a guest that does not shut down is stopped with qm stop" 0 "$rc" \
        '^1 +pass .* qm stop ' 'stop: stopped with qm stop after: qm shutdown 100 failed'
rc=$(vrun unstoppable)
vcheck "verify: a VM that cannot be stopped ends the run after its cycle" 1 "$rc" \
        "fail: did not stop: qm shutdown 100 failed .*; then qm stop 100 failed \(exit status 255\): can't lock file" \
        'verify: VM 100: 0 of 3 cycle\(s\) passed \(stopped early: the VM could not be stopped\)'
[ "$(grep -c '^qm start' "$vr/qm/log")" = 1 ] && ok "verify: no start after a VM that did not stop" ||
        not_ok "verify: no start after a VM that did not stop" "$(cat "$vr/qm/log")"
rc=$(vrun good --probe 'lspci -nnk -d 10de:' --cycles 1)
vcheck "verify --probe: the command is split into the guest's argv" 0 "$rc"
grep -q '^qm guest exec 100 --timeout 60 -- lspci -nnk -d 10de:$' "$vr/qm/log" && ok "verify --probe runs its words, no shell" ||
        not_ok "verify --probe runs its words, no shell" "$(cat "$vr/qm/log")"

# Bad arguments: exit 2 before qm is run.
rc=$(vrun good --cycles 0)
vcheck "verify --cycles 0: exit 2" 2 "$rc" "invalid --cycles '0'"
rc=$(vrun good --agent-timeout x)
vcheck "verify --agent-timeout x: exit 2" 2 "$rc" "invalid --agent-timeout 'x'"
rc=$(vrun good --probe '   ')
vcheck "verify --probe of blanks: exit 2" 2 "$rc" "invalid --probe"
[ ! -e "$vr/qm/log" ] && ok "verify: bad arguments run no qm" || not_ok "verify: bad arguments run no qm" "$(cat "$vr/qm/log")"
expect "verify takes no --method" 2 "verify does not take --method" -- "$bin" --root "$vr/root" verify 100 --method flr
expect "plan takes no --force" 2 "plan does not take --force" -- "$bin" --root "$vr/root" plan 100 --force
vplain=$(mkroot verify-plain "cores: 2" "memory: 2048")
expect "verify of a VM without hostpci: exit 2" 2 "VM 100 has no PCI function to verify" -- "$bin" --root "$vplain" verify 100
expect "verify without qm on PATH: refused, exit 1" 1 "cannot tell whether VM 100 is running: qm status 100: qm not found" -- \
        env PATH=/nonexistent "$bin" --root "$vr/root" verify 100
