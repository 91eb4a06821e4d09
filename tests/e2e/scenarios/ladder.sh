# Scenarios 1, 2, 3, 6, 7 of issue 3 on the GPU-like layout (doc/DESIGN.md §6): every rung of the reset
# ladder on a real kernel, a host driver displaced, the administrator's full cycle, and a run killed
# with SIGKILL in the middle of remove+rescan.
# e2e-topology: gpu
# e2e-timeout: 240
# e2e-files: guest/hook.sh:/e2e/hook.sh
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

GPU=0000:01:00.0 HDA=0000:01:00.1 VIRTIO=0000:02:00.0 E1000E=0000:02:00.1 NVME=0000:03:00.0

echo "# --- 1. FLR-capable card (nvme 03:00.0): pre-start moves it off nvme, post-stop resets by flr"
vmconf 102 "memory: 1024" "hostpci0: 03:00.0,pcie=1"
t_eq "nvme starts on its host driver" "$(drv $NVME)" nvme
hook 102 pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "pre-start moved nvme to vfio-pci" all_on_vfio $NVME
t_check "journal line says the host driver had it" hook_says "$NVME bind-vfio ok"
hook 102 post-stop
hook_rungs
t_eq "post-stop exits 0" "$HOOK_RC" 0
t_check "post-stop reset it by flr" hook_says "$NVME reset flr ok"
t_check "nvme stays on vfio-pci" all_on_vfio $NVME
# Pinned, no longer back to the kernel's list: Proxmox's write to reset, vfio-pci and QEMU use flr too.
t_eq "reset_method pinned to flr" "$(sys_read "$(pci $NVME)/reset_method")" "flr"
t_eq "the kernel's list is recorded for later plans" "$(cat /run/pve-gpu-reset/kernel-reset_method-$NVME)" "flr bus"
t_check "journal line says it is pinned" hook_says "$NVME: reset_method pinned to flr"

echo "# --- 3. card bound to a host driver at pre-start (e1000e 02:00.1), its sibling is foreign"
vmconf 103 "hostpci0: 02:00.1"
t_eq "e1000e starts on e1000e" "$(drv $E1000E)" e1000e
virtio_before=$(drv $VIRTIO)
hook 103 pre-start
hook_rungs
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "e1000e moved to vfio-pci" all_on_vfio $E1000E
t_check "reset by pm (bus is shared with 02:00.0)" hook_says "$E1000E reset pm ok"
t_eq "the foreign virtio-net keeps its driver" "$(drv $VIRTIO)" "$virtio_before"
t_check "no slot reset or removal touched 02:00" sh -c '! echo "$1" | grep -Eq "bus-reset|remove-rescan"' sh "$HOOK_OUT"

echo "# --- 2. GPU-like multifunction slot given without function: every rung of the ladder"
vmconf 101 "hostpci0: 01:00,pcie=1,x-vga=1"
hook 101 pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "both functions on vfio-pci after pre-start" all_on_vfio $GPU $HDA
hook 101 post-stop
hook_rungs
t_eq "post-stop (reset_subordinate) exits 0" "$HOOK_RC" 0
t_check "the stale per-function bus method was not used" sh -c '! echo "$1" | grep -q "reset bus"' sh "$HOOK_OUT"
t_check "slot reset through reset_subordinate" hook_says "$GPU bus-reset reset_subordinate ok"
t_check "both functions back on vfio-pci" all_on_vfio $GPU $HDA
# The slot is the safe reset: pinned to none (an empty reset_method, written as "\n" since sysfs drops
# an empty write); the kernel then refuses a per-function reset, as Proxmox's write to reset meets it.
t_check "GPU pinned to none" hook_says "$GPU: reset_method pinned to none"
t_eq "GPU reset_method is empty" "$(sys_read "$(pci $GPU)/reset_method")" ""
t_check "a write to the GPU's reset fails (no per-function reset left)" sh -c '! echo 1 > "$1/reset"' sh "$(pci $GPU)"

policy '{"defaults": {"bus_reset": "bridge"}}'
hook 101 post-stop
hook_rungs
t_eq "post-stop (Bridge Control SBR forced by policy) exits 0" "$HOOK_RC" 0
t_check "slot reset through the bridge's Bridge Control register" hook_says "$GPU bus-reset bridge ok"
t_check "both functions back on vfio-pci after SBR" all_on_vfio $GPU $HDA
t_eq "bridge control: secondary bus reset bit cleared again" "$(( 0x$(setpci -s 00:01.0 BRIDGE_CONTROL) & 0x40 ))" 0
t_eq "drivers_autoprobe back at 1" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 1

policy '{"defaults": {"reset_methods": ["remove-rescan"], "settle_ms": 100}}'
hook 101 post-stop
hook_rungs
t_eq "post-stop (remove + rescan) exits 0" "$HOOK_RC" 0
t_check "remove + targeted rescan" hook_says "$GPU remove-rescan ok"
t_check "both functions back on vfio-pci after rescan" all_on_vfio $GPU $HDA
t_eq "drivers_autoprobe back at 1" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 1
t_eq "keep-awake re-applied after rescan" "$(sys_read "$(pci $GPU)/power/control")" on
policy ""

echo "# --- 6. the administrator's cycle: pre-start -> post-stop -> pre-start -> post-stop"
n=0
for step in pre-start post-stop pre-start post-stop; do
        n=$((n + 1))
        hook 101 $step
        t_eq "cycle $step exits 0" "$HOOK_RC" 0
        t_check "cycle $step: both functions usable on vfio-pci" all_on_vfio $GPU $HDA
        # the pre-start right after a post-stop finds the card clean: no reset at all
        [ $n -eq 3 ] && t_check "the second pre-start saw the card clean and did not reset it" \
                sh -c '! echo "$1" | grep -Eq "bus-reset|remove-rescan|reset [a-z_]+ ok"' sh "$HOOK_OUT"
done

echo "# --- 7. SIGKILL in the middle of remove+rescan, then the next run recovers"
policy '{"defaults": {"reset_methods": ["remove-rescan"], "settle_ms": 3000}}'
"$HOOK" 101 post-stop > /tmp/killed.out 2>&1 &
pid=$!
t_check "the run set drivers_autoprobe=0" wait_for 20 sh -c '[ "$(cat /sys/bus/pci/drivers_autoprobe)" = 0 ]'
t_check "the run removed the slot" wait_for 10 sh -c '[ ! -e /sys/bus/pci/devices/0000:01:00.0 ]'
kill -9 $pid
wait $pid 2>/dev/null
t_eq "killed mid-run: drivers_autoprobe left at 0" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 0
policy '{"defaults": {"settle_ms": 100}}'
hook 101 pre-start
t_eq "next run exits 0" "$HOOK_RC" 0
t_check "next run says it restored drivers_autoprobe" hook_says "drivers_autoprobe was left at 0"
t_eq "drivers_autoprobe is 1 again" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 1
t_check "next run found the missing functions and bound them" all_on_vfio $GPU $HDA
# A released lock's file holds no holder line; the killed run's was released by the kernel.
for l in /run/pve-gpu-reset/*.lock; do t_check "lock $l names no live holder" sh -c '! grep -q pid= "$1" || ! kill -0 "$(sed -n "s/^pid=\([0-9]*\).*/\1/p" "$1")" 2>/dev/null' sh "$l"; done
echo "# --- 7b. SIGTERM in the middle of remove+rescan: held back until drivers_autoprobe is 1 again"
policy '{"defaults": {"reset_methods": ["remove-rescan"], "settle_ms": 2000}}'
"$HOOK" 101 post-stop > /tmp/term.out 2>&1 &
pid=$!
t_check "the run set drivers_autoprobe=0" wait_for 20 sh -c '[ "$(cat /sys/bus/pci/drivers_autoprobe)" = 0 ]'
kill -TERM $pid
wait $pid
rc=$?
t_eq "the run ended by SIGTERM after its critical section (exit 143)" "$rc" 143
t_eq "drivers_autoprobe restored before it died" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 1
t_check "the functions it had removed are back on vfio-pci" all_on_vfio $GPU $HDA
t_check "no guard file left" test ! -e /run/pve-gpu-reset/autoprobe-off
policy ""
t_done
