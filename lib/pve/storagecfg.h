/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/context.h"
#include "base/util.h"

/* /etc/pve/storage.cfg as PVE::Storage::Plugin reads it: "type: id" section headers, indented
 * "key value" properties, a blank line ends a section, "#" lines are comments. Only what a
 * hookscript needs is kept: where a storage's snippets live and whether the node can read them. */

#define STORAGECFG_PATH "/etc/pve/storage.cfg"
#define STORAGECFG_MAX_SIZE (1024 * 1024)
#define STORAGE_ID_MAX 64
/* The name the hook has in a snippets directory ("local:snippets/pve-gpu-reset"): attach writes it,
 * doctor looks for it. */
#define HOOK_SNIPPET_NAME "pve-gpu-reset"

struct storage {
        char id[STORAGE_ID_MAX];
        char type[32];          /* lower case: dir, nfs, cifs, cephfs, btrfs, lvmthin, zfspool... */
        char *path;             /* "path" (file-level storages), NULL when absent */
        char *snippets_subdir;  /* "content-dirs snippets=..." override, NULL: "snippets" */
        char *nodes;            /* "nodes" comma list, NULL: every node */
        char *content;          /* "content" as written, NULL when absent (for messages) */
        bool snippets;          /* "snippets" is in "content" */
        bool shared;            /* "shared 1", or a network storage type */
        bool disabled;          /* "disable" */
        bool builtin;           /* the "local" Proxmox supplies when the file lacks a usable one */
        unsigned line;          /* line of the section header, 0 for the built-in */
};

struct storagecfg {
        size_t n;
        struct storage *v;      /* in file order, except the built-in "local", which comes first */
};

/* Parses the text as Proxmox does, including its fix-ups: lines Proxmox ignores with a warning are
 * ignored; the first section of a duplicated id wins; "local" is forced to be the dir storage at
 * /var/lib/vz and, when the file lacks it, gets Proxmox's built-in content list (which includes
 * snippets). filename is only for messages. -ENOMEM is the only failure. */
int storagecfg_parse(const char *text, size_t len, const char *filename, struct storagecfg **ret,
                     struct pgr_error *err);
/* Reads STORAGECFG_PATH under the root prefix; a missing file yields Proxmox's built-in "local". */
int storagecfg_load(const struct pgr_ctx *ctx, struct storagecfg **ret, struct pgr_error *err);
void storagecfg_free(struct storagecfg *c);
static inline void storagecfg_freep(struct storagecfg **c) { storagecfg_free(*c); }

const struct storage *storagecfg_find(const struct storagecfg *c, const char *id);
/* A type that holds files (dir, btrfs, nfs, cifs, cephfs, glusterfs), so it may hold snippets. */
bool storage_holds_files(const struct storage *s);
/* Enabled and not restricted away from this node. */
bool storage_usable_on(const struct storage *s, const char *node);
/* Host path (no root prefix) of the storage's snippets directory. -ENOENT when it has no path. */
int storage_snippets_dir(const struct storage *s, char *buf, size_t size);

/* Proxmox volume ids: "storage:snippets/name". Splits a snippets volume id; -EINVAL when the
 * text is not one (bad storage id, not in snippets/, a name with '/'). */
int snippet_volid_parse(const char *volid, char ret_storage[STORAGE_ID_MAX], const char **ret_name);
/* "local:snippets/x" → "/var/lib/vz/snippets/x" (host path). -ENOENT: unknown storage, or one
 * without a path; err says which. */
int storagecfg_volid_path(const struct storagecfg *c, const char *volid, char *buf, size_t size,
                          struct pgr_error *err);
/* The reverse: a host path inside a snippets directory → its volume id. Storages with snippets
 * content and usable on node are preferred, "local" first. -ENOENT when no storage holds it. */
int storagecfg_path_volid(const struct storagecfg *c, const char *path, const char *node, char *buf,
                          size_t size);
