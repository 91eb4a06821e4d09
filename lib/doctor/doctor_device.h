/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "doctor/doctor_report.h"
#include "kernel/pcidev.h"
#include "reset/plan.h"

/* What leaves a function untouched by the hook (plan.c: the config's skip, or what it is). */
#define UNTOUCHED_WHY "driver=keep, mdev=, an NVIDIA vGPU VF, or an SR-IOV PF with VFs enabled"

/* One PCI function the doctor examines: a function of the VM (slots expanded), or host-wide every
 * function of every VM on this node plus whatever is bound to vfio-pci. */
struct doctor_device {
        struct pcidev dev;               /* facts; dev.present may be false */
        unsigned long vmid;              /* the (first) VM that passes it through, 0: none */
        char hostpci[16];                /* "hostpci0", "" when in no VM */
        bool untouched;                  /* neither bound nor reset: UNTOUCHED_WHY */
        const struct plan_device *pd;    /* its entry in a post-stop plan, NULL when none */
        const struct vmconf *conf;       /* that VM's config, NULL when in no VM */
        const struct hostpci *entry;     /* its hostpciN line there, NULL when none */
        /* facts doctor_device_load_facts() reads from sysfs */
        int numa_node;                   /* numa_node, -1 unknown */
        unsigned sriov_totalvfs;         /* 0: no SR-IOV capability */
        unsigned sriov_numvfs;           /* VFs enabled */
        bool claimed;                    /* claimed from boot for this vendor:device (claim.h): the udev
                                          * rule gives it to vfio-pci, no ids=/softdep/blacklist needed */
};

struct doctor_devices {
        size_t n;
        struct doctor_device *v;
};

/* Reads the sysfs facts above (absent attributes leave the defaults: -1, 0). */
void doctor_device_load_facts(const struct pgr_ctx *ctx, struct doctor_device *d);
/* "10de:2204" */
void doctor_device_id(const struct doctor_device *d, char buf[static 16]);
/* The functions of the set (present ones), for the per-device checks of other modules. */
const struct doctor_device *doctor_devices_find(const struct doctor_devices *set, const struct pci_addr *a);
/* A "display" function: class 03xx. */
bool doctor_device_is_display(const struct doctor_device *d);

struct kmsg_log;

/* The per-device checks: driver, iommu-group, reset, power, bar, sriov, link. vfio_loaded tells the driver
 * check whether an unbound function means "vfio-pci not loaded yet"; vendor_reset_loaded tells the
 * reset check that vendor-reset is there and only device_specific needs choosing; log (may be
 * NULL) lets the reset check see an FLR that already hung. */
void doctor_check_devices(const struct pgr_ctx *ctx, const struct doctor_devices *set, bool vfio_loaded,
                          bool vendor_reset_loaded, const struct kmsg_log *log, struct doctor_report *rep);
