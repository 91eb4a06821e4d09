/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pve/reservations.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/lock.h"

#define RESERVATIONS_FILE "/run/qemu-server/pci-id-reservations"
#define RESERVATIONS_LOCK RESERVATIONS_FILE ".lock"
/* The longest valid line ("dddd:bb:ss.f" + vmid + "time:" + 19 digits) is well under this. */
#define LINE_MAX_LEN 96

/* Perl's \s, which is what qemu-server's parser uses between fields. */
static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* One or more decimal digits at *p, at most max; advances *p. */
static bool take_digits(const char **p, unsigned long long max, unsigned long long *ret)
{
        unsigned long long v = 0;
        const char *s = *p;

        if (!is_digit(*s))
                return false;
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned)(*s - '0');

                if (v > (max - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return true;
}

/* qemu-server's own pattern: ^(PCIID)\s(\d+)\s(time|pid):(\d+)$ — anything else is junk. */
static bool parse_line(const char *line, size_t n, struct reservation *ret)
{
        char buf[LINE_MAX_LEN];
        char addr[32];
        const char *p, *sp;
        unsigned long long vmid, v;
        struct reservation r = { .expires = -1, .pid = -1 };
        bool is_time;

        if (n >= sizeof(buf) || memchr(line, '\0', n))
                return false;
        memcpy(buf, line, n);
        buf[n] = '\0';

        for (sp = buf; *sp && !is_space(*sp); sp++)
                ;
        if (!*sp || (size_t)(sp - buf) >= sizeof(addr))
                return false;
        memcpy(addr, buf, (size_t)(sp - buf));
        addr[sp - buf] = '\0';
        if (pci_addr_parse(addr, &r.addr) < 0)
                return false;

        p = sp + 1;
        if (!take_digits(&p, ULONG_MAX, &vmid) || vmid == 0 || !is_space(*p))
                return false;
        r.vmid = (unsigned long)vmid;
        p++;
        if (strncmp(p, "time:", 5) == 0) {
                is_time = true;
                p += 5;
        } else if (strncmp(p, "pid:", 4) == 0) {
                is_time = false;
                p += 4;
        } else
                return false;
        if (!take_digits(&p, is_time ? (unsigned long long)LLONG_MAX : (unsigned long long)INT_MAX, &v) || *p)
                return false;
        if (is_time)
                r.expires = (long long)v;
        else
                r.pid = (long)v;
        *ret = r;
        return true;
}

static bool is_blank(const char *line, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!is_space(line[i]))
                        return false;
        return true;
}

/* Walks text[0..len) line by line, never past len; fills items when non-NULL. */
static void scan(const char *text, size_t len, struct reservation *items, size_t *ret_n, size_t *ret_bad)
{
        size_t n = 0, bad = 0, pos = 0;

        while (pos < len) {
                const char *line = text + pos;
                const char *nl = memchr(line, '\n', len - pos);
                size_t l = nl ? (size_t)(nl - line) : len - pos;
                struct reservation r;

                pos += l + (nl ? 1 : 0);
                if (is_blank(line, l))
                        continue;
                if (!parse_line(line, l, &r)) {
                        bad++;
                        continue;
                }
                if (items)
                        items[n] = r;
                n++;
        }
        *ret_n = n;
        *ret_bad = bad;
}

int reservations_parse(const char *text, size_t len, struct reservations *ret, size_t *ret_bad_lines)
{
        struct reservation *items = NULL;
        size_t n, bad;

        if (len > RESERVATIONS_MAX_SIZE)
                return -EFBIG;
        if (len > 0 && !text)
                return -EINVAL;
        scan(text, len, NULL, &n, &bad);
        if (n > 0) {
                size_t n2;

                items = calloc(n, sizeof(*items));
                if (!items)
                        return -ENOMEM;
                scan(text, len, items, &n2, &bad);
        }
        ret->n = n;
        ret->items = items;
        if (ret_bad_lines)
                *ret_bad_lines = bad;
        return 0;
}

int reservations_load_full(const struct pgr_ctx *ctx, unsigned lock_timeout_ms, struct reservations *ret,
                           size_t *ret_bad_lines, bool *ret_locked)
{
        char path[PATH_MAX], lock_path[PATH_MAX];
        _cleanup_close_ int lock_fd = -1;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        bool locked = false;
        int r;

        r = pgr_path(ctx, path, sizeof(path), RESERVATIONS_FILE);
        if (r < 0)
                return r;
        r = pgr_path(ctx, lock_path, sizeof(lock_path), RESERVATIONS_LOCK);
        if (r < 0)
                return r;

        /* Proxmox creates the lock file (and holds it exclusively while it rewrites the file); we only
         * read, so we never create anything in its directory. */
        lock_fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (lock_fd >= 0)
                locked = lock_flock_timeout(lock_fd, LOCK_SH, lock_timeout_ms) == 0;

        r = read_full_file(path, RESERVATIONS_MAX_SIZE, &text, &len);
        if (r == -ENOENT) {
                ret->n = 0;
                ret->items = NULL;
                if (ret_bad_lines)
                        *ret_bad_lines = 0;
        } else if (r < 0)
                return r;
        else {
                r = reservations_parse(text, len, ret, ret_bad_lines);
                if (r < 0)
                        return r;
        }
        if (ret_locked)
                *ret_locked = locked;
        return 0;
}

int reservations_load(const struct pgr_ctx *ctx, struct reservations *ret)
{
        return reservations_load_full(ctx, RESERVATIONS_LOCK_TIMEOUT_MS, ret, NULL, NULL);
}

void reservations_done(struct reservations *r)
{
        if (!r)
                return;
        free(r->items);
        r->items = NULL;
        r->n = 0;
}

static bool addr_matches(const struct pci_addr *entry, const struct pci_addr *addr)
{
        return pci_addr_same_slot(entry, addr) && (entry->func < 0 || addr->func < 0 || entry->func == addr->func);
}

static bool entry_live(const struct pgr_ctx *ctx, const struct reservation *e, long long now)
{
        char path[PATH_MAX];
        struct stat st;

        if (e->pid >= 0) {
                if (e->pid == 0)
                        return false;
                if (pgr_pathf(ctx, path, sizeof(path), "/proc/%ld", e->pid) < 0)
                        return true; /* cannot tell: in use */
                return stat(path, &st) == 0;
        }
        if (e->expires >= 0)
                return e->expires >= now;
        return true;
}

unsigned long reservations_holder(const struct pgr_ctx *ctx, const struct reservations *r,
                                  const struct pci_addr *addr, unsigned long vmid, long long now)
{
        if (!r)
                return 0;
        for (size_t i = 0; i < r->n; i++) {
                const struct reservation *e = &r->items[i];

                if (e->vmid == vmid || !addr_matches(&e->addr, addr))
                        continue;
                if (entry_live(ctx, e, now))
                        return e->vmid;
        }
        return 0;
}

struct fd_scan {
        int fd_dir;
        const char *target;
        bool prefix;
};

static int links_to_target(const char *name, void *userdata)
{
        const struct fd_scan *f = userdata;
        char link[64];
        ssize_t n;

        n = readlinkat(f->fd_dir, name, link, sizeof(link) - 1);
        if (n < 0)
                return 0;
        link[n] = '\0';
        return f->prefix ? strncmp(link, f->target, strlen(f->target)) == 0 : streq(link, f->target);
}

/* Whether process dir <proc>/<name> has an fd linking to target (prefix: to a path starting with it).
 * Unreadable: no. */
static bool holds_target(int proc_fd, const char *name, const char *target, bool prefix)
{
        char fdpath[sizeof(((struct dirent *)0)->d_name) + 4];
        struct fd_scan f = { .target = target, .prefix = prefix };
        bool found;

        snprintf(fdpath, sizeof(fdpath), "%s/fd", name);
        f.fd_dir = openat(proc_fd, fdpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
        if (f.fd_dir < 0)
                return false; /* EACCES, vanished, a kernel thread... */
        found = dir_each(f.fd_dir, links_to_target, &f) == 1;
        close(f.fd_dir);
        return found;
}

struct group_scan {
        char target[32];
        long best;
};

static bool lowest_group_holder(int proc_fd, const char *name, long pid, void *userdata)
{
        struct group_scan *g = userdata;

        if ((!g->best || pid < g->best) && holds_target(proc_fd, name, g->target, false))
                g->best = pid;
        return false;
}

static int for_each_process(const struct pgr_ctx *ctx, bool (*fn)(int proc_fd, const char *name, long pid, void *userdata),
                            void *userdata);

long vfio_group_holder(const struct pgr_ctx *ctx, int group)
{
        struct group_scan g = {};
        int r;

        if (group < 0)
                return -EINVAL;
        snprintf(g.target, sizeof(g.target), "/dev/vfio/%d", group);
        r = for_each_process(ctx, lowest_group_holder, &g);
        return r < 0 ? r : g.best;
}

struct process_scan {
        bool (*fn)(int proc_fd, const char *name, long pid, void *userdata);
        void *userdata;
        int proc_fd;
        unsigned long self;
};

static int one_process(const char *name, void *userdata)
{
        const struct process_scan *e = userdata;
        unsigned long pid;

        if (!is_digit(name[0]) || parse_uint(name, 10, INT_MAX, &pid) < 0 || pid == 0 || pid == e->self)
                return 0;
        return e->fn(e->proc_fd, name, (long)pid, e->userdata) ? 1 : 0;
}

/* Calls fn for every process directory <root>/proc/PID other than ours, in directory order, until
 * fn returns true. 0, or a negative errno when <root>/proc cannot be read (missing: 0). Listed with
 * dir_each: on a busy node this runs over hundreds of processes and thousands of fds per start. */
static int for_each_process(const struct pgr_ctx *ctx, bool (*fn)(int proc_fd, const char *name, long pid, void *userdata),
                            void *userdata)
{
        struct process_scan e = { .fn = fn, .userdata = userdata, .self = (unsigned long)getpid() };
        char proc[PATH_MAX];
        int r;

        r = pgr_path(ctx, proc, sizeof(proc), "/proc");
        if (r < 0)
                return r;
        e.proc_fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
        if (e.proc_fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = dir_each(e.proc_fd, one_process, &e);
        close(e.proc_fd);
        return r < 0 ? r : 0;
}

struct holders_scan {
        const char *prefix;
        long *pids;
        size_t max, n;
        bool cut;
};

static bool collect_holder(int proc_fd, const char *name, long pid, void *userdata)
{
        struct holders_scan *h = userdata;

        if (!holds_target(proc_fd, name, h->prefix, true))
                return false;
        if (h->n >= h->max) {
                h->cut = true;
                return true;
        }
        h->pids[h->n++] = pid;
        return false;
}

int proc_fd_holders(const struct pgr_ctx *ctx, const char *prefix, long *ret, size_t max, size_t *ret_n)
{
        struct holders_scan h = { .prefix = prefix, .pids = ret, .max = max };
        int r;

        r = for_each_process(ctx, collect_holder, &h);
        *ret_n = h.n;
        return r < 0 ? r : h.cut ? -ENOBUFS : 0;
}

int proc_comm(const struct pgr_ctx *ctx, long pid, char *buf, size_t size)
{
        _cleanup_free_ char *text = NULL;
        char path[PATH_MAX];
        size_t len;
        int r;

        r = pgr_pathf(ctx, path, sizeof(path), "/proc/%ld/comm", pid);
        if (r < 0)
                return r;
        r = read_full_file(path, 256, &text, &len);
        if (r < 0)
                return r;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\0'))
                len--;
        snprintf(buf, size, "%.*s", (int)len, text);
        return 0;
}

struct comm_scan {
        const struct pgr_ctx *ctx;
        const char *comm;
        long pid;
};

static bool match_comm(int proc_fd, const char *name, long pid, void *userdata)
{
        struct comm_scan *c = userdata;
        char comm[64];

        (void)proc_fd;
        (void)name;
        if (proc_comm(c->ctx, pid, comm, sizeof(comm)) < 0 || !streq(comm, c->comm))
                return false;
        c->pid = pid;
        return true;
}

long proc_find_comm(const struct pgr_ctx *ctx, const char *comm)
{
        struct comm_scan c = { .ctx = ctx, .comm = comm };
        int r;

        r = for_each_process(ctx, match_comm, &c);
        return r < 0 ? r : c.pid;
}
