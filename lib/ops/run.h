/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"
#include "kernel/pcidev.h"
#include "log/journal.h"
#include "pve/mapping.h"
#include "pve/vmconf.h"
#include "reset/plan.h"
#include "reset/policy.h"

/* One run of the engine end to end (hook phase, reset command) and the plan a command shows.
 *
 * Nothing here prints or decides an exit status. Each function returns 0 or a negative errno:
 * -EINVAL means bad input (a VM config, the policy or a mapping that cannot be used: err or a
 * message names file:line or key); any other negative errno means the run failed. What the user is
 * told beyond the journal (a refusal, a failure, a warning about a VM config) goes to
 * o->on_message as it happens, in order with the journal lines and a chained hookscript's output
 * that share stderr with it; the command prints it (libkmod's kmod_set_log_fn does the same). */

/* One sentence, without the "pve-gpu-reset: " prefix or a newline. */
typedef void (*run_message_fn)(const char *msg, void *userdata);

struct run_options {
        const char *config_path;     /* --config, NULL: /etc/pve-gpu-reset.json */
        const char *migrated_from;   /* $PVE_MIGRATED_FROM, "" or NULL when not a migration */
        const char *forced_method;   /* reset --method */
        bool dry_run;                /* apply nothing (the reset command's plan: see run_reset_plan) */
        run_message_fn on_message;   /* NULL: messages are dropped */
        void *userdata;
};

/* What a plan is built from; the plan points into it, so it lives as long as the plan. */
struct run_inputs {
        struct policy *policy;
        struct vmconf *conf;
        struct mapping_file *maps;
        struct pcidev_access *acc;
};

void run_inputs_done(struct run_inputs *in);

/* The VM's plan for a phase, as `plan` shows it and as `verify` runs it: post-stop plans what
 * pre-start recorded. Warnings about lines Proxmox skips go to stderr through journal_log(NULL).
 * names: look up vendor/device names (for display). On 0, *ret is the caller's to free, and in must
 * be freed (run_inputs_done) after it, even on error. */
int run_vm_plan(struct pgr_ctx *ctx, unsigned long vmid, enum phase phase, const struct run_options *o, bool names,
                struct run_inputs *in, struct plan **ret, struct pgr_error *err);

/* A hook phase: plan, apply, record, journal (to j; NULL: stderr), chain. Returns 0 when Proxmox
 * may go on (including a failed pre-start whose policy says on_failure continue, and an unknown
 * phase), -EINVAL for bad input, another negative errno when the phase failed (the reason is in
 * the journal and was told through o->on_message). o->dry_run is the caller's to handle (show
 * run_vm_plan instead): this always acts. */
int run_hook(struct pgr_ctx *ctx, unsigned long vmid, const char *phase, const struct run_options *o,
             struct journal *j);

/* The reset command on addrs: the plan (o->dry_run: what it would do, nothing applied; in freed by
 * the caller after *ret), or the whole run with its journal (j; NULL: stderr). run_reset returns
 * -EIO when a function could not be reset or was refused (each problem was told through
 * o->on_message). */
int run_reset_plan(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, const struct run_options *o,
                   struct run_inputs *in, struct plan **ret, struct pgr_error *err);
int run_reset(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, const struct run_options *o,
              struct journal *j);

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
 * the function was claimed. Always 0: a device event must go on. */
int run_claim_udev(struct pgr_ctx *ctx, const struct pci_addr *a, const struct run_options *o, struct journal *j);
