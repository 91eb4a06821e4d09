/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The `kernel-log` check: the known messages of kernel/kmsg.c about the VM's cards, each with what it
 * means and what to do. */
#include "doctor/doctor_kmsg.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"

struct kind_def {
        enum doctor_status status;
        const char *meaning;
        const char *fix; /* {id} = the card's vendor:device, {slot} = its address */
};

#define FIX_KEEP_AWAKE \
        "keep the card out of D3cold: the hook writes d3cold_allowed=0 and power/control=on at every start and stop " \
        "(policy keep_awake, on by default); until then: echo 0 > /sys/bus/pci/devices/{slot}/d3cold_allowed. A card " \
        "stuck like this usually needs a host reboot"
#define FIX_FRAMEBUFFER \
        "add initcall_blacklist=sysfb_init (kernel 5.15 and later; video=efifb:off on older ones) to the kernel " \
        "command line (/etc/kernel/cmdline + proxmox-boot-tool refresh, or /etc/default/grub + update-grub), reboot; " \
        "or let the host boot from another GPU"
#define FIX_LINK \
        "check the card's seating, riser and power cables; set the slot to PCIe Gen3 in the BIOS/UEFI; if the " \
        "errors follow power-state changes, add pcie_aspm=off to the kernel command line"

static const struct kind_def findings[_KMSG_KIND_MAX] = {
        [KMSG_FLR_NOT_READY] = { DOCTOR_FAIL,
                "the function did not come back from a Function Level Reset: FLR does not work for this card",
                "keep FLR away from it: in /etc/pve-gpu-reset.json set devices.\"{id}\".reset_methods = [\"slot\", "
                "\"remove-rescan\"] (check with pve-gpu-reset plan VMID --phase post-stop); a host reboot clears a card "
                "hung this way" },
        [KMSG_BUS_RESET_NOT_READY] = { DOCTOR_FAIL,
                "the function did not come back from a secondary bus reset",
                "in /etc/pve-gpu-reset.json set devices.\"{id}\".reset_methods = [\"remove-rescan\"]; check the card's "
                "seating and power" },
        [KMSG_RESUME_NOT_READY] = { DOCTOR_FAIL,
                "the card did not wake up from D3cold (runtime power management put it to sleep)", FIX_KEEP_AWAKE },
        [KMSG_NOT_READY] = { DOCTOR_FAIL, "the function did not answer after a reset",
                "see the reset finding for the method pve-gpu-reset uses instead; a host reboot recovers the card" },
        [KMSG_D3COLD] = { DOCTOR_FAIL,
                "the card could not be brought back from D3cold to D0: it is inaccessible", FIX_KEEP_AWAKE },
        [KMSG_POWER_REFUSED] = { DOCTOR_WARN,
                "a driver found the card in D3 and could not wake it", FIX_KEEP_AWAKE },
        [KMSG_LINK_DOWN] = { DOCTOR_FAIL,
                "the PCIe link did not come up (Data Link Layer Link Active not set)", FIX_LINK },
        [KMSG_GROUP_NOT_OWNED] = { DOCTOR_FAIL,
                "the reset would touch devices of an IOMMU group the VM does not own",
                "pass every function of the card to the VM (hostpciN with the slot address, without .F), and see the "
                "iommu-group finding" },
        [KMSG_CANNOT_RESET] = { DOCTOR_FAIL,
                "no reset worked for this function (the kernel or QEMU found no usable reset method)",
                "pve-gpu-reset plan VMID --phase post-stop shows which reset the hook uses instead (slot reset, or "
                "remove and rescan); attach the hook: pve-gpu-reset attach VMID" },
        [KMSG_NO_IOMMU] = { DOCTOR_FAIL, "VFIO found no IOMMU group: the IOMMU is off",
                "enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the BIOS/UEFI setup, and intel_iommu=on on Intel (see the "
                "iommu and cmdline findings)" },
        [KMSG_AMD_VI_OPTION] = { DOCTOR_INFO,
                "amd_iommu=on is not an AMD-Vi option: the AMD IOMMU is on by default",
                "remove amd_iommu=on from the kernel command line (harmless as it is)" },
        [KMSG_ACS_VIOLATION] = { DOCTOR_WARN,
                "a device sent peer-to-peer traffic that Access Control Services blocked",
                "often a device isolated only by pcie_acs_override, or a firmware bug: drop pcie_acs_override, update "
                "the BIOS" },
        [KMSG_ACS_OVERRIDE] = { DOCTOR_WARN,
                "PCIe ACS overrides are on: IOMMU groups are split without hardware isolation",
                "remove pcie_acs_override= from the kernel command line unless every VM sharing a real group is "
                "trusted; prefer a slot whose root port has ACS" },
        [KMSG_FALLEN_OFF_BUS] = { DOCTOR_FAIL,
                "the GPU stopped answering on the PCIe bus (NVIDIA Xid 79): a reset left it dead, or power/link failed",
                "after a VM stop, let the hook reset the card (pve-gpu-reset attach VMID); now: pve-gpu-reset reset "
                "{slot} --method slot, else reboot the host; check power cables and the power and bar findings" },
        [KMSG_DRIVER_INIT_FAILED] = { DOCTOR_FAIL,
                "the host's GPU driver could not initialise the card (NVIDIA RmInitAdapter, amdgpu \"Fatal error during "
                "GPU init\"): a VM or a failed reset left it in a state only a reset clears",
                "keep the card on vfio-pci (see the driver and modprobe findings) and let the hook reset it at every "
                "stop; a host reboot recovers it now" },
        [KMSG_XID] = { DOCTOR_WARN, "the NVIDIA driver reported an Xid error",
                "look the Xid up in NVIDIA's Xid table; 79 = fallen off the bus, 119/120 = GSP timeouts" },
        [KMSG_AER_UNCORRECTABLE] = { DOCTOR_FAIL,
                "uncorrectable PCIe errors: transactions were lost on the link", FIX_LINK },
        [KMSG_AER_CORRECTABLE] = { DOCTOR_WARN,
                "correctable PCIe errors: the link needed retries (a marginal link often precedes a card falling off "
                "the bus)", FIX_LINK },
        [KMSG_BAR_RESERVE] = { DOCTOR_FAIL,
                "vfio-pci could not reserve the card's BAR: the firmware framebuffer (efifb/simplefb) still holds it",
                FIX_FRAMEBUFFER },
        [KMSG_BAR_EFIFB] = { DOCTOR_WARN,
                "the boot framebuffer (efifb) lives in this card's BAR: vfio-pci cannot have it while it does",
                FIX_FRAMEBUFFER },
        [KMSG_BAR_ASSIGN] = { DOCTOR_WARN,
                "the kernel could not fit a BAR into the PCI address space",
                "enable Above 4G Decoding (and Resizable BAR) in the BIOS/UEFI setup; else add pci=realloc to the kernel "
                "command line" },
        [KMSG_IOMMU_FAULT] = { DOCTOR_WARN,
                "DMA remapping faults: the device used memory the IOMMU did not map for it (typical after a guest "
                "reboot that reset nothing)",
                "reboot the VM from the GUI/API (qm reboot VMID), which runs the hook's reset; a reboot inside the "
                "guest runs none (and with reboot: 0 it leaves the VM off)" },
        [KMSG_ROM] = { DOCTOR_WARN,
                "the card's option ROM is unreadable or invalid (common for the boot GPU and iGPUs)",
                "dump the ROM while the card is not the boot GPU and pass it with romfile=, or set rombar=0" },
        [KMSG_SOFT_LOCKUP] = { DOCTOR_WARN,
                "a CPU was stuck in the kernel (often a hung reset or config-space access)",
                "see the other kernel-log findings; the host may need a reboot" },
};

enum doctor_status kmsg_kind_status(enum kmsg_kind k)
{
        return (size_t)k < ELEMENTSOF(findings) ? findings[k].status : DOCTOR_INFO;
}

/* Replaces {id} and {slot} in a fix. */
static void expand_fix(struct dstr *out, const char *fix, const char *id, const char *slot)
{
        for (const char *p = fix; *p;) {
                if (strncmp(p, "{id}", 4) == 0) {
                        dstr_addf(out, "%s", id);
                        p += 4;
                } else if (strncmp(p, "{slot}", 6) == 0) {
                        dstr_addf(out, "%s", slot);
                        p += 6;
                } else {
                        const char *brace = strchr(p + 1, '{');
                        size_t n = brace ? (size_t)(brace - p) : strlen(p);

                        dstr_addf(out, "%.*s", (int)n, p);
                        p += n;
                }
        }
}

void doctor_check_kernel_log(const struct kmsg_log *log, const struct doctor_devices *set, bool host_wide,
                             struct doctor_report *rep)
{
        size_t reported = 0;

        if (!log->available) {
                doctor_add(rep, "kernel-log", DOCTOR_INFO, NULL,
                           "run pve-gpu-reset doctor as root (reading /dev/kmsg needs it when kernel.dmesg_restrict=1)",
                           "no kernel log to read (tried /dev/kmsg, /var/log/kern.log and, on the real root, the journal)");
                return;
        }
        for (size_t i = 0; i < log->n; i++) {
                const struct kmsg_event *e = &log->v[i];
                const struct doctor_device *dev = NULL;
                const char *slot = "", *via = "";
                char id[16] = "VVVV:DDDD", count[128] = "";
                struct dstr fix = {};

                if (e->slot[0] && !kmsg_kind_host_wide(e->kind)) {
                        struct pci_addr a;

                        if (pci_addr_parse_full(e->slot, &a) == 0)
                                dev = doctor_devices_find(set, &a);
                        for (size_t j = 0; !dev && j < set->n; j++)
                                if (set->v[j].dev.present && set->v[j].dev.has_parent &&
                                    pci_addr_eq(&set->v[j].dev.parent, &a)) {
                                        dev = &set->v[j];
                                        via = " (on its parent bridge)";
                                }
                        if (dev) {
                                slot = dev->dev.bdf;
                                doctor_device_id(dev, id);
                        } else if (host_wide)
                                slot = e->slot;
                        else
                                continue; /* another device's trouble: not this VM's */
                }
                if (e->count > 1 && e->first_time[0])
                        snprintf(count, sizeof(count), " (%u such messages, the first at %s)", e->count, e->first_time);
                else if (e->count > 1)
                        snprintf(count, sizeof(count), " (%u such messages)", e->count);
                expand_fix(&fix, findings[e->kind].fix, id, slot[0] ? slot : (e->slot[0] ? e->slot : "DDDD:BB:DD.F"));
                doctor_add(rep, "kernel-log", findings[e->kind].status, slot, dstr_get(&fix), "%s%s\"%s\"%s: %s%s",
                           e->time[0] ? e->time : "", e->time[0] ? " " : "", e->text, via, findings[e->kind].meaning, count);
                dstr_done(&fix);
                reported++;
        }
        if (!reported)
                doctor_add(rep, "kernel-log", DOCTOR_OK, NULL, NULL,
                           "no known trouble in the kernel log (%s, %zu messages)", log->source, log->n_lines);
}
