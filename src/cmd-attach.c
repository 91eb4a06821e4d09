/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `attach VMID [--storage S]`, `attach --refresh`, `detach VMID`: this binary as the VM's Proxmox
 * hookscript, and back (lib/ops/attach.c); what was done, said on stdout. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ops/attach.h"
#include "reset/chain.h"

enum { OPT_STORAGE = 1, OPT_REFRESH };

/* attach and detach run qm set: no --dry-run (what attach would change is said by its refusals) */
static const struct cli_option attach_options[] = {
        { "storage", required_argument, OPT_STORAGE, "S", "the storage whose snippets directory gets the hookscript" },
        { "refresh", no_argument, OPT_REFRESH, NULL, "update every copy on a shared storage to this binary (no VMID)" },
        {},
};

static const struct cli_option detach_options[] = {
        {},
};

#define NO_HOSTPCI_NOTE "; the VM has no hostpci devices yet, so the hook does nothing"

static void print_attached(unsigned long vmid, const struct attach_result *res)
{
        char chain[2 * PATH_MAX + 128] = "", state[CHAIN_SHOWN_MAX];

        if (res->chained[0])
                snprintf(chain, sizeof(chain), "; its previous hookscript %s (%s) is chained, recorded in %s",
                         res->chained_volid, res->chained, chain_path(vmid, state));
        if (res->already)
                printf("VM %lu: already attached (%s, %s)%s\n", vmid, res->volid, res->snippet,
                       res->no_hostpci ? NO_HOSTPCI_NOTE : "");
        else
                printf("VM %lu: attached %s (%s %s %s)%s%s\n", vmid, res->volid, res->snippet,
                       res->copied ? "copied from" : "->", res->target, chain, res->no_hostpci ? NO_HOSTPCI_NOTE : "");
}

static void print_detached(unsigned long vmid, const struct attach_result *res)
{
        if (res->already)
                printf("VM %lu: not attached; nothing to do\n", vmid);
        else if (res->chained_in[0])
                printf("VM %lu: detached %s; its hookscript is %s again (from vms.%lu.hookscript in %s, "
                       "which is yours to remove)\n", vmid, res->volid, res->chained_volid, vmid, res->chained_in);
        else if (res->chained_volid[0])
                printf("VM %lu: detached %s; its hookscript is %s again\n", vmid, res->volid, res->chained_volid);
        else
                printf("VM %lu: detached %s; the VM has no hookscript now\n", vmid, res->volid);
}

/* One line per snippet found; 1 when it could not be refreshed. */
static int print_refresh_item(const struct attach_refresh_item *it)
{
        const char *v = it->version[0] ? it->version : "unknown (older)";

        switch (it->state) {
        case ATTACH_REFRESH_DONE:
                printf("refreshed %s (%s): version %s replaced by %s\n", it->volid, it->snippet, v, PGR_VERSION);
                return 0;
        case ATTACH_REFRESH_CURRENT:
                printf("%s (%s): up to date (%s)\n", it->volid, it->snippet, PGR_VERSION);
                return 0;
        case ATTACH_REFRESH_NEWER:
                printf("%s (%s): version %s is newer than this binary (%s); left alone\n", it->volid, it->snippet, v,
                       PGR_VERSION);
                return 0;
        case ATTACH_REFRESH_LINK:
                printf("%s (%s): a symlink, always the installed binary\n", it->volid, it->snippet);
                return 0;
        case ATTACH_REFRESH_FOREIGN:
                printf("%s (%s): not a pve-gpu-reset binary; left alone\n", it->volid, it->snippet);
                return 0;
        case ATTACH_REFRESH_FAILED:
                break;
        }
        cli_error("%s (%s): cannot refresh: %s", it->volid, it->snippet, strerror(it->error));
        return 1;
}

static int refresh(const struct pgr_ctx *ctx)
{
        struct attach_refresh_item items[64];
        struct pgr_error err = {};
        size_t n = 0;
        int failed = 0, r;

        r = attach_refresh(ctx, NULL, items, ELEMENTSOF(items), &n, &err);
        if (r < 0) {
                cli_error("%s", err.msg);
                return EXIT_FAILED;
        }
        for (size_t i = 0; i < n && i < ELEMENTSOF(items); i++)
                failed |= print_refresh_item(&items[i]);
        if (n == 0)
                printf("no copy of pve-gpu-reset in any snippets directory; nothing to refresh\n");
        return failed ? EXIT_FAILED : EXIT_DONE;
}

static int cmd_attach_detach(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        const struct cli_command refresh_cmd = { .name = "attach --refresh" };
        struct attach_options ao = {};
        struct attach_result res;
        struct pgr_error err = {};
        bool attach = streq(self->name, "attach"), refreshing = false;
        struct pgr_ctx ctx;
        unsigned long vmid;
        int c, r;

        while ((c = cli_getopt(self, argc, argv, g)) >= 0)
                switch (c) {
                case OPT_STORAGE: ao.storage = optarg; break;
                case OPT_REFRESH: refreshing = true; break;
                }
        if (c != -1)
                return cli_getopt_status(c);
        if (cli_setup(self, g, &ctx) < 0)
                return EXIT_USAGE;
        if (refreshing) {
                if (ao.storage)
                        return cli_bad_usage("attach --refresh does not take --storage");
                if (cli_want_args(&refresh_cmd, argc - optind, 0, 0) < 0)
                        return EXIT_USAGE;
                return refresh(&ctx);
        }
        if (cli_want_args(self, argc - optind, 1, 1) < 0 || cli_parse_vmid(argv[optind], &vmid) < 0)
                return EXIT_USAGE;
        ao.policy_path = g->config;
        r = attach ? attach_vm_opts(&ctx, vmid, &ao, &res, &err) : detach_vm_opts(&ctx, vmid, &ao, &res, &err);
        if (r < 0) {
                cli_error("%s", err.msg);
                return cli_exit_status(r);
        }
        if (attach)
                print_attached(vmid, &res);
        else
                print_detached(vmid, &res);
        /* attach claims the VM's functions from boot on; detach drops this VM's claims. The hookscript
         * is what they are asked for: a claim that cannot be made (no card here yet) is said on
         * stderr and does not fail them. */
        {
                _cleanup_free_ struct run_claim_result *claimed = calloc(1, sizeof(*claimed));
                _cleanup_free_ struct run_unclaim_result *unclaimed = calloc(1, sizeof(*unclaimed));
                struct run_options o;

                if (!claimed || !unclaimed)
                        return cli_exit_status(-ENOMEM);
                cli_run_options(g, &o);
                r = attach ? run_claim(&ctx, vmid, NULL, 0, &o, claimed) : run_unclaim(&ctx, vmid, NULL, 0, &o, unclaimed);
                if (attach)
                        cli_print_claim_result(vmid, false, claimed);
                else
                        cli_print_unclaim_result(vmid, 0, unclaimed);
                if (r < 0)
                        cli_error("VM %lu: %s; 'pve-gpu-reset %s %lu' retries it", vmid,
                                  attach ? "its functions are not all claimed from boot" : "its claims were not all removed",
                                  attach ? "claim" : "unclaim", vmid);
        }
        return EXIT_DONE;
}

const struct cli_command cli_cmd_attach = {
        .name = "attach",
        .synopsis = "attach VMID",
        .help = "make this binary the VM's hookscript (--refresh: update the copies on shared storages)",
        .options = attach_options,
        .dry_run = false,
        .fn = cmd_attach_detach,
};

const struct cli_command cli_cmd_detach = {
        .name = "detach",
        .synopsis = "detach VMID",
        .help = "undo attach: the VM's previous hookscript, or none",
        .options = detach_options,
        .dry_run = false,
        .fn = cmd_attach_detach,
};
