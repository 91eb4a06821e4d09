# SR-IOV (issue 16): a virtual function passed alone gets its own FLR and nothing else; its PF and
# its sibling VFs are not touched. QEMU 7.2's nvme with sriov_max_vfs=3 (topology "sriov", root port
# 00:07.0, slot 7): the guest enables three VFs (04:00.1-.3, VF offset 1, stride 1, each in an IOMMU
# group of its own). Facts this scenario pins down (6.1 and 6.12 alike):
# - a VF's config space reads ffff ffff as Vendor/Device ID (SR-IOV spec; the kernel's
#   pci_device_is_present asks the PF for that reason): "does it answer?" must not read the IDs;
# - the kernel lists "flr bus" as a VF's reset_method: "bus" is a slot reset (pciehp), which would
#   take the PF and every sibling VF down (QEMU's nvme_pci_reset of the PF also disables its VFs).
# VM 100 gets VF 04:00.1 (hostpci0: 0000:04:00.1). The policy puts every wider rung before FLR.
# pre-start and post-stop must exit 0, leave the VF on vfio-pci, pinned to flr, reset by flr only;
# the PF stays on nvme with 3 VFs and a live controller, VF 04:00.2 stays unbound, VF 04:00.3 stays
# on vfio-pci (another VM's), and none of their config space changes. VM 102 gets the PF itself
# while its VFs are enabled: vfio-pci refuses such a PF (vfio_pci_core_register_device: "Cannot bind
# to PF with SR-IOV enabled") and unbinding nvme leaves the VFs ("driver left SR-IOV enabled after
# remove"), so the hook leaves it alone: exit 0, a warning, PF still on nvme.
# `reset VF --method slot|remove-rescan` is refused (exit 1). QEMU's record, from E2E-TRACE-START
# (after the VFs exist): the VF's FLR (Device Control 0x88 <- 0x8000) is there; no config write to
# the PF or a sibling, none to the root port (no SBR, no slot power), no VF (un)registration.
# e2e-topology: gpu sriov
# e2e-timeout: 240
# e2e-files: guest/hook.sh:/e2e/hook.sh
# e2e-trace: pci_nvme_pci_reset sriov_register_vfs sriov_unregister_vfs pci_cfg_write
# e2e-trace-some: ^pci_cfg_write nvme 04:00\.1 @0x88 <- 0x8000$
# e2e-trace-some: ^pci_nvme_pci_reset
# e2e-trace-none: ^pci_cfg_write nvme 04:00\.[023] @
# e2e-trace-none: ^pci_cfg_write pcie-root-port 00:07\.0 @
# e2e-trace-none: ^sriov_(un)?register_vfs
# shellcheck shell=sh disable=SC1091,SC2016
. /e2e/lib.sh
. /e2e/hook.sh

PF=$(sys_read /sys/bus/pci/slots/7/address).0
t_eq "the SR-IOV NVMe is 0000:04:00.0 (the trace checks name bus 04)" "$PF" 0000:04:00.0
VF1=0000:04:00.1 VF2=0000:04:00.2 VF3=0000:04:00.3
t_eq "the PF starts on nvme" "$(drv $PF)" nvme
t_eq "it offers 3 VFs" "$(sys_read "$(pci $PF)/sriov_totalvfs")" 3

# VFs come up unbound (an nvme VF is offline until virt-mgmt gives it resources: no driver for it)
sys_write "$(pci $PF)/sriov_drivers_autoprobe" 0
t_check "enable 3 VFs" sys_write "$(pci $PF)/sriov_numvfs" 3
t_check "VF 04:00.1 appears" wait_for 5 test -e "$(pci $VF1)/physfn"
t_eq "VF 04:00.1 reset_method as the kernel lists it" "$(sys_read "$(pci $VF1)/reset_method")" "flr bus"
t_eq "a VF's Vendor/Device ID read ffff ffff" "$(head -c 4 "$(pci $VF1)/config" | od -An -tx1 | tr -d ' ')" ffffffff
# VF 3 belongs to another VM: on vfio-pci, reserved by VM 101 (as qemu-server reserves a running VM's)
sys_write "$(pci $VF3)/driver_override" vfio-pci
sys_write /sys/bus/pci/drivers_probe $VF3
t_eq "VF 04:00.3 is on vfio-pci" "$(drv $VF3)" vfio-pci
echo "$VF3 101 time:$(($(date +%s) + 600))" > /run/qemu-server/pci-id-reservations

cfg() { head -c 256 "$(pci "$1")/config" | od -An -v -tx1 | tr -s ' ' '\n' | grep . | awk '{ printf "0x%02x %s\n", NR - 1, $1 }'; }
cfg_changes() { cfg "$1" | awk 'NR == FNR { was[$1] = $2; next } was[$1] != $2 { printf "%s:%s>%s ", $1, was[$1], $2 }' "/tmp/cfg.$1" -; }
ctrl_state() { cat "$(pci $PF)"/nvme/nvme*/state 2>/dev/null; }
for d in $PF $VF2 $VF3; do cfg "$d" > "/tmp/cfg.$d"; done
t_eq "the PF's controller is live" "$(ctrl_state)" live
# Only the VF's own steps: anything the hook printed for the PF or a sibling
others_touched() { echo "$HOOK_OUT" | grep -E "\] (0000:04:00\.[023]) [a-z-]+ "; }

policy '{"defaults": {"reset_methods": ["bus", "slot", "remove-rescan", "pm", "flr"], "settle_ms": 100}}'
vmconf 100 "memory: 1024" "hostpci0: $VF1,pcie=1"
echo E2E-TRACE-START
for step in pre-start post-stop; do
        echo "# --- $step of VM 100 (the VF alone)"
        hook 100 $step
        t_eq "$step exits 0" "$HOOK_RC" 0
        t_check "$step: the VF is on vfio-pci" all_on_vfio $VF1
        t_check "$step: the VF was reset by its FLR" hook_says "$VF1 reset flr ok"
        t_check "$step: no slot reset, bus reset or removal" sh -c '! echo "$1" | grep -Eq "(bus-reset|remove-rescan) ok"' sh "$HOOK_OUT"
        t_eq "$step: no step for the PF or a sibling VF" "$(others_touched)" ""
        t_eq "$step: the VF is pinned to flr" "$(sys_read "$(pci $VF1)/reset_method")" flr
        t_eq "$step: the PF is still on nvme" "$(drv $PF)" nvme
        t_eq "$step: the PF still has 3 VFs" "$(sys_read "$(pci $PF)/sriov_numvfs")" 3
        t_eq "$step: the PF's controller is still live" "$(ctrl_state)" live
        t_eq "$step: VF 04:00.2 is still unbound" "$(drv $VF2)" ""
        t_eq "$step: VF 04:00.3 is still on vfio-pci" "$(drv $VF3)" vfio-pci
        for d in $PF $VF2 $VF3; do
                t_eq "$step: $d config space (256 bytes) unchanged" "$(cfg_changes "$d")" ""
        done
done

for m in slot remove-rescan; do
        echo "# --- reset $VF1 --method $m: an administrator cannot widen a VF's reset either"
        hook reset $VF1 --method $m
        t_eq "reset --method $m of the VF is refused" "$HOOK_RC" 1
        t_check "it says the VF gets only its FLR" hook_says "virtual function of $PF gets only its own FLR"
        t_eq "the PF is still on nvme with 3 VFs" "$(drv $PF) $(sys_read "$(pci $PF)/sriov_numvfs")" "nvme 3"
done

echo "# --- pre-start of VM 102 (the PF, with its 3 VFs enabled)"
policy ''
vmconf 102 "memory: 1024" "hostpci0: $PF,pcie=1"
hook 102 pre-start
t_eq "pre-start of the PF exits 0 (Proxmox decides; the hook does not abort)" "$HOOK_RC" 0
t_check "it says why the PF is left alone" hook_says "$PF skip.*3 VFs enabled"
t_eq "the PF is still on nvme" "$(drv $PF)" nvme
t_eq "the PF still has 3 VFs" "$(sys_read "$(pci $PF)/sriov_numvfs")" 3
t_eq "the PF's controller is still live" "$(ctrl_state)" live
t_eq "the PF's config space (256 bytes) unchanged" "$(cfg_changes $PF)" ""
t_done
