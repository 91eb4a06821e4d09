/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bdf.h"
#include "context.h"
#include "util.h"

#define VMCONF_MAX_HOSTPCI 16   /* hostpci0..hostpci15 */
#define HOSTPCI_MAX_IDS 16      /* IDs joined by ';' in one entry */
#define VMCONF_MAX_SIZE (1024 * 1024)
#define VMID_MIN 100UL
#define VMID_MAX 999999999UL

enum hostpci_driver {
        HOSTPCI_DRIVER_VFIO = 0, /* default: Proxmox binds to vfio-pci and resets */
        HOSTPCI_DRIVER_KEEP,     /* "neither reset nor bind": never touched */
};

/* One hostpciN line. Unset booleans/ints are -1. */
struct hostpci {
        bool present;
        unsigned index;     /* N of hostpciN */
        unsigned line;      /* line number in the file, 1-based */
        size_t n_ids;
        struct pci_addr ids[HOSTPCI_MAX_IDS]; /* from host=; func -1 = whole slot */
        char *mapping;      /* mapping=NAME, exclusive with host */
        int pcie, x_vga, rombar, legacy_igd;
        char *romfile;
        char *mdev;
        int vendor_id, device_id, sub_vendor_id, sub_device_id; /* 0..0xffff or -1 */
        enum hostpci_driver driver;
};

struct vmconf {
        unsigned long vmid;
        char path[PATH_MAX];            /* host path as shown to the user (without root prefix) */
        struct hostpci hostpci[VMCONF_MAX_HOSTPCI];
        char *hookscript;               /* "local:snippets/x" or NULL */
        int reboot;                     /* -1 unset (Proxmox default 1) */
        char *machine;                  /* NULL = i440fx default */
        char *bios;                     /* NULL = seabios */
        char *lock;                     /* e.g. "backup", NULL when unlocked */
};

/* "100" → 100. Only digits, VMID_MIN..VMID_MAX; anything else -EINVAL. */
int vmid_parse(const char *s, unsigned long *ret);

/* Parses one hostpci value ("0000:01:00,pcie=1,x-vga=on"). On error fills err with the reason and
 * the offending text (without file:line; vmconf_parse adds that). */
int hostpci_parse(const char *value, struct hostpci *ret, struct pgr_error *err);
void hostpci_done(struct hostpci *h);

/* Parses config text. filename is only for messages. Only the current section is read; anything
 * from the first line starting with '[' on is ignored. Errors name filename:line and the text. */
int vmconf_parse(const char *text, size_t len, const char *filename, struct vmconf **ret, struct pgr_error *err);

/* Loads /etc/pve/qemu-server/<vmid>.conf under the root prefix, or
 * /etc/pve/nodes/<migrated_from>/qemu-server/<vmid>.conf when migrated_from is non-empty.
 * -ENOENT when the VM has no config (err says which file). */
int vmconf_load(const struct pgr_ctx *ctx, unsigned long vmid, const char *migrated_from, struct vmconf **ret,
                struct pgr_error *err);
void vmconf_free(struct vmconf *c);
static inline void vmconf_freep(struct vmconf **c) { vmconf_free(*c); }
