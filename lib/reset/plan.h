/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "kernel/pcidev.h"
#include "pve/mapping.h"
#include "pve/reservations.h"
#include "pve/vmconf.h"
#include "reset/policy.h"
#include "reset/state.h"

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
        ACTION_POWER_CYCLE,   /* the slot's hotplug power off and on (pciehp) */
        ACTION_SKIP,          /* reason says why */
        _ACTION_MAX,
};
const char *action_to_string(enum plan_action_kind k);
/* A rung of the reset ladder (kernel method, slot reset, remove+rescan, power cycle). */
bool plan_action_is_reset(enum plan_action_kind k);

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
        /* The mapping=NAME of that hostpci line (NULL none), whole: Proxmox limits its length in
         * nothing, and the fix for a renumbered group is a command that names it. Its map records the
         * IOMMU group, which a remove+rescan may renumber (then Proxmox refuses the start). */
        char *mapping;
        struct pcidev dev;              /* facts; dev.present may be false */
        struct policy_settings policy;
        size_t n_actions;
        struct plan_action actions[PLAN_MAX_ACTIONS];
        /* Every reset rung usable for this function, in policy order; the first is the one in
         * actions[], the rest are what apply falls back to. */
        size_t n_ladder;
        struct plan_action ladder[PLAN_MAX_LADDER];
        /* The reset_method the function holds while the VM owns it (pre-start, the run, after
         * post-stop): the kernel method the ladder chose, or none ("": per-function resets disabled,
         * so Proxmox's write to reset fails with ENOTTY, vfio-pci reports no reset and QEMU falls back
         * to a bus hot reset) when the safe reset is the slot or remove+rescan. Only for functions the
         * VM owns on a kernel with reset_method (never keep/mdev, someone else's, bridges). apply
         * moves it to the rung that worked. */
        bool pin_set;
        char pin[24];
        char pin_reason[384];
        char pin_rung[24];              /* for pin none: "slot reset", "remove+rescan", "power cycle",
                                         * "no usable reset" */
        /* The function stopped being the VM's (given with driver=keep/mdev now, or post-stop of a
         * function the config no longer gives) while it still holds a pin of ours: its reset_method
         * goes back to the list the kernel offered before (unpin_list, from the kernel-reset_method
         * record), and the record goes. Never with pin_set. */
        bool unpin;
        char unpin_list[128];
        char unpin_reason[256];
        /* post-stop, policy release_after_stop: after its reset (and pin or unpin) the function goes
         * back to the driver the kernel picks for it (driver_override cleared, drivers_probe), for the
         * host or a container between VM runs. Only a function of the VM's own (vfio use). */
        bool release;
        enum hostpci_use use;           /* what the config (or post-stop's record) says about it */
        /* The config gave the whole slot (hostpciN without .F): whatever function appears in it is the
         * VM's (pre-start may power a switched-off slot on for it). */
        bool whole_slot;
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
        /* The installed qemu-server dies when its write to reset fails (before 8.2.6): -1 not read yet.
         * Read once per plan, lazily: it is a 100 KB file and matters only for a pin to none. */
        int qemu_server_dies_on_reset_failure;
        unsigned long vmid;
        enum phase phase;
        char node[256];
        size_t n_devices;
        struct plan_device *devices;
        size_t n_problems, problems_allocated;
        struct plan_problem *problems;          /* at most PLAN_MAX_PROBLEMS */
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

/* Whether a function is someone else's right now. The plan asks when it builds; apply asks again
 * under its slot locks, just before it touches a function (the lock wait may have lasted a minute,
 * time enough for another VM to reserve and open the card). Both use these functions. */
struct foreign_check {
        const struct pgr_ctx *ctx;
        const struct reservations *res;   /* Proxmox's pci-id-reservations, as read by the caller */
        int res_error;                    /* negative errno: they could not be read (every function is
                                           * then someone else's: in doubt, in use) */
        unsigned long vmid;               /* the VM we work for (0: reset command) */
        long long now;                    /* epoch seconds, for time: reservations */
        /* Who holds /dev/vfio/<group> open, looked up once per group (a GPU and its audio share one,
         * and each look-up reads every fd of every process). */
        size_t n_groups;
        int groups[PLAN_MAX_DEVICES];
        long holders[PLAN_MAX_DEVICES];
};

/* Another VM's hold on a function: a live reservation (vmid) or its IOMMU group open elsewhere (pid). */
struct foreign_holder {
        unsigned long vmid;
        long pid;
        int iommu_group;
        int error;      /* negative errno: the reservations could not be read */
};

/* true when addr (in IOMMU group iommu_group, -1 none) is reserved by a VM other than fc->vmid or its
 * /dev/vfio group is held open by another process; ret says by whom. A holder look-up that fails
 * counts as held (in doubt, in use). */
bool foreign_check_device(struct foreign_check *fc, const struct pci_addr *addr, int iommu_group,
                          struct foreign_holder *ret);
/* "reserved by VM N (pci-id-reservations)" or "/dev/vfio/G is held open by pid P: another VM uses it". */
void foreign_holder_describe(const struct foreign_holder *h, char *buf, size_t size);

/* Whether a slot reset or a remove of the slot that also hits addr may go ahead for plan p: addr is
 * one of p's functions that is not skipped, or a non-bridge function in the IOMMU group of one of them
 * (collateral: Proxmox binds every non-bridge function of the group to vfio-pci when the VM starts,
 * pve-common SysFSTools.pm pci_dev_group_bind_to_vfio, called from qemu-server
 * PVE/QemuServer/PCI.pm; for the reset command, which starts no VM, only while it is on vfio-pci or
 * no driver), and in both cases nobody else's (foreign_check_device). ret_collateral: true
 * for the second kind. When it may not, why says why as a predicate ("is not this VM's"). */
bool plan_may_cover(struct foreign_check *fc, const struct plan *p, const struct pci_addr *addr,
                    bool *ret_collateral, char *why, size_t why_size);

/* Facts + policy + phase → actions. Problems (device missing, reserved elsewhere...) are recorded in
 * the plan, not returned as errors; errors are for bad input (-EINVAL, err says which) or -ENOMEM. */
/* pcidev_probe_near with the function's own reset methods: the kernel's list recorded before the first
 * pin (or before an older version narrowed it) instead of what reset_method holds now. sibling: a
 * function of the same slot probed just before (may be NULL). */
int plan_probe_function(const struct pgr_ctx *ctx, struct pcidev_access *acc, const struct pci_addr *addr,
                        const struct pcidev *sibling, struct pcidev *ret);
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
/* What conf says about function a: the strictest use of the hostpciN entries that give it (host IDs, or
 * any path of its mapping on this node); HOSTPCI_USE_UNKNOWN when none does. */
enum hostpci_use plan_config_use(const struct pgr_ctx *ctx, const struct vmconf *conf, const struct mapping_file *maps,
                                 const struct pci_addr *a);

/* "pm", or "none" for the empty pin. */
const char *plan_pin_name(const char *pin);

int plan_to_json(const struct plan *p, struct json_object **ret);
/* verbose: each action's reason on a line of its own. */
void plan_print(const struct plan *p, bool verbose, FILE *out);
