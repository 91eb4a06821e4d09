/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* The seam for sysfs I/O: tests replace it to make a write fail (EINVAL, ENOTTY, EBUSY...) or to
 * imitate the kernel's reaction. Paths are full host paths (root prefix already applied). */
struct pgr_sysfs_ops {
        /* Reads at most size-1 bytes, NUL-terminates; returns bytes read or -errno. */
        int (*read)(void *userdata, const char *path, char *buf, size_t size);
        /* Writes value in one write(2); returns 0 or -errno. */
        int (*write)(void *userdata, const char *path, const char *value);
};

/* Everything a run needs to know about where it is. The root prefix is the only state that
 * changes where files are found: "" on a host, a fixture tree in tests, "/" in the e2e guest. */
struct pgr_ctx {
        char root[PATH_MAX];
        char node[256]; /* Proxmox node name: --node, else the short host name */
        const struct pgr_sysfs_ops *ops;
        void *ops_userdata;
};

extern const struct pgr_sysfs_ops pgr_sysfs_ops_real;

/* root: NULL → $PVE_GPU_RESET_ROOT, else the real root. node: NULL → short host name. */
int pgr_ctx_init(struct pgr_ctx *ctx, const char *root, const char *node);

/* Builds root + abs (abs must start with '/'). -ENAMETOOLONG if it does not fit. */
int pgr_path(const struct pgr_ctx *ctx, char *buf, size_t size, const char *abs);
int pgr_pathf(const struct pgr_ctx *ctx, char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* read_full_file() and access(F_OK) of the host path abs under the root. */
int pgr_read_file(const struct pgr_ctx *ctx, const char *abs, size_t max, char **ret, size_t *ret_len);
bool pgr_exists(const struct pgr_ctx *ctx, const char *abs);

/* The root-only directory for every runtime file: locks, the state pre-start leaves for post-stop,
 * the drivers_autoprobe guard. Never /run/lock: that is 1777, and a directory any local user can
 * create first would refuse every start from then on. */
#define PGR_RUNTIME_DIR "/run/pve-gpu-reset"

struct pgr_error;
/* Opens <root>/run/pve-gpu-reset (O_DIRECTORY), creating it mode 0700 when missing, and checks it
 * is a directory (not a symlink: -ELOOP; something else: -ENOTDIR) owned by our uid without group or
 * other write (-EPERM); one that passes but is readable by others (0755 from an older version) is
 * made 0700. ret_path (may be NULL) gets its host path. Returns the fd, or -errno with err
 * saying what is wrong and how to fix it. */
int pgr_runtime_dir_open(const struct pgr_ctx *ctx, char *ret_path, size_t size, struct pgr_error *err);
