/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `plan VMID [--phase P] [--json]`: what the hook would do now; changes nothing. */
#include "cli.h"

#include <errno.h>

#include "reset/plan.h"

enum { OPT_PHASE = 1, OPT_JSON };

static const struct cli_option options[] = {
        { "phase", required_argument, OPT_PHASE, "P", "the phase to plan: pre-start (default), post-start, pre-stop, post-stop" },
        { "json", no_argument, OPT_JSON, NULL, "one JSON document instead of the table" },
        { "dry-run", no_argument, CLI_OPTION_DRY_RUN, NULL, "accepted: plan changes nothing anyway" },
        {},
};

int cli_show_vm_plan(struct pgr_ctx *ctx, unsigned long vmid, const char *phase_str, bool json,
                     const struct cli_globals *g)
{
        _cleanup_(run_inputs_done) struct run_inputs in = {};
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct pgr_error err = {};
        struct run_options o;
        enum phase phase = phase_from_string(phase_str);
        int r;

        if (phase == PHASE_INVALID) {
                cli_error("unknown --phase '%s': use pre-start, post-start, pre-stop or post-stop", phase_str);
                return EXIT_USAGE;
        }
        cli_run_options(g, &o);
        r = run_vm_plan(ctx, vmid, phase, &o, true, &in, &p, &err);
        if (r < 0) {
                cli_error("%s", err.msg);
                return cli_exit_status(r);
        }
        return cli_print_plan(p, json, g);
}

static int cmd_plan(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        const char *phase = "pre-start";
        struct pgr_ctx ctx;
        unsigned long vmid;
        bool json = false;
        int c;

        while ((c = cli_getopt(self, argc, argv, g)) >= 0)
                switch (c) {
                case OPT_PHASE: phase = optarg; break;
                case OPT_JSON: json = true; break;
                }
        if (c != -1)
                return cli_getopt_status(c);
        if (cli_setup(self, g, &ctx) < 0)
                return EXIT_USAGE;
        if (cli_want_args(self, argc - optind, 1, 1) < 0 || cli_parse_vmid(argv[optind], &vmid) < 0)
                return EXIT_USAGE;
        return cli_show_vm_plan(&ctx, vmid, phase, json, g);
}

const struct cli_command cli_cmd_plan = {
        .name = "plan",
        .synopsis = "plan VMID",
        .help = "what the hook would do now; changes nothing",
        .options = options,
        .dry_run = true,
        .fn = cmd_plan,
};
