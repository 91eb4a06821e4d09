/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `reset BDF... [--method M]`: a reset by hand, with the hook's engine and safety rules. */
#include "cli.h"

#include <errno.h>

#include "base/bdf.h"
#include "log/journal.h"
#include "reset/plan.h"

enum { OPT_METHOD = 1 };

static const struct cli_option options[] = {
        { "method", required_argument, OPT_METHOD, "M",
          "this rung only: flr, pm, bus, device_specific, af_flr, slot, reset_subordinate, bridge, remove-rescan, power-cycle" },
        { "dry-run", no_argument, CLI_OPTION_DRY_RUN, NULL, "show the plan; reset nothing, journal nothing" },
        {},
};

#define RESET_MAX_FUNCTIONS 64

static int show_plan(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, const struct run_options *o,
                     const struct cli_globals *g)
{
        _cleanup_(run_inputs_done) struct run_inputs in = {};
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct pgr_error err = {};
        int r;

        r = run_reset_plan(ctx, addrs, n, o, &in, &p, &err);
        if (r < 0) {
                cli_error("%s", err.msg);
                return cli_exit_status(r);
        }
        return cli_print_plan(p, false, g);
}

static int cmd_reset(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        _cleanup_(journal_closep) struct journal *j = NULL;
        struct pci_addr addrs[RESET_MAX_FUNCTIONS];
        const char *method = NULL;
        struct run_options o;
        struct pgr_ctx ctx;
        int c, n;

        while ((c = cli_getopt(self, argc, argv, g)) >= 0)
                if (c == OPT_METHOD)
                        method = optarg;
        if (c != -1)
                return cli_getopt_status(c);
        if (cli_setup(self, g, &ctx) < 0)
                return EXIT_USAGE;
        n = argc - optind;
        if (cli_want_args(self, n, 1, RESET_MAX_FUNCTIONS) < 0)
                return EXIT_USAGE;
        if (method && !run_method_valid(method))
                return cli_bad_usage("unknown --method '%s': use a kernel reset method (flr, pm, bus, "
                                     "device_specific, af_flr), slot, reset_subordinate, bridge, remove-rescan or power-cycle",
                                     method);
        for (int i = 0; i < n; i++)
                if (pci_addr_parse(argv[optind + i], &addrs[i]) < 0)
                        return cli_bad_usage("invalid PCI address '%s': expected [DDDD:]BB:SS.F or BB:SS",
                                             argv[optind + i]);
        cli_run_options(g, &o);
        o.forced_method = method;
        if (g->dry_run)
                return show_plan(&ctx, addrs, (size_t)n, &o, g);
        j = cli_open_journal(&ctx, g);
        return cli_exit_status(run_reset(&ctx, addrs, (size_t)n, &o, j));
}

const struct cli_command cli_cmd_reset = {
        .name = "reset",
        .synopsis = "reset BDF...",
        .help = "reset by hand, same engine and safety rules",
        .options = options,
        .dry_run = true,
        .fn = cmd_reset,
};
