# Safety issue, "Done when" (A): a VM with a GPU, a driver=keep device and an mdev= device. The real
# report: "a host NVMe given with driver=keep went nvme -> vfio-pci and got an FLR". Proxmox neither
# binds nor resets a driver=keep device (it stays on its host driver) and never touches the parent of an
# mdev (it only creates a mediated device on it), so across pre-start -> post-stop -> pre-start the hook
# must not change their driver, driver_override or config space, must not reset them (FLR, PM or a bus
# reset of their root port), while the GPU is reset as usual. The e1000e beside the mdev parent is a
# second driver=keep device, named through a resource mapping (hostpci3: mapping=NAME,driver=keep):
# the skip has to survive the mapping as well as the post-stop's replay of the recorded set.
# Evidence of "no reset" three ways: the hook's own journal lines, the devices' config space and
# working state in the guest, and QEMU's trace (checked on the host after the boot, see lib.sh): any
# reset of the nvme (FLR, or a secondary bus reset of 00:03.0) runs nvme_pci_reset; one of the e1000e
# runs e1000e_cb_qdev_reset; one of the virtio-net (or its driver letting go of it) writes its status
# (virtio_set_status); an FLR, PM reset or driver change writes their config space (pci_cfg_write);
# a bus reset of 00:02.0 or 00:03.0 sets bit 6 (0x40) of that root port's Bridge Control (0x3e). The
# GPU's slot reset is the same write on 00:01.0 and must be there: it proves the trace sees them.
# e2e-topology: gpu
# e2e-timeout: 180
# e2e-files: guest/hook.sh:/e2e/hook.sh
# e2e-trace: pci_nvme_pci_reset e1000e_cb_qdev_reset virtio_set_status pci_cfg_write
# e2e-trace-none: ^pci_nvme_pci_reset
# e2e-trace-none: ^e1000e_cb_qdev_reset
# e2e-trace-none: ^virtio_set_status
# e2e-trace-none: ^pci_cfg_write (nvme|virtio-net-pci|e1000e)[ ]
# e2e-trace-none: ^pci_cfg_write pcie-root-port 00:0[23]\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-some: ^pci_cfg_write pcie-root-port 00:01\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# shellcheck shell=sh disable=SC1091,SC2016
. /e2e/lib.sh
. /e2e/hook.sh

GPU=0000:01:00.0 HDA=0000:01:00.1 VIRTIO=0000:02:00.0 E1000E=0000:02:00.1 NVME=0000:03:00.0

# The first 256 bytes of config space, one "offset byte" line each (no register excluded: an idle
# device on its own driver does not change them).
cfg() { head -c 256 "$(pci "$1")/config" | od -An -v -tx1 | tr -s ' ' '\n' | grep . | awk '{ printf "0x%02x %s\n", NR - 1, $1 }'; }
# cfg_changes BDF -> "0xOFF:was>now ..." for every byte that differs from the dump taken at the start
cfg_changes() { cfg "$1" | awk 'NR == FNR { was[$1] = $2; next } was[$1] != $2 { printf "%s:%s>%s ", $1, was[$1], $2 }' "/tmp/cfg.$1" -; }
# Every journal step the hook printed for BDF, except "skip" (the only thing allowed for keep/mdev).
touched() { echo "$HOOK_OUT" | grep -E "\] $1 [a-z-]+ " | grep -vE "\] $1 skip "; }
untouched() { [ -z "$(touched "$1")" ]; }
# The host NVMe still answers through its own driver: a read of its namespace works.
nvme_reads() { dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=1 2>/dev/null; }

for d in $NVME $VIRTIO $E1000E; do
        drv "$d" > "/tmp/drv.$d"
        sys_read "$(pci "$d")/driver_override" > "/tmp/ovr.$d"
        cfg "$d" > "/tmp/cfg.$d"
done
t_eq "the NVMe starts on its host driver" "$(drv $NVME)" nvme
t_eq "the mdev parent (virtio-net) starts on its host driver" "$(drv $VIRTIO)" virtio-pci
t_check "the NVMe namespace reads" nvme_reads

# same_as_before BDF WHEN: driver, driver_override and config space as at the start
same_as_before() {
        t_eq "$2: $1 keeps its driver" "$(drv "$1")" "$(cat "/tmp/drv.$1")"
        t_eq "$2: $1 driver_override unchanged" "$(sys_read "$(pci "$1")/driver_override")" "$(cat "/tmp/ovr.$1")"
        t_eq "$2: $1 config space (256 bytes) unchanged" "$(cfg_changes "$1")" ""
}

{ echo "e2e-nic"; map_line $E1000E $E1000E; } > /etc/pve/mapping/pci.cfg
vmconf 100 "memory: 1024" "hostpci0: 0000:01:00,pcie=1,x-vga=1" "hostpci1: 0000:03:00.0,driver=keep" \
        "hostpci2: 0000:02:00.0,mdev=nvidia-63" "hostpci3: mapping=e2e-nic,driver=keep"
t_check "the plan resolves the mapping of the e1000e and skips it" \
        sh -c '"$1" plan 100 | grep -A1 "$2" | grep -q "skipped: driver=keep"' sh "$HOOK" $E1000E

n=0
for step in pre-start post-stop pre-start; do
        n=$((n + 1))
        echo "# --- A$n. $step"
        hook 100 $step
        t_eq "$step #$n exits 0" "$HOOK_RC" 0
        t_check "$step #$n: the GPU's functions are on vfio-pci" all_on_vfio $GPU $HDA
        t_check "$step #$n: no step for the driver=keep NVMe but skip" untouched $NVME
        t_check "$step #$n: no step for the mdev parent but skip" untouched $VIRTIO
        t_check "$step #$n: no step for the mapped driver=keep e1000e but skip" untouched $E1000E
        t_check "$step #$n: no bus reset or removal of the NVMe's or mdev parent's slot" \
                sh -c '! echo "$1" | grep -Eq "(0000:03:00|0000:02:00)\.[0-7] (bus-reset|remove-rescan)"' sh "$HOOK_OUT"
        same_as_before $NVME "$step #$n"
        same_as_before $VIRTIO "$step #$n"
        same_as_before $E1000E "$step #$n"
        t_check "$step #$n: the NVMe namespace still reads through nvme" nvme_reads
        # The GPU is reset as usual: by the first pre-start (never reset yet) and the post-stop; the
        # second pre-start finds it left clean by that post-stop.
        if [ $n -le 2 ]; then
                t_check "$step #$n: the GPU was reset" hook_says "$GPU (reset [a-z_]+|bus-reset [a-z_]+|remove-rescan) ok"
        fi
done
t_done
