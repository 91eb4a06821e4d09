# Claim from boot (issue 14, scenario d): the e1000e function 02:00.1 is claimed for VM 100; its host
# driver module e1000e is loaded at boot and holds it, its slot neighbour 02:00.0 (virtio-net) is not
# claimed. Debian's own systemd-udevd runs 80-drivers.rules and our 70-pve-gpu-reset.rules:
#   D1 coldplug (`udevadm trigger --action=add`, what systemd-udev-trigger.service does at boot) hands
#      02:00.1 from e1000e to vfio-pci with driver_override and the pinned reset_method (none here);
#   D2 a real add event with no driver loaded (remove, rmmod e1000e and vfio_pci, rescan): udev loads
#      e1000e by modalias as at boot, yet 02:00.1 ends on vfio-pci (the rule loaded vfio-pci) pinned;
#   D3 a card swapped into a claimed slot (the claim's vendor:device differs) is left to its driver;
#   D4 so is the same model from another maker (the record's subsystem IDs differ: a card renumbered
#      onto the claimed address), and udev logs why.
# Nothing of 02:00.0 or the nvme changes. The QEMU trace shows no reset of the e1000e by the claim.
# e2e-topology: gpu
# e2e-udev: yes
# e2e-timeout: 240
# e2e-trace: e1000e_cb_qdev_reset
# e2e-trace-none: ^e1000e_cb_qdev_reset
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh

NIC=0000:02:00.1
VNET=0000:02:00.0
NVME=0000:03:00.0

cat >/etc/pve/qemu-server/100.conf <<EOF
name: claim
hostpci0: $NIC
EOF
# A policy that never resets this NIC per function: its pin is none (every per-function reset disabled).
cat >/etc/pve-gpu-reset.json <<EOF
{ "devices": { "8086:10d3": { "reset_methods": ["slot", "remove-rescan"] } } }
EOF
chmod 0644 /etc/pve-gpu-reset.json

t_eq "boot: e1000e holds the NIC" "$(drv $NIC)" e1000e
vnet_drv=$(drv $VNET) nvme_drv=$(drv $NVME)
t_info "kernel reset_method of $NIC: '$(sys_read "$(pci $NIC)/reset_method")'"

out=$(pve-gpu-reset claim 100 2>&1); rc=$?
echo "$out" | sed 's/^/    /'
t_eq "claim 100: exit" "$rc" 0
t_check "claim 100: says next boot only (a host driver holds it)" sh -c "echo \"\$1\" | grep -q 'bound to e1000e now: claimed for the next boot only'" sh "$out"
t_eq "claim 100: nothing unbound" "$(drv $NIC)" e1000e
t_check "claim record names id and pin" grep -qx 'pin=none' /etc/pve-gpu-reset.d/claims/$NIC
t_check "claim record id" grep -qx 'id=8086:10d3' /etc/pve-gpu-reset.d/claims/$NIC
# What identifies the card: the port it hangs off is its real sysfs path below /sys/devices.
nic_path=$(readlink -f "$(pci $NIC)")
t_check "claim record path is the NIC's sysfs path" grep -qx "path=${nic_path#/sys/devices/}" /etc/pve-gpu-reset.d/claims/$NIC
t_check "claim record subsystem IDs" grep -qx "subsys=$(sys_read "$(pci $NIC)/subsystem_vendor" | sed 's/^0x//'):$(sys_read "$(pci $NIC)/subsystem_device" | sed 's/^0x//')" /etc/pve-gpu-reset.d/claims/$NIC
t_info "claim record: $(grep -v '^#' /etc/pve-gpu-reset.d/claims/$NIC | tr '\n' ' ')"

# udevd as systemd-udevd.service starts it (the binary is udevadm under another name).
mkdir -p /run/udev /usr/lib/systemd /etc/udev
ln -sf /usr/bin/udevadm /usr/lib/systemd/systemd-udevd
/usr/lib/systemd/systemd-udevd --debug >/tmp/udevd.log 2>&1 &
wait_for 20 test -S /run/udev/control || { echo "udevd did not start:"; tail -n 20 /tmp/udevd.log; }

# D1: coldplug, as at boot.
t_phase coldplug
udevadm trigger --action=add --subsystem-match=pci
udevadm settle -t 60
t_phase_end
t_eq "D1: $NIC handed to vfio-pci" "$(drv $NIC)" vfio-pci
t_eq "D1: driver_override" "$(sys_read "$(pci $NIC)/driver_override")" vfio-pci
t_eq "D1: reset_method pinned to none" "$(sys_read "$(pci $NIC)/reset_method")" ""
# udev keeps no property of an add event once the bind event that follows replaces its database
# entry: udevd's own log shows what the rule imported.
t_check "D1: the rule's program ran at the add event and told udev it claimed" \
        grep -q "claim --udev $NIC'(out) 'PVE_GPU_RESET_CLAIM=vfio-pci'" /tmp/udevd.log
t_eq "D1: neighbour $VNET keeps its driver" "$(drv $VNET)" "$vnet_drv"
t_eq "D1: neighbour $VNET has no driver_override" "$(sys_read "$(pci $VNET)/driver_override")" "(null)"
t_eq "D1: nvme keeps its driver" "$(drv $NVME)" "$nvme_drv"
t_check "D1: the kernel's list was recorded before the pin" test -s /run/pve-gpu-reset/kernel-reset_method-$NIC

# D2: a real add event with neither e1000e nor vfio-pci loaded: udev loads e1000e by modalias
# (80-drivers.rules) as it does at boot, and the claim must win anyway.
t_phase add-event
sys_write "$(pci $NIC)/remove" 1
wait_for 10 sh -c "! test -e $(pci $NIC)"
udevadm settle -t 30
rmmod e1000e; rmmod vfio_pci
t_check "D2: e1000e unloaded" sh -c "! grep -q '^e1000e ' /proc/modules"
t_check "D2: vfio_pci unloaded" sh -c "! grep -q '^vfio_pci ' /proc/modules"
sys_write /sys/class/pci_bus/0000:02/rescan 1
wait_for 10 test -e "$(pci $NIC)"
udevadm settle -t 60
wait_for 10 sh -c "test \"\$(basename \"\$(readlink $(pci $NIC)/driver)\")\" = vfio-pci"
t_phase_end
# Order within the one add event: our IMPORT (rule file 70) before 80-drivers.rules' kmod load.
t_info "udevd, add event of $NIC:"
grep -E "^$NIC: .*(70-pve-gpu-reset.rules:[0-9]+ Importing|RUN 'kmod load|80-drivers.rules)" /tmp/udevd.log | tail -n 4 | sed 's/^/    /'
imp=$(grep -n "^$NIC: .*70-pve-gpu-reset.rules:[0-9]* Importing" /tmp/udevd.log | tail -n1 | cut -d: -f1)
kmod=$(grep -n "^$NIC: .*80-drivers.rules:[0-9]* RUN 'kmod load" /tmp/udevd.log | tail -n1 | cut -d: -f1)
t_check "D2: the claim ran before 80-drivers.rules loaded the host driver module" test "${imp:-0}" -gt 0 -a "${kmod:-0}" -gt "${imp:-0}"
t_check "D2: udev loaded e1000e by modalias" grep -q '^e1000e ' /proc/modules
t_check "D2: the rule loaded vfio_pci" grep -q '^vfio_pci ' /proc/modules
t_eq "D2: $NIC on vfio-pci" "$(drv $NIC)" vfio-pci
t_eq "D2: driver_override" "$(sys_read "$(pci $NIC)/driver_override")" vfio-pci
t_eq "D2: reset_method pinned to none again" "$(sys_read "$(pci $NIC)/reset_method")" ""
t_eq "D2: neighbour $VNET keeps its driver" "$(drv $VNET)" "$vnet_drv"

# D3: the claim was for another card (vendor:device differ): the next add leaves the device to its
# host driver and writes nothing.
sed -i 's/^id=.*/id=8086:10d4/' /etc/pve-gpu-reset.d/claims/$NIC
sys_write "$(pci $NIC)/remove" 1
wait_for 10 sh -c "! test -e $(pci $NIC)"
sys_write /sys/class/pci_bus/0000:02/rescan 1
wait_for 10 test -e "$(pci $NIC)"
udevadm settle -t 60
wait_for 10 sh -c "test \"\$(basename \"\$(readlink $(pci $NIC)/driver)\")\" = e1000e"
t_eq "D3: another card in the claimed slot keeps its host driver" "$(drv $NIC)" e1000e
t_eq "D3: no driver_override written" "$(sys_read "$(pci $NIC)/driver_override")" "(null)"
t_check "D3: reset_method left to the kernel" test -n "$(sys_read "$(pci $NIC)/reset_method")"

# D4: the same model (vendor:device match) from another maker (the record's subsystem IDs differ): an
# identical card renumbered onto the claimed address after a hardware change is left alone too, and
# why goes to udev's log (the program's stderr).
sed -i 's/^id=.*/id=8086:10d3/; s/^subsys=.*/subsys=1af4:0001/' /etc/pve-gpu-reset.d/claims/$NIC
sys_write "$(pci $NIC)/remove" 1
wait_for 10 sh -c "! test -e $(pci $NIC)"
sys_write /sys/class/pci_bus/0000:02/rescan 1
wait_for 10 test -e "$(pci $NIC)"
udevadm settle -t 60
wait_for 10 sh -c "test \"\$(basename \"\$(readlink $(pci $NIC)/driver)\")\" = e1000e"
t_eq "D4: the same model from another maker keeps its host driver" "$(drv $NIC)" e1000e
t_eq "D4: no driver_override written" "$(sys_read "$(pci $NIC)/driver_override")" "(null)"
t_check "D4: udev logged why" grep -q "subsystem 1af4:0001, but the card there is subsystem" /tmp/udevd.log

if [ "$T_FAILED" != 0 ]; then
        echo "---- udevd log (pve-gpu-reset lines and errors)"
        grep -iE 'pve-gpu-reset|pve_gpu|error|fail' /tmp/udevd.log | tail -n 40
fi
udevadm control --exit 2>/dev/null
t_done
