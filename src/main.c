/* SPDX-License-Identifier: GPL-2.0-or-later */
/* argv → the command table, or hook mode (`VMID PHASE`, what Proxmox calls); nothing else lives here.
 * The global options stand before the command ("+": getopt stops at the command's name, as kmod's
 * tools/kmod.c does); each command parses its own (src/cmd-*.c). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <json-c/linkhash.h>

#include "cli.h"
#include "base/util.h"

static const struct cli_command *const commands[] = {
        &cli_cmd_plan, &cli_cmd_doctor, &cli_cmd_history, &cli_cmd_reset,
        &cli_cmd_verify, &cli_cmd_attach, &cli_cmd_detach, &cli_cmd_claim, &cli_cmd_unclaim,
};

static void usage(FILE *out)
{
        fputs("Usage:\n", out);
        fprintf(out, "  pve-gpu-reset %-24s %s\n", cli_cmd_hook.synopsis, cli_cmd_hook.help);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(out, "  pve-gpu-reset %-24s %s\n", commands[i]->synopsis, commands[i]->help);
        fputs("Global options (before or after the command): --root DIR, --config FILE, --node NAME, -v, --version, --help\n"
              "--dry-run (before or after the command): plan, doctor, history, reset, claim and unclaim show what they\n"
              "  would do and change nothing, and so does hook mode; the other commands refuse it.\n"
              "'pve-gpu-reset COMMAND --help' lists the options of a command.\n"
              "Phases: pre-start, post-start, pre-stop, post-stop. Exit: 0 done, 1 failed, 2 bad usage or input.\n",
              out);
}

static const struct cli_command *find_command(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i]->name, name))
                        return commands[i];
        return NULL;
}

/* A command's option before the command's name: say where it goes. */
static int misplaced_option(const char *arg)
{
        size_t len = strcspn(arg, "=");

        for (size_t i = 0; strncmp(arg, "--", 2) == 0 && i < ELEMENTSOF(commands); i++)
                for (const struct cli_option *o = commands[i]->options; o->name; o++)
                        if (strlen(o->name) == len - 2 && strncmp(o->name, arg + 2, len - 2) == 0)
                                return cli_bad_usage("%.*s is an option of a command: put it after the command's name",
                                                     (int)len, arg);
        return cli_bad_usage("unknown option '%s'", arg);
}

int main(int argc, char **argv)
{
        enum { OPT_ROOT = 0x200, OPT_CONFIG, OPT_NODE, OPT_DRY_RUN, OPT_VERSION };
        static const struct option longopts[] = {
                { "root", required_argument, NULL, OPT_ROOT },
                { "config", required_argument, NULL, OPT_CONFIG },
                { "node", required_argument, NULL, OPT_NODE },
                { "dry-run", no_argument, NULL, OPT_DRY_RUN },
                { "verbose", no_argument, NULL, 'v' },
                { "version", no_argument, NULL, OPT_VERSION },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct cli_globals g = {};
        const struct cli_command *cmd;
        bool help = false, version = false;
        int c;

        /* An ignored SIGCHLD survives execve (the hook inherits it from whoever ran it): the kernel would
         * reap our children itself and waitpid() fail with ECHILD (the bounded binds, modprobe, the
         * chained hookscript). */
        (void)signal(SIGCHLD, SIG_DFL);

        /* json-c seeds its default string hash from /dev/urandom, which can stall a hook run at boot for
         * a second; our JSON is small and root-owned, so the unseeded hash is fine. */
        json_global_set_string_hash(JSON_C_STR_HASH_PERLLIKE);
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:vh", longopts, NULL)) >= 0) {
                switch (c) {
                case OPT_ROOT: g.root = optarg; break;
                case OPT_CONFIG: g.config = optarg; break;
                case OPT_NODE: g.node = optarg; break;
                case OPT_DRY_RUN: g.dry_run = true; break;
                case 'v': g.verbose++; break;
                case OPT_VERSION: version = true; break;
                case 'h': help = true; break;
                case ':': return cli_bad_usage("option '%s' needs a value", argv[optind - 1]);
                default:
                        if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
                                return cli_bad_usage("unknown option '-%c'", optopt);
                        return misplaced_option(argv[optind - 1]);
                }
        }
        if (help) {
                usage(stdout);
                return EXIT_DONE;
        }
        if (version) {
                printf("pve-gpu-reset %s\n", PGR_VERSION);
                return EXIT_DONE;
        }
        argv += optind;
        argc -= optind;
        if (argc < 1) {
                usage(stderr);
                return EXIT_USAGE;
        }
        cmd = find_command(argv[0]);
        /* Hook mode: not a command's name, so `VMID PHASE` (cmd-hook.c says what else it takes). */
        if (!cmd)
                cmd = &cli_cmd_hook;
        optind = 0; /* the command's getopt_long starts afresh on its own argv */
        return cmd->fn(cmd, argc, argv, &g);
}
