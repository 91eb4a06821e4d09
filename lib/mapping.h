/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bdf.h"
#include "context.h"
#include "util.h"

#define MAPPING_MAX_PATHS 16
#define MAPPING_MAX_SIZE (1024 * 1024)

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
        bool live_migration_capable; /* "live-migration-capable 1" */
        char *description;           /* section "description TEXT", or NULL */
        unsigned line;
};

struct mapping_file {
        char path[PATH_MAX];
        size_t n_mappings;
        struct mapping *mappings;
};

/* Parses pci.cfg text (len bytes, never read past). A section is its name alone on a line at column 0
 * ([a-z][a-z0-9_-]+), then indented properties: "map K=V,..." (node and path required, path with
 * domain; id, subsystem-id, iommugroup, description optional; several map lines are alternatives, in
 * order), "description TEXT", "mdev B", "live-migration-capable B". A blank line ends the section,
 * '#' lines (indented or not) are comments, CRLF is fine. Where Proxmox warns and skips, this refuses
 * with filename:line: unknown or duplicate properties, a bare line inside a section, an indented line
 * outside one, duplicate section names, NUL bytes (-EINVAL); more than MAPPING_MAX_SIZE (-EFBIG). */
int mapping_parse(const char *text, size_t len, const char *filename, struct mapping_file **ret,
                  struct pgr_error *err);
/* /etc/pve/mapping/pci.cfg under the root prefix; a missing file is an empty mapping set. */
int mapping_load(const struct pgr_ctx *ctx, struct mapping_file **ret, struct pgr_error *err);
void mapping_file_free(struct mapping_file *f);
static inline void mapping_file_freep(struct mapping_file **f) { mapping_file_free(*f); }

const struct mapping *mapping_find(const struct mapping_file *f, const char *name);

/* Resolves NAME for ctx->node the way qemu-server does at VM start: every "map" line for this node
 * must match the hardware (each path present — function 0 for a path without function — with the
 * configured id and subsystem-id, and the first path in the configured iommugroup; a property sysfs
 * has but the line lacks is "missing", as in PVE::Mapping::PCI::assert_valid), else the start is
 * refused ("hardware probably changed"). Then the first line for which usable() (may be NULL) says
 * yes for every path wins ("first free wins"); usable() gets the paths as configured (func -1 =
 * whole slot). Copies that line's paths to ret_paths.
 * -ENOENT: no such mapping or no line for this node; -ENODEV: a line does not match the hardware
 * (err says which device and property); -EBUSY: all lines valid but none usable. */
int mapping_resolve(const struct pgr_ctx *ctx, const struct mapping_file *f, const char *name,
                    bool (*usable)(const struct pci_addr *a, void *userdata), void *userdata,
                    struct pci_addr ret_paths[static MAPPING_MAX_PATHS], size_t *ret_n, struct pgr_error *err);
