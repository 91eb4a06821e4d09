/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"
#include "pve/vmconf.h"

#define STATE_MAX_DEVICES 64
#define STATE_DIR PGR_RUNTIME_DIR
#define STATE_NAME_MAX 64
#define STATE_AUTOPROBE_GUARD "autoprobe-off"

/* What pre-start recorded for post-stop, under <root>/run/pve-gpu-reset/ (tmpfs: gone after a host
 * reboot, when every device is fresh anyway). Files are written atomically (temp + rename). */

/* A function pre-start handed to the VM, with what the config said about it. */
struct state_device {
        struct pci_addr addr;
        enum hostpci_use use;
};

/* vm-<vmid>.devices: the functions the VM was given. Format 2: a "format=2" line, then one
 * "DDDD:BB:SS.F USE" per line (USE: vfio, keep, mdev, mapping-mdev). Format 1 (older versions): one
 * DDDD:BB:SS.F per line, read back with use HOSTPCI_USE_UNKNOWN. Save: -EINVAL for an address without
 * function or an unknown use, -E2BIG past STATE_MAX_DEVICES. */
int state_save_vm_devices(const struct pgr_ctx *ctx, unsigned long vmid, const struct state_device *devs, size_t n);
/* -ENOENT when nothing was recorded, -EINVAL for any malformed line (or another format), -E2BIG for
 * more than max entries; ret and ret_n are untouched on failure. */
int state_load_vm_devices(const struct pgr_ctx *ctx, unsigned long vmid, struct state_device *ret, size_t max,
                          size_t *ret_n);
int state_forget_vm(const struct pgr_ctx *ctx, unsigned long vmid);

/* clean-<bdf>: this function was reset and found usable on vfio-pci ("format=2 vmid=N time=EPOCH
 * bind=FINGERPRINT"). The fingerprint is the inode and change time of its sysfs driver link, which
 * the kernel makes anew at every bind: a card that went to another driver (or was unbound) since
 * no longer matches. mark_clean refuses (-EUCLEAN) a function not on vfio-pci now, and retires the
 * used mark once the clean mark is written.
 * used-<bdf>: pre-start handed the function to a VM ("vmid=N time=EPOCH"); mark_used also removes
 * the clean mark. Both: -EINVAL for an address without function; the first error otherwise. */
int state_mark_clean(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned long vmid, long long now);
int state_mark_used(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned long vmid, long long now);
/* A clean mark is trusted only while nothing says the card was used or rebound since it was written:
 * true when a well-formed format-2 mark exists, its time is newer than since (strictly; since < 0:
 * any time), the function is on vfio-pci now with the fingerprint the mark recorded, and no used mark
 * as new as the clean mark (or unreadable) exists. When in doubt: false, and the card is reset. */
bool state_is_clean(const struct pgr_ctx *ctx, const struct pci_addr *a, long long since);

/* The file each of the calls above works on, as shown to the user ("/run/pve-gpu-reset/clean-..."). */
const char *state_vm_devices_path(unsigned long vmid, char buf[static STATE_NAME_MAX + sizeof(STATE_DIR)]);
const char *state_clean_path(const struct pci_addr *a, char buf[static STATE_NAME_MAX + sizeof(STATE_DIR)]);
const char *state_used_path(const struct pci_addr *a, char buf[static STATE_NAME_MAX + sizeof(STATE_DIR)]);

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
/* save without keeping an existing record: the value an uninterrupted run leaves changed (a pinned
 * reset_method, state_kernel_methods_save, follows the rung that worked). */
int state_setting_replace(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, const char *value);
/* -ENOENT when there is none, -EINVAL when it is malformed. */
int state_setting_load(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf, size_t size);
int state_setting_clear(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr);
/* The functions that have a record for attr, in directory order; -ENOBUFS past max (ret holds max). */
int state_setting_list(const struct pgr_ctx *ctx, const char *attr, struct pci_addr *ret, size_t max, size_t *ret_n);

/* kernel-reset_method-<bdf>: the reset methods the kernel offered for a function before this tool
 * first pinned its reset_method (a pinned "pm" or "" is no list to choose a method from; a later plan,
 * maybe under another policy, needs the kernel's). save keeps an existing record (the attribute then
 * holds a pin, not the kernel's list). /run is empty after a reboot, as the kernel's setting is. */
int state_kernel_methods_save(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *value);
/* -ENOENT when there is none, -EINVAL when it is malformed. */
int state_kernel_methods_load(const struct pgr_ctx *ctx, const struct pci_addr *a, char *buf, size_t size);
int state_kernel_methods_clear(const struct pgr_ctx *ctx, const struct pci_addr *a);

/* link-<bdf>: the function's PCIe link the last time a reset left it whole ("width=16 speed=16000",
 * speed in MT/s, 0 unknown): what the next resets and doctor compare the link with, so a link that
 * narrowed during a VM run still counts as narrowed after the next reset. Gone after a reboot. */
struct state_link {
        unsigned width, speed_mts;
};
int state_link_save(const struct pgr_ctx *ctx, const struct pci_addr *a, const struct state_link *l);
/* -ENOENT when there is none, -EINVAL when it is malformed. */
int state_link_load(const struct pgr_ctx *ctx, const struct pci_addr *a, struct state_link *ret);

/* Pid recorded in the guard (0: no guard). Caller holds the bus lock and decides whether that pid
 * is dead (then the autoprobe setting is stale and must be restored). A guard that exists but cannot
 * be read or parsed gives a negative errno (-EINVAL): treat it as stale too. */
long state_autoprobe_guard_pid(const struct pgr_ctx *ctx);
