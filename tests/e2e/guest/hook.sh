# tests/e2e/guest/hook.sh — running the real hook inside the guest (sourced after /e2e/lib.sh).
#   vmconf VMID LINE...   write /etc/pve/qemu-server/VMID.conf
#   policy JSON           write /etc/pve-gpu-reset.json ("" removes it)
#   hook VMID PHASE       run `pve-gpu-reset VMID PHASE`; output in $HOOK_OUT (also echoed), status $HOOK_RC,
#                         wall time in $HOOK_SECS
#   hook_says REGEX       the last hook output matches REGEX
#   all_on_vfio BDF...    every function is present and bound to vfio-pci
#   iommu_group BDF       the function's IOMMU group number ("" when it has none or is gone)
#   map_line BDF PATH     a "map" line of /etc/pve/mapping/pci.cfg for PATH, with BDF's ids and group, as
#                         Proxmox writes it (pvesh create /cluster/mapping/pci --map ...)
# shellcheck shell=sh
HOOK=/usr/sbin/pve-gpu-reset

vmconf() {
        _vm=$1
        shift
        mkdir -p /etc/pve/qemu-server/
        printf '%s\n' "$@" > "/etc/pve/qemu-server/$_vm.conf"
}

policy() {
        if [ -z "$1" ]; then rm -f /etc/pve-gpu-reset.json; else printf '%s\n' "$1" > /etc/pve-gpu-reset.json; fi
}

hook() {
        _t0=$(t_now)
        HOOK_OUT=$("$HOOK" "$@" 2>&1)
        HOOK_RC=$?
        HOOK_SECS=$(awk -v a="$_t0" -v b="$(t_now)" 'BEGIN { printf "%.2f", b - a }')
        echo "$HOOK_OUT" | sed "s/^/#   [$*] /"
        echo "# pve-gpu-reset $* -> exit $HOOK_RC in ${HOOK_SECS}s"
}

hook_says() { echo "$HOOK_OUT" | grep -Eq -- "$1"; }

all_on_vfio() {
        for _fn in "$@"; do
                [ -e "$PCI/$_fn/config" ] || return 1
                [ "$(drv "$_fn")" = vfio-pci ] || return 1
        done
}

# "rung ok 123ms" figures of the last hook run, for the closing note.
hook_rungs() { echo "$HOOK_OUT" | grep -Eo '(reset [a-z_]+|bus-reset [a-z_]+|remove-rescan) (ok|failed) [0-9.]+(us|ms|s)' | sort -u | sed 's/^/E2E-RUNG /'; }

iommu_group() { _g=$(readlink "$PCI/$1/iommu_group" 2>/dev/null) && basename "$_g"; }

_pci_id() { printf '%s:%s' "$(sed 's/^0x//' "$PCI/$1/$2vendor")" "$(sed 's/^0x//' "$PCI/$1/$2device")"; }
map_line() {
        printf '\tmap id=%s,iommugroup=%s,node=%s,path=%s,subsystem-id=%s\n' "$(_pci_id "$1")" \
                "$(iommu_group "$1")" "$E2E_NODE" "$2" "$(_pci_id "$1" subsystem_)"
}
