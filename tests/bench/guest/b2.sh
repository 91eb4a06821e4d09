#!/bin/sh
# B2 (tests/bench/run.sh): reset latency of each ladder rung in the e2e guest — our hook's logged action
# time and whole run, against the bare kernel operations done by hand (no sleeps) and against the
# common recipe (remove; sleep 2; rescan). Prints "BENCH B2 ..." lines that run.sh parses.
# e2e-topology: gpu
# e2e-timeout: 300
# e2e-files: guest/hook.sh:/e2e/hook.sh ../bench/guest/common.sh:/e2e/bench-common.sh
# shellcheck shell=bash disable=SC1091
[ -n "${BASH_VERSION:-}" ] || exec /opt/bench/bash "$0" "$@"
. /e2e/lib.sh
. /e2e/hook.sh
. /e2e/bench-common.sh

GPU=0000:01:00.0 HDA=0000:01:00.1 NVME=0000:03:00.0 RP1=0000:00:01.0
D=/sys/bus/pci/devices
fail=0

bench "B2 info kernel=$(uname -r) reps=$REPS recipe_reps=$RECIPE_REPS cpus=$(nproc)"
# process start in the guest: a do-nothing program linked like the hook, and a static one
"$TIMEIT" -n $((REPS * 3)) -w 2 -c floor -- /opt/bench/floor ::: -c floor-nosd -- /opt/bench/floor-nosd ::: \
        -c floor-static -- /opt/bench/floor-static |
        sed 's/^TIMEIT \([^ ]*\) /BENCH B2 \1 run=all /'

# --- flr on the nvme (reset_method "flr bus"); pre-start moves it to vfio-pci first
vmconf 102 "hostpci0: 03:00.0,pcie=1"
hook 102 pre-start >/dev/null
t_eq "nvme on vfio-pci" "$(drv $NVME)" vfio-pci
for i in $(seq "$REPS"); do timed_hook "B2 flr ours" "$i" 102 post-stop || fail=1; done
grep -q "$NVME reset flr ok" "$TIMED_OUT" || { echo "# flr rung not used"; fail=1; }
flr_bare() { w $D/$NVME/reset_method flr && w $D/$NVME/reset 1 && w $D/$NVME/reset_method default; }
for i in $(seq "$REPS"); do bare "B2 flr bare" "$i" flr_bare || fail=1; done
t_eq "nvme still on vfio-pci" "$(drv $NVME)" vfio-pci

# --- slot reset through reset_subordinate on the VGA + HDA slot
vmconf 101 "hostpci0: 01:00,pcie=1,x-vga=1"
hook 101 pre-start >/dev/null
t_check "01:00 on vfio-pci" all_on_vfio $GPU $HDA
policy ""
for i in $(seq "$REPS"); do timed_hook "B2 subordinate ours" "$i" 101 post-stop || fail=1; done
grep -q "$GPU bus-reset reset_subordinate ok" "$TIMED_OUT" || { echo "# reset_subordinate rung not used"; fail=1; }
sub_bare() { w $D/$RP1/reset_subordinate 1; }
for i in $(seq "$REPS"); do bare "B2 subordinate bare" "$i" sub_bare || fail=1; done
t_check "01:00 on vfio-pci after reset_subordinate" all_on_vfio $GPU $HDA

# --- slot reset through the bridge's Bridge Control register (forced by policy), settle as configured
# and with settle 0 (the pure overhead against the same kernel work)
SETTLE=250
policy "{\"defaults\": {\"bus_reset\": \"bridge\", \"settle_ms\": $SETTLE}}"
for i in $(seq "$REPS"); do timed_hook "B2 bridge ours settle_ms=$SETTLE" "$i" 101 post-stop || fail=1; done
grep -q "$GPU bus-reset bridge ok" "$TIMED_OUT" || { echo "# bridge rung not used"; fail=1; }
policy '{"defaults": {"bus_reset": "bridge", "settle_ms": 0}}'
for i in $(seq "$REPS"); do timed_hook "B2 bridge ours0 settle_ms=0" "$i" 101 post-stop || fail=1; done
# by hand: remove both functions, SBR set + clear with setpci, rescan the bus, bind vfio-pci
bridge_bare() {
        w $D/$GPU/remove 1 && w $D/$HDA/remove 1 &&
                setpci -s 00:01.0 BRIDGE_CONTROL=0x40:0x40 && setpci -s 00:01.0 BRIDGE_CONTROL=0x00:0x40 &&
                w /sys/class/pci_bus/0000:01/rescan 1 && bind_vfio $GPU $HDA
}
for i in $(seq "$REPS"); do bare "B2 bridge bare" "$i" bridge_bare || fail=1; done
sbr_only() { setpci -s 00:01.0 BRIDGE_CONTROL=0x40:0x40 && setpci -s 00:01.0 BRIDGE_CONTROL=0x00:0x40; }
for i in $(seq "$REPS"); do bare "B2 bridge setpci_only" "$i" sbr_only || fail=1; done
t_check "01:00 on vfio-pci after the bridge runs" all_on_vfio $GPU $HDA

# --- remove + rescan (forced by policy)
policy "{\"defaults\": {\"reset_methods\": [\"remove-rescan\"], \"settle_ms\": $SETTLE}}"
for i in $(seq "$REPS"); do timed_hook "B2 rescan ours settle_ms=$SETTLE" "$i" 101 post-stop || fail=1; done
grep -q "$GPU remove-rescan ok" "$TIMED_OUT" || { echo "# remove-rescan rung not used"; fail=1; }
policy '{"defaults": {"reset_methods": ["remove-rescan"], "settle_ms": 0}}'
for i in $(seq "$REPS"); do timed_hook "B2 rescan ours0 settle_ms=0" "$i" 101 post-stop || fail=1; done
policy ""
rescan_bare() { w $D/$GPU/remove 1 && w $D/$HDA/remove 1 && w /sys/class/pci_bus/0000:01/rescan 1 && bind_vfio $GPU $HDA; }
for i in $(seq "$REPS"); do bare "B2 rescan bare" "$i" rescan_bare || fail=1; done
t_check "01:00 on vfio-pci after remove + rescan" all_on_vfio $GPU $HDA

# --- the common recipe: remove; sleep 2; global rescan (it binds nothing: Proxmox does that at start;
# we rebind untimed so the next run starts from the same state)
recipe() { w $D/$GPU/remove 1 && w $D/$HDA/remove 1 && sleep 2 && w /sys/bus/pci/rescan 1; }
for i in $(seq "$RECIPE_REPS"); do
        bare "B2 recipe sleep2" "$i" recipe || fail=1
        bind_vfio $GPU $HDA || fail=1
done
t_check "01:00 on vfio-pci after the recipe (rebound)" all_on_vfio $GPU $HDA

t_eq "every benchmark run succeeded" "$fail" 0
t_done
