/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One run of the tool end to end: load the inputs, plan, apply, record, journal, chain. */
#include "run.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "journal.h"
#include "mapping.h"
#include "msgid.h"
#include "pcidev.h"
#include "plan.h"
#include "policy.h"
#include "state.h"
#include "vmconf.h"

/* The rungs the policy knows, plus the two ways of doing a slot reset. */
bool run_method_valid(const char *method)
{
        return policy_method_known(method) || streq(method, "reset_subordinate") || streq(method, "bridge");
}

struct inputs {
        struct policy *policy;
        struct vmconf *conf;
        struct mapping_file *maps;
        struct pcidev_access *acc;
};

static void inputs_done(struct inputs *in)
{
        policy_free(in->policy);
        vmconf_free(in->conf);
        mapping_file_free(in->maps);
        pcidev_access_free(in->acc);
}

/* Loads everything a plan needs. Returns an exit status; err says what was wrong. vmid 0: no VM. */
static int load_inputs(struct pgr_ctx *ctx, unsigned long vmid, const struct run_options *o, bool names,
                       struct inputs *in, struct pgr_error *err)
{
        int r;

        r = policy_load(ctx, o->config_path, &in->policy, err);
        if (r < 0)
                return r == -ENOMEM ? EXIT_FAILED : EXIT_USAGE;
        if (vmid) {
                r = vmconf_load(ctx, vmid, o->migrated_from, &in->conf, err);
                if (r == -ENOENT)
                        return EXIT_FAILED;
                if (r < 0)
                        return EXIT_USAGE;
                r = mapping_load(ctx, &in->maps, err);
                if (r < 0)
                        return r == -ENOMEM ? EXIT_FAILED : EXIT_USAGE;
        }
        r = pcidev_access_new(ctx, &in->acc);
        if (r < 0) {
                pgr_error_set(err, "cannot open PCI access under '%s/sys/bus/pci': %s", ctx->root, strerror(-r));
                return EXIT_FAILED;
        }
        if (!names)
                pcidev_access_skip_names(in->acc);
        return EXIT_DONE;
}

/* What Proxmox skips in the VM config (a line, a hostpci value) the hook skips too; say so, with
 * the file:line, in the journal and (journal_log's rule for warnings) on stderr. j NULL: stderr. */
static void config_warnings(struct journal *j, unsigned long vmid, const char *phase, const struct vmconf *c)
{
        char more[PATH_MAX + 64];

        if (!c)
                return;
        for (size_t i = 0; i < c->n_warnings; i++)
                journal_log(j, &(struct journal_event){ .message_id = PGR_MSGID_CONFIG_ERROR, .priority = LOG_WARNING,
                                                         .vmid = vmid, .phase = phase, .action = "config",
                                                         .result = "skipped", .duration_usec = -1,
                                                         .message = c->warnings[i].msg });
        if (c->n_warnings_dropped) {
                snprintf(more, sizeof(more), "%s: %zu more warnings not shown", c->path, c->n_warnings_dropped);
                journal_log(j, &(struct journal_event){ .message_id = PGR_MSGID_CONFIG_ERROR, .priority = LOG_WARNING,
                                                         .vmid = vmid, .phase = phase, .action = "config",
                                                         .result = "skipped", .duration_usec = -1, .message = more });
        }
}

static void plan_input_init(struct plan_input *pi, struct pgr_ctx *ctx, const struct inputs *in, unsigned long vmid,
                            enum phase phase)
{
        *pi = (struct plan_input){
                .ctx = ctx,
                .acc = in->acc,
                .conf = in->conf,
                .mappings = in->maps,
                .policy = in->policy,
                .phase = phase,
                .vmid = vmid,
                .now = (long long)time(NULL),
        };
}

/* post-stop resets what pre-start recorded (the file may already carry pending hostpci edits). */
static void use_recorded_set(struct pgr_ctx *ctx, unsigned long vmid, struct plan_input *pi,
                             struct pci_addr *buf, size_t max)
{
        size_t n = 0;

        if (state_load_vm_devices(ctx, vmid, buf, max, &n) >= 0 && n > 0) {
                pi->override = buf;
                pi->n_override = n;
        }
}

int run_plan(struct pgr_ctx *ctx, unsigned long vmid, const char *phase_str, const struct run_options *o)
{
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct inputs in = {};
        struct pgr_error err = {};
        struct plan_input pi;
        struct pci_addr recorded[STATE_MAX_DEVICES];
        enum phase phase = phase_from_string(phase_str);
        int r, status;

        if (phase == PHASE_INVALID) {
                fprintf(stderr, "pve-gpu-reset: unknown --phase '%s': use pre-start, post-start, pre-stop or post-stop\n",
                        phase_str);
                return EXIT_USAGE;
        }
        status = load_inputs(ctx, vmid, o, true, &in, &err);
        if (status != EXIT_DONE) {
                fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                goto out;
        }
        config_warnings(NULL, vmid, phase_str, in.conf);
        plan_input_init(&pi, ctx, &in, vmid, phase);
        if (phase == PHASE_POST_STOP)
                use_recorded_set(ctx, vmid, &pi, recorded, ELEMENTSOF(recorded));
        r = plan_build(&pi, &p, &err);
        if (r < 0) {
                fprintf(stderr, "pve-gpu-reset: %s\n", err.msg[0] ? err.msg : strerror(-r));
                status = r == -ENOMEM ? EXIT_FAILED : EXIT_USAGE;
                goto out;
        }
        if (o->json) {
                struct json_object *j = NULL;

                r = plan_to_json(p, &j);
                if (r < 0) {
                        status = EXIT_FAILED;
                        goto out;
                }
                puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(j);
        } else
                plan_print(p, o->verbose > 0, stdout);
        status = plan_has_errors(p) ? EXIT_FAILED : EXIT_DONE;
out:
        inputs_done(&in);
        return status;
}

/* The VM's chained hookscript (recorded by `attach` when the VM had one) runs after our work, with
 * the same arguments; in pre-start its failure aborts the start like ours. */
static int run_chained(const char *path, unsigned long vmid, const char *phase, struct journal *j)
{
        char vmid_s[24];
        pid_t pid;
        int status;

        snprintf(vmid_s, sizeof(vmid_s), "%lu", vmid);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execl(path, path, vmid_s, phase, (char *)NULL);
                fprintf(stderr, "pve-gpu-reset: cannot run chained hookscript %s: %s\n", path, strerror(errno));
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        journal_log(j, &(struct journal_event){
                .message_id = PGR_MSGID_CHAINED_HOOK,
                .priority = status ? LOG_WARNING : LOG_INFO,
                .vmid = vmid,
                .phase = phase,
                .action = "chain",
                .result = status ? "failed" : "ok",
                .duration_usec = -1,
                .message = status ? "chained hookscript failed" : "chained hookscript ran",
        });
        return status;
}

static void summary(struct journal *j, unsigned long vmid, enum phase phase, const struct apply_result *res,
                    bool failed, long long t0)
{
        char msg[512];
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (failed)
                snprintf(msg, sizeof(msg), "VM %lu %s: %zu device(s) ok, %zu failed, %zu skipped: %.400s", vmid,
                         phase_to_string(phase), res->n_ok, res->n_failed, res->n_skipped, res->first_failure);
        else if (res->n_ok == 0 && res->n_skipped == 0)
                snprintf(msg, sizeof(msg), "VM %lu %s: nothing to do, every device already vfio-owned, awake and clean",
                         vmid, phase_to_string(phase));
        else
                snprintf(msg, sizeof(msg), "VM %lu %s: %zu device(s) ok, %zu skipped", vmid, phase_to_string(phase),
                         res->n_ok, res->n_skipped);
        journal_log(j, &(struct journal_event){
                .message_id = failed ? PGR_MSGID_PHASE_FAILED : PGR_MSGID_PHASE_OK,
                .priority = failed ? LOG_ERR : LOG_INFO,
                .vmid = vmid,
                .phase = phase_to_string(phase),
                .action = "summary",
                .result = failed ? "failed" : "ok",
                .duration_usec = (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000 - t0,
                .message = msg,
        });
}

static long long mono_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void config_error(struct journal *j, unsigned long vmid, const char *phase, const char *msg)
{
        journal_log(j, &(struct journal_event){
                .message_id = PGR_MSGID_CONFIG_ERROR,
                .priority = LOG_ERR,
                .vmid = vmid,
                .phase = phase,
                .action = "config",
                .result = "failed",
                .duration_usec = -1,
                .message = msg,
        });
}

static int execute(struct pgr_ctx *ctx, struct inputs *in, struct plan_input *pi, const struct run_options *o,
                   struct journal *j, struct apply_result *res, struct plan **ret_plan)
{
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct policy_settings vm;
        struct pgr_error err = {};
        struct apply_ctx a;
        int r;

        policy_resolve(in->policy, pi->vmid, 0, 0, &vm);
        a = (struct apply_ctx){ .ctx = ctx, .acc = in->acc, .journal = j, .vmid = pi->vmid, .phase = pi->phase,
                                .dry_run = o->dry_run, .lock_timeout_ms = vm.lock_timeout_ms };
        r = apply_recover_autoprobe(&a, &err);
        if (r < 0)
                fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
        r = plan_build(pi, &p, &err);
        if (r < 0)
                goto fail;
        if (pi->phase == PHASE_PRE_START) {
                bool missing = false;

                for (size_t i = 0; i < p->n_devices; i++)
                        missing |= !p->devices[i].dev.present;
                if (missing) {
                        (void)apply_rescan_missing(&a, p, &err);
                        plan_free(p);
                        p = NULL;
                        /* Facts changed: plan again from what the rescan left. */
                        r = plan_build(pi, &p, &err);
                        if (r < 0)
                                goto fail;
                }
        }
        r = apply_plan(&a, p, res, &err);
        for (size_t i = 0; i < p->n_devices; i++)
                if (!p->devices[i].dev.present) {
                        res->n_failed++;
                        if (!res->first_failure[0])
                                snprintf(res->first_failure, sizeof(res->first_failure),
                                         "%s is missing and a rescan of its bus did not bring it back",
                                         p->devices[i].dev.bdf);
                        r = -ENODEV;
                }
        /* A problem the plan found (no safe reset, reserved by another VM) fails the phase too. */
        for (size_t i = 0; i < p->n_problems && r >= 0; i++)
                if (p->problems[i].severity == SEVERITY_ERROR) {
                        snprintf(res->first_failure, sizeof(res->first_failure), "%s%s%s", p->problems[i].slot,
                                 p->problems[i].slot[0] ? ": " : "", p->problems[i].message);
                        res->n_failed++;
                        r = -EIO;
                }
        if (r == -EIO || r == -ENODEV || r >= 0) {
                *ret_plan = p;
                p = NULL;
                return r;
        }
fail:
        snprintf(res->first_failure, sizeof(res->first_failure), "%s", err.msg[0] ? err.msg : strerror(-r));
        return r;
}

/* -v: every entry also on stderr, not only warnings and errors. */
static int open_journal(const struct pgr_ctx *ctx, const struct run_options *o, struct journal **ret)
{
        return o->verbose ? journal_open_mode(JOURNAL_MODE_BOTH, stderr, ret) : journal_open(ctx, ret);
}

int run_hook(struct pgr_ctx *ctx, unsigned long vmid, const char *phase_str, const struct run_options *o)
{
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct journal *j = NULL;
        struct inputs in = {};
        struct pgr_error err = {};
        struct plan_input pi;
        struct apply_result res = {};
        struct policy_settings vm;
        struct pci_addr recorded[STATE_MAX_DEVICES];
        enum phase phase = phase_from_string(phase_str);
        long long t0 = mono_usec();
        int r, status = EXIT_DONE;

        /* --dry-run: say what would be done, do nothing, journal nothing. */
        if (o->dry_run)
                return phase == PHASE_INVALID ? EXIT_DONE : run_plan(ctx, vmid, phase_str, o);
        r = open_journal(ctx, o, &j);
        if (r < 0)
                fprintf(stderr, "pve-gpu-reset: journal unavailable (%s); logging to stderr\n", strerror(-r));
        if (phase == PHASE_INVALID || phase == PHASE_MANUAL) {
                char msg[128];

                /* Proxmox may add phases; an unknown one must never break a VM start. */
                snprintf(msg, sizeof(msg), "VM %lu: unknown phase '%.40s' ignored", vmid, phase_str);
                journal_log(j, &(struct journal_event){ .message_id = PGR_MSGID_PHASE_OK, .priority = LOG_NOTICE, .phase = phase_str,
                                                         .vmid = vmid, .action = "summary", .result = "skipped",
                                                         .duration_usec = -1, .message = msg });
                goto out;
        }
        status = load_inputs(ctx, vmid, o, false, &in, &err);
        if (status != EXIT_DONE) {
                config_error(j, vmid, phase_str, err.msg);
                fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                goto out;
        }
        config_warnings(j, vmid, phase_str, in.conf);
        policy_resolve(in.policy, vmid, 0, 0, &vm);
        plan_input_init(&pi, ctx, &in, vmid, phase);
        if (phase == PHASE_POST_STOP)
                use_recorded_set(ctx, vmid, &pi, recorded, ELEMENTSOF(recorded));

        if (phase == PHASE_PRE_START || phase == PHASE_POST_STOP) {
                r = execute(ctx, &in, &pi, o, j, &res, &p);
                if (p && !o->dry_run) {
                        struct pci_addr addrs[STATE_MAX_DEVICES];
                        size_t n = plan_device_addrs(p, addrs, ELEMENTSOF(addrs));
                        long long now = (long long)time(NULL);

                        if (phase == PHASE_PRE_START) {
                                (void)state_save_vm_devices(ctx, vmid, addrs, n);
                                for (size_t i = 0; i < n; i++)
                                        (void)state_mark_used(ctx, &addrs[i]);
                        } else {
                                for (size_t i = 0; i < p->n_devices; i++) {
                                        const struct plan_device *d = &p->devices[i];
                                        if (d->applied && d->apply_result >= 0 && d->needs_reset)
                                                (void)state_mark_clean(ctx, &d->dev.addr, vmid, now);
                                }
                                (void)state_forget_vm(ctx, vmid);
                        }
                }
                summary(j, vmid, phase, &res, r < 0, t0);
                if (r < 0) {
                        bool abort_start = phase == PHASE_PRE_START && vm.on_failure == POLICY_ON_FAILURE_ABORT;

                        fprintf(stderr, "pve-gpu-reset: VM %lu %s: %s%s\n", vmid, phase_str, res.first_failure,
                                abort_start ? "; VM start aborted" : "");
                        fprintf(stderr, "pve-gpu-reset: see 'pve-gpu-reset doctor %lu' and 'journalctl -t pve-gpu-reset VMID=%lu'\n",
                                vmid, vmid);
                        status = (phase == PHASE_PRE_START && !abort_start) ? EXIT_DONE : EXIT_FAILED;
                }
        }
        if (vm.hookscript[0]) {
                r = run_chained(vm.hookscript, vmid, phase_str, j);
                if (r != 0) {
                        fprintf(stderr, "pve-gpu-reset: chained hookscript %s exited with %d\n", vm.hookscript, r);
                        if (phase == PHASE_PRE_START)
                                status = EXIT_FAILED;
                }
        }
out:
        inputs_done(&in);
        journal_close(j);
        return status;
}

int run_reset(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, const struct run_options *o)
{
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct journal *j = NULL;
        struct inputs in = {};
        struct pgr_error err = {};
        struct plan_input pi;
        struct apply_result res = {};
        long long t0 = mono_usec();
        int r, status;

        if (!o->dry_run && open_journal(ctx, o, &j) < 0)
                fprintf(stderr, "pve-gpu-reset: journal unavailable; logging to stderr\n");
        status = load_inputs(ctx, 0, o, o->dry_run, &in, &err);
        if (status != EXIT_DONE) {
                fprintf(stderr, "pve-gpu-reset: %s\n", err.msg);
                goto out;
        }
        plan_input_init(&pi, ctx, &in, 0, PHASE_MANUAL);
        pi.override = addrs;
        pi.n_override = n;
        pi.forced_method = o->forced_method;
        if (o->dry_run) {
                r = plan_build(&pi, &p, &err);
                if (r < 0) {
                        fprintf(stderr, "pve-gpu-reset: %s\n", err.msg[0] ? err.msg : strerror(-r));
                        status = EXIT_FAILED;
                } else {
                        plan_print(p, o->verbose > 0, stdout);
                        status = plan_has_errors(p) ? EXIT_FAILED : EXIT_DONE;
                }
                goto out;
        }
        r = execute(ctx, &in, &pi, o, j, &res, &p);
        if (p) {
                for (size_t i = 0; i < p->n_problems; i++)
                        fprintf(stderr, "pve-gpu-reset: %s%s%s\n", p->problems[i].slot, p->problems[i].slot[0] ? ": " : "",
                                p->problems[i].message);
                for (size_t i = 0; i < p->n_devices && !o->dry_run; i++)
                        if (p->devices[i].applied && p->devices[i].apply_result >= 0)
                                (void)state_mark_clean(ctx, &p->devices[i].dev.addr, 0, (long long)time(NULL));
        }
        summary(j, 0, PHASE_MANUAL, &res, r < 0 || (p && plan_has_errors(p)), t0);
        if (r < 0)
                fprintf(stderr, "pve-gpu-reset: reset failed: %s\n", res.first_failure);
        status = r < 0 || (p && plan_has_errors(p)) ? EXIT_FAILED : EXIT_DONE;
out:
        inputs_done(&in);
        journal_close(j);
        return status;
}
