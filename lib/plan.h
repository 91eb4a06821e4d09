/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "mapping.h"
#include "pcidev.h"
#include "policy.h"
#include "reservations.h"
#include "state.h"
#include "vmconf.h"

enum phase {
        PHASE_PRE_START,
        PHASE_POST_START,
        PHASE_PRE_STOP,
        PHASE_POST_STOP,
        PHASE_MANUAL,   /* `pve-gpu-reset reset BDF...` */
        _PHASE_MAX,
        PHASE_INVALID = -1,
};
const char *phase_to_string(enum phase p);
enum phase phase_from_string(const char *s);

enum plan_action_kind {
        ACTION_BIND_VFIO,
        ACTION_KEEP_AWAKE,
        ACTION_ASPM_OFF,
        ACTION_RESET,         /* method: a kernel reset_method name */
        ACTION_BUS_RESET,     /* method: "reset_subordinate" or "bridge" */
        ACTION_REMOVE_RESCAN,
        ACTION_SKIP,          /* reason says why */
        _ACTION_MAX,
};
const char *action_to_string(enum plan_action_kind k);

struct plan_action {
        enum plan_action_kind kind;
        char method[24];
        char reason[256];
        bool for_safety;      /* a skip that protects someone else's device (vs. one the config asks for) */
};

#define PLAN_MAX_ACTIONS 8
#define PLAN_MAX_LADDER 8
#define PLAN_MAX_DEVICES 64

struct plan_device {
        char hostpci[16];               /* "hostpci0", or "manual" */
        struct pcidev dev;              /* facts; dev.present may be false */
        struct policy_settings policy;
        size_t n_actions;
        struct plan_action actions[PLAN_MAX_ACTIONS];
        /* Every reset rung usable for this function, in policy order; the first is the one in
         * actions[], the rest are what apply falls back to. */
        size_t n_ladder;
        struct plan_action ladder[PLAN_MAX_LADDER];
        enum hostpci_use use;           /* what the config (or post-stop's record) says about it */
        bool needs_reset;               /* the phase wants a reset of this function */
        bool applied;                   /* apply ran this device's actions */
        int apply_result;               /* then: 0 usable, negative errno failed */
};

enum plan_severity { SEVERITY_INFO, SEVERITY_WARNING, SEVERITY_ERROR };

struct plan_problem {
        enum plan_severity severity;
        char slot[PCI_ADDR_STRLEN];
        char message[384];
};

#define PLAN_MAX_PROBLEMS 64

struct plan {
        unsigned long vmid;
        enum phase phase;
        char node[256];
        size_t n_devices;
        struct plan_device *devices;
        size_t n_problems;
        struct plan_problem problems[PLAN_MAX_PROBLEMS];
        /* Who holds /dev/vfio/<group> open, looked up once per group (a GPU and its audio share one,
         * and each look-up reads every fd of every process). */
        size_t n_vfio_groups;
        int vfio_groups[PLAN_MAX_DEVICES];
        long vfio_holders[PLAN_MAX_DEVICES];
};

struct plan_input {
        const struct pgr_ctx *ctx;
        struct pcidev_access *acc;
        const struct vmconf *conf;             /* NULL for PHASE_MANUAL */
        const struct mapping_file *mappings;   /* may be NULL */
        const struct policy *policy;
        enum phase phase;
        unsigned long vmid;
        /* Functions to handle instead of the config's (post-stop's recorded set, or the reset
         * command's arguments); NULL: from conf. */
        const struct pci_addr *override;
        size_t n_override;
        /* post-stop: what pre-start recorded about each override function (HOSTPCI_USE_UNKNOWN from
         * an old record). NULL: the functions were named by hand (reset command, doctor). */
        const enum hostpci_use *override_use;
        /* The reset command: every VM config on the node; a function any of them gives with
         * driver=keep or mdev is refused. */
        const struct vmconf *const *all_confs;
        size_t n_all_confs;
        const char *forced_method;             /* reset --method M, or NULL */
        long long now;                         /* epoch seconds, for reservations and clean marks */
};

/* Facts + policy + phase → actions. Problems (device missing, reserved elsewhere...) are recorded in
 * the plan, not returned as errors; errors are for bad input (-EINVAL, err says which) or -ENOMEM. */
int plan_build(const struct plan_input *in, struct plan **ret, struct pgr_error *err);
void plan_free(struct plan *p);
static inline void plan_freep(struct plan **p) { plan_free(*p); }

bool plan_has_errors(const struct plan *p);
/* The functions the VM's config gives it (slots expanded, keep/mdev included, each with what the
 * config said about it), for post-stop's record. */
size_t plan_recorded_devices(const struct plan *p, struct state_device *ret, size_t max);
/* apply reset this device and found it usable: it needed a reset, had a reset action, no skip. */
bool plan_device_was_reset(const struct plan_device *d);

/* The one rule for "what the config says keeps us off a function": a reason (driver=keep, mdev,
 * mapping for mdev) or NULL. Every path (pre-start, post-stop, reset, plan, doctor) asks it. */
const char *plan_use_skip_reason(enum hostpci_use use);
enum hostpci_use plan_hostpci_use(const struct hostpci *h, const struct mapping_file *maps);

int plan_to_json(const struct plan *p, struct json_object **ret);
/* verbose: each action's reason on a line of its own. */
void plan_print(const struct plan *p, bool verbose, FILE *out);
