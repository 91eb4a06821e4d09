/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "base/context.h"

/* A stand-in for the kernel's reactions to sysfs writes on a fixture tree, plugged in through the
 * context's sysfs seam: remove moves a device away, a rescan brings it back (bound to its host driver
 * when drivers_autoprobe is 1, as the real race goes), drivers_probe honours driver_override,
 * reset_method/reset follow the kernel's rules (a per-function "bus" reset fails with ENOTTY when the
 * device is not alone on its bus). Faults can be injected per path suffix. */

#define FK_MAX_FAULTS 16
#define FK_MAX_LOG 256
#define FK_MAX_DEVS 64

struct fk_fault {
        char suffix[128];
        char value[32]; /* "" matches any value */
        int error;      /* positive errno */
        int count;      /* times to fail; -1 forever */
};

struct fk_dev {
        char bdf[16];
        char orig_driver[64];
        char orig_methods[128];
        char orig_path[2048];   /* canonical directory while present */
        bool removed;
        bool dead;              /* never comes back after a remove */
        bool unpowered;         /* its slot is powered off: no rescan finds it */
        int not_ready_reads;    /* > 0: that many more reads of its config read all ones (still
                                 * initialising after a reset: what pci_dev_wait waits out) */
        int rescan_group;       /* > 0: comes back from a rescan in this IOMMU group */
};

/* What a hotplug slot's power write 1 does (pciehp: pciehp_sysfs_enable_slot). */
enum fk_power_on {
        FK_POWER_ON_RETURNS,    /* the functions come back (after power_on_delay_ms), bound as a rescan binds */
        FK_POWER_ON_ENODEV,     /* the write fails with ENODEV and nothing comes back: what QEMU does, which
                                 * completes an unplug when the guest powers a slot off (e2e vanish.sh) */
};

/* What a write changes in the fake kernel, in memory shared with child processes: apply makes some
 * writes from a child (a host driver's unbind, which can block), and they count like any other. */
struct fk_shared {
        struct fk_fault faults[FK_MAX_FAULTS];
        int n_faults;
        char log[FK_MAX_LOG][160]; /* "<path below root>=<value>" of every write attempted */
        int n_log;
};

struct fakekernel {
        char root[1024];
        struct fk_shared *sh;   /* mmap(MAP_SHARED); fk_done unmaps it */
        struct fk_dev devs[FK_MAX_DEVS];
        int n_devs;
        int n_reads;
        /* The kernel attaches a rescanned PCI device itself (pci_bus_add_device → device_attach), whatever
         * drivers_autoprobe says; drivers_autoprobe only stops a driver module loaded meanwhile. */
        bool autoprobe_blocks_rescan_bind;
        /* A driver whose probe fails (vfio-pci on a device without an IOMMU group): binds nothing, and
         * drivers_probe still reports success, as the kernel's drivers_probe_store does. */
        char probe_fails[64];
        /* Called before each write; a non-zero return is the write's result (negative errno). */
        int (*before_write)(struct fakekernel *fk, const char *rel, const char *value);
        void *userdata;
        /* sys/bus/pci/slots/N/power: 0 removes every function on the slot's bus (pciehp
         * pciehp_unconfigure_device), 1 does what power_on says. A delayed return is made by a child
         * process (the waits poll with access(), which no hook sees); fk_done reaps it. */
        enum fk_power_on power_on;
        unsigned power_on_delay_ms;
        int power_children[8];
        int n_power_children;
};

/* Scans <root>/sys/bus/pci/devices and points ctx at the fake ops. */
void fk_init(struct fakekernel *fk, struct pgr_ctx *ctx, const char *root);
void fk_done(struct fakekernel *fk);
void fk_fail(struct fakekernel *fk, const char *suffix, const char *value, int error, int count);
void fk_dead(struct fakekernel *fk, const char *bdf);
/* bdf comes back from its next rescans in IOMMU group `group`: groups renumber across remove +
 * rescan (seen on Debian's 6.1 and 6.12 kernels). */
void fk_renumber_group_on_rescan(struct fakekernel *fk, const char *bdf, int group);
/* The next n reads of bdf's config (through the sysfs seam) read all ones, then the real bytes again. */
void fk_not_ready_for(struct fakekernel *fk, const char *bdf, int n);
/* Overwrites bdf's config space with 0xff bytes (same size): a function that fell off the bus. */
void fk_config_all_ones(struct fakekernel *fk, const char *bdf);
/* Number of writes whose path ends with suffix (and whose value equals value, if non-NULL). */
int fk_count(const struct fakekernel *fk, const char *suffix, const char *value);
/* Reads <root>/rel into buf (trailing newline stripped); "" when missing. */
const char *fk_cat(const struct fakekernel *fk, const char *rel, char *buf, size_t size);
const char *fk_driver(const struct fakekernel *fk, const char *bdf, char *buf, size_t size);
