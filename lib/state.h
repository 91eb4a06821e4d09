/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bdf.h"
#include "context.h"
#include "util.h"

#define STATE_MAX_DEVICES 64

/* What pre-start recorded for post-stop, under <root>/run/pve-gpu-reset/ (tmpfs: gone after a host
 * reboot, when every device is fresh anyway). Files are written atomically (temp + rename). */

/* vm-<vmid>.devices: the functions the VM was given, one DDDD:BB:SS.F per line. Save: -EINVAL for an
 * address without function, -E2BIG past STATE_MAX_DEVICES. */
int state_save_vm_devices(const struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *devs, size_t n);
/* -ENOENT when nothing was recorded, -EINVAL for any malformed line, -E2BIG for more than max
 * entries; ret and ret_n are untouched on failure. */
int state_load_vm_devices(const struct pgr_ctx *ctx, unsigned long vmid, struct pci_addr *ret, size_t max,
                          size_t *ret_n);
int state_forget_vm(const struct pgr_ctx *ctx, unsigned long vmid);

/* clean-<bdf>: post-stop reset this function and nothing has used it since ("vmid=N time=EPOCH").
 * mark_used removes the mark (pre-start hands the device to a VM). */
int state_mark_clean(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned long vmid, long long now);
int state_mark_used(const struct pgr_ctx *ctx, const struct pci_addr *a);
/* true when a well-formed clean mark exists and its time is newer than since (strictly; e.g. a
 * reservation time); since < 0: any time. mark_clean/mark_used: -EINVAL for an address without function. */
bool state_is_clean(const struct pgr_ctx *ctx, const struct pci_addr *a, long long since);

/* The drivers_autoprobe guard: "autoprobe-off" holds the pid of the run that set
 * /sys/bus/pci/drivers_autoprobe to 0. Written before the write, removed after the restore. */
int state_autoprobe_guard_set(const struct pgr_ctx *ctx);
int state_autoprobe_guard_clear(const struct pgr_ctx *ctx);
/* restore-<attr>-<bdf>: the value an uninterrupted run leaves in a sysfs attribute of a function
 * that a run changes for a moment (today reset_method, narrowed to one method around a reset).
 * Saved before the change, cleared after the attribute holds it again; a run killed in between
 * leaves it for the next run to write back (apply_recover_settings), and facts read meanwhile take
 * it as the truth. save keeps an existing record: it holds the value from before the interrupted
 * run, while the attribute may still hold the narrowed one. value: one line, < STATE_VALUE_MAX. */
#define STATE_VALUE_MAX 128
int state_setting_save(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, const char *value);
/* -ENOENT when there is none, -EINVAL when it is malformed. */
int state_setting_load(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf, size_t size);
int state_setting_clear(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr);
/* The functions that have a record for attr, in directory order; -ENOBUFS past max (ret holds max). */
int state_setting_list(const struct pgr_ctx *ctx, const char *attr, struct pci_addr *ret, size_t max, size_t *ret_n);

/* Pid recorded in the guard (0: no guard). Caller holds the bus lock and decides whether that pid
 * is dead (then the autoprobe setting is stale and must be restored). A guard that exists but cannot
 * be read or parsed gives a negative errno (-EINVAL): treat it as stale too. */
long state_autoprobe_guard_pid(const struct pgr_ctx *ctx);
