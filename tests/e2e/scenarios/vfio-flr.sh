# Issue 14 (b): a card whose policy allows FLR (the built-in default). Slot 7 of topology nvmenic: nvme
# (.0, FLR) + e1000e (.1, pm). pre-start resets and pins the nvme to flr; from then on every reset of the
# nvme is an FLR of the nvme alone: a write of bit 15 to its Device Control register (0x88), with no
# Bridge Control SBR on rp7 (00:07.0 @0x3e) and no e1000e_cb_qdev_reset (the e1000e's pm reset is no
# reset in QEMU 7.2). One exception, QEMU's and not the kernel's: on a guest reboot QEMU's
# vfio_reset_handler gives a bus hot reset to every function whose only reset is pm
# (hw/vfio/pci.c vfio_pci_compute_needs_reset: !has_flr && has_pm_reset), so a VM that has the e1000e too
# gets an SBR on each reboot (step guest-reboot); a VM with the nvme alone does not (step nvme-reboot).
# e2e-topology: gpu nvmenic
# e2e-timeout: 300
# e2e-files: guest/hook.sh:/e2e/hook.sh
# e2e-trace: pci_nvme_pci_reset e1000e_cb_qdev_reset pci_cfg_write
# e2e-trace-some@pre-start: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@pre-start: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none@pre-start: ^e1000e_cb_qdev_reset
# e2e-trace-some@proxmox-write: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@proxmox-write: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none@proxmox-write: ^e1000e_cb_qdev_reset
# e2e-trace-some@vfio-open: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@vfio-open: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none@vfio-open: ^e1000e_cb_qdev_reset
# e2e-trace-some@vfio-reset: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@vfio-reset: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none@vfio-reset: ^e1000e_cb_qdev_reset
# e2e-trace-some@guest-reboot: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-some@guest-reboot: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-some@vfio-close: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@vfio-close: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none@vfio-close: ^e1000e_cb_qdev_reset
# e2e-trace-some@nvme-reboot: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@nvme-reboot: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none@nvme-reboot: ^e1000e_cb_qdev_reset
# e2e-trace-none@nvme-close: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none@nvme-close: ^e1000e_cb_qdev_reset
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

SLOT=$(cat /sys/bus/pci/slots/7/address)
NVME=$SLOT.0 NIC=$SLOT.1
show() {
        for f in $NVME $NIC; do
                t_info "$f driver=$(drv $f) group=$(iommu_group $f) reset_method='$(sys_read "$(pci $f)/reset_method")'"
        done
}
show
policy ""
vmconf 100 "memory: 1024" "hostpci0: ${SLOT#0000:},pcie=1"

vfio-reset mark=pre-start
hook 100 pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "both functions on vfio-pci" all_on_vfio $NVME $NIC
t_check "the nvme was reset by flr" hook_says "$NVME reset flr ok"
t_check "no slot reset" sh -c '! echo "$1" | grep -q "bus-reset"' sh "$HOOK_OUT"
t_eq "nvme pinned to flr" "$(sys_read "$(pci $NVME)/reset_method")" flr
t_eq "e1000e pinned to pm" "$(sys_read "$(pci $NIC)/reset_method")" pm

vfio-reset mark=proxmox-write
sys_write "$(pci $NVME)/reset" 1
t_eq "Proxmox's write to the nvme's reset works (flr)" "$?" 0
sys_write "$(pci $NIC)/reset" 1
t_eq "Proxmox's write to the e1000e's reset works (pm)" "$?" 0

out=$(vfio-reset $NVME,$NIC mark=vfio-open open info mark=vfio-reset reset=$NVME \
        mark=guest-reboot reboot mark=vfio-close close mark=after-close)
t_eq "vfio-reset (both functions) ran every step" "$?" 0
echo "$out" | sed 's/^/# /'
t_check "nvme reports a reset to QEMU" sh -c 'echo "$1" | grep -q "^vfio: info $2 reset=yes has_flr=yes"' sh "$out" $NVME
t_check "VFIO_DEVICE_RESET of the nvme works" sh -c 'echo "$1" | grep -q "^vfio: reset $2 ok"' sh "$out" $NVME
t_check "guest reboot: QEMU resets the nvme with VFIO_DEVICE_RESET" sh -c \
        'echo "$1" | grep -q "^vfio: reboot $2: vfio_pci_reset used VFIO_DEVICE_RESET$"' sh "$out" $NVME
t_check "guest reboot: the pm-only e1000e makes QEMU reset the bus too" sh -c \
        'echo "$1" | grep -q "^vfio: reboot $2: needs a bus reset (pm reset only)"' sh "$out" $NIC

# The VM has the nvme alone (the e1000e stays on vfio-pci, as Proxmox binds the whole IOMMU group).
out=$(vfio-reset $NVME mark=nvme-open open mark=nvme-reboot reboot mark=nvme-close close mark=end)
t_eq "vfio-reset (nvme alone) ran every step" "$?" 0
echo "$out" | sed 's/^/# /'
t_check "guest reboot of a VM with the nvme alone: VFIO_DEVICE_RESET, no bus reset" sh -c \
        'echo "$1" | grep -q "^vfio: reboot-device $2 ok" && ! echo "$1" | grep -q "^vfio: reboot-hot-reset"' sh "$out" $NVME
show
t_eq "nvme still pinned to flr" "$(sys_read "$(pci $NVME)/reset_method")" flr
t_done
