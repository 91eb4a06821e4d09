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
#include "reset/claim.h"
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

/* What `claim` did to one function, for the command to say (src/cmd-claim.c prints one line each). */
enum run_claim_outcome {
        RUN_CLAIM_SKIPPED_USE,          /* keep/mdev: not claimed (skip_reason says why); not a failure */
        RUN_CLAIM_MISSING,              /* not present: not claimed */
        RUN_CLAIM_BRIDGE,               /* a PCI bridge: never given to vfio-pci */
        RUN_CLAIM_NO_PATH,              /* its place below /sys/devices could not be read (error) */
        RUN_CLAIM_RECORD_FAILED,        /* the record could not be written (why) */
        RUN_CLAIM_CLAIMED,              /* recorded (or would be, dry run); now says the live state */
        RUN_CLAIM_NOT_APPLIED,          /* recorded, but not given to vfio-pci now (why) */
};

/* The live state of a claimed function after the claim. */
enum run_claim_now {
        RUN_CLAIM_NOW_ELSEWHERE,        /* reserved by or open in another VM: for the next boot only */
        RUN_CLAIM_NOW_HOST_DRIVER,      /* on the host driver (driver): for the next boot only, not unbound */
        RUN_CLAIM_NOW_DRY_RUN,          /* dry run: on vfio-pci already (driver), or would be given to it */
        RUN_CLAIM_NOW_BUSY,             /* a pve-gpu-reset run holds the slot: it binds and pins the function */
        RUN_CLAIM_NOW_VFIO,             /* on vfio-pci, or unbound until vfio-pci loads (vfio_missing) */
};

struct run_claim_item {
        char bdf[PCI_ADDR_STRLEN];
        unsigned vendor, device;
        enum run_claim_outcome outcome;
        const char *skip_reason;        /* RUN_CLAIM_SKIPPED_USE: plan_use_skip_reason */
        char pin[24];                   /* claim_pin_name: "none", "-", a method */
        bool created;                   /* no record existed (else "claim updated") */
        enum run_claim_now now;
        char driver[64];                /* the driver it is on ("" none) */
        bool vfio_missing;              /* RUN_CLAIM_NOW_VFIO: left unbound, vfio-pci not loaded */
        bool pin_not_taken;             /* RUN_CLAIM_NOW_VFIO: the pin was refused, the kernel's list stays */
        char why[512];                  /* RUN_CLAIM_NO_PATH, RECORD_FAILED, NOT_APPLIED */
};

struct run_claim_result {
        bool no_hostpci;                /* claim VMID of a VM without a hostpci entry: nothing to claim */
        size_t n;
        struct run_claim_item items[PLAN_MAX_DEVICES];
};

/* `claim VMID | BDF...` (also the second half of `attach VMID`): records a claim for each function of
 * the VM's pre-start plan (or each function named; a slot = its functions), with the plan's pin and
 * what identifies the card. A keep/mdev function, a bridge, a missing function are not claimed (the
 * item says why). A function not on a host driver is also given to vfio-pci and pinned now; one on a
 * host driver is claimed for the next boot only, never unbound. o->dry_run: the same decisions, nothing
 * written. ret (the caller's, any size) holds one item per function, in plan order, also on failure
 * after the plan was made. Returns 0, -EIO when a function failed (an item says which), -EINVAL for bad
 * input; what stops the run before any function is told through o->on_message. */
int run_claim(struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *addrs, size_t n,
              const struct run_options *o, struct run_claim_result *ret);

enum run_unclaim_outcome {
        RUN_UNCLAIM_WOULD,              /* dry run: would be unclaimed (others: by this VM only) */
        RUN_UNCLAIM_KEPT_BY_OTHERS,     /* this VM dropped; owners still claim it */
        RUN_UNCLAIM_REMOVED,            /* the record is gone */
        RUN_UNCLAIM_MALFORMED_REMOVED,  /* a record that does not parse, removed (or would be: dry run) */
        RUN_UNCLAIM_FAILED,             /* why */
};

struct run_unclaim_item {
        char bdf[PCI_ADDR_STRLEN];
        enum run_unclaim_outcome outcome;
        bool others;                    /* RUN_UNCLAIM_WOULD: other owners keep it */
        bool dry_run;                   /* RUN_UNCLAIM_MALFORMED_REMOVED: would be removed */
        char owners[256];               /* RUN_UNCLAIM_KEPT_BY_OTHERS */
        char why[512];                  /* RUN_UNCLAIM_FAILED */
};

struct run_unclaim_result {
        size_t n;
        struct run_unclaim_item items[CLAIM_MAX + 64];
        size_t n_malformed_left;        /* unclaim VMID: records that do not parse, left alone */
};

/* `unclaim VMID | BDF...` (and `detach VMID`): VMID drops the VM as an owner of its claims (a claim
 * another VM or a manual claim still holds stays); BDF drops the claim whatever holds it. Live state
 * is left as it is (the function stays on vfio-pci until the next boot). ret: one item per record
 * touched (n 0: nothing claimed there). Returns 0, or -EIO when a record could not be changed. */
int run_unclaim(struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *addrs, size_t n,
                const struct run_options *o, struct run_unclaim_result *ret);

/* `claim --udev BDF`, run by 70-pve-gpu-reset.rules (IMPORT{program}) at a PCI add event: claim_udev
 * (the journal j says what it did), with the policy's bind timeout for the card. ret_outcome (and
 * ret_pin: the pin written, "" none) tell the command what to print for udev's environment. Always 0:
 * a device event must go on (a failure outside the device is told through o->on_message). */
int run_claim_udev(struct pgr_ctx *ctx, const struct pci_addr *a, const struct run_options *o, struct journal *j,
                   enum claim_udev_outcome *ret_outcome, char *ret_pin, size_t pin_size);
