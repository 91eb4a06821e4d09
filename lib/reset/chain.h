/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <limits.h>

#include "base/context.h"
#include "base/util.h"

/* A VM's attach state: the hookscript the VM had when `attach` made pve-gpu-reset its hookscript,
 * which the hook runs after its own work ("chains") and `detach` gives back. One file per VM,
 * /etc/pve-gpu-reset.d/vm-<vmid>.json (under the root prefix), owned by the tool:
 *
 *   {"format": 1, "vmid": 101, "hookscript": "/var/lib/vz/snippets/hook.sh",
 *    "volid": "local:snippets/hook.sh"}
 *
 * hookscript is the host path the hook runs; volid is what the VM config said, which detach sets
 * again. Keys starting with '_' are comments; other unknown keys are ignored, so a newer version's
 * file still chains after a downgrade (an incompatible change raises "format").
 * Not in the policy file: that is the admin's conffile (dpkg asks on upgrade when it changed) and
 * attach would need to edit it in place. 0.1 kept the chain there as vms.<vmid>.hookscript; the
 * policy loader still reads that when a VM has no file here (policy.h). Written atomically (temp
 * file, fsync, rename) under attach.lock (lock_attach), which attach/detach hold. */

#define CHAIN_DIR "/etc/pve-gpu-reset.d"
#define CHAIN_MAX_SIZE 16384
#define CHAIN_FORMAT 1
#define CHAIN_SHOWN_MAX (sizeof(CHAIN_DIR) + 32)

struct chain {
        unsigned long vmid;
        char hookscript[PATH_MAX];      /* absolute host path */
        char volid[PATH_MAX];           /* "local:snippets/hook.sh" */
};

/* "/etc/pve-gpu-reset.d/vm-101.json" (no root prefix: as shown to the user). */
const char *chain_path(unsigned long vmid, char buf[static CHAIN_SHOWN_MAX]);

/* The text of vm-<vmid>.json; name is for messages. -EINVAL (err: "NAME: key: what is wrong"). */
int chain_parse(const char *text, size_t len, const char *name, unsigned long vmid, struct chain *ret,
                struct pgr_error *err);
/* The VM's state: -ENOENT none (err set too), -EINVAL malformed, -EPERM not root's (read_trusted_file). */
int chain_load(const struct pgr_ctx *ctx, unsigned long vmid, struct chain *ret, struct pgr_error *err);
/* Writes c atomically, creating CHAIN_DIR. The caller holds attach.lock. */
int chain_save(const struct pgr_ctx *ctx, const struct chain *c, struct pgr_error *err);
/* Removes the VM's file; none is fine. The caller holds attach.lock. */
int chain_remove(const struct pgr_ctx *ctx, unsigned long vmid, struct pgr_error *err);
