/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 1
#define BACKOFF_MAX_MS 50

int lock_flock_timeout(int fd, int op, unsigned timeout_ms)
{
        long long deadline = monotonic_usec() + (long long)timeout_ms * 1000;
        unsigned backoff = BACKOFF_MIN_MS;

        if (fd < 0 || (op != LOCK_SH && op != LOCK_EX))
                return -EINVAL;
        for (;;) {
                long long left;

                if (flock(fd, op | LOCK_NB) == 0)
                        return 0;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return -errno;
                left = (deadline - monotonic_usec()) / 1000;
                if (left <= 0)
                        return -ETIMEDOUT;
                sleep_usec((left < backoff ? left : backoff) * 1000);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
}

/* The holder line keeps to one line of space-free words, so a waiter can parse it back. */
static void sanitize_word(const char *in, char *out, size_t size)
{
        size_t i = 0;

        if (!in || !*in)
                in = "-";
        for (; in[i] && i + 1 < size; i++)
                out[i] = (in[i] > ' ' && in[i] < 0x7f) ? in[i] : '_';
        out[i] = '\0';
}

/* The holder line "pid=N vmid=M what=W since=T" of an open lock file. -ENODATA: empty or not parsable
 * (free, or taken a moment ago and not written yet). */
static int read_holder(int fd, int *ret_pid, unsigned long *ret_vmid, char *ret_what, size_t what_size,
                       long long *ret_since)
{
        char line[256], what[64];
        ssize_t n;

        do
                n = pread(fd, line, sizeof(line) - 1, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        line[n] = '\0';
        if (sscanf(line, "pid=%d vmid=%lu what=%63s since=%lld", ret_pid, ret_vmid, what, ret_since) != 4)
                return -ENODATA;
        snprintf(ret_what, what_size, "%s", what);
        return 0;
}

/* "lock PATH held by pid N (vmid=M what=W) for S s; waited T ms", from the holder line in the file. */
static void describe_holder(int fd, const char *dir, const char *name, unsigned timeout_ms, struct pgr_error *err)
{
        char what[64];
        int pid;
        unsigned long vmid;
        long long since;

        if (read_holder(fd, &pid, &vmid, what, sizeof(what), &since) == 0) {
                long long held = (long long)time(NULL) - since;

                pgr_error_set(err, "lock %s/%s held by pid %d (vmid=%lu what=%s) for %lld s; waited %u ms", dir, name,
                              pid, vmid, what, held < 0 ? 0 : held, timeout_ms);
        } else
                pgr_error_set(err, "lock %s/%s held by another process (holder unknown); waited %u ms", dir, name,
                              timeout_ms);
}

static int lock_take(const struct pgr_ctx *ctx, const char *name, unsigned long vmid, const char *what,
                     unsigned timeout_ms, struct pgr_lock *ret, struct pgr_error *err)
{
        char dir[PATH_MAX], word[64], line[160];
        _cleanup_close_ int dfd = -1, fd = -1;
        int r, len;

        /* The lock's path is only ever a message's: built then, not on every run ("%s/%s" below). */
        dfd = pgr_runtime_dir_open(ctx, dir, sizeof(dir), err);
        if (dfd < 0)
                return dfd;
        fd = openat(dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        if (fd < 0) {
                r = -errno;
                pgr_error_set(err, "cannot open lock %s/%s: %s", dir, name, strerror(-r));
                return r;
        }
        r = lock_flock_timeout(fd, LOCK_EX, timeout_ms);
        if (r == -ETIMEDOUT) {
                describe_holder(fd, dir, name, timeout_ms, err);
                return r;
        }
        if (r < 0) {
                pgr_error_set(err, "cannot lock %s/%s: %s", dir, name, strerror(-r));
                return r;
        }

        /* The holder line is for the message of whoever waits next; failing to write it does not
         * weaken the lock, so it is not an error. */
        sanitize_word(what, word, sizeof(word));
        len = snprintf(line, sizeof(line), "pid=%d vmid=%lu what=%s since=%lld\n", (int)getpid(), vmid, word,
                       (long long)time(NULL));
        if (ftruncate(fd, 0) == 0 && len > 0)
                (void)!pwrite(fd, line, (size_t)len, 0);

        ret->fd = fd;
        fd = -1;
        return 0;
}

static void slot_lock_name(const struct pci_addr *slot, char name[static 32])
{
        /* One lock per slot: every function of a card shares it (func is ignored). */
        snprintf(name, 32, "slot-%04x:%02x:%02x.lock", slot->domain & 0xffff, slot->bus & 0xff, slot->slot & 0x1f);
}

int lock_slot(const struct pgr_ctx *ctx, const struct pci_addr *slot, unsigned long vmid, const char *what,
              unsigned timeout_ms, struct pgr_lock *ret, struct pgr_error *err)
{
        char name[32];

        slot_lock_name(slot, name);
        return lock_take(ctx, name, vmid, what, timeout_ms, ret, err);
}

int lock_slot_holder(const struct pgr_ctx *ctx, const struct pci_addr *slot, char *ret_what, size_t size)
{
        char dir[PATH_MAX], name[32];
        _cleanup_close_ int dfd = -1, fd = -1;
        struct pgr_error err;
        unsigned long vmid;
        long long since;
        int pid;

        dfd = pgr_runtime_dir_open(ctx, dir, sizeof(dir), &err);
        if (dfd < 0)
                return dfd;
        slot_lock_name(slot, name);
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return read_holder(fd, &pid, &vmid, ret_what, size, &since);
}

int lock_bus(const struct pgr_ctx *ctx, unsigned long vmid, const char *what, unsigned timeout_ms,
             struct pgr_lock *ret, struct pgr_error *err)
{
        return lock_take(ctx, "bus.lock", vmid, what, timeout_ms, ret, err);
}

int lock_autoprobe(const struct pgr_ctx *ctx, unsigned long vmid, const char *what, unsigned timeout_ms,
                   struct pgr_lock *ret, struct pgr_error *err)
{
        return lock_take(ctx, "autoprobe.lock", vmid, what, timeout_ms, ret, err);
}

int lock_attach(const struct pgr_ctx *ctx, unsigned long vmid, const char *what, unsigned timeout_ms,
                struct pgr_lock *ret, struct pgr_error *err)
{
        return lock_take(ctx, "attach.lock", vmid, what, timeout_ms, ret, err);
}

int lock_claims(const struct pgr_ctx *ctx, unsigned long vmid, const char *what, unsigned timeout_ms,
                struct pgr_lock *ret, struct pgr_error *err)
{
        return lock_take(ctx, "claims.lock", vmid, what, timeout_ms, ret, err);
}

void lock_release(struct pgr_lock *l)
{
        if (!l || l->fd < 0)
                return;
        /* Still holding the lock: nobody reads a half-cleared line. Closing drops the flock. */
        (void)!ftruncate(l->fd, 0);
        close(l->fd);
        l->fd = -1;
}
