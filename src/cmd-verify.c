/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `verify VMID`: start, probe in the guest, shut down, N times, through qm (lib/reset/verify.c); the table
 * or JSON of it. */
#include "cli.h"

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "base/bdf.h"
#include "log/journal.h"
#include "reset/plan.h"
#include "reset/verify.h"

enum { OPT_CYCLES = 1, OPT_PROBE, OPT_AGENT_TIMEOUT, OPT_SHUTDOWN_TIMEOUT, OPT_FORCE, OPT_JSON };

/* The defaults of verify.h in the help text, so the two cannot drift apart. */
#define TEXT(x) #x
#define DEFAULT(x) "(default " TEXT(x) ")"

/* verify starts and stops the VM: no --dry-run (a plan of it is `plan VMID`) */
static const struct cli_option options[] = {
        { "cycles", required_argument, OPT_CYCLES, "N", "start and shut down N times " DEFAULT(VERIFY_DEFAULT_CYCLES) },
        { "probe", required_argument, OPT_PROBE, "CMD",
          "run CMD in the guest (default " VERIFY_DEFAULT_PROBE ", else " VERIFY_FALLBACK_PROBE ")" },
        { "agent-timeout", required_argument, OPT_AGENT_TIMEOUT, "S",
          "seconds to wait for the guest agent " DEFAULT(VERIFY_DEFAULT_AGENT_TIMEOUT) },
        { "shutdown-timeout", required_argument, OPT_SHUTDOWN_TIMEOUT, "S",
          "seconds for qm shutdown before qm stop " DEFAULT(VERIFY_DEFAULT_SHUTDOWN_TIMEOUT) },
        { "force", no_argument, OPT_FORCE, NULL, "a VM that is running is shut down first instead of refused" },
        { "json", no_argument, OPT_JSON, NULL, "one JSON document instead of the table" },
        {},
};

static void verify_print_header(FILE *out)
{
        fprintf(out, "%-5s  %-7s  %-7s  %-8s  %-8s  %-11s  %-9s  %s\n", "CYCLE", "VERDICT", "START", "AGENT", "PROBE",
                "LINK", "STOP", "RESETS");
}

struct verify_printer {
        FILE *out;
        const char *probe;      /* --probe, NULL: the default with its fallback */
};

static void verify_print_cycle(const struct verify_cycle *cy, void *userdata)
{
        const struct verify_printer *pr = userdata;
        FILE *out = pr->out;
        char agent[24] = "-", probe[24] = "-", link[64] = "", stop[16] = "-", resets[64], dur[24];

        if (cy->index == 1)
                verify_print_header(out);
        if (cy->agent == VERIFY_STEP_OK)
                journal_format_duration(cy->agent_wait_usec, agent);
        else if (cy->agent == VERIFY_STEP_FAILED)
                snprintf(agent, sizeof(agent), "failed");
        if (cy->probe == VERIFY_STEP_OK || cy->probe_exitcode >= 0)
                snprintf(probe, sizeof(probe), "exit %d", cy->probe_exitcode);
        else if (cy->probe == VERIFY_STEP_FAILED)
                snprintf(probe, sizeof(probe), "failed");
        for (size_t i = 0; i < cy->n_links; i++) {
                size_t n = strlen(link);
                char cur[12] = "?", max[12] = "?";

                if (cy->links[i].current_width >= 0)
                        snprintf(cur, sizeof(cur), "x%d", cy->links[i].current_width);
                if (cy->links[i].max_width >= 0)
                        snprintf(max, sizeof(max), "x%d", cy->links[i].max_width);
                snprintf(link + n, sizeof(link) - n, "%s%s/%s", n ? "," : "", cur, max);
        }
        if (cy->stop == VERIFY_STEP_OK)
                snprintf(stop, sizeof(stop), "%s", cy->stop_forced ? "qm stop" : "shutdown");
        else if (cy->stop == VERIFY_STEP_FAILED)
                snprintf(stop, sizeof(stop), "failed");
        if (!cy->resets_known)
                snprintf(resets, sizeof(resets), "unknown (journal not readable)");
        else if (!cy->hook_journaled && cy->start == VERIFY_STEP_OK)
                snprintf(resets, sizeof(resets), "%zu (no hook entries: is it attached?)", cy->n_resets);
        else
                snprintf(resets, sizeof(resets), "%zu", cy->n_resets);
        fprintf(out, "%-5u  %-7s  %-7s  %-8s  %-8s  %-11s  %-9s  %s\n", cy->index, cy->passed ? "pass" : "fail",
                verify_step_string(cy->start), agent, probe, link[0] ? link : "-", stop, resets);
        for (size_t i = 0; i < cy->n_resets; i++) {
                const struct verify_reset *rs = &cy->resets[i];

                snprintf(dur, sizeof(dur), "-");
                if (rs->duration_usec >= 0)
                        journal_format_duration(rs->duration_usec, dur);
                fprintf(out, "    %s %s %s %s %s %s\n", rs->phase[0] ? rs->phase : "-", rs->slot[0] ? rs->slot : "-",
                        rs->action, rs->method[0] ? rs->method : "-", rs->result[0] ? rs->result : "-", dur);
        }
        if (!cy->resets_known)
                fprintf(out, "    journal: %s\n", cy->resets_unknown_why);
        if (!pr->probe && streq(cy->probe_command, VERIFY_FALLBACK_PROBE))
                fprintf(out, "    probe: %s (no nvidia-smi in the guest)\n", VERIFY_FALLBACK_PROBE);
        if (cy->stop_forced && cy->stop == VERIFY_STEP_OK)
                fprintf(out, "    stop: %s\n", cy->stop_message);
        if (!cy->passed)
                fprintf(out, "    fail: %s\n", cy->reason);
        fflush(out);
}

/* The cycles of verify.h on the VM's pre-start plan: a table (each cycle as it ends) or one JSON
 * document. Exit 0 only when every cycle passed. */
static int run_cycles(struct pgr_ctx *ctx, unsigned long vmid, const struct verify_options *vo, bool json,
                      const struct cli_globals *g)
{
        _cleanup_(run_inputs_done) struct run_inputs in = {};
        _cleanup_(plan_freep) struct plan *p = NULL;
        _cleanup_(verify_result_freep) struct verify_result *res = NULL;
        struct verify_options opts = *vo;
        struct verify_printer printer = { .out = stdout, .probe = vo->probe };
        struct pci_addr funcs[VERIFY_MAX_FUNCTIONS];
        struct pgr_error err = {};
        struct run_options o;
        char list[VERIFY_MAX_FUNCTIONS * PCI_ADDR_STRLEN] = "", b[PCI_ADDR_STRLEN];
        size_t n;
        int r;

        if (verify_check_options(vo, &err) < 0)
                return cli_bad_usage("%s", err.msg);
        cli_run_options(g, &o);
        r = run_vm_plan(ctx, vmid, PHASE_PRE_START, &o, false, &in, &p, &err);
        if (r < 0) {
                cli_error("%s", err.msg);
                return cli_exit_status(r);
        }
        n = verify_functions(p, funcs, ELEMENTSOF(funcs));
        if (n == 0) {
                cli_error("VM %lu has no PCI function to verify (no hostpci line, or only driver=keep or mdev ones)",
                          vmid);
                return EXIT_USAGE;
        }
        for (size_t i = 0; i < n; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? " " : "",
                         pci_addr_format(&funcs[i], b));
        /* the promise, before anything happens */
        cli_error("verify starts and shuts down VM %lu %u time(s) through qm and changes nothing else (functions %s)",
                  vmid, vo->cycles, list);
        if (!json) {
                opts.on_cycle = verify_print_cycle;
                opts.userdata = &printer;
        }
        r = verify_run(ctx, p, &opts, &res, &err);
        if (r < 0) {
                cli_error("%s", err.msg[0] ? err.msg : strerror(-r));
                return cli_exit_status(r);
        }
        if (res->stopped_first[0])
                cli_error("%s", res->stopped_first);
        if (res->refused[0])
                cli_error("refused: %s", res->refused);
        if (json) {
                struct json_object *j = NULL;

                if (verify_to_json(res, &j) < 0)
                        return EXIT_FAILED;
                puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(j);
        } else if (!res->refused[0]) {
                size_t passed = 0;

                for (size_t i = 0; i < res->n_cycles; i++)
                        passed += res->cycles[i].passed;
                printf("verify: VM %lu: %zu of %u cycle(s) passed%s\n", vmid, passed, res->cycles_requested,
                       res->n_cycles < res->cycles_requested ? " (stopped early: the VM could not be stopped)" : "");
        }
        return res->passed ? EXIT_DONE : EXIT_FAILED;
}

/* A positive number of at most max (cycles, seconds); NULL leaves *ret at its default. */
static int parse_count(const char *s, const char *opt, unsigned long max, unsigned *ret)
{
        unsigned long v;

        if (!s)
                return 0;
        if (parse_uint(s, 10, max, &v) < 0 || v == 0) {
                cli_bad_usage("invalid %s '%s': expected 1..%lu", opt, s, max);
                return -EINVAL;
        }
        *ret = (unsigned)v;
        return 0;
}

static int cmd_verify(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        const char *cycles = NULL, *agent_timeout = NULL, *shutdown_timeout = NULL;
        struct verify_options vo = {
                .cycles = VERIFY_DEFAULT_CYCLES,
                .agent_timeout = VERIFY_DEFAULT_AGENT_TIMEOUT,
                .shutdown_timeout = VERIFY_DEFAULT_SHUTDOWN_TIMEOUT,
        };
        struct pgr_ctx ctx;
        unsigned long vmid;
        bool json = false;
        int c;

        while ((c = cli_getopt(self, argc, argv, g)) >= 0)
                switch (c) {
                case OPT_CYCLES: cycles = optarg; break;
                case OPT_PROBE: vo.probe = optarg; break;
                case OPT_AGENT_TIMEOUT: agent_timeout = optarg; break;
                case OPT_SHUTDOWN_TIMEOUT: shutdown_timeout = optarg; break;
                case OPT_FORCE: vo.force = true; break;
                case OPT_JSON: json = true; break;
                }
        if (c != -1)
                return cli_getopt_status(c);
        if (cli_setup(self, g, &ctx) < 0)
                return EXIT_USAGE;
        if (cli_want_args(self, argc - optind, 1, 1) < 0 || cli_parse_vmid(argv[optind], &vmid) < 0 ||
            parse_count(cycles, "--cycles", VERIFY_MAX_CYCLES, &vo.cycles) < 0 ||
            parse_count(agent_timeout, "--agent-timeout", 86400, &vo.agent_timeout) < 0 ||
            parse_count(shutdown_timeout, "--shutdown-timeout", 86400, &vo.shutdown_timeout) < 0)
                return EXIT_USAGE;
        return run_cycles(&ctx, vmid, &vo, json, g);
}

const struct cli_command cli_cmd_verify = {
        .name = "verify",
        .synopsis = "verify VMID",
        .help = "start, probe in the guest, shut down, N times",
        .options = options,
        .dry_run = false,
        .fn = cmd_verify,
};
