/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command table (kmod's tools/kmod.c: {name, fn, help}) and what every command shares: the
 * global options, its own options parsed with getopt_long, usage errors, and the mapping of the
 * library's errno to the exit statuses of doc/DESIGN.md §4. The commands (cmd-*.c) print; lib/
 * only returns. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "base/context.h"
#include "ops/run.h"

/* Exit statuses of doc/DESIGN.md §4. */
enum {
        EXIT_DONE = 0,
        EXIT_FAILED = 1,
        EXIT_USAGE = 2,
};

/* Options every command takes, before or after its name: where the host is (--root, --node, the
 * policy file --config: every command that reads the host reads them through the same context)
 * and how much to say (-v). --dry-run is parsed here too, where it stands before the command, and
 * is then honoured or refused by the command (struct cli_command.dry_run). */
struct cli_globals {
        const char *root, *config, *node;
        int verbose;
        bool dry_run;
};

/* One option of a command: what getopt_long needs, and its line in the command's --help. */
struct cli_option {
        const char *name;
        int has_arg;            /* no_argument, required_argument */
        int val;                /* returned by cli_getopt */
        const char *arg;        /* "N", "BDF"...; NULL for a flag */
        const char *help;
};

#define CLI_OPTION_DRY_RUN 0x100 /* the val of --dry-run in a command that honours it */

struct cli_command {
        const char *name;
        const char *synopsis;                   /* "plan VMID", "VMID PHASE" */
        const char *help;                       /* one line, for pve-gpu-reset --help */
        const struct cli_option *options;       /* its own options, { NULL } terminated */
        bool dry_run;                           /* honours --dry-run; false: refuses it (exit 2) */
        int (*fn)(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
};

extern const struct cli_command cli_cmd_plan, cli_cmd_doctor, cli_cmd_history, cli_cmd_reset, cli_cmd_verify,
        cli_cmd_attach, cli_cmd_detach, cli_cmd_claim, cli_cmd_unclaim, cli_cmd_hook;

/* The next option of self (argv[0] is the command's name, getopt permutes the rest): one of its
 * own (its val), or -1 at the end. A global option is stored in g and skipped; --help prints
 * self's help. Anything else has been said on stderr: CLI_GETOPT_HELP (exit 0) or
 * CLI_GETOPT_USAGE (exit 2). */
#define CLI_GETOPT_HELP  (-2)
#define CLI_GETOPT_USAGE (-3)
int cli_getopt(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
/* What cli_getopt's special returns mean as an exit status. */
int cli_getopt_status(int c);

/* After the options: self's --dry-run check and the context from the global options. 0, or
 * -EINVAL when said why (exit 2). */
int cli_setup(const struct cli_command *self, const struct cli_globals *g, struct pgr_ctx *ret_ctx);

void cli_print_help(const struct cli_command *self, FILE *out);

int cli_bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "pve-gpu-reset: " fmt "\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The number of positional arguments after the options is in [min, max], else said (-EINVAL). */
int cli_want_args(const struct cli_command *self, int n, int min, int max);
int cli_parse_vmid(const char *s, unsigned long *ret);

/* 0 → EXIT_DONE, -EINVAL (bad input) → EXIT_USAGE, any other negative errno → EXIT_FAILED. */
int cli_exit_status(int r);

/* The library's run options from the global ones; messages go to stderr. */
void cli_run_options(const struct cli_globals *g, struct run_options *ret);
/* The run_message_fn of the commands: "pve-gpu-reset: MSG" on stderr. */
void cli_print_message(const char *msg, void *userdata);
/* The journal a run writes to: -v puts every entry on stderr too; one that cannot be opened is said,
 * and the run logs to stderr (journal_log with NULL). */
struct journal *cli_open_journal(const struct pgr_ctx *ctx, const struct cli_globals *g);
/* The plan of one phase of a VM on stdout (`plan`, and hook mode's --dry-run); its exit status. */
int cli_show_vm_plan(struct pgr_ctx *ctx, unsigned long vmid, const char *phase, bool json,
                     const struct cli_globals *g);
/* What claim / unclaim did, one line per function on stdout (a record that could not be written or
 * dropped: on stderr); attach and detach print the same. */
void cli_print_claim_result(unsigned long vmid, bool dry_run, const struct run_claim_result *res);
void cli_print_unclaim_result(unsigned long vmid, size_t n_addrs, const struct run_unclaim_result *res);
/* A plan on stdout, as text (-v: with the reasons) or one JSON document; its exit status. */
int cli_print_plan(const struct plan *p, bool json, const struct cli_globals *g);
