/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>

#include "base/context.h"
#include "base/util.h"
#include "pve/storagecfg.h"

/* `attach VMID [--storage S]` / `detach VMID`: make this binary the VM's Proxmox hookscript and
 * undo it, keeping a hookscript the VM already had as the chained one, recorded in the VM's attach
 * state /etc/pve-gpu-reset.d/vm-<vmid>.json (chain.h). The policy file /etc/pve-gpu-reset.json is
 * never written: detach only reads a vms.<vmid>.hookscript that 0.1's attach recorded there.
 *
 * The snippet is <storage path>/snippets/pve-gpu-reset: a symlink to self_path on a local
 * directory storage, a copy on a shared one (a link to /usr/sbin would dangle on other nodes).
 * The VM config changes only through `qm set`, found on $PATH and run without a shell.
 *
 * Errors (err says what, naming the file, key or storage):
 *   -EINVAL  bad input: VMID, storage unknown/disabled/not on this node/without snippets, no
 *            storage with snippets, an existing hookscript, or (detach) an attach state or policy
 *            file that cannot be used
 *   -ENOENT  the VM has no config on this node (from vmconf_load; exit 1, as for plan)
 *   -ENOEXEC qm is not on $PATH
 *   -EIO     qm ran and failed (err carries its output)
 *   -ETIMEDOUT another attach/detach held /run/pve-gpu-reset/attach.lock for 120 s (err names it)
 *   other    an I/O error on the snippet or the attach state
 * The CLI maps -EINVAL to exit 2, everything else to exit 1. */

struct attach_result {
        bool already;                   /* attach: was attached already; detach: was not attached */
        bool copied;                    /* the snippet is a copy (shared storage), not a symlink */
        bool no_hostpci;                /* attach: the VM has no hostpciN, the hook will do nothing */
        char storage[STORAGE_ID_MAX];   /* where the snippet is (attach) or was (detach) */
        char volid[STORAGE_ID_MAX + 32];/* "local:snippets/pve-gpu-reset" */
        char snippet[PATH_MAX];         /* host path of the snippet */
        char target[PATH_MAX];          /* attach: the binary it links to or copies */
        char chained[PATH_MAX];         /* attach: recorded; detach: restored ("" none) */
        char chained_volid[PATH_MAX];   /* its volume id ("" none) */
        char chained_in[PATH_MAX];      /* detach: the policy file it came from (0.1 recorded chains
                                         * there; the key is left, the file is the admin's); "" when it
                                         * came from the attach state, which detach removes */
};

struct attach_options {
        const char *storage;     /* --storage; NULL: "local" if it has snippets, else the first that has */
        const char *self_path;   /* the binary to link/copy, a real path (not under the root prefix);
                                  * NULL: this running binary (/proc/self/exe) */
        const char *policy_path; /* detach: --config, where a chain recorded by 0.1 is looked for
                                  * (policy_config_path: NULL is the file the hook reads) */
};

/* Idempotent: already attached on that storage → ret->already, the snippet is repaired, qm not run.
 * ret may be NULL. */
int attach_vm_opts(const struct pgr_ctx *ctx, unsigned long vmid, const struct attach_options *o,
                   struct attach_result *ret, struct pgr_error *err);
/* Restores the chained hookscript (qm set --hookscript) or removes ours (qm set --delete
 * hookscript), then removes the VM's attach state. Not attached → ret->already.
 * Only o->policy_path is used. */
int detach_vm_opts(const struct pgr_ctx *ctx, unsigned long vmid, const struct attach_options *o,
                   struct attach_result *ret, struct pgr_error *err);

/* `attach --refresh` (the package's postinst runs it on configure): a copy on a shared storage is
 * not updated by a package upgrade, so fixes would never reach the VMs that run it. For every
 * storage's snippets/pve-gpu-reset: a copy of an older or equal version whose bytes differ from this
 * binary is replaced, atomically (temp file + rename in that directory). A symlink is left alone
 * (always current); a file that is not a pve-gpu-reset binary (ATTACH_REFRESH_FOREIGN) is never
 * touched; a newer copy is never downgraded. Copies are recognised by the marker line every build
 * carries ("PVE-GPU-RESET-BINARY-MARKER version=V"), builds from before the marker by their journal
 * message ids. */
#define ATTACH_INSTALLED_PATH "/usr/sbin/pve-gpu-reset"
#define ATTACH_VERSION_MAX 32

enum attach_refresh_state {
        ATTACH_REFRESH_DONE,    /* replaced by this binary */
        ATTACH_REFRESH_CURRENT, /* already this binary */
        ATTACH_REFRESH_NEWER,   /* a newer version: left alone */
        ATTACH_REFRESH_LINK,    /* a symlink: always current */
        ATTACH_REFRESH_FOREIGN, /* not a pve-gpu-reset binary: never touched */
        ATTACH_REFRESH_FAILED,  /* error says why */
};

struct attach_refresh_item {
        char volid[STORAGE_ID_MAX + 32];       /* "nas:snippets/pve-gpu-reset" */
        char snippet[PATH_MAX];                /* host path */
        char version[ATTACH_VERSION_MAX];      /* the copy's version as found ("" unknown) */
        enum attach_refresh_state state;
        int error;                             /* errno for ATTACH_REFRESH_FAILED */
};

/* self_path: the binary to copy (NULL: this one). Fills up to max items, *ret_n says how many were
 * found (may exceed max). Fails only when nothing could be looked at (self, storage.cfg, the lock);
 * a copy that could not be replaced is an ATTACH_REFRESH_FAILED item. */
int attach_refresh(const struct pgr_ctx *ctx, const char *self_path, struct attach_refresh_item *ret, size_t max,
                   size_t *ret_n, struct pgr_error *err);

/* path is a pve-gpu-reset binary, of any version (by its marker, or its message ids). */
bool attach_is_pgr_binary(const char *path);

/* For the hook: 1 when the running binary is not <root>/usr/sbin/pve-gpu-reset and that one is a
 * newer version (ret_installed: its host path, ret_version: its version); 0 otherwise, including
 * when it cannot be told (a check that cannot be made is no warning). */
int attach_stale_copy(const struct pgr_ctx *ctx, char *ret_installed, size_t size,
                      char ret_version[ATTACH_VERSION_MAX]);
