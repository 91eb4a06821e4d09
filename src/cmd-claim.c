/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `claim VMID|BDF...`, `unclaim VMID|BDF...`, and `claim --udev BDF` (the udev rule's entry point):
 * vfio-pci and the pinned reset_method from boot on (lib/reset/claim.c, 70-pve-gpu-reset.rules). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bdf.h"
#include "log/journal.h"
#include "reset/claim.h"

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

/* The live state after a claim, as the line ends. */
static void claim_now(const struct run_claim_item *it, char *buf, size_t size)
{
        switch (it->now) {
        case RUN_CLAIM_NOW_ELSEWHERE:
                snprintf(buf, size, "in use elsewhere now: claimed for the next boot only");
                break;
        case RUN_CLAIM_NOW_HOST_DRIVER:
                snprintf(buf, size, "bound to %s now: claimed for the next boot only (not unbound; "
                         "'udevadm trigger --action=add %s' hands it over now)", it->driver, it->bdf);
                break;
        case RUN_CLAIM_NOW_DRY_RUN:
                snprintf(buf, size, "%s now", it->driver[0] ? "on vfio-pci" : "would be given to vfio-pci");
                break;
        case RUN_CLAIM_NOW_BUSY:
                snprintf(buf, size, "a pve-gpu-reset run holds the slot now: it binds and pins the function");
                break;
        case RUN_CLAIM_NOW_VFIO:
                snprintf(buf, size, "%s now%s", it->vfio_missing ? "unbound (vfio-pci not loaded)" : "on vfio-pci",
                         it->pin_not_taken ? " (the pin did not take: the kernel's list stays)" : "");
                break;
        }
}

void cli_print_claim_result(unsigned long vmid, bool dry_run, const struct run_claim_result *res)
{
        char who[32], now[512];

        if (res->no_hostpci) {
                printf("VM %lu: no hostpci entry, nothing to claim\n", vmid);
                return;
        }
        if (vmid)
                snprintf(who, sizeof(who), "for VM %lu", vmid);
        else
                snprintf(who, sizeof(who), "by hand");
        for (size_t i = 0; i < res->n; i++) {
                const struct run_claim_item *it = &res->items[i];

                switch (it->outcome) {
                case RUN_CLAIM_SKIPPED_USE:
                        printf("%s: not claimed: %s\n", it->bdf, it->skip_reason);
                        break;
                case RUN_CLAIM_MISSING:
                        printf("%s: not claimed: not present\n", it->bdf);
                        break;
                case RUN_CLAIM_BRIDGE:
                        printf("%s: not claimed: a PCI bridge is never given to vfio-pci\n", it->bdf);
                        break;
                case RUN_CLAIM_NO_PATH:
                        printf("%s: not claimed: its place in /sys/devices cannot be read: %s\n", it->bdf, it->why);
                        break;
                case RUN_CLAIM_RECORD_FAILED:
                        fflush(stdout);
                        cli_error("%s", it->why);
                        break;
                case RUN_CLAIM_NOT_APPLIED:
                        printf("%s (%04x:%04x): claimed %s, pin %s; not given to vfio-pci now: %.120s\n", it->bdf,
                               it->vendor, it->device, who, it->pin, it->why);
                        break;
                case RUN_CLAIM_CLAIMED:
                        claim_now(it, now, sizeof(now));
                        printf("%s (%04x:%04x): %sclaimed %s, pin %s%s; %s\n", it->bdf, it->vendor, it->device,
                               dry_run ? "would be " : "", who, it->pin, !dry_run && !it->created ? " (claim updated)" : "",
                               now);
                        break;
                }
        }
}

void cli_print_unclaim_result(unsigned long vmid, size_t n_addrs, const struct run_unclaim_result *res)
{
        for (size_t i = 0; i < res->n; i++) {
                const struct run_unclaim_item *it = &res->items[i];

                switch (it->outcome) {
                case RUN_UNCLAIM_WOULD:
                        printf("%s: would be unclaimed%s\n", it->bdf, it->others ? " by this VM (others still claim it)" : "");
                        break;
                case RUN_UNCLAIM_KEPT_BY_OTHERS:
                        printf("%s: VM %lu no longer claims it; still claimed by %s\n", it->bdf, vmid, it->owners);
                        break;
                case RUN_UNCLAIM_REMOVED:
                        printf("%s: unclaimed (it stays on its driver until the next boot)\n", it->bdf);
                        break;
                case RUN_UNCLAIM_MALFORMED_REMOVED:
                        printf("%s: malformed claim record %sremoved\n", it->bdf, it->dry_run ? "would be " : "");
                        break;
                case RUN_UNCLAIM_FAILED:
                        fflush(stdout);
                        cli_error("%s", it->why);
                        break;
                }
        }
        if (!res->n) {
                if (vmid)
                        printf("VM %lu: no claim to remove\n", vmid);
                else
                        printf("nothing claimed at the address%s given\n", n_addrs > 1 ? "es" : "");
        }
        if (res->n_malformed_left) {
                fflush(stdout);
                cli_error("%zu malformed record%s under %s left alone (unclaim BDF removes one)", res->n_malformed_left,
                          res->n_malformed_left > 1 ? "s" : "", CLAIM_DIR);
        }
}

/* claim / unclaim of a VM or of addresses: the lines, then the exit status. */
static int claim_or_unclaim(struct pgr_ctx *ctx, bool claim, unsigned long vmid, const struct pci_addr *addrs, size_t n,
                            const struct run_options *o)
{
        int r;

        if (claim) {
                _cleanup_free_ struct run_claim_result *res = calloc(1, sizeof(*res));

                if (!res)
                        return cli_exit_status(-ENOMEM);
                r = run_claim(ctx, vmid, addrs, n, o, res);
                cli_print_claim_result(vmid, o->dry_run, res);
        } else {
                _cleanup_free_ struct run_unclaim_result *res = calloc(1, sizeof(*res));

                if (!res)
                        return cli_exit_status(-ENOMEM);
                r = run_unclaim(ctx, vmid, addrs, n, o, res);
                cli_print_unclaim_result(vmid, n, res);
        }
        return cli_exit_status(r);
}

static int cmd_claim(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        struct pci_addr addrs[CLAIM_MAX_ARGS];
        bool claim = streq(self->name, "claim"), udev = false;
        unsigned long vmid = 0;
        enum claim_udev_outcome outcome = CLAIM_UDEV_NOT_CLAIMED;
        struct run_options o;
        struct pgr_ctx ctx;
        char pin[24] = "";
        int c, n, r;

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
                r = run_claim_udev(&ctx, &addrs[0], &o, j, &outcome, pin, sizeof(pin));
                /* udev's environment for the rule's next lines (and `udevadm info`): loads vfio-pci when
                 * claimed. Why a function was left alone went to the journal (a warning: on stderr too,
                 * which udev logs). */
                if (outcome == CLAIM_UDEV_DONE) {
                        printf("PVE_GPU_RESET_CLAIM=vfio-pci\n");
                        if (pin[0])
                                printf("PVE_GPU_RESET_PIN=%s\n", pin);
                }
                return cli_exit_status(r);
        }
        if (cli_want_args(self, n, 1, CLAIM_MAX_ARGS) < 0)
                return EXIT_USAGE;
        if (n == 1 && vmid_parse(argv[optind], &vmid) >= 0)
                return claim_or_unclaim(&ctx, claim, vmid, NULL, 0, &o);
        for (int i = 0; i < n; i++)
                if (pci_addr_parse(argv[optind + i], &addrs[i]) < 0)
                        return cli_bad_usage("invalid VMID or PCI address '%s': expected a VMID or [DDDD:]BB:SS[.F]",
                                             argv[optind + i]);
        return claim_or_unclaim(&ctx, claim, 0, addrs, (size_t)n, &o);
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
