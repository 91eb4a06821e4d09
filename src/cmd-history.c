/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `history [--vmid N] [--device BDF] [--since T] [--json]`: the journal's entries, newest first. */
#include "cli.h"

#include <errno.h>

#include "log/history.h"

enum { OPT_VMID = 1, OPT_DEVICE, OPT_SINCE, OPT_JSON };

static const struct cli_option options[] = {
        { "vmid", required_argument, OPT_VMID, "N", "only the entries of VM N" },
        { "device", required_argument, OPT_DEVICE, "BDF", "only the entries of a PCI function or slot" },
        { "since", required_argument, OPT_SINCE, "T", "only entries from T on (\"2026-11-24 10:00\", \"-2d\", \"today\")" },
        { "json", no_argument, OPT_JSON, NULL, "one JSON document instead of the table" },
        { "dry-run", no_argument, CLI_OPTION_DRY_RUN, NULL, "accepted: history changes nothing anyway" },
        {},
};

static int cmd_history(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        const char *vmid = NULL, *device = NULL, *since = NULL;
        struct history_filter f = {};
        struct pgr_error err = {};
        struct pgr_ctx ctx;
        bool json = false;
        int c, r;

        while ((c = cli_getopt(self, argc, argv, g)) >= 0)
                switch (c) {
                case OPT_VMID: vmid = optarg; break;
                case OPT_DEVICE: device = optarg; break;
                case OPT_SINCE: since = optarg; break;
                case OPT_JSON: json = true; break;
                }
        if (c != -1)
                return cli_getopt_status(c);
        if (cli_setup(self, g, &ctx) < 0)
                return EXIT_USAGE;
        if (cli_want_args(self, argc - optind, 0, 0) < 0 || (vmid && cli_parse_vmid(vmid, &f.vmid) < 0))
                return EXIT_USAGE;
        r = history_filter_init(&f, device, since, &err);
        if (r >= 0)
                r = history_query(&ctx, &f, json, stdout, &err);
        if (r < 0)
                cli_error("%s", err.msg);
        return cli_exit_status(r);
}

const struct cli_command cli_cmd_history = {
        .name = "history",
        .synopsis = "history",
        .help = "what the hook and the reset command did, from the journal",
        .options = options,
        .dry_run = true,
        .fn = cmd_history,
};
