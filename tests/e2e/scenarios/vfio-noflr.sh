# Issue 14 (a): a card whose policy excludes FLR, through everything that resets it after pre-start.
# The card is slot 7 of topology nvmenic: nvme (.0, FLR; its policy: slot, remove-rescan) + e1000e (.1,
# pm). pre-start pins the nvme to none (the slot reset is its safe reset). Then, like a VM's life:
# Proxmox's `echo 1 > reset` on each function (qemu-server PCI.pm prepare_pci_device -> pci_dev_reset),
# QEMU opening both functions (vfio_pci_core_enable resets), VFIO_DEVICE_RESET, QEMU's hot reset, a guest
# reboot (QEMU's vfio_pci_reset + vfio_reset_handler with the devices open) and the release. QEMU's own
# trace proves that none of them did an FLR of the nvme (a write of bit 15 "Initiate FLR" to its Device
# Control register, 0x88: QEMU's nvme has its PCIe capability at 0x80), and which steps reset the slot
# (Bridge Control bit 6 of rp7 = 00:07.0 @0x3e; both functions trace their reset then).
# e2e-topology: gpu nvmenic
# e2e-timeout: 300
# e2e-files: guest/hook.sh:/e2e/hook.sh
# e2e-trace: pci_nvme_pci_reset e1000e_cb_qdev_reset pci_cfg_write
# No FLR of the nvme at any time after pre-start:
# e2e-trace-none@pre-start: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@proxmox-write: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@vfio-open: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@vfio-reset: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@vfio-hot-reset: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@guest-reboot: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@vfio-close: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# The control, without the hook: the card bound to vfio-pci as Proxmox does it, then Proxmox's write to
# reset: the kernel's reset_method ("flr bus") makes that an FLR of the nvme.
# e2e-trace-some@no-hook: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# pre-start: the ladder's rung for the nvme is the slot: an SBR of rp7, which resets both functions.
# e2e-trace-some@pre-start: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-some@pre-start: ^e1000e_cb_qdev_reset
# Proxmox's write to reset: fails on the nvme (pinned to none), pm on the e1000e (QEMU 7.2 emulates no
# reset on D3hot->D0): nothing is reset.
# e2e-trace-none@proxmox-write: ^pci_nvme_pci_reset|^e1000e_cb_qdev_reset
# e2e-trace-none@proxmox-write: @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# QEMU opens the functions: vfio-pci's reset at open finds no per-function reset for the nvme.
# e2e-trace-none@vfio-open: ^pci_nvme_pci_reset
# VFIO_DEVICE_RESET of the nvme: refused (no reset support reported), nothing happens.
# e2e-trace-none@vfio-reset: ^pci_nvme_pci_reset|^e1000e_cb_qdev_reset
# QEMU's hot reset: the slot (SBR of rp7) resets both functions.
# e2e-trace-some@vfio-hot-reset: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-some@vfio-hot-reset: ^pci_nvme_pci_reset
# e2e-trace-some@vfio-hot-reset: ^e1000e_cb_qdev_reset
# A guest reboot with the devices open: QEMU's hot reset of the bus (the nvme reports no reset).
# e2e-trace-some@guest-reboot: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-some@guest-reboot: ^pci_nvme_pci_reset
# The release: vfio-pci's vfio_pci_dev_set_try_reset resets the slot (the nvme still "needs" a reset).
# e2e-trace-some@vfio-close: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

SLOT=$(cat /sys/bus/pci/slots/7/address)
NVME=$SLOT.0 NIC=$SLOT.1
show() {
        for f in $NVME $NIC; do
                t_info "$f $(cat "$(pci $f)/vendor"):$(cat "$(pci $f)/device") driver=$(drv $f)" \
                        "group=$(iommu_group $f) reset_method='$(sys_read "$(pci $f)/reset_method")'"
        done
}
t_info "slot 7 is $SLOT"
show
t_eq "nvme on nvme" "$(drv $NVME)" nvme
t_eq "e1000e on e1000e" "$(drv $NIC)" e1000e

# Without the hook: Proxmox binds the IOMMU group to vfio-pci (PCI.pm -> pve-common SysFSTools
# pci_dev_group_bind_to_vfio: new_id, unbind, bind; driver_override here binds the same way without
# leaving the ids in vfio-pci's table) and writes reset: under the kernel's "flr bus" that is an FLR.
vfio-reset mark=no-hook
for f in $NVME $NIC; do
        sys_write "$(pci $f)/driver_override" vfio-pci
        sys_write "$(pci $f)/driver/unbind" $f
        sys_write /sys/bus/pci/drivers_probe $f
done
t_check "without the hook: both functions on vfio-pci" all_on_vfio $NVME $NIC
sys_write "$(pci $NVME)/reset" 1
t_eq "without the hook: Proxmox's write to the nvme's reset works (an FLR)" "$?" 0

policy '{"devices": {"1b36:0010": {"reset_methods": ["slot", "remove-rescan"]}}}'
vmconf 100 "memory: 1024" "hostpci0: ${SLOT#0000:},pcie=1"
pve-gpu-reset plan 100 --phase pre-start | sed 's/^/# plan: /'

vfio-reset mark=pre-start
hook 100 pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "both functions on vfio-pci" all_on_vfio $NVME $NIC
t_check "the nvme was reset with the slot (not by a per-function method)" hook_says "$NVME bus-reset [a-z_]+ ok"
t_check "the nvme is pinned to none" hook_says "$NVME: reset_method pinned to none"
t_eq "nvme reset_method is empty" "$(sys_read "$(pci $NVME)/reset_method")" ""
show

vfio-reset mark=proxmox-write
# qemu-server PVE/QemuServer/PCI.pm prepare_pci_device: pci_dev_reset writes 1 to reset of every function
# that has the file (SysFSTools pci_device_info has_fl_reset); a failure is a warning since qemu-server 8.2.6.
sys_write "$(pci $NVME)/reset" 1
t_eq "Proxmox's write to the nvme's reset fails" "$?" 1
t_info "nvme reset: $SYS_ERR"
sys_write "$(pci $NIC)/reset" 1
t_eq "Proxmox's write to the e1000e's reset works (pm)" "$?" 0

out=$(vfio-reset $NVME,$NIC mark=vfio-open open info mark=vfio-reset reset=$NVME \
        mark=vfio-hot-reset hot-reset=$NVME mark=guest-reboot reboot mark=vfio-close close mark=after-close)
rc=$?
echo "$out" | sed 's/^/# /'
t_eq "vfio-reset ran every step" "$rc" 0
t_check "VFIO opened both functions" sh -c 'echo "$1" | grep -q "^vfio: open .* ok"' sh "$out"
t_check "nvme reports no reset to QEMU (VFIO_DEVICE_FLAGS_RESET clear)" sh -c 'echo "$1" | grep -q "^vfio: info $2 reset=no"' sh "$out" $NVME
t_check "VFIO_DEVICE_RESET of the nvme is refused (EINVAL)" sh -c 'echo "$1" | grep -q "^vfio: reset $2 failed: errno 22"' sh "$out" $NVME
t_check "QEMU's hot reset works" sh -c 'echo "$1" | grep -q "^vfio: hot-reset $2 ok"' sh "$out" $NVME
t_check "a guest reboot resets the slot" sh -c 'echo "$1" | grep -q "^vfio: reboot-hot-reset .* ok"' sh "$out"
show
t_eq "nvme still pinned to none after QEMU" "$(sys_read "$(pci $NVME)/reset_method")" ""
t_done
