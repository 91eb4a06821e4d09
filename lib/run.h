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

/* `claim VMID | BDF...` (also the second half of `attach VMID`): records a claim for each function of
 * the VM's pre-start plan (or each function named; a slot = its functions), with the plan's pin. A
 * keep/mdev function, a bridge, a missing function are not claimed (said why). A function not on a
 * host driver is also given to vfio-pci and pinned now; one on a host driver is claimed for the next
 * boot only (said so), never unbound. --dry-run prints the same lines and writes nothing. */
int run_claim(struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *addrs, size_t n,
              const struct run_options *o);
/* `unclaim VMID | BDF...` (and `detach VMID`): VMID drops the VM as an owner of its claims (a claim
 * another VM or a manual claim still holds stays); BDF drops the claim whatever holds it. Live state
 * is left as it is (the function stays on vfio-pci until the next boot). */
int run_unclaim(struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *addrs, size_t n,
                const struct run_options *o);
/* `claim --udev BDF`, run by 70-pve-gpu-reset.rules (IMPORT{program}) at a PCI add event: claim_udev,
 * then "PVE_GPU_RESET_CLAIM=vfio-pci" (and PVE_GPU_RESET_PIN=) on stdout for udev's environment when
 * the function was claimed. Always EXIT_DONE unless the address is bad: a device event must go on. */
int run_claim_udev(struct pgr_ctx *ctx, const struct pci_addr *a, const struct run_options *o);
