/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The per-device checks: `driver`, `iommu-group`, `reset`, `power`, `bar`, `sriov`. */
#include "doctor/doctor_device.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include "base/util.h"
#include "kernel/kmodinfo.h"
#include "kernel/kmsg.h"
#include "kernel/sysfs.h"
#include "reset/claim.h"
#include "reset/state.h"

/* include/linux/ioport.h */
#define IORESOURCE_IO 0x00000100ULL
#define IORESOURCE_MEM 0x00000200ULL
#define IORESOURCE_PREFETCH 0x00002000ULL
#define IORESOURCE_MEM_64 0x00100000ULL
#define IORESOURCE_UNSET 0x20000000ULL

#define FOUR_GIB (4ULL << 30)
#define HUGE_BAR (8ULL << 30) /* from here on, the VM's firmware decides whether the BAR gets mapped */

/* A decimal attribute in 0..max, or -1 (absent, "-1", garbage). */
static long read_count(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, long max)
{
        char v[32], *end;
        long n;

        if (sysfs_dev_read(ctx, a, attr, v, sizeof(v)) < 0)
                return -1;
        n = strtol(v, &end, 10);
        return end != v && !*end && n >= 0 && n <= max ? n : -1;
}

static const char *claim_rule_problem(const struct pgr_ctx *ctx);

void doctor_device_load_facts(const struct pgr_ctx *ctx, struct doctor_device *d)
{
        long n;

        struct pgr_error err;
        struct claim c;
        char why[640];

        d->numa_node = -1;
        d->sriov_totalvfs = d->sriov_numvfs = 0;
        d->claimed = false;
        if (!d->dev.present)
                return;
        pcidev_read_driver_override(ctx, &d->dev);
        d->claimed = claim_load(ctx, &d->dev.addr, &c, &err) >= 0 && !claim_mismatch(ctx, &c, &d->dev, why, sizeof(why)) &&
                     !claim_rule_problem(ctx);
        d->numa_node = (int)read_count(ctx, &d->dev.addr, "numa_node", INT_MAX);
        if ((n = read_count(ctx, &d->dev.addr, "sriov_totalvfs", 0xffff)) > 0)
                d->sriov_totalvfs = (unsigned)n;
        d->sriov_numvfs = d->dev.sriov_numvfs; /* pcidev_probe read it: the plan decides on the same value */
}

void doctor_device_id(const struct doctor_device *d, char buf[static 16])
{
        snprintf(buf, 16, "%04x:%04x", d->dev.vendor, d->dev.device);
}

const struct doctor_device *doctor_devices_find(const struct doctor_devices *set, const struct pci_addr *a)
{
        for (size_t i = 0; i < set->n; i++)
                if (pci_addr_eq(&set->v[i].dev.addr, a))
                        return &set->v[i];
        return NULL;
}

bool doctor_device_is_display(const struct doctor_device *d)
{
        return (d->dev.class_code >> 16) == 0x03;
}

static const char *class_name(unsigned class_code)
{
        static const struct {
                unsigned cls;
                const char *name;
        } names[] = {
                { 0x0300, "VGA controller" }, { 0x0302, "3D controller" }, { 0x0380, "display controller" },
                { 0x0403, "audio device" }, { 0x0c03, "USB controller" }, { 0x0c80, "serial bus controller" },
                { 0x0200, "Ethernet controller" }, { 0x0280, "network controller" }, { 0x0106, "SATA controller" },
                { 0x0108, "NVMe controller" }, { 0x0604, "PCI bridge" }, { 0x0600, "host bridge" },
                { 0x0601, "ISA bridge" }, { 0x0c05, "SMBus controller" },
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i].cls == class_code >> 8)
                        return names[i].name;
        return "device";
}

/* vendor:device of every wanted function of the same slot, for an ids= line. */
static void slot_ids(const struct doctor_devices *set, const struct doctor_device *d, struct dstr *out)
{
        for (size_t i = 0; i < set->n; i++) {
                const struct doctor_device *o = &set->v[i];
                char id[16];
                bool dup = false;

                if (!o->dev.present || !pci_addr_same_slot(&o->dev.addr, &d->dev.addr))
                        continue;
                for (size_t j = 0; j < i && !dup; j++)
                        dup = set->v[j].dev.present && pci_addr_same_slot(&set->v[j].dev.addr, &d->dev.addr) &&
                              set->v[j].dev.vendor == o->dev.vendor && set->v[j].dev.device == o->dev.device;
                if (dup)
                        continue;
                doctor_device_id(o, id);
                dstr_addf(out, "%s%s", out->len ? "," : "", id);
        }
}

static void check_driver(const struct pgr_ctx *ctx, const struct doctor_devices *set, const struct doctor_device *d,
                         bool vfio_loaded, struct doctor_report *rep)
{
        const struct pcidev *p = &d->dev;
        struct dstr fix = {}, ids = {};
        char module[64];

        if (!p->present) {
                doctor_add(rep, "driver", DOCTOR_FAIL, p->bdf,
                           "lspci -nn shows where the card is now (a BIOS update or a new card renumbers buses: fix "
                           "hostpciN); if it is gone, reseat it / check its power, or rescan: echo 1 > "
                           "/sys/bus/pci/rescan; the hook rescans its bridge once at pre-start",
                           "%s is not present: no device at this address (removed, renumbered, or dropped off the bus)",
                           p->bdf);
                return;
        }
        if (!p->config_readable) {
                dstr_addf(&fix, "pve-gpu-reset reset %s --method slot may bring it back; otherwise reboot the host (and "
                          "check its power cables and seating)", p->bdf);
                doctor_add(rep, "driver", DOCTOR_FAIL, p->bdf, dstr_get(&fix),
                           "%s does not answer: its config space reads all 0xff (fell off the bus, or stuck in D3cold)%s%s",
                           p->bdf, p->driver[0] ? "; bound to " : "", p->driver);
                dstr_done(&fix);
                return;
        }
        if (d->untouched) {
                doctor_add(rep, "driver", DOCTOR_INFO, p->bdf, NULL, "%s: left on %s on purpose (" UNTOUCHED_WHY ")",
                           d->hostpci, p->driver[0] ? p->driver : "no driver");
                return;
        }
        if (p->header_type == 1) {
                doctor_add(rep, "driver", DOCTOR_INFO, p->bdf, NULL, "a PCI bridge: passed through as it is");
                return;
        }
        if (streq(p->driver, "vfio-pci")) {
                if (p->driver_override[0] && !streq(p->driver_override, "vfio-pci"))
                        doctor_add(rep, "driver", DOCTOR_WARN, p->bdf, NULL,
                                   "bound to vfio-pci, but driver_override is %s: after a rescan %s gets it",
                                   p->driver_override, p->driver_override);
                else
                        doctor_add(rep, "driver", DOCTOR_OK, p->bdf, NULL, "bound to vfio-pci");
                return;
        }
        slot_ids(set, d, &ids);
        /* Claimed from boot: the rule hands it over at device add; replaying that event is the fix. */
        if (d->claimed && p->driver[0]) {
                dstr_addf(&fix, "udevadm trigger --action=add /sys/bus/pci/devices/%s (the claim hands it to vfio-pci, "
                          "as at boot), or start the VM", p->bdf);
                doctor_add(rep, "driver", DOCTOR_WARN, p->bdf, dstr_get(&fix),
                           "bound to the host driver %s although claimed from boot: it was bound before the udev rule "
                           "ran (built in, or from the initramfs) and the rule has not run since", p->driver);
                dstr_done(&fix);
                dstr_done(&ids);
                return;
        }
        if (d->vmid && p->driver[0])
                dstr_addf(&fix, "pve-gpu-reset claim %lu (vfio-pci gets exactly these functions at boot, no blacklist), "
                          "then reboot; or: ", d->vmid);
        if (streq(p->driver, "nouveau")) {
                dstr_addf(&fix, "echo \"blacklist nouveau\" >> /etc/modprobe.d/blacklist.conf && echo \"options vfio-pci "
                          "ids=%s\" >> /etc/modprobe.d/vfio.conf && update-initramfs -u -k all, then reboot (a blacklist "
                          "that is already there was added after the initramfs was built: update-initramfs -u -k all)",
                          dstr_get(&ids));
                doctor_add(rep, "driver", DOCTOR_FAIL, p->bdf, dstr_get(&fix),
                           "nouveau (the host's open-source NVIDIA driver) has the card: it initialises and uses it, "
                           "and often leaves it in a state the VM's driver cannot recover");
        } else if (p->driver[0]) {
                dstr_addf(&fix, "echo \"options vfio-pci ids=%s\" >> /etc/modprobe.d/vfio.conf && echo \"softdep %s pre: "
                          "vfio-pci\" >> /etc/modprobe.d/vfio.conf && update-initramfs -u -k all, then reboot",
                          dstr_get(&ids), kmodinfo_driver_module(ctx, p->driver, module, sizeof(module)));
                doctor_add(rep, "driver", DOCTOR_FAIL, p->bdf, dstr_get(&fix),
                           "bound to the host driver %s: the host grabbed the function before vfio-pci (the hook moves "
                           "it at pre-start, but a driver that used the card can leave state behind that no reset "
                           "clears)", p->driver);
        } else if (!vfio_loaded)
                doctor_add(rep, "driver", DOCTOR_INFO, p->bdf, NULL,
                           "no driver: vfio-pci is not loaded yet (Proxmox and the hook bind the card when the VM starts)");
        else {
                dstr_addf(&fix, "list its id in vfio-pci's ids= (echo \"options vfio-pci ids=%s\" >> "
                          "/etc/modprobe.d/vfio.conf && update-initramfs -u -k all); the hook binds it at pre-start",
                          dstr_get(&ids));
                doctor_add(rep, "driver", DOCTOR_WARN, p->bdf, dstr_get(&fix),
                           "no driver although vfio-pci is loaded: vfio-pci was not told about %04x:%04x, or the card "
                           "failed to initialise (check the kernel-log findings)",
                           p->vendor, p->device);
        }
        dstr_done(&fix);
        dstr_done(&ids);
}

/* ACS Extended Capability (PCI_EXT_CAP_ID_ACS 0x0d) of a bridge: 1 present, 0 absent, -1 unknown
 * (extended config space not readable). */
static int bridge_has_acs(const struct pgr_ctx *ctx, const struct pci_addr *bridge)
{
        char path[PATH_MAX], bdf[PCI_ADDR_STRLEN];
        _cleanup_free_ char *cfg = NULL;
        size_t len = 0;
        unsigned off = 0x100;

        pci_addr_format(bridge, bdf);
        if (pgr_pathf(ctx, path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf) < 0 ||
            read_full_file(path, 4096, &cfg, &len) < 0 || len < 0x104)
                return -1;
        for (int guard = 0; off >= 0x100 && off + 4 <= len && guard < 64; guard++) {
                const unsigned char *c = (const unsigned char *)cfg + off;
                uint32_t h = (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;

                if (h == 0 || h == 0xffffffff)
                        return 0;
                if ((h & 0xffff) == 0x000d)
                        return 1;
                off = h >> 20;
        }
        return 0;
}

/* Which VM's config names this function, other than the device's own VM. */
static const struct doctor_device *owner_elsewhere(const struct doctor_devices *set, const struct doctor_device *d,
                                                   const struct pci_addr *a)
{
        const struct doctor_device *o = doctor_devices_find(set, a);

        return o && o->vmid && o->vmid != d->vmid ? o : NULL;
}

static bool same_owner(const struct doctor_devices *set, const struct doctor_device *d, const struct pci_addr *a)
{
        const struct doctor_device *o = doctor_devices_find(set, a);

        if (!o)
                return false;
        return o->vmid == d->vmid && (d->vmid || pci_addr_same_slot(a, &d->dev.addr));
}

static void check_group(const struct pgr_ctx *ctx, const struct doctor_devices *set, const struct doctor_device *d,
                        struct doctor_report *rep)
{
        const struct pcidev *p = &d->dev;
        enum doctor_status st = DOCTOR_OK;
        struct dstr msg = {}, others = {}, fix = {};
        size_t n_bridges = 0, n_own = 0;

        if (p->iommu_group < 0) {
                doctor_add(rep, "iommu-group", DOCTOR_FAIL, p->bdf,
                           "turn the IOMMU on (see the iommu and cmdline findings)",
                           "no IOMMU group: without the IOMMU, vfio-pci cannot hand the card to a VM");
                return;
        }
        for (size_t i = 0; i < p->n_group_members; i++) {
                const struct pci_addr *a = &p->group_members[i];
                char bdf[PCI_ADDR_STRLEN], drv[64] = "";
                const struct doctor_device *o;
                unsigned cls = 0;

                pci_addr_format(a, bdf);
                if (pci_addr_eq(a, &p->addr) || same_owner(set, d, a)) {
                        n_own++;
                        continue;
                }
                (void)sysfs_dev_read_hex(ctx, a, "class", &cls);
                (void)sysfs_dev_link(ctx, a, "driver", drv, sizeof(drv));
                if ((cls >> 8) == 0x0604 || (cls >> 8) == 0x0600) {
                        n_bridges++;
                        continue;
                }
                o = owner_elsewhere(set, d, a);
                if (o) {
                        st = DOCTOR_FAIL;
                        dstr_addf(&others, "%s%s (%s, %s of VM %lu: the two VMs cannot run at the same time)",
                                  others.len ? "; " : "", bdf, class_name(cls), o->hostpci, o->vmid);
                } else if (drv[0] && !streq(drv, "vfio-pci") && !streq(drv, "pci-stub") && !streq(drv, "pcieport")) {
                        st = DOCTOR_FAIL;
                        dstr_addf(&others, "%s%s (%s, in use by the host driver %s: vfio refuses a group the host still "
                                  "uses, \"group not viable\")", others.len ? "; " : "", bdf, class_name(cls), drv);
                } else {
                        if (st < DOCTOR_WARN)
                                st = DOCTOR_WARN;
                        dstr_addf(&others, "%s%s (%s, %s: it goes along with the card and nothing else may use it)",
                                  others.len ? "; " : "", bdf, class_name(cls), drv[0] ? drv : "no driver");
                }
        }
        if (!p->group_members_complete) { /* a cut list must not pass for "only this card's functions" */
                if (st < DOCTOR_WARN)
                        st = DOCTOR_WARN;
                dstr_addf(&others, "%smembers beyond the %d listed (or a group directory that cannot be read)",
                          others.len ? "; " : "", PCIDEV_MAX_RELATED);
        }
        dstr_addf(&msg, "IOMMU group %d", p->iommu_group);
        if (!others.len) {
                dstr_addf(&msg, ": only this card's functions (%zu)", n_own);
                if (n_bridges)
                        dstr_addf(&msg, " and %zu bridge%s (fine)", n_bridges, n_bridges == 1 ? "" : "s");
                doctor_add(rep, "iommu-group", DOCTOR_OK, p->bdf, NULL, "%s", dstr_get(&msg));
                goto out;
        }
        dstr_addf(&msg, " is shared with %s", dstr_get(&others));
        if (p->has_parent) {
                char parent[PCI_ADDR_STRLEN];
                int acs = bridge_has_acs(ctx, &p->parent);

                pci_addr_format(&p->parent, parent);
                if (acs == 0)
                        dstr_addf(&msg, "; the bridge above it, %s, has no ACS capability, so everything below it shares "
                                  "one group", parent);
                else if (acs < 0)
                        dstr_addf(&msg, "; whether the bridge above it (%s) has ACS is unknown (extended config space "
                                  "not readable)", parent);
        }
        dstr_addf(&fix, "move the card to a slot with its own group (usually a CPU-attached slot whose root port has "
                  "ACS), or give the other devices to the same VM; pcie_acs_override=downstream,multifunction splits "
                  "groups only by pretending they are isolated");
        doctor_add(rep, "iommu-group", st, p->bdf, dstr_get(&fix), "%s", dstr_get(&msg));
out:
        dstr_done(&msg);
        dstr_done(&others);
        dstr_done(&fix);
}

static bool is_gb202(const struct pcidev *p)
{
        return p->vendor == 0x10de && p->device >= 0x2b80 && p->device <= 0x2bff;
}

/* AMD GPUs whose own resets do not work (the "AMD reset bug"): vendor-reset's device_specific. */
static const char *amd_needs_vendor_reset(const struct pcidev *p)
{
        static const struct {
                unsigned lo, hi;
                const char *name;
        } ranges[] = {
                { 0x6860, 0x687f, "Vega 10" }, { 0x66a0, 0x66af, "Vega 20" }, { 0x7310, 0x731f, "Navi 10" },
                { 0x7360, 0x736f, "Navi 12" }, { 0x7340, 0x734f, "Navi 14" },
        };

        if (p->vendor != 0x1002)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(ranges); i++)
                if (p->device >= ranges[i].lo && p->device <= ranges[i].hi)
                        return ranges[i].name;
        return NULL;
}

static void describe_rung(const struct pcidev *p, const struct plan_action *a, struct dstr *out)
{
        char parent[PCI_ADDR_STRLEN];

        if (a->kind == ACTION_RESET && streq(a->method, "default"))
                dstr_addf(out, "the kernel's reset (its own order of methods)");
        else if (a->kind == ACTION_RESET)
                dstr_addf(out, "%s", a->method);
        else if (a->kind == ACTION_BUS_RESET)
                dstr_addf(out, "slot reset through %s (%s)", pci_addr_format(&p->parent, parent),
                          streq(a->method, "bridge") ? "Bridge Control secondary bus reset" : a->method);
        else
                dstr_addf(out, "%s", action_to_string(a->kind));
}

static void check_reset(const struct doctor_device *d, bool vendor_reset_loaded, const struct kmsg_log *log,
                        struct doctor_report *rep)
{
        const struct pcidev *p = &d->dev;
        const struct plan_device *pd = d->pd;
        const struct plan_action *first, *chosen = NULL;
        struct dstr msg = {}, fix = {};
        enum doctor_status st = DOCTOR_OK;
        const struct kmsg_event *hung;
        const char *amd;
        char id[16];

        if (!p->present || !p->config_readable || !pd || p->header_type == 1)
                return;
        doctor_device_id(d, id);
        if (d->untouched) {
                doctor_add(rep, "reset", DOCTOR_INFO, p->bdf, NULL, "never reset: %s is left alone (" UNTOUCHED_WHY ")",
                           d->hostpci);
                return;
        }
        for (size_t i = 0; i < pd->n_actions; i++)
                if (pd->actions[i].kind == ACTION_SKIP && pd->actions[i].for_safety && pd->n_ladder) {
                        doctor_add(rep, "reset", DOCTOR_INFO, p->bdf, NULL, "not evaluated: %s", pd->actions[i].reason);
                        return;
                }
        for (size_t i = 0; i < pd->n_actions; i++)
                if (plan_action_is_reset(pd->actions[i].kind))
                        chosen = &pd->actions[i];
        dstr_addf(&msg, "kernel reset_method: %s", p->has_reset_method ? "" : (p->has_reset ? "absent (kernel before "
                                                                                              "5.15: only 'reset')" : "none"));
        for (size_t i = 0; i < p->n_reset_methods; i++)
                dstr_addf(&msg, "%s%s", i ? " " : "", p->reset_methods[i]);
        if (p->has_reset_method && !p->n_reset_methods)
                dstr_addf(&msg, "(empty)");
        dstr_addf(&msg, "; FLR %s; %s on its bus; ", p->flr_capable ? "advertised" : "not advertised",
                  p->alone_on_bus ? "alone" : "not alone");
        if (p->has_parent) {
                char parent[PCI_ADDR_STRLEN];

                dstr_addf(&msg, "parent bridge %s %s reset_subordinate", pci_addr_format(&p->parent, parent),
                          p->parent_has_reset_subordinate ? "with" : "without");
        } else
                dstr_addf(&msg, "on a root bus (no bridge to reset through)");
        if (!pd->needs_reset) {
                doctor_add(rep, "reset", DOCTOR_INFO, p->bdf, NULL, "%s. The policy turns the post-stop reset off "
                           "(reset_on_post_stop false)", dstr_get(&msg));
                goto out;
        }
        if (pd->n_ladder == 0) {
                st = DOCTOR_FAIL;
                dstr_addf(&msg, ". No usable reset: %s", chosen ? chosen->reason : "the policy allows none that applies");
                for (size_t i = 0; i < pd->n_actions; i++)
                        if (pd->actions[i].kind == ACTION_SKIP && pd->actions[i].reason[0])
                                dstr_addf(&msg, " (%s)", pd->actions[i].reason);
                dstr_addf(&fix, "let the ladder fall back: reset_methods in /etc/pve-gpu-reset.json should end with "
                          "\"slot\", \"remove-rescan\"; pass every function of the card (hostpciN without .F) so a "
                          "slot reset is allowed");
                doctor_add(rep, "reset", st, p->bdf, dstr_get(&fix), "%s", dstr_get(&msg));
                goto out;
        }
        first = &pd->ladder[0];
        dstr_addf(&msg, ". Post-stop uses: ");
        describe_rung(p, first, &msg);
        if (pd->n_ladder > 1) {
                dstr_addf(&msg, "; if that fails: ");
                for (size_t i = 1; i < pd->n_ladder; i++) {
                        if (i > 1)
                                dstr_addf(&msg, ", ");
                        describe_rung(p, &pd->ladder[i], &msg);
                }
        }
        if (chosen && chosen->reason[0])
                dstr_addf(&msg, " (why: %s)", chosen->reason);
        if (first->kind == ACTION_RESET && streq(first->method, "flr") && log &&
            (hung = kmsg_log_find(log, KMSG_FLR_NOT_READY, p->bdf))) {
                st = DOCTOR_FAIL;
                dstr_addf(&msg, ". The kernel log shows FLR hanging on this function (%s \"%s\")", hung->time, hung->text);
                dstr_addf(&fix, "keep FLR away from it: policy devices.\"%s\".reset_methods = [\"slot\",\"remove-rescan\"] "
                          "in /etc/pve-gpu-reset.json (pass every function of the card so the slot reset is allowed)", id);
                if (pd->n_ladder == 1)
                        dstr_addf(&fix, "; neither applies to this VM yet: %s", chosen && chosen->reason[0] ? chosen->reason :
                                  "other devices share the slot or bridge");
        } else if (is_gb202(p) && first->kind == ACTION_RESET && (streq(first->method, "flr") || streq(first->method, "default"))) {
                st = DOCTOR_FAIL;
                dstr_addf(&msg, ". %s is a GB202 (Blackwell) card: FLR is widely reported to hang these cards", id);
                dstr_addf(&fix, "prefer a slot reset: policy devices.\"%s\".reset_methods = [\"slot\",\"remove-rescan\"] "
                          "in /etc/pve-gpu-reset.json (pass every function of the card so the slot reset is allowed)", id);
        } else if ((amd = amd_needs_vendor_reset(p)) && !pcidev_has_method(p, "device_specific") &&
                   vendor_reset_loaded && p->has_reset_method) {
                /* vendor-reset hooks the kernel's device-specific reset, but since Linux 5.15 the kernel
                 * lists (and uses) device_specific only once it is written to reset_method */
                st = DOCTOR_FAIL;
                dstr_addf(&msg, ". AMD %s: vendor-reset is loaded, but reset_method does not list device_specific, so "
                          "neither the kernel nor the hook uses it and the card keeps the AMD reset bug", amd);
                dstr_addf(&fix, "echo device_specific > /sys/bus/pci/devices/%s/reset_method (at every boot: a udev "
                          "rule ACTION==\"add\", SUBSYSTEM==\"pci\", ATTR{vendor}==\"0x1002\", ATTR{device}==\"0x%04x\", "
                          "ATTR{reset_method}=\"device_specific\")", p->bdf, p->device);
        } else if (amd && !pcidev_has_method(p, "device_specific")) {
                st = DOCTOR_FAIL;
                dstr_addf(&msg, ". AMD %s: its own resets leave the GPU unusable for the next VM (the AMD reset bug); "
                          "it needs the vendor-reset module's device_specific reset, which this kernel does not list",
                          amd);
                dstr_addf(&fix, "install vendor-reset (apt install proxmox-default-headers dkms git; git clone "
                          "https://github.com/gnif/vendor-reset; cd vendor-reset; dkms install .), echo vendor-reset >> "
                          "/etc/modules, reboot, then echo device_specific > /sys/bus/pci/devices/%s/reset_method (a udev "
                          "rule makes that permanent)", p->bdf);
        } else if (first->kind == ACTION_REMOVE_RESCAN || first->kind == ACTION_POWER_CYCLE) {
                st = DOCTOR_WARN;
                dstr_addf(&msg, ". Only %s is left: slower, and it needs the card to come back on its own",
                          first->kind == ACTION_POWER_CYCLE ? "a power cycle of its slot" : "remove + rescan");
                dstr_addf(&fix, "pass every function of the slot (hostpciN: %04x:%02x:%02x, without .F) and keep other "
                          "devices off its bridge, so a slot reset is possible", p->addr.domain, p->addr.bus,
                          p->addr.slot);
        } else if (amd && p->n_reset_methods && !streq(p->reset_methods[0], "device_specific")) {
                /* the hook's ladder may still pick it, but the kernel's own reset (QEMU's at VM start, a
                 * write to 'reset') tries the methods in the listed order */
                st = DOCTOR_WARN;
                dstr_addf(&msg, ". AMD %s: reset_method lists device_specific but not first: the kernel's own reset "
                          "(QEMU's, when the VM starts) tries %s first", amd, p->reset_methods[0]);
                dstr_addf(&fix, "echo device_specific > /sys/bus/pci/devices/%s/reset_method", p->bdf);
        } else if (amd && pcidev_has_method(p, "device_specific"))
                dstr_addf(&msg, " (vendor-reset's device_specific for the AMD %s)", amd);
        doctor_add(rep, "reset", st, p->bdf, fix.len ? dstr_get(&fix) : NULL, "%s", dstr_get(&msg));
out:
        dstr_done(&msg);
        dstr_done(&fix);
}

/* Whether reset_method holds the pin the policy gives the function (plan_device.pin): what Proxmox's
 * write to reset, vfio-pci and QEMU on a guest reboot will use. */
static void check_pin(const struct pgr_ctx *ctx, const struct doctor_device *d, struct doctor_report *rep)
{
        const struct plan_device *pd = d->pd;
        const struct pcidev *p = &d->dev;
        char now[STATE_VALUE_MAX], kernel[STATE_VALUE_MAX], fix[256];

        if (!pd || !pd->pin_set || !p->present || d->untouched)
                return;
        if (sysfs_dev_read(ctx, &p->addr, "reset_method", now, sizeof(now)) < 0)
                return;
        if (streq(now, pd->pin)) {
                doctor_add(rep, "pin", DOCTOR_OK, p->bdf, NULL, "reset_method pinned to %s as the policy says (%s)",
                           plan_pin_name(pd->pin), pd->pin_reason);
                return;
        }
        snprintf(fix, sizeof(fix), "start the VM (pre-start pins it), or by hand: echo %s > /sys/bus/pci/devices/%s/reset_method",
                 pd->pin, p->bdf);
        /* Never pinned since boot (no record of the kernel's list): the VM has not run yet. */
        if (state_kernel_methods_load(ctx, &p->addr, kernel, sizeof(kernel)) < 0) {
                doctor_add(rep, "pin", DOCTOR_INFO, p->bdf, fix,
                           "reset_method is '%s' (the kernel's order); pre-start will pin it to %s (%s)", now,
                           plan_pin_name(pd->pin), pd->pin_reason);
                return;
        }
        doctor_add(rep, "pin", DOCTOR_WARN, p->bdf, fix,
                   "reset_method is '%s', not the pin %s the policy gives: Proxmox's write to reset, vfio-pci and "
                   "QEMU on a guest reboot use that instead (%s)", now, plan_pin_name(pd->pin), pd->pin_reason);
}

/* Whether udev will run the claim at all: the packaged rule, not masked by an /etc override (udev(7):
 * a same-named file in /etc replaces it; a symlink to /dev/null disables it). */
#define CLAIM_RULE "70-pve-gpu-reset.rules"
static const char *claim_rule_problem(const struct pgr_ctx *ctx)
{
        static const char *const dirs[] = { "/etc/udev/rules.d/", "/run/udev/rules.d/", "/usr/lib/udev/rules.d/",
                                            "/lib/udev/rules.d/" };
        char path[PATH_MAX], target[PATH_MAX];
        struct stat st;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                ssize_t n;

                if (pgr_pathf(ctx, path, sizeof(path), "%s" CLAIM_RULE, dirs[i]) < 0 || lstat(path, &st) < 0)
                        continue;
                n = S_ISLNK(st.st_mode) ? readlink(path, target, sizeof(target) - 1) : -1;
                if (n > 0) {
                        target[n] = '\0';
                        if (streq(target, "/dev/null"))
                                return "masked (a symlink to /dev/null in /etc or /run)";
                }
                if (!S_ISLNK(st.st_mode) && st.st_size == 0)
                        return "replaced by an empty file";
                return NULL;
        }
        return "not installed (" CLAIM_RULE ")";
}

/* Claim from boot: whether the function is claimed, the claim is for the card that is there, the
 * live state is what the claim makes at boot (driver_override, vfio-pci, the pin), and the claim's
 * pin is still the one the policy gives. */
static void check_claim(const struct pgr_ctx *ctx, const struct doctor_device *d, struct doctor_report *rep)
{
        const struct pcidev *p = &d->dev;
        struct pgr_error err = {};
        char owners[128], fix[256], now[STATE_VALUE_MAX], why[640];
        const char *rule;
        struct claim c;
        int r;

        if (!p->present || d->untouched || p->header_type == 1)
                return;
        r = claim_load(ctx, &p->addr, &c, &err);
        if (r == -ENOENT) {
                if (!d->vmid)
                        return;
                snprintf(fix, sizeof(fix), "pve-gpu-reset claim %lu (or attach %lu): vfio-pci gets it at device add, "
                         "no blacklist needed", d->vmid, d->vmid);
                doctor_add(rep, "claim", DOCTOR_INFO, p->bdf, fix,
                           "not claimed from boot: a host driver module loaded at boot may bind it before the VM starts "
                           "(pre-start takes it back)");
                return;
        }
        snprintf(fix, sizeof(fix), "pve-gpu-reset unclaim %s", p->bdf);
        if (r < 0) {
                doctor_add(rep, "claim", DOCTOR_WARN, p->bdf, fix, "%s", err.msg);
                return;
        }
        claim_owners_format(&c, owners, sizeof(owners));
        if (claim_mismatch(ctx, &c, p, why, sizeof(why))) {
                doctor_add(rep, "claim", DOCTOR_WARN, p->bdf, fix, "%s: udev leaves it to its host driver", why);
                return;
        }
        rule = claim_rule_problem(ctx);
        if (rule) {
                doctor_add(rep, "claim", DOCTOR_WARN, p->bdf, "reinstall the package (apt install --reinstall pve-gpu-reset)",
                           "claimed (by %s), but the udev rule is %s: nothing gives it to vfio-pci at boot", owners, rule);
                return;
        }
        snprintf(fix, sizeof(fix), "udevadm trigger --action=add /sys/bus/pci/devices/%s (what boot does), or start the VM",
                 p->bdf);
        if (!streq(p->driver_override, "vfio-pci") || (p->driver[0] && !streq(p->driver, "vfio-pci"))) {
                doctor_add(rep, "claim", DOCTOR_WARN, p->bdf, fix,
                           "claimed (by %s), but the live state disagrees: driver %s, driver_override %s (the claim "
                           "makes vfio-pci and vfio-pci)", owners, p->driver[0] ? p->driver : "none",
                           p->driver_override[0] ? p->driver_override : "(null)");
                return;
        }
        if (c.pin_set && sysfs_dev_read(ctx, &p->addr, "reset_method", now, sizeof(now)) >= 0 && !streq(now, c.pin)) {
                doctor_add(rep, "claim", DOCTOR_WARN, p->bdf, fix,
                           "claimed (by %s) with pin %s, but reset_method is '%s'", owners, claim_pin_name(&c), now);
                return;
        }
        if (d->pd && (d->pd->pin_set != c.pin_set || (c.pin_set && !streq(d->pd->pin, c.pin)))) {
                if (d->vmid)
                        snprintf(fix, sizeof(fix), "pve-gpu-reset claim %lu (records the policy's pin again)", d->vmid);
                else
                        snprintf(fix, sizeof(fix), "pve-gpu-reset claim %s (records the policy's pin again)", p->bdf);
                doctor_add(rep, "claim", DOCTOR_WARN, p->bdf, fix,
                           "claimed with pin %s, but the policy now gives %s: boot pins the old one until pre-start",
                           claim_pin_name(&c), d->pd->pin_set ? plan_pin_name(d->pd->pin) : "-");
                return;
        }
        if (!c.identified) {
                if (d->vmid)
                        snprintf(fix, sizeof(fix), "pve-gpu-reset claim %lu (records what identifies the card)", d->vmid);
                else
                        snprintf(fix, sizeof(fix), "pve-gpu-reset claim %s (records what identifies the card)", p->bdf);
                doctor_add(rep, "claim", DOCTOR_WARN, p->bdf, fix,
                           "claimed (by %s) by an older version, by vendor:device alone: an identical card renumbered onto "
                           "this address after a hardware change would be taken from its host driver at boot; claim it "
                           "again", owners);
                return;
        }
        doctor_add(rep, "claim", DOCTOR_OK, p->bdf, NULL, "claimed from boot (by %s): driver_override=vfio-pci, on %s, pin %s",
                   owners, p->driver[0] ? p->driver : "no driver yet", claim_pin_name(&c));
}

static void check_power(const struct pgr_ctx *ctx, const struct doctor_device *d, struct doctor_report *rep)
{
        const struct pcidev *p = &d->dev;
        bool keep_awake = d->pd ? d->pd->policy.keep_awake : true, aspm_off = d->pd ? d->pd->policy.aspm_off : true;
        enum doctor_status st = DOCTOR_OK;
        struct dstr msg = {}, fix = {}, aspm = {};

        if (!p->present || d->untouched)
                return;
        dstr_addf(&msg, "power_state %s, d3cold_allowed %s, power/control %s",
                  p->power_state[0] ? p->power_state : "unknown",
                  p->d3cold_allowed < 0 ? "absent" : (p->d3cold_allowed ? "1" : "0"),
                  p->power_control[0] ? p->power_control : "absent");
        for (size_t i = 0; i < p->n_link_aspm; i++) {
                char attr[64], v[16];

                snprintf(attr, sizeof(attr), "link/%s", p->link_aspm[i]);
                if (sysfs_dev_read(ctx, &p->addr, attr, v, sizeof(v)) == 0 && streq(v, "1")) {
                        char state[24];
                        size_t n = strlen(p->link_aspm[i]) - 5; /* "l1_1_aspm" → "L1.1" */

                        snprintf(state, sizeof(state), "%.*s", (int)n, p->link_aspm[i]);
                        for (char *c = state; *c; c++)
                                *c = *c == '_' ? '.' : (*c == 'l' && c == state ? 'L' : *c);
                        dstr_addf(&aspm, "%s%s", aspm.len ? "+" : "", state);
                }
        }
        if (!aspm.len && p->n_link_aspm == 0 && p->aspm_ctl > 0)
                dstr_addf(&aspm, "%s%s%s", p->aspm_ctl & 1 ? "L0s" : "", p->aspm_ctl == 3 ? "+" : "",
                          p->aspm_ctl & 2 ? "L1" : "");
        dstr_addf(&msg, ", ASPM %s", aspm.len ? dstr_get(&aspm) : "off");
        if (streq(p->power_state, "D3cold")) {
                st = DOCTOR_FAIL;
                dstr_addf(&msg, ": the card is in D3cold (powered off); waking it is exactly what fails on many boards "
                          "(\"Unable to change power state from D3cold to D0\")");
                dstr_addf(&fix, "echo 0 > /sys/bus/pci/devices/%s/d3cold_allowed; echo on > /sys/bus/pci/devices/%s/"
                          "power/control (the hook does this at every start and stop with policy keep_awake); a card "
                          "that does not wake needs pve-gpu-reset reset %s or a host reboot", p->bdf, p->bdf, p->bdf);
        } else {
                bool may_sleep = p->d3cold_allowed > 0 || (p->power_control[0] && !streq(p->power_control, "on"));

                if (streq(p->power_state, "D3hot"))
                        dstr_addf(&msg, "; idle in D3hot (vfio-pci's runtime power management; it wakes when opened)");
                if (may_sleep) {
                        st = keep_awake ? DOCTOR_INFO : DOCTOR_WARN;
                        dstr_addf(&msg, "; the kernel may put it into D3cold while no VM uses it%s",
                                  keep_awake ? ": the hook keeps it awake at every start and stop" : " and the policy "
                                  "turns keep_awake off");
                        dstr_addf(&fix, "echo 0 > /sys/bus/pci/devices/%s/d3cold_allowed; echo on > "
                                  "/sys/bus/pci/devices/%s/power/control%s", p->bdf, p->bdf,
                                  keep_awake ? " (the hook does this itself)" : "; set keep_awake true in the policy");
                }
                if (aspm.len && !aspm_off) {
                        st = DOCTOR_WARN;
                        dstr_addf(&msg, "; ASPM stays on (policy aspm_off false): link power saving is a common cause of "
                                  "AER errors and cards falling off the bus");
                } else if (aspm.len) {
                        if (st < DOCTOR_INFO)
                                st = DOCTOR_INFO;
                        dstr_addf(&msg, "; the hook turns ASPM off on its link at every start and stop");
                }
        }
        doctor_add(rep, "power", st, p->bdf, fix.len ? dstr_get(&fix) : NULL, "%s", dstr_get(&msg));
        dstr_done(&msg);
        dstr_done(&fix);
        dstr_done(&aspm);
}

static void format_size(unsigned long long size, char *buf, size_t n)
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        size_t u = 0;

        while (size >= 1024 && size % 1024 == 0 && u + 1 < ELEMENTSOF(units)) {
                size /= 1024;
                u++;
        }
        snprintf(buf, n, "%llu %s", size, units[u]);
}

static uint32_t le32(const unsigned char *c)
{
        return (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
}

/* Whether the VM's firmware and machine map a huge 64-bit BAR: OVMF on q35 with the function on a PCIe
 * port (pcie=1). SeaBIOS and the i440fx PCI hole leave BARs of many GiB unassigned. why: what is missing. */
static bool vm_maps_huge_bar(const struct doctor_device *d, const char **why)
{
        const struct vmconf *c = d->conf;
        int pcie = d->entry ? d->entry->pcie : -1;

        if (!c)
                return true;
        if (!(c->bios && streq(c->bios, "ovmf")))
                *why = "boots SeaBIOS, which cannot place it";
        else if (!(c->machine && strstr(c->machine, "q35")))
                *why = "has an i440fx machine";
        else if (pcie <= 0)
                *why = "passes it without pcie=1";
        else
                return true;
        return false;
}

static void check_bar(const struct pgr_ctx *ctx, const struct doctor_device *d, struct doctor_report *rep)
{
        const struct pcidev *p = &d->dev;
        _cleanup_free_ char *res = NULL, *cfg = NULL;
        char path[PATH_MAX];
        size_t cfg_len = 0;
        enum doctor_status st = DOCTOR_OK;
        struct dstr msg = {}, bad = {}, rebar = {};
        const char *why = "";
        bool large = false, any = false;
        unsigned long long huge = 0; /* the largest 64-bit prefetchable BAR of HUGE_BAR or more */
        unsigned line = 0;

        if (!p->present || !p->config_readable || p->header_type != 0)
                return;
        if (pgr_pathf(ctx, path, sizeof(path), "/sys/bus/pci/devices/%s/resource", p->bdf) < 0 ||
            read_full_file(path, 64 * 1024, &res, NULL) < 0)
                return;
        if (pgr_pathf(ctx, path, sizeof(path), "/sys/bus/pci/devices/%s/config", p->bdf) == 0)
                (void)read_full_file(path, 4096, &cfg, &cfg_len);

        for (const char *s = res; *s && line < 6; line++) {
                unsigned long long start = 0, end = 0, flags = 0, size;
                const char *eol = strchr(s, '\n');
                char sz[32];

                if (sscanf(s, "%llx %llx %llx", &start, &end, &flags) != 3)
                        start = end = flags = 0;
                s = eol ? eol + 1 : s + strlen(s);
                if (start == 0 && end == 0) {
                        /* nothing assigned: a memory BAR the device declares but the kernel could not place */
                        uint32_t reg;

                        if (!cfg || cfg_len < 0x10 + 4 * line + 4)
                                continue;
                        reg = le32((const unsigned char *)cfg + 0x10 + 4 * line);
                        if (reg == 0 || reg == 0xffffffff || (reg & 1) || (reg & ~0xfU) != 0)
                                continue;
                        if ((reg & 0x6) == 0x4 && cfg_len >= 0x10 + 4 * line + 8 &&
                            le32((const unsigned char *)cfg + 0x14 + 4 * line) != 0)
                                continue;
                        st = DOCTOR_FAIL;
                        dstr_addf(&bad, "%sBAR%u (%s%s)", bad.len ? ", " : "", line, (reg & 0x4) ? "64-bit " : "",
                                  (reg & 0x8) ? "prefetchable" : "memory");
                        if ((reg & 0x6) == 0x4)
                                line++; /* the upper half of a 64-bit BAR */
                        continue;
                }
                if (flags & IORESOURCE_IO)
                        continue; /* I/O BARs: legacy, never the problem */
                size = end >= start ? end - start + 1 : 0;
                format_size(size, sz, sizeof(sz));
                any = true;
                if (start == 0 || (flags & IORESOURCE_UNSET)) {
                        st = DOCTOR_FAIL;
                        dstr_addf(&bad, "%sBAR%u (%s%s)", bad.len ? ", " : "", line, sz,
                                  (flags & IORESOURCE_MEM_64) ? " 64-bit" : "");
                        if (size > FOUR_GIB)
                                large = true;
                        continue;
                }
                dstr_addf(&msg, "%sBAR%u %s%s%s%s", msg.len ? ", " : "", line, sz,
                          (flags & IORESOURCE_MEM_64) ? " 64-bit" : "", (flags & IORESOURCE_PREFETCH) ? " prefetchable" : "",
                          start >= FOUR_GIB ? " above 4 GiB" : "");
                if (size > FOUR_GIB)
                        large = true;
                if ((flags & IORESOURCE_MEM_64) && (flags & IORESOURCE_PREFETCH) && size >= HUGE_BAR && size > huge)
                        huge = size;
                /* Resizable BAR: resourceN_resize lists the sizes the card supports (bit n: 2^n MiB) */
                {
                        char attr[32], v[64];
                        unsigned long long mask;

                        snprintf(attr, sizeof(attr), "resource%u_resize", line);
                        if (sysfs_dev_read(ctx, &p->addr, attr, v, sizeof(v)) == 0 && sscanf(v, "%llx", &mask) == 1 &&
                            mask) {
                                unsigned top = 63;
                                char max[32];

                                while (top && !(mask & (1ULL << top)))
                                        top--;
                                if (top < 44 && (1ULL << (top + 20)) > size) {
                                        format_size(1ULL << (top + 20), max, sizeof(max));
                                        dstr_addf(&rebar, "%sBAR%u could be %s (Resizable BAR)", rebar.len ? ", " : "",
                                                  line, max);
                                }
                        }
                }
        }
        if (bad.len) {
                doctor_add(rep, "bar", st, p->bdf,
                           "enable Above 4G Decoding (and Resizable BAR) in the BIOS/UEFI setup; if it is on, add "
                           "pci=realloc to the kernel command line",
                           "%s not assigned: the kernel found no address space for %s%s%s%s", dstr_get(&bad),
                           strchr(dstr_get(&bad), ',') ? "them" : "it",
                           large ? " (a BAR larger than 4 GiB needs Above 4G Decoding)" : "",
                           msg.len ? "; assigned: " : "", dstr_get(&msg));
        } else if (!any)
                doctor_add(rep, "bar", DOCTOR_INFO, p->bdf, NULL, "no memory BARs listed in %s/resource", p->bdf);
        else if (huge && !vm_maps_huge_bar(d, &why)) {
                char sz[32], fix[512];

                format_size(huge, sz, sizeof(sz));
                snprintf(fix, sizeof(fix), "give VM %lu a q35 machine with OVMF and pcie=1 on %s (qm set %lu --machine "
                         "q35 --bios ovmf, with an EFI disk); if the guest still finds no space (older OVMF builds size the 64-bit window small), enlarge it: "
                         "qm set %lu --args '-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536'", d->vmid,
                         d->hostpci, d->vmid, d->vmid);
                doctor_add(rep, "bar", DOCTOR_WARN, p->bdf, fix,
                           "%s, all assigned; a %s 64-bit BAR must be mapped above 4 GiB inside the VM too, and VM %lu "
                           "%s: the guest driver then finds the BAR unassigned (Code 12 / \"BAR 1: no space\")",
                           dstr_get(&msg), sz, d->vmid, why);
        } else if (rebar.len)
                doctor_add(rep, "bar", DOCTOR_INFO, p->bdf,
                           "enable Resizable BAR (with Above 4G Decoding) in the BIOS/UEFI setup if the guest wants the "
                           "whole VRAM mapped", "%s; %s", dstr_get(&msg), dstr_get(&rebar));
        else
                doctor_add(rep, "bar", DOCTOR_OK, p->bdf, NULL, "%s, all assigned%s", dstr_get(&msg),
                           large ? " (a BAR above 4 GiB in size: Above 4G Decoding works)" : "");
        dstr_done(&msg);
        dstr_done(&bad);
        dstr_done(&rebar);
}

/* SR-IOV: a PF passed whole takes its VFs down with every reset or unbind; a VF shares its PF's
 * reset domain, so only its own FLR leaves the others alone. */
static void check_sriov(const struct doctor_device *d, struct doctor_report *rep)
{
        const struct pcidev *p = &d->dev;
        bool wider = false;

        if (!p->present || !d->vmid)
                return;
        if (p->nvidia_vgpu && !(d->entry && d->entry->mdev)) {
                char fix[160];

                snprintf(fix, sizeof(fix), "give it as %s: 0000:..,mdev=nvidia-N (a type from its "
                         "nvidia/creatable_vgpu_types)", d->hostpci[0] ? d->hostpci : "hostpciN");
                doctor_add(rep, "sriov", DOCTOR_INFO, p->bdf, fix,
                           "an NVIDIA vGPU function (nvidia/current_vgpu_type): Proxmox sets its vGPU type for "
                           "mdev=nvidia-N and neither binds nor resets it; the hook leaves it alone");
                return;
        }
        /* driver=keep and mdev= lines leave it alone anyway */
        if (d->sriov_totalvfs && d->sriov_numvfs && !(d->entry && (d->entry->mdev || d->entry->driver == HOSTPCI_DRIVER_KEEP))) {
                char fix[512];

                snprintf(fix, sizeof(fix), "pass one of its VFs instead; or stop the VMs using its VFs and echo 0 > "
                         "/sys/bus/pci/devices/%s/sriov_numvfs before VM %lu starts", p->bdf, d->vmid);
                doctor_add(rep, "sriov", DOCTOR_WARN, p->bdf, fix,
                           "an SR-IOV physical function with %u of %u VFs enabled, passed through whole: vfio-pci "
                           "refuses to bind it while they exist, unbinding its driver leaves it with none, and a "
                           "reset of it resets every VF (other VMs' VFs with it); the hook leaves it alone",
                           d->sriov_numvfs, d->sriov_totalvfs);
                return;
        }
        if (d->untouched)
                return;
        if (p->physfn[0]) {
                for (size_t i = 0; d->pd && i < d->pd->n_ladder; i++)
                        wider = wider || d->pd->ladder[i].kind != ACTION_RESET ||
                                !streq(d->pd->ladder[i].method, "flr");
                char fix[256];

                /* per VM, not per vendor:device: a VF often has its PF's device ID */
                snprintf(fix, sizeof(fix), "let the VF use only FLR: policy vms.\"%lu\".reset_methods = [\"flr\"] in "
                         "/etc/pve-gpu-reset.json", d->vmid);
                doctor_add(rep, "sriov", wider ? DOCTOR_WARN : DOCTOR_INFO, p->bdf, wider ? fix : NULL,
                           "a virtual function of %s: only its FLR is safe (a slot or bus reset, or a remove, hits the PF "
                           "and every other VF; with ARI its function number is not a slot of its own)%s", p->physfn,
                           wider ? "; the ladder goes beyond FLR" : "");
                return;
        }
}

/* The link of a card the hook reset: narrower (or slower) now than the last time a reset left it whole
 * (/run/pve-gpu-reset/link-BDF, written by apply after every reset)? The RTX 5090 report: x16 to x8
 * after an FLR, until a cold boot. Function 0 only (its Link registers govern the card's link); no
 * record, no finding: without one, a narrow link may just be the slot's wiring. */
static void check_link(const struct pgr_ctx *ctx, const struct doctor_device *d, struct doctor_report *rep)
{
        const struct pcidev *p = &d->dev;
        struct state_link rec;
        struct pcidev_link now;
        char fix[512];

        if (!p->present || p->addr.func != 0 || state_link_load(ctx, &p->addr, &rec) < 0 ||
            pcidev_read_link(ctx, &p->addr, &now) < 0)
                return;
        if (now.width >= rec.width) {
                doctor_add(rep, "link", DOCTOR_OK, p->bdf, NULL, "x%u (max x%u), as wide as after its last good reset",
                           now.width, now.max_width);
                return;
        }
        snprintf(fix, sizeof(fix), "power the host off and on (a warm reboot may not be enough); if the link narrows "
                 "after every reset, keep that reset away from the card: policy devices.\"%04x:%04x\".reset_methods "
                 "(pve-gpu-reset history --device %s shows which reset it was)", p->vendor, p->device, p->bdf);
        doctor_add(rep, "link", DOCTOR_WARN, p->bdf, fix,
                   "the PCIe link is x%u now (max x%u), it was x%u after the last reset that left it whole: a reset "
                   "narrowed it, and the card runs with %u%% of its bandwidth", now.width, now.max_width, rec.width,
                   now.width * 100 / rec.width);
}

void doctor_check_devices(const struct pgr_ctx *ctx, const struct doctor_devices *set, bool vfio_loaded,
                          bool vendor_reset_loaded, const struct kmsg_log *log, struct doctor_report *rep)
{
        for (size_t i = 0; i < set->n; i++) {
                const struct doctor_device *d = &set->v[i];
                bool group_done = false;

                check_driver(ctx, set, d, vfio_loaded, rep);
                /* one iommu-group finding per group and owner, under its first function */
                for (size_t j = 0; j < i && !group_done; j++)
                        group_done = set->v[j].dev.present && set->v[j].dev.iommu_group == d->dev.iommu_group &&
                                     set->v[j].vmid == d->vmid;
                if (d->dev.present && !group_done)
                        check_group(ctx, set, d, rep);
                check_reset(d, vendor_reset_loaded, log, rep);
                check_pin(ctx, d, rep);
                check_claim(ctx, d, rep);
                check_power(ctx, d, rep);
                check_bar(ctx, d, rep);
                check_sriov(d, rep);
                check_link(ctx, d, rep);
        }
}
