/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The verification cycle an administrator runs by hand after setting up passthrough (start, wait for
 * the guest agent, probe the card in the guest, shut down), automated through Proxmox's own qm. */
#define _GNU_SOURCE 1 /* pipe2 */
#include "reset/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/spawn.h"
#include "kernel/sysfs.h"
#include "log/history.h"
#include "log/journal.h"

#define USEC_PER_SEC 1000000LL

/* Our bounds on qm itself; qm's own timeouts (shutdown --timeout, guest exec --timeout) are shorter. */
#define QM_STATUS_TIMEOUT 30
#define QM_START_TIMEOUT 600           /* qemu-server's own start timeout grows with memory and hostpci */
#define QM_PING_TIMEOUT 15             /* qga_check_running waits 3 s for guest-ping */
#define QM_PROBE_GUEST_TIMEOUT 60      /* qm guest exec --timeout */
#define QM_STOP_TIMEOUT 120
#define QM_SLACK 30                    /* beyond qm's own timeout, for qm's start-up and clean-up */
/* The hook's post-stop runs after the guest is gone (qmeventd → qm cleanup), a little later. */
#define HOOK_POST_STOP_WAIT 30

/* wall clock, for the report's start times (durations use the monotonic clock) */
static long long realtime_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* ---- qm's outputs ----------------------------------------------------------------------------- */

/* The last line with something on it: Proxmox ends a failed task with its summary ("start failed:
 * QEMU exited with code 1"), the line before says why; so both, joined. */
static void error_lines(const char *s, char *buf, size_t size)
{
        const char *lines[2] = { NULL, NULL };
        char a[VERIFY_TEXT_MAX], b[VERIFY_TEXT_MAX];

        for (const char *p = s; p && *p;) {
                const char *e = strchr(p, '\n');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                bool blank = true;

                for (size_t i = 0; i < len; i++)
                        blank &= p[i] == ' ' || p[i] == '\t' || p[i] == '\r';
                if (!blank) {
                        lines[0] = lines[1];
                        lines[1] = p;
                }
                p = e ? e + 1 : p + len;
        }
        text_first_line(lines[0], a, sizeof(a));
        text_first_line(lines[1], b, sizeof(b));
        /* cut on purpose: one line of a report */
        {
                const char *parts[] = { a, a[0] && b[0] ? ": " : "", b };
                size_t n = 0;

                for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                        for (const char *c = parts[i]; *c && n + 1 < size; c++)
                                buf[n++] = *c;
                buf[n] = '\0';
        }
}

int verify_parse_status(const char *out, char *ret, size_t size)
{
        for (const char *p = out; p && *p;) {
                const char *e = strchr(p, '\n');
                size_t len = e ? (size_t)(e - p) : strlen(p);

                if (len > 8 && strncmp(p, "status: ", 8) == 0) {
                        size_t n = len - 8;

                        while (n > 0 && (p[8 + n - 1] == '\r' || p[8 + n - 1] == ' '))
                                n--;
                        /* a QMP RunState ("running", "paused", "inmigrate"...) or "stopped": one word */
                        if (n == 0 || n >= size || strspn(p + 8, "abcdefghijklmnopqrstuvwxyz0123456789-_") < n)
                                return -EINVAL;
                        memcpy(ret, p + 8, n);
                        ret[n] = '\0';
                        return 0;
                }
                p = e ? e + 1 : p + len;
        }
        return -EINVAL;
}

/* qm prints exited as 1/0 (qemu_exec_status converts JSON booleans); a boolean is fine too. */
static bool json_get_int(struct json_object *o, const char *key, int *ret)
{
        struct json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return false;
        if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_boolean)) {
                int64_t x = json_object_get_int64(v);

                if (x < INT32_MIN || x > INT32_MAX)
                        return false;
                *ret = (int)x;
                return true;
        }
        return false;
}

int verify_parse_exec(const char *json, struct verify_exec_status *ret)
{
        struct json_object *o, *v;
        int x;

        memset(ret, 0, sizeof(*ret));
        ret->exitcode = ret->signal = -1;
        o = json ? json_tokener_parse(json) : NULL;
        if (!o)
                return -EINVAL;
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EINVAL;
        }
        ret->exited = json_get_int(o, "exited", &x) && x != 0;
        if (json_get_int(o, "exitcode", &x))
                ret->exitcode = x;
        if (json_get_int(o, "signal", &x))
                ret->signal = x;
        if (json_object_object_get_ex(o, "out-data", &v) && json_object_is_type(v, json_type_string))
                text_first_line(json_object_get_string(v), ret->out_first, sizeof(ret->out_first));
        if (json_object_object_get_ex(o, "err-data", &v) && json_object_is_type(v, json_type_string))
                text_first_line(json_object_get_string(v), ret->err_first, sizeof(ret->err_first));
        json_object_put(o);
        return 0;
}

int verify_split_command(const char *cmd, char *buf, size_t bufsize, char **argv, size_t max, size_t *ret_n)
{
        size_t n = 0;
        char *p;

        if (!cmd || strlen(cmd) >= bufsize)
                return cmd ? -E2BIG : -EINVAL;
        strcpy(buf, cmd);
        for (p = buf; *p;) {
                while (*p == ' ' || *p == '\t')
                        *p++ = '\0';
                if (!*p)
                        break;
                if (n + 1 >= max)
                        return -E2BIG;
                argv[n++] = p;
                while (*p && *p != ' ' && *p != '\t')
                        p++;
        }
        if (n == 0)
                return -EINVAL;
        argv[n] = NULL;
        *ret_n = n;
        return 0;
}

/* ---- qm --------------------------------------------------------------------------------------- */

/* Runs `qm SUB... VMID REST...`; msg gets why it failed ("" when it exited 0). Returns the exit
 * status, -1 when it did not run or was killed at the timeout. */
static int qm(unsigned long vmid, const char *const *sub, const char *const *rest, unsigned timeout, struct spawn_result *c,
              char *msg, size_t msg_size)
{
        const char *argv[VERIFY_PROBE_MAX_ARGS + 12];
        char vmid_s[24], what[96] = "qm", why[VERIFY_TEXT_MAX];
        size_t n = 0;
        int r;

        snprintf(vmid_s, sizeof(vmid_s), "%lu", vmid);
        argv[n++] = "qm";
        for (size_t i = 0; sub[i]; i++) {
                argv[n++] = sub[i];
                snprintf(what + strlen(what), sizeof(what) - strlen(what), " %s", sub[i]);
        }
        argv[n++] = vmid_s;
        snprintf(what + strlen(what), sizeof(what) - strlen(what), " %s", vmid_s);
        for (size_t i = 0; rest && rest[i] && n + 1 < ELEMENTSOF(argv); i++)
                argv[n++] = rest[i];
        argv[n] = NULL;
        msg[0] = '\0';
        r = spawn_run(argv, timeout * 1000, c);
        if (r < 0) {
                snprintf(msg, msg_size, "%s: %s", what, c->error[0] ? c->error : strerror(-r));
                return -1;
        }
        if (c->timed_out) {
                snprintf(msg, msg_size, "%s: no answer within %u s, killed", what, timeout);
                return -1;
        }
        if (c->status != 0) {
                error_lines(c->err[0] ? c->err : c->out, why, sizeof(why));
                snprintf_ellipsis(msg, msg_size, "%s failed (exit status %d)%s%s", what, c->status, why[0] ? ": " : "", why);
        }
        return c->status;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* `qm status` → "running", "stopped", "paused"...; -EIO with msg when it cannot be told. */
static int vm_status(unsigned long vmid, char *status, size_t size, char *msg, size_t msg_size)
{
        struct spawn_result c;
        int r;

        r = qm(vmid, ARGS("status"), NULL, QM_STATUS_TIMEOUT, &c, msg, msg_size);
        if (r == 0 && verify_parse_status(c.out, status, size) < 0) {
                snprintf(msg, msg_size, "qm status %lu: no 'status:' line in its output", vmid);
                r = -1;
        }
        spawn_result_done(&c);
        return r == 0 ? 0 : -EIO;
}

/* qm shutdown, then qm stop when the guest did not go down in time. 0 when the VM is stopped. */
static int vm_stop(unsigned long vmid, unsigned shutdown_timeout, bool *forced, char *msg, size_t size)
{
        char t[24], why[VERIFY_TEXT_MAX], why_stop[VERIFY_TEXT_MAX];
        struct spawn_result c;
        int r;

        *forced = false;
        snprintf(t, sizeof(t), "%u", shutdown_timeout);
        r = qm(vmid, ARGS("shutdown"), ARGS("--timeout", t), shutdown_timeout + QM_SLACK, &c, why, sizeof(why));
        spawn_result_done(&c);
        if (r == 0) {
                snprintf(msg, size, "shut down");
                return 0;
        }
        *forced = true;
        r = qm(vmid, ARGS("stop"), NULL, QM_STOP_TIMEOUT, &c, why_stop, sizeof(why_stop));
        spawn_result_done(&c);
        if (r == 0) {
                snprintf_ellipsis(msg, size, "stopped with qm stop after: %s", why);
                return 0;
        }
        {
                char first[180];

                /* both failures said: the first kept short (marked when cut) so the second fits */
                snprintf_ellipsis(first, sizeof(first), "%s", why);
                snprintf_ellipsis(msg, size, "did not stop: %s; then %s", first, why_stop);
        }
        return -EIO;
}

static void wait_agent(unsigned long vmid, unsigned timeout, struct verify_cycle *cy)
{
        long long t0 = monotonic_usec(), deadline = t0 + (long long)timeout * USEC_PER_SEC;
        char msg[VERIFY_TEXT_MAX] = "";

        for (;;) {
                long long left = deadline - monotonic_usec();
                unsigned call = left / USEC_PER_SEC + 1 < QM_PING_TIMEOUT ? (unsigned)(left / USEC_PER_SEC) + 1
                                                                          : QM_PING_TIMEOUT;
                struct spawn_result c;
                bool unconfigured, not_run;
                int r;

                /* `qm agent` is the old alias of `qm guest cmd` (PVE/CLI/qm.pm: "FIXME: remove with PVE 8.0") */
                r = qm(vmid, ARGS("guest", "cmd"), ARGS("ping"), call, &c, msg, sizeof(msg));
                /* assert_agent_available (PVE/QemuServer/Agent.pm): no waiting makes this one answer */
                unconfigured = r > 0 && c.err && strstr(c.err, "No QEMU guest agent configured");
                not_run = r < 0 && !c.timed_out;
                spawn_result_done(&c);
                if (r == 0) {
                        char d[24];

                        cy->agent = VERIFY_STEP_OK;
                        cy->agent_wait_usec = monotonic_usec() - t0;
                        journal_format_duration(cy->agent_wait_usec, d);
                        snprintf(cy->agent_message, sizeof(cy->agent_message), "answered after %s", d);
                        return;
                }
                cy->agent = VERIFY_STEP_FAILED;
                cy->agent_wait_usec = monotonic_usec() - t0;
                if (unconfigured) {
                        snprintf(cy->agent_message, sizeof(cy->agent_message),
                                 "no guest agent configured: qm set %lu --agent 1, and qemu-guest-agent in the guest",
                                 vmid);
                        return;
                }
                if (not_run) {
                        snprintf(cy->agent_message, sizeof(cy->agent_message), "%s", msg);
                        return;
                }
                if (monotonic_usec() + USEC_PER_SEC >= deadline) {
                        snprintf_ellipsis(cy->agent_message, sizeof(cy->agent_message),
                                          "guest agent did not answer within %u s (last: %s)", timeout, msg);
                        return;
                }
                sleep_usec(USEC_PER_SEC);
        }
}

static void run_probe(unsigned long vmid, const char *probe, struct verify_cycle *cy)
{
        const char *cmd = probe ? probe : VERIFY_DEFAULT_PROBE;
        bool may_fall_back = !probe;

        for (;;) {
                char buf[256], guest_timeout[16], msg[VERIFY_TEXT_MAX], *words[VERIFY_PROBE_MAX_ARGS];
                const char *args[VERIFY_PROBE_MAX_ARGS + 3];
                struct verify_exec_status st;
                struct spawn_result c;
                size_t n;
                bool missing;
                int r;

                snprintf(cy->probe_command, sizeof(cy->probe_command), "%s", cmd);
                if (verify_split_command(cmd, buf, sizeof(buf), words, ELEMENTSOF(words), &n) < 0) {
                        cy->probe = VERIFY_STEP_FAILED;
                        snprintf(cy->probe_message, sizeof(cy->probe_message), "cannot split the probe command");
                        return;
                }
                snprintf(guest_timeout, sizeof(guest_timeout), "%d", QM_PROBE_GUEST_TIMEOUT);
                args[0] = "--timeout";
                args[1] = guest_timeout;
                args[2] = "--";
                for (size_t i = 0; i <= n; i++) /* with the NULL */
                        args[3 + i] = words[i];
                r = qm(vmid, ARGS("guest", "exec"), args, QM_PROBE_GUEST_TIMEOUT + QM_SLACK, &c,
                       msg, sizeof(msg));
                /* the agent's spawn error (g_spawn): "Failed to execute child process “nvidia-smi” (No such
                 * file or directory)" */
                missing = r > 0 && (strstr(c.err, "No such file or directory") || strstr(c.err, "not found"));
                if (r == 0 && verify_parse_exec(c.out, &st) < 0) {
                        text_first_line(c.out, buf, sizeof(buf));
                        snprintf_ellipsis(msg, sizeof(msg), "qm guest exec: not the JSON of exec-status: %s", buf);
                        r = -1;
                }
                spawn_result_done(&c);
                if (r != 0 && missing && may_fall_back) {
                        cmd = VERIFY_FALLBACK_PROBE;
                        may_fall_back = false;
                        continue;
                }
                cy->probe = VERIFY_STEP_FAILED;
                cy->probe_exitcode = -1;
                if (r != 0) {
                        snprintf(cy->probe_message, sizeof(cy->probe_message), "%s", msg);
                        return;
                }
                if (!st.exited) {
                        snprintf(cy->probe_message, sizeof(cy->probe_message), "did not finish within %d s in the guest",
                                 QM_PROBE_GUEST_TIMEOUT);
                        return;
                }
                cy->probe_exitcode = st.exitcode;
                if (st.exitcode != 0) {
                        if (st.exitcode < 0 && st.signal >= 0)
                                snprintf_ellipsis(cy->probe_message, sizeof(cy->probe_message), "killed by signal %d%s%s",
                                                  st.signal, st.err_first[0] ? ": " : "", st.err_first);
                        else
                                snprintf_ellipsis(cy->probe_message, sizeof(cy->probe_message), "exit status %d: %s",
                                                  st.exitcode, st.out_first[0] ? st.out_first : st.err_first);
                        return;
                }
                cy->probe = VERIFY_STEP_OK;
                snprintf(cy->probe_message, sizeof(cy->probe_message), "%s", st.out_first);
                return;
        }
}

static int read_width(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr)
{
        char buf[32];
        unsigned long v;

        if (sysfs_dev_read(ctx, a, attr, buf, sizeof(buf)) < 0 || parse_uint(strstrip(buf), 10, 64, &v) < 0)
                return -1;
        return (int)v;
}

static void check_drivers(const struct pgr_ctx *ctx, const struct verify_result *res, struct verify_cycle *cy)
{
        cy->all_vfio = true;
        cy->n_functions = res->n_functions;
        for (size_t i = 0; i < res->n_functions; i++) {
                struct verify_function *f = &cy->functions[i];

                f->addr = res->functions[i];
                if (sysfs_dev_link(ctx, &f->addr, "driver", f->driver, sizeof(f->driver)) < 0)
                        snprintf(f->driver, sizeof(f->driver), "%s", sysfs_dev_present(ctx, &f->addr) ? "" : "absent");
                cy->all_vfio &= streq(f->driver, "vfio-pci");
        }
}

/* The journal's ACTION of a reset step: apply.c journals each with action_to_string(). */
static bool is_reset_action(const char *action)
{
        for (int k = 0; k < _ACTION_MAX; k++)
                if (plan_action_is_reset((enum plan_action_kind)k) && streq(action, action_to_string((enum plan_action_kind)k)))
                        return true;
        return false;
}

struct journal_collect {
        struct verify_cycle *cy;
        bool pre_start_seen, post_stop_seen;
};

/* Entries arrive newest first: the hook failure kept is the oldest one, the resets are reversed after. */
static int collect_entry(struct history_entry *e, void *userdata, struct pgr_error *err)
{
        struct journal_collect *jc = userdata;
        struct verify_cycle *cy = jc->cy;

        (void)err;
        if (streq(e->action, "summary")) {
                jc->pre_start_seen |= streq(e->phase, phase_to_string(PHASE_PRE_START));
                jc->post_stop_seen |= streq(e->phase, phase_to_string(PHASE_POST_STOP));
                if (streq(e->result, "failed")) {
                        char line[VERIFY_TEXT_MAX];

                        text_first_line(e->message, line, sizeof(line));
                        snprintf_ellipsis(cy->hook_failure, sizeof(cy->hook_failure), "%s", line);
                }
        } else if (is_reset_action(e->action) && cy->n_resets < VERIFY_MAX_RESETS) {
                struct verify_reset *rs = &cy->resets[cy->n_resets++];
                unsigned long d;

                snprintf(rs->slot, sizeof(rs->slot), "%s", e->slot);
                snprintf(rs->phase, sizeof(rs->phase), "%s", e->phase);
                snprintf(rs->action, sizeof(rs->action), "%s", e->action);
                snprintf(rs->method, sizeof(rs->method), "%s", e->method);
                snprintf(rs->result, sizeof(rs->result), "%s", e->result);
                rs->duration_usec = e->duration[0] && parse_uint(e->duration, 10, INT64_MAX, &d) >= 0 ? (long long)d : -1;
        }
        return 0;
}

/* The hook's entries for this VM since the cycle started. wait_post_stop: the VM ran and the hook
 * journaled its pre-start, so its post-stop (run by qm cleanup once the guest is gone) is awaited. */
static void read_resets(const struct pgr_ctx *ctx, unsigned long vmid, bool wait_post_stop, struct verify_cycle *cy)
{
        long long deadline = monotonic_usec() + HOOK_POST_STOP_WAIT * USEC_PER_SEC;
        struct history_filter f = { .vmid = vmid, .since_usec = cy->started_usec };

        for (;;) {
                struct journal_collect jc = { .cy = cy };
                struct pgr_error err = {};

                cy->n_resets = 0;
                cy->hook_failure[0] = '\0';
                if (history_read(ctx, &f, collect_entry, &jc, &err) < 0) {
                        cy->resets_known = false;
                        snprintf_ellipsis(cy->resets_unknown_why, sizeof(cy->resets_unknown_why), "%s", err.msg);
                        return;
                }
                cy->resets_known = true;
                cy->hook_journaled = jc.pre_start_seen || jc.post_stop_seen;
                if (!wait_post_stop || !jc.pre_start_seen || jc.post_stop_seen ||
                    monotonic_usec() >= deadline)
                        break;
                sleep_usec(USEC_PER_SEC);
        }
        for (size_t i = 0; i < cy->n_resets / 2; i++) {
                struct verify_reset t = cy->resets[i];

                cy->resets[i] = cy->resets[cy->n_resets - 1 - i];
                cy->resets[cy->n_resets - 1 - i] = t;
        }
}

/* First reason wins, in the order things happened. */
static void verdict(struct verify_cycle *cy, const int *baseline, const unsigned *baseline_cycle)
{
        char b[PCI_ADDR_STRLEN];

        cy->passed = false;
        for (size_t i = 0; i < cy->n_functions && !cy->all_vfio; i++) {
                const struct verify_function *f = &cy->functions[i];

                if (streq(f->driver, "vfio-pci"))
                        continue;
                pci_addr_format(&f->addr, b);
                if (streq(f->driver, "absent"))
                        snprintf(cy->reason, sizeof(cy->reason), "%s was absent before start", b);
                else if (!f->driver[0])
                        snprintf(cy->reason, sizeof(cy->reason), "%s had no driver before start, not vfio-pci", b);
                else
                        snprintf_ellipsis(cy->reason, sizeof(cy->reason), "%s was on %s before start, not vfio-pci", b,
                                          f->driver);
                return;
        }
        if (cy->start == VERIFY_STEP_FAILED) {
                snprintf(cy->reason, sizeof(cy->reason), "%s", cy->start_message);
                return;
        }
        if (cy->agent == VERIFY_STEP_FAILED) {
                snprintf(cy->reason, sizeof(cy->reason), "%s", cy->agent_message);
                return;
        }
        if (cy->probe == VERIFY_STEP_FAILED) {
                snprintf_ellipsis(cy->reason, sizeof(cy->reason), "probe '%s': %s", cy->probe_command,
                                  cy->probe_message);
                return;
        }
        for (size_t i = 0; i < cy->n_links; i++) {
                const struct verify_link *l = &cy->links[i];

                if (baseline[i] > 0 && l->current_width >= 0 && l->current_width < baseline[i]) {
                        snprintf(cy->reason, sizeof(cy->reason), "%s: link trained at x%d, x%d in cycle %u",
                                 pci_addr_format(&l->addr, b), l->current_width, baseline[i], baseline_cycle[i]);
                        return;
                }
        }
        if (cy->hook_failure[0]) {
                snprintf_ellipsis(cy->reason, sizeof(cy->reason), "the hook failed: %s", cy->hook_failure);
                return;
        }
        if (cy->stop == VERIFY_STEP_FAILED) {
                snprintf(cy->reason, sizeof(cy->reason), "%s", cy->stop_message);
                return;
        }
        cy->reason[0] = '\0';
        cy->passed = true;
}

/* One cycle; false when the VM could not be stopped (no further cycle can start). */
static bool run_cycle(const struct pgr_ctx *ctx, const struct verify_result *res, const struct verify_options *o,
                      struct verify_cycle *cy, int *baseline, unsigned *baseline_cycle)
{
        long long t0 = monotonic_usec();
        struct spawn_result c;
        char status[32];
        bool ran = false;

        cy->started_usec = realtime_usec();
        cy->probe_exitcode = -1;
        check_drivers(ctx, res, cy);

        if (qm(res->vmid, ARGS("start"), NULL, QM_START_TIMEOUT, &c, cy->start_message, sizeof(cy->start_message)) == 0) {
                cy->start = VERIFY_STEP_OK;
                ran = true;
        } else
                cy->start = VERIFY_STEP_FAILED;
        spawn_result_done(&c);

        if (ran) {
                wait_agent(res->vmid, o->agent_timeout, cy);
                if (cy->agent == VERIFY_STEP_OK)
                        run_probe(res->vmid, o->probe, cy);
                /* while the guest has the card: a reset that left the link narrower shows now */
                cy->n_links = res->n_cards;
                for (size_t i = 0; i < res->n_cards; i++) {
                        struct verify_link *l = &cy->links[i];

                        l->addr = res->cards[i];
                        l->current_width = read_width(ctx, &l->addr, "current_link_width");
                        l->max_width = read_width(ctx, &l->addr, "max_link_width");
                        if (baseline[i] <= 0 && l->current_width > 0) {
                                baseline[i] = l->current_width;
                                baseline_cycle[i] = cy->index;
                        }
                }
        }
        /* a failed start normally leaves nothing running; make sure, or the next start fails for us */
        if (ran || vm_status(res->vmid, status, sizeof(status), cy->stop_message, sizeof(cy->stop_message)) < 0 ||
            !streq(status, "stopped"))
                cy->stop = vm_stop(res->vmid, o->shutdown_timeout, &cy->stop_forced, cy->stop_message,
                                   sizeof(cy->stop_message)) == 0
                                   ? VERIFY_STEP_OK
                                   : VERIFY_STEP_FAILED;
        else
                cy->stop_message[0] = '\0';
        read_resets(ctx, res->vmid, ran && cy->stop == VERIFY_STEP_OK, cy);
        cy->duration_usec = monotonic_usec() - t0;
        verdict(cy, baseline, baseline_cycle);
        return cy->stop != VERIFY_STEP_FAILED;
}

size_t verify_functions(const struct plan *p, struct pci_addr *ret, size_t max)
{
        size_t n = 0;

        for (size_t i = 0; i < p->n_devices && n < max; i++)
                if (!plan_use_skip_reason(p->devices[i].use))
                        ret[n++] = p->devices[i].dev.addr;
        return n;
}

int verify_check_options(const struct verify_options *o, struct pgr_error *err)
{
        char buf[256], *argv[VERIFY_PROBE_MAX_ARGS];
        size_t n;

        if (o->cycles < 1 || o->cycles > VERIFY_MAX_CYCLES) {
                pgr_error_set(err, "invalid --cycles %u: expected 1..%d", o->cycles, VERIFY_MAX_CYCLES);
                return -EINVAL;
        }
        if (o->agent_timeout < 1 || o->agent_timeout > 86400) {
                pgr_error_set(err, "invalid --agent-timeout %u: expected 1..86400 seconds", o->agent_timeout);
                return -EINVAL;
        }
        if (o->shutdown_timeout < 1 || o->shutdown_timeout > 86400) {
                pgr_error_set(err, "invalid --shutdown-timeout %u: expected 1..86400 seconds", o->shutdown_timeout);
                return -EINVAL;
        }
        if (o->probe && verify_split_command(o->probe, buf, sizeof(buf), argv, ELEMENTSOF(argv), &n) < 0) {
                pgr_error_set(err, "invalid --probe '%s': expected a command and at most %d arguments, %zu bytes",
                              o->probe, VERIFY_PROBE_MAX_ARGS - 2, sizeof(buf) - 1);
                return -EINVAL;
        }
        return 0;
}

int verify_run(const struct pgr_ctx *ctx, const struct plan *p, const struct verify_options *o,
               struct verify_result **ret, struct pgr_error *err)
{
        _cleanup_(verify_result_freep) struct verify_result *res = NULL;
        int baseline[VERIFY_MAX_CARDS] = { 0 };
        unsigned baseline_cycle[VERIFY_MAX_CARDS] = { 0 };
        char status[32], msg[VERIFY_TEXT_MAX];
        int r;

        r = verify_check_options(o, err);
        if (r < 0)
                return r;
        res = calloc(1, sizeof(*res));
        if (!res)
                return -ENOMEM;
        res->cycles = calloc(o->cycles, sizeof(*res->cycles));
        if (!res->cycles)
                return -ENOMEM;
        res->vmid = p->vmid;
        res->cycles_requested = o->cycles;
        snprintf(res->probe, sizeof(res->probe), "%s", o->probe ? o->probe : "");
        res->n_functions = verify_functions(p, res->functions, ELEMENTSOF(res->functions));
        for (size_t i = 0; i < res->n_functions; i++) {
                struct pci_addr f0 = res->functions[i];
                bool seen = false;

                f0.func = 0;
                for (size_t k = 0; k < res->n_cards; k++)
                        seen |= pci_addr_eq(&res->cards[k], &f0);
                if (!seen && res->n_cards < VERIFY_MAX_CARDS)
                        res->cards[res->n_cards++] = f0;
        }

        if (vm_status(res->vmid, status, sizeof(status), msg, sizeof(msg)) < 0) {
                snprintf_ellipsis(res->refused, sizeof(res->refused), "cannot tell whether VM %lu is running: %s", res->vmid,
                                  msg);
                goto done;
        }
        if (!streq(status, "stopped")) {
                bool forced;

                if (!o->force) {
                        snprintf_ellipsis(res->refused, sizeof(res->refused),
                                          "VM %lu is %s (qm status): verify starts and stops it; shut it down first or pass --force",
                                          res->vmid, status);
                        goto done;
                }
                if (vm_stop(res->vmid, o->shutdown_timeout, &forced, msg, sizeof(msg)) < 0) {
                        snprintf_ellipsis(res->refused, sizeof(res->refused), "VM %lu was %s and %s", res->vmid, status, msg);
                        goto done;
                }
                snprintf_ellipsis(res->stopped_first, sizeof(res->stopped_first), "VM %lu was %s: %s", res->vmid, status,
                                  msg);
        }
        for (unsigned i = 0; i < o->cycles; i++) {
                struct verify_cycle *cy = &res->cycles[res->n_cycles++];
                bool go_on;

                cy->index = i + 1;
                go_on = run_cycle(ctx, res, o, cy, baseline, baseline_cycle);
                if (o->on_cycle)
                        o->on_cycle(cy, o->userdata);
                if (!go_on)
                        break;
        }
done:
        res->passed = !res->refused[0] && res->n_cycles == res->cycles_requested;
        for (size_t i = 0; i < res->n_cycles; i++)
                res->passed &= res->cycles[i].passed;
        *ret = res;
        res = NULL;
        return 0;
}

void verify_result_free(struct verify_result *r)
{
        if (!r)
                return;
        free(r->cycles);
        free(r);
}

const char *verify_step_string(enum verify_step s)
{
        return s == VERIFY_STEP_OK ? "ok" : s == VERIFY_STEP_FAILED ? "failed" : "not run";
}

/* ---- JSON ------------------------------------------------------------------------------------- */

static struct json_object *str_or_null(const char *s)
{
        return s && s[0] ? json_object_new_string(s) : NULL;
}

static struct json_object *step_json(enum verify_step st, const char *message)
{
        struct json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "result", json_object_new_string(verify_step_string(st)));
        json_object_object_add(o, "message", str_or_null(message));
        return o;
}

static struct json_object *width_json(int w)
{
        return w >= 0 ? json_object_new_int(w) : NULL;
}

static struct json_object *cycle_json(const struct verify_cycle *cy)
{
        struct json_object *o = json_object_new_object(), *a, *x;
        char b[PCI_ADDR_STRLEN];

        if (!o)
                return NULL;
        json_object_object_add(o, "cycle", json_object_new_int((int)cy->index));
        json_object_object_add(o, "verdict", json_object_new_string(cy->passed ? "pass" : "fail"));
        json_object_object_add(o, "reason", str_or_null(cy->reason));
        json_object_object_add(o, "started_usec", json_object_new_int64(cy->started_usec));
        json_object_object_add(o, "duration_usec", json_object_new_int64(cy->duration_usec));

        a = json_object_new_array();
        for (size_t i = 0; a && i < cy->n_functions; i++) {
                x = json_object_new_object();
                json_object_object_add(x, "slot", json_object_new_string(pci_addr_format(&cy->functions[i].addr, b)));
                json_object_object_add(x, "driver", str_or_null(cy->functions[i].driver));
                json_object_array_add(a, x);
        }
        json_object_object_add(o, "drivers_before_start", a);
        json_object_object_add(o, "start", step_json(cy->start, cy->start_message));
        x = step_json(cy->agent, cy->agent_message);
        if (x && cy->agent != VERIFY_STEP_NOT_RUN)
                json_object_object_add(x, "wait_usec", json_object_new_int64(cy->agent_wait_usec));
        json_object_object_add(o, "agent", x);
        x = step_json(cy->probe, cy->probe_message);
        if (x) {
                json_object_object_add(x, "command", str_or_null(cy->probe_command));
                json_object_object_add(x, "exitcode", cy->probe_exitcode >= 0 ? json_object_new_int(cy->probe_exitcode) : NULL);
        }
        json_object_object_add(o, "probe", x);
        a = json_object_new_array();
        for (size_t i = 0; a && i < cy->n_links; i++) {
                x = json_object_new_object();
                json_object_object_add(x, "slot", json_object_new_string(pci_addr_format(&cy->links[i].addr, b)));
                json_object_object_add(x, "current_width", width_json(cy->links[i].current_width));
                json_object_object_add(x, "max_width", width_json(cy->links[i].max_width));
                json_object_array_add(a, x);
        }
        json_object_object_add(o, "links", a);
        x = step_json(cy->stop, cy->stop_message);
        if (x)
                json_object_object_add(x, "forced", json_object_new_boolean(cy->stop_forced));
        json_object_object_add(o, "stop", x);
        if (cy->resets_known) {
                a = json_object_new_array();
                for (size_t i = 0; a && i < cy->n_resets; i++) {
                        const struct verify_reset *rs = &cy->resets[i];

                        x = json_object_new_object();
                        json_object_object_add(x, "slot", str_or_null(rs->slot));
                        json_object_object_add(x, "phase", str_or_null(rs->phase));
                        json_object_object_add(x, "action", str_or_null(rs->action));
                        json_object_object_add(x, "method", str_or_null(rs->method));
                        json_object_object_add(x, "result", str_or_null(rs->result));
                        json_object_object_add(x, "duration_usec",
                                               rs->duration_usec >= 0 ? json_object_new_int64(rs->duration_usec) : NULL);
                        json_object_array_add(a, x);
                }
                json_object_object_add(o, "resets", a);
                json_object_object_add(o, "journal", NULL);
                json_object_object_add(o, "hook_journaled", json_object_new_boolean(cy->hook_journaled));
        } else {
                json_object_object_add(o, "resets", NULL);
                json_object_object_add(o, "journal", str_or_null(cy->resets_unknown_why));
                json_object_object_add(o, "hook_journaled", NULL);
        }
        json_object_object_add(o, "hook_failure", str_or_null(cy->hook_failure));
        return o;
}

int verify_to_json(const struct verify_result *r, struct json_object **ret)
{
        struct json_object *o = json_object_new_object(), *a;
        char b[PCI_ADDR_STRLEN];

        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "vmid", json_object_new_int64((int64_t)r->vmid));
        json_object_object_add(o, "verdict", json_object_new_string(r->passed ? "pass" : "fail"));
        json_object_object_add(o, "refused", str_or_null(r->refused));
        json_object_object_add(o, "stopped_first", str_or_null(r->stopped_first));
        json_object_object_add(o, "cycles_requested", json_object_new_int((int)r->cycles_requested));
        json_object_object_add(o, "probe", str_or_null(r->probe));
        a = json_object_new_array();
        for (size_t i = 0; a && i < r->n_functions; i++)
                json_object_array_add(a, json_object_new_string(pci_addr_format(&r->functions[i], b)));
        json_object_object_add(o, "functions", a);
        a = json_object_new_array();
        for (size_t i = 0; a && i < r->n_cycles; i++)
                json_object_array_add(a, cycle_json(&r->cycles[i]));
        json_object_object_add(o, "cycles", a);
        *ret = o;
        return 0;
}
