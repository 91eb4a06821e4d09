/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/context.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

static int real_read(void *userdata, const char *path, char *buf, size_t size)
{
        _cleanup_close_ int fd = -1;
        ssize_t n;

        (void)userdata;
        if (size == 0)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = read(fd, buf, size - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return (int)n;
}

static int real_write(void *userdata, const char *path, const char *value)
{
        _cleanup_close_ int fd = -1;
        size_t len = strlen(value);
        ssize_t n;

        (void)userdata;
        /* O_TRUNC as a shell's `echo 1 > attr` does: sysfs ignores it, plain files (fixture trees) need it;
         * no O_CREAT, a missing attribute must stay an error. */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if ((size_t)n != len)
                return -EIO;
        return 0;
}

const struct pgr_sysfs_ops pgr_sysfs_ops_real = {
        .read = real_read,
        .write = real_write,
};

static int read_hostname(const struct pgr_ctx *ctx, char *buf, size_t size)
{
        char path[PATH_MAX], line[256];
        size_t n;
        int r;

        if (pgr_path(ctx, path, sizeof(path), "/etc/hostname") < 0)
                return -ENAMETOOLONG;
        /* one read: the name is on the first line of a tiny file (no stdio buffer for it) */
        r = real_read(NULL, path, line, sizeof(line));
        if (r < 0)
                return r;
        if (r == 0)
                return -ENODATA;
        n = strcspn(line, ".\n \t");
        if (n == 0 || n >= size)
                return -EINVAL;
        memcpy(buf, line, n);
        buf[n] = '\0';
        return 0;
}

int pgr_ctx_init(struct pgr_ctx *ctx, const char *root, const char *node)
{
        memset(ctx, 0, sizeof(*ctx));
        ctx->ops = &pgr_sysfs_ops_real;
        if (!root)
                root = getenv("PVE_GPU_RESET_ROOT");
        if (root && *root) {
                size_t n = strlen(root);

                if (root[0] != '/')
                        return -EINVAL;
                while (n > 1 && root[n - 1] == '/')
                        n--;
                if (n == 1) /* "/" is the real root */
                        n = 0;
                if (n >= sizeof(ctx->root))
                        return -ENAMETOOLONG;
                memcpy(ctx->root, root, n);
                ctx->root[n] = '\0';
        }
        if (node && *node) {
                if (strlen(node) >= sizeof(ctx->node) || strchr(node, '/'))
                        return -EINVAL;
                strcpy(ctx->node, node);
        } else if (ctx->root[0] && read_hostname(ctx, ctx->node, sizeof(ctx->node)) == 0) {
                /* A fixture tree or guest root names its own node. */
        } else {
                char host[256] = "";
                char *dot;

                if (gethostname(host, sizeof(host) - 1) < 0)
                        return -errno;
                dot = strchr(host, '.');
                if (dot)
                        *dot = '\0';
                strcpy(ctx->node, host);
        }
        return 0;
}

int pgr_path(const struct pgr_ctx *ctx, char *buf, size_t size, const char *abs)
{
        size_t root_len, abs_len;

        if (abs[0] != '/')
                return -EINVAL;
        /* memcpy, not snprintf: every path of a run comes through here (a few hundred per hook run) */
        root_len = strlen(ctx->root);
        abs_len = strlen(abs);
        if (root_len + abs_len >= size)
                return -ENAMETOOLONG;
        memcpy(buf, ctx->root, root_len);
        memcpy(buf + root_len, abs, abs_len + 1);
        return 0;
}

int pgr_pathf(const struct pgr_ctx *ctx, char *buf, size_t size, const char *fmt, ...)
{
        size_t root_len = strlen(ctx->root);
        va_list ap;
        int n;

        /* formatted in place after the root, not through a root-less copy: one PATH_MAX buffer on the
         * stack of every caller instead of two */
        if (root_len >= size)
                return -ENAMETOOLONG;
        memcpy(buf, ctx->root, root_len);
        va_start(ap, fmt);
        n = vsnprintf(buf + root_len, size - root_len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= size - root_len)
                return -ENAMETOOLONG;
        if (buf[root_len] != '/')
                return -EINVAL;
        return 0;
}

int pgr_read_file(const struct pgr_ctx *ctx, const char *abs, size_t max, char **ret, size_t *ret_len)
{
        char path[PATH_MAX];
        int r;

        r = pgr_path(ctx, path, sizeof(path), abs);
        if (r < 0)
                return r;
        return read_full_file(path, max, ret, ret_len);
}

bool pgr_exists(const struct pgr_ctx *ctx, const char *abs)
{
        char path[PATH_MAX];

        return pgr_path(ctx, path, sizeof(path), abs) == 0 && access(path, F_OK) == 0;
}

/* The runtime directory is missing: /run first (a host has it, a fixture root may not), then it. */
static _noinline_ int runtime_dir_create(const struct pgr_ctx *ctx, const char *dir, struct pgr_error *err)
{
        char parent[PATH_MAX];
        int r;

        r = pgr_path(ctx, parent, sizeof(parent), "/run");
        if (r == 0)
                r = mkdir_p(parent, 0755);
        if (r == 0 && mkdir(dir, 0700) < 0 && errno != EEXIST)
                r = -errno;
        if (r < 0)
                pgr_error_set(err, "cannot create runtime directory %s: %s", dir, strerror(-r));
        return r;
}

int pgr_runtime_dir_open(const struct pgr_ctx *ctx, char *ret_path, size_t size, struct pgr_error *err)
{
        char dir[PATH_MAX];
        _cleanup_close_ int dfd = -1;
        struct stat st;
        int r;

        r = pgr_path(ctx, dir, sizeof(dir), PGR_RUNTIME_DIR);
        if (r < 0) {
                pgr_error_set(err, "runtime directory %s%s: path too long", ctx->root, PGR_RUNTIME_DIR);
                return r;
        }
        if (ret_path && snprintf(ret_path, size, "%s", dir) >= (int)size) {
                pgr_error_set(err, "runtime directory %s: path too long", dir);
                return -ENAMETOOLONG;
        }
        /* Opened first, created only when missing: every lock and state file of a run comes through
         * here, and the directory is there on all runs but the first after boot. O_NOFOLLOW with
         * O_DIRECTORY refuses a symlink and anything else but a directory (ENOTDIR, or ELOOP). */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0 && errno == ENOENT) {
                r = runtime_dir_create(ctx, dir, err);
                if (r < 0)
                        return r;
                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (dfd < 0) {
                r = -errno;
                if (r == -ELOOP || r == -ENOTDIR) {
                        if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
                                r = -ELOOP;
                        pgr_error_set(err, "runtime directory %s is %s; refusing (remove it, it is recreated on "
                                      "the next run)", dir, r == -ELOOP ? "a symlink" : "not a directory");
                }
                else
                        pgr_error_set(err, "cannot open runtime directory %s: %s", dir, strerror(-r));
                return r;
        }
        /* Checked on what was opened. */
        if (fstat(dfd, &st) < 0) {
                r = -errno;
                pgr_error_set(err, "cannot stat runtime directory %s: %s", dir, strerror(-r));
                return r;
        }
        if (st.st_uid != geteuid() || (st.st_mode & 0022)) {
                pgr_error_set(err, "runtime directory %s is not owned by uid %u or is group/world-writable; refusing "
                              "(remove it, it is recreated on the next run)", dir, (unsigned)geteuid());
                return -EPERM;
        }
        /* Ours but readable by others (created 0755 by an older version): root-only from now on. */
        if ((st.st_mode & 07777) != 0700 && fchmod(dfd, 0700) < 0) {
                r = -errno;
                pgr_error_set(err, "cannot make runtime directory %s mode 0700: %s", dir, strerror(-r));
                return r;
        }
        r = dfd;
        dfd = -1;
        return r;
}
