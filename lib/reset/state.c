/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1 /* mkostemp */
#include "reset/state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "kernel/sysfs.h"

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
        char path[PATH_MAX];
        struct pgr_error err;
        int r, dfd;

        r = state_path(ctx, path, sizeof(path), name);
        if (r < 0)
                return r;
        /* Created root-only, and refused when it is not ours (pgr_runtime_dir_open). */
        dfd = pgr_runtime_dir_open(ctx, NULL, 0, &err);
        if (dfd < 0)
                return dfd;
        close(dfd);
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

static void used_name(const struct pci_addr *a, char *buf, size_t size)
{
        char b[PCI_ADDR_STRLEN];

        snprintf(buf, size, "used-%s", pci_addr_format(a, b));
}

const char *state_vm_devices_path(unsigned long vmid, char buf[static STATE_NAME_MAX + sizeof(STATE_DIR)])
{
        char name[STATE_NAME_MAX];

        vm_devices_name(vmid, name, sizeof(name));
        snprintf(buf, STATE_NAME_MAX + sizeof(STATE_DIR), STATE_DIR "/%s", name);
        return buf;
}

const char *state_clean_path(const struct pci_addr *a, char buf[static STATE_NAME_MAX + sizeof(STATE_DIR)])
{
        char name[STATE_NAME_MAX];

        clean_name(a, name, sizeof(name));
        snprintf(buf, STATE_NAME_MAX + sizeof(STATE_DIR), STATE_DIR "/%s", name);
        return buf;
}

const char *state_used_path(const struct pci_addr *a, char buf[static STATE_NAME_MAX + sizeof(STATE_DIR)])
{
        char name[STATE_NAME_MAX];

        used_name(a, name, sizeof(name));
        snprintf(buf, STATE_NAME_MAX + sizeof(STATE_DIR), STATE_DIR "/%s", name);
        return buf;
}

#define DEVICES_FORMAT_LINE "format=2"

static const char *const use_names[_HOSTPCI_USE_MAX] = {
        [HOSTPCI_USE_VFIO] = "vfio",
        [HOSTPCI_USE_KEEP] = "keep",
        [HOSTPCI_USE_MDEV] = "mdev",
        [HOSTPCI_USE_MAPPING_MDEV] = "mapping-mdev",
};

static int use_from_name(const char *s, enum hostpci_use *ret)
{
        for (int i = 0; i < _HOSTPCI_USE_MAX; i++)
                if (use_names[i] && streq(s, use_names[i])) {
                        *ret = (enum hostpci_use)i;
                        return 0;
                }
        return -EINVAL;
}

int state_save_vm_devices(const struct pgr_ctx *ctx, unsigned long vmid, const struct state_device *devs, size_t n)
{
        char data[sizeof(DEVICES_FORMAT_LINE) + STATE_MAX_DEVICES * (PCI_ADDR_STRLEN + 16) + 1];
        char name[STATE_NAME_MAX];
        size_t len;

        if (n > STATE_MAX_DEVICES)
                return -E2BIG;
        len = (size_t)snprintf(data, sizeof(data), DEVICES_FORMAT_LINE "\n");
        for (size_t i = 0; i < n; i++) {
                char b[PCI_ADDR_STRLEN];
                int w;

                /* One function per line: a whole-slot address would not parse back. An unknown use
                 * would make post-stop guess: pre-start always knows it. */
                if (devs[i].addr.func < 0 || (unsigned)devs[i].use >= _HOSTPCI_USE_MAX || !use_names[devs[i].use])
                        return -EINVAL;
                w = snprintf(data + len, sizeof(data) - len, "%s %s\n", pci_addr_format(&devs[i].addr, b),
                             use_names[devs[i].use]);
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

/* Parses text[0..len): format 2 (a format line, then "BDF USE" lines) or format 1 (BDF lines);
 * counts into *ret_n, fills ret when non-NULL. */
static int parse_devices(const char *text, size_t len, struct state_device *ret, size_t max, size_t *ret_n)
{
        size_t pos = 0, n = 0;
        bool format2 = false;

        if (len >= sizeof(DEVICES_FORMAT_LINE) && memcmp(text, DEVICES_FORMAT_LINE "\n", sizeof(DEVICES_FORMAT_LINE)) == 0) {
                format2 = true;
                pos = sizeof(DEVICES_FORMAT_LINE);
        }
        while (pos < len) {
                const char *line = text + pos;
                const char *nl = memchr(line, '\n', len - pos);
                size_t l = nl ? (size_t)(nl - line) : len - pos;
                char buf[PCI_ADDR_STRLEN + 16], *use_s = NULL;
                struct state_device d = { .use = HOSTPCI_USE_UNKNOWN };

                pos += l + (nl ? 1 : 0);
                if (l == 0 || l >= sizeof(buf) || memchr(line, '\0', l))
                        return -EINVAL;
                memcpy(buf, line, l);
                buf[l] = '\0';
                if (format2) {
                        use_s = strchr(buf, ' ');
                        if (!use_s)
                                return -EINVAL;
                        *use_s++ = '\0';
                        if (use_from_name(use_s, &d.use) < 0)
                                return -EINVAL;
                }
                if (pci_addr_parse_full(buf, &d.addr) < 0)
                        return -EINVAL;
                if (n >= max)
                        return -E2BIG;
                if (ret)
                        ret[n] = d;
                n++;
        }
        *ret_n = n;
        return 0;
}

int state_load_vm_devices(const struct pgr_ctx *ctx, unsigned long vmid, struct state_device *ret, size_t max,
                          size_t *ret_n)
{
        _cleanup_free_ char *text = NULL;
        char name[STATE_NAME_MAX];
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
        char name[STATE_NAME_MAX];

        vm_devices_name(vmid, name, sizeof(name));
        return remove_file(ctx, name);
}

/* What proves the function stayed bound since: the kernel creates the driver link at every bind,
 * with a fresh inode (kernfs numbers never repeat soon) and change time. On vfio-pci now, or -EUCLEAN. */
static int bind_fingerprint(const struct pgr_ctx *ctx, const struct pci_addr *a, char *buf, size_t size)
{
        char path[PATH_MAX], bdf[PCI_ADDR_STRLEN], drv[64];
        struct stat st;
        int r;

        r = sysfs_dev_link(ctx, a, "driver", drv, sizeof(drv));
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT || !streq(drv, "vfio-pci"))
                return -EUCLEAN;
        r = pgr_pathf(ctx, path, sizeof(path), "/sys/bus/pci/devices/%s/driver", pci_addr_format(a, bdf));
        if (r < 0)
                return r;
        if (lstat(path, &st) < 0)
                return -errno;
        snprintf(buf, size, "%llu-%lld.%09ld", (unsigned long long)st.st_ino, (long long)st.st_ctim.tv_sec,
                 st.st_ctim.tv_nsec);
        return 0;
}

int state_mark_clean(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned long vmid, long long now)
{
        char name[STATE_NAME_MAX], data[160], fp[64];
        int n, r;

        if (a->func < 0)
                return -EINVAL;
        r = bind_fingerprint(ctx, a, fp, sizeof(fp));
        if (r < 0)
                return r;
        clean_name(a, name, sizeof(name));
        n = snprintf(data, sizeof(data), "format=2 vmid=%lu time=%lld bind=%s\n", vmid, now, fp);
        r = write_atomic(ctx, name, data, (size_t)n);
        if (r < 0)
                return r;
        /* The use this reset cleaned up after is over. A used mark that stays (removal failed) is
         * older than the clean mark, or as old: then the mark is not trusted, one reset too many. */
        used_name(a, name, sizeof(name));
        return remove_file(ctx, name);
}

int state_mark_used(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned long vmid, long long now)
{
        char name[STATE_NAME_MAX], data[96];
        int n, r, q;

        if (a->func < 0)
                return -EINVAL;
        /* Both: the used mark outlives a clean mark whose removal failed, and the removal covers a
         * used mark that could not be written. */
        used_name(a, name, sizeof(name));
        n = snprintf(data, sizeof(data), "vmid=%lu time=%lld\n", vmid, now);
        r = write_atomic(ctx, name, data, (size_t)n);
        clean_name(a, name, sizeof(name));
        q = remove_file(ctx, name);
        return r < 0 ? r : q;
}

/* text[0..len) must be exactly "format=2 vmid=N time=T bind=FP" with an optional final newline. */
static bool parse_clean_mark(const char *text, size_t len, long long *ret_time, char *fp, size_t fp_size)
{
        unsigned long vmid;
        long long t;
        int end = -1;
        char f[64];

        if (memchr(text, '\0', len) || fp_size < sizeof(f))
                return false;
        if (sscanf(text, "format=2 vmid=%lu time=%lld bind=%63[0-9.-]%n", &vmid, &t, f, &end) != 3 || end < 0)
                return false;
        if (!((size_t)end == len || ((size_t)end + 1 == len && text[end] == '\n')))
                return false;
        *ret_time = t;
        snprintf(fp, fp_size, "%s", f);
        return true;
}

/* The whole content must be "vmid=N time=T" with an optional final newline. */
static bool parse_used_mark(const char *text, size_t len, long long *ret_time)
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
        _cleanup_free_ char *text = NULL, *used = NULL;
        char name[STATE_NAME_MAX], fp[64], now_fp[64];
        size_t len;
        long long t, used_t;
        int r;

        if (a->func < 0)
                return false;
        clean_name(a, name, sizeof(name));
        if (read_file(ctx, name, SMALL_FILE_MAX, &text, &len) < 0)
                return false;
        /* A mark we cannot read is no mark: one reset too many is harmless, one too few is not. */
        if (!parse_clean_mark(text, len, &t, fp, sizeof(fp)))
                return false;
        if (since >= 0 && t <= since)
                return false;
        /* Rebound (or on another driver) since the reset: a host driver or another user had it. */
        if (bind_fingerprint(ctx, a, now_fp, sizeof(now_fp)) < 0 || !streq(fp, now_fp))
                return false;
        /* Handed to a VM since and never cleaned after (post-stop skipped, e.g. on a migration source). */
        used_name(a, name, sizeof(name));
        r = read_file(ctx, name, SMALL_FILE_MAX, &used, &len);
        if (r == -ENOENT)
                return true;
        if (r < 0 || !parse_used_mark(used, len, &used_t))
                return false;
        return used_t < t;
}

int state_autoprobe_guard_set(const struct pgr_ctx *ctx)
{
        char data[32];
        int n;

        n = snprintf(data, sizeof(data), "pid=%d\n", (int)getpid());
        return write_atomic(ctx, STATE_AUTOPROBE_GUARD, data, (size_t)n);
}

int state_autoprobe_guard_clear(const struct pgr_ctx *ctx)
{
        return remove_file(ctx, STATE_AUTOPROBE_GUARD);
}

long state_autoprobe_guard_pid(const struct pgr_ctx *ctx)
{
        _cleanup_free_ char *text = NULL;
        char buf[32];
        unsigned long pid;
        size_t len;
        int r;

        r = read_file(ctx, STATE_AUTOPROBE_GUARD, SMALL_FILE_MAX, &text, &len);
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

/* kind-attr-bdf: "restore" (what a run leaves) or "kernel" (what the kernel offered before any run). */
static int record_name(const char *kind, const struct pci_addr *a, const char *attr, char *buf, size_t size)
{
        char b[PCI_ADDR_STRLEN];
        int n;

        if (a->func < 0 || strchr(attr, '/'))
                return -EINVAL;
        n = snprintf(buf, size, "%s-%s-%s", kind, attr, pci_addr_format(a, b));
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int setting_name(const struct pci_addr *a, const char *attr, char *buf, size_t size)
{
        return record_name("restore", a, attr, buf, size);
}

/* One line, the newline stripped; -EINVAL when it is not exactly one line that fits. */
static int load_line(const struct pgr_ctx *ctx, const char *name, char *buf, size_t size)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

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

static int save_line(const struct pgr_ctx *ctx, const char *name, const char *value)
{
        char data[STATE_VALUE_MAX + 1];
        int n;

        if (strchr(value, '\n') || strlen(value) >= STATE_VALUE_MAX)
                return -EINVAL;
        n = snprintf(data, sizeof(data), "%s\n", value);
        return write_atomic(ctx, name, data, (size_t)n);
}

int state_kernel_methods_save(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *value)
{
        char name[96], old[STATE_VALUE_MAX];
        int r;

        r = record_name("kernel", a, "reset_method", name, sizeof(name));
        if (r < 0)
                return r;
        /* The first record holds the kernel's list; later the attribute holds our pin. */
        r = load_line(ctx, name, old, sizeof(old));
        if (r != -ENOENT)
                return r;
        return save_line(ctx, name, value);
}

int state_kernel_methods_load(const struct pgr_ctx *ctx, const struct pci_addr *a, char *buf, size_t size)
{
        char name[96];
        int r;

        r = record_name("kernel", a, "reset_method", name, sizeof(name));
        return r < 0 ? r : load_line(ctx, name, buf, size);
}

int state_kernel_methods_clear(const struct pgr_ctx *ctx, const struct pci_addr *a)
{
        char name[96];
        int r;

        r = record_name("kernel", a, "reset_method", name, sizeof(name));
        return r < 0 ? r : remove_file(ctx, name);
}

int state_setting_save(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, const char *value)
{
        char name[96], old[STATE_VALUE_MAX];
        int r;

        r = setting_name(a, attr, name, sizeof(name));
        if (r < 0)
                return r;
        if (strchr(value, '\n') || strlen(value) >= STATE_VALUE_MAX)
                return -EINVAL;
        /* An interrupted run's record holds the value from before it; the attribute may not. */
        r = state_setting_load(ctx, a, attr, old, sizeof(old));
        if (r != -ENOENT)
                return r;
        return save_line(ctx, name, value);
}

int state_setting_replace(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, const char *value)
{
        char name[96];
        int r;

        r = setting_name(a, attr, name, sizeof(name));
        return r < 0 ? r : save_line(ctx, name, value);
}

int state_setting_load(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf, size_t size)
{
        char name[96];
        int r;

        r = setting_name(a, attr, name, sizeof(name));
        return r < 0 ? r : load_line(ctx, name, buf, size);
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
        int r;

        *ret_n = 0;
        r = pgr_path(ctx, dir, sizeof(dir), STATE_DIR);
        if (r < 0)
                return r;
        snprintf(prefix, sizeof(prefix), "restore-%s-", attr);
        r = pci_addr_list_dir(dir, prefix, ret, max, ret_n);
        return r == -ENOENT ? 0 : r;
}

static int link_name(const struct pci_addr *a, char *buf, size_t size)
{
        char b[PCI_ADDR_STRLEN];
        int n;

        if (a->func < 0)
                return -EINVAL;
        n = snprintf(buf, size, "link-%s", pci_addr_format(a, b));
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int state_link_save(const struct pgr_ctx *ctx, const struct pci_addr *a, const struct state_link *l)
{
        char name[64], line[64];
        int r;

        r = link_name(a, name, sizeof(name));
        if (r < 0)
                return r;
        snprintf(line, sizeof(line), "width=%u speed=%u", l->width, l->speed_mts);
        return save_line(ctx, name, line);
}

int state_link_load(const struct pgr_ctx *ctx, const struct pci_addr *a, struct state_link *ret)
{
        char name[64], line[STATE_VALUE_MAX], tail;
        unsigned width, speed;
        int r;

        r = link_name(a, name, sizeof(name));
        if (r < 0)
                return r;
        r = load_line(ctx, name, line, sizeof(line));
        if (r < 0)
                return r;
        if (sscanf(line, "width=%5u speed=%6u%c", &width, &speed, &tail) != 2 || width == 0 || width > 32)
                return -EINVAL;
        ret->width = width;
        ret->speed_mts = speed;
        return 0;
}
