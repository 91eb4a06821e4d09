/* SPDX-License-Identifier: GPL-2.0-or-later */
/* argv → hook mode (`VMID PHASE`, what Proxmox calls) or a subcommand; nothing else lives here. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/linkhash.h>

#include "attach.h"
#include "bdf.h"
#include "context.h"
#include "doctor.h"
#include "history.h"
#include "run.h"
#include "util.h"
#include "vmconf.h"

static void usage(FILE *out)
{
        fputs("Usage:\n"
              "  pve-gpu-reset VMID PHASE                       hook mode, what Proxmox calls\n"
              "  pve-gpu-reset plan VMID [--phase P] [--json]   what the hook would do now; changes nothing\n"
              "  pve-gpu-reset doctor [VMID] [--json]           diagnose host and devices, with the fix for each finding\n"
              "  pve-gpu-reset history [--vmid N] [--device BDF] [--since T] [--json]\n"
              "  pve-gpu-reset reset BDF... [--method M]        reset by hand, same engine and safety rules\n"
              "  pve-gpu-reset verify VMID [--cycles N] [--probe CMD] [--agent-timeout S] [--shutdown-timeout S]\n"
              "                [--force] [--json]               start, probe in the guest, shut down, N times\n"
              "  pve-gpu-reset attach VMID [--storage S] | detach VMID\n"
              "  pve-gpu-reset attach --refresh                 update every copy on a shared storage to this binary\n"
              "  pve-gpu-reset claim VMID|BDF... | unclaim VMID|BDF...   give to vfio-pci from boot on (udev rule)\n"
              "Global options: --root DIR, --config FILE, --node NAME, --dry-run, -v, --version, --help\n"
              "Phases: pre-start, post-start, pre-stop, post-stop. Exit: 0 done, 1 failed, 2 bad usage or input.\n",
              out);
}

struct args {
        const char *root, *config, *node, *phase, *since, *device, *storage, *method, *vmid_opt;
        const char *cycles, *probe, *agent_timeout, *shutdown_timeout;
        bool json, dry_run, help, version, force, refresh, udev;
        int verbose;
};

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...)
{
        va_list ap;

        fputs("pve-gpu-reset: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (see --help)\n", stderr);
        return EXIT_USAGE;
}

static int parse_vmid_arg(const char *s, unsigned long *ret)
{
        if (vmid_parse(s, ret) < 0) {
                fprintf(stderr, "pve-gpu-reset: invalid VMID '%s': expected digits, %lu..%lu\n", s, VMID_MIN, VMID_MAX);
                return -EINVAL;
        }
        return 0;
}

/* A positive number of at most max (cycles, seconds); NULL leaves *ret at its default. */
static int parse_count(const char *s, const char *opt, unsigned long max, unsigned *ret)
{
        unsigned long v;

        if (!s)
                return 0;
        if (parse_uint(s, 10, max, &v) < 0 || v == 0) {
                fprintf(stderr, "pve-gpu-reset: invalid %s '%s': expected 1..%lu (see --help)\n", opt, s, max);
                return -EINVAL;
        }
        *ret = (unsigned)v;
        return 0;
}

/* Options are parsed once for every subcommand; each then rejects the ones it does not take. */
static int reject_options(const struct args *a, const char *cmd, const char *allowed)
{
        const struct {
                const char *name;
                bool set;
        } opts[] = {
                { "phase", a->phase }, { "json", a->json }, { "since", a->since }, { "device", a->device },
                { "storage", a->storage }, { "method", a->method }, { "vmid", a->vmid_opt },
                { "refresh", a->refresh }, { "udev", a->udev },
                { "cycles", a->cycles }, { "probe", a->probe }, { "agent-timeout", a->agent_timeout },
                { "shutdown-timeout", a->shutdown_timeout }, { "force", a->force },
                /* a promise that nothing changes: only commands that keep it (or change nothing anyway) */
                { "dry-run", a->dry_run },
        };

        for (size_t i = 0; i < ELEMENTSOF(opts); i++)
                if (opts[i].set && !strstr(allowed, opts[i].name)) {
                        fprintf(stderr, "pve-gpu-reset: %s does not take --%s (see --help)\n", cmd, opts[i].name);
                        return -EINVAL;
                }
        return 0;
}

static int want_args(int argc, int min, int max, const char *cmd)
{
        if (argc < min || argc > max) {
                fprintf(stderr, "pve-gpu-reset: %s: expected %s (see --help)\n", cmd,
                        min == max ? (min == 1 ? "one argument" : "no argument") : "arguments");
                return -EINVAL;
        }
        return 0;
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
        fprintf(stderr, "pve-gpu-reset: %s (%s): cannot refresh: %s\n", it->volid, it->snippet, strerror(it->error));
        return 1;
}

/* `claim VMID|BDF...`, `unclaim VMID|BDF...`, and `claim --udev BDF` (the udev rule's entry point). */
static int cmd_claim(struct pgr_ctx *ctx, const struct args *a, int argc, char **argv, const struct run_options *o)
{
        struct pci_addr addrs[64];
        unsigned long vmid = 0;
        bool claim = streq(argv[0], "claim");

        if (a->udev) {
                if (!claim)
                        return bad_usage("unclaim does not take --udev");
                if (reject_options(a, "claim --udev", "udev") < 0 || want_args(argc - 1, 1, 1, "claim --udev") < 0)
                        return EXIT_USAGE;
                if (pci_addr_parse_full(argv[1], &addrs[0]) < 0)
                        return bad_usage("invalid PCI address '%s': expected DDDD:BB:SS.F", argv[1]);
                return run_claim_udev(ctx, &addrs[0], o);
        }
        if (reject_options(a, argv[0], "dry-run") < 0 || want_args(argc - 1, 1, (int)ELEMENTSOF(addrs), argv[0]) < 0)
                return EXIT_USAGE;
        if (argc == 2 && vmid_parse(argv[1], &vmid) >= 0)
                return claim ? run_claim(ctx, vmid, NULL, 0, o) : run_unclaim(ctx, vmid, NULL, 0, o);
        for (int i = 1; i < argc; i++)
                if (pci_addr_parse(argv[i], &addrs[i - 1]) < 0)
                        return bad_usage("invalid VMID or PCI address '%s': expected a VMID or [DDDD:]BB:SS[.F]", argv[i]);
        return claim ? run_claim(ctx, 0, addrs, (size_t)argc - 1, o) : run_unclaim(ctx, 0, addrs, (size_t)argc - 1, o);
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "root", required_argument, NULL, 'R' },    { "config", required_argument, NULL, 'c' },
                { "node", required_argument, NULL, 'n' },    { "phase", required_argument, NULL, 'p' },
                { "json", no_argument, NULL, 'j' },          { "dry-run", no_argument, NULL, 'd' },
                { "verbose", no_argument, NULL, 'v' },       { "version", no_argument, NULL, 'V' },
                { "help", no_argument, NULL, 'h' },          { "since", required_argument, NULL, 's' },
                { "device", required_argument, NULL, 'D' },  { "storage", required_argument, NULL, 'S' },
                { "method", required_argument, NULL, 'm' },  { "vmid", required_argument, NULL, 'i' },
                { "refresh", no_argument, NULL, 'F' },
                { "cycles", required_argument, NULL, 'C' },  { "probe", required_argument, NULL, 'P' },
                { "agent-timeout", required_argument, NULL, 'A' },
                { "shutdown-timeout", required_argument, NULL, 'T' },
                { "force", no_argument, NULL, 'f' },
                { "udev", no_argument, NULL, 'u' },
                {},
        };
        struct args a = {};
        struct run_options o = {};
        struct pgr_ctx ctx;
        const char *cmd;
        unsigned long vmid = 0;
        int c, r;

        /* json-c seeds its default string hash from /dev/urandom, which can stall a hook run at boot for
         * a second; our JSON is small and root-owned, so the unseeded hash is fine. */
        json_global_set_string_hash(JSON_C_STR_HASH_PERLLIKE);
        opterr = 0;
        while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) >= 0) {
                switch (c) {
                case 'R': a.root = optarg; break;
                case 'c': a.config = optarg; break;
                case 'n': a.node = optarg; break;
                case 'p': a.phase = optarg; break;
                case 'j': a.json = true; break;
                case 'd': a.dry_run = true; break;
                case 'v': a.verbose++; break;
                case 'V': a.version = true; break;
                case 'h': a.help = true; break;
                case 's': a.since = optarg; break;
                case 'D': a.device = optarg; break;
                case 'S': a.storage = optarg; break;
                case 'm': a.method = optarg; break;
                case 'i': a.vmid_opt = optarg; break;
                case 'F': a.refresh = true; break;
                case 'C': a.cycles = optarg; break;
                case 'P': a.probe = optarg; break;
                case 'A': a.agent_timeout = optarg; break;
                case 'T': a.shutdown_timeout = optarg; break;
                case 'f': a.force = true; break;
                case 'u': a.udev = true; break;
                default:
                        if (optopt)
                                return bad_usage("option -%c needs a value or is unknown", optopt);
                        return bad_usage("unknown option '%s'", argv[optind - 1]);
                }
        }
        if (a.help) {
                usage(stdout);
                return EXIT_DONE;
        }
        if (a.version) {
                printf("pve-gpu-reset %s\n", PGR_VERSION);
                return EXIT_DONE;
        }
        argv += optind;
        argc -= optind;
        if (argc < 1) {
                usage(stderr);
                return EXIT_USAGE;
        }
        if (a.root && a.root[0] != '/')
                return bad_usage("--root must be an absolute path, got '%s'", a.root);
        if (a.config && a.config[0] == '\0')
                return bad_usage("--config needs a file");
        r = pgr_ctx_init(&ctx, a.root, a.node);
        if (r < 0)
                return bad_usage("invalid --root, --node or $PVE_GPU_RESET_ROOT");
        o.config_path = a.config;
        o.dry_run = a.dry_run;
        o.json = a.json;
        o.verbose = a.verbose;
        o.forced_method = a.method;
        o.migrated_from = getenv("PVE_MIGRATED_FROM");
        cmd = argv[0];

        if (streq(cmd, "plan")) {
                if (reject_options(&a, cmd, "phase json dry-run") < 0 || want_args(argc - 1, 1, 1, cmd) < 0 ||
                    parse_vmid_arg(argv[1], &vmid) < 0)
                        return EXIT_USAGE;
                return run_plan(&ctx, vmid, a.phase ? a.phase : "pre-start", &o);
        }
        if (streq(cmd, "doctor")) {
                if (reject_options(&a, cmd, "json dry-run") < 0 || want_args(argc - 1, 0, 1, cmd) < 0 ||
                    (argc == 2 && parse_vmid_arg(argv[1], &vmid) < 0))
                        return EXIT_USAGE;
                return doctor_run(&ctx, vmid, a.config, a.json, stdout);
        }
        if (streq(cmd, "history")) {
                struct history_filter f = {};
                struct pgr_error err = {};

                if (reject_options(&a, cmd, "vmid device since json dry-run") < 0 || want_args(argc - 1, 0, 0, cmd) < 0 ||
                    (a.vmid_opt && parse_vmid_arg(a.vmid_opt, &f.vmid) < 0))
                        return EXIT_USAGE;
                r = history_filter_init(&f, a.device, a.since, &err);
                if (r < 0) {
                        fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                        return EXIT_USAGE;
                }
                r = history_query(&ctx, &f, a.json, stdout, &err);
                if (r < 0) {
                        fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                        return r == -EINVAL ? EXIT_USAGE : EXIT_FAILED;
                }
                return EXIT_DONE;
        }
        if (streq(cmd, "reset")) {
                struct pci_addr addrs[64];

                if (reject_options(&a, cmd, "method dry-run") < 0 || want_args(argc - 1, 1, (int)ELEMENTSOF(addrs), cmd) < 0)
                        return EXIT_USAGE;
                if (a.method && !run_method_valid(a.method))
                        return bad_usage("unknown --method '%s': use a kernel reset method (flr, pm, bus, "
                                         "device_specific, af_flr), slot, reset_subordinate, bridge or remove-rescan",
                                         a.method);
                for (int i = 1; i < argc; i++)
                        if (pci_addr_parse(argv[i], &addrs[i - 1]) < 0)
                                return bad_usage("invalid PCI address '%s': expected [DDDD:]BB:SS.F or BB:SS", argv[i]);
                return run_reset(&ctx, addrs, (size_t)argc - 1, &o);
        }
        if (streq(cmd, "attach") && a.refresh) {
                struct attach_refresh_item items[64];
                struct pgr_error err = {};
                size_t n = 0;
                int failed = 0;

                if (reject_options(&a, "attach --refresh", "refresh") < 0 || want_args(argc - 1, 0, 0, "attach --refresh") < 0)
                        return EXIT_USAGE;
                r = attach_refresh(&ctx, NULL, items, ELEMENTSOF(items), &n, &err);
                if (r < 0) {
                        fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                        return EXIT_FAILED;
                }
                for (size_t i = 0; i < n && i < ELEMENTSOF(items); i++)
                        failed |= print_refresh_item(&items[i]);
                if (n == 0)
                        printf("no copy of pve-gpu-reset in any snippets directory; nothing to refresh\n");
                return failed ? EXIT_FAILED : EXIT_DONE;
        }
        if (streq(cmd, "verify")) {
                struct verify_options vo = {
                        .cycles = VERIFY_DEFAULT_CYCLES,
                        .probe = a.probe,
                        .agent_timeout = VERIFY_DEFAULT_AGENT_TIMEOUT,
                        .shutdown_timeout = VERIFY_DEFAULT_SHUTDOWN_TIMEOUT,
                        .force = a.force,
                };

                if (reject_options(&a, cmd, "json cycles probe agent-timeout shutdown-timeout force") < 0 ||
                    want_args(argc - 1, 1, 1, cmd) < 0 || parse_vmid_arg(argv[1], &vmid) < 0 ||
                    parse_count(a.cycles, "--cycles", VERIFY_MAX_CYCLES, &vo.cycles) < 0 ||
                    parse_count(a.agent_timeout, "--agent-timeout", 86400, &vo.agent_timeout) < 0 ||
                    parse_count(a.shutdown_timeout, "--shutdown-timeout", 86400, &vo.shutdown_timeout) < 0)
                        return EXIT_USAGE;
                return run_verify(&ctx, vmid, &vo, &o);
        }
        if (streq(cmd, "claim") || streq(cmd, "unclaim"))
                return cmd_claim(&ctx, &a, argc, argv, &o);
        if (streq(cmd, "attach") || streq(cmd, "detach")) {
                struct pgr_error err = {};
                bool attach = streq(cmd, "attach");

                if (reject_options(&a, cmd, attach ? "storage" : "") < 0 || want_args(argc - 1, 1, 1, cmd) < 0 ||
                    parse_vmid_arg(argv[1], &vmid) < 0)
                        return EXIT_USAGE;
                r = attach ? attach_vm(&ctx, vmid, a.storage, NULL, a.config, &err) : detach_vm(&ctx, vmid, a.config, &err);
                if (r < 0) {
                        fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                        return r == -EINVAL ? EXIT_USAGE : EXIT_FAILED;
                }
                if (err.msg[0])
                        printf("%s\n", err.msg);
                /* attach claims the VM's functions from boot on; detach drops this VM's claims. The hookscript
                 * is what they are asked for: a claim that cannot be made (no card here yet) is said on
                 * stderr and does not fail them. */
                if ((attach ? run_claim(&ctx, vmid, NULL, 0, &o) : run_unclaim(&ctx, vmid, NULL, 0, &o)) != EXIT_DONE)
                        fprintf(stderr, "pve-gpu-reset: VM %lu: %s; 'pve-gpu-reset %s %lu' retries it\n", vmid,
                                attach ? "its functions are not all claimed from boot" : "its claims were not all removed",
                                attach ? "claim" : "unclaim", vmid);
                return EXIT_DONE;
        }

        /* Hook mode: exactly `VMID PHASE`, as qemu-server calls it. */
        if (reject_options(&a, "hook mode", "dry-run") < 0)
                return EXIT_USAGE;
        if (argc != 2)
                return bad_usage("unknown command '%s'", cmd);
        if (parse_vmid_arg(argv[0], &vmid) < 0)
                return EXIT_USAGE;
        return run_hook(&ctx, vmid, argv[1], &o);
}
