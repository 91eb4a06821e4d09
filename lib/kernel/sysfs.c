/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1 /* mempcpy */
#include "kernel/sysfs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

/* ops->read of a root-prefixed path, without the kernel's trailing newline (or space). */
static int read_trimmed(const struct pgr_ctx *ctx, const char *path, char *buf, size_t size)
{
        int r = ctx->ops->read(ctx->ops_userdata, path, buf, size);

        if (r < 0)
                return r;
        while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
                buf[--r] = '\0';
        return 0;
}

int sysfs_read(const struct pgr_ctx *ctx, const char *abs, char *buf, size_t size)
{
        char path[PATH_MAX];
        int r;

        r = pgr_path(ctx, path, sizeof(path), abs);
        return r < 0 ? r : read_trimmed(ctx, path, buf, size);
}

int sysfs_write(const struct pgr_ctx *ctx, const char *abs, const char *value)
{
        char path[PATH_MAX];
        int r;

        r = pgr_path(ctx, path, sizeof(path), abs);
        if (r < 0)
                return r;
        return ctx->ops->write(ctx->ops_userdata, path, value);
}

/* <root>/sys/bus/pci/devices/<bdf>[/<attr>] in one buffer. By hand, not snprintf, and with no
 * root-less copy in between: every attribute access of a run builds its path here, and each PATH_MAX
 * buffer more on the way down is another page of stack touched (a page fault) in every hook run. */
int sysfs_dev_path(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf, size_t size)
{
        static const char devices[] = "/sys/bus/pci/devices/";
        char bdf[PCI_ADDR_STRLEN];
        size_t root_len = strlen(ctx->root), bdf_len, attr_len = attr ? strlen(attr) + 1 : 0, len;
        char *p = buf;

        if (a->func < 0)
                return -EINVAL;
        bdf_len = strlen(pci_addr_format(a, bdf));
        len = root_len + sizeof(devices) - 1 + bdf_len + attr_len;
        if (len >= size)
                return -ENAMETOOLONG;
        p = mempcpy(p, ctx->root, root_len);
        p = mempcpy(p, devices, sizeof(devices) - 1);
        p = mempcpy(p, bdf, bdf_len);
        if (attr) {
                *p++ = '/';
                p = mempcpy(p, attr, attr_len - 1);
        }
        *p = '\0';
        return 0;
}

int sysfs_dev_read(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf, size_t size)
{
        char path[PATH_MAX];
        int r = sysfs_dev_path(ctx, a, attr, path, sizeof(path));

        return r < 0 ? r : read_trimmed(ctx, path, buf, size);
}

int sysfs_dev_write(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, const char *value)
{
        char path[PATH_MAX];
        int r = sysfs_dev_path(ctx, a, attr, path, sizeof(path));

        return r < 0 ? r : ctx->ops->write(ctx->ops_userdata, path, value);
}

int sysfs_dev_read_hex(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, unsigned *ret)
{
        char buf[32];
        unsigned long v;
        int r;

        r = sysfs_dev_read(ctx, a, attr, buf, sizeof(buf));
        if (r < 0)
                return r;
        r = parse_uint(buf, 16, 0xffffffffUL, &v);
        if (r < 0)
                return r;
        *ret = (unsigned)v;
        return 0;
}

bool sysfs_dev_has(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr)
{
        char path[PATH_MAX];

        return sysfs_dev_path(ctx, a, attr, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

bool sysfs_dev_present(const struct pgr_ctx *ctx, const struct pci_addr *a)
{
        return sysfs_dev_has(ctx, a, NULL);
}

static int link_basename(const char *path, char *buf, size_t size)
{
        char target[PATH_MAX];
        const char *base;
        ssize_t n;

        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (strlen(base) >= size)
                return -ENAMETOOLONG;
        strcpy(buf, base);
        return 0;
}

int sysfs_link(const struct pgr_ctx *ctx, const char *abs, char *buf, size_t size)
{
        char path[PATH_MAX];
        int r;

        r = pgr_path(ctx, path, sizeof(path), abs);
        if (r < 0)
                return r;
        return link_basename(path, buf, size);
}

int sysfs_dev_link(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *link, char *buf, size_t size)
{
        char path[PATH_MAX];
        int r;

        r = sysfs_dev_path(ctx, a, link, path, sizeof(path));
        if (r < 0)
                return r;
        return link_basename(path, buf, size);
}

/* The kernel's link <root>/sys/bus/pci/devices/<bdf> → "../../../devices/pci0000:00/.../<bdf>",
 * resolved as text, in place: path holds the link's path and becomes the directory's. It runs through
 * real directories only, so ".." takes a component off. One readlink instead of realpath(3)'s one per
 * component of the root prefix and the path (~13 system calls, twice per function of every plan).
 * false (path then unusable) for anything else (no link, an absolute target, ".." above <root>/sys):
 * then realpath(3) decides. */
static bool resolve_device_link(char *path, size_t size)
{
        static const char devices[] = "/sys/bus/pci/devices/";
        char target[PATH_MAX];
        char *slash = strrchr(path, '/');
        size_t len, top;
        ssize_t n;

        if (!slash || (size_t)(slash - path) + 1 < sizeof(devices) - 1 ||
            memcmp(slash + 1 - (sizeof(devices) - 1), devices, sizeof(devices) - 1) != 0)
                return false;
        n = readlink(path, target, sizeof(target) - 1);
        if (n <= 0 || target[0] == '/')
                return false;
        target[n] = '\0';
        len = (size_t)(slash - path);
        top = len - (sizeof(devices) - 2) + strlen("/sys"); /* path[0..top) is <root>/sys: never above it */
        path[len] = '\0';
        for (char *c = target, *next; c && *c; c = next) {
                next = strchr(c, '/');
                if (next)
                        *next++ = '\0';
                if (!*c || streq(c, "."))
                        continue;
                if (streq(c, "..")) {
                        char *up = strrchr(path, '/');

                        if (!up || (size_t)(up - path) < top)
                                return false;
                        *up = '\0';
                        len = (size_t)(up - path);
                        continue;
                }
                if (len + 1 + strlen(c) >= size)
                        return false;
                path[len++] = '/';
                strcpy(path + len, c);
                len += strlen(c);
        }
        return true;
}

/* realpath(3) of the device's link, for what resolve_device_link leaves to it. */
static _noinline_ int realpath_of_link(const struct pgr_ctx *ctx, const struct pci_addr *a, char *buf, size_t size)
{
        char path[PATH_MAX];
        _cleanup_free_ char *real = NULL;
        int r;

        r = sysfs_dev_path(ctx, a, NULL, path, sizeof(path));
        if (r < 0)
                return r;
        real = realpath(path, NULL);
        if (!real)
                return -errno;
        if (strlen(real) >= size)
                return -ENAMETOOLONG;
        strcpy(buf, real);
        return 0;
}

int sysfs_dev_realpath(const struct pgr_ctx *ctx, const struct pci_addr *a, char *buf, size_t size)
{
        int r;

        /* built and resolved in buf: no path buffer of its own on the stack */
        r = sysfs_dev_path(ctx, a, NULL, buf, size);
        if (r < 0)
                return r;
        return resolve_device_link(buf, size) ? 0 : realpath_of_link(ctx, a, buf, size);
}
