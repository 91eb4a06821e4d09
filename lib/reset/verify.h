/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"
#include "reset/plan.h"

/* `pve-gpu-reset verify VMID`: the start/probe/shutdown cycle an administrator runs by hand after
 * setting up passthrough, N times, through Proxmox's own `qm` (found on $PATH, run without a shell,
 * every call bounded by a timeout). It changes nothing but the VM's run state. */

#define VERIFY_MAX_CYCLES 1000
#define VERIFY_DEFAULT_CYCLES 3
#define VERIFY_DEFAULT_AGENT_TIMEOUT 180    /* seconds: a guest with a GPU driver boots slowly */
#define VERIFY_DEFAULT_SHUTDOWN_TIMEOUT 120 /* qm shutdown --timeout */
#define VERIFY_DEFAULT_PROBE "nvidia-smi -q"
#define VERIFY_FALLBACK_PROBE "lspci -nnk"  /* a guest without nvidia-smi (AMD, Intel, no driver) */
#define VERIFY_PROBE_MAX_ARGS 32
#define VERIFY_MAX_FUNCTIONS 64
#define VERIFY_MAX_CARDS 16
#define VERIFY_MAX_RESETS 32
#define VERIFY_TEXT_MAX 384

struct verify_cycle;

struct verify_options {
        unsigned cycles;                /* 1..VERIFY_MAX_CYCLES */
        const char *probe;              /* command line run in the guest (split at blanks, no quoting);
                                         * NULL: VERIFY_DEFAULT_PROBE, then VERIFY_FALLBACK_PROBE when the
                                         * guest has no nvidia-smi */
        unsigned agent_timeout;         /* seconds to wait for the guest agent */
        unsigned shutdown_timeout;      /* seconds for qm shutdown before qm stop */
        bool force;                     /* a VM that is not stopped is shut down first instead of refused */
        /* Called when a cycle is over (progress for a long run); NULL: none. */
        void (*on_cycle)(const struct verify_cycle *c, void *userdata);
        void *userdata;
};

/* One function the VM gets (as plan resolves its hostpci lines) and its driver before a start. */
struct verify_function {
        struct pci_addr addr;
        char driver[64];                /* "" unbound, "absent" when the device is gone */
};

/* Function 0 of a card, read from sysfs while the guest runs. -1: unknown (no such attribute). */
struct verify_link {
        struct pci_addr addr;
        int current_width, max_width;
};

/* A reset step the hook journaled during the cycle (history_read's entries). */
struct verify_reset {
        char slot[32];                  /* sizes as in struct history_entry */
        char phase[32];
        char action[32];
        char method[40];
        char result[16];
        long long duration_usec;        /* -1 unknown */
};

enum verify_step { VERIFY_STEP_NOT_RUN, VERIFY_STEP_OK, VERIFY_STEP_FAILED };

struct verify_cycle {
        unsigned index;                 /* 1-based */
        bool passed;
        char reason[VERIFY_TEXT_MAX];   /* why it failed, "" when it passed */
        long long started_usec;         /* CLOCK_REALTIME */
        long long duration_usec;

        size_t n_functions;
        struct verify_function functions[VERIFY_MAX_FUNCTIONS];
        bool all_vfio;

        enum verify_step start;
        char start_message[VERIFY_TEXT_MAX];

        enum verify_step agent;
        long long agent_wait_usec;
        char agent_message[VERIFY_TEXT_MAX];

        enum verify_step probe;
        char probe_command[128];        /* what ran (the fallback when nvidia-smi was missing) */
        int probe_exitcode;             /* -1: unknown (did not run, did not finish, killed) */
        char probe_message[VERIFY_TEXT_MAX]; /* first line of its output, or why it did not run */

        size_t n_links;
        struct verify_link links[VERIFY_MAX_CARDS];

        enum verify_step stop;
        bool stop_forced;               /* qm shutdown did not stop it; qm stop did */
        char stop_message[VERIFY_TEXT_MAX];

        bool resets_known;              /* false: the journal could not be read */
        bool hook_journaled;            /* the hook journaled a phase summary for the VM in this cycle
                                         * (false with a readable journal: is the hook attached?) */
        char resets_unknown_why[VERIFY_TEXT_MAX];
        size_t n_resets;
        struct verify_reset resets[VERIFY_MAX_RESETS];
        char hook_failure[VERIFY_TEXT_MAX]; /* a failed step the hook journaled, "" none */
};

struct verify_result {
        unsigned long vmid;
        unsigned cycles_requested;
        bool passed;                    /* every requested cycle ran and passed */
        char refused[VERIFY_TEXT_MAX];  /* no cycle ran: why (VM running, qm missing...), "" otherwise */
        char stopped_first[VERIFY_TEXT_MAX]; /* --force: how the running VM was stopped, "" */
        size_t n_functions;
        struct pci_addr functions[VERIFY_MAX_FUNCTIONS];
        size_t n_cards;
        struct pci_addr cards[VERIFY_MAX_CARDS]; /* function 0 of each slot */
        char probe[128];                /* the probe as asked ("" default) */
        size_t n_cycles;                /* cycles that ran */
        struct verify_cycle *cycles;
};

/* The functions verify checks: those of a pre-start plan the config does not keep off vfio-pci
 * (driver=keep, mdev). */
size_t verify_functions(const struct plan *p, struct pci_addr *ret, size_t max);
/* -EINVAL with a message naming the option when o is out of range (the caller exits 2). */
int verify_check_options(const struct verify_options *o, struct pgr_error *err);

/* Runs the cycles on the functions of p (a pre-start plan of the VM; functions the config keeps off
 * vfio-pci, driver=keep or mdev, are not checked). Returns 0 with *ret filled whenever the VM was
 * looked at (result->refused says when no cycle ran), -EINVAL (err says which option) or -ENOMEM. */
int verify_run(const struct pgr_ctx *ctx, const struct plan *p, const struct verify_options *o,
               struct verify_result **ret, struct pgr_error *err);
void verify_result_free(struct verify_result *r);
static inline void verify_result_freep(struct verify_result **r) { verify_result_free(*r); }

int verify_to_json(const struct verify_result *r, struct json_object **ret);
/* "ok", "failed", "not run": a step's result in the table and the JSON. */
const char *verify_step_string(enum verify_step s);

/* Building blocks, exposed for the unit tests. */

/* `qm status VMID` output ("status: running\n"; qemu-server PVE/CLI/qm.pm status) → "running".
 * -EINVAL when there is no status line. */
int verify_parse_status(const char *out, char *ret, size_t size);

/* What `qm guest exec` prints on stdout: the pretty JSON of exec-status (PVE/CLI/qm.pm exec,
 * PVE/API2/Qemu/Agent.pm exec-status): {"exited": 1, "exitcode": N, "out-data": "...", "err-data":
 * "...", "signal": N}, or {"pid": N} alone when qm's --timeout ran out first. */
struct verify_exec_status {
        bool exited;
        int exitcode;                   /* -1 absent */
        int signal;                     /* -1 absent */
        char out_first[VERIFY_TEXT_MAX];/* first non-blank line of out-data, "" */
        char err_first[VERIFY_TEXT_MAX];/* first non-blank line of err-data, "" */
};
int verify_parse_exec(const char *json, struct verify_exec_status *ret);

/* Splits cmd at blanks into argv (pointing into buf); no quoting, no shell. -EINVAL for an empty
 * command, -E2BIG past max-1 words or a command that does not fit buf. argv is NULL-terminated. */
int verify_split_command(const char *cmd, char *buf, size_t bufsize, char **argv, size_t max, size_t *ret_n);

