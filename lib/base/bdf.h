/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A PCI function address. func < 0 means "every function of the slot" (a Proxmox ID without .F). */
struct pci_addr {
        unsigned domain; /* 0..0xffffffff: 0000-ffff, and 10000 up for Intel VMD */
        unsigned bus;    /* 0..0xff */
        unsigned slot;   /* 0..0x1f */
        int func;        /* 0..7, or -1 for the whole slot */
};

#define PCI_ADDR_STRLEN 20 /* "dddddddd:bb:ss.f" + NUL, rounded */

/* Proxmox syntax: (DDDD:)?BB:SS(.F)?, hex, case-insensitive on input; the domain has 4 to 8 digits,
 * no leading 0 beyond 4 (the kernel's %04x). */
int pci_addr_parse(const char *s, struct pci_addr *ret);
/* Strict sysfs syntax: DDDD:BB:SS.F (domain and function mandatory). */
int pci_addr_parse_full(const char *s, struct pci_addr *ret);
/* "0000:01:00.0", or "0000:01:00" when func < 0. Returns buf. */
const char *pci_addr_format(const struct pci_addr *a, char buf[static PCI_ADDR_STRLEN]);
/* A device ID as the tool writes it (policy keys, claim records): "10de:2b85", exactly four lower-case
 * hex digits, a colon, four more; -EINVAL otherwise. Proxmox's "0x10de" (vmconf) and the kernel's
 * "%x:%x" (vfio-pci ids=, doctor_modprobe) are other formats, read the way their owners read them. */
int pci_id_parse(const char *s, unsigned *ret_vendor, unsigned *ret_device);
bool pci_addr_eq(const struct pci_addr *a, const struct pci_addr *b);
bool pci_addr_same_slot(const struct pci_addr *a, const struct pci_addr *b);
int pci_addr_cmp(const struct pci_addr *a, const struct pci_addr *b);
/* The entries of directory dir named prefix + a full address (DDDD:BB:SS.F), sorted. -ENOBUFS when
 * there are more than max (ret then holds max of them: a caller that must see all counts that as
 * failure); -errno when dir cannot be opened. */
int pci_addr_list_dir(const char *dir, const char *prefix, struct pci_addr *ret, size_t max, size_t *ret_n);
