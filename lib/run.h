/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bdf.h"
#include "context.h"
#include "util.h"
#include "verify.h"

/* Exit statuses of doc/DESIGN.md §4. */
enum {
        EXIT_DONE = 0,
        EXIT_FAILED = 1,
        EXIT_USAGE = 2,
};

struct run_options {
        const char *config_path;     /* --config, NULL: /etc/pve-gpu-reset.json */
        const char *migrated_from;   /* $PVE_MIGRATED_FROM, "" or NULL when not a migration */
        const char *forced_method;   /* reset --method */
        bool dry_run;
        bool json;
        int verbose;
};

/* Each returns an exit status (EXIT_*) and has already told the user what happened. */
int run_hook(struct pgr_ctx *ctx, unsigned long vmid, const char *phase, const struct run_options *o);
int run_plan(struct pgr_ctx *ctx, unsigned long vmid, const char *phase, const struct run_options *o);
/* `verify VMID`: the cycles of verify.h on the VM's pre-start plan, a table (each cycle as it ends)
 * or one JSON document. EXIT_DONE only when every cycle passed. */
int run_verify(struct pgr_ctx *ctx, unsigned long vmid, const struct verify_options *vo, const struct run_options *o);
int run_reset(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, const struct run_options *o);
bool run_method_valid(const char *method);
