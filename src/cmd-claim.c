/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `claim VMID|BDF...`, `unclaim VMID|BDF...`, and `claim --udev BDF` (the udev rule's entry point):
 * vfio-pci and the pinned reset_method from boot on (lib/claim.c, 70-pve-gpu-reset.rules). */
#include "cli.h"

#include <errno.h>
#include <string.h>

#include "base/bdf.h"
#include "log/journal.h"

enum { OPT_UDEV = 1 };

#define CLAIM_MAX_ARGS 64

static const struct cli_option claim_options[] = {
        { "udev", no_argument, OPT_UDEV, NULL, "the udev rule's entry point for one function at device add" },
        { "dry-run", no_argument, CLI_OPTION_DRY_RUN, NULL, "say what would be claimed; write nothing" },
        {},
};

static const struct cli_option unclaim_options[] = {
        { "dry-run", no_argument, CLI_OPTION_DRY_RUN, NULL, "say what would be unclaimed; write nothing" },
        {},
};

static int cmd_claim(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        struct pci_addr addrs[CLAIM_MAX_ARGS];
        bool claim = streq(self->name, "claim"), udev = false;
        unsigned long vmid = 0;
        struct run_options o;
        struct pgr_ctx ctx;
        int c, n;

        while ((c = cli_getopt(self, argc, argv, g)) >= 0)
                if (c == OPT_UDEV)
                        udev = true;
        if (c != -1)
                return cli_getopt_status(c);
        if (cli_setup(self, g, &ctx) < 0)
                return EXIT_USAGE;
        n = argc - optind;
        cli_run_options(g, &o);
        if (udev) {
                _cleanup_(journal_closep) struct journal *j = NULL;

                if (g->dry_run)
                        return cli_bad_usage("claim --udev does not take --dry-run");
                if (cli_want_args(self, n, 1, 1) < 0)
                        return EXIT_USAGE;
                if (pci_addr_parse_full(argv[optind], &addrs[0]) < 0)
                        return cli_bad_usage("invalid PCI address '%s': expected DDDD:BB:SS.F", argv[optind]);
                j = cli_open_journal(&ctx, g);
                return cli_exit_status(run_claim_udev(&ctx, &addrs[0], &o, j));
        }
        if (cli_want_args(self, n, 1, CLAIM_MAX_ARGS) < 0)
                return EXIT_USAGE;
        if (n == 1 && vmid_parse(argv[optind], &vmid) >= 0)
                return cli_exit_status(claim ? run_claim(&ctx, vmid, NULL, 0, &o) : run_unclaim(&ctx, vmid, NULL, 0, &o));
        for (int i = 0; i < n; i++)
                if (pci_addr_parse(argv[optind + i], &addrs[i]) < 0)
                        return cli_bad_usage("invalid VMID or PCI address '%s': expected a VMID or [DDDD:]BB:SS[.F]",
                                             argv[optind + i]);
        return cli_exit_status(claim ? run_claim(&ctx, 0, addrs, (size_t)n, &o) : run_unclaim(&ctx, 0, addrs, (size_t)n, &o));
}

const struct cli_command cli_cmd_claim = {
        .name = "claim",
        .synopsis = "claim VMID|BDF...",
        .help = "give to vfio-pci from boot on, with the pinned reset_method (udev rule)",
        .options = claim_options,
        .dry_run = true,
        .fn = cmd_claim,
};

const struct cli_command cli_cmd_unclaim = {
        .name = "unclaim",
        .synopsis = "unclaim VMID|BDF...",
        .help = "undo claim (the function stays on its driver until the next boot)",
        .options = unclaim_options,
        .dry_run = true,
        .fn = cmd_claim,
};
