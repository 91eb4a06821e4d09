/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1 /* close_range */
#include "reset/apply.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/spawn.h"
#include "kernel/kmsg.h"
#include "kernel/sysfs.h"
#include "log/msgid.h"
#include "reset/state.h"

#define VFIO_DRIVER "vfio-pci"
/* modprobe vfio-pci takes well under a second; a start must not wait for a stuck one */
#define MODPROBE_TIMEOUT_MS 10000

/* Polls cond until true or timeout_ms passed; the interval grows from 1 ms to 20 ms so a fast
 * kernel answer costs ~1 ms and a slow one does not burn the CPU. */
static bool wait_for(bool (*cond)(const struct pgr_ctx *, const struct pci_addr *, const void *),
                     const struct pgr_ctx *ctx, const struct pci_addr *a, const void *arg, unsigned timeout_ms)
{
        long long deadline = monotonic_usec() + (long long)timeout_ms * 1000;
        unsigned step = 1;

        for (;;) {
                if (cond(ctx, a, arg))
                        return true;
                if (monotonic_usec() >= deadline)
                        return false;
                sleep_usec((long long)(step) * 1000);
                if (step < 20)
                        step *= 2;
        }
}

static bool cond_present(const struct pgr_ctx *ctx, const struct pci_addr *a, const void *arg)
{
        (void)arg;
        return sysfs_dev_present(ctx, a);
}

static bool cond_absent(const struct pgr_ctx *ctx, const struct pci_addr *a, const void *arg)
{
        (void)arg;
        return !sysfs_dev_present(ctx, a);
}

static bool cond_driver(const struct pgr_ctx *ctx, const struct pci_addr *a, const void *arg)
{
        char drv[64];

        return sysfs_dev_link(ctx, a, "driver", drv, sizeof(drv)) == 0 && streq(drv, (const char *)arg);
}

static bool cond_unbound(const struct pgr_ctx *ctx, const struct pci_addr *a, const void *arg)
{
        char drv[64];

        (void)arg;
        return sysfs_dev_link(ctx, a, "driver", drv, sizeof(drv)) == -ENOENT;
}

/* Config space answers with the expected IDs (a dead or resetting device reads all 0xff). A VF
 * reads FFFFh as its IDs by the spec: its Command/Status must answer, and its IDs are the ones
 * the kernel derived from the PF (what sysfs shows), which a reset does not change. */
static bool config_answers(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned vendor, unsigned device,
                           bool virtfn)
{
        char path[PATH_MAX], bdf[PCI_ADDR_STRLEN];
        uint8_t buf[8 + 1]; /* the read op keeps a byte for its NUL */
        unsigned ids;
        int n;

        if (pgr_pathf(ctx, path, sizeof(path), "/sys/bus/pci/devices/%s/config", pci_addr_format(a, bdf)) < 0)
                return false;
        n = ctx->ops->read(ctx->ops_userdata, path, (char *)buf, sizeof(buf));
        if (n < 0 || !pcidev_config_alive(buf, (size_t)n, virtfn))
                return false;
        ids = (unsigned)buf[0] | (unsigned)buf[1] << 8 | (unsigned)buf[2] << 16 | (unsigned)buf[3] << 24;
        return (virtfn && ids == 0xffffffffU) || ids == (vendor | device << 16);
}

/* The first 8 bytes of config space (IDs, Command/Status): the number read, or a negative errno. */
static int read_config_head(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned char head[static 8])
{
        char path[PATH_MAX], bdf[PCI_ADDR_STRLEN], buf[9];
        int n;

        if (pgr_pathf(ctx, path, sizeof(path), "/sys/bus/pci/devices/%s/config", pci_addr_format(a, bdf)) < 0)
                return -ENAMETOOLONG;
        n = ctx->ops->read(ctx->ops_userdata, path, buf, sizeof(buf));
        if (n < 0)
                return n;
        memcpy(head, buf, n < 8 ? (size_t)n : 8);
        return n < 8 ? n : 8;
}

/* Answers at all: the IDs (a VF's read FFFFh by the SR-IOV spec) and Command/Status do not read all
 * ones (pcidev_config_alive); a short read answers nothing. */
static bool config_alive(const unsigned char *head, int n, bool virtfn)
{
        return n == 8 && pcidev_config_alive(head, 8, virtfn) && pcidev_config_alive(head, 8, true);
}

/* Config space is read and reads all ones: nothing answers (a function still initialising after a
 * reset, or one that fell off the bus). */
static bool config_reads_all_ones(const struct pgr_ctx *ctx, const struct pci_addr *a, bool virtfn)
{
        unsigned char head[8];
        int n = read_config_head(ctx, a, head);

        return n >= 0 && !config_alive(head, n, virtfn);
}

/* Ready: the kernel's pci_dev_wait (drivers/pci/pci.c) polls the Command register after a reset until
 * it stops reading all ones (PCI_POSSIBLE_ERROR), with a doubling delay, before it trusts the device;
 * this is the same poll, bounded by the caller's timeout (the kernel gives up after 60 s). arg: the
 * function is a VF (const bool *). */
static bool cond_ready(const struct pgr_ctx *ctx, const struct pci_addr *a, const void *arg)
{
        unsigned char head[8];

        return config_alive(head, read_config_head(ctx, a, head), *(const bool *)arg);
}

struct verify_want {
        unsigned vendor, device;
        bool virtfn;
};

static bool cond_answers(const struct pgr_ctx *ctx, const struct pci_addr *a, const void *arg)
{
        const struct verify_want *w = arg;

        return config_answers(ctx, a, w->vendor, w->device, w->virtfn);
}

/* Per-run bookkeeping: what this run already did, so a slot reset or a remove+rescan that covered
 * several functions is done once. */
struct run_state {
        struct apply_ctx *a;
        struct plan *p;
        struct foreign_check *fc; /* redone under the slot locks: who else holds what now */
        struct reservations *reserved; /* fc's, read again just before each check (refresh_foreign) */
        struct pci_addr done_bridges[PLAN_MAX_DEVICES];
        size_t n_done_bridges;
        struct pci_addr done_slots[PLAN_MAX_DEVICES];
        size_t n_done_slots;
        struct pci_addr done_power[PLAN_MAX_DEVICES]; /* slots power-cycled */
        size_t n_done_power;
        struct pci_addr failed_power[PLAN_MAX_DEVICES]; /* slots whose power cycle failed: not again */
        size_t n_failed_power;
};

/* One journal entry of a step; zero fields are left out (started_usec 0: not timed). */
struct step {
        const char *msgid;
        int priority;
        const char *action, *method, *result;
        long long started_usec; /* monotonic_usec() when the step began: the entry gets its duration */
        const char *driver_before, *driver_after; /* "" is written as "none" */
        int error;
};

static void journal_step(struct apply_ctx *a, const struct plan_device *d, const struct step *st, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void journal_step(struct apply_ctx *a, const struct plan_device *d, const struct step *st, const char *fmt, ...)
{
        char msg[512], id[16];
        va_list ap;
        struct journal_event ev = {
                .message_id = st->msgid,
                .priority = st->priority,
                .vmid = a->vmid,
                .phase = phase_to_string(a->phase),
                .slot = d ? d->dev.bdf : NULL,
                .pci_id = NULL,
                .action = st->action,
                .method = st->method && st->method[0] ? st->method : NULL,
                .result = st->result,
                .duration_usec = st->started_usec ? monotonic_usec() - st->started_usec : -1,
                .driver_before = st->driver_before && st->driver_before[0] ? st->driver_before
                                                                          : (st->driver_before ? "none" : NULL),
                .driver_after = st->driver_after && st->driver_after[0] ? st->driver_after
                                                                       : (st->driver_after ? "none" : NULL),
                .errno_value = st->error < 0 ? -st->error : st->error,
                .message = msg,
        };

        if (d && d->dev.present) {
                snprintf(id, sizeof(id), "%04x:%04x", d->dev.vendor, d->dev.device);
                ev.pci_id = id;
        }
        va_start(ap, fmt);
        vsnprintf_ellipsis(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        journal_log(a->journal, &ev);
}

static int write_checked(struct apply_ctx *a, const struct pci_addr *dev, const char *attr, const char *value)
{
        if (a->dry_run)
                return 0;
        return sysfs_dev_write(a->ctx, dev, attr, value);
}

/* Writes attr and reads it back: the write's effect, not just its return code. */
static int write_verified(struct apply_ctx *a, const struct pci_addr *dev, const char *attr, const char *value)
{
        char buf[64];
        int r;

        r = write_checked(a, dev, attr, value);
        if (r < 0 || a->dry_run)
                return r;
        r = sysfs_dev_read(a->ctx, dev, attr, buf, sizeof(buf));
        if (r < 0)
                return r;
        return streq(buf, value) ? 0 : -EIO;
}

static void current_driver(const struct pgr_ctx *ctx, const struct pci_addr *a, char *buf, size_t size)
{
        if (sysfs_dev_link(ctx, a, "driver", buf, size) < 0)
                buf[0] = '\0';
}

/* Nobody but a VM can be using it: on vfio-pci or on no driver at all. Anything else (a host driver,
 * or a driver link that cannot be read) is the host's: no pin, no power setting goes on it. */
static bool host_free(const struct pgr_ctx *ctx, const struct pci_addr *a)
{
        char drv[64];
        int r = sysfs_dev_link(ctx, a, "driver", drv, sizeof(drv));

        return r == -ENOENT || (r == 0 && streq(drv, VFIO_DRIVER));
}

/* Who keeps an nvidia unbind waiting: the processes with /dev/nvidia* open, and nvidia-persistenced
 * (which holds it while it runs). All looked up under the root prefix. */
static void describe_nvidia_holders(const struct pgr_ctx *ctx, char *buf, size_t size)
{
        long pids[8], persistenced;
        size_t n = 0, w;
        int r;

        r = proc_fd_holders(ctx, "/dev/nvidia", pids, ELEMENTSOF(pids), &n);
        w = (size_t)snprintf(buf, size, n ? "/dev/nvidia* is open in" : "no process with /dev/nvidia* open was found");
        for (size_t i = 0; i < n && w < size; i++) {
                char comm[64] = "?";

                (void)proc_comm(ctx, pids[i], comm, sizeof(comm));
                w += (size_t)snprintf(buf + w, size - w, "%s pid %ld (%s)", i ? "," : "", pids[i], comm);
        }
        if (r == -ENOBUFS && w < size)
                w += (size_t)snprintf(buf + w, size - w, " and more");
        persistenced = proc_find_comm(ctx, "nvidia-persistenced");
        if (persistenced > 0 && w < size)
                w += (size_t)snprintf(buf + w, size - w, "; nvidia-persistenced runs (pid %ld): "
                                      "systemctl stop nvidia-persistenced", persistenced);
        if (w < size)
                snprintf(buf + w, size - w, "; or keep nvidia off this card (blacklist or softdep)");
}

/* A sysfs write that runs a driver's code in the kernel, or waits for the device's lock, can block
 * for good: a host driver's unbind (nvidia waits until every /dev/nvidia* user - nvidia-persistenced,
 * an LXC container, Xorg - closes it), a probe through drivers_probe (release_after_stop: an AMD card
 * with the reset bug, a driver waiting for its firmware), driver_override (its store and show take
 * the device lock, which such a driver holds). A hookscript has no timeout: the VM start (or
 * post-stop) would hang. The steps run in a child process, waited for at most timeout_ms (the
 * policy's bind_timeout_ms); then the child gets SIGKILL and is left behind (one stuck in the kernel
 * dies when the write returns). Returns the steps' result (0 or a negative errno); -ETIMEDOUT: the
 * kernel still holds the device's lock; the caller writes nothing more near it. */
static int run_bounded(struct apply_ctx *a, int (*steps)(struct apply_ctx *a, const void *arg), const void *arg,
                       unsigned timeout_ms)
{
        /* SIGCHLD at its default while the child lives: an ignored SIGCHLD (inherited across execve from
         * whoever ran the hook) has the kernel reap the child itself, and waitpid() would fail with
         * ECHILD where the steps succeeded: a failed start Proxmox would have made. */
        struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
        long long deadline;
        unsigned step = 1;
        pid_t pid;
        int status, r;

        if (a->dry_run)
                return 0;
        if (sigaction(SIGCHLD, &dfl, &old) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                (void)sigaction(SIGCHLD, &old, NULL);
                return r;
        }
        if (pid == 0) {
                /* A child stuck in the kernel must not keep our slot and bus locks (flock: held while
                 * any descriptor of the open file lives) once we have given up on it, nor Proxmox's
                 * stdout/stderr pipes: PVE::Tools::run_command reads them to EOF, so a stuck child that
                 * held them would hold the VM start after the hook has exited. */
                (void)close_range(0, ~0U, 0);
                r = steps(a, arg);
                /* An exit status has 8 bits: an errno beyond them (the kernel's internal -ENOTSUPP 524,
                 * -EPROBE_DEFER 517) would read as another one, or as 0 (512), success. */
                _exit(r >= 0 ? 0 : -r < 256 ? -r : EIO);
        }
        deadline = monotonic_usec() + (long long)timeout_ms * 1000;
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);

                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR) {
                        r = -errno;
                        (void)kill(pid, SIGKILL); /* not left to write on unwatched */
                        (void)sigaction(SIGCHLD, &old, NULL);
                        return r;
                }
                if (monotonic_usec() >= deadline) {
                        (void)kill(pid, SIGKILL);
                        (void)waitpid(pid, &status, WNOHANG);
                        (void)sigaction(SIGCHLD, &old, NULL);
                        return -ETIMEDOUT;
                }
                sleep_usec((long long)(step) * 1000);
                if (step < 20)
                        step *= 2;
        }
        (void)sigaction(SIGCHLD, &old, NULL);
        if (!WIFEXITED(status))
                return -EINTR;
        return -WEXITSTATUS(status);
}

struct bounded_write {
        const struct pci_addr *dev; /* NULL: attr is an absolute sysfs path (drivers_probe) */
        const char *attr, *value;
};

static int write_step(struct apply_ctx *a, const void *arg)
{
        const struct bounded_write *w = arg;

        return w->dev ? sysfs_dev_write(a->ctx, w->dev, w->attr, w->value) : sysfs_write(a->ctx, w->attr, w->value);
}

/* One sysfs write, bounded (run_bounded). */
static int write_bounded(struct apply_ctx *a, const struct pci_addr *dev, const char *attr, const char *value,
                         unsigned timeout_ms)
{
        const struct bounded_write w = { .dev = dev, .attr = attr, .value = value };

        return run_bounded(a, write_step, &w, timeout_ms);
}

struct override_steps {
        const struct pci_addr *dev;
        const char *want;       /* NULL: cleared (the kernel's store clears on an empty line, shows "(null)") */
        const char *probe_bdf;  /* then drivers_probe of it, or NULL */
};

/* driver_override written and read back (its effect, not just the write), then drivers_probe: in one
 * bounded child, since each of them waits for the device's lock (drivers/base/driver.c
 * driver_set_override, drivers/pci/pci-sysfs.c driver_override_show, the probe itself). -EIO: the
 * override did not take; -ENOEXEC: drivers_probe failed. */
static int override_step(struct apply_ctx *a, const void *arg)
{
        const struct override_steps *o = arg;
        char now[64];
        int r;

        r = sysfs_dev_write(a->ctx, o->dev, "driver_override", o->want ? o->want : "\n");
        if (r >= 0)
                r = sysfs_dev_read(a->ctx, o->dev, "driver_override", now, sizeof(now));
        if (r < 0)
                return r;
        if (o->want ? !streq(now, o->want) : now[0] && !streq(now, "(null)"))
                return -EIO;
        if (o->probe_bdf && sysfs_write(a->ctx, "/sys/bus/pci/drivers_probe", o->probe_bdf) < 0)
                return -ENOEXEC;
        return 0;
}

/* driver_override set to want (NULL: cleared), bounded, and, given probe_bdf, the probe after it in the
 * same child (one fork, not two: a fork costs ~10 ms in the TCG guest of make bench). */
static int write_override(struct apply_ctx *a, const struct pci_addr *dev, const char *want, const char *probe_bdf,
                          unsigned timeout_ms)
{
        const struct override_steps o = { .dev = dev, .want = want, .probe_bdf = probe_bdf };

        return run_bounded(a, override_step, &o, timeout_ms);
}

static int unbind_bounded(struct apply_ctx *a, const struct pci_addr *dev, const char *bdf, unsigned timeout_ms)
{
        return write_bounded(a, dev, "driver/unbind", bdf, timeout_ms);
}

/* qemu-server loads vfio-pci itself before it binds a function (pve-common SysFSTools.pm
 * pci_dev_bind_to_vfio: "/sbin/modprobe vfio-pci", then "Cannot find vfio-pci module!"), so a host
 * without vfio-pci in /etc/modules still starts its VMs; the hook, which runs first, does the same.
 * modprobe is the one under the root prefix (a test's stand-in), bounded: never hang a start. *loaded
 * tells the caller it was us who loaded it (journal: add it to /etc/modules). */
static int load_vfio_pci(struct apply_ctx *a, bool *loaded, char *why, size_t why_size)
{
        _cleanup_(spawn_result_donep) struct spawn_result out = {};
        char drvdir[PATH_MAX], modprobe[PATH_MAX];
        const char *argv[] = { modprobe, VFIO_DRIVER, NULL };
        int r;

        r = pgr_path(a->ctx, drvdir, sizeof(drvdir), "/sys/bus/pci/drivers/" VFIO_DRIVER);
        if (r < 0)
                return r;
        if (access(drvdir, F_OK) == 0)
                return 0;
        r = pgr_path(a->ctx, modprobe, sizeof(modprobe), "/sbin/modprobe");
        if (r < 0)
                return r;
        r = spawn_run(argv, MODPROBE_TIMEOUT_MS, &out);
        if (access(drvdir, F_OK) == 0) {
                *loaded = true;
                return 0;
        }
        if (why) {
                char first[256];

                text_first_line(out.err && out.err[0] ? out.err : out.out ? out.out : "", first, sizeof(first));
                if (r < 0)
                        snprintf(why, why_size, "vfio-pci is not loaded and /sbin/modprobe could not run (%s)",
                                 out.error[0] ? out.error : strerror(-r));
                else if (out.timed_out)
                        snprintf(why, why_size, "vfio-pci is not loaded and 'modprobe vfio-pci' did not finish "
                                 "within %u ms", MODPROBE_TIMEOUT_MS);
                else
                        snprintf(why, why_size, "vfio-pci is not loaded and 'modprobe vfio-pci' %s (exit status %d)%s%s",
                                 out.status == 0 ? "did not load it" : "failed", out.status, first[0] ? ": " : "",
                                 first);
        }
        return -ENXIO;
}

/* driver_override=vfio-pci + drivers_probe, then wait for the driver link. why (may be NULL) says more
 * about a failure than the errno; *loaded_vfio (may be NULL) is set when vfio-pci had to be loaded. */
static int bind_vfio(struct apply_ctx *a, const struct pci_addr *dev, unsigned timeout_ms, bool *loaded_vfio,
                     char *why, size_t why_size)
{
        char bdf[PCI_ADDR_STRLEN], drv[64];
        bool loaded = false;
        int r;

        if (a->dry_run)
                return 0;
        r = load_vfio_pci(a, &loaded, why, why_size);
        if (loaded_vfio)
                *loaded_vfio = loaded;
        if (r < 0)
                return r;
        pci_addr_format(dev, bdf);
        current_driver(a->ctx, dev, drv, sizeof(drv));
        if (streq(drv, VFIO_DRIVER))
                return 0;
        if (!drv[0]) {
                /* Nothing to take it from (a rescan's function under drivers_autoprobe=0, one released
                 * earlier): driver_override and vfio-pci's probe in one bounded child. */
                r = write_override(a, dev, VFIO_DRIVER, bdf, timeout_ms);
                if (r == -ETIMEDOUT && why)
                        snprintf(why, why_size, "driver_override and vfio-pci's probe did not finish within %u ms: "
                                 "the device's lock is held (a driver stuck in the kernel?)", timeout_ms);
                if (r < 0 && r != -ENOEXEC)
                        return r;
        } else {
                r = write_override(a, dev, VFIO_DRIVER, NULL, timeout_ms);
                if (r == -ETIMEDOUT && why)
                        snprintf(why, why_size, "driver_override could not be written within %u ms: the device's "
                                 "lock is held (a driver stuck in the kernel?)", timeout_ms);
                if (r < 0)
                        return r;
                r = unbind_bounded(a, dev, bdf, timeout_ms);
                if (r == -ETIMEDOUT && why) {
                        char holders[384] = "";

                        if (strncmp(drv, "nvidia", 6) == 0)
                                describe_nvidia_holders(a->ctx, holders, sizeof(holders));
                        snprintf(why, why_size, "unbinding from %s did not finish within %u ms%s%s", drv, timeout_ms,
                                 holders[0] ? ": " : "", holders);
                }
                if (r < 0)
                        return r;
                if (!wait_for(cond_unbound, a->ctx, dev, NULL, timeout_ms))
                        return -EBUSY;
                /* Bounded like the unbind: vfio-pci's probe runs under the device's lock, which a host
                 * driver's remove stuck in the kernel (or an earlier run's stuck child) may hold for good. */
                r = write_bounded(a, NULL, "/sys/bus/pci/drivers_probe", bdf, timeout_ms);
                if (r == -ETIMEDOUT) {
                        if (why)
                                snprintf(why, why_size, "vfio-pci's probe did not finish within %u ms", timeout_ms);
                        return r;
                }
                if (r < 0)
                        r = -ENOEXEC;
        }
        /* drivers_probe also reports success when nothing bound (the kernel's drivers_probe_store
         * ignores a probe's failure): the driver link is the truth. */
        if (!wait_for(cond_driver, a->ctx, dev, VFIO_DRIVER, timeout_ms)) {
                if (why) {
                        current_driver(a->ctx, dev, drv, sizeof(drv));
                        if (r < 0)
                                snprintf(why, why_size, "drivers_probe failed");
                        else if (drv[0])
                                snprintf(why, why_size, "%s took it instead of vfio-pci (driver_override did not hold)", drv);
                        else
                                snprintf(why, why_size, "vfio-pci did not take it within %u ms (its probe failed: "
                                         "see the kernel log, e.g. no IOMMU group)", timeout_ms);
                }
                return r < 0 ? r : -ENODEV;
        }
        return 0;
}

static int keep_awake(struct apply_ctx *a, const struct pci_addr *dev)
{
        int r = 0, q;

        if (sysfs_dev_has(a->ctx, dev, "d3cold_allowed")) {
                q = write_verified(a, dev, "d3cold_allowed", "0");
                if (q < 0)
                        r = q;
        }
        if (sysfs_dev_has(a->ctx, dev, "power/control")) {
                q = write_verified(a, dev, "power/control", "on");
                if (q < 0)
                        r = q;
        }
        return r;
}

static int aspm_off(struct apply_ctx *a, const struct plan_device *d, const struct pci_addr *dev)
{
        int r = 0;

        for (size_t i = 0; i < d->dev.n_link_aspm; i++) {
                char attr[48];
                int q;

                snprintf(attr, sizeof(attr), "link/%s", d->dev.link_aspm[i]);
                q = write_verified(a, dev, attr, "0");
                if (q < 0 && q != -ENOENT)
                        r = q;
        }
        if (d->dev.n_link_aspm == 0 && d->dev.aspm_ctl > 0 && !a->dry_run)
                r = pcidev_aspm_disable(a->acc, dev);
        return r;
}

/* Present, same IDs, config space answering, on vfio-pci: the state every step must leave. */
static int verify_usable(struct apply_ctx *a, const struct plan_device *d, const struct pci_addr *dev,
                         unsigned timeout_ms, char *why, size_t why_size)
{
        struct verify_want w = { d->dev.vendor, d->dev.device, d->dev.physfn[0] != '\0' };
        char drv[64];

        if (a->dry_run)
                return 0;
        if (!wait_for(cond_present, a->ctx, dev, NULL, timeout_ms)) {
                snprintf(why, why_size, "did not come back within %u ms", timeout_ms);
                return -ENODEV;
        }
        if (!wait_for(cond_ready, a->ctx, dev, &w.virtfn, timeout_ms)) {
                snprintf(why, why_size, "config space reads all ones (0xffff) %u ms after it: not ready, or fallen "
                         "off the bus", timeout_ms);
                return -EIO;
        }
        if (!wait_for(cond_answers, a->ctx, dev, &w, timeout_ms)) {
                snprintf(why, why_size, "config space does not answer as %04x:%04x", w.vendor, w.device);
                return -EIO;
        }
        current_driver(a->ctx, dev, drv, sizeof(drv));
        if (!streq(drv, VFIO_DRIVER)) {
                snprintf(why, why_size, "bound to %s instead of vfio-pci", drv[0] ? drv : "no driver");
                return -EUCLEAN;
        }
        return 0;
}

static int pin_reset_method(struct apply_ctx *a, const struct plan_device *d, const struct pci_addr *dev);

/* After a remove/rescan the kernel forgot driver_override, d3cold_allowed and reset_method: the
 * binding, the power settings and (for d's own function) the pin are set again. */
static int restore_after_rescan(struct apply_ctx *a, const struct plan_device *d, const struct pci_addr *dev)
{
        int r;

        r = bind_vfio(a, dev, d->policy.bind_timeout_ms, NULL, NULL, 0);
        if (r < 0)
                return r;
        if (d->policy.keep_awake)
                (void)keep_awake(a, dev);
        if (d->policy.aspm_off)
                (void)aspm_off(a, d, dev);
        /* A pin that does not take is the main loop's warning (it pins again after the rung), not a
         * failed rescan: the card itself is back. */
        if (d->pin_set && pci_addr_eq(&d->dev.addr, dev))
                (void)pin_reset_method(a, d, dev);
        return 0;
}

static bool covered(const struct pci_addr *list, size_t n, const struct pci_addr *a, bool by_slot)
{
        for (size_t i = 0; i < n; i++)
                if (by_slot ? pci_addr_same_slot(&list[i], a) : pci_addr_eq(&list[i], a))
                        return true;
        return false;
}

static struct plan_device *plan_lookup(struct plan *p, const struct pci_addr *a)
{
        for (size_t i = 0; i < p->n_devices; i++)
                if (pci_addr_eq(&p->devices[i].dev.addr, a))
                        return &p->devices[i];
        return NULL;
}

/* The drivers_autoprobe window: while it is 0 no host driver can grab a rescanned card. Signals that
 * would kill us are held back until it is 1 again; SIGKILL cannot be, which is what the guard file
 * and apply_recover_autoprobe are for. The window's lock is held from before the guard is written
 * until after it is removed: it is how recovery tells a live run from a dead one. */
struct autoprobe_window {
        sigset_t saved;
        struct pgr_lock lock;
        bool active;
};

/* A guard that stays makes the next run "restore" a setting that is already right, and say so: harmless,
 * but said here, naming the file. */
static void autoprobe_guard_clear(struct apply_ctx *a)
{
        int r = state_autoprobe_guard_clear(a->ctx);

        if (r < 0)
                journal_step(a, NULL,
                             &(struct step){ .msgid = PGR_MSGID_STATE_WRITE_FAILED, .priority = LOG_WARNING,
                                             .action = "state", .result = "failed", .error = r },
                             "cannot remove " STATE_DIR "/" STATE_AUTOPROBE_GUARD ": %s", strerror(-r));
}

static int autoprobe_off(struct apply_ctx *a, struct autoprobe_window *w)
{
        sigset_t block;
        struct pgr_error lerr;
        int r;

        w->lock = (struct pgr_lock)PGR_LOCK_INIT;
        if (a->dry_run)
                return 0;
        r = lock_autoprobe(a->ctx, a->vmid, "autoprobe-off", a->lock_timeout_ms, &w->lock, &lerr);
        if (r < 0)
                return r;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGHUP);
        sigaddset(&block, SIGQUIT);
        sigprocmask(SIG_BLOCK, &block, &w->saved);
        r = state_autoprobe_guard_set(a->ctx);
        if (r >= 0)
                r = sysfs_write(a->ctx, "/sys/bus/pci/drivers_autoprobe", "0");
        if (r < 0) {
                autoprobe_guard_clear(a);
                lock_release(&w->lock);
                sigprocmask(SIG_SETMASK, &w->saved, NULL);
                return r;
        }
        w->active = true;
        return 0;
}

static int autoprobe_on(struct apply_ctx *a, struct autoprobe_window *w)
{
        char buf[8];
        int r;

        if (!w->active)
                return 0;
        r = sysfs_write(a->ctx, "/sys/bus/pci/drivers_autoprobe", "1");
        if (r >= 0 && sysfs_read(a->ctx, "/sys/bus/pci/drivers_autoprobe", buf, sizeof(buf)) >= 0 && !streq(buf, "1"))
                r = -EIO;
        if (r >= 0)
                autoprobe_guard_clear(a);
        /* A guard left after a failed restore is for the next run's recovery: the lock goes either way. */
        lock_release(&w->lock);
        w->active = false;
        sigprocmask(SIG_SETMASK, &w->saved, NULL);
        return r;
}

/* The bus lock, then drivers_autoprobe=0: what a remove+rescan and a power cycle both hold while
 * functions come back, so no host driver module grabs them first. drivers_autoprobe is global: one
 * run at a time may hold it at 0. The caller closes the window (autoprobe_on) and drops the lock. */
static int bus_window_open(struct apply_ctx *a, const char *what, struct pgr_lock *bus, struct autoprobe_window *w,
                           char *why, size_t why_size)
{
        struct pgr_error lerr = {};
        int r;

        r = lock_bus(a->ctx, a->vmid, what, a->lock_timeout_ms, bus, &lerr);
        if (r < 0) {
                snprintf_ellipsis(why, why_size, "%s", lerr.msg);
                return r;
        }
        r = autoprobe_off(a, w);
        if (r < 0)
                snprintf(why, why_size, "cannot set drivers_autoprobe=0: %s", strerror(-r));
        return r;
}

/* drivers_autoprobe back to 1 (the bus lock goes with the caller's scope); r is the caller's result so
 * far, which a failure here replaces only when it was a success. */
static int bus_window_close(struct apply_ctx *a, struct autoprobe_window *w, int r, char *why, size_t why_size)
{
        int q = autoprobe_on(a, w);

        if (q < 0 && r >= 0) {
                snprintf(why, why_size, "cannot restore drivers_autoprobe=1: %s", strerror(-q));
                r = q;
        }
        return r;
}

/* Rescans only the bus the functions sit on (/sys/class/pci_bus/DDDD:BB/rescan); the parent
 * bridge's own "rescan" attribute would rescan the bus the bridge sits on, a wider net. */
/* A root bus has a host bridge directory of its own, /sys/devices/pciDDDD:BB; any other bus hangs
 * below a PCI bridge. */
static bool is_root_bus(const struct pgr_ctx *ctx, const struct pci_addr *dev)
{
        char path[PATH_MAX];

        return pgr_pathf(ctx, path, sizeof(path), "/sys/devices/pci%04x:%02x", dev->domain, dev->bus) >= 0 &&
               access(path, F_OK) == 0;
}

static int rescan_bus(struct apply_ctx *a, const struct pci_addr *dev, const struct pci_addr *parent)
{
        char abs[PATH_MAX], bdf[PCI_ADDR_STRLEN];
        int r;

        snprintf(abs, sizeof(abs), "/sys/class/pci_bus/%04x:%02x/rescan", dev->domain, dev->bus);
        r = sysfs_write(a->ctx, abs, "1");
        if (r != -ENOENT || !parent)
                return r;
        /* The bus object goes away with its last device on some kernels: rescan through the bridge. */
        snprintf(abs, sizeof(abs), "/sys/bus/pci/devices/%s/rescan", pci_addr_format(parent, bdf));
        return sysfs_write(a->ctx, abs, "1");
}

/* After funcs were taken off the bus (removed, or their slot powered off) and the kernel was asked to
 * find them again (after: "rescan", "power-on"): waits for each (rescan_timeout_ms), then binds it to
 * vfio-pci and sets it up again (restore_after_rescan). A bridge among them (a switch on the card) is
 * only waited for: the kernel gives it to pcieport, and nothing but a bridge driver may have it.
 * Returns r, or the first failure when r had none (why says it). */
static int wait_back_and_restore(struct run_state *rs, const struct plan_device *d, const struct pci_addr *funcs,
                                 size_t n, const char *after, int r, char *why, size_t why_size)
{
        struct apply_ctx *a = rs->a;

        for (size_t i = 0; i < n && !a->dry_run; i++) {
                char bdf[PCI_ADDR_STRLEN];
                const struct plan_device *fd = plan_lookup(rs->p, &funcs[i]);
                int q;

                if (!wait_for(cond_present, a->ctx, &funcs[i], NULL, d->policy.rescan_timeout_ms)) {
                        if (r >= 0) {
                                snprintf(why, why_size, "%s did not come back after %s within %u ms",
                                         pci_addr_format(&funcs[i], bdf), after, d->policy.rescan_timeout_ms);
                                r = -ENODEV;
                        }
                        continue;
                }
                if (pcidev_is_bridge(a->ctx, &funcs[i]))
                        continue;
                q = restore_after_rescan(a, fd ? fd : d, &funcs[i]);
                if (q < 0 && r >= 0) {
                        snprintf(why, why_size, "%s: binding to vfio-pci after %s failed: %s",
                                 pci_addr_format(&funcs[i], bdf), after, strerror(-q));
                        r = q;
                }
        }
        return r;
}

/* Removes funcs, waits settle_ms, rescans their bus under drivers_autoprobe=0 (holding the bus
 * lock), then binds each function to vfio-pci. */
static int remove_and_rescan(struct run_state *rs, const struct plan_device *d, const struct pci_addr *funcs, size_t n,
                             bool remove_first, char *why, size_t why_size)
{
        struct apply_ctx *a = rs->a;
        struct autoprobe_window w = {};
        const struct pci_addr *parent = d->dev.has_parent ? &d->dev.parent : NULL;
        _cleanup_(lock_releasep) struct pgr_lock bus = PGR_LOCK_INIT;
        size_t n_removed = 0;
        int r, q;

        /* Slot resets need no bus lock, the slot locks already keep two runs off one card. */
        r = bus_window_open(a, remove_first ? "remove-rescan" : "rescan", &bus, &w, why, why_size);
        if (r < 0)
                return r;
        for (size_t i = 0; remove_first && i < n && r >= 0; i++) {
                char bdf[PCI_ADDR_STRLEN];

                r = write_checked(a, &funcs[i], "remove", "1");
                if (r >= 0)
                        n_removed = i + 1; /* gone, or going: a late disappearance still needs the rescan */
                if (r >= 0 && !a->dry_run && !wait_for(cond_absent, a->ctx, &funcs[i], NULL, d->policy.reset_timeout_ms))
                        r = -EBUSY;
                if (r < 0)
                        snprintf(why, why_size, "remove of %s failed: %s", pci_addr_format(&funcs[i], bdf), strerror(-r));
        }
        if (!remove_first)
                n_removed = n;
        /* Whatever failed after a remove, what was removed is rescanned and rebound: else it stays gone
         * until a reboot. The first failure is the one reported. */
        if (n_removed > 0 && !a->dry_run) {
                if (remove_first && r >= 0) /* the bridge rung already waited after its secondary bus reset */
                        sleep_usec((long long)(d->policy.settle_ms) * 1000);
                q = rescan_bus(a, &funcs[0], parent);
                if (q < 0 && r >= 0) {
                        snprintf(why, why_size, "rescan failed: %s", strerror(-q));
                        r = q;
                }
        }
        r = wait_back_and_restore(rs, d, funcs, n_removed, "rescan", r, why, why_size);
        return bus_window_close(a, &w, r, why, why_size);
}

/* Writes reset_method and reads it back. The empty value (every per-function reset disabled) is
 * written as a newline: sysfs drops a zero-length write without calling the attribute's store
 * (fs/sysfs/file.c sysfs_kf_write), and reset_method_store takes "\n" as the empty list
 * (drivers/pci/pci.c, sysfs_streq(buf, "")). */
static int write_reset_method(const struct pgr_ctx *ctx, const struct pci_addr *dev, const char *value)
{
        char now[STATE_VALUE_MAX];
        int r;

        r = sysfs_dev_write(ctx, dev, "reset_method", value[0] ? value : "\n");
        if (r >= 0)
                r = sysfs_dev_read(ctx, dev, "reset_method", now, sizeof(now));
        if (r >= 0 && !streq(now, value))
                r = -EIO;
        return r < 0 ? r : 0;
}

/* "default": the kernel probes again and lists what it offers; whatever it lists is right. */
static int write_reset_method_default(const struct pgr_ctx *ctx, const struct pci_addr *dev)
{
        char now[STATE_VALUE_MAX];
        int r;

        r = sysfs_dev_write(ctx, dev, "reset_method", "default");
        if (r >= 0)
                r = sysfs_dev_read(ctx, dev, "reset_method", now, sizeof(now));
        return r < 0 ? r : 0;
}

/* Writes back what an uninterrupted run leaves in reset_method (the recorded value: the pin, or the
 * list from before), checks it took, and only then drops the record. The kernel probes every method
 * written (reset_method_store) and refuses a list naming one whose probe fails now, e.g. "bus" that
 * was probed for function 0 before its siblings existed: then "default", which makes the kernel list
 * again what it offers (pci_init_reset_methods). Either way nothing is left narrowed. */
static int restore_reset_method(const struct pgr_ctx *ctx, const struct pci_addr *dev)
{
        char want[STATE_VALUE_MAX];
        int r;

        r = state_setting_load(ctx, dev, "reset_method", want, sizeof(want));
        if (r < 0)
                return r;
        r = write_reset_method(ctx, dev, want);
        if (r < 0)
                r = write_reset_method_default(ctx, dev);
        if (r >= 0)
                r = state_setting_clear(ctx, dev, "reset_method");
        return r;
}

/* Before the first write to a function's reset_method: the list the kernel offers, for every later
 * plan (state_kernel_methods_save keeps the record once made; the attribute then holds our pin). */
static int record_kernel_methods(const struct pgr_ctx *ctx, const struct pci_addr *dev)
{
        char list[STATE_VALUE_MAX];
        int r;

        if (state_kernel_methods_load(ctx, dev, list, sizeof(list)) >= 0)
                return 0;
        r = sysfs_dev_read(ctx, dev, "reset_method", list, sizeof(list));
        return r < 0 ? r : state_kernel_methods_save(ctx, dev, list);
}

/* The kernel's list back on a function that is no longer a VM's (plan_device.unpin), then the record
 * goes: the next pin records the kernel's list afresh. A list the kernel refuses now (a "bus" probed
 * before its siblings existed): "default", which lists whatever it offers. */
static int unpin_reset_method(struct apply_ctx *a, const struct plan_device *d)
{
        int r;

        if (a->dry_run)
                return 0;
        r = d->unpin_list[0] ? write_reset_method(a->ctx, &d->dev.addr, d->unpin_list) : -EINVAL;
        if (r < 0)
                r = write_reset_method_default(a->ctx, &d->dev.addr);
        if (r >= 0)
                r = state_kernel_methods_clear(a->ctx, &d->dev.addr);
        return r;
}

/* policy release_after_stop: driver_override cleared, off vfio-pci (bounded: vfio-pci waits for any
 * user of the device), drivers_probe (bounded too: it runs the host driver's probe); the driver link
 * says who took it ("" none: no host driver for it is loaded, which is fine). Only from vfio-pci or no
 * driver: a host driver already there stays. -ETIMEDOUT: the unbind or the probe did not finish (why
 * says which); the kernel holds the device's lock, so the caller writes nothing more near it. */
static int release_to_host(struct apply_ctx *a, const struct plan_device *d, char *ret_driver, size_t size, char *why,
                           size_t why_size)
{
        const struct pci_addr *dev = &d->dev.addr;
        char bdf[PCI_ADDR_STRLEN], now[64];
        int r;

        ret_driver[0] = '\0';
        why[0] = '\0';
        if (a->dry_run || !host_free(a->ctx, dev))
                return 0;
        pci_addr_format(dev, bdf);
        r = write_override(a, dev, NULL, NULL, d->policy.bind_timeout_ms);
        if (r == -ETIMEDOUT)
                snprintf(why, why_size, "driver_override could not be cleared within %u ms: the device's lock is held",
                         d->policy.bind_timeout_ms);
        if (r < 0)
                return r;
        current_driver(a->ctx, dev, now, sizeof(now));
        if (streq(now, VFIO_DRIVER)) {
                r = unbind_bounded(a, dev, bdf, d->policy.bind_timeout_ms);
                if (r == -ETIMEDOUT)
                        snprintf(why, why_size, "unbinding from %s did not finish within %u ms", VFIO_DRIVER,
                                 d->policy.bind_timeout_ms);
                if (r < 0)
                        return r;
                if (!wait_for(cond_unbound, a->ctx, dev, NULL, d->policy.bind_timeout_ms))
                        return -EBUSY;
        }
        r = write_bounded(a, NULL, "/sys/bus/pci/drivers_probe", bdf, d->policy.bind_timeout_ms);
        if (r == -ETIMEDOUT) {
                snprintf(why, why_size, "the host driver's probe did not finish within %u ms", d->policy.bind_timeout_ms);
                return r;
        }
        current_driver(a->ctx, dev, ret_driver, size);
        return r < 0 ? r : 0;
}

/* The pin (plan_device.pin): written, read back; or read and found in place already (every start
 * after the first), which is all the read back of a write would prove. */
static int pin_reset_method(struct apply_ctx *a, const struct plan_device *d, const struct pci_addr *dev)
{
        char now[STATE_VALUE_MAX];
        int r, shown;

        if (a->dry_run)
                return 0;
        shown = sysfs_dev_read(a->ctx, dev, "reset_method", now, sizeof(now));
        /* The kernel shows no reset_method when it offers the function no per-function reset at all
         * (reset_method_attr_is_visible), e.g. a conventional PCI device whose "bus" probe fails once it
         * has siblings again after a rescan (e2e foreign.sh): that already is what "none" asks for. */
        if (!d->pin[0] && shown == -ENOENT)
                return 0;
        r = record_kernel_methods(a->ctx, dev);
        if (r < 0)
                return r; /* without the kernel's list, later plans would take the pin for it */
        if (shown >= 0 && streq(now, d->pin))
                return 0;
        return write_reset_method(a->ctx, dev, d->pin);
}

/* A named method is tried by narrowing reset_method to it for the one reset. The value to go back to
 * is recorded first (state_setting_save), so that a run killed in the middle leaves the next run
 * (apply_recover_settings) and every plan meanwhile what an uninterrupted run leaves: the pin for a
 * function the VM owns (the kernel's list is recorded apart, record_kernel_methods), else the value
 * from before. */
static int do_kernel_reset(struct apply_ctx *a, const struct plan_device *d, const char *method)
{
        const struct pci_addr *dev = &d->dev.addr;
        char orig[STATE_VALUE_MAX];
        int r, q;

        if (a->dry_run)
                return 0;
        if (!streq(method, "default")) {
                if (d->pin_set) {
                        r = record_kernel_methods(a->ctx, dev);
                        if (r >= 0)
                                r = state_setting_replace(a->ctx, dev, "reset_method", d->pin);
                } else {
                        r = sysfs_dev_read(a->ctx, dev, "reset_method", orig, sizeof(orig));
                        if (r >= 0)
                                r = state_setting_save(a->ctx, dev, "reset_method", orig);
                }
                if (r < 0)
                        return r; /* without a record, a kill would leave it narrowed for good */
                r = sysfs_dev_write(a->ctx, dev, "reset_method", method);
                if (r < 0) {
                        (void)restore_reset_method(a->ctx, dev);
                        return r;
                }
        }
        r = sysfs_dev_write(a->ctx, dev, "reset", "1");
        if (!streq(method, "default")) {
                /* A reset that worked stays a success: a restore that failed is left to the record,
                 * which the next run (and every plan meanwhile) takes instead of the narrowed value. */
                q = restore_reset_method(a->ctx, dev);
                if (q < 0)
                        journal_step(a, d,
                                     &(struct step){ .msgid = PGR_MSGID_SETTING_RESTORED, .priority = LOG_WARNING,
                                                     .action = "restore", .method = "reset_method", .result = "failed",
                                                     .error = q },
                                     "%s: reset_method could not be restored after the %s reset; the next run retries",
                                     d->dev.bdf, method);
        }
        return r;
}

/* Secondary bus reset through the bridge's Bridge Control register, as libvirt does: set, hold,
 * clear, let the link retrain. Every function below has been removed, so nothing uses it. */
static int do_bridge_sbr(struct apply_ctx *a, const struct plan_device *d)
{
        int r;

        r = pcidev_bridge_secondary_reset(a->acc, &d->dev.parent, true);
        if (r < 0)
                return r;
        sleep_usec((long long)(2) * 1000); /* PCI spec: assert reset at least 1 ms */
        r = pcidev_bridge_secondary_reset(a->acc, &d->dev.parent, false);
        if (r < 0) /* once more: a bus left in reset takes every function below with it */
                r = pcidev_bridge_secondary_reset(a->acc, &d->dev.parent, false);
        if (r < 0)
                return r;
        sleep_usec((long long)(d->policy.settle_ms) * 1000); /* devices need time before config space is valid (100 ms+) */
        return 0;
}

/* Every function a slot-wide rung would hit must be this VM's (or collateral of its IOMMU group) and
 * nobody else's now, under the locks: the same check the plan made (plan_may_cover), redone. */
static int check_covered(struct run_state *rs, const struct pci_addr *funcs, size_t n, char *why, size_t why_size)
{
        for (size_t i = 0; i < n; i++) {
                char whynot[320], b[PCI_ADDR_STRLEN];
                bool collateral;

                if (!plan_may_cover(rs->fc, rs->p, &funcs[i], &collateral, whynot, sizeof(whynot))) {
                        snprintf(why, why_size, "%s %s: not ours to reset", pci_addr_format(&funcs[i], b), whynot);
                        return -EPERM;
                }
                /* The VM's own function too: one whose bind failed (or that a host driver took back) is
                 * still the host's, and a slot-wide rung would reset it under that driver. */
                if (!host_free(rs->a->ctx, &funcs[i])) {
                        char drv[64] = "?";

                        current_driver(rs->a->ctx, &funcs[i], drv, sizeof(drv));
                        snprintf(why, why_size, "%s is on host driver %s: not reset under it", pci_addr_format(&funcs[i], b),
                                 drv[0] ? drv : "?");
                        return -EPERM;
                }
        }
        return 0;
}

/* Writes a hotplug slot's power attribute and reads it back: it reads the slot's power state
 * (pciehp get_power_status), so the read is the effect. */
static int write_slot_power(struct apply_ctx *a, const char *slot, const char *value)
{
        char abs[PATH_MAX], now[16];
        int r;

        snprintf(abs, sizeof(abs), "/sys/bus/pci/slots/%s/power", slot);
        r = sysfs_write(a->ctx, abs, value);
        if (r < 0)
                return r;
        r = sysfs_read(a->ctx, abs, now, sizeof(now));
        if (r < 0)
                return r;
        return streq(now, value) ? 0 : -EIO;
}

static bool slot_powered_off(struct apply_ctx *a, const char *slot)
{
        char abs[PATH_MAX], now[16];

        snprintf(abs, sizeof(abs), "/sys/bus/pci/slots/%s/power", slot);
        return sysfs_read(a->ctx, abs, now, sizeof(now)) >= 0 && streq(now, "0");
}

/* Adds what is not in list yet; false when it does not fit. */
static bool add_unique(struct pci_addr *list, size_t *n, size_t max, const struct pci_addr *more, size_t n_more)
{
        for (size_t i = 0; i < n_more; i++) {
                if (covered(list, *n, &more[i], false))
                        continue;
                if (*n >= max)
                        return false;
                list[(*n)++] = more[i];
        }
        return true;
}

/* Switches the card's hotplug slot off and on again (pciehp): off removes every function below the
 * slot's port (pciehp_unconfigure_device), on enumerates them again (pciehp_configure_device) and
 * binds their drivers as a rescan does, so it runs in the drivers_autoprobe=0 window under the bus
 * lock, and every function is then bound to vfio-pci again. Only when everything below the port is
 * this VM's (checked here, under the locks, over what is there now and what the plan saw there: an
 * earlier rung may have left some removed); never for a virtual function. Bounded: the kernel's own
 * write waits for the slot (and 1 s after power-off), then each function gets rescan_timeout_ms. */
static int power_cycle_slot(struct run_state *rs, struct plan_device *d, char *why, size_t why_size)
{
        struct apply_ctx *a = rs->a;
        struct autoprobe_window w = {};
        _cleanup_(lock_releasep) struct pgr_lock bus = PGR_LOCK_INIT;
        struct pci_addr funcs[PCIDEV_MAX_RELATED];
        char slot[32], parent[PCI_ADDR_STRLEN];
        size_t n = 0;
        int r, q;

        if (d->dev.physfn[0] || !d->dev.has_parent) {
                snprintf(why, why_size, "%s", d->dev.physfn[0] ? "a virtual function: its PF's slot is not its to switch"
                                                               : "on a root bus: no slot");
                return -EPERM;
        }
        if (pcidev_find_slot(a->ctx, &d->dev.addr, slot, sizeof(slot)) < 0) {
                snprintf(why, why_size, "no hotplug slot with a power control holds it");
                return -EOPNOTSUPP;
        }
        pci_addr_format(&d->dev.parent, parent);
        r = pcidev_below_bridge(a->ctx, &d->dev.parent, funcs, ELEMENTSOF(funcs), &n);
        if (r < 0 || !d->dev.below_parent_complete ||
            !add_unique(funcs, &n, ELEMENTSOF(funcs), d->dev.below_parent, d->dev.n_below_parent)) {
                snprintf(why, why_size, "cannot list every function below port %s (%s): not switching its slot", parent,
                         r == -ENOBUFS || r >= 0 ? "too many" : strerror(-r));
                return -EPERM;
        }
        r = check_covered(rs, funcs, n, why, why_size);
        if (r < 0)
                return r;
        if (a->dry_run)
                return 0;
        r = bus_window_open(a, "power-cycle", &bus, &w, why, why_size);
        if (r < 0)
                return r;
        /* Already off (switched off meanwhile, or by pciehp after a surprise link down): pciehp refuses
         * to power off an empty slot ("Already disabled", ENODEV); what is left to try is power-on. */
        r = slot_powered_off(a, slot) ? 0 : write_slot_power(a, slot, "0");
        if (r < 0)
                snprintf(why, why_size, "slot %s did not power off: %s", slot, strerror(-r));
        for (size_t i = 0; i < n && r >= 0; i++)
                if (!wait_for(cond_absent, a->ctx, &funcs[i], NULL, d->policy.reset_timeout_ms)) {
                        char b[PCI_ADDR_STRLEN];

                        snprintf(why, why_size, "%s still present with slot %s powered off", pci_addr_format(&funcs[i], b),
                                 slot);
                        r = -EBUSY;
                }
        if (r >= 0)
                sleep_usec((long long)(d->policy.settle_ms) * 1000);
        /* Whatever failed, a slot left off takes the card with it until someone switches it on. */
        if (slot_powered_off(a, slot)) {
                q = write_slot_power(a, slot, "1");
                if (q < 0 && r >= 0) {
                        snprintf(why, why_size, "slot %s did not power on: %s", slot, strerror(-q));
                        r = q;
                }
                if (q >= 0)
                        r = wait_back_and_restore(rs, d, funcs, n, "power-on", r, why, why_size);
        }
        return bus_window_close(a, &w, r, why, why_size);
}

/* After a remove+rescan of a function from a mapping: IOMMU groups renumber across remove + rescan
 * (Debian's 6.1 and 6.12 kernels), and pve-guest-common Mapping/PCI.pm assert_valid compares the
 * map's iommugroup with the group at start, so qemu-server would refuse the start ("'iommugroup'
 * does not match"). Nothing here can move it back: -EXDEV ends the ladder with the fix. */
static int group_kept(struct apply_ctx *a, const struct plan_device *d, int group_before, char *why, size_t why_size)
{
        int group_after;

        if (!d->mapping || group_before < 0 || a->dry_run)
                return 0;
        group_after = pcidev_iommu_group(a->ctx, &d->dev.addr);
        if (group_after < 0 || group_after == group_before)
                return 0;
        snprintf_ellipsis(why, why_size, "mapping '%s': the remove+rescan moved %s from IOMMU group %d to %d, so "
                          "Proxmox refuses the start ('iommugroup' does not match); fix: pvesh set "
                          "/cluster/mapping/pci/%s --map '...,iommugroup=%d,...' (GUI: Datacenter -> Resource "
                          "Mappings, edit the map's IOMMU group)",
                          d->mapping, d->dev.bdf, group_before, group_after, d->mapping, group_after);
        return -EXDEV;
}

/* A rung another function of the same slot already ran in this run (a slot reset or a remove+rescan
 * covers every function): verified, not repeated. */
#define RUNG_COVERED 1

/* One rung of the ladder. Returns 0 (or RUNG_COVERED) when the device was reset and verified usable. */
static int run_rung(struct run_state *rs, struct plan_device *d, const struct plan_action *rung, char *why,
                    size_t why_size)
{
        struct apply_ctx *a = rs->a;
        struct pci_addr funcs[PCIDEV_MAX_RELATED];
        size_t n = 0;
        int r, group_before;

        why[0] = '\0';
        switch (rung->kind) {
        case ACTION_RESET:
                r = do_kernel_reset(a, d, rung->method);
                if (r < 0) {
                        snprintf(why, why_size, "%s reset failed: %s", rung->method,
                                 r == -ENOTTY ? "the kernel says this method does not apply (ENOTTY)" : strerror(-r));
                        return r;
                }
                return verify_usable(a, d, &d->dev.addr, d->policy.reset_timeout_ms, why, why_size);

        case ACTION_BUS_RESET:
                if (covered(rs->done_bridges, rs->n_done_bridges, &d->dev.parent, false)) {
                        r = verify_usable(a, d, &d->dev.addr, d->policy.reset_timeout_ms, why, why_size);
                        return r < 0 ? r : RUNG_COVERED;
                }
                /* What is below the bridge now, not what the plan saw before the lock wait. */
                r = pcidev_below_bridge(a->ctx, &d->dev.parent, funcs, ELEMENTSOF(funcs), &n);
                if (r < 0) {
                        snprintf(why, why_size, "cannot list every function below the bridge (%s): not resetting it",
                                 r == -ENOBUFS ? "too many" : strerror(-r));
                        return -EPERM;
                }
                r = check_covered(rs, funcs, n, why, why_size);
                if (r < 0)
                        return r;
                if (streq(rung->method, "reset_subordinate")) {
                        char bdf[PCI_ADDR_STRLEN], abs[PATH_MAX];

                        /* The kernel saves and restores every function below: nothing to remove. */
                        snprintf(abs, sizeof(abs), "/sys/bus/pci/devices/%s/reset_subordinate",
                                 pci_addr_format(&d->dev.parent, bdf));
                        r = a->dry_run ? 0 : sysfs_write(a->ctx, abs, "1");
                        if (r < 0)
                                snprintf(why, why_size, "reset_subordinate on %s failed: %s", bdf, strerror(-r));
                } else {
                        const struct pci_addr *below = funcs;
                        size_t n_removed = 0;

                        group_before = pcidev_iommu_group(a->ctx, &d->dev.addr);
                        r = 0;
                        for (size_t i = 0; i < n && r >= 0; i++) {
                                r = write_checked(a, &below[i], "remove", "1");
                                if (r >= 0)
                                        n_removed = i + 1;
                        }
                        for (size_t i = 0; i < n && r >= 0 && !a->dry_run; i++)
                                if (!wait_for(cond_absent, a->ctx, &below[i], NULL, d->policy.reset_timeout_ms))
                                        r = -EBUSY;
                        if (r >= 0 && !a->dry_run)
                                r = do_bridge_sbr(a, d);
                        if (r >= 0)
                                r = remove_and_rescan(rs, d, below, n, false, why, why_size);
                        if (r >= 0 && rs->n_done_bridges < ELEMENTSOF(rs->done_bridges))
                                rs->done_bridges[rs->n_done_bridges++] = d->dev.parent;
                        if (r >= 0)
                                r = group_kept(a, d, group_before, why, why_size);
                        else {
                                char ignored[384];

                                snprintf(why, why_size, "secondary bus reset through the bridge failed: %s", strerror(-r));
                                /* What was removed comes back whatever failed; the first failure is reported. */
                                if (n_removed > 0)
                                        (void)remove_and_rescan(rs, d, below, n_removed, false, ignored, sizeof(ignored));
                        }
                }
                if (r < 0)
                        return r;
                if (!covered(rs->done_bridges, rs->n_done_bridges, &d->dev.parent, false) &&
                    rs->n_done_bridges < ELEMENTSOF(rs->done_bridges))
                        rs->done_bridges[rs->n_done_bridges++] = d->dev.parent;
                return verify_usable(a, d, &d->dev.addr, d->policy.reset_timeout_ms, why, why_size);

        case ACTION_REMOVE_RESCAN:
                if (covered(rs->done_slots, rs->n_done_slots, &d->dev.addr, true)) {
                        r = verify_usable(a, d, &d->dev.addr, d->policy.rescan_timeout_ms, why, why_size);
                        return r < 0 ? r : RUNG_COVERED;
                }
                r = pcidev_slot_functions(a->ctx, &d->dev.addr, funcs, ELEMENTSOF(funcs), &n);
                if (r < 0 || n == 0) {
                        snprintf(why, why_size, "cannot list the slot's functions");
                        return r < 0 ? r : -ENODEV;
                }
                /* Every function of the slot must be this VM's (or the command's) to remove. */
                r = check_covered(rs, funcs, n, why, why_size);
                if (r < 0)
                        return r;
                group_before = pcidev_iommu_group(a->ctx, &d->dev.addr);
                r = remove_and_rescan(rs, d, funcs, n, true, why, why_size);
                if (r < 0)
                        return r;
                if (rs->n_done_slots < ELEMENTSOF(rs->done_slots))
                        rs->done_slots[rs->n_done_slots++] = d->dev.addr;
                r = group_kept(a, d, group_before, why, why_size);
                if (r < 0)
                        return r;
                return verify_usable(a, d, &d->dev.addr, d->policy.rescan_timeout_ms, why, why_size);

        case ACTION_POWER_CYCLE:
                if (covered(rs->done_power, rs->n_done_power, &d->dev.addr, true)) {
                        r = verify_usable(a, d, &d->dev.addr, d->policy.rescan_timeout_ms, why, why_size);
                        return r < 0 ? r : RUNG_COVERED;
                }
                /* A sibling's power cycle of this slot failed in this run: the card did not survive it
                 * then, and switching it again costs seconds for nothing. */
                if (covered(rs->failed_power, rs->n_failed_power, &d->dev.addr, true)) {
                        snprintf(why, why_size, "the power cycle of its slot failed above");
                        return -ENODEV;
                }
                group_before = pcidev_iommu_group(a->ctx, &d->dev.addr);
                r = power_cycle_slot(rs, d, why, why_size);
                if (r < 0) {
                        if (r != -EPERM && rs->n_failed_power < ELEMENTSOF(rs->failed_power))
                                rs->failed_power[rs->n_failed_power++] = d->dev.addr;
                        return r;
                }
                /* The power cycle reset everything below the port: the other functions' slot-wide
                 * rungs are done too. */
                if (rs->n_done_power < ELEMENTSOF(rs->done_power))
                        rs->done_power[rs->n_done_power++] = d->dev.addr;
                if (!covered(rs->done_bridges, rs->n_done_bridges, &d->dev.parent, false) &&
                    rs->n_done_bridges < ELEMENTSOF(rs->done_bridges))
                        rs->done_bridges[rs->n_done_bridges++] = d->dev.parent;
                if (rs->n_done_slots < ELEMENTSOF(rs->done_slots))
                        rs->done_slots[rs->n_done_slots++] = d->dev.addr;
                r = group_kept(a, d, group_before, why, why_size);
                if (r < 0)
                        return r;
                return verify_usable(a, d, &d->dev.addr, d->policy.rescan_timeout_ms, why, why_size);

        default:
                return -EINVAL;
        }
}

/* The pin is the method that worked, not the one the plan hoped for: a kernel method, or none when
 * it took a slot-wide rung. */
static void pin_follow_rung(struct plan_device *d, const struct plan_action *rung)
{
        const char *now = rung->kind == ACTION_RESET ? rung->method : "";

        if (!d->pin_set || streq(now, d->pin) || streq(now, "default"))
                return;
        snprintf(d->pin_reason, sizeof(d->pin_reason), "%s: the rung that worked after %s failed",
                 plan_pin_name(now), plan_pin_name(d->pin));
        snprintf(d->pin_rung, sizeof(d->pin_rung), "%s",
                 rung->kind == ACTION_BUS_RESET ? "slot reset" : rung->kind == ACTION_REMOVE_RESCAN ? "remove+rescan"
                 : rung->kind == ACTION_POWER_CYCLE ? "power cycle" : "");
        snprintf(d->pin, sizeof(d->pin), "%s", now);
}

/* "16.0 GT/s" from MT/s; "? GT/s" when unknown. */
static const char *speed_str(unsigned mts, char buf[static 16])
{
        if (!mts)
                return "? GT/s";
        snprintf(buf, 16, "%u.%u GT/s", mts / 1000, mts % 1000 / 100);
        return buf;
}

/* After a reset that worked: is the card's link as wide and as fast as before (and as the record of
 * the last time it was whole says)? A narrower or slower link is a warning with its own MESSAGE_ID;
 * the port above is asked once to retrain it (only when everything below that port is this VM's),
 * and the outcome is said. The record is kept for doctor while the link is degraded. Function 0
 * only: its Link registers govern a multi-function device's link (PCIe r6.1 7.5.3.7). Returns 0, or
 * a negative errno when the card stopped answering after the retrain (why says it). */
static int check_link(struct run_state *rs, struct plan_device *d, const struct pcidev_link *before, char *why,
                      size_t why_size)
{
        struct apply_ctx *a = rs->a;
        const struct pci_addr *dev = &d->dev.addr;
        struct state_link rec = {}, base;
        struct pcidev_link now, after;
        char s1[16], s2[16], s3[16], s4[16], outcome[448], port[PCI_ADDR_STRLEN];
        bool have_rec, narrower, slower;
        int r = 0, q;

        if (a->dry_run || pcidev_read_link(a->ctx, dev, &now) < 0)
                return 0;
        have_rec = state_link_load(a->ctx, dev, &rec) >= 0;
        base.width = have_rec && rec.width > before->width ? rec.width : before->width;
        /* Speed only against the same moment before the reset: a GPU lowers its link speed by itself
         * while idle, so a record from another time says little about it. */
        base.speed_mts = before->speed_mts;
        narrower = now.width < base.width;
        slower = now.speed_mts && base.speed_mts && now.speed_mts < base.speed_mts;
        if (!narrower && !slower) {
                struct state_link whole = { now.width, now.speed_mts };

                (void)state_link_save(a->ctx, dev, &whole);
                return 0;
        }
        if (!have_rec)
                (void)state_link_save(a->ctx, dev, &base);
        after = now;
        pci_addr_format(&d->dev.parent, port);
        if (!d->dev.has_parent)
                snprintf(outcome, sizeof(outcome), "no retrain: on a root bus, no port above it");
        else {
                struct pci_addr below[PCIDEV_MAX_RELATED];
                char whynot[400] = "";
                size_t n = 0;

                q = pcidev_below_bridge(a->ctx, &d->dev.parent, below, ELEMENTSOF(below), &n);
                if (q >= 0)
                        q = check_covered(rs, below, n, whynot, sizeof(whynot));
                else
                        snprintf(whynot, sizeof(whynot), "cannot list every function below port %s", port);
                if (q >= 0)
                        q = pcidev_link_retrain(a->acc, &d->dev.parent, 1000);
                if (q < 0 && whynot[0])
                        snprintf(outcome, sizeof(outcome), "no retrain: %s", whynot);
                else if (q == -ENOTTY)
                        snprintf(outcome, sizeof(outcome), "no retrain: %s is not a root or downstream port", port);
                else if (q < 0)
                        snprintf(outcome, sizeof(outcome), "retrain through port %s failed: %s", port, strerror(-q));
                else {
                        /* Retraining takes the link through Recovery: the card must still answer. */
                        r = verify_usable(a, d, dev, d->policy.reset_timeout_ms, why, why_size);
                        if (pcidev_read_link(a->ctx, dev, &after) < 0)
                                after = now;
                        if (r < 0)
                                snprintf_ellipsis(outcome, sizeof(outcome), "retrained through port %s, and then the card %s",
                                                  port, why);
                        else if (after.width >= base.width && (!base.speed_mts || after.speed_mts >= base.speed_mts))
                                snprintf(outcome, sizeof(outcome), "retrained through port %s: x%u at %s again", port,
                                         after.width, speed_str(after.speed_mts, s3));
                        else
                                snprintf(outcome, sizeof(outcome), "retrained through port %s: still x%u at %s; a host "
                                         "power cycle brings the full link back", port, after.width,
                                         speed_str(after.speed_mts, s3));
                }
        }
        if (after.width >= base.width && (!base.speed_mts || after.speed_mts >= base.speed_mts) && r >= 0) {
                struct state_link whole = { after.width, after.speed_mts };

                (void)state_link_save(a->ctx, dev, &whole);
        }
        journal_step(a, d,
                     &(struct step){ .msgid = PGR_MSGID_LINK_DEGRADED, .priority = LOG_WARNING, .action = "link",
                                     .result = after.width >= base.width && r >= 0 ? "ok" : "failed", .error = r },
                     "%s: link x%u at %s after the reset, was x%u at %s%s (max x%u at %s); %s", d->dev.bdf, now.width,
                     speed_str(now.speed_mts, s1), base.width, speed_str(base.speed_mts, s2),
                     have_rec && rec.width > before->width ? " when last whole" : "", now.max_width,
                     speed_str(now.max_speed_mts, s4), outcome);
        return r;
}

/* The kernel's own words about a dead card, when its log has them: "fallen off the bus", an Xid,
 * "not ready ... giving up". Quoted with its time stamp, or "" when none. */
static void kernel_evidence(const struct pgr_ctx *ctx, const char *bdf, char *buf, size_t size)
{
        static const enum kmsg_kind kinds[] = { KMSG_FALLEN_OFF_BUS, KMSG_XID, KMSG_BUS_RESET_NOT_READY,
                                                KMSG_FLR_NOT_READY, KMSG_NOT_READY, KMSG_LINK_DOWN };
        _cleanup_(kmsg_log_freep) struct kmsg_log *log = NULL;

        buf[0] = '\0';
        if (kmsg_load(ctx, &log) < 0 || !log->available)
                return;
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                const struct kmsg_event *e = kmsg_log_find(log, kinds[i], bdf);

                if (e) {
                        snprintf_ellipsis(buf, size, "; the kernel said: %s%s\"%s\"", e->time, e->time[0] ? " " : "",
                                          e->text);
                        return;
                }
        }
}

/* After every rung failed: a card that is gone or reads all ones is dead for this host until its
 * power goes. One line says which card, what was tried, and that only a host power cycle helps. */
static bool say_dead(struct run_state *rs, const struct plan_device *d, const char *tried, const char *why,
                     struct apply_result *res)
{
        struct apply_ctx *a = rs->a;
        char line[sizeof(res->first_failure)], evidence[480], short_why[200];
        bool gone = !sysfs_dev_present(a->ctx, &d->dev.addr);

        if (a->dry_run || (!gone && !config_reads_all_ones(a->ctx, &d->dev.addr, d->dev.physfn[0] != '\0')))
                return false;
        kernel_evidence(a->ctx, d->dev.bdf, evidence, sizeof(evidence));
        /* the last failure kept short (marked when cut), so that the verdict and the evidence fit */
        snprintf_ellipsis(short_why, sizeof(short_why), "%s", why);
        snprintf_ellipsis(line, sizeof(line), "%s (%04x:%04x) is dead: %s (%s); tried %s; only a host power cycle "
                          "helps (power off, then on: a reboot may not be enough)%s", d->dev.bdf, d->dev.vendor,
                          d->dev.device, gone ? "gone from the bus" : "its config space reads all ones", short_why, tried,
                          evidence);
        journal_step(a, d,
                     &(struct step){ .msgid = PGR_MSGID_CARD_DEAD, .priority = LOG_ERR, .action = "dead",
                                     .result = "failed", .error = gone ? ENODEV : EIO },
                     "%s", line);
        if (!res->first_failure[0])
                snprintf_ellipsis(res->first_failure, sizeof(res->first_failure), "%s", line);
        return true;
}

static int reset_device(struct run_state *rs, struct plan_device *d, struct apply_result *res)
{
        struct apply_ctx *a = rs->a;
        char why[sizeof(res->first_failure)], drv_before[64], tried[PLAN_MAX_LADDER * 32] = "";
        struct pcidev_link link_before;
        bool have_link = d->dev.addr.func == 0 && pcidev_read_link(a->ctx, &d->dev.addr, &link_before) >= 0;
        size_t w = 0;
        int r = -ENODEV;

        current_driver(a->ctx, &d->dev.addr, drv_before, sizeof(drv_before));
        for (size_t i = 0; i < d->n_ladder; i++) {
                const struct plan_action *rung = &d->ladder[i];
                long long t0 = monotonic_usec();
                char drv_after[64];
                bool last;

                if (w < sizeof(tried)) {
                        snprintf_ellipsis(tried + w, sizeof(tried) - w, "%s%s%s%s", w ? ", " : "",
                                          action_to_string(rung->kind), rung->method[0] ? " " : "", rung->method);
                        w += strlen(tried + w);
                }
                r = run_rung(rs, d, rung, why, sizeof(why));
                last = i + 1 == d->n_ladder || r == -EXDEV; /* a renumbered group: no rung moves it back */
                current_driver(a->ctx, &d->dev.addr, drv_after, sizeof(drv_after));
                if (r >= 0) {
                        pin_follow_rung(d, rung);
                        journal_step(a, d,
                                     &(struct step){ .msgid = PGR_MSGID_RESET_DONE, .priority = LOG_NOTICE,
                                                     .action = action_to_string(rung->kind), .method = rung->method,
                                                     .result = "ok", .started_usec = t0, .driver_before = drv_before,
                                                     .driver_after = drv_after },
                                     "%s: %s%s%s %s, back on vfio-pci", d->dev.bdf, action_to_string(rung->kind),
                                     rung->method[0] ? " " : "", rung->method,
                                     r == RUNG_COVERED ? "(done once for the whole slot above)" : "done");
                        if (have_link && (r = check_link(rs, d, &link_before, why, sizeof(why))) < 0) {
                                if (!res->first_failure[0])
                                        snprintf_ellipsis(res->first_failure, sizeof(res->first_failure),
                                                          "%s (%04x:%04x): %s", d->dev.bdf, d->dev.vendor,
                                                          d->dev.device, why);
                                return r;
                        }
                        return 0;
                }
                journal_step(a, d,
                             &(struct step){ .msgid = r == -ENODEV ? PGR_MSGID_DEVICE_GONE : PGR_MSGID_RESET_FAILED,
                                             .priority = last ? LOG_ERR : LOG_WARNING,
                                             .action = action_to_string(rung->kind), .method = rung->method,
                                             .result = "failed", .started_usec = t0, .driver_before = drv_before,
                                             .driver_after = drv_after, .error = r },
                             "%s: %s%s%s failed: %s%s", d->dev.bdf, action_to_string(rung->kind),
                             rung->method[0] ? " " : "", rung->method, why, last ? "" : "; trying the next method");
                if (last)
                        break;
        }
        if (r != -EXDEV && say_dead(rs, d, tried, why, res))
                return r;
        if (!res->first_failure[0])
                snprintf_ellipsis(res->first_failure, sizeof(res->first_failure), "%s (%04x:%04x): %s", d->dev.bdf,
                                  d->dev.vendor, d->dev.device, why);
        return r;
}

/* The non-reset steps of one device, each journaled with its effect. */
static int prepare_device(struct run_state *rs, struct plan_device *d, struct apply_result *res)
{
        struct apply_ctx *a = rs->a;
        int failed = 0;

        for (size_t i = 0; i < d->n_actions; i++) {
                const struct plan_action *act = &d->actions[i];
                char before[64], after[64];
                long long t0 = monotonic_usec();
                int r;

                current_driver(a->ctx, &d->dev.addr, before, sizeof(before));
                switch (act->kind) {
                case ACTION_BIND_VFIO: {
                        char why[512] = "";
                        const char *what;
                        bool loaded = false;

                        /* release_after_stop hands it to its host driver at every stop: no mistake */
                        bool taken_back = before[0] && !streq(before, VFIO_DRIVER) && d->policy.release_after_stop;
                        char taken_back_text[160];

                        snprintf(taken_back_text, sizeof(taken_back_text),
                                 "taken back from %s (released to it after the last stop)", before);
                        r = bind_vfio(a, &d->dev.addr, d->policy.bind_timeout_ms, &loaded, why, sizeof(why));
                        current_driver(a->ctx, &d->dev.addr, after, sizeof(after));
                        what = r == -ENXIO ? "add vfio-pci to /etc/modules"
                               : r < 0 ? "could not move it to vfio-pci"
                               : taken_back ? taken_back_text
                               : before[0] ? "moved from host driver to vfio-pci; keep the host driver off this card (blacklist or softdep)"
                               : loaded ? "bound to vfio-pci (vfio-pci was not loaded: loaded it with modprobe, as Proxmox "
                                          "would; add vfio-pci to /etc/modules)"
                                        : "bound to vfio-pci";
                        journal_step(a, d,
                                     &(struct step){ .msgid = r < 0 ? PGR_MSGID_BIND_FAILED : before[0] && !taken_back ? PGR_MSGID_HOST_DRIVER : PGR_MSGID_BOUND_VFIO,
                                                     .priority = r < 0 ? LOG_ERR : before[0] && !taken_back ? LOG_WARNING : LOG_INFO,
                                                     .action = "bind-vfio", .result = r < 0 ? "failed" : "ok",
                                                     .started_usec = t0, .driver_before = before, .driver_after = after,
                                                     .error = r },
                                     "%s: %s%s%s", d->dev.bdf, what, why[0] ? ": " : "", why);
                        if (r < 0) {
                                failed = r;
                                if (!res->first_failure[0])
                                        snprintf_ellipsis(res->first_failure, sizeof(res->first_failure),
                                                          "%s: cannot bind to vfio-pci (%s)", d->dev.bdf,
                                                          why[0] ? why : strerror(-r));
                        }
                        /* The stuck unbind holds the device's lock in the kernel: power/control, a reset
                         * or a remove of it (or of its bus) would block on it for good. And a function
                         * that did not leave its host driver gets no power setting either. */
                        if (r < 0)
                                return r;
                        break;
                }
                case ACTION_KEEP_AWAKE:
                        r = keep_awake(a, &d->dev.addr);
                        journal_step(a, d,
                                     &(struct step){ .msgid = PGR_MSGID_POWER,
                                                     .priority = r < 0 ? LOG_WARNING : LOG_INFO, .action = "keep-awake",
                                                     .result = r < 0 ? "failed" : "ok", .started_usec = t0,
                                                     .error = r },
                                     "%s: d3cold_allowed=0, power/control=on%s", d->dev.bdf, r < 0 ? " failed" : "");
                        break;
                case ACTION_ASPM_OFF:
                        r = aspm_off(a, d, &d->dev.addr);
                        journal_step(a, d,
                                     &(struct step){ .msgid = PGR_MSGID_POWER,
                                                     .priority = r < 0 ? LOG_WARNING : LOG_INFO, .action = "aspm-off",
                                                     .result = r < 0 ? "failed" : "ok", .started_usec = t0,
                                                     .error = r },
                                     "%s: ASPM off on its link%s", d->dev.bdf, r < 0 ? " failed" : "");
                        break;
                default:
                        break;
                }
        }
        return failed;
}

void apply_slot_locks_release(struct apply_slot_locks *l)
{
        for (size_t i = 0; l && i < l->n; i++)
                lock_release(&l->locks[i]);
        if (l)
                l->n = 0;
}

/* Every slot of the plan locked in held (which may hold some already: a->locks after a rescan). Always
 * in address order, so two runs never wait on each other in a cycle: when the plan names a slot held
 * does not have (a mapping that resolved elsewhere after the rescan), every lock is dropped and the
 * whole set taken again in order. */
static int lock_all_slots(struct apply_ctx *a, const struct plan *p, struct apply_slot_locks *held,
                          struct pgr_error *err)
{
        struct pci_addr slots[PLAN_MAX_DEVICES];
        size_t n = 0;
        bool all_held = true;
        int r;

        for (size_t i = 0; i < p->n_devices; i++) {
                struct pci_addr s = p->devices[i].dev.addr;

                s.func = -1;
                if (!covered(slots, n, &s, true))
                        slots[n++] = s;
                all_held &= covered(held->slots, held->n, &s, true);
        }
        if (all_held)
                return 0;
        for (size_t i = 0; i < held->n; i++)
                if (!covered(slots, n, &held->slots[i], true) && n < ELEMENTSOF(slots))
                        slots[n++] = held->slots[i];
        apply_slot_locks_release(held);
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && pci_addr_cmp(&slots[j - 1], &slots[j]) > 0; j--) {
                        struct pci_addr t = slots[j];

                        slots[j] = slots[j - 1];
                        slots[j - 1] = t;
                }
        for (size_t i = 0; i < n; i++) {
                held->locks[i] = (struct pgr_lock)PGR_LOCK_INIT;
                r = lock_slot(a->ctx, &slots[i], a->vmid, phase_to_string(a->phase), a->lock_timeout_ms, &held->locks[i], err);
                if (r < 0)
                        return r;
                held->slots[i] = slots[i];
                held->n = i + 1;
        }
        return 0;
}

/* What another VM holds, read again: Proxmox's reservations and, group by group as asked, the
 * /dev/vfio holders. Done under the locks just before each check that a step touching a device
 * depends on (became_foreign, held_elsewhere), as the steps before may have taken seconds; not for a
 * device no step touches. */
static void refresh_foreign(struct foreign_check *fc, struct reservations *reserved)
{
        int r;

        reservations_done(reserved);
        r = reservations_load(fc->ctx, reserved);
        fc->res_error = r < 0 ? r : 0;
        fc->n_groups = 0;
        fc->now = (long long)time(NULL);
}

/* The function's IOMMU group now: a remove+rescan earlier in this run (its own rung, a sibling's, the
 * rescan of a missing function) may have renumbered it (both Debian kernels do), so the plan's number
 * may name another group by now. -1: none (no IOMMU, or gone): only the reservations then count. */
static int group_now(struct apply_ctx *a, const struct plan_device *d)
{
        int group = pcidev_iommu_group(a->ctx, &d->dev.addr);

        return group < 0 ? -1 : group;
}

/* Under the slot locks, just before the device is touched: did it become another VM's while this run
 * waited (a reservation, its IOMMU group opened)? Then it is skipped for safety and the phase fails,
 * saying so. The plan's own skips were journaled already; this is for what changed since. */
static bool became_foreign(struct run_state *rs, struct plan_device *d, struct apply_result *res)
{
        struct apply_ctx *a = rs->a;
        struct foreign_holder h;
        char whose[160];

        if (d->n_actions == 0 || d->actions[0].kind == ACTION_SKIP)
                return false;
        refresh_foreign(rs->fc, rs->reserved);
        if (!foreign_check_device(rs->fc, &d->dev.addr, group_now(a, d), &h))
                return false;
        foreign_holder_describe(&h, whose, sizeof(whose));
        res->n_skipped++;
        res->n_failed++;
        journal_step(a, d,
                     &(struct step){ .msgid = PGR_MSGID_SKIPPED_SAFETY, .priority = LOG_ERR, .action = "skip",
                                     .result = "skipped", .error = EBUSY },
                     "%s: skipped: %s (found under the lock, after the plan)", d->dev.bdf, whose);
        if (!res->first_failure[0])
                snprintf_ellipsis(res->first_failure, sizeof(res->first_failure), "%s: %s; not touched", d->dev.bdf,
                                  whose);
        return true;
}

/* Reserved by another VM or its IOMMU group open elsewhere, read just now (refresh_foreign): then the
 * step (unpin, release) is skipped with a notice; the function is not ours to change any more. */
static bool held_elsewhere(struct run_state *rs, const struct plan_device *d, const char *step)
{
        struct foreign_holder h;
        char whose[160];

        refresh_foreign(rs->fc, rs->reserved);
        if (!foreign_check_device(rs->fc, &d->dev.addr, group_now(rs->a, d), &h))
                return false;
        foreign_holder_describe(&h, whose, sizeof(whose));
        journal_step(rs->a, d,
                     &(struct step){ .msgid = PGR_MSGID_SKIPPED_SAFETY, .priority = LOG_NOTICE, .action = step,
                                     .result = "skipped", .error = EBUSY },
                     "%s: no %s: %s", d->dev.bdf, step, whose);
        return true;
}

int apply_plan(struct apply_ctx *a, struct plan *p, struct apply_result *res, struct pgr_error *err)
{
        struct reservations reserved = {};
        struct foreign_check fc = { .ctx = a->ctx, .res = &reserved, .vmid = a->vmid };
        struct run_state rs = { .a = a, .p = p, .fc = &fc, .reserved = &reserved };
        struct apply_slot_locks own, *locks = a->locks ? a->locks : &own;
        int prepare_result[PLAN_MAX_DEVICES] = { 0 };
        bool prepared[PLAN_MAX_DEVICES] = { false }, stuck = false;
        int r, ret = 0;

        apply_slot_locks_init(&own);
        memset(res, 0, sizeof(*res));
        r = lock_all_slots(a, p, locks, err);
        if (r < 0) {
                journal_step(a, NULL,
                             &(struct step){ .msgid = PGR_MSGID_LOCK_TIMEOUT, .priority = LOG_ERR, .action = "lock",
                                             .result = "failed", .error = r },
                             "%s", err->msg);
                ret = r;
                goto out;
        }
        /* Every function of the VM leaves its host driver (bind-vfio, keep-awake, ASPM) before any of them
         * is reset: a slot reset resets every function below the bridge, and the kernel tells a driver
         * only through its reset_prepare/reset_done (pci_dev_save_and_disable), which snd_hda_intel and
         * the GPU drivers lack, so the HDMI audio beside a GPU would be reset under its driver. */
        for (size_t i = 0; i < p->n_devices && !stuck; i++) {
                struct plan_device *d = &p->devices[i];

                if (!d->dev.present)
                        continue;
                /* Read now, under the locks (became_foreign reads them again): the plan's copy may be
                 * a lock wait old. */
                if (became_foreign(&rs, d, res)) {
                        d->applied = true;
                        d->apply_result = -EBUSY;
                        ret = -EIO;
                        continue;
                }
                prepared[i] = true;
                prepare_result[i] = prepare_device(&rs, d, res);
                /* A host driver stuck in its unbind: any further write near it (its siblings' resets
                 * lock every device on the bus) could hang this run, and with it the VM start. The
                 * phase fails; nothing more is touched, the functions bound before it are not reset. */
                stuck = prepare_result[i] == -ETIMEDOUT;
        }
        for (size_t i = 0; i < p->n_devices; i++) {
                struct plan_device *d = &p->devices[i];
                bool resets = false, skipped = false;

                if (!prepared[i])
                        continue;
                if (stuck && prepare_result[i] != -ETIMEDOUT) {
                        res->n_failed++; /* bound, not reset: not applied, so no clean mark either */
                        continue;
                }
                /* Again just before the reset: binding the others took time. */
                if (prepare_result[i] >= 0 && became_foreign(&rs, d, res)) {
                        d->applied = true;
                        d->apply_result = -EBUSY;
                        ret = -EIO;
                        continue;
                }
                for (size_t j = 0; j < d->n_actions; j++) {
                        if (d->actions[j].kind == ACTION_SKIP) {
                                /* Counted once however many skips it has, and then not as ok. */
                                res->n_skipped += !skipped;
                                skipped = true;
                                journal_step(a, d,
                                             &(struct step){ .msgid = d->actions[j].for_safety ? PGR_MSGID_SKIPPED_SAFETY : PGR_MSGID_SKIPPED_CONFIG,
                                                             .priority = LOG_NOTICE, .action = "skip",
                                                             .result = "skipped" },
                                             "%s: skipped: %s", d->dev.bdf, d->actions[j].reason);
                        }
                        resets |= plan_action_is_reset(d->actions[j].kind);
                }
                r = prepare_result[i];
                if (r >= 0 && resets)
                        r = reset_device(&rs, d, res);
                /* Not after a stuck unbind: the device's lock is held in the kernel (see below). */
                if (d->pin_set && d->dev.present && r != -ETIMEDOUT && host_free(a->ctx, &d->dev.addr)) {
                        /* Also when the reset failed: no later reset by anyone else should try what the
                         * ladder did not choose. A pin that does not take is a warning, not a failed
                         * device: the card itself is fine, and Proxmox would start the VM. */
                        long long t0 = monotonic_usec();
                        int q = pin_reset_method(a, d, &d->dev.addr);

                        journal_step(a, d,
                                     &(struct step){ .msgid = PGR_MSGID_RESET_PINNED,
                                                     .priority = q < 0 ? LOG_WARNING : LOG_INFO, .action = "pin",
                                                     .method = plan_pin_name(d->pin), .result = q < 0 ? "failed" : "ok",
                                                     .started_usec = t0, .error = q },
                                     "%s: reset_method %s %s%s%s", d->dev.bdf,
                                     q < 0 ? "could not be pinned to" : "pinned to",
                                     d->pin[0] ? d->pin : "none (per-function resets disabled)", q < 0 ? ": " : "",
                                     q < 0 ? strerror(-q) : "");
                        if (q < 0)
                                journal_step(a, d,
                                             &(struct step){ .msgid = PGR_MSGID_RESET_PINNED, .priority = LOG_WARNING,
                                                             .action = "pin", .method = plan_pin_name(d->pin),
                                                             .result = "failed", .error = q },
                                             "%s: Proxmox's write to reset, vfio-pci and QEMU may now reset it with the kernel's "
                                             "order (FLR first); set it by hand: echo %s > /sys/bus/pci/devices/%s/reset_method",
                                             d->dev.bdf, d->pin, d->dev.bdf);
                }
                /* Unpin and release touch a function after its reset: someone else may hold it by now
                 * (a function the config gives with keep/mdev was never checked for that at all);
                 * held_elsewhere reads it again. */
                if (d->unpin && d->dev.present && r != -ETIMEDOUT && !held_elsewhere(&rs, d, "unpin")) {
                        /* Not a failed device either way: the function is fine, only the policy we
                         * left on it may outlive its VM (the warning says how to clear it). */
                        long long t0 = monotonic_usec();
                        int q = unpin_reset_method(a, d);

                        journal_step(a, d,
                                     &(struct step){ .msgid = PGR_MSGID_RESET_UNPINNED,
                                                     .priority = q < 0 ? LOG_WARNING : LOG_INFO, .action = "unpin",
                                                     .method = d->unpin_list, .result = q < 0 ? "failed" : "ok",
                                                     .started_usec = t0, .error = q },
                                     "%s: reset_method back to the kernel's list (%s)%s%s: %s", d->dev.bdf,
                                     d->unpin_list[0] ? d->unpin_list : "default", q < 0 ? " failed: " : "",
                                     q < 0 ? strerror(-q) : "", d->unpin_reason);
                }
                d->applied = true;
                d->apply_result = r < 0 ? r : 0;
                if (r < 0) {
                        res->n_failed++;
                        ret = -EIO;
                } else if (!skipped && (resets || d->n_actions > 0))
                        res->n_ok++;
        }
        /* Release only after every reset: a function handed to its host driver must not be under a
         * sibling's slot reset later in this run. Only a card that came out of its reset usable. */
        for (size_t i = 0; i < p->n_devices && !stuck; i++) {
                struct plan_device *d = &p->devices[i];
                char drv[64], why[160];
                long long t0;
                int q;

                if (!d->release || !d->applied || d->apply_result < 0 || !d->dev.present ||
                    !plan_device_was_reset(d))
                        continue;
                if (held_elsewhere(&rs, d, "release"))
                        continue;
                t0 = monotonic_usec();
                q = release_to_host(a, d, drv, sizeof(drv), why, sizeof(why));
                if (q == -ETIMEDOUT) {
                        /* A stuck unbind or probe holds the device lock in the kernel: touch nothing more,
                         * not even a sibling's release. The phase fails: the card has no usable driver. */
                        journal_step(a, d,
                                     &(struct step){ .msgid = PGR_MSGID_RELEASED, .priority = LOG_ERR,
                                                     .action = "release", .result = "failed", .started_usec = t0,
                                                     .driver_before = VFIO_DRIVER, .error = q },
                                     "%s: %s (policy release_after_stop); nothing more is written near it, see the "
                                     "kernel log for the driver", d->dev.bdf, why);
                        res->n_failed++;
                        if (!res->first_failure[0])
                                snprintf(res->first_failure, sizeof(res->first_failure), "%s: %s", d->dev.bdf, why);
                        ret = -EIO;
                        break;
                }
                journal_step(a, d,
                             &(struct step){ .msgid = PGR_MSGID_RELEASED, .priority = q < 0 ? LOG_WARNING : LOG_INFO,
                                             .action = "release", .result = q < 0 ? "failed" : "ok", .started_usec = t0,
                                             .driver_before = VFIO_DRIVER, .driver_after = drv, .error = q },
                             "%s: %s%s%s (policy release_after_stop)", d->dev.bdf,
                             q < 0 ? "could not be released to its host driver: " : drv[0] ? "released to " : "released: no host driver took it",
                             q < 0 ? strerror(-q) : drv, q < 0 ? "; it stays on vfio-pci" : "");
        }
out:
        apply_slot_locks_release(&own);
        reservations_done(&reserved);
        return ret;
}

int apply_recover_autoprobe(struct apply_ctx *a, struct pgr_error *err)
{
        _cleanup_(lock_releasep) struct pgr_lock bus = PGR_LOCK_INIT, window = PGR_LOCK_INIT;
        struct pgr_error lerr;
        char buf[8], who[48];
        long pid;
        int r;

        /* 0: no guard. A guard that cannot be read or parsed (< 0) is stale too (state.h). */
        if (state_autoprobe_guard_pid(a->ctx) == 0)
                return 0;
        r = lock_bus(a->ctx, a->vmid, "recover-autoprobe", a->lock_timeout_ms, &bus, err);
        if (r < 0)
                return r;
        /* Re-read under the lock: the run that wrote it may have just finished. */
        pid = state_autoprobe_guard_pid(a->ctx);
        if (pid == 0)
                return 0;
        /* Whether the guard's pid exists proves nothing (it may belong to another process by now);
         * whether the writer still holds the window's lock does. */
        r = lock_autoprobe(a->ctx, a->vmid, "recover-autoprobe", 0, &window, &lerr);
        if (r == -ETIMEDOUT)
                return 0;
        if (r < 0) {
                pgr_error_set(err, "%s", lerr.msg);
                return r;
        }
        r = sysfs_write(a->ctx, "/sys/bus/pci/drivers_autoprobe", "1");
        if (r >= 0 && sysfs_read(a->ctx, "/sys/bus/pci/drivers_autoprobe", buf, sizeof(buf)) >= 0 && !streq(buf, "1"))
                r = -EIO;
        if (r >= 0)
                autoprobe_guard_clear(a);
        lock_release(&window);
        lock_release(&bus);
        if (pid > 0)
                snprintf(who, sizeof(who), "run %ld", pid);
        else
                snprintf(who, sizeof(who), "a run (unreadable guard)");
        journal_step(a, NULL,
                     &(struct step){ .msgid = PGR_MSGID_AUTOPROBE_RESTORED, .priority = r < 0 ? LOG_ERR : LOG_WARNING,
                                     .action = "recover", .result = r < 0 ? "failed" : "ok", .error = r },
                     "drivers_autoprobe was left at 0 by %s, which did not finish; %s", who,
                     r < 0 ? "restoring it failed: run 'echo 1 > /sys/bus/pci/drivers_autoprobe'" : "restored to 1");
        if (r < 0) {
                pgr_error_set(err, "cannot restore /sys/bus/pci/drivers_autoprobe: %s", strerror(-r));
                return r;
        }
        return 1;
}

int apply_recover_settings(struct apply_ctx *a, struct pgr_error *err)
{
        struct pci_addr funcs[PLAN_MAX_DEVICES];
        size_t n = 0;
        int r, ret = 0, restored = 0;

        if (a->dry_run)
                return 0;
        r = state_setting_list(a->ctx, "reset_method", funcs, ELEMENTSOF(funcs), &n);
        if (r < 0 && r != -ENOBUFS) {
                pgr_error_set(err, "cannot list the records of interrupted runs: %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(lock_releasep) struct pgr_lock slot = PGR_LOCK_INIT;
                struct pgr_error lerr = {};
                char bdf[PCI_ADDR_STRLEN], want[STATE_VALUE_MAX] = "";
                struct pci_addr s = funcs[i];

                /* One try: a held slot lock means a live run, which restores its own record. */
                s.func = -1;
                if (lock_slot(a->ctx, &s, a->vmid, "recover-settings", 0, &slot, &lerr) < 0)
                        continue;
                pci_addr_format(&funcs[i], bdf);
                if (state_setting_load(a->ctx, &funcs[i], "reset_method", want, sizeof(want)) == -ENOENT)
                        continue; /* that run finished meanwhile */
                if (!sysfs_dev_present(a->ctx, &funcs[i])) {
                        /* Gone: the kernel gives it a fresh list when it comes back. */
                        (void)state_setting_clear(a->ctx, &funcs[i], "reset_method");
                        continue;
                }
                /* The record holds what the killed run would have left on a VM's function (maybe the pin
                 * none); a function a host driver holds now gets the kernel's own list instead. */
                if (!host_free(a->ctx, &funcs[i])) {
                        r = write_reset_method_default(a->ctx, &funcs[i]);
                        if (r >= 0)
                                r = state_setting_clear(a->ctx, &funcs[i], "reset_method");
                        snprintf(want, sizeof(want), "default");
                } else
                        r = restore_reset_method(a->ctx, &funcs[i]);
                journal_step(a, NULL,
                             &(struct step){ .msgid = PGR_MSGID_SETTING_RESTORED,
                                             .priority = r < 0 ? LOG_ERR : LOG_WARNING, .action = "recover",
                                             .result = r < 0 ? "failed" : "ok", .error = r },
                             "%s: reset_method was left narrowed by a run that did not finish; %s '%s'%s", bdf,
                             r < 0 ? "restoring it to" : "restored to",
                             want[0] ? want : "none (per-function resets disabled)",
                             r < 0 ? " failed: run 'echo default > reset_method' in its sysfs directory" : "");
                if (r < 0) {
                        pgr_error_set(err, "%s: cannot restore reset_method: %s", bdf, strerror(-r));
                        ret = r;
                } else
                        restored++;
        }
        return ret < 0 ? ret : restored > 0;
}

/* pre-start: a function still missing after the rescan whose hotplug slot is powered off (someone
 * switched it off, or pciehp did after a surprise link down). The slot is switched on when the VM's
 * config gives the whole slot (then whatever appears in it is the VM's: nothing of anyone else's is
 * brought back) and the policy allows the power-cycle rung. Under the bus lock and in the
 * drivers_autoprobe=0 window, like a rescan; the function is then bound to vfio-pci (the re-plan binds
 * its siblings). false: not tried (*r, why untouched); true: *r and why say how it went. */
static bool power_on_missing(struct run_state *rs, struct plan_device *d, char *why, size_t why_size, int *r)
{
        struct apply_ctx *a = rs->a;
        struct autoprobe_window w = {};
        _cleanup_(lock_releasep) struct pgr_lock bus = PGR_LOCK_INIT;
        struct pgr_error lerr = {};
        char slot[32], failed[256] = "";
        int q;

        if (!d->whole_slot || !policy_method_allowed(&d->policy, "power-cycle") || a->dry_run ||
            pcidev_find_slot(a->ctx, &d->dev.addr, slot, sizeof(slot)) < 0 || !slot_powered_off(a, slot))
                return false;
        q = lock_bus(a->ctx, a->vmid, "power-on", a->lock_timeout_ms, &bus, &lerr);
        if (q >= 0) {
                q = autoprobe_off(a, &w);
                if (q < 0)
                        snprintf(failed, sizeof(failed), "cannot set drivers_autoprobe=0: %s", strerror(-q));
        } else
                snprintf_ellipsis(failed, sizeof(failed), "%s", lerr.msg);
        if (q >= 0) {
                q = write_slot_power(a, slot, "1");
                if (q < 0)
                        snprintf(failed, sizeof(failed), "it did not power on: %s", strerror(-q));
                else
                        q = wait_back_and_restore(rs, d, &d->dev.addr, 1, "power-on", 0, failed, sizeof(failed));
                int on = autoprobe_on(a, &w);

                if (on < 0 && q >= 0) {
                        snprintf(failed, sizeof(failed), "cannot restore drivers_autoprobe=1: %s", strerror(-on));
                        q = on;
                }
        }
        if (q >= 0)
                snprintf(why, why_size, "a rescan did not find it; slot %s was powered off; switched on, the card is back "
                         "and bound to vfio-pci", slot);
        else
                snprintf_ellipsis(why, why_size, "a rescan did not find it; slot %s was powered off: a power cycle was "
                                  "tried and failed: %s; only a host power cycle helps", slot, failed);
        *r = q < 0 ? q : 0;
        return true;
}

int apply_rescan_missing(struct apply_ctx *a, struct plan *p, struct pgr_error *err)
{
        _cleanup_(apply_slot_locks_releasep) struct apply_slot_locks own;
        struct run_state rs = { .a = a, .p = p };
        int r, ret = 0;

        apply_slot_locks_init(&own);
        /* The rescan's add events reach udev while this run binds what came back: its `claim --udev`
         * must find the slot held (claim_udev leaves the function to us), and stays held into
         * apply_plan (a->locks) so nothing comes between the bind here and the pin there. */
        r = lock_all_slots(a, p, a->locks ? a->locks : &own, err);
        if (r < 0) {
                journal_step(a, NULL,
                             &(struct step){ .msgid = PGR_MSGID_LOCK_TIMEOUT, .priority = LOG_ERR, .action = "lock",
                                             .result = "failed", .error = r },
                             "%s", err->msg);
                return r;
        }
        for (size_t i = 0; i < p->n_devices; i++) {
                struct plan_device *d = &p->devices[i];
                char why[384] = "";
                const char *action = "rescan";
                long long t0 = monotonic_usec();

                if (d->dev.present || (d->n_actions && d->actions[0].kind == ACTION_SKIP))
                        continue;
                if (is_root_bus(a->ctx, &d->dev.addr)) {
                        /* A rescan of a root bus walks the whole PCI domain: it would bring back every
                         * device anyone removed anywhere, for one function we did not remove. */
                        r = -EPERM;
                        snprintf(why, sizeof(why), "its bus %04x:%02x is a root bus, and a rescan there rescans "
                                 "the whole PCI domain; not done for a function this run did not remove",
                                 d->dev.addr.domain, d->dev.addr.bus);
                } else
                        r = remove_and_rescan(&rs, d, &d->dev.addr, 1, false, why, sizeof(why));
                if (r < 0 && power_on_missing(&rs, d, why, sizeof(why), &r))
                        action = "power-cycle";
                journal_step(a, d,
                             &(struct step){ .msgid = r < 0 ? PGR_MSGID_DEVICE_GONE : PGR_MSGID_BOUND_VFIO,
                                             .priority = r < 0 ? LOG_ERR : LOG_NOTICE, .action = action,
                                             .result = r < 0 ? "failed" : "ok", .started_usec = t0, .error = r },
                             "%s: was missing; %s", d->dev.bdf,
                             r < 0 ? why : streq(action, "rescan") ? "found again by a rescan of its bus and bound to vfio-pci" : why);
                if (r < 0)
                        ret = r;
        }
        return ret;
}

int apply_claim(struct apply_ctx *a, const struct pci_addr *dev, const char *pin, bool may_unbind,
                unsigned bind_timeout_ms, struct apply_claim_result *ret)
{
        char bdf[PCI_ADDR_STRLEN], path[PATH_MAX];
        bool host_driver;
        int r;

        *ret = (struct apply_claim_result){};
        pci_addr_format(dev, bdf);
        current_driver(a->ctx, dev, ret->driver_before, sizeof(ret->driver_before));
        host_driver = ret->driver_before[0] && !streq(ret->driver_before, VFIO_DRIVER);
        /* First what keeps a host driver module loaded from now on off the function (pci_match_device
         * honours driver_override before any id table), then the pin, then the handover. */
        r = write_override(a, dev, VFIO_DRIVER, NULL, bind_timeout_ms);
        if (r < 0) {
                snprintf(ret->why, sizeof(ret->why), "driver_override=%s did not take: %s", VFIO_DRIVER,
                         r == -ETIMEDOUT ? "the device's lock is held (a driver stuck in the kernel?)" : strerror(-r));
                snprintf(ret->driver_after, sizeof(ret->driver_after), "%s", ret->driver_before);
                return r;
        }
        ret->override_set = true;
        if (pin && !a->dry_run && (pin[0] || sysfs_dev_has(a->ctx, dev, "reset_method"))) {
                r = record_kernel_methods(a->ctx, dev);
                if (r >= 0)
                        r = write_reset_method(a->ctx, dev, pin);
                ret->pinned = r >= 0;
                ret->pin_error = r < 0 ? r : 0;
        }
        if (host_driver && !may_unbind) {
                ret->host_driver_kept = true;
                snprintf(ret->driver_after, sizeof(ret->driver_after), "%s", ret->driver_before);
                return 0;
        }
        if (pgr_path(a->ctx, path, sizeof(path), "/sys/bus/pci/drivers/" VFIO_DRIVER) < 0 || access(path, F_OK) < 0) {
                ret->vfio_missing = true;
                if (host_driver) {
                        r = unbind_bounded(a, dev, bdf, bind_timeout_ms);
                        if (r >= 0 && !wait_for(cond_unbound, a->ctx, dev, NULL, bind_timeout_ms))
                                r = -EBUSY;
                        if (r < 0)
                                snprintf(ret->why, sizeof(ret->why), "unbinding from %s failed: %s", ret->driver_before,
                                         strerror(-r));
                }
                current_driver(a->ctx, dev, ret->driver_after, sizeof(ret->driver_after));
                return r < 0 ? r : 0;
        }
        r = bind_vfio(a, dev, bind_timeout_ms, NULL, ret->why, sizeof(ret->why));
        if (r < 0 && !ret->why[0])
                snprintf(ret->why, sizeof(ret->why), "binding to %s failed: %s", VFIO_DRIVER, strerror(-r));
        current_driver(a->ctx, dev, ret->driver_after, sizeof(ret->driver_after));
        return r;
}
