# Safety issue (C): a function in the VM's own IOMMU group is not foreign. Proxmox binds every
# non-bridge function of the group of each passed-through device to vfio-pci (pve-common
# src/PVE/SysFSTools.pm:pci_dev_group_bind_to_vfio, called from qemu-server's PCI prepare step), so a
# card given as only ".0;.1" owns its ".2" for the time the VM runs: nobody else can have it. The
# slot reset (or remove+rescan) of such a card may cover ".2" when no other VM has reserved it
# (/run/qemu-server/pci-id-reservations) and no process holds its /dev/vfio group open. Today every
# slot rung is refused with "0000:04:00.2 below bridge ... is not this VM's to reset".
# Layout (topology piece "mfgroup"): 00:06.0 -> 04:00.0 bochs-display + 04:00.1 intel-hda + 04:00.2
# qemu-xhci (no driver), one IOMMU group. The policy leaves the VM's functions only the slot rungs,
# as for cards whose FLR hangs.
# e2e-topology: gpu mfgroup
# e2e-timeout: 180
# e2e-files: guest/hook.sh:/e2e/hook.sh
# shellcheck shell=sh disable=SC1091,SC2016
. /e2e/lib.sh
. /e2e/hook.sh

SLOT=$(cat /sys/bus/pci/slots/6/address)
F0=$SLOT.0 F1=$SLOT.1 F2=$SLOT.2
t_info "card in slot 6: $F0 $(drv "$F0") / $F1 $(drv "$F1") / $F2 $(drv "$F2"); groups $(iommu_group "$F0") $(iommu_group "$F1") $(iommu_group "$F2")"
t_eq "precondition: .1 is in the IOMMU group of .0" "$(iommu_group "$F1")" "$(iommu_group "$F0")"
t_eq "precondition: .2 is in the IOMMU group of .0" "$(iommu_group "$F2")" "$(iommu_group "$F0")"
t_eq "precondition: no driver has .2" "$(drv "$F2")" ""

policy '{"devices": {"1234:1111": {"reset_methods": ["slot", "remove-rescan"]},
                     "8086:2668": {"reset_methods": ["slot", "remove-rescan"]}}}'
vmconf 109 "hostpci0: ${F0};${F1},pcie=1"

# plan_names_f2 PHASE: the plan resets the VM's .0 by a slot rung, and its reason names .2 (the
# function the rung covers besides the VM's own).
plan_names_f2() {
        _j=$("$HOOK" plan 109 --phase "$1" --json 2>&1)
        echo "$_j" | tr '{' '\n' | grep -E "\"action\": ?\"(bus-reset|remove-rescan)\"" | grep -q "$F2"
}
slot_rung_ok() { hook_says "$F0 (bus-reset [a-z_]+|remove-rescan) ok"; }

echo "# --- C1. pre-start: .2 has no driver and nobody else's"
"$HOOK" plan 109 --phase pre-start | sed 's/^/#   plan: /'
t_check "the pre-start plan resets by a slot rung that names $F2" plan_names_f2 pre-start
hook 109 pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "pre-start reset the card by a slot reset or remove+rescan" slot_rung_ok
t_check "the VM's functions are on vfio-pci" all_on_vfio "$F0" "$F1"
t_check "$F2 is still there" test -e "$(pci "$F2")/config"

echo "# --- C2. Proxmox binds the whole group to vfio-pci for the VM (pci_dev_group_bind_to_vfio); it stops"
t_check "bind $F2 to vfio-pci like Proxmox" sh -c 'echo vfio-pci > "$1/driver_override" && echo "$2" > /sys/bus/pci/drivers_probe' \
        sh "$(pci "$F2")" "$F2"
t_eq "$F2 is on vfio-pci" "$(drv "$F2")" vfio-pci
"$HOOK" plan 109 --phase post-stop | sed 's/^/#   plan: /'
t_check "the post-stop plan resets by a slot rung that names $F2" plan_names_f2 post-stop
hook 109 post-stop
t_eq "post-stop exits 0" "$HOOK_RC" 0
t_check "post-stop reset the card by a slot reset or remove+rescan" slot_rung_ok
t_check "the VM's functions are on vfio-pci" all_on_vfio "$F0" "$F1"
t_check "$F2 is still there" test -e "$(pci "$F2")/config"

echo "# --- C3. .2 reserved by another VM: then it is not ours, and nothing may reset the slot"
echo "$F2 999 time:$(($(date +%s) + 600))" > /run/qemu-server/pci-id-reservations
hook 109 post-stop
t_check "no slot reset or removal while VM 999 holds $F2" \
        sh -c '! echo "$1" | grep -Eq "(bus-reset [a-z_]+|remove-rescan) ok"' sh "$HOOK_OUT"
t_check "the hook names $F2 as the reason" hook_says "$F2"
t_check "$F2 is still there" test -e "$(pci "$F2")/config"
rm -f /run/qemu-server/pci-id-reservations
policy ""
t_done
