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

/* What a VM's config says about one of its functions, as far as touching it goes: recorded by
 * pre-start for post-stop, and the one input of plan_use_skip_reason. */
enum hostpci_use {
        HOSTPCI_USE_UNKNOWN = 0,  /* recorded by a version that did not say (state format 1) */
        HOSTPCI_USE_VFIO,         /* Proxmox binds it to vfio-pci and resets it: so do we */
        HOSTPCI_USE_KEEP,         /* driver=keep */
        HOSTPCI_USE_MDEV,         /* mdev=TYPE: the parent of a mediated device */
        HOSTPCI_USE_MAPPING_MDEV, /* mapping=NAME of a mapping with "mdev 1" */
        _HOSTPCI_USE_MAX,
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
        /* For doctor's NUMA check only, stored as written and never an error (the hook must not refuse
         * a config over them): affinity (pve-cpuset "0,5,8-11"), numa (boolean, -1 unset or not a
         * boolean) and numa0..numa7 (property strings "cpus=0-3,hostnodes=1,memory=4096,policy=bind"). */
        char *affinity;
        int numa;
#define VMCONF_MAX_NUMA 8               /* qemu-server PVE/QemuServer/Memory.pm $MAX_NUMA */
        char *numa_nodes[VMCONF_MAX_NUMA];
};

/* "100" → 100. Only digits, no leading zero ("0100"), VMID_MIN..VMID_MAX; anything else -EINVAL. */
int vmid_parse(const char *s, unsigned long *ret);

/* Parses one hostpci value ("0000:01:00,pcie=1,x-vga=on") like parse_property_string: empty segments
 * are skipped, a segment without '=' is the ID list, duplicate/unknown options and empty values are
 * errors, booleans are case-insensitive, vendor-id & co. are 0x + 4 hex digits. IDs that no kernel can
 * have (device > 1f, function > 7, domain > ffff) are errors although Proxmox's regex takes them.
 * On error (-EINVAL, -ENOMEM) fills err with the reason and the offending text (without file:line;
 * vmconf_parse adds that) and leaves ret untouched. */
int hostpci_parse(const char *value, struct hostpci *ret, struct pgr_error *err);
void hostpci_done(struct hostpci *h);

/* Parses config text (len bytes, no NUL needed; never reads past len). filename is only for messages
 * and c->path. Only the current section is read; anything from the first line starting with '[' on is
 * ignored. Blank and '#' (description) lines are skipped, CRLF is fine. Lines must be
 * "key: value" with qemu-server's key syntax [a-z][a-z_-]*[0-9]*; keys other than hostpci0..15,
 * hookscript, reboot, machine, bios, lock, affinity, numa, numa0..7 are not stored (their value may be empty). Errors, naming
 * filename:line: a malformed line, a key given twice, hostpci16/hostpciX, an empty value of a stored
 * key, a bad hostpci value, a NUL byte anywhere (-EINVAL), more than VMCONF_MAX_SIZE bytes (-EFBIG). */
int vmconf_parse(const char *text, size_t len, const char *filename, struct vmconf **ret, struct pgr_error *err);

/* Loads /etc/pve/qemu-server/<vmid>.conf under the root prefix, or
 * /etc/pve/nodes/<migrated_from>/qemu-server/<vmid>.conf when migrated_from is non-empty (a node name
 * with '/', a leading '.' or control characters is -EINVAL). c->path is the path without the prefix.
 * -ENOENT when the VM has no config ("VM 100: no config at /etc/pve/qemu-server/100.conf"),
 * -ELOOP, -EFBIG, other read errors and parse errors with a message in err. */
int vmconf_load(const struct pgr_ctx *ctx, unsigned long vmid, const char *migrated_from, struct vmconf **ret,
                struct pgr_error *err);
void vmconf_free(struct vmconf *c);
/* Every VMID with a config in /etc/pve/qemu-server (this node's), ascending; none when the
 * directory is missing. The caller frees *ret. */
int vmconf_list_vmids(const struct pgr_ctx *ctx, unsigned long **ret, size_t *ret_n);
static inline void vmconf_freep(struct vmconf **c) { vmconf_free(*c); }

/* Helpers for the Proxmox syntaxes shared with mapping.c. All take (s, n) and never read past n. */

/* ID[;ID...] with Proxmox's PCI ID syntax (case-insensitive), narrowed to addresses that can exist
 * (domain <= ffff, device <= 1f, function <= 7). need_domain: the mapping 'path' form. On error
 * writes the reason to why ("invalid PCI ID '00:ff.1': device number ff is out of range (00-1f)"),
 * -E2BIG past max IDs. */
int vmconf_pci_ids_parse(const char *s, size_t n, bool need_domain, struct pci_addr *ids, size_t max,
                         size_t *ret_n, char *why, size_t why_size);
/* pve-configid: [a-z][a-z0-9_-]+ (case-insensitive), as used for mapping names. */
bool vmconf_configid_valid(const char *s, size_t n);
/* 1|on|yes|true → 1, 0|off|no|false → 0, case-insensitive as in PVE::JSONSchema. */
bool vmconf_boolean_parse(const char *s, size_t n, int *ret);
/* Copies s for an error message: control and non-ASCII bytes become '?', long text ends in "...". */
#define VMCONF_QUOTE_MAX 128
const char *vmconf_quote(const char *s, size_t n, char *buf, size_t size);
