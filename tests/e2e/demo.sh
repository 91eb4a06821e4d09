#!/bin/bash
# `make demo`: boots an emulated Proxmox-like host (QEMU, Debian 12's 6.12 kernel, a GPU-like
# multifunction card) and runs VM 100's pre-start / post-stop cycle through the real hook, then shows
# the reset history from the journal. Usage: tests/e2e/demo.sh BUILDDIR
set -u
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
. "$E2E_DIR/lib.sh" || exit 1
E2E_BUILDDIR=$(cd "${1:-build}" && pwd) || exit 2
export E2E_BUILDDIR E2E_QUIET=1
echo "demo: fetching the test kernels (cached in tests/e2e/cache) ..."
e2e_fetch_kernels >/dev/null || exit 1
kver=""
for k in $E2E_KERNELS; do case $k in 6.12*) kver=$k ;; esac; done
[ -n "$kver" ] || kver=${E2E_KERNELS##* }
echo "demo: booting the emulated host (QEMU q35 + intel-iommu, kernel $kver; about 10-20 s) ..."
e2e_run_scenario "$kver" "$E2E_DIR/guest/demo.sh"
rc=$?
log=$(tr -d '\r' <"$E2E_LAST_LOG")
# QEMU's trace lines and the guest's step markers share the console; the demo shows its own lines only.
printf '%s\n' "$log" | sed -n '/^DEMO-BEGIN/,/^DEMO-END/p' | sed '1d;$d' |
        grep -Ev '^(pci_cfg_write|pci_nvme_pci_reset|E2E-STEP) '
# trace_count STEP ERE: QEMU trace lines matching ERE between the guest's "E2E-STEP STEP" and the next marker
trace_count() {
        printf '%s\n' "$log" | awk -v m="E2E-STEP $1" '$0 == m { on = 1; next } /^E2E-STEP / { on = 0 } on' | grep -cE -- "$2"
}
flr='^pci_cfg_write nvme [0-9]+:[0-9]+\.0 @0x88 <- 0x[89a-f][0-9a-f]{3}$'
sbr='^pci_cfg_write pcie-root-port 00:07\.0 @0x3e <- 0x[0-9a-f]*[4-7c-f][0-9a-f]$'
echo
echo "== What QEMU itself saw during the two guest reboots of VM 101 (its trace, on this machine):"
printf '    without the hook: %s FLR of the nvme (Device Control <- 0x8000), %s secondary bus reset of its slot\n' \
        "$(trace_count reboot-without-hook "$flr")" "$(trace_count reboot-without-hook "$sbr")"
printf '    with the pin:     %s FLR of the nvme, %s secondary bus reset of its slot\n' \
        "$(trace_count reboot-with-hook "$flr")" "$(trace_count reboot-with-hook "$sbr")"
if [ $rc -ne 0 ]; then
        echo "demo: FAILED (${E2E_WHY:-status $rc}); full console: $E2E_LAST_LOG" >&2
        exit 1
fi
echo
echo "demo: done. Console log: $E2E_LAST_LOG"
