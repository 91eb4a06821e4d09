# Safety issue #7 (B): "removed functions can stay gone". A function removed from the kernel
# (echo 1 > remove) before the VM starts is rescanned by pre-start when the VM names it raw
# (hostpciN: 0000:03:00.0); it must be rescanned the same way when the VM names it through a resource
# mapping (hostpciN: mapping=NAME, /etc/pve/mapping/pci.cfg). Proxmox resolves the mapping on the node
# (PVE/QemuServer/PCI.pm:parse_hostpci -> PVE::Mapping::PCI::find_on_current_node, and
# PVE::Mapping::PCI::assert_valid checks the path's id, subsystem-id and iommugroup against sysfs), so
# the function has to be back before Proxmox looks. Once for a single function (the nvme), once for a
# whole multifunction slot (path=0000:01:00, both functions removed).
# e2e-topology: gpu
# e2e-timeout: 180
# e2e-files: guest/hook.sh:/e2e/hook.sh
# shellcheck shell=sh disable=SC1091,SC2016
. /e2e/lib.sh
. /e2e/hook.sh

GPU=0000:01:00.0 HDA=0000:01:00.1 NVME=0000:03:00.0

gone() { [ ! -e "$(pci "$1")" ]; }

{
        echo "e2e-nvme"
        map_line $NVME $NVME
        echo ""
        echo "e2e-gpu"
        map_line $GPU 0000:01:00
} > /etc/pve/mapping/pci.cfg
sed 's/^/# pci.cfg: /' /etc/pve/mapping/pci.cfg
vmconf 107 "hostpci0: mapping=e2e-nvme"
vmconf 108 "hostpci0: mapping=e2e-gpu,pcie=1,x-vga=1"
t_check "the plan resolves the nvme mapping while the device is there" \
        sh -c '"$1" plan 107 | grep -q "$2"' sh "$HOOK" $NVME
t_check "the plan resolves the GPU slot mapping while the card is there" \
        sh -c '"$1" plan 108 | grep -q "$2"' sh "$HOOK" $HDA
nvme_group=$(iommu_group $NVME) gpu_group=$(iommu_group $GPU)
t_info "nvme $NVME: IOMMU group $nvme_group; GPU $GPU: IOMMU group $(iommu_group $GPU)"

echo "# --- B0. control: the same nvme named raw (hostpci0: 0000:03:00.0) is rescanned today"
vmconf 106 "hostpci0: 0000:03:00.0"
t_check "remove 03:00.0" sys_write "$(pci $NVME)/remove" 1
t_check "03:00.0 is gone" wait_for 10 gone $NVME
hook 106 pre-start
t_eq "raw: pre-start exits 0" "$HOOK_RC" 0
t_check "raw: 03:00.0 is back and on vfio-pci" all_on_vfio $NVME
t_check "raw: the hook says it rescanned it" hook_says "$NVME rescan ok"
# A function that was alone in its IOMMU group gets the lowest free group number back, which is its
# old one: the mapping's iommugroup still matches (Proxmox's assert_valid would refuse it otherwise).
t_eq "raw: the rescanned nvme is in its old IOMMU group again" "$(iommu_group $NVME)" "$nvme_group"

echo "# --- B1. the mapped nvme was removed before pre-start: pre-start rescans and binds it"
t_check "remove 03:00.0" sys_write "$(pci $NVME)/remove" 1
t_check "03:00.0 is gone" wait_for 10 gone $NVME
hook 107 pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "03:00.0 is back and on vfio-pci" all_on_vfio $NVME
t_check "the hook says it rescanned it" hook_says "$NVME rescan ok"
t_eq "the rescanned nvme is in its old IOMMU group again (the mapping still matches)" "$(iommu_group $NVME)" "$nvme_group"
t_eq "drivers_autoprobe is 1" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 1

echo "# --- B2. both functions of the mapped GPU slot were removed before pre-start"
t_check "remove 01:00.1" sys_write "$(pci $HDA)/remove" 1
t_check "remove 01:00.0" sys_write "$(pci $GPU)/remove" 1
t_check "01:00.0 is gone" wait_for 10 gone $GPU
hook 108 pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "both functions are back and on vfio-pci" all_on_vfio $GPU $HDA
t_check "the hook says it rescanned them" hook_says "$GPU rescan ok"
t_eq "the rescanned GPU is in its old IOMMU group again (the mapping still matches)" "$(iommu_group $GPU)" "$gpu_group"
t_eq "drivers_autoprobe is 1" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 1

# Proxmox-parity issue: a mapped device with iommugroup through pre-start -> post-stop -> pre-start, reset
# by remove+rescan (the only rung the policy allows). IOMMU groups can renumber across a remove+rescan;
# then Proxmox's assert_valid refuses the next start ("'iommugroup' does not match"). Either the group
# is unchanged and every phase succeeds, or the hook stops with one line naming the mapping, both
# groups and the fix.
echo "# --- B3. mapped nvme: pre-start -> post-stop (remove+rescan) -> pre-start"
policy '{"defaults": {"reset_methods": ["remove-rescan"]}}'
hook 107 pre-start
t_eq "B3 pre-start exits 0" "$HOOK_RC" 0
hook 107 post-stop
t_check "B3 post-stop reset the nvme by remove+rescan" hook_says "$NVME remove-rescan"
if [ "$(iommu_group $NVME)" = "$nvme_group" ]; then
        t_eq "B3 post-stop exits 0: the group is unchanged ($nvme_group)" "$HOOK_RC" 0
        hook 107 pre-start
        t_eq "B3 second pre-start exits 0: the mapping still matches" "$HOOK_RC" 0
else
        t_check "B3 post-stop names the mapping, both groups and the fix" \
                hook_says "mapping 'e2e-nvme': the remove+rescan moved $NVME from IOMMU group $nvme_group"
fi
t_check "B3 the nvme is on vfio-pci" all_on_vfio $NVME
t_done
