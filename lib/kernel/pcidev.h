/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bdf.h"
#include "base/context.h"

#define PCIDEV_MAX_METHODS 8
#define PCIDEV_MAX_RELATED 64

/* libpci plus sysfs, opened once per run: libpci's sysfs method pointed at <root>/sys/bus/pci with
 * our own error handler (the default one calls exit(1)). */
struct pcidev_access;
int pcidev_access_new(const struct pgr_ctx *ctx, struct pcidev_access **ret);
void pcidev_access_free(struct pcidev_access *acc);
/* The hook has no use for pci.ids names, and parsing pci.ids is most of a no-op run's time. */
void pcidev_access_skip_names(struct pcidev_access *acc);
static inline void pcidev_access_freep(struct pcidev_access **a) { pcidev_access_free(*a); }

/* Facts about one function at one moment. Strings are "" when unknown/absent; ints -1. */
struct pcidev {
        struct pci_addr addr;
        char bdf[PCI_ADDR_STRLEN];
        bool present;
        unsigned vendor, device, sub_vendor, sub_device;
        unsigned class_code;            /* 24-bit, e.g. 0x030000; class_code >> 8 is "0300" */
        unsigned header_type;           /* low 7 bits; 0 endpoint, 1 bridge */
        bool multifunction;             /* header type bit 7 */
        char name[160];                 /* pci.ids "Vendor Device" or "" */
        char driver[64];                /* bound driver, "" when none */
        char driver_override[64];       /* "" when "(null)"; not read by pcidev_probe (its show takes the
                                         * device lock, which a stuck driver may hold for good):
                                         * pcidev_read_driver_override, for doctor */
        int iommu_group;
        size_t n_group_members;
        struct pci_addr group_members[PCIDEV_MAX_RELATED]; /* includes the device itself */
        bool group_members_complete;    /* false: cut at PCIDEV_MAX_RELATED or unreadable */
        bool has_reset;                 /* "reset" attribute exists */
        bool has_reset_method;          /* "reset_method" attribute exists (kernel 5.15+) */
        size_t n_reset_methods;
        char reset_methods[PCIDEV_MAX_METHODS][16]; /* as the kernel lists them, in order */
        bool config_readable;           /* config space read and not all 0xff */
        bool ext_config_read;           /* the extended config space (past 256 bytes) was read: what it
                                         * holds (has_dsn) is known */
        bool has_dsn;                   /* a PCIe Device Serial Number capability: dsn is the card's */
        uint64_t dsn;
        bool is_pcie;
        int pcie_type;                  /* PCIe Device/Port type (0 endpoint, 1 legacy, 4 root port,
                                         * 5/6 switch up/downstream, 9 RC integrated), -1 not PCIe */
        bool flr_capable;               /* PCIe DevCap FLR */
        bool af_flr_capable;            /* Advanced Features cap with FLR */
        bool has_pm;
        bool pm_no_soft_reset;
        int pm_state;                   /* 0..3 from PMCSR, -1 unknown */
        int aspm_ctl;                   /* LNKCTL ASPM bits 0..3, -1 unknown (or no link) */
        int d3cold_allowed;             /* -1 absent */
        char power_control[16];         /* "on", "auto", "" */
        char power_state[16];           /* sysfs power_state ("D0", "D3cold", "unknown"), "" */
        int boot_vga;                   /* -1 absent */
        size_t n_link_aspm;             /* sysfs link/..._aspm attributes present */
        char link_aspm[8][24];
        char slot_name[32];             /* /sys/bus/pci/slots/<name> whose address is this slot, "" */
        bool slot_power;                /* that slot has a power attribute (a hotplug controller, pciehp) */
        bool has_reset_subordinate;     /* this device (a bridge) has "reset_subordinate" */
        bool has_parent;                /* false: on a root bus */
        struct pci_addr parent;         /* the upstream bridge */
        bool parent_has_reset_subordinate;
        size_t n_below_parent;          /* every function on the parent's secondary bus and further down */
        struct pci_addr below_parent[PCIDEV_MAX_RELATED];
        bool below_parent_complete;     /* false: cut at PCIDEV_MAX_RELATED or unreadable: a safety check
                                         * over below_parent must then fail closed */
        bool alone_on_bus;              /* no other function on this device's bus */
        char physfn[PCI_ADDR_STRLEN];   /* an SR-IOV virtual function: its PF (the physfn link), else "" */
        unsigned sriov_numvfs;          /* an SR-IOV PF: VFs enabled now (sriov_numvfs), else 0 */
        bool nvidia_vgpu;               /* nvidia/current_vgpu_type: a function NVIDIA's vGPU host driver
                                         * (kernel 6.8+) hands out through Proxmox's mdev=nvidia-N */
};

/* Whether the start of a function's config space (len bytes read: IDs, then Command/Status) shows
 * a function that answers rather than all ones. An SR-IOV VF's Vendor and Device ID registers read
 * FFFFh (SR-IOV spec; drivers/pci/pci.c pci_device_is_present asks the PF "since VF Vendor/Device
 * IDs are 0xffff", pci_dev_wait reads Command): for a VF, Command/Status decide. */
bool pcidev_config_alive(const uint8_t *head, size_t len, bool virtfn);

/* Facts for one function (addr->func >= 0). A device that is not present gives 0 with present=false.
 * Identity (vendor, device, subsystem, class) is the kernel's (sysfs), so a device whose config space
 * reads all 0xff (config_readable=false) still shows what it was; capabilities come from config space.
 * Facts that cannot be read stay at their "unknown" value; only -EINVAL/-ENOMEM are errors. */
int pcidev_probe(struct pcidev_access *acc, const struct pci_addr *addr, struct pcidev *ret);
/* pcidev_probe, taking what addr shares with sibling from it: sibling is a function probed just
 * before, with nothing written in between (or NULL). Of the same slot: the slot, the bus neighbours,
 * the bridge above and everything below it; of the same IOMMU group: the group's members. */
int pcidev_probe_near(struct pcidev_access *acc, const struct pci_addr *addr, const struct pcidev *sibling,
                      struct pcidev *ret);
/* reset_methods from a kernel-style list ("flr bus"); pcidev_probe fills it from the reset_method
 * attribute, which may hold a narrowed value (a pin): the reset layer puts the function's own list back
 * (plan_probe_function). */
void pcidev_set_reset_methods(struct pcidev *p, const char *list);
/* p->driver_override from sysfs ("" when "(null)" or unreadable). drivers/pci/pci-sysfs.c
 * driver_override_show takes the device lock: this blocks while a driver stuck in its probe or remove
 * holds it, so the hook never calls it (no plan decides on it). */
void pcidev_read_driver_override(const struct pgr_ctx *ctx, struct pcidev *p);
/* pcidev_access_new: -ENOENT/-ENOTDIR/-EACCES when <root>/sys/bus/pci/devices is not a readable
 * directory (checked before libpci is initialised, so libpci never sees a missing tree). */

/* The function's canonical sysfs path below /sys/devices ("pci0000:00/0000:00:01.0/0000:01:00.0"):
 * where it hangs, port by port. -ENAMETOOLONG past size, -ENOENT when absent. */
int pcidev_sysfs_path(const struct pgr_ctx *ctx, const struct pci_addr *addr, char *buf, size_t size);

/* The IOMMU group number of a function (its iommu_group link), or a negative errno (-ENOENT: none). */
int pcidev_iommu_group(const struct pgr_ctx *ctx, const struct pci_addr *addr);
/* A PCI bridge (switch port, root port): never a collateral function of a VM. */
bool pcidev_is_bridge(const struct pgr_ctx *ctx, const struct pci_addr *addr);

/* The functions present in slot (DDDD:BB:SS), in function order. -ENOBUFS if more than max. */
int pcidev_slot_functions(const struct pgr_ctx *ctx, const struct pci_addr *slot, struct pci_addr *ret,
                          size_t max, size_t *ret_n);
/* Every function on the bridge's secondary bus and below, in address order (the canonical sysfs
 * directories under the bridge's). -ENOENT if the bridge is absent; -ENOBUFS if more than max (ret
 * and *ret_n then hold the first max found). */
int pcidev_below_bridge(const struct pgr_ctx *ctx, const struct pci_addr *bridge, struct pci_addr *ret,
                        size_t max, size_t *ret_n);
/* The physical slot (sys/bus/pci/slots/NAME/address = DDDD:BB:SS) addr sits in, also for a function
 * that is gone (the slot stays while it is powered off): 0 and its name, -ENOENT when none. */
int pcidev_find_slot(const struct pgr_ctx *ctx, const struct pci_addr *addr, char *ret_name, size_t size);

/* The link as the kernel reports it (current_link_width/speed, max_link_width/speed); 0 where an
 * attribute is absent or says "Unknown". Speeds in MT/s ("16.0 GT/s PCIe" = 16000). */
struct pcidev_link {
        unsigned width, max_width;
        unsigned speed_mts, max_speed_mts;
};
/* -ENOENT when the function shows no current link width (no PCIe link, or gone). */
int pcidev_read_link(const struct pgr_ctx *ctx, const struct pci_addr *addr, struct pcidev_link *ret);

/* Config-space writes through libpci, for what sysfs has no attribute for. Both return -ENODEV when
 * the device is absent, -EIO when its config space does not answer (reads all 0xff) or the write
 * fails. */
/* Clears the ASPM Control bits of the function's PCIe Link Control register (when the kernel offers
 * no link/<state>_aspm attributes). 0 also when they were clear already; -EOPNOTSUPP without a
 * PCIe link (conventional PCI, root complex integrated endpoint). */
int pcidev_aspm_disable(struct pcidev_access *acc, const struct pci_addr *dev);
/* Sets (on) or clears the Secondary Bus Reset bit (6) of a bridge's Bridge Control register,
 * the libvirt way: assert, wait >= 1 ms, deassert, let the link retrain. -ENOTTY if not a bridge. */
int pcidev_bridge_secondary_reset(struct pcidev_access *acc, const struct pci_addr *bridge, bool on);

/* The kernel's pcie_retrain_link (drivers/pci/pci.c): on a root port or switch downstream port, wait
 * for Link Status "Link Training" to clear, set Link Control "Retrain Link" (bit 5), wait for Link
 * Training to clear again; each wait at most timeout_ms. -ENOTTY when port is not a root or downstream
 * port (only those may retrain their link), -ETIMEDOUT when training does not end. */
int pcidev_link_retrain(struct pcidev_access *acc, const struct pci_addr *port, unsigned timeout_ms);

/* "0300" style class string for JSON. */
void pcidev_class_str(const struct pcidev *d, char buf[static 8]);
bool pcidev_has_method(const struct pcidev *d, const char *method);
