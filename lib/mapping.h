/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bdf.h"
#include "context.h"
#include "util.h"

#define MAPPING_MAX_PATHS 16

/* One "map" line of a /etc/pve/mapping/pci.cfg section. */
struct mapping_map {
        char *node;
        size_t n_paths;
        struct pci_addr paths[MAPPING_MAX_PATHS]; /* domain mandatory; func -1 = whole slot */
        bool has_id;
        unsigned vendor, device;
        bool has_subsystem;
        unsigned sub_vendor, sub_device;
        int iommugroup; /* -1 when not given */
        char *description;
        unsigned line;
};

struct mapping {
        char *name;
        size_t n_maps;
        struct mapping_map *maps;
        bool mdev;   /* "mdev 1" property */
        unsigned line;
};

struct mapping_file {
        char path[PATH_MAX];
        size_t n_mappings;
        struct mapping *mappings;
};

int mapping_parse(const char *text, size_t len, const char *filename, struct mapping_file **ret,
                  struct pgr_error *err);
/* /etc/pve/mapping/pci.cfg under the root prefix; a missing file is an empty mapping set. */
int mapping_load(const struct pgr_ctx *ctx, struct mapping_file **ret, struct pgr_error *err);
void mapping_file_free(struct mapping_file *f);
static inline void mapping_file_freep(struct mapping_file **f) { mapping_file_free(*f); }

const struct mapping *mapping_find(const struct mapping_file *f, const char *name);

/* Resolves NAME for ctx->node: the first "map" line for this node whose device is present, matches
 * id/subsystem-id/iommugroup in sysfs, and for which usable() (may be NULL) says yes — Proxmox's
 * "first free wins". Copies that line's paths to ret_paths. -ENOENT: no such mapping or no line for
 * this node; -ENODEV: lines exist but none matches the hardware (err says which property differs). */
int mapping_resolve(const struct pgr_ctx *ctx, const struct mapping_file *f, const char *name,
                    bool (*usable)(const struct pci_addr *a, void *userdata), void *userdata,
                    struct pci_addr ret_paths[static MAPPING_MAX_PATHS], size_t *ret_n, struct pgr_error *err);
