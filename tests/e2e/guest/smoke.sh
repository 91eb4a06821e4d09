# tests/e2e/guest/smoke.sh — proves the harness inside the guest (busybox sh, run as /scenario).
# e2e-topology: gpu
# e2e-hotplug: native
# shellcheck shell=sh disable=SC1091,SC2086
. /e2e/lib.sh

GPU=0000:01:00.0 HDA=0000:01:00.1 VIRTIO=0000:02:00.0 E1000E=0000:02:00.1 NVME=0000:03:00.0
RP1=0000:00:01.0 RP3=0000:00:03.0

echo "E2E-TIME boot-to-shell $(t_now)"

t_phase uname
t_eq "uname -r is the kernel we booted" "$(uname -r)" "$E2E_KVER"
t_phase_end

t_phase enumerate
ls /sys/bus/pci/devices
for d in $RP1 0000:00:02.0 $RP3 $GPU $HDA $VIRTIO $E1000E $NVME; do
        t_check "device $d present" test -e "$(pci $d)/config"
done
echo "# reset_method / driver / iommu_group:"
for p in "$PCI"/*; do
        d=${p##*/}
        g=$(readlink "$p/iommu_group" 2>/dev/null)
        echo "#   $d $(sys_read "$p/vendor"):$(sys_read "$p/device") class=$(sys_read "$p/class")" \
                "reset_method=[$(sys_read "$p/reset_method")] driver=[$(drv "$d")] group=${g##*/}"
done
t_eq "GPU-like VGA lists only bus" "$(sys_read "$(pci $GPU)/reset_method")" "bus"
t_eq "intel-hda function has no reset" "$(sys_read "$(pci $HDA)/reset_method")" "-"
t_eq "virtio-net reset methods" "$(sys_read "$(pci $VIRTIO)/reset_method")" "flr pm bus"
t_eq "e1000e reset methods" "$(sys_read "$(pci $E1000E)/reset_method")" "pm"
t_eq "nvme reset methods" "$(sys_read "$(pci $NVME)/reset_method")" "flr bus"
t_check "root port 00:01.0 has reset_subordinate" test -e "$(pci $RP1)/reset_subordinate"
t_check "native hotplug slot 1 has a power file" test -e /sys/bus/pci/slots/1/power
t_check "lspci (libpci + pci.ids copied with ldd) names the VGA" \
        sh -c 'lspci -s 01:00.0 | grep -q "VGA compatible controller"'
t_phase_end

if [ -x /usr/sbin/pve-gpu-reset ]; then
        out=$(/usr/sbin/pve-gpu-reset --version 2>&1)
        t_info "pve-gpu-reset --version: rc=$? $out"
fi

t_phase bind-vfio
t_eq "nvme starts on the nvme driver" "$(drv $NVME)" "nvme"
t_check "unbind nvme" sys_write "$(pci $NVME)/driver/unbind" $NVME
t_check "driver_override=vfio-pci" sys_write "$(pci $NVME)/driver_override" vfio-pci
t_check "drivers_probe" sys_write /sys/bus/pci/drivers_probe $NVME
t_eq "nvme bound to vfio-pci" "$(drv $NVME)" "vfio-pci"
grp=$(readlink "$(pci $NVME)/iommu_group"); grp=${grp##*/}
t_check "/dev/vfio/$grp exists" test -c "/dev/vfio/$grp"
t_phase_end

t_phase flr-reset
t_check "reset_method=flr accepted" sys_write "$(pci $NVME)/reset_method" flr
t_eq "reset_method reads flr" "$(sys_read "$(pci $NVME)/reset_method")" "flr"
t_check "echo 1 > reset (flr) on nvme" sys_write "$(pci $NVME)/reset" 1
t_eq "nvme still 1b36:0010 after flr" "$(sys_read "$(pci $NVME)/vendor"):$(sys_read "$(pci $NVME)/device")" "0x1b36:0x0010"
t_eq "nvme still on vfio-pci after flr" "$(drv $NVME)" "vfio-pci"
t_check "reset_method=default" sys_write "$(pci $NVME)/reset_method" default
t_eq "reset_method back to flr bus" "$(sys_read "$(pci $NVME)/reset_method")" "flr bus"
t_phase_end

t_phase bus-reset-on-vga
# The VGA still lists "bus" (probed before its .1 function appeared), but it is not alone on the bus.
if sys_write "$(pci $GPU)/reset" 1; then
        t_fail "reset on the VGA (reset_method bus, not alone on its bus) should fail"
else
        t_info "VGA reset (bus): $SYS_ERR"
        t_eq "VGA reset fails with ENOTTY" "$SYS_ERR" "Inappropriate ioctl for device"
fi
t_phase_end

t_phase remove
g0=$(readlink "$(pci $GPU)/iommu_group"); g1=$(readlink "$(pci $HDA)/iommu_group")
t_info "iommu groups before remove: $GPU ${g0##*/}, $HDA ${g1##*/}"
t_check "remove $GPU" sys_write "$(pci $GPU)/remove" 1
t_check "remove $HDA" sys_write "$(pci $HDA)/remove" 1
t_check "both functions gone" sh -c "! test -e $PCI/$GPU && ! test -e $PCI/$HDA"
t_phase_end
t_phase rescan-bridge
t_check "rescan below $RP1" sys_write "$(pci $RP1)/rescan" 1
t_check "$GPU back" wait_for 10 test -e "$(pci $GPU)/config"
t_check "$HDA back" wait_for 10 test -e "$(pci $HDA)/config"
t_eq "rescanned VGA is 1234:1111" "$(sys_read "$(pci $GPU)/vendor"):$(sys_read "$(pci $GPU)/device")" "0x1234:0x1111"
g0=$(readlink "$(pci $GPU)/iommu_group"); g1=$(readlink "$(pci $HDA)/iommu_group")
t_info "iommu groups after rescan: $GPU ${g0##*/}, $HDA ${g1##*/} (numbers are not stable across remove/rescan)"
t_phase_end

t_phase reset-subordinate
t_check "echo 1 > $RP1/reset_subordinate" sys_write "$(pci $RP1)/reset_subordinate" 1
t_check "both functions still present" sh -c "test -e $PCI/$GPU/config && test -e $PCI/$HDA/config"
t_phase_end

t_phase bridge-control-sbr
# Secondary bus reset by hand through Bridge Control bit 6, as libvirt does (set, wait, clear, wait).
bc=$(setpci -s 00:03.0 BRIDGE_CONTROL)
t_check "setpci BRIDGE_CONTROL set bit 6" setpci -s 00:03.0 BRIDGE_CONTROL=0x40:0x40
usleep 100000
t_check "setpci BRIDGE_CONTROL clear bit 6" setpci -s 00:03.0 BRIDGE_CONTROL=0x00:0x40
usleep 100000
t_eq "bridge control restored" "$(setpci -s 00:03.0 BRIDGE_CONTROL)" "$bc"
t_check "nvme config space readable after SBR" sh -c "test \"\$(cat $PCI/$NVME/vendor)\" = 0x1b36"
t_phase_end

t_phase autoprobe-off-rescan
# drivers_autoprobe=0 does NOT keep a rescanned PCI device unbound on 6.1/6.12: pci_bus_add_device()
# calls device_attach() itself (the flag only gates bus_probe_device() and new drivers). The device
# comes back on its host driver, with driver_override and reset_method forgotten; moving it to
# vfio-pci again takes unbind + driver_override + drivers_probe.
t_check "drivers_autoprobe=0" sys_write /sys/bus/pci/drivers_autoprobe 0
t_check "remove nvme" sys_write "$(pci $NVME)/remove" 1
t_check "rescan below $RP3" sys_write "$(pci $RP3)/rescan" 1
t_check "nvme back" wait_for 10 test -e "$(pci $NVME)/config"
t_eq "rescanned nvme is bound to its host driver despite drivers_autoprobe=0" "$(drv $NVME)" "nvme"
t_eq "driver_override lost by remove" "$(sys_read "$(pci $NVME)/driver_override")" "(null)"
t_check "unbind nvme" sys_write "$(pci $NVME)/driver/unbind" $NVME
t_check "driver_override=vfio-pci again" sys_write "$(pci $NVME)/driver_override" vfio-pci
t_check "drivers_probe" sys_write /sys/bus/pci/drivers_probe $NVME
t_eq "nvme on vfio-pci with autoprobe off" "$(drv $NVME)" "vfio-pci"
t_check "drivers_autoprobe=1 restored" sys_write /sys/bus/pci/drivers_autoprobe 1
t_phase_end

t_phase slot-power-off
# Native PCIe hotplug (pciehp): powering the slot off removes the card for good, as a dead GPU would.
t_check "echo 0 > slots/1/power" sys_write /sys/bus/pci/slots/1/power 0
t_check "01:00.x gone" sh -c "! test -e $PCI/$GPU && ! test -e $PCI/$HDA"
t_check "rescan below $RP1" sys_write "$(pci $RP1)/rescan" 1
t_check "global rescan" sys_write /sys/bus/pci/rescan 1
t_check "rescans do not bring back a powered-off slot" sh -c "! test -e $PCI/$GPU"
if sys_write /sys/bus/pci/slots/1/power 1; then
        t_fail "power on of the emptied slot should fail"
else
        t_eq "power on fails with ENODEV" "$SYS_ERR" "No such device"
fi
t_phase_end

t_done
