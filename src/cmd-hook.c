/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Hook mode: `pve-gpu-reset VMID PHASE`, exactly what Proxmox runs (pve-guest-common
 * PVE/GuestHelpers.pm exec_hookscript: the script, the VMID, the phase). */
#include "cli.h"

#include <errno.h>

#include "log/journal.h"
#include "reset/plan.h"

static const struct cli_option options[] = {
        { "dry-run", no_argument, CLI_OPTION_DRY_RUN, NULL, "show the plan of the phase; do nothing, journal nothing" },
        {},
};

static int cmd_hook(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        _cleanup_(journal_closep) struct journal *j = NULL;
        struct run_options o;
        struct pgr_ctx ctx;
        unsigned long vmid;
        const char *phase;
        int c;

        /* argv[0] is the VMID: getopt_long passes over it as it would over a command's name */
        while ((c = cli_getopt(self, argc, argv, g)) >= 0)
                ;
        if (c != -1)
                return cli_getopt_status(c);
        if (cli_setup(self, g, &ctx) < 0)
                return EXIT_USAGE;
        if (argc - optind != 1)
                return cli_bad_usage("unknown command '%s'", argv[0]);
        if (cli_parse_vmid(argv[0], &vmid) < 0)
                return EXIT_USAGE;
        phase = argv[optind];
        /* --dry-run: say what would be done, do nothing, journal nothing. */
        if (g->dry_run)
                return phase_from_string(phase) == PHASE_INVALID ? EXIT_DONE
                                                                 : cli_show_vm_plan(&ctx, vmid, phase, false, g);
        cli_run_options(g, &o);
        j = cli_open_journal(&ctx, g);
        return cli_exit_status(run_hook(&ctx, vmid, phase, &o, j));
}

const struct cli_command cli_cmd_hook = {
        .name = "hook mode",
        .synopsis = "VMID PHASE",
        .help = "hook mode, what Proxmox calls",
        .options = options,
        .dry_run = true,
        .fn = cmd_hook,
};
