#!/bin/bash
# tests/bench/guide-hook.sh — B1 contestant (a): the GPU hookscript administrators paste from guides
# and forum posts (see tests/fixtures/real/HOOKSCRIPTS.md, items 2, 3, 8, 10): bash, find the VM's
# hostpci devices by grepping its config, and on pre-start "soft reset" each one with remove, sleep 2,
# rescan, unless it already sits on vfio-pci (the guard some versions add so a clean card is left
# alone; the benchmark times that no-op path). Then bind it to vfio-pci with driver_override.
# Reads $PVE_GPU_RESET_ROOT as a root prefix (empty on a real host) so it runs on a fixture tree.
# Not part of the product: a faithful stand-in for what it is compared with.
vmid="$1"
phase="$2"
root="${PVE_GPU_RESET_ROOT:-}"
conf="$root/etc/pve/qemu-server/$vmid.conf"

echo "GPU hook: VM $vmid $phase"

if [ "$phase" == "pre-start" ]; then
    # every "hostpciN: [host=]BB:SS[.F]" of the current config (the part before the first [section])
    devices=$(sed '/^\[/q' "$conf" | grep -E '^hostpci[0-9]+:' | sed -E 's/^hostpci[0-9]+: *(host=)?([0-9a-f:.]+).*/\2/')
    for dev in $devices; do
        case "$dev" in
        *:*:*) ;;
        *) dev="0000:$dev" ;;
        esac
        for fn in "$root"/sys/bus/pci/devices/"$dev"*; do
            [ -e "$fn" ] || continue
            bdf=$(basename "$fn")
            driver=$(basename "$(readlink "$fn/driver")")
            if [ "$driver" == "vfio-pci" ]; then
                echo "$bdf already on vfio-pci, nothing to do"
                continue
            fi
            echo "resetting $bdf (was $driver)"
            echo 1 > "$fn/remove"
            sleep 2
            echo 1 > "$root/sys/bus/pci/rescan"
            echo vfio-pci > "$root/sys/bus/pci/devices/$bdf/driver_override"
            echo "$bdf" > "$root/sys/bus/pci/drivers_probe"
        done
    done
elif [ "$phase" == "post-stop" ]; then
    echo "VM $vmid stopped"
fi
exit 0
