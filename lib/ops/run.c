/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One run of the tool end to end: load the inputs, plan, apply, record, journal, chain. */
#include "ops/run.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "kernel/pcidev.h"
#include "kernel/sysfs.h"
#include "log/journal.h"
#include "log/msgid.h"
#include "ops/attach.h"
#include "pve/mapping.h"
#include "pve/vmconf.h"
#include "reset/apply.h"
#include "reset/chain.h"
#include "reset/claim.h"
#include "reset/plan.h"
#include "reset/policy.h"
#include "reset/state.h"

/* The rungs the policy knows, plus the two ways of doing a slot reset. */
bool run_method_valid(const char *method)
{
        return policy_method_known(method) || streq(method, "reset_subordinate") || streq(method, "bridge");
}

/* Tells the caller one sentence (run.h: on_message). */
static void say(const struct run_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct run_options *o, const char *fmt, ...)
{
        char msg[2 * PATH_MAX + 512];
        va_list ap;

        if (!o->on_message)
                return;
        va_start(ap, fmt);
        vsnprintf_ellipsis(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        o->on_message(msg, o->userdata);
}

/* The exit statuses of doc/DESIGN.md §4 come from two readings of one errno: the commands map
 * -EINVAL to 2 and everything else to 1. Where a step's errors are bad input except for a lack of
 * memory (a policy that does not parse), or a failure even when the step says EINVAL (a plan the
 * reset command cannot build), the errno is read here once, as it always was. */
static int bad_input_unless_oom(int r)
{
        return r == -ENOMEM ? r : -EINVAL;
}

static int failure(int r)
{
        return r == -EINVAL ? -EIO : r;
}

void run_inputs_done(struct run_inputs *in)
{
        policy_free(in->policy);
        vmconf_free(in->conf);
        mapping_file_free(in->maps);
        pcidev_access_free(in->acc);
}

/* Loads everything a plan needs. Returns 0, -EINVAL (bad input) or another negative errno (a
 * missing VM config, no PCI access, no memory); err says what was wrong. vmid 0: no VM. */
static int load_inputs(struct pgr_ctx *ctx, unsigned long vmid, const struct run_options *o, bool names,
                       struct run_inputs *in, struct pgr_error *err)
{
        int r;

        r = policy_load_vm(ctx, o->config_path, vmid, &in->policy, err);
        if (r < 0)
                return bad_input_unless_oom(r);
        if (vmid) {
                r = vmconf_load(ctx, vmid, o->migrated_from, &in->conf, err);
                if (r < 0)
                        return r == -ENOENT ? r : -EINVAL;
        }
        /* The reset command (no VM) needs every mapping: one with mdev 1 keeps it off the mapping's paths.
         * A VM reads them only when it uses one (load_mappings). */
        if (!vmid) {
                r = mapping_load(ctx, &in->maps, err);
                if (r < 0)
                        return bad_input_unless_oom(r);
        }
        r = pcidev_access_new(ctx, &in->acc);
        if (r < 0) {
                pgr_error_set(err, "cannot open PCI access under '%s/sys/bus/pci': %s", ctx->root, strerror(-r));
                return failure(r);
        }
        if (!names)
                pcidev_access_skip_names(in->acc);
        return 0;
}

/* A line or value Proxmox skips (with a warning of its own) is skipped here too: said with its
 * file:line in the journal and (journal_log's rule for warnings) on stderr. j NULL: stderr only. */
static void warn_skipped(struct journal *j, unsigned long vmid, const char *phase, const char *msg)
{
        journal_log(j, &(struct journal_event){ .message_id = PGR_MSGID_CONFIG_ERROR, .priority = LOG_WARNING,
                                                 .vmid = vmid, .phase = phase, .action = "config",
                                                 .result = "skipped", .duration_usec = -1, .message = msg });
}

static void warn_dropped(struct journal *j, unsigned long vmid, const char *phase, const char *path, size_t n)
{
        char more[PATH_MAX + 64];

        if (!n)
                return;
        snprintf(more, sizeof(more), "%s: %zu more warnings not shown", path, n);
        warn_skipped(j, vmid, phase, more);
}

/* qemu-server reads /etc/pve/mapping/pci.cfg only for a hostpci line with mapping= (PCI.pm
 * parse_hostpci), and then only warns about the lines it skips (SectionConfig.pm parse_config): so
 * do we. Nothing in it is ours to refuse; a mapping it cannot give is a problem of that hostpci
 * line in the plan. Only -ENOMEM fails. */
static int load_mappings(struct pgr_ctx *ctx, unsigned long vmid, const char *phase, struct journal *j,
                         struct run_inputs *in, struct pgr_error *err)
{
        bool used = false;

        for (size_t i = 0; in->conf && i < VMCONF_MAX_HOSTPCI; i++)
                used |= in->conf->hostpci[i].present && in->conf->hostpci[i].mapping;
        if (!used)
                return 0;
        if (mapping_load(ctx, &in->maps, err) < 0) {
                pgr_error_set(err, "out of memory reading /etc/pve/mapping/pci.cfg");
                return -ENOMEM;
        }
        for (size_t i = 0; i < in->maps->n_warnings; i++)
                warn_skipped(j, vmid, phase, in->maps->warnings[i]);
        warn_dropped(j, vmid, phase, in->maps->path, in->maps->n_warnings_dropped);
        return 0;
}

/* What Proxmox skips in the VM config (a line, a hostpci value) the hook skips too. */
static void config_warnings(struct journal *j, unsigned long vmid, const char *phase, const struct vmconf *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_warnings; i++)
                warn_skipped(j, vmid, phase, c->warnings[i].msg);
        warn_dropped(j, vmid, phase, c->path, c->n_warnings_dropped);
}

static void plan_input_init(struct plan_input *pi, struct pgr_ctx *ctx, const struct run_inputs *in, unsigned long vmid,
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

/* What pre-start recorded, as post-stop's plan input wants it. */
struct recorded_set {
        struct pci_addr addrs[STATE_MAX_DEVICES];
        enum hostpci_use uses[STATE_MAX_DEVICES];
};

/* post-stop resets what pre-start recorded (the file may already carry pending hostpci edits),
 * with what the config said about each function then: plan_build skips keep/mdev ones. */
static void use_recorded_set(struct pgr_ctx *ctx, unsigned long vmid, struct plan_input *pi, struct recorded_set *rs)
{
        struct state_device devs[STATE_MAX_DEVICES];
        size_t n = 0;

        if (state_load_vm_devices(ctx, vmid, devs, ELEMENTSOF(devs), &n) < 0 || n == 0)
                return;
        for (size_t i = 0; i < n; i++) {
                rs->addrs[i] = devs[i].addr;
                rs->uses[i] = devs[i].use;
        }
        pi->override = rs->addrs;
        pi->override_use = rs->uses;
        pi->n_override = n;
}

int run_vm_plan(struct pgr_ctx *ctx, unsigned long vmid, enum phase phase, const struct run_options *o, bool names,
                struct run_inputs *in, struct plan **ret, struct pgr_error *err)
{
        struct plan_input pi;
        struct recorded_set recorded;
        int r;

        r = load_inputs(ctx, vmid, o, names, in, err);
        if (r >= 0)
                r = load_mappings(ctx, vmid, phase_to_string(phase), NULL, in, err);
        if (r < 0)
                return r;
        config_warnings(NULL, vmid, phase_to_string(phase), in->conf);
        plan_input_init(&pi, ctx, in, vmid, phase);
        if (phase == PHASE_POST_STOP)
                use_recorded_set(ctx, vmid, &pi, &recorded);
        r = plan_build(&pi, ret, err);
        if (r < 0) {
                if (!err->msg[0])
                        pgr_error_set(err, "%s", strerror(-r));
                return bad_input_unless_oom(r);
        }
        return 0;
}

/* Set in a chained hookscript's environment. A hook that finds it was started, directly or not, by a
 * chained hookscript of a hook: it runs its own work but chains nothing, so A chains B chains A...
 * stops at the first repeat. */
#define CHAINED_ENV "PVE_GPU_RESET_CHAINED"

/* The chained path is this very binary (a symlink, a hard link, its own path). realpath catches a
 * link chain, the inode check a hard link or bind mount. */
static bool is_this_binary(const char *path)
{
        char self[PATH_MAX], real[PATH_MAX];
        struct stat st_path, st_self;
        ssize_t n;

        if (stat(path, &st_path) == 0 && stat("/proc/self/exe", &st_self) == 0 &&
            st_path.st_dev == st_self.st_dev && st_path.st_ino == st_self.st_ino)
                return true;
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0 || !realpath(path, real))
                return false;
        self[n] = '\0';
        return streq(self, real);
}

/* The one-line entry of a run that stopped before any device: which step, and why. */
static void run_refused(struct journal *j, unsigned long vmid, const char *phase, const char *msgid, const char *action,
                        const char *result, const char *msg)
{
        journal_log(j, &(struct journal_event){
                .message_id = msgid,
                .priority = LOG_ERR,
                .vmid = vmid,
                .phase = phase,
                .action = action,
                .result = result,
                .duration_usec = -1,
                .message = msg,
        });
}

/* The VM's chained hookscript (recorded by `attach` when the VM had one) runs after our work, with
 * the same arguments; in pre-start its failure aborts the start like ours. One that would run this
 * hook again is refused (journal error) and counts as not run: Proxmox itself runs one hookscript,
 * and a recursion would never return at all. */
static int run_chained(const char *path, const char *where, unsigned long vmid, const char *phase,
                       const struct run_options *o, struct journal *j)
{
        char vmid_s[24], msg[2 * PATH_MAX + 256];
        pid_t pid;
        int status;

        if (getenv(CHAINED_ENV)) {
                snprintf(msg, sizeof(msg), "refusing to chain %s: this hook was itself started by a chained "
                         "hookscript (%s is set), and chaining again would recurse; fix %s",
                         path, CHAINED_ENV, where);
                run_refused(j, vmid, phase, PGR_MSGID_CHAINED_HOOK, "chain", "refused", msg);
                return 0;
        }
        /* Any build of ours counts: an older copy (a shared storage's) would chain itself without end. */
        if (is_this_binary(path) || attach_is_pgr_binary(path)) {
                snprintf(msg, sizeof(msg), "refusing to chain %s: it is pve-gpu-reset itself, which would run "
                         "itself forever; remove it from %s", path, where);
                run_refused(j, vmid, phase, PGR_MSGID_CHAINED_HOOK, "chain", "refused", msg);
                return 0;
        }
        snprintf(vmid_s, sizeof(vmid_s), "%lu", vmid);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (setenv(CHAINED_ENV, "1", 1) < 0)
                        _exit(127);
                execl(path, path, vmid_s, phase, (char *)NULL);
                say(o, "cannot run chained hookscript %s: %s", path, strerror(errno));
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

/* A state file that could not be written: said, never fatal (a missing record or mark costs a reset). */
static void state_warn(struct journal *j, unsigned long vmid, enum phase phase, const char *path, int r)
{
        char msg[256];

        if (r >= 0)
                return;
        snprintf(msg, sizeof(msg), "cannot update %s: %s", path,
                 r == -EUCLEAN ? "the function is not on vfio-pci" : strerror(-r));
        journal_log(j, &(struct journal_event){
                .message_id = PGR_MSGID_STATE_WRITE_FAILED,
                .priority = LOG_WARNING,
                .vmid = vmid,
                .phase = phase_to_string(phase),
                .action = "state",
                .result = "failed",
                .duration_usec = -1,
                .errno_value = -r,
                .message = msg,
        });
}

/* Only a function that was really reset gets a clean mark: not one refused or skipped, nor one
 * handed back to its host driver. */
static void mark_reset_clean(struct pgr_ctx *ctx, struct journal *j, const struct plan *p, unsigned long vmid,
                             long long now)
{
        char path[STATE_NAME_MAX + sizeof(STATE_DIR)];

        for (size_t i = 0; i < p->n_devices; i++) {
                const struct plan_device *d = &p->devices[i];

                /* released to its host driver (release_after_stop): not clean for the next start */
                if (plan_device_was_reset(d) && !d->release)
                        state_warn(j, vmid, p->phase, state_clean_path(&d->dev.addr, path),
                                   state_mark_clean(ctx, &d->dev.addr, vmid, now));
        }
}

static void free_all_confs(struct vmconf **confs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                vmconf_free(confs[i]);
        free(confs);
}

/* Every VM config on the node, for the reset command's keep/mdev refusal. One that cannot be read
 * is said and passed over: a config Proxmox could not start from gives nothing to anyone. */
static int load_all_confs(struct pgr_ctx *ctx, const struct run_options *o, struct vmconf ***ret, size_t *ret_n)
{
        _cleanup_free_ unsigned long *ids = NULL;
        struct vmconf **confs;
        size_t n_ids = 0, n = 0;
        int r;

        r = vmconf_list_vmids(ctx, &ids, &n_ids);
        if (r < 0)
                return r;
        confs = calloc(n_ids ? n_ids : 1, sizeof(*confs));
        if (!confs)
                return -ENOMEM;
        for (size_t i = 0; i < n_ids; i++) {
                struct pgr_error err = {};

                r = vmconf_load(ctx, ids[i], NULL, &confs[n], &err);
                if (r == -ENOMEM) {
                        free_all_confs(confs, n);
                        return r;
                }
                if (r < 0)
                        say(o, "warning: %s", err.msg);
                else
                        n++;
        }
        *ret = confs;
        *ret_n = n;
        return 0;
}

static void summary(struct journal *j, unsigned long vmid, enum phase phase, const struct apply_result *res,
                    bool failed, long long t0)
{
        char msg[sizeof(res->first_failure) + 128];

        if (failed)
                snprintf_ellipsis(msg, sizeof(msg), "VM %lu %s: %zu device(s) ok, %zu failed, %zu skipped: %s", vmid,
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
                .duration_usec = monotonic_usec() - t0,
                .message = msg,
        });
}

/* The device a problem names: its function, or any function of the slot it names. */
static const struct plan_device *problem_device(const struct plan *p, const struct plan_problem *pr)
{
        size_t l = strlen(pr->slot);

        for (size_t i = 0; l && i < p->n_devices; i++) {
                const char *bdf = p->devices[i].dev.bdf;

                if (streq(bdf, pr->slot) || (strncmp(bdf, pr->slot, l) == 0 && bdf[l] == '.'))
                        return &p->devices[i];
        }
        return NULL;
}

/* A problem the plan found (no safe reset, reserved by another VM, refused) fails the run too. Each
 * device is counted once: one apply counted as skipped (it was refused) or ok moves to failed; one
 * already failed (apply failed, or missing) stays as it was. A problem that names no device (a
 * mapping that does not resolve) is a failure of its own. */
static void count_plan_errors(const struct plan *p, struct apply_result *res, int *r)
{
        bool counted[PLAN_MAX_DEVICES] = { false };

        for (size_t i = 0; i < p->n_problems; i++) {
                const struct plan_problem *pr = &p->problems[i];
                const struct plan_device *d;
                bool skipped = false;

                if (pr->severity != SEVERITY_ERROR)
                        continue;
                if (*r >= 0) {
                        snprintf(res->first_failure, sizeof(res->first_failure), "%s%s%s", pr->slot,
                                 pr->slot[0] ? ": " : "", pr->message);
                        *r = -EIO;
                }
                d = problem_device(p, pr);
                if (!d) {
                        res->n_failed++;
                        continue;
                }
                if (counted[d - p->devices] || !d->dev.present || !d->applied || d->apply_result < 0)
                        continue;
                counted[d - p->devices] = true;
                for (size_t k = 0; k < d->n_actions; k++)
                        skipped |= d->actions[k].kind == ACTION_SKIP;
                if (skipped && res->n_skipped)
                        res->n_skipped--;
                else if (!skipped && d->n_actions && res->n_ok)
                        res->n_ok--;
                res->n_failed++;
        }
}

static int execute(struct pgr_ctx *ctx, struct run_inputs *in, struct plan_input *pi, const struct run_options *o,
                   struct journal *j, struct apply_result *res, struct plan **ret_plan)
{
        _cleanup_(plan_freep) struct plan *p = NULL;
        _cleanup_(apply_slot_locks_releasep) struct apply_slot_locks locks;
        struct pgr_error err;   /* 5 KiB: set, not zeroed (its pages would be touched for nothing) */
        struct policy_settings vm;
        struct apply_ctx a;
        int r;

        apply_slot_locks_init(&locks);
        err.msg[0] = '\0';
        policy_resolve(in->policy, pi->vmid, 0, 0, &vm);
        a = (struct apply_ctx){ .ctx = ctx, .acc = in->acc, .journal = j, .vmid = pi->vmid, .phase = pi->phase,
                                .dry_run = o->dry_run, .lock_timeout_ms = vm.lock_timeout_ms,
                                .locks = &locks };
        r = apply_recover_autoprobe(&a, &err);
        if (r < 0)
                say(o, "%s", err.msg);
        /* Before any facts are read: a killed run's narrowed reset_method is no fact. */
        r = apply_recover_settings(&a, &err);
        if (r < 0)
                say(o, "%s", err.msg);
        r = plan_build(pi, &p, &err);
        if (r < 0)
                goto fail;
        if (pi->phase == PHASE_PRE_START) {
                bool missing = false;

                for (size_t i = 0; i < p->n_devices; i++)
                        missing |= !p->devices[i].dev.present;
                if (missing) {
                        /* A device's failure is journaled and shows again in the new plan; a lock that
                         * could not be taken fails the run here (apply_plan would wait for it again). */
                        err.msg[0] = '\0';
                        r = apply_rescan_missing(&a, p, &err);
                        if (r < 0 && err.msg[0])
                                goto fail;
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
        count_plan_errors(p, res, &r);
        if (r == -EIO || r == -ENODEV || r >= 0) {
                *ret_plan = p;
                p = NULL;
                return r;
        }
fail:
        snprintf_ellipsis(res->first_failure, sizeof(res->first_failure), "%s", err.msg[0] ? err.msg : strerror(-r));
        return r;
}

/* attach copies the binary to a shared storage, and a package upgrade does not reach that copy: say
 * so on every run, loudly, and go on (an old hook still does its work). */
static _noinline_ void say_stale_copy(struct journal *j, unsigned long vmid, const char *phase, const char *installed,
                                      const char *version)
{
        char self[PATH_MAX], msg[3 * PATH_MAX];
        ssize_t n;

        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        self[n < 0 ? 0 : n] = '\0';
        snprintf(msg, sizeof(msg), "this hook (%s) is a copy of pve-gpu-reset %s older than the installed %s %s: "
                 "fixes of the newer version do not reach this VM; run 'pve-gpu-reset attach --refresh'",
                 n < 0 ? "?" : self, PGR_VERSION, installed, version);
        journal_log(j, &(struct journal_event){
                .message_id = PGR_MSGID_STALE_COPY,
                .priority = LOG_WARNING,
                .vmid = vmid,
                .phase = phase,
                .action = "version",
                .result = "stale",
                .duration_usec = -1,
                .message = msg,
        });
}

static _noinline_ void warn_if_stale_copy(const struct pgr_ctx *ctx, struct journal *j, unsigned long vmid,
                                          const char *phase)
{
        char installed[PATH_MAX], version[ATTACH_VERSION_MAX];

        if (attach_stale_copy(ctx, installed, sizeof(installed), version) > 0)
                say_stale_copy(j, vmid, phase, installed, version);
}

/* The VM's config, policy and mappings; a failure is journaled and said (the hook refuses the phase). */
static _noinline_ int run_hook_load(struct pgr_ctx *ctx, unsigned long vmid, const char *phase_str, enum phase phase,
                                    const struct run_options *o, struct journal *j, struct run_inputs *in)
{
        struct pgr_error err;
        int r;

        err.msg[0] = '\0';
        r = load_inputs(ctx, vmid, o, false, in, &err);
        if (r >= 0 && (phase == PHASE_PRE_START || phase == PHASE_POST_STOP))
                r = load_mappings(ctx, vmid, phase_str, j, in, &err);
        if (r < 0) {
                run_refused(j, vmid, phase_str, PGR_MSGID_CONFIG_ERROR, "config", "failed", err.msg);
                say(o, "%s", err.msg);
        }
        return r;
}

/* What the next phase reads: pre-start records the VM's functions and marks them used, post-stop marks
 * what it reset clean and forgets the record. */
static _noinline_ void run_hook_record(struct pgr_ctx *ctx, struct journal *j, unsigned long vmid, enum phase phase,
                                       const struct plan *p)
{
        struct state_device devs[STATE_MAX_DEVICES];
        size_t n = plan_recorded_devices(p, devs, ELEMENTSOF(devs));
        long long now = (long long)time(NULL);
        char path[STATE_NAME_MAX + sizeof(STATE_DIR)];

        if (phase == PHASE_PRE_START) {
                state_warn(j, vmid, phase, state_vm_devices_path(vmid, path), state_save_vm_devices(ctx, vmid, devs, n));
                /* keep/mdev functions are never ours: no mark either way. */
                for (size_t i = 0; i < n; i++)
                        if (!plan_use_skip_reason(devs[i].use))
                                state_warn(j, vmid, phase, state_used_path(&devs[i].addr, path),
                                           state_mark_used(ctx, &devs[i].addr, vmid, now));
        } else {
                mark_reset_clean(ctx, j, p, vmid, now);
                state_warn(j, vmid, phase, state_vm_devices_path(vmid, path), state_forget_vm(ctx, vmid));
        }
}

/* The hookscript attach replaced, run after ours: 0, or its exit status / a negative errno. */
static _noinline_ int run_hook_chained(const struct policy *policy, const char *hookscript, unsigned long vmid,
                                       const char *phase_str, const struct run_options *o, struct journal *j)
{
        char where[PATH_MAX + 64];
        int r;

        if (!hookscript[0])
                return 0;
        if (policy_chain_from_state(policy, vmid))
                chain_path(vmid, where);
        else
                snprintf(where, sizeof(where), "vms.%lu.hookscript in %s", vmid,
                         policy_source(policy) ? policy_source(policy) : POLICY_DEFAULT_PATH);
        r = run_chained(hookscript, where, vmid, phase_str, o, j);
        if (r != 0)
                say(o, "chained hookscript %s exited with %d", hookscript, r);
        return r;
}

int run_hook(struct pgr_ctx *ctx, unsigned long vmid, const char *phase_str, const struct run_options *o,
             struct journal *j)
{
        /* The frame of every phase's deepest calls (plan, apply): small on purpose, big buffers live in
         * the _noinline_ helpers above. */
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct run_inputs in = {};
        struct plan_input pi;
        struct apply_result res = {};
        struct recorded_set recorded;
        struct policy_settings vm;
        enum phase phase = phase_from_string(phase_str);
        long long t0 = monotonic_usec();
        int r, ret = 0;

        warn_if_stale_copy(ctx, j, vmid, phase_str);
        if (phase == PHASE_INVALID || phase == PHASE_MANUAL) {
                char msg[128];

                /* Proxmox may add phases; an unknown one must never break a VM start. */
                snprintf_ellipsis(msg, sizeof(msg), "VM %lu: unknown phase '%s' ignored", vmid, phase_str);
                journal_log(j, &(struct journal_event){ .message_id = PGR_MSGID_PHASE_OK, .priority = LOG_NOTICE, .phase = phase_str,
                                                         .vmid = vmid, .action = "summary", .result = "skipped",
                                                         .duration_usec = -1, .message = msg });
                goto out;
        }
        ret = run_hook_load(ctx, vmid, phase_str, phase, o, j, &in);
        if (ret < 0)
                goto out;
        config_warnings(j, vmid, phase_str, in.conf);
        policy_resolve(in.policy, vmid, 0, 0, &vm);
        plan_input_init(&pi, ctx, &in, vmid, phase);
        if (phase == PHASE_POST_STOP)
                use_recorded_set(ctx, vmid, &pi, &recorded);

        if (phase == PHASE_PRE_START || phase == PHASE_POST_STOP) {
                r = execute(ctx, &in, &pi, o, j, &res, &p);
                if (p && !o->dry_run)
                        run_hook_record(ctx, j, vmid, phase, p);
                /* The VM's claims follow its config: a function it gives with keep/mdev now, or no longer at
                 * all, is not taken from its host driver at the next boot. Never fails the run. */
                if (claim_reconcile(ctx, j, in.conf, in.maps, phase_str) == -ENOMEM)
                        say(o, "out of memory reconciling the claims of VM %lu", vmid);
                summary(j, vmid, phase, &res, r < 0, t0);
                if (r < 0) {
                        bool abort_start = phase == PHASE_PRE_START && vm.on_failure == POLICY_ON_FAILURE_ABORT;

                        say(o, "VM %lu %s: %s%s", vmid, phase_str, res.first_failure,
                            abort_start ? "; VM start aborted" : "");
                        say(o, "see 'pve-gpu-reset doctor %lu' and 'journalctl -t pve-gpu-reset VMID=%lu'", vmid, vmid);
                        /* a failed pre-start the policy lets go on is no failure of the hook */
                        if (phase != PHASE_PRE_START || abort_start)
                                ret = failure(r);
                }
        }
        /* qemu-server runs the pre-start hookscript with stop_on_error (pve-guest-common
         * PVE/GuestHelpers.pm exec_hookscript dies, vm_start aborts): a start we abort must not reach
         * the chained script, which would prepare things for a VM that does not start. */
        if (!(phase == PHASE_PRE_START && ret < 0) && run_hook_chained(in.policy, vm.hookscript, vmid, phase_str, o, j) != 0 &&
            phase == PHASE_PRE_START)
                ret = -EIO;
out:
        run_inputs_done(&in);
        return ret;
}

/* The reset command's plan input: every mapping, and every VM config for the keep/mdev refusal.
 * in is the caller's to free, even on error. */
static int reset_plan_build(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, const struct run_options *o,
                            struct run_inputs *in, struct plan_input *pi, struct vmconf ***ret_confs,
                            size_t *ret_n_confs, struct pgr_error *err)
{
        int r;

        r = load_inputs(ctx, 0, o, o->dry_run, in, err);
        if (r < 0)
                return r;
        plan_input_init(pi, ctx, in, 0, PHASE_MANUAL);
        pi->override = addrs;
        pi->n_override = n;
        pi->forced_method = o->forced_method;
        r = load_all_confs(ctx, o, ret_confs, ret_n_confs);
        if (r < 0) {
                pgr_error_set(err, "cannot read the VM configs under /etc/pve/qemu-server: %s", strerror(-r));
                return failure(r);
        }
        pi->all_confs = (const struct vmconf *const *)*ret_confs;
        pi->n_all_confs = *ret_n_confs;
        return 0;
}

int run_reset_plan(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, const struct run_options *o,
                   struct run_inputs *in, struct plan **ret, struct pgr_error *err)
{
        struct plan_input pi;
        struct vmconf **confs = NULL;
        size_t n_confs = 0;
        int r;

        r = reset_plan_build(ctx, addrs, n, o, in, &pi, &confs, &n_confs, err);
        if (r >= 0) {
                /* the plan copies what it needs of the configs */
                r = plan_build(&pi, ret, err);
                if (r < 0) {
                        if (!err->msg[0])
                                pgr_error_set(err, "%s", strerror(-r));
                        r = failure(r);
                }
        }
        free_all_confs(confs, n_confs);
        return r;
}

int run_reset(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, const struct run_options *o,
              struct journal *j)
{
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct run_inputs in = {};
        struct pgr_error err = {};
        struct plan_input pi;
        struct apply_result res = {};
        struct vmconf **confs = NULL;
        size_t n_confs = 0;
        long long t0 = monotonic_usec();
        int r;

        r = reset_plan_build(ctx, addrs, n, o, &in, &pi, &confs, &n_confs, &err);
        if (r < 0) {
                say(o, "%s", err.msg);
                goto out;
        }
        r = execute(ctx, &in, &pi, o, j, &res, &p);
        if (p) {
                for (size_t i = 0; i < p->n_problems; i++)
                        say(o, "%s%s%s", p->problems[i].slot, p->problems[i].slot[0] ? ": " : "", p->problems[i].message);
                mark_reset_clean(ctx, j, p, 0, (long long)time(NULL));
        }
        summary(j, 0, PHASE_MANUAL, &res, r < 0 || (p && plan_has_errors(p)), t0);
        if (r < 0)
                say(o, "reset failed: %s", res.first_failure);
        r = r < 0 || (p && plan_has_errors(p)) ? -EIO : 0;
out:
        free_all_confs(confs, n_confs);
        run_inputs_done(&in);
        return r;
}

/* ---- claim / unclaim ---- */

/* The functions of the VM's config, present or not, as the pre-start plan sees them; a VM without a
 * hostpci entry has none (and needs no sysfs: attach runs this on hosts without a card). */
static bool vm_has_hostpci(struct pgr_ctx *ctx, unsigned long vmid, const struct run_options *o, int *ret_status)
{
        _cleanup_(vmconf_freep) struct vmconf *conf = NULL;
        struct pgr_error err = {};
        int r;

        r = vmconf_load(ctx, vmid, o->migrated_from, &conf, &err);
        if (r < 0) {
                say(o, "%s", err.msg);
                *ret_status = r == -ENOENT ? -EIO : -EINVAL;
                return false;
        }
        *ret_status = 0;
        for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++)
                if (conf->hostpci[i].present)
                        return true;
        return false;
}

/* Every function of the slots and functions named (a slot: the functions present). */
static size_t expand_addrs(struct pgr_ctx *ctx, const struct pci_addr *addrs, size_t n, struct pci_addr *ret, size_t max)
{
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                struct pci_addr funcs[8];
                size_t nf = 0;

                if (addrs[i].func >= 0) {
                        if (k < max)
                                ret[k++] = addrs[i];
                        continue;
                }
                (void)pcidev_slot_functions(ctx, &addrs[i], funcs, ELEMENTSOF(funcs), &nf);
                for (size_t f = 0; f < nf && k < max; f++)
                        ret[k++] = funcs[f];
        }
        return k;
}

/* One function of the plan: record the claim (with the plan's pin and the card's identity) and, when no
 * host driver holds it, give it to vfio-pci and pin it now. Fills it; returns 1 when it failed. */
static int claim_one(struct pgr_ctx *ctx, struct pcidev_access *acc, const struct plan_device *d,
                     unsigned long owner, const struct run_options *o, struct run_claim_item *it)
{
        _cleanup_(lock_releasep) struct pgr_lock lock = PGR_LOCK_INIT;
        const char *skip = plan_use_skip_reason(d->use);
        struct claim c = { .addr = d->dev.addr, .vendor = d->dev.vendor, .device = d->dev.device,
                           .pin_set = d->pin_set };
        struct apply_claim_result res;
        struct pgr_error err = {};
        struct apply_ctx ac = { .ctx = ctx, .acc = acc, .phase = PHASE_MANUAL, .dry_run = o->dry_run };
        bool for_safety = false;
        int r;

        *it = (struct run_claim_item){ .vendor = c.vendor, .device = c.device };
        snprintf(it->bdf, sizeof(it->bdf), "%s", d->dev.bdf);
        if (skip) {
                it->outcome = RUN_CLAIM_SKIPPED_USE;
                it->skip_reason = skip;
                return 0;
        }
        if (!d->dev.present) {
                it->outcome = RUN_CLAIM_MISSING;
                return 1;
        }
        if (d->dev.header_type == 1) {
                it->outcome = RUN_CLAIM_BRIDGE;
                return 1;
        }
        for (size_t i = 0; i < d->n_actions; i++)
                for_safety |= d->actions[i].kind == ACTION_SKIP && d->actions[i].for_safety;
        /* "no usable reset" is a skip for safety too, but of the VM's own function (pinned to none). */
        for_safety &= !(d->needs_reset && d->n_ladder == 0);
        snprintf(c.pin, sizeof(c.pin), "%s", d->pin);
        snprintf(it->pin, sizeof(it->pin), "%s", claim_pin_name(&c));
        /* What tells this card from an identical one renumbered onto its address later. */
        r = claim_identify(ctx, &d->dev, &c);
        if (r < 0) {
                it->outcome = RUN_CLAIM_NO_PATH;
                snprintf_ellipsis(it->why, sizeof(it->why), "%s", strerror(-r));
                return 1;
        }
        if (!o->dry_run) {
                r = claim_add(ctx, &c, owner, &it->created, &err);
                if (r < 0) {
                        it->outcome = RUN_CLAIM_RECORD_FAILED;
                        snprintf_ellipsis(it->why, sizeof(it->why), "%s", err.msg);
                        return 1;
                }
        }
        it->outcome = RUN_CLAIM_CLAIMED;
        snprintf(it->driver, sizeof(it->driver), "%s", d->dev.driver);
        /* Someone else's right now (reserved by or open in another VM): the record is for the next
         * boot; nothing of theirs is written. */
        if (for_safety)
                it->now = RUN_CLAIM_NOW_ELSEWHERE;
        else if (d->dev.driver[0] && !streq(d->dev.driver, "vfio-pci"))
                it->now = RUN_CLAIM_NOW_HOST_DRIVER;
        else if (o->dry_run) /* a dry run writes nothing, not even a lock file */
                it->now = RUN_CLAIM_NOW_DRY_RUN;
        else if (lock_slot(ctx, &d->dev.addr, owner, "claim", 0, &lock, &err) < 0)
                it->now = RUN_CLAIM_NOW_BUSY;
        else {
                r = apply_claim(&ac, &d->dev.addr, d->pin_set ? d->pin : NULL, false, d->policy.bind_timeout_ms, &res);
                if (r < 0) {
                        it->outcome = RUN_CLAIM_NOT_APPLIED;
                        snprintf_ellipsis(it->why, sizeof(it->why), "%s", res.why);
                        return 1;
                }
                it->now = RUN_CLAIM_NOW_VFIO;
                it->vfio_missing = res.vfio_missing;
                it->pin_not_taken = c.pin_set && !res.pinned;
        }
        return 0;
}

int run_claim(struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *addrs, size_t n,
              const struct run_options *o, struct run_claim_result *ret)
{
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct pci_addr funcs[PLAN_MAX_DEVICES];
        struct run_inputs in = {};
        struct pgr_error err = {};
        struct vmconf **confs = NULL;
        size_t n_confs = 0;
        int failed = 0, status, r;

        ret->no_hostpci = false;
        ret->n = 0;
        if (vmid) {
                if (!vm_has_hostpci(ctx, vmid, o, &status)) {
                        ret->no_hostpci = status == 0;
                        return status;
                }
                status = run_vm_plan(ctx, vmid, PHASE_PRE_START, o, false, &in, &p, &err);
                if (status < 0) {
                        say(o, "%s", err.msg);
                        goto out;
                }
        } else {
                struct plan_input pi;

                status = load_inputs(ctx, 0, o, false, &in, &err);
                if (status < 0) {
                        say(o, "%s", err.msg);
                        goto out;
                }
                /* A function any VM gives with driver=keep or mdev is refused, as by the reset command. */
                r = load_all_confs(ctx, o, &confs, &n_confs);
                if (r < 0) {
                        say(o, "cannot read the VM configs under /etc/pve/qemu-server: %s",
                                strerror(-r));
                        status = -EIO;
                        goto out;
                }
                plan_input_init(&pi, ctx, &in, 0, PHASE_PRE_START);
                pi.override = funcs;
                pi.n_override = expand_addrs(ctx, addrs, n, funcs, ELEMENTSOF(funcs));
                pi.all_confs = (const struct vmconf *const *)confs;
                pi.n_all_confs = n_confs;
                if (pi.n_override == 0) {
                        say(o, "no such PCI function");
                        status = -EIO;
                        goto out;
                }
                r = plan_build(&pi, &p, &err);
                if (r < 0) {
                        say(o, "%s", err.msg[0] ? err.msg : strerror(-r));
                        status = -EIO;
                        goto out;
                }
        }
        for (size_t i = 0; i < p->n_devices && i < ELEMENTSOF(ret->items); i++) {
                failed |= claim_one(ctx, in.acc, &p->devices[i], vmid ? vmid : CLAIM_OWNER_MANUAL, o, &ret->items[i]);
                ret->n = i + 1;
        }
        status = failed ? -EIO : 0;
out:
        free_all_confs(confs, n_confs);
        run_inputs_done(&in);
        return status;
}

static struct run_unclaim_item *unclaim_item(struct run_unclaim_result *ret, const struct pci_addr *a,
                                             enum run_unclaim_outcome outcome)
{
        struct run_unclaim_item *it;

        if (ret->n >= ELEMENTSOF(ret->items))
                return NULL;
        it = &ret->items[ret->n++];
        *it = (struct run_unclaim_item){ .outcome = outcome };
        pci_addr_format(a, it->bdf);
        return it;
}

int run_unclaim(struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *addrs, size_t n,
                const struct run_options *o, struct run_unclaim_result *ret)
{
        _cleanup_free_ struct claim *claims = NULL;
        struct pgr_error err = {};
        size_t n_claims = 0, bad = 0;
        int failed = 0, r;

        ret->n = 0;
        ret->n_malformed_left = 0;
        r = claim_list(ctx, &claims, &n_claims, &bad);
        if (r < 0 && r != -ENOBUFS) {
                say(o, "cannot read %s: %s", CLAIM_DIR, strerror(-r));
                return -EIO;
        }
        for (size_t i = 0; i < n_claims; i++) {
                const struct claim *c = &claims[i];
                struct run_unclaim_item *it;
                bool named = false;
                size_t left = 0;

                for (size_t k = 0; k < n && !named; k++)
                        named = addrs[k].func < 0 ? pci_addr_same_slot(&addrs[k], &c->addr) : pci_addr_eq(&addrs[k], &c->addr);
                if (vmid ? !claim_has_owner(c, vmid) : !named)
                        continue;
                if (o->dry_run) {
                        it = unclaim_item(ret, &c->addr, RUN_UNCLAIM_WOULD);
                        if (it)
                                it->others = vmid && c->n_owners > 1;
                        continue;
                }
                r = claim_drop(ctx, &c->addr, vmid, vmid == 0, &left, &err);
                it = unclaim_item(ret, &c->addr, r < 0 ? RUN_UNCLAIM_FAILED : left ? RUN_UNCLAIM_KEPT_BY_OTHERS
                                                                                  : RUN_UNCLAIM_REMOVED);
                if (r < 0) {
                        if (it)
                                snprintf_ellipsis(it->why, sizeof(it->why), "%s", err.msg[0] ? err.msg : strerror(-r));
                        failed = 1;
                        continue;
                }
                if (left && it) {
                        struct claim rest;

                        if (claim_load(ctx, &c->addr, &rest, &err) >= 0)
                                claim_owners_format(&rest, it->owners, sizeof(it->owners));
                        else
                                snprintf(it->owners, sizeof(it->owners), "others");
                }
        }
        /* unclaim BDF of a record that does not parse or is not trusted: remove it all the same. */
        for (size_t k = 0; !vmid && k < n; k++) {
                struct run_unclaim_item *it;
                struct claim c;
                size_t left;

                if (addrs[k].func < 0)
                        continue;
                r = claim_load(ctx, &addrs[k], &c, &err);
                if (r != -EINVAL && r != -EPERM)
                        continue;
                if (!o->dry_run && claim_drop(ctx, &addrs[k], 0, true, &left, &err) < 0) {
                        it = unclaim_item(ret, &addrs[k], RUN_UNCLAIM_FAILED);
                        if (it)
                                snprintf_ellipsis(it->why, sizeof(it->why), "%s", err.msg);
                        failed = 1;
                } else {
                        it = unclaim_item(ret, &addrs[k], RUN_UNCLAIM_MALFORMED_REMOVED);
                        if (it)
                                it->dry_run = o->dry_run;
                }
        }
        if (vmid)
                ret->n_malformed_left = bad;
        return failed ? -EIO : 0;
}

int run_claim_udev(struct pgr_ctx *ctx, const struct pci_addr *a, const struct run_options *o, struct journal *j,
                   enum claim_udev_outcome *ret_outcome, char *ret_pin, size_t pin_size)
{
        _cleanup_(policy_freep) struct policy *policy = NULL;
        struct policy_settings s;
        struct pgr_error err = {};
        unsigned vendor = 0, device = 0;
        int r;

        /* The policy's bind timeout for this card; a policy that does not load must not leave the card
         * to a host driver: the built-in defaults then. */
        if (policy_load(ctx, o->config_path, &policy, &err) < 0)
                (void)policy_new_default(&policy);
        (void)sysfs_dev_read_hex(ctx, a, "vendor", &vendor);
        (void)sysfs_dev_read_hex(ctx, a, "device", &device);
        policy_resolve(policy, 0, vendor, device, &s);
        r = claim_udev(ctx, j, a, s.bind_timeout_ms, CLAIM_UDEV_LOCK_WAIT_MS, ret_outcome, ret_pin, pin_size);
        if (r < 0) {
                say(o, "claim: %s", strerror(-r));
                *ret_outcome = CLAIM_UDEV_FAILED;
        }
        return 0;
}
