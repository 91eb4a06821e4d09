/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/context.h"
#include "doctor/doctor_device.h"
#include "doctor/doctor_report.h"
#include "kernel/kmodinfo.h"
#include "kernel/kmsg.h"

/* Facts about the host (not one device), all read through the root prefix:
 *   /proc/cmdline (running kernel's command line), /etc/kernel/cmdline (systemd-boot/proxmox-boot-tool)
 *   or /etc/default/grub (GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT) for what the next boot gets,
 *   /proc/sys/kernel/osrelease (or uname(2) on the real root), /proc/cpuinfo's vendor_id,
 *   /sys/kernel/iommu_groups, /sys/devices/system/node/node<N>/cpulist (NUMA topology),
 *   /etc/kernel/proxmox-boot-uuids (proxmox-boot-tool manages the ESPs). */
#define DOCTOR_MAX_NUMA_NODES 64
struct doctor_numa_node {
        int id;                         /* N of nodeN */
        char cpulist[512];              /* "0-13,28-41", "" unreadable */
};

struct doctor_host {
        bool have_cmdline;
        char cmdline[8192];
        char boot_file[32];             /* "/etc/kernel/cmdline", "/etc/default/grub" or "" */
        char boot_cmdline[8192];        /* what that file gives the next boot */
        char release[128];              /* "" unknown */
        unsigned kmajor, kminor;
        char cpu_vendor[32];            /* "GenuineIntel", "AuthenticAMD" or "" */
        int n_iommu_groups;             /* -1: /sys/kernel/iommu_groups missing */
        size_t n_numa_nodes;            /* 0: /sys/devices/system/node unreadable */
        struct doctor_numa_node numa_nodes[DOCTOR_MAX_NUMA_NODES]; /* in id order */
        bool proxmox_boot_tool;         /* /etc/kernel/proxmox-boot-uuids exists */
};

int doctor_host_load(const struct pgr_ctx *ctx, struct doctor_host **ret);
void doctor_host_free(struct doctor_host *h);
static inline void doctor_host_freep(struct doctor_host **h) { doctor_host_free(*h); }

/* The value of the last KEY=... word of a command line (KEY alone gives ""), NULL if absent. */
const char *cmdline_value(const char *cmdline, const char *key, char *buf, size_t size);
/* Whether some KEY=... word has VALUE among its comma-separated values ("video=efifb:off,vesafb:off"). */
bool cmdline_has(const char *cmdline, const char *key, const char *value);

/* The host-wide checks. */
void doctor_check_iommu(const struct doctor_host *h, struct doctor_report *rep);
void doctor_check_cmdline(const struct doctor_host *h, const struct doctor_devices *set, const struct kmsg_log *log,
                          struct doctor_report *rep);
/* `kernel`: the version, and the VFIO modules loaded (/sys/module) or installed (km: the module indexes
 * of /lib/modules/<release>, through libkmod). */
void doctor_check_kernel(const struct pgr_ctx *ctx, const struct doctor_host *h, const struct kmodinfo *km,
                         struct doctor_report *rep);
/* `numa`: on hosts with more than one NUMA node, each passed-through card's node against its VM's
 * affinity and numaN hostnodes. Nothing on single-node hosts. */
void doctor_check_numa(const struct doctor_host *h, const struct doctor_devices *set, struct doctor_report *rep);

/* A CPU or node list into a bitmap of max bits: "0,5,8-11" (sep ',', pve-cpuset and sysfs cpulist)
 * or "0-3;8" (sep ';', numaN cpus/hostnodes). -EINVAL when malformed or beyond max. */
#define DOCTOR_CPUSET_MAX 1024
int doctor_cpuset_parse(const char *s, size_t n, char sep, uint64_t bits[DOCTOR_CPUSET_MAX / 64]);
