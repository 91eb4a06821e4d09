/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `doctor [VMID] [--json]`: the diagnosis of doctor_collect, printed; changes nothing. */
#include "cli.h"

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "doctor/doctor.h"

enum { OPT_JSON = 1 };

static const struct cli_option options[] = {
        { "json", no_argument, OPT_JSON, NULL, "one JSON document instead of the report" },
        { "dry-run", no_argument, CLI_OPTION_DRY_RUN, NULL, "accepted: doctor changes nothing anyway" },
        {},
};

/* Exit 0 nothing fails, 1 a check fails (or stdout could not be written), 2 bad input. */
static int print_report(const struct doctor_report *rep, bool json)
{
        if (json) {
                struct json_object *o = NULL;
                int r = doctor_report_to_json(rep, &o);

                if (r < 0) {
                        cli_error("doctor: %s", strerror(-r));
                        return EXIT_FAILED;
                }
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else
                doctor_report_print(rep, stdout);
        if (fflush(stdout) != 0 || ferror(stdout))
                return EXIT_FAILED;
        return doctor_report_verdict(rep) == DOCTOR_FAIL ? EXIT_FAILED : EXIT_DONE;
}

static int cmd_doctor(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = NULL;
        struct pgr_error err = {};
        struct pgr_ctx ctx;
        unsigned long vmid = 0;
        bool json = false;
        int c, r;

        while ((c = cli_getopt(self, argc, argv, g)) >= 0)
                if (c == OPT_JSON)
                        json = true;
        if (c != -1)
                return cli_getopt_status(c);
        if (cli_setup(self, g, &ctx) < 0)
                return EXIT_USAGE;
        if (cli_want_args(self, argc - optind, 0, 1) < 0 ||
            (argc - optind == 1 && cli_parse_vmid(argv[optind], &vmid) < 0))
                return EXIT_USAGE;
        r = doctor_collect(&ctx, vmid, g->config, &rep, &err);
        if (r < 0) {
                /* doctor_collect's errors are bad input, but for a lack of memory or of libkmod */
                cli_error("doctor: %s", err.msg[0] ? err.msg : strerror(-r));
                return r == -ENOMEM || r == -ELIBACC ? EXIT_FAILED : EXIT_USAGE;
        }
        return print_report(rep, json);
}

const struct cli_command cli_cmd_doctor = {
        .name = "doctor",
        .synopsis = "doctor [VMID]",
        .help = "diagnose host and devices, with the fix for each finding",
        .options = options,
        .dry_run = true,
        .fn = cmd_doctor,
};
