/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1 /* mkostemp */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#define STATE_DIR "/run/pve-gpu-reset"
#define AUTOPROBE_GUARD "autoprobe-off"
/* Marks and guards are one short line; a device list is STATE_MAX_DEVICES of them. */
#define SMALL_FILE_MAX 256
#define DEVICES_FILE_MAX (STATE_MAX_DEVICES * 64)

static int state_path(const struct pgr_ctx *ctx, char *buf, size_t size, const char *name)
{
        return pgr_pathf(ctx, buf, size, STATE_DIR "/%s", name);
}

/* Replaces STATE_DIR/name with data: a temp file in the same directory, then rename(2), so a
 * reader sees the old or the new content, never a mix. */
static int write_atomic(const struct pgr_ctx *ctx, const char *name, const char *data, size_t len)
{
        char dir[PATH_MAX], path[PATH_MAX];
        int r;

        r = pgr_path(ctx, dir, sizeof(dir), STATE_DIR);
        if (r < 0)
                return r;
        r = state_path(ctx, path, sizeof(path), name);
        if (r < 0)
                return r;
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;
        return write_file_atomic(path, data, len, 0644);
}

static int remove_file(const struct pgr_ctx *ctx, const char *name)
{
        char path[PATH_MAX];
        int r;

        r = state_path(ctx, path, sizeof(path), name);
        if (r < 0)
                return r;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int read_file(const struct pgr_ctx *ctx, const char *name, size_t max, char **ret, size_t *ret_len)
{
        char path[PATH_MAX];
        int r;

        r = state_path(ctx, path, sizeof(path), name);
        if (r < 0)
                return r;
        return read_full_file(path, max, ret, ret_len);
}

static void vm_devices_name(unsigned long vmid, char *buf, size_t size)
{
        snprintf(buf, size, "vm-%lu.devices", vmid);
}

static void clean_name(const struct pci_addr *a, char *buf, size_t size)
{
        char b[PCI_ADDR_STRLEN];

        snprintf(buf, size, "clean-%s", pci_addr_format(a, b));
}

int state_save_vm_devices(const struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *devs, size_t n)
{
        char data[STATE_MAX_DEVICES * PCI_ADDR_STRLEN + 1];
        char name[64];
        size_t len = 0;

        if (n > STATE_MAX_DEVICES)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                char b[PCI_ADDR_STRLEN];
                int w;

                /* One function per line: a whole-slot address would not parse back. */
                if (devs[i].func < 0)
                        return -EINVAL;
                w = snprintf(data + len, sizeof(data) - len, "%s\n", pci_addr_format(&devs[i], b));
                if (w < 0 || (size_t)w >= sizeof(data) - len)
                        return -E2BIG;
                len += (size_t)w;
        }
        data[len] = '\0';
        vm_devices_name(vmid, name, sizeof(name));
        /* Every pre-start records the set; the same set again costs a read, not a write + fsync. */
        {
                _cleanup_free_ char *old = NULL;
                size_t old_len = 0;

                if (read_file(ctx, name, sizeof(data), &old, &old_len) == 0 && old_len == len &&
                    memcmp(old, data, len) == 0)
                        return 0;
        }
        return write_atomic(ctx, name, data, len);
}

/* Parses text[0..len) as one DDDD:BB:SS.F per line; counts into *ret_n, fills ret when non-NULL. */
static int parse_devices(const char *text, size_t len, struct pci_addr *ret, size_t max, size_t *ret_n)
{
        size_t pos = 0, n = 0;

        while (pos < len) {
                const char *line = text + pos;
                const char *nl = memchr(line, '\n', len - pos);
                size_t l = nl ? (size_t)(nl - line) : len - pos;
                char buf[PCI_ADDR_STRLEN];
                struct pci_addr a;

                pos += l + (nl ? 1 : 0);
                if (l == 0 || l >= sizeof(buf) || memchr(line, '\0', l))
                        return -EINVAL;
                memcpy(buf, line, l);
                buf[l] = '\0';
                if (pci_addr_parse_full(buf, &a) < 0)
                        return -EINVAL;
                if (n >= max)
                        return -E2BIG;
                if (ret)
                        ret[n] = a;
                n++;
        }
        *ret_n = n;
        return 0;
}

int state_load_vm_devices(const struct pgr_ctx *ctx, unsigned long vmid, struct pci_addr *ret, size_t max,
                          size_t *ret_n)
{
        _cleanup_free_ char *text = NULL;
        char name[64];
        size_t len, n;
        int r;

        vm_devices_name(vmid, name, sizeof(name));
        r = read_file(ctx, name, DEVICES_FILE_MAX, &text, &len);
        if (r < 0)
                return r;
        /* Validate everything before writing to ret: on failure ret is untouched. */
        r = parse_devices(text, len, NULL, max, &n);
        if (r < 0)
                return r;
        r = parse_devices(text, len, ret, max, &n);
        if (r < 0)
                return r;
        *ret_n = n;
        return 0;
}

int state_forget_vm(const struct pgr_ctx *ctx, unsigned long vmid)
{
        char name[64];

        vm_devices_name(vmid, name, sizeof(name));
        return remove_file(ctx, name);
}

int state_mark_clean(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned long vmid, long long now)
{
        char name[64], data[96];
        int n;

        if (a->func < 0)
                return -EINVAL;
        clean_name(a, name, sizeof(name));
        n = snprintf(data, sizeof(data), "vmid=%lu time=%lld\n", vmid, now);
        return write_atomic(ctx, name, data, (size_t)n);
}

int state_mark_used(const struct pgr_ctx *ctx, const struct pci_addr *a)
{
        char name[64];

        if (a->func < 0)
                return -EINVAL;
        clean_name(a, name, sizeof(name));
        return remove_file(ctx, name);
}

/* The whole content must be "vmid=N time=T" with an optional final newline. */
static bool parse_clean_mark(const char *text, size_t len, long long *ret_time)
{
        unsigned long vmid;
        long long t;
        int end = -1;

        if (memchr(text, '\0', len))
                return false;
        if (sscanf(text, "vmid=%lu time=%lld%n", &vmid, &t, &end) != 2 || end < 0)
                return false;
        if (!((size_t)end == len || ((size_t)end + 1 == len && text[end] == '\n')))
                return false;
        *ret_time = t;
        return true;
}

bool state_is_clean(const struct pgr_ctx *ctx, const struct pci_addr *a, long long since)
{
        _cleanup_free_ char *text = NULL;
        char name[64];
        size_t len;
        long long t;

        if (a->func < 0)
                return false;
        clean_name(a, name, sizeof(name));
        if (read_file(ctx, name, SMALL_FILE_MAX, &text, &len) < 0)
                return false;
        /* A mark we cannot read is no mark: one reset too many is harmless, one too few is not. */
        if (!parse_clean_mark(text, len, &t))
                return false;
        return since < 0 || t > since;
}

int state_autoprobe_guard_set(const struct pgr_ctx *ctx)
{
        char data[32];
        int n;

        n = snprintf(data, sizeof(data), "pid=%d\n", (int)getpid());
        return write_atomic(ctx, AUTOPROBE_GUARD, data, (size_t)n);
}

int state_autoprobe_guard_clear(const struct pgr_ctx *ctx)
{
        return remove_file(ctx, AUTOPROBE_GUARD);
}

long state_autoprobe_guard_pid(const struct pgr_ctx *ctx)
{
        _cleanup_free_ char *text = NULL;
        char buf[32];
        unsigned long pid;
        size_t len;
        int r;

        r = read_file(ctx, AUTOPROBE_GUARD, SMALL_FILE_MAX, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (len >= sizeof(buf) || memchr(text, '\0', len) || len < 5 || memcmp(text, "pid=", 4) != 0)
                return -EINVAL;
        memcpy(buf, text + 4, len - 4);
        buf[len - 4] = '\0';
        if (len > 4 && buf[len - 5] == '\n')
                buf[len - 5] = '\0';
        if (parse_uint(buf, 10, INT_MAX, &pid) < 0 || pid == 0)
                return -EINVAL;
        return (long)pid;
}

static int setting_name(const struct pci_addr *a, const char *attr, char *buf, size_t size)
{
        char b[PCI_ADDR_STRLEN];
        int n;

        if (a->func < 0 || strchr(attr, '/'))
                return -EINVAL;
        n = snprintf(buf, size, "restore-%s-%s", attr, pci_addr_format(a, b));
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int state_setting_save(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, const char *value)
{
        char name[96], data[STATE_VALUE_MAX + 1], old[STATE_VALUE_MAX];
        int r, n;

        r = setting_name(a, attr, name, sizeof(name));
        if (r < 0)
                return r;
        if (strchr(value, '\n') || strlen(value) >= STATE_VALUE_MAX)
                return -EINVAL;
        /* An interrupted run's record holds the value from before it; the attribute may not. */
        r = state_setting_load(ctx, a, attr, old, sizeof(old));
        if (r != -ENOENT)
                return r;
        n = snprintf(data, sizeof(data), "%s\n", value);
        return write_atomic(ctx, name, data, (size_t)n);
}

int state_setting_load(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf, size_t size)
{
        _cleanup_free_ char *text = NULL;
        char name[96];
        size_t len;
        int r;

        r = setting_name(a, attr, name, sizeof(name));
        if (r < 0)
                return r;
        r = read_file(ctx, name, SMALL_FILE_MAX, &text, &len);
        if (r < 0)
                return r;
        if (len == 0 || text[len - 1] != '\n' || memchr(text, '\0', len) || memchr(text, '\n', len - 1) ||
            len - 1 >= size)
                return -EINVAL;
        memcpy(buf, text, len - 1);
        buf[len - 1] = '\0';
        return 0;
}

int state_setting_clear(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr)
{
        char name[96];
        int r;

        r = setting_name(a, attr, name, sizeof(name));
        if (r < 0)
                return r;
        return remove_file(ctx, name);
}

int state_setting_list(const struct pgr_ctx *ctx, const char *attr, struct pci_addr *ret, size_t max, size_t *ret_n)
{
        char dir[PATH_MAX], prefix[64];
        size_t n = 0, plen;
        DIR *d;
        struct dirent *de;
        int r = 0;

        *ret_n = 0;
        r = pgr_path(ctx, dir, sizeof(dir), STATE_DIR);
        if (r < 0)
                return r;
        snprintf(prefix, sizeof(prefix), "restore-%s-", attr);
        plen = strlen(prefix);
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                struct pci_addr a;

                if (strncmp(de->d_name, prefix, plen) != 0 || pci_addr_parse_full(de->d_name + plen, &a) < 0)
                        continue;
                if (n >= max) {
                        r = -ENOBUFS;
                        break;
                }
                ret[n++] = a;
        }
        closedir(d);
        *ret_n = n;
        return r;
}
