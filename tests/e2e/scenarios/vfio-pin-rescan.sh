# Issue 14 (c): the pin survives post-stop and a remove+rescan. Slot 7 of topology nvmenic: nvme (.0,
# FLR; its policy: slot, remove-rescan -> pinned to none) + e1000e (.1, pm -> pinned to pm).
#  1. post-stop resets the slot and leaves both pins in place (the VM still owns the card).
#  1b. `pve-gpu-reset reset` by hand: by the policy (no FLR), and with --method flr (the one FLR asked
#     for): the pin is put back after each.
#  2. post-stop whose only rung is remove-rescan (policy): the kernel forgets reset_method when it adds a
#     function again, the hook writes the pin back (both none: remove-rescan is then every function's
#     rung); Proxmox's write after it is still no FLR.
#  3. a remove+rescan by hand (no hook): the kernel's list ("flr bus") is back and the host driver (nvme)
#     binds again (pci_bus_add_device -> device_attach); the next pre-start pins it again, without an FLR.
# e2e-topology: gpu nvmenic
# e2e-timeout: 300
# e2e-files: guest/hook.sh:/e2e/hook.sh
# e2e-trace: pci_nvme_pci_reset e1000e_cb_qdev_reset pci_cfg_write
# e2e-trace-none@post-stop: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-some@post-stop: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none@reset-command: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-some@reset-command-flr: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@write-after-reset-command: ^pci_nvme_pci_reset|^e1000e_cb_qdev_reset
# e2e-trace-none@post-stop-rescan: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@write-after-rescan: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@write-after-rescan: ^pci_nvme_pci_reset|^e1000e_cb_qdev_reset
# e2e-trace-none@pre-start-again: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@write-after-pre-start: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@write-after-pre-start: ^pci_nvme_pci_reset
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

SLOT=$(cat /sys/bus/pci/slots/7/address)
NVME=$SLOT.0 NIC=$SLOT.1
BUS=${SLOT%:00}
rm_() { sys_read "$(pci $1)/reset_method"; }
NOFLR='{"defaults": {"settle_ms": 100}, "devices": {"1b36:0010": {"reset_methods": ["slot", "remove-rescan"]}}}'

policy "$NOFLR"
vmconf 100 "memory: 1024" "hostpci0: ${SLOT#0000:},pcie=1"
hook 100 pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_eq "pre-start: nvme pinned to none" "$(rm_ $NVME)" ""
t_eq "pre-start: e1000e pinned to pm" "$(rm_ $NIC)" pm

echo "# --- 1. post-stop"
vfio-reset mark=post-stop
hook 100 post-stop
t_eq "post-stop exits 0" "$HOOK_RC" 0
t_check "post-stop reset the slot" hook_says "$NVME bus-reset [a-z_]+ ok"
t_eq "after post-stop: nvme still pinned to none" "$(rm_ $NVME)" ""
t_eq "after post-stop: e1000e still pinned to pm" "$(rm_ $NIC)" pm
t_check "both functions on vfio-pci" all_on_vfio $NVME $NIC

echo "# --- 1b. the reset command"
vfio-reset mark=reset-command
out=$("$HOOK" reset $NVME 2>&1)
t_eq "reset $NVME exits 0" "$?" 0
echo "$out" | sed 's/^/#   [reset] /'
t_eq "after reset: nvme still pinned to none" "$(rm_ $NVME)" ""
t_eq "after reset: e1000e still pinned to pm" "$(rm_ $NIC)" pm
vfio-reset mark=reset-command-flr
out=$("$HOOK" reset $NVME --method flr 2>&1)
t_eq "reset $NVME --method flr exits 0" "$?" 0
echo "$out" | sed 's/^/#   [reset --method flr] /'
t_eq "after reset --method flr: nvme pinned to none again" "$(rm_ $NVME)" ""
vfio-reset mark=write-after-reset-command
sys_write "$(pci $NVME)/reset" 1
t_eq "Proxmox's write to the nvme's reset still fails" "$?" 1

echo "# --- 2. post-stop by remove+rescan"
policy '{"defaults": {"reset_methods": ["remove-rescan"], "settle_ms": 100}}'
vfio-reset mark=post-stop-rescan
hook 100 post-stop
t_eq "post-stop (remove-rescan) exits 0" "$HOOK_RC" 0
t_check "the slot was removed and rescanned" hook_says "$NVME remove-rescan ok"
t_eq "after the rescan: nvme pinned to none again" "$(rm_ $NVME)" ""
t_eq "after the rescan: e1000e pinned to none (its rung is remove-rescan now)" "$(rm_ $NIC)" ""
t_check "both functions back on vfio-pci" all_on_vfio $NVME $NIC
vfio-reset mark=write-after-rescan
sys_write "$(pci $NVME)/reset" 1
t_eq "Proxmox's write to the nvme's reset fails after the rescan" "$?" 1
sys_write "$(pci $NIC)/reset" 1
t_eq "Proxmox's write to the e1000e's reset fails after the rescan" "$?" 1

echo "# --- 3. remove+rescan by hand, without the hook"
policy "$NOFLR"
vfio-reset mark=manual-rescan
sys_write "$(pci $NIC)/remove" 1
sys_write "$(pci $NVME)/remove" 1
sys_write "/sys/class/pci_bus/$BUS/rescan" 1
t_check "the card is back" wait_for 10 test -e "$(pci $NIC)/config"
t_eq "the kernel forgot the pin: nvme has its own list again" "$(rm_ $NVME)" "flr bus"
# The e1000e's own list after this rescan is "pm bus" on 6.1 and 6.12 alike, where it was "pm" at boot:
# the kernel's list is whatever it probed when it added the function again (here "bus" passed the probe,
# though the function is not alone on its bus and a bus reset of it would fail with ENOTTY).
t_eq "the kernel forgot the pin: e1000e has its own list again" "$(rm_ $NIC)" "pm bus"
t_info "after the manual rescan: nvme driver=$(drv $NVME), e1000e driver=$(drv $NIC)"
vfio-reset mark=pre-start-again
hook 100 pre-start
t_eq "pre-start after the manual rescan exits 0" "$HOOK_RC" 0
# Both are on their host drivers again. The nvme's slot reset resets the e1000e too: it must be off e1000e
# by then (the kernel tells only a driver with reset_prepare/reset_done; test_apply
# every_function_leaves_its_host_driver_before_the_slot_reset).
t_check "the e1000e left its host driver before the slot reset" sh -c 'echo "$1" | awk -v b="$2 bind-vfio ok" \
        -v r="$3 bus-reset" "index(\$0, b) { sb = NR } index(\$0, r) && !sr { sr = NR } END { exit !(sb && sr && sb < sr) }"' \
        sh "$HOOK_OUT" $NIC $NVME
t_eq "pre-start pinned the nvme to none again" "$(rm_ $NVME)" ""
t_eq "pre-start pinned the e1000e to pm again" "$(rm_ $NIC)" pm
t_check "both functions on vfio-pci" all_on_vfio $NVME $NIC
vfio-reset mark=write-after-pre-start
sys_write "$(pci $NVME)/reset" 1
t_eq "Proxmox's write to the nvme's reset fails (no FLR)" "$?" 1
vfio-reset mark=end
policy ""
t_done
