/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"

#define MAPPING_MAX_PATHS 16
#define MAPPING_MAX_SIZE (1024 * 1024)
#define MAPPING_MAX_WARNINGS 32

/* One "map" line of a /etc/pve/mapping/pci.cfg section that PVE::Mapping::PCI's $map_fmt accepts
 * (node, id and path required). The ids are kept as written: assert_valid compares text. */
struct mapping_map {
        char *node;
        size_t n_paths;
        struct pci_addr paths[MAPPING_MAX_PATHS]; /* func -1 = whole slot */
        /* Set when the path has an element after paths[n_paths - 1] we do not hold: -ENODEV for one
         * Linux never names (device >= 0x20, function >= 8, a domain with a leading zero...: Proxmox
         * finds no such device), -EOPNOTSUPP for a real one beyond us (more than MAPPING_MAX_PATHS paths). */
        int path_problem;
        char path_problem_elem[48];     /* that element, quoted */
        char id[10];                    /* "VVVV:DDDD" */
        char subsystem_id[10];          /* "" when not given */
        char iommugroup[24];            /* decimal as written, "" when not given */
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
        /* Why the file could not be read at all (only a VM using a mapping cares), or "". */
        char error[384];
        /* What Proxmox warns about and skips ("file:line: ..."), the first MAPPING_MAX_WARNINGS. */
        size_t n_warnings, n_warnings_dropped;
        char *warnings[MAPPING_MAX_WARNINGS];
};

/* Parses pci.cfg text (len bytes, never read past) exactly as pve-common's SectionConfig
 * parse_config and PVE::Mapping::PCI do: a section is its name alone on a line at column 0 (a
 * pve-configid), then indented properties: "map K=V,..." (alternatives, in order), "description
 * TEXT", "mdev [0|1]", "live-migration-capable [0|1]". Only an empty line (or "0") ends a section;
 * '#' lines are comments. Every line Proxmox warns about and skips is skipped with a warning in
 * ret->warnings; a later section of the same name replaces an earlier one. Errors: -EFBIG (more than
 * MAPPING_MAX_SIZE), -ENOMEM. */
int mapping_parse(const char *text, size_t len, const char *filename, struct mapping_file **ret,
                  struct pgr_error *err);
/* /etc/pve/mapping/pci.cfg under the root prefix; a missing file is an empty mapping set. A file that
 * cannot be read gives an empty set with ret->error saying why (mapping_resolve reports it for each
 * mapping asked for). Only -ENOMEM is returned. Callers read it only for a VM that uses a mapping,
 * as qemu-server does. */
int mapping_load(const struct pgr_ctx *ctx, struct mapping_file **ret, struct pgr_error *err);
void mapping_file_free(struct mapping_file *f);
static inline void mapping_file_freep(struct mapping_file **f) { mapping_file_free(*f); }

/* The section Proxmox would use for NAME: the last one of that name. */
const struct mapping *mapping_find(const struct mapping_file *f, const char *name);

/* Resolves NAME for ctx->node the way qemu-server's parse_hostpci and choose_hostpci_devices do at
 * VM start: every "map" line for this node must pass PVE::Mapping::PCI::assert_valid (each path
 * present — function 0 for a path without function — with id, subsystem-id and mdev matching and
 * the first path in the configured iommugroup, all compared as Proxmox compares them), else the
 * start is refused ("hardware probably changed"). Then the first line for which usable() (may be
 * NULL) says yes for every path wins; usable() gets the paths as configured (func -1 = whole slot).
 * Copies that line's paths to ret_paths.
 * -ENOENT: no such mapping or no line for this node; -ENODEV: a line does not match the hardware
 * (err says which device and property); -EBUSY: all lines valid but none usable; -EOPNOTSUPP: a
 * line names a device Proxmox may use but we cannot hold (do not touch the mapping); -EIO: the file
 * could not be read (f->error). */
int mapping_resolve(const struct pgr_ctx *ctx, const struct mapping_file *f, const char *name,
                    bool (*usable)(const struct pci_addr *a, void *userdata), void *userdata,
                    struct pci_addr ret_paths[static MAPPING_MAX_PATHS], size_t *ret_n, struct pgr_error *err);

/* One way a map line differs from the hardware (PVE::Mapping::PCI::assert_valid's checks). */
struct mapping_mismatch {
        const struct mapping *mapping;
        const struct mapping_map *map;
        const char *property; /* "path", "id", "iommugroup", "mdev", "subsystem-id" */
        const char *bdf;      /* the device checked */
        const char *found;    /* what sysfs has ("" none) */
        const char *expected; /* what the map line says ("" not given) */
        const char *message;  /* the whole sentence */
};
typedef void (*mapping_mismatch_fn)(const struct mapping_mismatch *mm, void *userdata);

/* assert_valid for every map line of NAME on ctx->node, reporting every mismatch to fn (not only
 * the first, as mapping_resolve does) and counting them in *ret_n_mismatches (may be NULL).
 * 0: all match; -ENODEV: mismatches (err holds the first); -ENOENT, -EIO, -EOPNOTSUPP as for
 * mapping_resolve. */
int mapping_check(const struct pgr_ctx *ctx, const struct mapping_file *f, const char *name, mapping_mismatch_fn fn,
                  void *userdata, unsigned *ret_n_mismatches, struct pgr_error *err);

/* The pvesh command that rewrites mapping m with property of map line `fixed` set to value (every
 * other map line as it is): "pvesh set /cluster/mapping/pci/NAME --map '...' ...". -ENOSPC if buf
 * is too small. */
int mapping_fix_command(const struct mapping *m, const struct mapping_map *fixed, const char *property,
                        const char *value, char *buf, size_t size);
