/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /etc/pve/mapping/pci.cfg (PVE::Mapping::PCI, a PVE::SectionConfig), read exactly as Proxmox reads
 * it: whatever Proxmox only warns about and skips, we warn about and skip too. Refusing more would
 * block every hooked VM over one entry Proxmox accepts; accepting more (or skipping differently)
 * could pick another device than the one qemu-server gives the VM. */
#include "mapping.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
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
        vsnprintf(buf, sizeof(buf), fmt, ap);
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

static bool is_lower_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static unsigned lower_hex_value(const char *s, size_t n)
{
        unsigned v = 0;

        for (size_t i = 0; i < n; i++)
                v = v * 16 + (unsigned)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
        return v;
}

/* $map_fmt id / subsystem-id: ^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$ */
static bool id_pattern_ok(const char *s, size_t n)
{
        if (n != 9 || s[4] != ':')
                return false;
        for (size_t i = 0; i < 9; i++)
                if (i != 4 && !isxdigit((unsigned char)s[i]))
                        return false;
        return true;
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

/* Where one PCI_RE match starting at p may end. Mapping/PCI.pm builds PCI_RE in a double-quoted
 * string, so its "\." is a plain "." and matches any character: [a-f0-9]{4,}:[a-f0-9]{2}:[a-f0-9]{2}
 * then optionally any character and one [a-f0-9]. */
static size_t pci_re_ends(const char *s, size_t n, size_t p, size_t ends[static 2])
{
        size_t q = p, k = 0;

        while (q < n && is_lower_hex(s[q]))
                q++;
        if (q - p < 4 || q + 6 > n || s[q] != ':' || !is_lower_hex(s[q + 1]) || !is_lower_hex(s[q + 2]) ||
            s[q + 3] != ':' || !is_lower_hex(s[q + 4]) || !is_lower_hex(s[q + 5]))
                return 0;
        q += 6;
        ends[k++] = q;
        if (q + 2 <= n && s[q] != '\n' && is_lower_hex(s[q + 1]))
                ends[k++] = q + 2;
        return k;
}

/* $map_fmt path: ^(?:PCI_RE;)*PCI_RE$, a match is a chain of PCI_RE starts. 1, 0, or -ENOMEM. */
static int path_pattern_ok(const char *s, size_t n)
{
        _cleanup_free_ bool *start = calloc(n + 1, sizeof(bool));

        if (!start)
                return -ENOMEM;
        start[0] = true;
        for (size_t p = 0; p < n; p++) {
                size_t ends[2], k;

                if (!start[p])
                        continue;
                k = pci_re_ends(s, n, p, ends);
                for (size_t i = 0; i < k; i++) {
                        if (ends[i] == n)
                                return 1;
                        if (s[ends[i]] == ';')
                                start[ends[i] + 1] = true;
                }
        }
        return 0;
}

/* One element of a path (split(';') in assert_valid) as the device it names: 0, -ENODEV when Linux
 * never has such a sysfs name (pci_device_info finds nothing), -EOPNOTSUPP for a domain above ffff
 * (Intel VMD) that struct pci_addr does not hold. */
static int path_elem_parse(const char *s, size_t n, struct pci_addr *ret)
{
        size_t d = 0;
        struct pci_addr a;

        while (d < n && is_lower_hex(s[d]))
                d++;
        if (d < 4 || n < d + 6 || s[d] != ':' || s[d + 3] != ':' || !is_lower_hex(s[d + 1]) ||
            !is_lower_hex(s[d + 2]) || !is_lower_hex(s[d + 4]) || !is_lower_hex(s[d + 5]))
                return -ENODEV;
        if (d > 4 && s[0] == '0') /* the kernel prints "%04x": no other leading zero */
                return -ENODEV;
        if (d > 4)
                return -EOPNOTSUPP;
        a.domain = lower_hex_value(s, 4);
        a.bus = lower_hex_value(s + d + 1, 2);
        a.slot = lower_hex_value(s + d + 4, 2);
        if (a.slot > 0x1f)
                return -ENODEV;
        if (n == d + 6)
                a.func = -1;
        else if (n == d + 8 && s[d + 6] == '.' && s[d + 7] >= '0' && s[d + 7] <= '7')
                a.func = s[d + 7] - '0';
        else /* function 8-f, or PCI_RE's any-character: "0000:01:00x0" + ".0" is not a device */
                return -ENODEV;
        *ret = a;
        return 0;
}

static void path_split(const char *s, size_t n, struct mapping_map *m)
{
        size_t start = 0;

        for (size_t i = 0; i <= n && !m->path_problem; i++) {
                struct pci_addr a;
                int r;

                if (i < n && s[i] != ';')
                        continue;
                r = m->n_paths >= MAPPING_MAX_PATHS ? -EOPNOTSUPP : path_elem_parse(s + start, i - start, &a);
                if (r < 0) {
                        m->path_problem = r;
                        vmconf_quote(s + start, i - start, m->path_problem_elem, sizeof(m->path_problem_elem));
                } else
                        m->paths[m->n_paths++] = a;
                start = i + 1;
        }
}

enum { MAP_NODE, MAP_ID, MAP_SUBSYSTEM_ID, MAP_PATH, MAP_IOMMUGROUP, MAP_DESCRIPTION, _MAP_KEYS };

/* One "map" value as JSONSchema.pm parse_property_string($map_fmt) takes it: comma-separated
 * key=value (empty parts ignored), no duplicate or unknown key, then check_object: node, id and path
 * required, each value matching its format. Errors go to why. */
static int map_parse(const char *value, size_t len, struct mapping_map *ret, char *why, size_t why_size)
{
        static const char *const keys[_MAP_KEYS] = { "node", "id", "subsystem-id", "path", "iommugroup",
                                                     "description" };
        const char *val[_MAP_KEYS] = {};
        size_t vlen[_MAP_KEYS] = {};
        struct mapping_map m = {};
        char q[VMCONF_QUOTE_MAX];
        size_t start = 0;
        int r;

        for (size_t i = 0; i <= len; i++) {
                const char *part, *eq;
                size_t pn, kn, ki;
                bool blank = true;

                if (i < len && value[i] != ',')
                        continue;
                part = value + start;
                pn = i - start;
                start = i + 1;
                for (size_t j = 0; j < pn; j++)
                        blank &= is_space(part[j]);
                if (blank)
                        continue;
                eq = memchr(part, '=', pn);
                if (!eq) {
                        snprintf(why, why_size, "'%s' is not key=value", vmconf_quote(part, pn, q, sizeof(q)));
                        return -EINVAL;
                }
                kn = (size_t)(eq - part);
                if (kn == 0 || kn + 1 == pn) {
                        snprintf(why, why_size, "'%s': missing key or value", vmconf_quote(part, pn, q, sizeof(q)));
                        return -EINVAL;
                }
                for (ki = 0; ki < _MAP_KEYS; ki++)
                        if (slice_is(part, kn, keys[ki]))
                                break;
                if (ki == _MAP_KEYS) {
                        snprintf(why, why_size, "unknown map property '%s'", vmconf_quote(part, kn, q, sizeof(q)));
                        return -EINVAL;
                }
                if (val[ki]) {
                        snprintf(why, why_size, "duplicate map property '%s'", keys[ki]);
                        return -EINVAL;
                }
                val[ki] = eq + 1;
                vlen[ki] = pn - kn - 1;
        }
        for (size_t ki = 0; ki < _MAP_KEYS; ki++) {
                const char *v = val[ki];
                size_t vn = vlen[ki];
                bool ok;

                if (!v) {
                        if (ki == MAP_NODE || ki == MAP_ID || ki == MAP_PATH) {
                                snprintf(why, why_size, "map without '%s'", keys[ki]);
                                return -EINVAL;
                        }
                        continue;
                }
                switch (ki) {
                case MAP_NODE:
                        ok = node_valid(v, vn);
                        break;
                case MAP_ID:
                case MAP_SUBSYSTEM_ID:
                        ok = id_pattern_ok(v, vn);
                        break;
                case MAP_PATH:
                        r = path_pattern_ok(v, vn);
                        if (r < 0)
                                return r;
                        ok = r > 0;
                        break;
                case MAP_IOMMUGROUP:
                        ok = integer_ok(v, vn);
                        break;
                default:
                        ok = vn <= 4096;
                        break;
                }
                if (!ok) {
                        snprintf(why, why_size, "invalid %s '%s'", keys[ki], vmconf_quote(v, vn, q, sizeof(q)));
                        return -EINVAL;
                }
        }

        m.node = strndup(val[MAP_NODE], vlen[MAP_NODE]);
        if (!m.node)
                return -ENOMEM;
        if (val[MAP_DESCRIPTION]) {
                m.description = strndup(val[MAP_DESCRIPTION], vlen[MAP_DESCRIPTION]);
                if (!m.description) {
                        map_done(&m);
                        return -ENOMEM;
                }
        }
        memcpy(m.id, val[MAP_ID], 9);
        if (val[MAP_SUBSYSTEM_ID])
                memcpy(m.subsystem_id, val[MAP_SUBSYSTEM_ID], 9);
        /* Longer than any group number ever is: a shortened copy mismatches just the same. */
        if (val[MAP_IOMMUGROUP])
                memcpy(m.iommugroup, val[MAP_IOMMUGROUP],
                       vlen[MAP_IOMMUGROUP] < sizeof(m.iommugroup) ? vlen[MAP_IOMMUGROUP] : sizeof(m.iommugroup) - 1);
        path_split(val[MAP_PATH], vlen[MAP_PATH], &m);
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
        char q[VMCONF_QUOTE_MAX];

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
                           vmconf_quote(k, kn, q, sizeof(q)));
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
                char q[VMCONF_QUOTE_MAX];

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
                                                f->path, lineno, vmconf_quote(line, n, q, sizeof(q)));
                        else if (!vmconf_configid_valid(line, kn)) {
                                r = add_warning(f,
                                                "%s:%u: invalid mapping name '%s' (expected [a-z][a-z0-9_-]+); "
                                                "section ignored",
                                                f->path, lineno, vmconf_quote(line, kn, q, sizeof(q)));
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
                                        f->path, lineno, sec.m->name, vmconf_quote(line, n, q, sizeof(q)));
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

/* PVE::Mapping::PCI::assert_valid for one map line, in its order (per path: present, then id,
 * iommugroup — first path only —, mdev, subsystem-id), comparing text as it does. */
static int map_check(const struct pgr_ctx *ctx, const struct mapping *m, const struct mapping_map *map,
                     struct pgr_error *err)
{
        for (size_t i = 0; i <= map->n_paths; i++) {
                struct pci_addr a;
                char bdf[PCI_ADDR_STRLEN], id[10], sub[10], group_text[16];
                bool has_mdev;
                int group;

                if (i == map->n_paths) {
                        if (map->path_problem == -ENODEV)
                                pgr_error_set(err,
                                              "mapping '%s': pci device '%s' not found (no such PCI address on "
                                              "Linux; hardware probably changed)",
                                              m->name, map->path_problem_elem);
                        else if (map->path_problem)
                                pgr_error_set(err,
                                              "mapping '%s': path element '%s' (line %u) is beyond what "
                                              "pve-gpu-reset handles (PCI domain above ffff, or more than %d "
                                              "paths); this mapping is left alone",
                                              m->name, map->path_problem_elem, map->line, MAPPING_MAX_PATHS);
                        return map->path_problem;
                }
                a = map->paths[i];
                if (a.func < 0) /* whole slot: its function 0 must exist and speaks for it */
                        a.func = 0;
                pci_addr_format(&a, bdf);
                if (!sysfs_dev_present(ctx, &a)) {
                        pgr_error_set(err, "mapping '%s': pci device %s not found (hardware probably changed)",
                                      m->name, bdf);
                        return -ENODEV;
                }
                if (!read_id_text(ctx, &a, "vendor", "device", id)) {
                        pgr_error_set(err, "mapping '%s': cannot read the vendor/device id of %s", m->name, bdf);
                        return -ENODEV;
                }
                if (!streq(id, map->id)) {
                        pgr_error_set(err, "mapping '%s': %s has id %s, mapping expects %s (hardware probably changed)",
                                      m->name, bdf, id, map->id);
                        return -ENODEV;
                }

                if (i == 0 && sysfs_dev_link(ctx, &a, "iommu_group", group_text, sizeof(group_text)) >= 0 &&
                    sscanf(group_text, "%d", &group) == 1) {
                        snprintf(group_text, sizeof(group_text), "%d", group);
                        if (!map->iommugroup[0]) {
                                pgr_error_set(err,
                                              "mapping '%s': missing expected property 'iommugroup' for device "
                                              "'%s' (it is in group %d)",
                                              m->name, bdf, group);
                                return -ENODEV;
                        }
                        if (!streq(group_text, map->iommugroup)) {
                                pgr_error_set(err,
                                              "mapping '%s': %s has iommugroup %d, mapping expects %s (hardware "
                                              "probably changed)",
                                              m->name, bdf, group, map->iommugroup);
                                return -ENODEV;
                        }
                } else if (i == 0 && map->iommugroup[0]) {
                        pgr_error_set(err, "mapping '%s': iommugroup %s configured, but %s has no IOMMU group", m->name,
                                      map->iommugroup, bdf);
                        return -ENODEV;
                }

                /* pci_device_info: mdev_supported_types/, or nvidia/ (the 6.8+ vGPU driver) */
                has_mdev = sysfs_dev_has(ctx, &a, "mdev_supported_types") || sysfs_dev_has(ctx, &a, "nvidia");
                if (has_mdev != m->mdev) {
                        pgr_error_set(err,
                                      "mapping '%s': 'mdev' does not match for %s (the device %s mediated devices, "
                                      "the mapping says mdev %d)",
                                      m->name, bdf, has_mdev ? "offers" : "offers no", m->mdev);
                        return -ENODEV;
                }

                if (read_id_text(ctx, &a, "subsystem_vendor", "subsystem_device", sub)) {
                        if (!map->subsystem_id[0]) {
                                pgr_error_set(err,
                                              "mapping '%s': missing expected property 'subsystem-id' for device "
                                              "'%s' (it has %s)",
                                              m->name, bdf, sub);
                                return -ENODEV;
                        }
                        if (!streq(sub, map->subsystem_id)) {
                                pgr_error_set(err,
                                              "mapping '%s': %s has subsystem-id %s, mapping expects %s (hardware "
                                              "probably changed)",
                                              m->name, bdf, sub, map->subsystem_id);
                                return -ENODEV;
                        }
                } else if (map->subsystem_id[0]) {
                        pgr_error_set(err, "mapping '%s': subsystem-id configured, but %s has none", m->name, bdf);
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

        if (f && f->error[0]) {
                pgr_error_set(err, "mapping '%s': %s", name ? name : "", f->error);
                return -EIO;
        }
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
