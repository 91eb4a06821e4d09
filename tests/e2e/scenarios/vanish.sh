# Scenario 4 of issue 3: a card that never comes back (native PCIe hotplug: powering its slot off
# removes it for good). Once before the hook runs, once during the hook's settle delay. pre-start must
# fail with exit 1 within its timeout, name the device, and leave drivers_autoprobe at 1.
# Issue 16: the hook then tries the slot's power (QEMU completes an unplug when the guest powers a slot
# off, so `echo 1 > power` fails with ENODEV, on 6.1 and 6.12): the message says a power cycle was
# tried and failed, and that only a host power cycle helps.
# e2e-topology: gpu
# e2e-hotplug: native
# e2e-timeout: 180
# e2e-files: guest/hook.sh:/e2e/hook.sh
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

NVME=0000:03:00.0

echo "# --- 4a. slot 1 (GPU-like card) powered off before pre-start"
vmconf 101 "hostpci0: 01:00,pcie=1,x-vga=1"
policy '{"defaults": {"rescan_timeout_ms": 3000}}'
t_check "slot 1 powers off" sys_write /sys/bus/pci/slots/1/power 0
t_check "the card is gone" wait_for 10 sh -c '[ ! -e /sys/bus/pci/devices/0000:01:00.0 ]'
hook 101 pre-start
t_eq "pre-start exits 1 (the start is aborted)" "$HOOK_RC" 1
t_check "the message names the device" hook_says "0000:01:00"
t_check "the message says the start is aborted" hook_says "VM start aborted"
t_check "the message says a power cycle was tried and failed" \
        hook_says "0000:01:00.0: was missing; a rescan did not find it; slot 1 was powered off: a power cycle was tried and failed: it did not power on: No such device; only a host power cycle helps"
t_eq "the power-on was tried once" "$(echo "$HOOK_OUT" | grep -c 'did not power on')" 1
t_check "it gave up within its timeout (< 15 s)" awk -v s="$HOOK_SECS" 'BEGIN { exit !(s < 15) }'
t_eq "drivers_autoprobe is 1" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 1

echo "# --- 4b. slot 3 (nvme) powered off during the settle delay of remove+rescan"
vmconf 102 "hostpci0: 03:00.0"
policy '{"defaults": {"reset_methods": ["remove-rescan", "power-cycle"], "settle_ms": 2000, "rescan_timeout_ms": 3000}}'
(
        wait_for 20 sh -c '[ ! -e /sys/bus/pci/devices/0000:03:00.0 ]' && echo 0 > /sys/bus/pci/slots/3/power
) &
killer=$!
hook 102 pre-start
wait $killer
t_eq "pre-start exits 1 (the start is aborted)" "$HOOK_RC" 1
t_check "the message names the device" hook_says "$NVME"
t_check "the power-cycle rung was tried and failed" hook_says "$NVME: power-cycle failed: slot 3 did not power on: No such device"
t_check "one line calls the card dead" hook_says "$NVME \(1b36:0010\) is dead: gone from the bus .*tried remove-rescan, power-cycle; only a host power cycle helps"
t_check "it gave up within settle + rescan timeout (< 15 s)" awk -v s="$HOOK_SECS" 'BEGIN { exit !(s < 15) }'
t_eq "drivers_autoprobe is 1" "$(sys_read /sys/bus/pci/drivers_autoprobe)" 1
t_check "the other devices are untouched" sh -c '[ -e /sys/bus/pci/devices/0000:02:00.0 ] && [ -e /sys/bus/pci/devices/0000:02:00.1 ]'
policy ""
t_done
