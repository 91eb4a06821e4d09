# Scenario 5 of issue 3: a foreign device on the same bridge. Behind a conventional PCI bridge sit a
# display (this VM's) and an e1000 (someone else's); behind a PCIe switch a GPU-like card and a foreign
# e1000e on the sibling port. No bus reset may hit the foreign devices, and they keep their drivers.
# e2e-topology: gpu switch pcibridge
# e2e-timeout: 180
# e2e-files: guest/hook.sh:/e2e/hook.sh
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

# Find the devices by identity: bochs-display 1234:1111 on the PCI bridge (bus numbers depend on the
# topology), e1000 8086:100e next to it.
find_dev() { for p in "$PCI"/*; do [ "$(cat "$p/vendor"):$(cat "$p/device")" = "$1" ] && echo "${p##*/}"; done; }
DISPLAY=$(find_dev 0x1234:0x1111 | grep -v '^0000:01:' | sort | tail -1)
E1000=$(find_dev 0x8086:0x100e)
SWGPU=$(find_dev 0x1234:0x1111 | grep -v '^0000:01:' | sort | head -1)
SWE1000E=$(find_dev 0x8086:0x10d3 | grep -v '^0000:02:')
t_info "display behind the PCI bridge: $DISPLAY, foreign e1000: $E1000"
t_info "GPU-like card behind the switch: $SWGPU, foreign e1000e on the sibling port: $SWE1000E"
e1000_drv=$(drv "$E1000")
t_eq "the foreign e1000 has its driver" "$e1000_drv" e1000

echo "# --- 5a. only a bus reset could reset the display: refused, e1000 untouched"
vmconf 104 "hostpci0: ${DISPLAY#0000:}"
policy '{"defaults": {"reset_methods": ["device_specific", "flr", "pm", "bus", "slot"]}}'
hook 104 post-stop
t_eq "post-stop fails (exit 1): no safe reset exists" "$HOOK_RC" 1
# Behind a conventional PCI bridge the e1000 shares the display's IOMMU group; on its host driver it is
# still nobody's collateral (plan.c plan_may_cover), and the reason says why.
t_check "it says why: the foreign device below the bridge" hook_says "$E1000 below bridge .* is bound to host driver e1000"
t_check "no bus reset happened" sh -c '! echo "$1" | grep -q "bus-reset .* ok"' sh "$HOOK_OUT"
t_eq "the foreign e1000 keeps its driver" "$(drv "$E1000")" "$e1000_drv"
t_check "the foreign e1000 is still present" test -e "$(pci "$E1000")/config"

echo "# --- 5b. default policy: the display's own slot is removed and rescanned, the e1000 is not"
policy ""
hook 104 post-stop
t_eq "post-stop exits 0" "$HOOK_RC" 0
t_check "remove+rescan of the display's own slot" hook_says "$DISPLAY remove-rescan ok"
t_check "no bus reset happened" sh -c '! echo "$1" | grep -q "bus-reset"' sh "$HOOK_OUT"
t_eq "the foreign e1000 keeps its driver" "$(drv "$E1000")" "$e1000_drv"
t_check "display on vfio-pci" all_on_vfio "$DISPLAY"

echo "# --- 5c. behind a switch the card's own downstream port may be reset; the sibling port is untouched"
vmconf 105 "hostpci0: ${SWGPU%.0}"
hook 105 post-stop
hook_rungs
t_eq "post-stop exits 0" "$HOOK_RC" 0
t_check "slot reset of its own downstream port" hook_says "$SWGPU bus-reset reset_subordinate ok"
t_eq "the foreign e1000e on the sibling port keeps its driver" "$(drv "$SWE1000E")" e1000e
t_done
