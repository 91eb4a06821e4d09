/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/context.h"
#include "doctor/doctor_device.h"
#include "doctor/doctor_report.h"
#include "kernel/kmodinfo.h"

/* What modprobe and the boot will do with the host's GPU drivers and vfio-pci: the modprobe.d
 * configuration as libkmod parses it (kmodinfo_config_foreach: blacklist, install, options, softdep),
 * each entry placed at the file and line a scan of the same files finds it on; then the module options
 * of the kernel command line (kmod appends those last, so they win). Boot-time loading: /etc/modules
 * and /etc/modules-load.d/ (plus /run, /usr/lib/modules-load.d: systemd-modules-load's, not kmod's).
 * Module names compare with '-' = '_'. */

enum modprobe_kind {
        MODPROBE_BLACKLIST,     /* blacklist M; modprobe.blacklist=M; module_blacklist=M */
        MODPROBE_INSTALL_FALSE, /* install M /bin/false|/bin/true: never loads */
        MODPROBE_VFIO_IDS,      /* options vfio-pci ids=...; vfio-pci.ids=... (value: the id list) */
        MODPROBE_SOFTDEP_VFIO,  /* softdep M pre: ... vfio-pci ... (M = the module) */
        MODPROBE_SOFTDEP_BROKEN,/* softdep M pre:vfio-pci (no space: kmod ignores it) */
        MODPROBE_LOAD,          /* M listed in /etc/modules or modules-load.d */
        MODPROBE_VFIO_RESET_METHOD, /* options vfio-pci reset_method=...: no such parameter (value: it) */
        _MODPROBE_KIND_MAX,     /* not a kind: one past the last (for range checks that must grow with it) */
};

struct modprobe_entry {
        enum modprobe_kind kind;
        char module[64];        /* normalized: '-' → '_' */
        char value[512];
        char file[256];         /* host path without root prefix, "/proc/cmdline" for the command line,
                                 * "" when libkmod has the entry and the scan found no line for it */
        unsigned line;          /* 0 for the command line and for "" */
};

struct modprobe_conf {
        size_t n, alloc;
        struct modprobe_entry *v;
        size_t n_files;         /* modprobe.d files read */
        /* the newest modprobe.d / modules / modules-load.d file that concerns vfio (names it) or
         * blacklists a GPU driver: what the initramfs must have seen; 0 none */
        time_t newest_mtime;
        char newest_file[256];
};

/* km: the libkmod view of the root's modprobe.d. cmdline: the running kernel's command line ("" when
 * unknown). -ENOMEM only: unreadable files are skipped. */
int modprobe_conf_load(const struct pgr_ctx *ctx, const struct kmodinfo *km, const char *cmdline,
                       struct modprobe_conf **ret);
void modprobe_conf_free(struct modprobe_conf *c);
static inline void modprobe_conf_freep(struct modprobe_conf **c) { modprobe_conf_free(*c); }

/* Scans one modprobe.d file's text for the lines of the kinds above, with their line numbers (the
 * loader's locator; tests and the fuzzer call it directly). */
int modprobe_conf_parse(struct modprobe_conf *c, const char *text, const char *file);

/* Entry of this kind for module (NULL: any module), or NULL. */
const struct modprobe_entry *modprobe_conf_find(const struct modprobe_conf *c, enum modprobe_kind kind,
                                                const char *module);
/* Blacklisted in any way (blacklist, install /bin/false, modprobe.blacklist=, module_blacklist=). */
const struct modprobe_entry *modprobe_conf_blacklisted(const struct modprobe_conf *c, const char *module);
/* The ids= value that takes effect (the last one given), or NULL; ret_count: how many were given. */
const struct modprobe_entry *modprobe_conf_vfio_ids(const struct modprobe_conf *c, size_t *ret_count);
/* "10de:2204" listed in an ids= value ("10de:2204,10de:1aef" or with :subvendor... fields). */
bool modprobe_ids_has(const char *ids, unsigned vendor, unsigned device);

/* What the modprobe check needs to know about the running kernel. */
struct modprobe_kernel {
        const char *release;            /* "6.8.12-4-pve", "" when unknown */
        unsigned major, minor;          /* 0 when unknown */
        const struct kmodinfo *modules; /* the running kernel's module indexes */
};

/* The `modprobe` check for the device set: vfio-pci ids= against every function's vendor:device,
 * blacklists and softdeps for the host drivers that could claim them (the modules whose aliases match
 * a function's modalias, k->modules, and the module of the driver bound to it), vfio-pci loaded at boot,
 * options vfio-pci has no use for (reset_method=). */
void doctor_check_modprobe(const struct pgr_ctx *ctx, const struct modprobe_conf *c, const struct doctor_devices *set,
                           const struct modprobe_kernel *k, struct doctor_report *rep);
/* The `initramfs` check: /boot/initrd.img-<release> of the running kernel older than the newest file
 * that concerns vfio (c->newest_*): modules loaded from the initramfs do not see the change.
 * proxmox_boot_tool: /etc/kernel/proxmox-boot-uuids exists (the ESPs need a refresh too). */
void doctor_check_initramfs(const struct pgr_ctx *ctx, const struct modprobe_conf *c, const char *release,
                            bool proxmox_boot_tool, struct doctor_report *rep);
