/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /etc/pve/mapping/pci.cfg (PVE::Mapping::PCI, a PVE::SectionConfig): a bare section name at column 0,
 * indented properties, a blank line ends the section, '#' comments. Where Proxmox only warns and
 * skips a line we refuse the file: a skipped line could hand us the wrong device. */
#include "mapping.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sysfs.h"
#include "vmconf.h"

static void map_done(struct mapping_map *m)
{
        free(m->node);
        free(m->description);
}

static void mapping_done(struct mapping *m)
{
        for (size_t i = 0; i < m->n_maps; i++)
                map_done(&m->maps[i]);
        free(m->maps);
        free(m->name);
        free(m->description);
}

void mapping_file_free(struct mapping_file *f)
{
        if (!f)
                return;
        for (size_t i = 0; i < f->n_mappings; i++)
                mapping_done(&f->mappings[i]);
        free(f->mappings);
        free(f);
}

const struct mapping *mapping_find(const struct mapping_file *f, const char *name)
{
        if (!f || !name)
                return NULL;
        for (size_t i = 0; i < f->n_mappings; i++)
                if (streq(f->mappings[i].name, name))
                        return &f->mappings[i];
        return NULL;
}

static bool slice_is(const char *s, size_t n, const char *lit)
{
        return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* VVVV:DDDD, exactly four hex digits each (PVE: ^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$). */
static bool parse_id_pair(const char *s, size_t n, unsigned *ret_a, unsigned *ret_b)
{
        unsigned v[2] = { 0, 0 };

        if (n != 9 || s[4] != ':')
                return false;
        for (size_t i = 0; i < 9; i++) {
                if (i == 4)
                        continue;
                if (!isxdigit((unsigned char)s[i]))
                        return false;
                v[i > 4] = v[i > 4] * 16 + (unsigned)(isdigit((unsigned char)s[i]) ? s[i] - '0'
                                                                                 : tolower((unsigned char)s[i]) - 'a' + 10);
        }
        *ret_a = v[0];
        *ret_b = v[1];
        return true;
}

/* pve-node: a host name, labels of [A-Za-z0-9-] not starting or ending with '-'. */
static bool node_valid(const char *s, size_t n)
{
        size_t start = 0;

        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i <= n; i++) {
                if (i == n || s[i] == '.') {
                        if (i == start || s[start] == '-' || s[i - 1] == '-')
                                return false;
                        start = i + 1;
                } else if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                        return false;
        }
        return true;
}

/* One "map" value: node=...,path=...[,id=...][,subsystem-id=...][,iommugroup=N][,description=...].
 * Errors go to why, without file:line. */
static int map_parse(const char *value, size_t len, struct mapping_map *ret, char *why, size_t why_size)
{
        static const char *const keys[] = { "node", "path", "id", "subsystem-id", "iommugroup", "description" };
        bool seen[ELEMENTSOF(keys)] = {};
        struct mapping_map m = { .iommugroup = -1 };
        char qk[VMCONF_QUOTE_MAX], qv[VMCONF_QUOTE_MAX];
        size_t start = 0;
        int r = -EINVAL;

        for (size_t i = 0; i <= len; i++) {
                const char *part, *eq, *v;
                size_t pn, kn, vn, ki;
                bool blank = true;

                if (i < len && value[i] != ',')
                        continue;
                part = value + start;
                pn = i - start;
                start = i + 1;
                for (size_t j = 0; j < pn; j++)
                        if (!isspace((unsigned char)part[j]))
                                blank = false;
                if (blank)
                        continue;
                eq = memchr(part, '=', pn);
                if (!eq) {
                        snprintf(why, why_size, "'%s' is not key=value", vmconf_quote(part, pn, qk, sizeof(qk)));
                        goto fail;
                }
                kn = (size_t)(eq - part);
                v = eq + 1;
                vn = pn - kn - 1;
                vmconf_quote(part, kn, qk, sizeof(qk));
                vmconf_quote(v, vn, qv, sizeof(qv));
                for (ki = 0; ki < ELEMENTSOF(keys); ki++)
                        if (slice_is(part, kn, keys[ki]))
                                break;
                if (ki == ELEMENTSOF(keys)) {
                        snprintf(why, why_size, "unknown map property '%s'", qk);
                        goto fail;
                }
                if (seen[ki]) {
                        snprintf(why, why_size, "duplicate map property '%s'", qk);
                        goto fail;
                }
                seen[ki] = true;
                if (vn == 0) {
                        snprintf(why, why_size, "empty value for '%s'", qk);
                        goto fail;
                }
                switch (ki) {
                case 0:
                        if (!node_valid(v, vn)) {
                                snprintf(why, why_size, "invalid node name '%s'", qv);
                                goto fail;
                        }
                        m.node = strndup(v, vn);
                        if (!m.node) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        break;
                case 1: {
                        char inner[256];

                        r = vmconf_pci_ids_parse(v, vn, true, m.paths, MAPPING_MAX_PATHS, &m.n_paths, inner,
                                                 sizeof(inner));
                        if (r < 0) {
                                snprintf(why, why_size, "path: %s", inner);
                                r = -EINVAL;
                                goto fail;
                        }
                        r = -EINVAL;
                        break;
                }
                case 2:
                        if (!parse_id_pair(v, vn, &m.vendor, &m.device)) {
                                snprintf(why, why_size, "invalid id '%s' (expected VVVV:DDDD)", qv);
                                goto fail;
                        }
                        m.has_id = true;
                        break;
                case 3:
                        if (!parse_id_pair(v, vn, &m.sub_vendor, &m.sub_device)) {
                                snprintf(why, why_size, "invalid subsystem-id '%s' (expected VVVV:DDDD)", qv);
                                goto fail;
                        }
                        m.has_subsystem = true;
                        break;
                case 4: {
                        long g = 0;

                        for (size_t j = 0; j < vn; j++) {
                                if (!isdigit((unsigned char)v[j]) || j >= 9) {
                                        snprintf(why, why_size, "invalid iommugroup '%s' (expected a number)", qv);
                                        goto fail;
                                }
                                g = g * 10 + (v[j] - '0');
                        }
                        m.iommugroup = (int)g;
                        break;
                }
                default:
                        m.description = strndup(v, vn);
                        if (!m.description) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        break;
                }
        }
        if (!m.node) {
                snprintf(why, why_size, "map without 'node'");
                goto fail;
        }
        if (m.n_paths == 0) {
                snprintf(why, why_size, "map without 'path'");
                goto fail;
        }
        *ret = m;
        return 0;
fail:
        map_done(&m);
        return r;
}

struct name_line {
        const char *name;
        unsigned line;
};

static int cmp_name_line(const void *a, const void *b)
{
        const struct name_line *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c ? c : (x->line < y->line ? -1 : x->line > y->line);
}

/* Sorting instead of a pairwise scan keeps a 1 MiB file of tiny sections fast. */
static int check_duplicates(const struct mapping_file *f, const char *filename, struct pgr_error *err)
{
        _cleanup_free_ struct name_line *v = NULL;

        if (f->n_mappings < 2)
                return 0;
        v = malloc(f->n_mappings * sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_mappings; i++)
                v[i] = (struct name_line){ f->mappings[i].name, f->mappings[i].line };
        qsort(v, f->n_mappings, sizeof(*v), cmp_name_line);
        for (size_t i = 1; i < f->n_mappings; i++)
                if (streq(v[i - 1].name, v[i].name)) {
                        pgr_error_set(err, "%s:%u: duplicate mapping '%s' (first at line %u)", filename, v[i].line,
                                      v[i].name, v[i - 1].line);
                        return -EINVAL;
                }
        return 0;
}

int mapping_parse(const char *text, size_t len, const char *filename, struct mapping_file **ret,
                  struct pgr_error *err)
{
        _cleanup_(mapping_file_freep) struct mapping_file *f = NULL;
        size_t cap = 0, pos = 0, cur = SIZE_MAX, map_cap = 0;
        bool seen_descr = false, seen_mdev = false, seen_lm = false;
        unsigned lineno = 0;
        int r;

        if (!filename)
                filename = "(pci.cfg)";
        r = text_check(text, len, MAPPING_MAX_SIZE, filename, "", err);
        if (r < 0)
                return r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        snprintf(f->path, sizeof(f->path), "%s", filename);

        while (pos < len) {
                const char *line = text + pos, *eol = memchr(line, '\n', len - pos);
                size_t n = eol ? (size_t)(eol - line) : len - pos, i = 0, kn, vn;
                const char *k, *v;
                char q[VMCONF_QUOTE_MAX];
                struct mapping *m;

                pos += n + (eol ? 1 : 0);
                lineno++;
                while (n > 0 && line[n - 1] == '\r')
                        n--;
                while (i < n && isspace((unsigned char)line[i]))
                        i++;
                if (i == n) { /* a blank line ends the section */
                        cur = SIZE_MAX;
                        continue;
                }
                if (line[i] == '#')
                        continue;

                if (i == 0) { /* section header: the mapping's name alone on its line */
                        size_t nn = 0;

                        if (cur != SIZE_MAX) {
                                pgr_error_set(err,
                                              "%s:%u: '%s' inside section '%s': properties must be indented and "
                                              "sections separated by a blank line",
                                              filename, lineno, vmconf_quote(line, n, q, sizeof(q)),
                                              f->mappings[cur].name);
                                return -EINVAL;
                        }
                        while (nn < n && !isspace((unsigned char)line[nn]))
                                nn++;
                        for (size_t j = nn; j < n; j++)
                                if (!isspace((unsigned char)line[j])) {
                                        pgr_error_set(err, "%s:%u: expected a mapping name alone on the line, got '%s'",
                                                      filename, lineno, vmconf_quote(line, n, q, sizeof(q)));
                                        return -EINVAL;
                                }
                        if (!vmconf_configid_valid(line, nn)) {
                                pgr_error_set(err, "%s:%u: invalid mapping name '%s' (expected [a-z][a-z0-9_-]+)",
                                              filename, lineno, vmconf_quote(line, nn, q, sizeof(q)));
                                return -EINVAL;
                        }
                        if (f->n_mappings == cap) {
                                size_t ncap = cap ? cap * 2 : 8;
                                struct mapping *nm = realloc(f->mappings, ncap * sizeof(*nm));

                                if (!nm)
                                        return -ENOMEM;
                                f->mappings = nm;
                                cap = ncap;
                        }
                        m = &f->mappings[f->n_mappings];
                        memset(m, 0, sizeof(*m));
                        m->name = strndup(line, nn);
                        if (!m->name)
                                return -ENOMEM;
                        m->line = lineno;
                        cur = f->n_mappings++;
                        map_cap = 0;
                        seen_descr = seen_mdev = seen_lm = false;
                        continue;
                }

                if (cur == SIZE_MAX) {
                        pgr_error_set(err, "%s:%u: indented line outside a mapping section: '%s'", filename, lineno,
                                      vmconf_quote(line, n, q, sizeof(q)));
                        return -EINVAL;
                }
                m = &f->mappings[cur];
                k = line + i;
                for (kn = 0; i + kn < n && !isspace((unsigned char)k[kn]); kn++)
                        ;
                v = k + kn;
                vn = n - i - kn;
                while (vn > 0 && isspace((unsigned char)v[0]))
                        v++, vn--;
                while (vn > 0 && isspace((unsigned char)v[vn - 1]))
                        vn--;

                if (slice_is(k, kn, "map")) {
                        char why[384];

                        if (m->n_maps == map_cap) {
                                size_t ncap = map_cap ? map_cap * 2 : 4;
                                struct mapping_map *nm = realloc(m->maps, ncap * sizeof(*nm));

                                if (!nm)
                                        return -ENOMEM;
                                m->maps = nm;
                                map_cap = ncap;
                        }
                        if (vn == 0) {
                                pgr_error_set(err, "%s:%u: mapping '%s': empty map", filename, lineno, m->name);
                                return -EINVAL;
                        }
                        r = map_parse(v, vn, &m->maps[m->n_maps], why, sizeof(why));
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                pgr_error_set(err, "%s:%u: mapping '%s': %s", filename, lineno, m->name, why);
                                return r;
                        }
                        m->maps[m->n_maps++].line = lineno;
                } else if (slice_is(k, kn, "description")) {
                        if (seen_descr) {
                                pgr_error_set(err, "%s:%u: mapping '%s': duplicate property 'description'", filename,
                                              lineno, m->name);
                                return -EINVAL;
                        }
                        seen_descr = true;
                        m->description = strndup(v, vn);
                        if (!m->description)
                                return -ENOMEM;
                } else if (slice_is(k, kn, "mdev") || slice_is(k, kn, "live-migration-capable")) {
                        bool is_mdev = slice_is(k, kn, "mdev");
                        bool *seen = is_mdev ? &seen_mdev : &seen_lm;
                        int b;

                        if (*seen) {
                                pgr_error_set(err, "%s:%u: mapping '%s': duplicate property '%.*s'", filename, lineno,
                                              m->name, (int)kn, k);
                                return -EINVAL;
                        }
                        *seen = true;
                        if (!vmconf_boolean_parse(v, vn, &b)) {
                                pgr_error_set(err, "%s:%u: mapping '%s': %.*s: invalid boolean '%s'", filename, lineno,
                                              m->name, (int)kn, k, vmconf_quote(v, vn, q, sizeof(q)));
                                return -EINVAL;
                        }
                        if (is_mdev)
                                m->mdev = b;
                        else
                                m->live_migration_capable = b;
                } else {
                        pgr_error_set(err, "%s:%u: mapping '%s': unknown property '%s'", filename, lineno, m->name,
                                      vmconf_quote(k, kn, q, sizeof(q)));
                        return -EINVAL;
                }
        }

        r = check_duplicates(f, filename, err);
        if (r < 0)
                return r;
        *ret = f;
        f = NULL;
        return 0;
}

int mapping_load(const struct pgr_ctx *ctx, struct mapping_file **ret, struct pgr_error *err)
{
        static const char abs[] = "/etc/pve/mapping/pci.cfg";
        _cleanup_free_ char *text = NULL;
        char full[PATH_MAX];
        size_t len = 0;
        int r;

        r = pgr_path(ctx, full, sizeof(full), abs);
        if (r < 0) {
                pgr_error_set(err, "%s: path too long under the root prefix", abs);
                return r;
        }
        r = read_full_file(full, MAPPING_MAX_SIZE, &text, &len);
        if (r == -ENOENT) { /* no mappings defined */
                struct mapping_file *f = calloc(1, sizeof(*f));

                if (!f)
                        return -ENOMEM;
                snprintf(f->path, sizeof(f->path), "%s", abs);
                *ret = f;
                return 0;
        }
        if (r == -EFBIG) {
                pgr_error_set(err, "%s is larger than %d bytes (1 MiB)", abs, MAPPING_MAX_SIZE);
                return r;
        }
        if (r == -ELOOP) {
                pgr_error_set(err, "%s: symlink loop (too many levels of symbolic links)", abs);
                return r;
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                pgr_error_set(err, "cannot read %s: %s", abs, strerror(-r));
                return r;
        }
        return mapping_parse(text, len, abs, ret, err);
}

/* ---- resolving against sysfs ---- */

/* Both halves of a sysfs id pair, or false when the device does not have them. */
static bool read_pair(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr_a, const char *attr_b,
                      unsigned *ret_a, unsigned *ret_b)
{
        return sysfs_dev_read_hex(ctx, a, attr_a, ret_a) == 0 && sysfs_dev_read_hex(ctx, a, attr_b, ret_b) == 0;
}

static int read_group(const struct pgr_ctx *ctx, const struct pci_addr *a, int *ret)
{
        char buf[32];
        unsigned long g;
        int r;

        r = sysfs_dev_link(ctx, a, "iommu_group", buf, sizeof(buf));
        if (r < 0)
                return r;
        r = parse_uint(buf, 10, INT_MAX, &g);
        if (r < 0)
                return r;
        *ret = (int)g;
        return 0;
}

/* PVE::Mapping::PCI::assert_valid for one map line. */
static int map_check(const struct pgr_ctx *ctx, const struct mapping *m, const struct mapping_map *map,
                     struct pgr_error *err)
{
        for (size_t i = 0; i < map->n_paths; i++) {
                struct pci_addr a = map->paths[i];
                char bdf[PCI_ADDR_STRLEN];
                unsigned ven, dev, sv, sd;
                int group;

                if (a.func < 0) /* whole slot: its function 0 must exist and speaks for it */
                        a.func = 0;
                pci_addr_format(&a, bdf);
                if (!sysfs_dev_present(ctx, &a)) {
                        pgr_error_set(err, "mapping '%s': pci device %s not found (hardware probably changed)",
                                      m->name, bdf);
                        return -ENODEV;
                }
                if (!read_pair(ctx, &a, "vendor", "device", &ven, &dev)) {
                        pgr_error_set(err, "mapping '%s': cannot read the vendor/device id of %s", m->name, bdf);
                        return -ENODEV;
                }
                if (!map->has_id) {
                        pgr_error_set(err,
                                      "mapping '%s': missing expected property 'id' for device '%s' (it has "
                                      "%04x:%04x)",
                                      m->name, bdf, ven, dev);
                        return -ENODEV;
                }
                if (ven != map->vendor || dev != map->device) {
                        pgr_error_set(err,
                                      "mapping '%s': %s has id %04x:%04x, mapping expects %04x:%04x (hardware "
                                      "probably changed)",
                                      m->name, bdf, ven, dev, map->vendor, map->device);
                        return -ENODEV;
                }

                if (read_pair(ctx, &a, "subsystem_vendor", "subsystem_device", &sv, &sd)) {
                        if (!map->has_subsystem) {
                                pgr_error_set(err,
                                              "mapping '%s': missing expected property 'subsystem-id' for device "
                                              "'%s' (it has %04x:%04x)",
                                              m->name, bdf, sv, sd);
                                return -ENODEV;
                        }
                        if (sv != map->sub_vendor || sd != map->sub_device) {
                                pgr_error_set(err,
                                              "mapping '%s': %s has subsystem-id %04x:%04x, mapping expects "
                                              "%04x:%04x (hardware probably changed)",
                                              m->name, bdf, sv, sd, map->sub_vendor, map->sub_device);
                                return -ENODEV;
                        }
                } else if (map->has_subsystem) {
                        pgr_error_set(err, "mapping '%s': subsystem-id configured, but %s has none", m->name, bdf);
                        return -ENODEV;
                }

                if (i > 0) /* Proxmox checks the IOMMU group of the first device only */
                        continue;
                if (read_group(ctx, &a, &group) == 0) {
                        if (map->iommugroup < 0) {
                                pgr_error_set(err,
                                              "mapping '%s': missing expected property 'iommugroup' for device "
                                              "'%s' (it is in group %d)",
                                              m->name, bdf, group);
                                return -ENODEV;
                        }
                        if (group != map->iommugroup) {
                                pgr_error_set(err,
                                              "mapping '%s': %s has iommugroup %d, mapping expects %d (hardware "
                                              "probably changed)",
                                              m->name, bdf, group, map->iommugroup);
                                return -ENODEV;
                        }
                } else if (map->iommugroup >= 0) {
                        pgr_error_set(err, "mapping '%s': iommugroup %d configured, but %s has no IOMMU group",
                                      m->name, map->iommugroup, bdf);
                        return -ENODEV;
                }
        }
        return 0;
}

int mapping_resolve(const struct pgr_ctx *ctx, const struct mapping_file *f, const char *name,
                    bool (*usable)(const struct pci_addr *a, void *userdata), void *userdata,
                    struct pci_addr ret_paths[static MAPPING_MAX_PATHS], size_t *ret_n, struct pgr_error *err)
{
        const struct mapping *m = mapping_find(f, name);
        size_t n_node = 0;
        int r;

        if (!m) {
                pgr_error_set(err, "PCI device mapping not found for '%s' (no such mapping in %s)", name ? name : "",
                              f && f->path[0] ? f->path : "/etc/pve/mapping/pci.cfg");
                return -ENOENT;
        }
        for (size_t i = 0; i < m->n_maps; i++) {
                if (!streq(m->maps[i].node, ctx->node))
                        continue;
                n_node++;
                r = map_check(ctx, m, &m->maps[i], err);
                if (r < 0)
                        return r;
        }
        if (n_node == 0) {
                pgr_error_set(err, "PCI device mapping not found for '%s' (no map entry for node '%s')", m->name,
                              ctx->node);
                return -ENOENT;
        }
        for (size_t i = 0; i < m->n_maps; i++) {
                const struct mapping_map *map = &m->maps[i];
                bool ok = true;

                if (!streq(map->node, ctx->node))
                        continue;
                for (size_t j = 0; ok && usable && j < map->n_paths; j++)
                        ok = usable(&map->paths[j], userdata);
                if (!ok)
                        continue;
                memcpy(ret_paths, map->paths, map->n_paths * sizeof(map->paths[0]));
                *ret_n = map->n_paths;
                return 0;
        }
        pgr_error_set(err, "mapping '%s': could not find a free device on node '%s' (all %zu in use)", m->name,
                      ctx->node, n_node);
        return -EBUSY;
}
