/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every command shares: see cli.h. */
#include "cli.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/util.h"
#include "log/journal.h"
#include "pve/vmconf.h"

/* The global options, as every command's getopt_long sees them after its own. */
enum {
        OPT_ROOT = 0x200,
        OPT_CONFIG,
        OPT_NODE,
        OPT_GLOBAL_DRY_RUN,
        OPT_HELP,
};

static const struct option global_longopts[] = {
        { "root", required_argument, NULL, OPT_ROOT },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "node", required_argument, NULL, OPT_NODE },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, OPT_HELP },
};

/* The most options one command has; more is a programming error (cli_getopt aborts), not a
 * silently missing option. */
#define CLI_MAX_OPTIONS 16

static void say_line(const char *tail, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void say_line(const char *tail, const char *fmt, va_list ap)
{
        fputs("pve-gpu-reset: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputs(tail, stderr);
}

int cli_bad_usage(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        say_line(" (see --help)\n", fmt, ap);
        va_end(ap);
        return EXIT_USAGE;
}

void cli_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        say_line("\n", fmt, ap);
        va_end(ap);
}

void cli_print_help(const struct cli_command *self, FILE *out)
{
        fprintf(out, "Usage: pve-gpu-reset %s [OPTIONS]\n%s\n", self->synopsis, self->help);
        if (self->options[0].name)
                fputs("\nOptions:\n", out);
        for (const struct cli_option *o = self->options; o->name; o++) {
                char left[64];

                snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
                fprintf(out, "  %-24s %s\n", left, o->help);
        }
        fputs("\nGlobal options (before or after the command): --root DIR, --config FILE, --node NAME, -v, --help\n",
              out);
}

int cli_getopt(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
        struct option longopts[CLI_MAX_OPTIONS + ELEMENTSOF(global_longopts) + 1] = {};
        size_t n = 0;
        int c;

        for (const struct cli_option *o = self->options; o->name; o++) {
                assert(n < CLI_MAX_OPTIONS);
                longopts[n++] = (struct option){ o->name, o->has_arg, NULL, o->val };
        }
        for (size_t i = 0; i < ELEMENTSOF(global_longopts); i++)
                longopts[n++] = global_longopts[i];
        for (;;) {
                /* ':' first: a missing value is told apart from an unknown option */
                c = getopt_long(argc, argv, ":vh", longopts, NULL);
                switch (c) {
                case OPT_ROOT: g->root = optarg; continue;
                case OPT_CONFIG: g->config = optarg; continue;
                case OPT_NODE: g->node = optarg; continue;
                case 'v': g->verbose++; continue;
                case 'h':
                case OPT_HELP:
                        cli_print_help(self, stdout);
                        return CLI_GETOPT_HELP;
                case ':':
                        cli_bad_usage("%s: option '%s' needs a value", self->name, argv[optind - 1]);
                        return CLI_GETOPT_USAGE;
                case '?': {
                        const char *arg = argv[optind - 1];
                        int len = (int)strcspn(arg, "=");

                        if (strncmp(arg, "--", 2) != 0)
                                cli_bad_usage("%s does not take -%c", self->name, optopt);
                        else if (optopt) /* a flag given a value: --json=1 */
                                cli_bad_usage("%s: option '%.*s' takes no value", self->name, len, arg);
                        else /* "--method=flr" is named as --method */
                                cli_bad_usage("%s does not take %.*s", self->name, len, arg);
                        return CLI_GETOPT_USAGE;
                }
                case CLI_OPTION_DRY_RUN: g->dry_run = true; continue;
                default: return c;
                }
        }
}

int cli_getopt_status(int c)
{
        return c == CLI_GETOPT_HELP ? EXIT_DONE : EXIT_USAGE;
}

int cli_setup(const struct cli_command *self, const struct cli_globals *g, struct pgr_ctx *ret_ctx)
{
        /* a promise that nothing changes: only a command that keeps it takes it */
        if (g->dry_run && !self->dry_run)
                cli_bad_usage("%s does not take --dry-run", self->name);
        else if (g->root && g->root[0] != '/')
                cli_bad_usage("--root must be an absolute path, got '%s'", g->root);
        else if (g->config && g->config[0] == '\0')
                cli_bad_usage("--config needs a file");
        else if (pgr_ctx_init(ret_ctx, g->root, g->node) < 0)
                cli_bad_usage("invalid --root, --node or $PVE_GPU_RESET_ROOT");
        else
                return 0;
        return -EINVAL;
}

int cli_want_args(const struct cli_command *self, int n, int min, int max)
{
        if (n < min || n > max) {
                cli_bad_usage("%s: expected %s", self->name,
                              min == max ? (min == 1 ? "one argument" : "no argument") : "arguments");
                return -EINVAL;
        }
        return 0;
}

int cli_parse_vmid(const char *s, unsigned long *ret)
{
        if (vmid_parse(s, ret) < 0) {
                cli_error("invalid VMID '%s': expected digits, %lu..%lu", s, VMID_MIN, VMID_MAX);
                return -EINVAL;
        }
        return 0;
}

int cli_exit_status(int r)
{
        return r >= 0 ? EXIT_DONE : r == -EINVAL ? EXIT_USAGE : EXIT_FAILED;
}

void cli_print_message(const char *msg, void *userdata)
{
        (void)userdata;
        cli_error("%s", msg);
}

void cli_run_options(const struct cli_globals *g, struct run_options *ret)
{
        *ret = (struct run_options){
                .config_path = g->config,
                .migrated_from = getenv("PVE_MIGRATED_FROM"),
                .dry_run = g->dry_run,
                .on_message = cli_print_message,
        };
}

struct journal *cli_open_journal(const struct pgr_ctx *ctx, const struct cli_globals *g)
{
        struct journal *j = NULL;
        int r;

        /* -v: every entry also on stderr, not only warnings and errors */
        r = g->verbose ? journal_open_mode(JOURNAL_MODE_BOTH, stderr, &j) : journal_open(ctx, &j);
        if (r < 0) {
                cli_error("journal unavailable (%s); logging to stderr", strerror(-r));
                return NULL;
        }
        return j;
}

int cli_print_plan(const struct plan *p, bool json, const struct cli_globals *g)
{
        if (json) {
                struct json_object *j = NULL;

                if (plan_to_json(p, &j) < 0)
                        return EXIT_FAILED;
                puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(j);
        } else
                plan_print(p, g->verbose > 0, stdout);
        return plan_has_errors(p) ? EXIT_FAILED : EXIT_DONE;
}
