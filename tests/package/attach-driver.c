/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stand-in for `pve-gpu-reset [--root DIR] [--node N] attach VMID [--storage S] | detach VMID` built
 * from libpgr.a alone (run.sh: PGR_BIN): same arguments and exit codes, and the words of the CLI's
 * lines (src/cmd-attach.c) that run.sh looks for.
 * `policy-check VMID` loads the policy and the VM's attach state as the hook does (policy_load_vm) and
 * prints the VM's chained hookscript. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/context.h"
#include "base/util.h"
#include "ops/attach.h"
#include "pve/vmconf.h"
#include "reset/policy.h"

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "root", required_argument, NULL, 'R' },
                { "node", required_argument, NULL, 'n' },
                { "storage", required_argument, NULL, 'S' },
                { "refresh", no_argument, NULL, 'F' },
                {},
        };
        const char *root = NULL, *node = NULL, *storage = NULL;
        struct pgr_error err = { "" };
        struct attach_result res;
        struct pgr_ctx ctx;
        unsigned long vmid;
        bool refresh = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case 'R': root = optarg; break;
                case 'n': node = optarg; break;
                case 'S': storage = optarg; break;
                case 'F': refresh = true; break;
                default: return 2;
                }
        }
        argv += optind;
        argc -= optind;
        if (argc == 2 && streq(argv[0], "policy-check")) {
                struct policy *p = NULL;
                struct policy_settings ps;

                if (vmid_parse(argv[1], &vmid) < 0 || pgr_ctx_init(&ctx, root, node) < 0)
                        return 2;
                r = policy_load_vm(&ctx, NULL, vmid, &p, &err);
                if (r < 0) {
                        fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                        return 2;
                }
                policy_resolve(p, vmid, 0, 0, &ps);
                printf("hookscript=%s\n", ps.hookscript);
                policy_free(p);
                return 0;
        }
        if (refresh) { /* the CLI's wording, shortened: one line per snippet */
                static const char *const what[] = { "refreshed", "up to date", "newer; left alone", "a symlink",
                                                    "not a pve-gpu-reset binary; left alone", "cannot refresh" };
                struct attach_refresh_item items[64];
                size_t n = 0;

                if (argc != 1 || !streq(argv[0], "attach") || storage) {
                        fputs("usage: attach-driver [--root DIR] attach --refresh\n", stderr);
                        return 2;
                }
                if (pgr_ctx_init(&ctx, root, node) < 0)
                        return 2;
                r = attach_refresh(&ctx, NULL, items, 64, &n, &err);
                if (r < 0) {
                        fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                        return 1;
                }
                for (size_t i = 0; i < n && i < 64; i++)
                        if (items[i].state == ATTACH_REFRESH_DONE)
                                printf("refreshed %s (%s)\n", items[i].volid, items[i].snippet);
                        else
                                printf("%s (%s): %s\n", items[i].volid, items[i].snippet, what[items[i].state]);
                return 0;
        }
        if (argc != 2 || (!streq(argv[0], "attach") && !streq(argv[0], "detach")) ||
            (storage && streq(argv[0], "detach"))) {
                fputs("usage: attach-driver [--root DIR] [--node N] attach VMID [--storage S] | attach --refresh | detach VMID\n", stderr);
                return 2;
        }
        if (vmid_parse(argv[1], &vmid) < 0) {
                fprintf(stderr, "pve-gpu-reset: invalid VMID '%s'\n", argv[1]);
                return 2;
        }
        if (pgr_ctx_init(&ctx, root, node) < 0)
                return 2;
        if (streq(argv[0], "attach"))
                r = attach_vm_opts(&ctx, vmid, &(struct attach_options){ .storage = storage }, &res, &err);
        else
                r = detach_vm_opts(&ctx, vmid, &(struct attach_options){}, &res, &err);
        if (r < 0) {
                fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                return r == -EINVAL ? 2 : 1;
        }
        if (streq(argv[0], "attach"))
                printf("VM %lu: %s %s (%s)%s%s\n", vmid, res.already ? "already attached" : "attached", res.volid,
                       res.snippet, res.chained_volid[0] ? "; its previous hookscript is chained: " : "",
                       res.chained_volid);
        else if (res.already)
                printf("VM %lu: not attached; nothing to do\n", vmid);
        else
                printf("VM %lu: detached %s; %s%s%s\n", vmid, res.volid,
                       res.chained_volid[0] ? "its hookscript is " : "the VM has no hookscript now",
                       res.chained_volid, res.chained_volid[0] ? " again" : "");
        return 0;
}
