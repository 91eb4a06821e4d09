/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/bdf.h"
#include "base/context.h"

/* All sysfs access goes through here: root-prefixed, through ctx->ops, trailing newline stripped.
 * abs paths are absolute host paths ("/sys/bus/pci/drivers_autoprobe"). */
int sysfs_read(const struct pgr_ctx *ctx, const char *abs, char *buf, size_t size);
int sysfs_write(const struct pgr_ctx *ctx, const char *abs, const char *value);

/* Basename of the target of the symlink at abs ("/sys/bus/pci/drivers/xhci_hcd/module" → "xhci_pci"). */
int sysfs_link(const struct pgr_ctx *ctx, const char *abs, char *buf, size_t size);

/* Attributes of /sys/bus/pci/devices/<addr>/<attr> (attr may contain '/', e.g. "power/control"). */
int sysfs_dev_read(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf, size_t size);
int sysfs_dev_write(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, const char *value);
int sysfs_dev_read_hex(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, unsigned *ret);
bool sysfs_dev_has(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr);
bool sysfs_dev_present(const struct pgr_ctx *ctx, const struct pci_addr *a);
/* Basename of a symlink's target ("driver" → "vfio-pci", "iommu_group" → "14"); -ENOENT if absent. */
int sysfs_dev_link(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *link, char *buf, size_t size);
/* Canonical sysfs directory of the device, root prefix included. */
int sysfs_dev_realpath(const struct pgr_ctx *ctx, const struct pci_addr *a, char *buf, size_t size);
/* <root>/sys/bus/pci/devices/<bdf>[/<attr>] (attr NULL: the kernel's link to the device's directory).
 * -EINVAL for a whole-slot address, -ENAMETOOLONG past size. */
int sysfs_dev_path(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf, size_t size);
