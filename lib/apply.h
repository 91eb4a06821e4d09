/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "journal.h"
#include "pcidev.h"
#include "plan.h"

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
 * drivers_autoprobe=0, then bound to vfio-pci). The caller re-plans afterwards. */
int apply_rescan_missing(struct apply_ctx *a, struct plan *p, struct pgr_error *err);

/* Writes back what an uninterrupted run leaves in the settings a killed run had changed for a moment
 * (a function's reset_method, narrowed around a reset; see state_setting_save), under each slot's
 * lock (one try: a slot locked by a live run is that run's to restore). Call before facts are read.
 * Returns the number restored (> 0), 0, or a negative errno (err says which). */
int apply_recover_settings(struct apply_ctx *a, struct pgr_error *err);

/* If a killed run left /sys/bus/pci/drivers_autoprobe at 0 (its guard names a dead pid), set it back
 * to 1. Takes the bus lock. Returns 1 when it restored, 0 when nothing to do. */
int apply_recover_autoprobe(struct apply_ctx *a, struct pgr_error *err);
