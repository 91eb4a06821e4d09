# The `make demo` guest: an emulated Proxmox-like host with a GPU-like card (VGA + HDMI-audio-like
# function in one slot), whose audio function a host driver grabbed at boot. VM 100 owns the card;
# Proxmox's pre-start and post-stop run the hook; the journal (a real systemd-journald) keeps the history.
# Then the pin: VM 101 owns a card on which FLR is the wrong reset (slot 7 of topology nvmenic: an
# FLR-capable nvme + an e1000e); a simulated guest reboot (vfio-reset: VFIO_DEVICE_RESET with the device
# open, as QEMU does) FLRs it without the hook and not with it. tests/e2e/demo.sh counts QEMU's trace
# lines of each reboot (between the E2E-STEP markers).
# e2e-topology: gpu nvmenic
# e2e-trace: pci_nvme_pci_reset pci_cfg_write
# e2e-trace-some@reboot-without-hook: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-none@reboot-with-hook: ^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$
# e2e-trace-some@reboot-with-hook: ^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$
# e2e-modules: snd-hda-intel
# e2e-timeout: 240
# e2e-files: guest/hook.sh:/e2e/hook.sh /usr/lib/systemd/systemd-journald:/usr/lib/systemd/systemd-journald /usr/bin/journalctl:/usr/bin/journalctl
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

mkdir -p /run/systemd/journal /run/log/journal /var/log /etc/systemd /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null # journald needs a cgroup root
[ -s /etc/machine-id ] || echo 5f1c9d3e2a7b4c6d8e9f0a1b2c3d4e5f > /etc/machine-id
/usr/lib/systemd/systemd-journald > /tmp/journald.log 2>&1 &
wait_for 20 test -S /run/systemd/journal/socket || { echo "journald did not start:"; cat /tmp/journald.log; }

show_card() {
        for f in 0000:01:00.0 0000:01:00.1; do
                if [ -e "$PCI/$f" ]; then
                        printf '    %s  %s  driver=%-14s power/control=%s d3cold_allowed=%s reset_method="%s"\n' "$f" \
                                "$(lspci -s "$f" | cut -d' ' -f2- | cut -d: -f1 | cut -c1-26)" "$(drv $f)" \
                                "$(sys_read "$PCI/$f/power/control")" "$(sys_read "$PCI/$f/d3cold_allowed")" \
                                "$(sys_read "$PCI/$f/reset_method")"
                else
                        printf '    %s  MISSING\n' "$f"
                fi
        done
}

step() { printf '\n== %s\n' "$*"; }

echo DEMO-BEGIN
step "Host $(cat /etc/hostname), kernel $(uname -r). VM 100's config (/etc/pve/qemu-server/100.conf):"
vmconf 100 "name: gpu-workstation" "machine: q35" "bios: ovmf" "memory: 8192" "hostpci0: 01:00,pcie=1,x-vga=1" \
        "hookscript: local:snippets/pve-gpu-reset"
sed 's/^/    /' /etc/pve/qemu-server/100.conf
step "The card before the VM starts (a host driver grabbed the audio function at boot):"
show_card
step "pve-gpu-reset plan 100 --phase pre-start   (what the hook would do; changes nothing)"
pve-gpu-reset plan 100 --phase pre-start | sed 's/^/    /'

step "Proxmox starts VM 100: it runs 'pve-gpu-reset 100 pre-start' (task log shows):"
t0=$(t_now); pve-gpu-reset 100 pre-start 2>&1 | sed 's/^/    /'; rc=$?
echo "    -> exit status ${rc}, $(awk -v a="$t0" -v b="$(t_now)" 'BEGIN { printf "%.2f", b - a }') s"
show_card

step "The guest powers off: Proxmox runs 'pve-gpu-reset 100 post-stop':"
t0=$(t_now); pve-gpu-reset 100 post-stop 2>&1 | sed 's/^/    /'
echo "    -> $(awk -v a="$t0" -v b="$(t_now)" 'BEGIN { printf "%.2f", b - a }') s"
show_card

step "Restart: pre-start again (the card is clean since post-stop, so no second reset):"
pve-gpu-reset 100 pre-start 2>&1 | sed 's/^/    /'
show_card

step "pve-gpu-reset history --vmid 100   (read from the journal, newest first)"
pve-gpu-reset history --vmid 100 2>&1 | sed 's/^/    /'
step "journalctl -t pve-gpu-reset VMID=100 -o verbose | one entry:"
journalctl -D /run/log/journal -t pve-gpu-reset VMID=100 ACTION=bus-reset -o verbose -n 1 --no-pager 2>&1 |
        grep -E '^\s+(MESSAGE|MESSAGE_ID|PRIORITY|VMID|PHASE|PCI_SLOT|PCI_ID|ACTION|RESET_METHOD|RESULT|DURATION_USEC|DRIVER_BEFORE|DRIVER_AFTER)=' |
        sed 's/^ */    /'
SLOT=$(cat /sys/bus/pci/slots/7/address)
NVME=$SLOT.0 NIC=$SLOT.1
show_pin() {
        for f in $NVME $NIC; do
                printf '    %s  %-26s driver=%-9s reset_method="%s"\n' "$f" \
                        "$(lspci -s "$f" | cut -d' ' -f2- | cut -d: -f1 | cut -c1-26)" "$(drv $f)" "$(sys_read "$PCI/$f/reset_method")"
        done
}
step "The pin. VM 101 owns a card on which FLR is the wrong reset (like GB202 in the shipped policy);"
echo "   here an FLR-capable nvme ($NVME) + a second function ($NIC) in slot 7. /etc/pve-gpu-reset.json:"
policy '{"devices": {"1b36:0010": {"reset_methods": ["slot", "remove-rescan"]}}}'
sed 's/^/    /' /etc/pve-gpu-reset.json
vmconf 101 "hostpci0: ${SLOT#0000:},pcie=1"
show_pin
step "Without the hook: Proxmox binds the card to vfio-pci, QEMU opens it, the guest reboots (VFIO_DEVICE_RESET):"
for f in $NVME $NIC; do
        sys_write "$PCI/$f/driver_override" vfio-pci
        sys_write "$PCI/$f/driver/unbind" $f
        sys_write /sys/bus/pci/drivers_probe $f
done
vfio-reset $NVME,$NIC open info mark=reboot-without-hook reset=$NVME mark=released close | grep -E "info $NVME reset=|reset $NVME" | sed 's/^/    /'
echo "    -> the kernel's reset_method starts with flr: every reset of the card is an FLR"
step "With the hook: 'pve-gpu-reset plan 101' shows the pin; Proxmox runs 'pve-gpu-reset 101 pre-start':"
pve-gpu-reset plan 101 --phase pre-start | grep -E "^  +(hostpci|pin:)" | sed 's/^/  /'
pve-gpu-reset 101 pre-start >/dev/null 2>&1
echo "    -> exit status $?"
show_pin
step "The guest reboots again: QEMU finds no reset on $NVME (VFIO_DEVICE_RESET refused), resets the slot:"
vfio-reset $NVME,$NIC open info mark=reboot-with-hook reboot mark=released-again close |
        grep -E "info $NVME reset=|needs a bus reset|reboot-hot-reset" | sed 's/^/    /'
policy ""
echo DEMO-END
all_on_vfio 0000:01:00.0 0000:01:00.1 && t_pass "card usable on vfio-pci" || t_fail "card not usable"
t_done
