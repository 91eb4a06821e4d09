# doctor on real kernels (issue 15 item 5: module knowledge through libkmod). The guest's modules are
# insmod'ed from a flat /lib/modules/<release>/ that depmod never indexed, so libkmod cannot open the
# index: doctor must say so as a kernel finding and go on (no crash, no "cannot pass devices
# through"); the VFIO modules are loaded (the real /sys/module); the host audio driver bound to
# 01:00.1 is named by the driver's real sysfs module link, and the modprobe check asks its softdep.
# e2e-topology: gpu
# e2e-modules: snd-hda-intel
# e2e-files: guest/hook.sh:/e2e/hook.sh
# doctor only reads: QEMU must see no reset and no bus reset of any root port, and no config write to
# the devices the doctor looked at
# e2e-trace: pci_nvme_pci_reset e1000e_cb_qdev_reset pci_cfg_write
# e2e-trace-none: ^pci_nvme_pci_reset
# e2e-trace-none: ^e1000e_cb_qdev_reset
# e2e-trace-none: ^pci_cfg_write pcie-root-port 00:0[123]\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-trace-none: ^pci_cfg_write VGA 
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

says() { printf '%s\n' "$OUT" | grep -q -- "$1"; }

release=$(uname -r)
vmconf 100 "hostpci0: 01:00,pcie=1" "machine: q35"
t_eq "01:00.1 is on the host audio driver" "$(drv 0000:01:00.1)" snd_hda_intel
t_eq "its driver's sysfs module link names snd_hda_intel" \
        "$(basename "$(readlink /sys/bus/pci/drivers/snd_hda_intel/module)")" snd_hda_intel
OUT=$(pve-gpu-reset doctor 100 2>&1)
RC=$?
printf '%s\n' "$OUT" | sed 's/^/#   /'
t_check "doctor ends with a verdict, exit 0 or 1 (got $RC)" [ "$RC" -le 1 ]
t_check "it printed a verdict" says "^verdict: "
t_check "kernel: the module index libkmod cannot open is a finding" \
        says "kernel: the module index of /lib/modules/$release cannot be read"
t_check "kernel: the VFIO modules are loaded (real /sys/module)" says "kernel: vfio, vfio_iommu_type1, vfio_pci loaded"
t_check "no 'cannot pass devices through'" sh -c '! printf "%s\n" "$1" | grep -q "cannot pass devices through"' _ "$OUT"
t_check "driver: 01:00.1's fix is a softdep for its module" says 'softdep snd_hda_intel pre: vfio-pci'
t_check "modprobe: snd_hda_intel needs a softdep (bound, not blacklisted)" says "modprobe: no 'softdep snd_hda_intel pre: vfio-pci'"
t_done
