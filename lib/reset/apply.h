/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "base/lock.h"
#include "kernel/pcidev.h"
#include "log/journal.h"
#include "reset/plan.h"

/* The slot locks a run holds, taken in address order. A run that rescans a missing function
 * (apply_rescan_missing) keeps them until apply_plan has bound and pinned what came back: the udev
 * rule's `claim --udev` at the rescan's add event must find the slot held (claim_udev). */
struct apply_slot_locks {
        size_t n;
        struct pci_addr slots[PLAN_MAX_DEVICES];
        struct pgr_lock locks[PLAN_MAX_DEVICES];
};
/* On the stack of every hook run, twice: keep it small (make bench B1; with a PATH_MAX per lock it was
 * 257 KiB, 120 page faults, 1.5 ms of a 10 ms no-op run), and set it up with apply_slot_locks_init
 * (only n counts) rather than zeroing it. */
_Static_assert(sizeof(struct apply_slot_locks) <= 4096, "apply_slot_locks is on the stack of every hook run");
static inline void apply_slot_locks_init(struct apply_slot_locks *l)
{
        l->n = 0;
}
void apply_slot_locks_release(struct apply_slot_locks *l);
static inline void apply_slot_locks_releasep(struct apply_slot_locks *l) { apply_slot_locks_release(l); }

/* Executes a plan through sysfs, each step verified by its effect: present, same vendor:device,
 * config space readable, bound to vfio-pci. A failed reset rung falls to the next one of the
 * device's ladder. Every step is journaled. */
struct apply_ctx {
        const struct pgr_ctx *ctx;
        struct pcidev_access *acc;
        struct journal *journal;
        unsigned long vmid;          /* 0 for the reset command */
        enum phase phase;
        bool dry_run;
        unsigned lock_timeout_ms;
        /* NULL: apply_plan and apply_rescan_missing each take the slot locks and drop them again. Else
         * they are taken into (and left in) this set, which the caller releases: held from the rescan of
         * a missing function to the end of apply_plan. */
        struct apply_slot_locks *locks;
};

struct apply_result {
        size_t n_ok, n_failed, n_skipped;
        /* First failure, for the one line Proxmox shows in the task log (a dead card's line quotes the
         * kernel's own words, hence the room). */
        char first_failure[1024];
};

/* 0 when every device that needed work ended usable, -EIO when one did not (result says which),
 * other negative errno for a failure outside any device (locks). */
int apply_plan(struct apply_ctx *a, struct plan *p, struct apply_result *ret, struct pgr_error *err);

/* pre-start: functions of the VM that are missing get one rescan of their bus (under
 * drivers_autoprobe=0, then bound to vfio-pci), under the slot locks of the plan (a->locks keeps them
 * for apply_plan). The caller re-plans afterwards. Returns 0, or the first device's failure (each one
 * journaled); a lock that cannot be taken returns its errno with err set, and nothing is rescanned. */
int apply_rescan_missing(struct apply_ctx *a, struct plan *p, struct pgr_error *err);

/* Writes back what an uninterrupted run leaves in the settings a killed run had changed for a moment
 * (a function's reset_method, narrowed around a reset; see state_setting_save), under each slot's
 * lock (one try: a slot locked by a live run is that run's to restore). Call before facts are read.
 * Returns the number restored (> 0), 0, or a negative errno (err says which). */
int apply_recover_settings(struct apply_ctx *a, struct pgr_error *err);

/* If a killed run left /sys/bus/pci/drivers_autoprobe at 0 (its guard names a dead pid), set it back
 * to 1. Takes the bus lock. Returns 1 when it restored, 0 when nothing to do. */
int apply_recover_autoprobe(struct apply_ctx *a, struct pgr_error *err);

/* What apply_claim found and did on one function (the claim command and the udev rule's entry point). */
struct apply_claim_result {
        char driver_before[64], driver_after[64];       /* "" unbound */
        bool override_set;      /* driver_override holds vfio-pci (read back) */
        bool pinned;            /* reset_method holds the pin (read back) */
        int pin_error;          /* negative errno when the pin did not take (the kernel's list stays) */
        bool host_driver_kept;  /* on a host driver and may_unbind was false: nothing was unbound */
        bool vfio_missing;      /* vfio-pci is not loaded: left unbound with driver_override set, so the
                                 * module binds it when it loads (the udev rule loads it) */
        char why[384];          /* a failure, in words */
};

/* Gives one claimed function to vfio-pci the way driverctl's set-override does, and pins it:
 * driver_override=vfio-pci (read back), reset_method = pin (NULL: left to the kernel; "": none; the
 * kernel's own list is recorded first, as for every pin), then, when a host driver holds it and
 * may_unbind, its unbind bounded by bind_timeout_ms, and drivers_probe when vfio-pci is loaded.
 * The caller has checked that the function is claimed with this vendor:device and holds its slot
 * lock. 0 when the function ends on vfio-pci, on no driver (vfio-pci missing) or on the host driver
 * it was allowed to keep; a negative errno (ret->why says more) when a write or the bind failed. */
int apply_claim(struct apply_ctx *a, const struct pci_addr *dev, const char *pin, bool may_unbind,
                unsigned bind_timeout_ms, struct apply_claim_result *ret);
