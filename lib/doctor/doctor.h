/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "base/context.h"
#include "base/util.h"
#include "doctor/doctor_report.h"

/* `pve-gpu-reset doctor [VMID] [--json]`: the diagnostic walk an administrator does by hand, with
 * the fix for each finding. Reads only; never changes anything.
 *
 * Checks (stable ids): iommu, cmdline, kernel, modprobe, initramfs, kernel-log, vm (host-wide, slot
 * null) and driver, iommu-group, reset, pin, claim, power, bar, sriov, numa (per PCI function; numa once per
 * card and VM; cmdline and kernel-log findings about one device carry its slot too).
 *
 * Which devices: with a VMID, every function the VM's hostpciN entries (and resource mappings) give
 * it, slots expanded; host-wide (vmid 0), the functions of every VM configured on this node plus
 * every function bound to vfio-pci. The reset check reuses plan_build() (phase post-stop): it
 * reports the rung the hook would use and why. */

/* Collects the findings. Errors are bad input only: a VM config or policy that does not parse
 * (-EINVAL/-EFBIG/-EPERM..., err names file:line or key), and -ENOMEM. A missing VM config is a
 * failing `vm` finding, not an error. Host-wide, a VM config that does not parse is a `vm` finding. */
int doctor_collect(const struct pgr_ctx *ctx, unsigned long vmid, const char *config_path,
                   struct doctor_report **ret, struct pgr_error *err);
