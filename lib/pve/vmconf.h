/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"

#define VMCONF_MAX_HOSTPCI 16   /* hostpci0..hostpci15 (qemu-server PCI.pm $MAX_HOSTPCI_DEVICES) */
#define VMCONF_MAX_WARNINGS 32  /* kept in struct vmconf; the rest are only counted */
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
        struct pci_addr *ids; /* from host= (any number, joined by ';'); func -1 = whole slot */
        char *mapping;      /* mapping=NAME, exclusive with host */
        int pcie, x_vga, rombar, legacy_igd;
        char *romfile;
        char *mdev;
        int vendor_id, device_id, sub_vendor_id, sub_device_id; /* 0..0xffff or -1 */
        enum hostpci_driver driver;
};

/* A line Proxmox skips or a value it drops (with a warning, or silently where Proxmox is silent
 * about it but the hook must say why it leaves a device alone). */
struct vmconf_warning {
        unsigned line; /* 1-based */
        char *msg;     /* "FILE:LINE: ..." */
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
        struct vmconf_warning *warnings; /* in file order, at most VMCONF_MAX_WARNINGS */
        size_t n_warnings;
        size_t n_warnings_dropped;      /* warnings beyond VMCONF_MAX_WARNINGS */
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

/* Parses one hostpci value ("0000:01:00,pcie=1,x-vga=on") exactly as Proxmox does:
 * pve-common PVE::JSONSchema::parse_property_string (propstr.h) against qemu-server PCI.pm's
 * $hostpci_fmt, then the pattern of each key: host is $PCIRE(;$PCIRE)* with lower-case hex only and
 * a domain of 4 or more digits, romfile is [^,;]+, mdev is [^/.:]+, vendor-id & co. are
 * ^0x[0-9a-fA-F]{4}$, driver is vfio|keep, mapping is a pve-configid. A CR or LF in the value is an
 * error too (QemuServer.pm check_type).
 * -EINVAL: Proxmox drops this value when it reads the config (it warns "unable to parse value of
 *   'hostpciN'") and starts the VM without the device.
 * -ENXIO: Proxmox keeps the value but PCI.pm parse_hostpci refuses the start: both or neither of
 *   host and mapping, or an ID no device can have (device > 1f, function > 7, a domain longer than
 *   4 digits with a leading 0 or longer than 8) — SysFSTools::lspci finds nothing, "no PCI device
 *   found".
 * -ENOMEM. On error err has the reason (without file:line) and ret is untouched. */
int hostpci_parse(const char *value, struct hostpci *ret, struct pgr_error *err);
void hostpci_done(struct hostpci *h);

/* Parses config text (len bytes, never read past len) like qemu-server QemuServer.pm
 * parse_vm_config, non-strict (what a VM start uses): lines are split at LF; blank lines and '#'
 * lines (the description) are skipped; a section header (^\[[^\]]*\]\s*$: [PENDING] in any case,
 * [special:cloudinit], [snapshot], also an unknown one) ends the current config; "key: value" lines
 * with key [a-z][a-z_-]*[0-9]* and a non-empty value are read (value trimmed), a later line of the
 * same key wins silently, but a value Proxmox cannot parse leaves the earlier one in place. What
 * Proxmox skips with a warning is skipped here with a warning in ret->warnings: a line that is not
 * "key: value" (leading space, upper case key, a UTF-8 BOM, a shell command, a malformed "[x"
 * header), hostpci16 and other hostpci keys Proxmox does not know, a hostpci value hostpci_parse
 * rejects (-ENXIO ones too: Proxmox would refuse the start, the hook leaves them alone), a reboot
 * value that is not a boolean, "delete:" (only allowed in [PENDING]). Other unknown keys are not
 * warned about (we do not carry Proxmox's whole schema). A line "...snapstate: prepare|delete" is
 * skipped silently, as Proxmox takes it for the snapshot state. A NUL is an ordinary byte; a stored
 * string value with one is skipped with a warning. Only hostpci0..15, hookscript, reboot, machine,
 * bios, lock, affinity, numa and numa0..7 are stored. filename is for messages and c->path ("N.conf" gives "vm N - ").
 * Errors: more than VMCONF_MAX_SIZE bytes (-EFBIG), -ENOMEM. */
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

/* ID[;ID...] exactly as Proxmox's patterns take it, then narrowed to what can name a device:
 * need_domain false: qemu-server PCI.pm $PCIRE (hostpci host=):
 *   (?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?
 * need_domain true: pve-guest-common src/PVE/Mapping/PCI.pm $PCI_RE (pci.cfg path=), the same with
 * the domain required and its "\." any character (a double-quoted string), so "0000:01:00x0" matches
 * and names no device (-ENXIO). Lower-case hex only, any number of IDs, domains of 4 to 8 digits.
 * -EINVAL: the pattern does not match (Proxmox drops the value); -ENXIO: it matches but no device
 * can have the ID (device > 1f, function > 7, a domain the kernel cannot print): Proxmox's lspci
 * finds nothing. Reason in why. Allocates *ret_ids (free()). */
int vmconf_proxmox_pci_ids_parse(const char *s, size_t n, bool need_domain, struct pci_addr **ret_ids,
                                 size_t *ret_n, char *why, size_t why_size);
/* pve-configid: [a-z][a-z0-9_-]+ (case-insensitive), as used for mapping names. */
bool vmconf_configid_valid(const char *s, size_t n);
