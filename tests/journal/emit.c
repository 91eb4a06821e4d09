/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test driver for tests/journal/run.sh, until the suite runs the real hook:
 *   emit log KEY=VALUE...      one event through journal_open() + journal_log(), as the hook does;
 *                              exit 0 when some sink took it (the hook never fails for logging),
 *                              3 when journal_log() returned an error
 *   emit history [--vmid N] [--device BDF] [--since T] [--json]
 *                              history_filter_init() + history_query(); exit 2 bad filter, 1 failure
 * Keys: id (a name from pgr_msgids[] or 32 hex digits), priority (0..7), vmid, phase, slot, pci_id,
 * action, method, result, duration (usec), before, after, errno, message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/context.h"
#include "base/util.h"
#include "log/history.h"
#include "log/journal.h"
#include "log/msgid.h"

static int bad(const char *what, const char *arg)
{
        fprintf(stderr, "emit: %s '%s'\n", what, arg);
        return 2;
}

static int do_log(int argc, char **argv)
{
        struct journal_event ev = { .priority = LOG_INFO, .duration_usec = -1 };
        struct journal *j = NULL;
        struct pgr_ctx ctx;
        unsigned long v;
        int r;

        for (int i = 0; i < argc; i++) {
                char *eq = strchr(argv[i], '=');
                const char *k = argv[i], *val;

                if (!eq)
                        return bad("expected KEY=VALUE, got", argv[i]);
                *eq = '\0';
                val = eq + 1;
                if (streq(k, "id")) {
                        ev.message_id = val;
                        for (size_t n = 0; n < pgr_msgids_count; n++)
                                if (streq(pgr_msgids[n].name, val))
                                        ev.message_id = pgr_msgids[n].id;
                } else if (streq(k, "priority")) {
                        if (parse_uint(val, 10, 7, &v) < 0)
                                return bad("bad priority", val);
                        ev.priority = (int)v;
                } else if (streq(k, "vmid")) {
                        if (parse_uint(val, 10, 999999999, &v) < 0)
                                return bad("bad vmid", val);
                        ev.vmid = v;
                } else if (streq(k, "duration")) {
                        if (parse_uint(val, 10, (unsigned long)1 << 62, &v) < 0)
                                return bad("bad duration", val);
                        ev.duration_usec = (long long)v;
                } else if (streq(k, "errno")) {
                        if (parse_uint(val, 10, 4095, &v) < 0)
                                return bad("bad errno", val);
                        ev.errno_value = (int)v;
                } else if (streq(k, "phase"))
                        ev.phase = val;
                else if (streq(k, "slot"))
                        ev.slot = val;
                else if (streq(k, "pci_id"))
                        ev.pci_id = val;
                else if (streq(k, "action"))
                        ev.action = val;
                else if (streq(k, "method"))
                        ev.method = val;
                else if (streq(k, "result"))
                        ev.result = val;
                else if (streq(k, "before"))
                        ev.driver_before = val;
                else if (streq(k, "after"))
                        ev.driver_after = val;
                else if (streq(k, "message"))
                        ev.message = val;
                else
                        return bad("unknown key", k);
        }
        r = pgr_ctx_init(&ctx, NULL, "pve");
        if (r < 0)
                return bad("bad PVE_GPU_RESET_ROOT", getenv("PVE_GPU_RESET_ROOT"));
        r = journal_open(&ctx, &j);
        if (r < 0)
                fprintf(stderr, "pve-gpu-reset: journal unavailable (%s); logging to stderr\n", strerror(-r));
        r = journal_log(j, &ev);
        journal_close(j);
        return r < 0 ? 3 : 0;
}

static int do_history(int argc, char **argv)
{
        const char *device = NULL, *since = NULL;
        struct history_filter f = {};
        struct pgr_error err = {};
        struct pgr_ctx ctx;
        bool json = false;
        int r;

        for (int i = 0; i < argc; i++) {
                if (streq(argv[i], "--json"))
                        json = true;
                else if (i + 1 < argc && streq(argv[i], "--vmid")) {
                        if (parse_uint(argv[++i], 10, 999999999, &f.vmid) < 0 || f.vmid < 100)
                                return bad("invalid VMID", argv[i]);
                } else if (i + 1 < argc && streq(argv[i], "--device"))
                        device = argv[++i];
                else if (i + 1 < argc && streq(argv[i], "--since"))
                        since = argv[++i];
                else
                        return bad("unknown option", argv[i]);
        }
        r = history_filter_init(&f, device, since, &err);
        if (r < 0) {
                fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                return 2;
        }
        r = pgr_ctx_init(&ctx, NULL, "pve");
        if (r < 0)
                return bad("bad PVE_GPU_RESET_ROOT", getenv("PVE_GPU_RESET_ROOT"));
        r = history_query(&ctx, &f, json, stdout, &err);
        if (r < 0) {
                fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                return r == -EINVAL ? 2 : 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        if (argc >= 2 && streq(argv[1], "log"))
                return do_log(argc - 2, argv + 2);
        if (argc >= 2 && streq(argv[1], "history"))
                return do_history(argc - 2, argv + 2);
        fputs("usage: emit log KEY=VALUE... | emit history [--vmid N] [--device BDF] [--since T] [--json]\n", stderr);
        return 2;
}
