/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /etc/pve/mapping/pci.cfg (PVE::Mapping::PCI, a PVE::SectionConfig), read exactly as Proxmox reads
 * it: whatever Proxmox only warns about and skips, we warn about and skip too. Refusing more would
 * block every hooked VM over one entry Proxmox accepts; accepting more (or skipping differently)
 * could pick another device than the one qemu-server gives the VM. */
#include "pve/mapping.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/sysfs.h"
#include "pve/propstr.h"
#include "pve/vmconf.h"

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
        for (size_t i = 0; i < f->n_warnings; i++)
                free(f->warnings[i]);
        free(f);
}

const struct mapping *mapping_find(const struct mapping_file *f, const char *name)
{
        if (!f || !name)
                return NULL;
        /* SectionConfig parse_config: "$ids->{$sectionId} = $config", the last section wins. */
        for (size_t i = f->n_mappings; i > 0; i--)
                if (streq(f->mappings[i - 1].name, name))
                        return &f->mappings[i - 1];
        return NULL;
}

static int add_warning(struct mapping_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_warning(struct mapping_file *f, const char *fmt, ...)
{
        char buf[640];
        va_list ap;

        if (f->n_warnings >= MAPPING_MAX_WARNINGS) {
                f->n_warnings_dropped++;
                return 0;
        }
        va_start(ap, fmt);
        vsnprintf_ellipsis(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        f->warnings[f->n_warnings] = strdup(buf);
        if (!f->warnings[f->n_warnings])
                return -ENOMEM;
        f->n_warnings++;
        return 0;
}

static bool slice_is(const char *s, size_t n, const char *lit)
{
        return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* Perl's \s (ASCII): a NUL byte, like any other byte, is \S. */
static bool is_space(char c)
{
        return isspace((unsigned char)c) != 0;
}

/* JSONSchema.pm pve_verify_node_name: ^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$ (no dots). */
static bool node_valid(const char *s, size_t n)
{
        if (n == 0 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                        return false;
        return true;
}

/* $map_fmt id / subsystem-id: ^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$ (any case: assert_valid's text
 * comparison with the lower-case sysfs value is what refuses an upper-case one). */
static bool id_pattern_ok(const char *s, size_t n)
{
        if (n != 9 || s[4] != ':')
                return false;
        for (size_t i = 0; i < 9; i++)
                if (i != 4 && !isxdigit((unsigned char)s[i]))
                        return false;
        return true;
}

/* JSONSchema.pm is_integer: ^[+-]?\d+$ */
static bool integer_ok(const char *s, size_t n)
{
        size_t i = n > 0 && (s[0] == '+' || s[0] == '-');

        if (i == n)
                return false;
        for (; i < n; i++)
                if (!isdigit((unsigned char)s[i]))
                        return false;
        return true;
}

/* 'path' through the one Proxmox ID parser (vmconf_proxmox_pci_ids_parse with need_domain: $PCI_RE).
 * -EINVAL: the pattern fails (the line is skipped, why says so). An ID that matches but names no
 * device Linux can have (-ENXIO), or more paths than we hold, is kept as path_problem so that
 * mapping_resolve refuses (as assert_valid does) or leaves the mapping alone. */
static int path_parse(const char *s, size_t n, struct mapping_map *m, char *why, size_t why_size)
{
        _cleanup_free_ struct pci_addr *ids = NULL;
        size_t count = 0;
        int r;

        r = vmconf_proxmox_pci_ids_parse(s, n, true, &ids, &count, why, why_size);
        if (r == -EINVAL && strlen(why) + 7 <= why_size) { /* name the key, as check_object does */
                memmove(why + 6, why, strlen(why) + 1);
                memcpy(why, "path: ", 6);
        }
        if (r == -ENXIO) {
                /* pcire_to_addr's why quotes the ID; keep the element for mapping_resolve's message */
                size_t start = 0;

                for (size_t i = 0; i <= n; i++) {
                        struct pci_addr *one = NULL;
                        size_t k = 0;
                        char ignored[256];

                        if (i < n && s[i] != ';')
                                continue;
                        if (vmconf_proxmox_pci_ids_parse(s + start, i - start, true, &one, &k, ignored,
                                                         sizeof(ignored)) == -ENXIO) {
                                text_quote(s + start, i - start, m->path_problem_elem, sizeof(m->path_problem_elem));
                                break;
                        }
                        if (one && m->n_paths < MAPPING_MAX_PATHS)
                                m->paths[m->n_paths++] = one[0];
                        free(one);
                        start = i + 1;
                }
                m->path_problem = -ENODEV;
                return 0;
        }
        if (r < 0)
                return r;
        m->n_paths = count < MAPPING_MAX_PATHS ? count : MAPPING_MAX_PATHS;
        memcpy(m->paths, ids, m->n_paths * sizeof(ids[0]));
        if (count > MAPPING_MAX_PATHS) {
                char elem[PCI_ADDR_STRLEN];

                m->path_problem = -EOPNOTSUPP;
                snprintf(m->path_problem_elem, sizeof(m->path_problem_elem), "%s",
                         pci_addr_format(&ids[MAPPING_MAX_PATHS], elem));
        }
        return 0;
}

enum { MAP_NODE, MAP_ID, MAP_SUBSYSTEM_ID, MAP_PATH, MAP_IOMMUGROUP, MAP_DESCRIPTION, _MAP_KEYS };

/* Mapping/PCI.pm $map_fmt, key for key ('iommugroup' is an integer: checked below). */
static const struct propstr_key map_keys[_MAP_KEYS] = {
        [MAP_NODE] = { "node", PROPSTR_STRING, false },
        [MAP_ID] = { "id", PROPSTR_STRING, false },
        [MAP_SUBSYSTEM_ID] = { "subsystem-id", PROPSTR_STRING, false },
        [MAP_PATH] = { "path", PROPSTR_STRING, false },
        [MAP_IOMMUGROUP] = { "iommugroup", PROPSTR_STRING, false },
        [MAP_DESCRIPTION] = { "description", PROPSTR_STRING, false },
};

/* One "map" value as JSONSchema.pm parse_property_string($map_fmt) takes it (propstr_parse), then
 * check_object: node, id and path required, each value matching its format. Errors go to why. */
static int map_parse(const char *value, size_t len, struct mapping_map *ret, char *why, size_t why_size)
{
        struct propstr_value v[_MAP_KEYS];
        struct mapping_map m = {};
        char q[TEXT_QUOTE_MAX];
        int r;

        r = propstr_parse(value, len, map_keys, _MAP_KEYS, v, why, why_size);
        if (r < 0)
                return r;
        for (size_t ki = 0; ki < _MAP_KEYS; ki++) {
                bool ok;

                if (!v[ki].set) {
                        if (ki == MAP_NODE || ki == MAP_ID || ki == MAP_PATH) {
                                snprintf(why, why_size, "map without '%s'", map_keys[ki].name);
                                return -EINVAL;
                        }
                        continue;
                }
                switch (ki) {
                case MAP_NODE:
                        ok = node_valid(v[ki].s, v[ki].n);
                        break;
                case MAP_ID:
                case MAP_SUBSYSTEM_ID:
                        ok = id_pattern_ok(v[ki].s, v[ki].n);
                        break;
                case MAP_IOMMUGROUP:
                        ok = integer_ok(v[ki].s, v[ki].n);
                        break;
                case MAP_DESCRIPTION:
                        ok = v[ki].n <= 4096;
                        break;
                default: /* path: below */
                        ok = true;
                        break;
                }
                if (!ok) {
                        snprintf(why, why_size, "invalid %s '%s'", map_keys[ki].name,
                                 text_quote(v[ki].s, v[ki].n, q, sizeof(q)));
                        return -EINVAL;
                }
        }
        r = path_parse(v[MAP_PATH].s, v[MAP_PATH].n, &m, why, why_size);
        if (r < 0)
                return r;

        m.node = strndup(v[MAP_NODE].s, v[MAP_NODE].n);
        if (!m.node)
                return -ENOMEM;
        if (v[MAP_DESCRIPTION].set) {
                m.description = strndup(v[MAP_DESCRIPTION].s, v[MAP_DESCRIPTION].n);
                if (!m.description) {
                        map_done(&m);
                        return -ENOMEM;
                }
        }
        memcpy(m.id, v[MAP_ID].s, 9);
        if (v[MAP_SUBSYSTEM_ID].set)
                memcpy(m.subsystem_id, v[MAP_SUBSYSTEM_ID].s, 9);
        /* Longer than any group number ever is: a shortened copy mismatches just the same. */
        if (v[MAP_IOMMUGROUP].set)
                memcpy(m.iommugroup, v[MAP_IOMMUGROUP].s,
                       v[MAP_IOMMUGROUP].n < sizeof(m.iommugroup) ? v[MAP_IOMMUGROUP].n : sizeof(m.iommugroup) - 1);
        *ret = m;
        return 0;
}

struct section {
        struct mapping *m;       /* NULL: outside a section, or a skipped one */
        bool in;                 /* inside a section (maybe skipped) */
        size_t map_cap;
        bool seen_descr, seen_mdev, seen_lm;
};

/* One property line of a section: SectionConfig parse_config's check_value() per key. A refused value
 * is a warning and the line is skipped; the first value of a non-array key stays. */
static int section_property(struct mapping_file *f, struct section *sec, const char *k, size_t kn, const char *v,
                            size_t vn, bool has_v, unsigned lineno)
{
        struct mapping *m = sec->m;
        char q[TEXT_QUOTE_MAX];

        if (slice_is(k, kn, "map")) {
                char why[384];
                int r;

                if (!has_v)
                        return add_warning(f, "%s:%u: mapping '%s': map without a value; line ignored", f->path,
                                           lineno, m->name);
                if (m->n_maps == sec->map_cap) {
                        size_t ncap = sec->map_cap ? sec->map_cap * 2 : 4;
                        struct mapping_map *nm = realloc(m->maps, ncap * sizeof(*nm));

                        if (!nm)
                                return -ENOMEM;
                        m->maps = nm;
                        sec->map_cap = ncap;
                }
                r = map_parse(v, vn, &m->maps[m->n_maps], why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return add_warning(f, "%s:%u: mapping '%s': %s; map line ignored", f->path, lineno, m->name,
                                           why);
                m->maps[m->n_maps++].line = lineno;
                return 0;
        }
        if (slice_is(k, kn, "description")) {
                if (sec->seen_descr || !has_v || vn > 4096)
                        return add_warning(f, "%s:%u: mapping '%s': %s description; line ignored", f->path, lineno,
                                           m->name, sec->seen_descr ? "duplicate" : has_v ? "too long a" : "empty");
                sec->seen_descr = true;
                m->description = strndup(v, vn);
                return m->description ? 0 : -ENOMEM;
        }
        if (slice_is(k, kn, "mdev") || slice_is(k, kn, "live-migration-capable")) {
                bool is_mdev = slice_is(k, kn, "mdev");
                bool *seen = is_mdev ? &sec->seen_mdev : &sec->seen_lm;
                /* check_value: a boolean without a value is 1; check_type takes only "0" and "1". */
                bool ok = !has_v || slice_is(v, vn, "0") || slice_is(v, vn, "1");

                if (*seen || !ok)
                        return add_warning(f, "%s:%u: mapping '%s': %.*s: %s; line ignored", f->path, lineno,
                                           m->name, (int)kn, k,
                                           *seen ? "duplicate" : "expected 0 or 1");
                *seen = true;
                if (is_mdev)
                        m->mdev = !has_v || v[0] == '1';
                else
                        m->live_migration_capable = !has_v || v[0] == '1';
                return 0;
        }
        if (slice_is(k, kn, "type") && has_v && slice_is(v, vn, "pci")) /* check_value returns the type */
                return 0;
        return add_warning(f, "%s:%u: mapping '%s': unknown property '%s'; line ignored", f->path, lineno, m->name,
                           text_quote(k, kn, q, sizeof(q)));
}

/* check_config(..., $create = 1): a section without a valid map is stored as undef. */
static int section_end(struct mapping_file *f, struct section *sec)
{
        int r = 0;

        if (sec->m && sec->m->n_maps == 0)
                r = add_warning(f, "%s:%u: mapping '%s' has no valid map line; Proxmox ignores the mapping", f->path,
                                sec->m->line, sec->m->name);
        *sec = (struct section){};
        return r;
}

static int section_begin(struct mapping_file *f, struct section *sec, const char *name, size_t nn, unsigned lineno,
                         size_t *cap)
{
        struct mapping *m;

        if (f->n_mappings == *cap) {
                size_t ncap = *cap ? *cap * 2 : 8;
                struct mapping *nm = realloc(f->mappings, ncap * sizeof(*nm));

                if (!nm)
                        return -ENOMEM;
                f->mappings = nm;
                *cap = ncap;
        }
        m = &f->mappings[f->n_mappings];
        memset(m, 0, sizeof(*m));
        m->name = strndup(name, nn);
        if (!m->name)
                return -ENOMEM;
        m->line = lineno;
        f->n_mappings++;
        *sec = (struct section){ .m = m, .in = true };
        return 0;
}

int mapping_parse(const char *text, size_t len, const char *filename, struct mapping_file **ret,
                  struct pgr_error *err)
{
        _cleanup_(mapping_file_freep) struct mapping_file *f = NULL;
        struct section sec = {};
        size_t cap = 0, pos = 0;
        unsigned lineno = 0;
        int r;

        if (!filename)
                filename = "(pci.cfg)";
        if (len > MAPPING_MAX_SIZE) {
                pgr_error_set(err, "%s: larger than %d bytes (1 MiB)", filename, MAPPING_MAX_SIZE);
                return -EFBIG;
        }
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        snprintf(f->path, sizeof(f->path), "%s", filename);

        /* parse_config: split(/\n/) keeps a CR on each line of a CRLF file, and "\r" is \s. */
        while (pos < len) {
                const char *line = text + pos, *eol = memchr(line, '\n', len - pos);
                size_t n = eol ? (size_t)(eol - line) : len - pos, i = 0, kn, vn, end;
                const char *v;
                char q[TEXT_QUOTE_MAX];

                pos += n + (eol ? 1 : 0);
                lineno++;
                while (i < n && is_space(line[i]))
                        i++;
                if (i < n && line[i] == '#') /* $nextline skips /^\s*#/ everywhere */
                        continue;
                /* Only a false line ends a section: "" or "0" in Perl; "\r" or "  " does not. */
                if (n == 0 || slice_is(line, n, "0")) {
                        r = section_end(f, &sec);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (!sec.in) {
                        /* parse_section_header: ^(\S+)\s*$, the name a pve-configid */
                        for (kn = 0; kn < n && !is_space(line[kn]); kn++)
                                ;
                        for (end = kn; end < n && is_space(line[end]); end++)
                                ;
                        if (kn == 0 || end < n)
                                r = add_warning(f, "%s:%u: '%s' is not a mapping name alone on a line; line ignored",
                                                f->path, lineno, text_quote(line, n, q, sizeof(q)));
                        else if (!vmconf_configid_valid(line, kn)) {
                                r = add_warning(f,
                                                "%s:%u: invalid mapping name '%s' (expected [a-z][a-z0-9_-]+); "
                                                "section ignored",
                                                f->path, lineno, text_quote(line, kn, q, sizeof(q)));
                                sec.in = true; /* skipped up to the next empty line */
                        } else
                                r = section_begin(f, &sec, line, kn, lineno, &cap);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!sec.m)
                        continue;

                /* ^\s+(\S+)(\s+(.*\S))?\s*$ */
                if (i == 0 || i == n) {
                        r = add_warning(f, "%s:%u: mapping '%s': '%s' is not an indented property; line ignored",
                                        f->path, lineno, sec.m->name, text_quote(line, n, q, sizeof(q)));
                        if (r < 0)
                                return r;
                        continue;
                }
                for (kn = 0; i + kn < n && !is_space(line[i + kn]); kn++)
                        ;
                for (end = n; end > i + kn && is_space(line[end - 1]); end--)
                        ;
                for (v = line + i + kn, vn = end - i - kn; vn > 0 && is_space(v[0]); v++, vn--)
                        ;
                r = section_property(f, &sec, line + i, kn, v, vn, vn > 0, lineno);
                if (r < 0)
                        return r;
        }
        r = section_end(f, &sec);
        if (r < 0)
                return r;
        *ret = f;
        f = NULL;
        return 0;
}

int mapping_load(const struct pgr_ctx *ctx, struct mapping_file **ret, struct pgr_error *err)
{
        static const char abs[] = "/etc/pve/mapping/pci.cfg";
        _cleanup_(mapping_file_freep) struct mapping_file *f = NULL;
        _cleanup_free_ char *text = NULL;
        char full[PATH_MAX];
        size_t len = 0;
        int r;

        r = pgr_path(ctx, full, sizeof(full), abs);
        if (r >= 0)
                r = read_full_file(full, MAPPING_MAX_SIZE, &text, &len);
        if (r >= 0) {
                r = mapping_parse(text, len, abs, ret, err);
                if (r != -EFBIG)
                        return r;
        }
        if (r == -ENOMEM)
                return r;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        snprintf(f->path, sizeof(f->path), "%s", abs);
        if (r == -EFBIG)
                snprintf(f->error, sizeof(f->error), "%s is larger than %d bytes (1 MiB)", abs, MAPPING_MAX_SIZE);
        else if (r == -ELOOP)
                snprintf(f->error, sizeof(f->error), "%s: symlink loop (too many levels of symbolic links)", abs);
        else if (r != -ENOENT) /* a missing file: no mappings defined */
                snprintf(f->error, sizeof(f->error), "cannot read %s: %s", abs, strerror(-r));
        *ret = f;
        f = NULL;
        return 0;
}

/* ---- resolving against sysfs ---- */

/* sysfs as PVE::SysFSTools::pci_device_info reads it: "0x10de" → "10de". */
static bool read_id_text(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr_a, const char *attr_b,
                         char buf[static 10])
{
        unsigned x, y;

        if (sysfs_dev_read_hex(ctx, a, attr_a, &x) < 0 || sysfs_dev_read_hex(ctx, a, attr_b, &y) < 0)
                return false;
        snprintf(buf, 10, "%04x:%04x", x & 0xffff, y & 0xffff);
        return true;
}

struct check_state {
        const struct mapping *m;
        const struct mapping_map *map;
        mapping_mismatch_fn fn; /* NULL: stop at the first mismatch, as assert_valid dies */
        void *userdata;
        struct pgr_error *err;
        unsigned n;
};

/* One mismatch: the first one is err's message; fn (if any) gets every one. Returns -ENODEV. */
static int mismatch(struct check_state *st, const char *property, const char *bdf, const char *found,
                    const char *expected, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int mismatch(struct check_state *st, const char *property, const char *bdf, const char *found,
                    const char *expected, const char *fmt, ...)
{
        struct mapping_mismatch mm = { .mapping = st->m, .map = st->map, .property = property, .bdf = bdf,
                                       .found = found, .expected = expected };
        char msg[sizeof(st->err->msg)];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf_ellipsis(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (st->n++ == 0)
                pgr_error_set(st->err, "%s", msg);
        mm.message = msg;
        if (st->fn)
                st->fn(&mm, st->userdata);
        return -ENODEV;
}

/* PVE::Mapping::PCI::assert_valid for one map line, in its order (per path: present, then id,
 * iommugroup — first path only —, mdev, subsystem-id), comparing text as it does. Without st->fn it
 * returns at the first mismatch; with it, every mismatch is reported. */
static int map_check(const struct pgr_ctx *ctx, struct check_state *st)
{
        const struct mapping *m = st->m;
        const struct mapping_map *map = st->map;

        for (size_t i = 0; i <= map->n_paths; i++) {
                struct pci_addr a;
                char bdf[PCI_ADDR_STRLEN], id[10], sub[10], group_text[16];
                bool has_mdev;
                int group;

                if (i == map->n_paths) {
                        if (map->path_problem == -ENODEV)
                                mismatch(st, "path", map->path_problem_elem, "", map->path_problem_elem,
                                         "mapping '%s': pci device '%s' not found (no such PCI address on "
                                         "Linux; hardware probably changed)",
                                         m->name, map->path_problem_elem);
                        else if (map->path_problem) {
                                pgr_error_set(st->err,
                                              "mapping '%s': path element '%s' (line %u) is beyond what "
                                              "pve-gpu-reset handles (more than %d paths); "
                                              "this mapping is left alone",
                                              m->name, map->path_problem_elem, map->line, MAPPING_MAX_PATHS);
                                return map->path_problem;
                        }
                        break;
                }
                a = map->paths[i];
                if (a.func < 0) /* whole slot: its function 0 must exist and speaks for it */
                        a.func = 0;
                pci_addr_format(&a, bdf);
                if (!sysfs_dev_present(ctx, &a)) {
                        mismatch(st, "path", bdf, "", bdf,
                                 "mapping '%s': pci device %s not found (hardware probably changed)", m->name, bdf);
                        if (!st->fn)
                                return -ENODEV;
                        continue;
                }
                if (!read_id_text(ctx, &a, "vendor", "device", id)) {
                        mismatch(st, "id", bdf, "", map->id, "mapping '%s': cannot read the vendor/device id of %s",
                                 m->name, bdf);
                        if (!st->fn)
                                return -ENODEV;
                        continue;
                }
                if (!streq(id, map->id)) {
                        mismatch(st, "id", bdf, id, map->id,
                                 "mapping '%s': %s has id %s, mapping expects %s (hardware probably changed)", m->name,
                                 bdf, id, map->id);
                        if (!st->fn)
                                return -ENODEV;
                }

                if (i == 0 && sysfs_dev_link(ctx, &a, "iommu_group", group_text, sizeof(group_text)) >= 0 &&
                    sscanf(group_text, "%d", &group) == 1) {
                        snprintf(group_text, sizeof(group_text), "%d", group);
                        if (!map->iommugroup[0])
                                mismatch(st, "iommugroup", bdf, group_text, "",
                                         "mapping '%s': missing expected property 'iommugroup' for device '%s' (it "
                                         "is in group %d)",
                                         m->name, bdf, group);
                        else if (!streq(group_text, map->iommugroup))
                                mismatch(st, "iommugroup", bdf, group_text, map->iommugroup,
                                         "mapping '%s': %s has iommugroup %d, mapping expects %s (hardware probably "
                                         "changed)",
                                         m->name, bdf, group, map->iommugroup);
                } else if (i == 0 && map->iommugroup[0])
                        mismatch(st, "iommugroup", bdf, "", map->iommugroup,
                                 "mapping '%s': iommugroup %s configured, but %s has no IOMMU group", m->name,
                                 map->iommugroup, bdf);
                if (st->n && !st->fn)
                        return -ENODEV;

                /* pci_device_info: mdev_supported_types/, or nvidia/ (the 6.8+ vGPU driver) */
                has_mdev = sysfs_dev_has(ctx, &a, "mdev_supported_types") || sysfs_dev_has(ctx, &a, "nvidia");
                if (has_mdev != m->mdev) {
                        mismatch(st, "mdev", bdf, has_mdev ? "1" : "0", m->mdev ? "1" : "0",
                                 "mapping '%s': 'mdev' does not match for %s (the device %s mediated devices, the "
                                 "mapping says mdev %d)",
                                 m->name, bdf, has_mdev ? "offers" : "offers no", m->mdev);
                        if (!st->fn)
                                return -ENODEV;
                }

                if (read_id_text(ctx, &a, "subsystem_vendor", "subsystem_device", sub)) {
                        if (!map->subsystem_id[0])
                                mismatch(st, "subsystem-id", bdf, sub, "",
                                         "mapping '%s': missing expected property 'subsystem-id' for device '%s' "
                                         "(it has %s)",
                                         m->name, bdf, sub);
                        else if (!streq(sub, map->subsystem_id))
                                mismatch(st, "subsystem-id", bdf, sub, map->subsystem_id,
                                         "mapping '%s': %s has subsystem-id %s, mapping expects %s (hardware "
                                         "probably changed)",
                                         m->name, bdf, sub, map->subsystem_id);
                } else if (map->subsystem_id[0])
                        mismatch(st, "subsystem-id", bdf, "", map->subsystem_id,
                                 "mapping '%s': subsystem-id configured, but %s has none", m->name, bdf);
                if (st->n && !st->fn)
                        return -ENODEV;
        }
        return st->n ? -ENODEV : 0;
}

/* The mapping a hostpci line names: -EIO when pci.cfg could not be read, -ENOENT when it has no such
 * mapping (qemu-server dies "PCI device mapping not found"); err says which. */
static int mapping_lookup(const struct mapping_file *f, const char *name, const struct mapping *m,
                          struct pgr_error *err)
{
        if (f && f->error[0]) {
                pgr_error_set(err, "mapping '%s': %s", name ? name : "", f->error);
                return -EIO;
        }
        if (!m) {
                pgr_error_set(err, "PCI device mapping not found for '%s' (no such mapping in %s)", name ? name : "",
                              f && f->path[0] ? f->path : "/etc/pve/mapping/pci.cfg");
                return -ENOENT;
        }
        return 0;
}

int mapping_check(const struct pgr_ctx *ctx, const struct mapping_file *f, const char *name, mapping_mismatch_fn fn,
                  void *userdata, unsigned *ret_n_mismatches, struct pgr_error *err)
{
        const struct mapping *m = mapping_find(f, name);
        unsigned total = 0;
        size_t n_node = 0;
        int r;

        r = mapping_lookup(f, name, m, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_maps; i++) {
                struct check_state st = { .m = m, .map = &m->maps[i], .fn = fn, .userdata = userdata, .err = err };

                if (!streq(m->maps[i].node, ctx->node))
                        continue;
                n_node++;
                r = map_check(ctx, &st);
                total += st.n;
                if (r < 0 && (!fn || r != -ENODEV))
                        return r;
        }
        if (n_node == 0) {
                pgr_error_set(err, "PCI device mapping not found for '%s' (no map entry for node '%s')", m->name,
                              ctx->node);
                return -ENOENT;
        }
        if (ret_n_mismatches)
                *ret_n_mismatches = total;
        return total ? -ENODEV : 0;
}

int mapping_fix_command(const struct mapping *m, const struct mapping_map *fixed, const char *property,
                        const char *value, char *buf, size_t size)
{
        struct dstr_lite {
                char *p;
                size_t left;
        } d = { buf, size };
        int n;

#define APPEND(...)                                                                  \
        do {                                                                         \
                n = snprintf(d.p, d.left, __VA_ARGS__);                              \
                if (n < 0 || (size_t)n >= d.left)                                    \
                        return -ENOSPC;                                              \
                d.p += n;                                                            \
                d.left -= (size_t)n;                                                 \
        } while (0)

        APPEND("pvesh set /cluster/mapping/pci/%s", m->name);
        for (size_t i = 0; i < m->n_maps; i++) {
                const struct mapping_map *map = &m->maps[i];
                bool this = map == fixed;
                const char *id = this && streq(property, "id") ? value : map->id;
                const char *group = this && streq(property, "iommugroup") ? value : map->iommugroup;
                const char *sub = this && streq(property, "subsystem-id") ? value : map->subsystem_id;

                APPEND(" --map 'id=%s", id);
                if (group[0])
                        APPEND(",iommugroup=%s", group);
                APPEND(",node=%s,path=", map->node);
                for (size_t j = 0; j < map->n_paths; j++) {
                        char bdf[PCI_ADDR_STRLEN];

                        APPEND("%s%s", j ? ";" : "", pci_addr_format(&map->paths[j], bdf));
                }
                if (sub[0])
                        APPEND(",subsystem-id=%s", sub);
                if (map->description && !strchr(map->description, '\''))
                        APPEND(",description=%s", map->description);
                APPEND("'");
        }
#undef APPEND
        return 0;
}

int mapping_resolve(const struct pgr_ctx *ctx, const struct mapping_file *f, const char *name,
                    bool (*usable)(const struct pci_addr *a, void *userdata), void *userdata,
                    struct pci_addr ret_paths[static MAPPING_MAX_PATHS], size_t *ret_n, struct pgr_error *err)
{
        const struct mapping *m = mapping_find(f, name);
        size_t n_node = 0;
        int r;

        r = mapping_lookup(f, name, m, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_maps; i++) {
                struct check_state st = { .m = m, .map = &m->maps[i], .err = err };

                if (!streq(m->maps[i].node, ctx->node))
                        continue;
                n_node++;
                r = map_check(ctx, &st);
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
