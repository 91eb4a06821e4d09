/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /etc/pve/qemu-server/<vmid>.conf: the current section's hostpciN lines and the few keys we need.
 * Mirrors qemu-server's parse_vm_config and pve-common's parse_property_string, stricter where a
 * wrong guess could touch the wrong device. Parsers take (buffer, length) and never read past it. */
#include "vmconf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


int vmid_parse(const char *s, unsigned long *ret)
{
        unsigned long v = 0;
        size_t i;

        if (!s || s[0] < '1' || s[0] > '9') /* no sign, no space, no leading zero, not empty */
                return -EINVAL;
        for (i = 0; s[i]; i++) {
                if (s[i] < '0' || s[i] > '9' || i >= 9)
                        return -EINVAL;
                v = v * 10 + (unsigned long)(s[i] - '0');
        }
        if (v < VMID_MIN || v > VMID_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* ---- hostpci property string ---- */

static void hostpci_init(struct hostpci *h)
{
        memset(h, 0, sizeof(*h));
        h->pcie = h->x_vga = h->rombar = h->legacy_igd = -1;
        h->vendor_id = h->device_id = h->sub_vendor_id = h->sub_device_id = -1;
        h->driver = HOSTPCI_DRIVER_VFIO;
}

void hostpci_done(struct hostpci *h)
{
        if (!h)
                return;
        free(h->mapping);
        free(h->romfile);
        free(h->mdev);
        hostpci_init(h);
}

static bool is_hex(char c) { return isxdigit((unsigned char)c) != 0; }
static unsigned hexval(char c)
{
        return isdigit((unsigned char)c) ? (unsigned)(c - '0') : (unsigned)(tolower((unsigned char)c) - 'a' + 10);
}

const char *vmconf_quote(const char *s, size_t n, char *buf, size_t size)
{
        bool cut;
        size_t lim, o = 0;

        if (size == 0)
                return buf;
        cut = n > size - 1;
        lim = !cut ? n : size > 4 ? size - 4 : size - 1;
        for (size_t i = 0; i < lim; i++) {
                unsigned char ch = (unsigned char)s[i];

                buf[o++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
        }
        if (cut && size > 4) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o] = '\0';
        return buf;
}

/* One ID of Proxmox's PCIRE: (?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])? — accepted
 * case-insensitively — then narrowed to what can exist: domain <= ffff, device <= 1f, function <= 7
 * (Proxmox's own tests use IDs like 00:ff.1 that no kernel can have; pci_addr would mangle them). */
static int parse_pci_id(const char *s, size_t n, bool need_domain, struct pci_addr *ret, char *why, size_t why_size)
{
        char buf[64];
        size_t colons = 0, first_colon = 0;

        for (size_t i = 0; i < n; i++)
                if (s[i] == ':' && colons++ == 0)
                        first_colon = i;
        if (n == 0 || n >= sizeof(buf) || colons < 1 || colons > 2)
                goto syntax;
        for (size_t i = 0; i < n; i++)
                if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
                        goto syntax;
        if (colons == 1 && need_domain) {
                snprintf(why, why_size, "the domain is missing (write 0000:%.*s)", (int)n, s);
                return -EINVAL;
        }
        if (colons == 2 && first_colon < 4)
                goto syntax;
        for (size_t i = 0; colons == 2 && i < first_colon; i++)
                if (!is_hex(s[i]))
                        goto syntax;
        /* the part after the (optional) domain must be BB:SS or BB:SS.F */
        {
                const char *p = colons == 2 ? s + first_colon + 1 : s;
                size_t m = n - (size_t)(p - s);

                if (!(m == 5 || m == 7) || p[2] != ':' || !is_hex(p[0]) || !is_hex(p[1]) || !is_hex(p[3]) ||
                    !is_hex(p[4]) || (m == 7 && (p[5] != '.' || !is_hex(p[6]))))
                        goto syntax;
                if (colons == 2 && first_colon > 4) {
                        snprintf(why, why_size, "domain '%.*s' has more than 4 hex digits (not supported)",
                                 (int)first_colon, s);
                        return -EINVAL;
                }
                if (hexval(p[3]) * 16 + hexval(p[4]) > 0x1f) {
                        snprintf(why, why_size, "device number %c%c is out of range (00-1f)", p[3], p[4]);
                        return -EINVAL;
                }
                if (m == 7 && (p[6] < '0' || p[6] > '7')) {
                        snprintf(why, why_size, "function %c is out of range (0-7)", p[6]);
                        return -EINVAL;
                }
        }
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (pci_addr_parse(buf, ret) < 0)
                goto syntax;
        return 0;
syntax:
        snprintf(why, why_size, "expected [DDDD:]BB:SS[.F]");
        return -EINVAL;
}

int vmconf_pci_ids_parse(const char *s, size_t n, bool need_domain, struct pci_addr *ids, size_t max,
                          size_t *ret_n, char *why, size_t why_size)
{
        size_t count = 0, start = 0;

        for (size_t i = 0; i <= n; i++) {
                if (i < n && s[i] != ';')
                        continue;
                if (count >= max) {
                        snprintf(why, why_size, "more than %zu PCI IDs", max);
                        return -E2BIG;
                }
                if (parse_pci_id(s + start, i - start, need_domain, &ids[count], why, why_size) < 0) {
                        char q[VMCONF_QUOTE_MAX], inner[160];

                        snprintf(inner, sizeof(inner), "%s", why);
                        snprintf(why, why_size, "invalid PCI ID '%s': %s",
                                 vmconf_quote(s + start, i - start, q, sizeof(q)), inner);
                        return -EINVAL;
                }
                count++;
                start = i + 1;
        }
        *ret_n = count;
        return 0;
}

/* Proxmox's pve-configid: [a-z][a-z0-9_-]+, case-insensitive. */
bool vmconf_configid_valid(const char *s, size_t n)
{
        if (n < 2 || n > 255 || !isalpha((unsigned char)s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

/* 1|on|yes|true, 0|off|no|false, case-insensitive like PVE::JSONSchema. */
bool vmconf_boolean_parse(const char *s, size_t n, int *ret)
{
        static const char *const yes[] = { "1", "on", "yes", "true" };
        static const char *const no[] = { "0", "off", "no", "false" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (n == strlen(yes[i]) && strncasecmp(s, yes[i], n) == 0) {
                        *ret = 1;
                        return true;
                }
                if (n == strlen(no[i]) && strncasecmp(s, no[i], n) == 0) {
                        *ret = 0;
                        return true;
                }
        }
        return false;
}

/* "0x" and exactly four hex digits (qemu-server: ^0x[0-9a-fA-F]{4}$). */
static bool parse_hex_id(const char *s, size_t n, int *ret)
{
        unsigned v = 0;

        if (n != 6 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
                return false;
        for (size_t i = 2; i < 6; i++) {
                if (!is_hex(s[i]))
                        return false;
                v = v * 16 + hexval(s[i]);
        }
        *ret = (int)v;
        return true;
}

/* A file name below /usr/share/kvm: no absolute path, no '..' component, nothing unprintable. */
static bool romfile_valid(const char *s, size_t n)
{
        size_t start = 0;

        if (n == 0 || s[0] == '/')
                return false;
        for (size_t i = 0; i <= n; i++) {
                if (i < n && ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ';'))
                        return false;
                if (i == n || s[i] == '/') {
                        if (i - start == 2 && s[start] == '.' && s[start + 1] == '.')
                                return false;
                        start = i + 1;
                }
        }
        return true;
}

static bool mdev_valid(const char *s, size_t n)
{
        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

static bool key_is(const char *k, size_t kn, const char *name)
{
        return kn == strlen(name) && memcmp(k, name, kn) == 0;
}

static int hostpci_parse_n(const char *value, size_t len, struct hostpci *ret, struct pgr_error *err)
{
        static const char *const keys[] = { "host",        "mapping",   "pcie",          "x-vga",
                                            "rombar",      "romfile",   "mdev",          "vendor-id",
                                            "device-id",   "sub-vendor-id", "sub-device-id", "legacy-igd",
                                            "driver" };
        bool seen[ELEMENTSOF(keys)] = {};
        char qv[VMCONF_QUOTE_MAX], qk[VMCONF_QUOTE_MAX], why[256];
        struct hostpci h;
        bool have_host = false;
        size_t start = 0;
        int r;

        hostpci_init(&h);
        vmconf_quote(value, len, qv, sizeof(qv));
        if (len == 0) {
                pgr_error_set(err, "empty value");
                return -EINVAL;
        }

        for (size_t i = 0; i <= len; i++) {
                const char *part, *k, *v, *eq;
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
                if (blank) /* parse_property_string skips empty segments */
                        continue;

                eq = memchr(part, '=', pn);
                if (eq) {
                        k = part;
                        kn = (size_t)(eq - part);
                        v = eq + 1;
                        vn = pn - kn - 1;
                } else { /* the default key */
                        k = "host";
                        kn = 4;
                        v = part;
                        vn = pn;
                }
                for (ki = 0; ki < ELEMENTSOF(keys); ki++)
                        if (key_is(k, kn, keys[ki]))
                                break;
                vmconf_quote(k, kn, qk, sizeof(qk));
                if (ki == ELEMENTSOF(keys)) {
                        pgr_error_set(err, "unknown option '%s' in '%s'", qk, qv);
                        r = -EINVAL;
                        goto fail;
                }
                if (seen[ki]) {
                        pgr_error_set(err, "duplicate option '%s' in '%s'", qk, qv);
                        r = -EINVAL;
                        goto fail;
                }
                seen[ki] = true;
                if (vn == 0) {
                        pgr_error_set(err, "empty value for '%s' in '%s'", qk, qv);
                        r = -EINVAL;
                        goto fail;
                }

                if (ki == 0) { /* host */
                        r = vmconf_pci_ids_parse(v, vn, false, h.ids, HOSTPCI_MAX_IDS, &h.n_ids, why, sizeof(why));
                        if (r < 0) {
                                pgr_error_set(err, "%s in '%s'", why, qv);
                                r = -EINVAL;
                                goto fail;
                        }
                        have_host = true;
                } else if (key_is(k, kn, "mapping")) {
                        if (!vmconf_configid_valid(v, vn)) {
                                char q[VMCONF_QUOTE_MAX];

                                pgr_error_set(err, "invalid mapping name '%s' (expected [a-z][a-z0-9_-]+) in '%s'",
                                              vmconf_quote(v, vn, q, sizeof(q)), qv);
                                r = -EINVAL;
                                goto fail;
                        }
                        h.mapping = strndup(v, vn);
                        if (!h.mapping) {
                                r = -ENOMEM;
                                goto fail;
                        }
                } else if (key_is(k, kn, "romfile")) {
                        if (!romfile_valid(v, vn)) {
                                char q[VMCONF_QUOTE_MAX];

                                pgr_error_set(err,
                                              "invalid romfile '%s' (a file name below /usr/share/kvm, no '/' "
                                              "at the start, no '..') in '%s'",
                                              vmconf_quote(v, vn, q, sizeof(q)), qv);
                                r = -EINVAL;
                                goto fail;
                        }
                        h.romfile = strndup(v, vn);
                        if (!h.romfile) {
                                r = -ENOMEM;
                                goto fail;
                        }
                } else if (key_is(k, kn, "mdev")) {
                        if (!mdev_valid(v, vn)) {
                                char q[VMCONF_QUOTE_MAX];

                                pgr_error_set(err, "invalid mdev type '%s' in '%s'", vmconf_quote(v, vn, q, sizeof(q)),
                                              qv);
                                r = -EINVAL;
                                goto fail;
                        }
                        h.mdev = strndup(v, vn);
                        if (!h.mdev) {
                                r = -ENOMEM;
                                goto fail;
                        }
                } else if (key_is(k, kn, "driver")) {
                        if (key_is(v, vn, "vfio"))
                                h.driver = HOSTPCI_DRIVER_VFIO;
                        else if (key_is(v, vn, "keep"))
                                h.driver = HOSTPCI_DRIVER_KEEP;
                        else {
                                char q[VMCONF_QUOTE_MAX];

                                pgr_error_set(err, "invalid driver '%s' (expected vfio or keep) in '%s'",
                                              vmconf_quote(v, vn, q, sizeof(q)), qv);
                                r = -EINVAL;
                                goto fail;
                        }
                } else if (key_is(k, kn, "vendor-id") || key_is(k, kn, "device-id") ||
                           key_is(k, kn, "sub-vendor-id") || key_is(k, kn, "sub-device-id")) {
                        int *dst = key_is(k, kn, "vendor-id")       ? &h.vendor_id
                                   : key_is(k, kn, "device-id")     ? &h.device_id
                                   : key_is(k, kn, "sub-vendor-id") ? &h.sub_vendor_id
                                                                    : &h.sub_device_id;

                        if (!parse_hex_id(v, vn, dst)) {
                                char q[VMCONF_QUOTE_MAX];

                                pgr_error_set(err, "invalid %s '%s' (expected 0x and 4 hex digits) in '%s'", qk,
                                              vmconf_quote(v, vn, q, sizeof(q)), qv);
                                r = -EINVAL;
                                goto fail;
                        }
                } else { /* booleans */
                        int *dst = key_is(k, kn, "pcie")     ? &h.pcie
                                   : key_is(k, kn, "x-vga")  ? &h.x_vga
                                   : key_is(k, kn, "rombar") ? &h.rombar
                                                             : &h.legacy_igd;

                        if (!vmconf_boolean_parse(v, vn, dst)) {
                                char q[VMCONF_QUOTE_MAX];

                                pgr_error_set(err, "invalid boolean '%s' for '%s' (expected 1|on|yes|true or "
                                              "0|off|no|false) in '%s'",
                                              vmconf_quote(v, vn, q, sizeof(q)), qk, qv);
                                r = -EINVAL;
                                goto fail;
                        }
                }
        }

        if (have_host && h.mapping) {
                pgr_error_set(err, "'host' and 'mapping' are exclusive in '%s'", qv);
                r = -EINVAL;
                goto fail;
        }
        if (!have_host && !h.mapping) {
                pgr_error_set(err, "neither a PCI ID ('host') nor 'mapping' in '%s'", qv);
                r = -EINVAL;
                goto fail;
        }
        h.present = true;
        *ret = h;
        return 0;
fail:
        hostpci_done(&h);
        return r;
}

int hostpci_parse(const char *value, struct hostpci *ret, struct pgr_error *err)
{
        if (!value) {
                pgr_error_set(err, "empty value");
                return -EINVAL;
        }
        return hostpci_parse_n(value, strlen(value), ret, err);
}

/* ---- the config file ---- */

/* Keys seen in the current section: an open-addressing set of slices of the text, so that a 1 MiB
 * file of short lines stays linear. */
struct keyset {
        struct slice {
                const char *s;
                size_t n;
        } *slots;
        size_t cap, used;
};

static uint64_t hash_slice(const char *s, size_t n)
{
        uint64_t h = 1469598103934665603ULL;

        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
        return h;
}

/* 1 if newly added, 0 if already present, -ENOMEM. */
static int keyset_add(struct keyset *ks, const char *s, size_t n)
{
        size_t i;

        if ((ks->used + 1) * 2 > ks->cap) {
                size_t ncap = ks->cap ? ks->cap * 2 : 64;
                struct slice *ns = calloc(ncap, sizeof(*ns));

                if (!ns)
                        return -ENOMEM;
                for (size_t j = 0; j < ks->cap; j++) {
                        if (!ks->slots[j].s)
                                continue;
                        i = hash_slice(ks->slots[j].s, ks->slots[j].n) & (ncap - 1);
                        while (ns[i].s)
                                i = (i + 1) & (ncap - 1);
                        ns[i] = ks->slots[j];
                }
                free(ks->slots);
                ks->slots = ns;
                ks->cap = ncap;
        }
        i = hash_slice(s, n) & (ks->cap - 1);
        while (ks->slots[i].s) {
                if (ks->slots[i].n == n && memcmp(ks->slots[i].s, s, n) == 0)
                        return 0;
                i = (i + 1) & (ks->cap - 1);
        }
        ks->slots[i] = (struct slice){ s, n };
        ks->used++;
        return 1;
}

void vmconf_free(struct vmconf *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++)
                hostpci_done(&c->hostpci[i]);
        free(c->hookscript);
        free(c->machine);
        free(c->bios);
        free(c->lock);
        free(c->affinity);
        for (size_t i = 0; i < VMCONF_MAX_NUMA; i++)
                free(c->numa_nodes[i]);
        free(c);
}

/* qemu-server's key syntax: [a-z][a-z_-]*\d* */
static size_t key_len(const char *s, size_t n)
{
        size_t i = 0;

        if (n == 0 || s[0] < 'a' || s[0] > 'z')
                return 0;
        for (i = 1; i < n && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' || s[i] == '-'); i++)
                ;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                ;
        return i;
}

/* hostpci0..hostpci15 → index; -1 for any other key starting with "hostpci". */
static int hostpci_index(const char *k, size_t kn)
{
        const char *d = k + 7;
        size_t dn = kn - 7;

        if (dn == 0 || dn > 2 || (dn == 2 && d[0] == '0'))
                return -1;
        for (size_t i = 0; i < dn; i++)
                if (d[i] < '0' || d[i] > '9')
                        return -1;
        int idx = dn == 1 ? d[0] - '0' : (d[0] - '0') * 10 + (d[1] - '0');
        return idx < VMCONF_MAX_HOSTPCI ? idx : -1;
}

static int set_string(char **dst, const char *v, size_t vn)
{
        char *s = strndup(v, vn);

        if (!s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

int vmconf_parse(const char *text, size_t len, const char *filename, struct vmconf **ret, struct pgr_error *err)
{
        _cleanup_(vmconf_freep) struct vmconf *c = NULL;
        struct keyset keys = {};
        unsigned lineno = 0;
        size_t pos = 0;
        int r = 0;

        if (!filename)
                filename = "(config)";
        r = text_check(text, len, VMCONF_MAX_SIZE, filename, ", the limit of a Proxmox config", err);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++)
                hostpci_init(&c->hostpci[i]);
        c->reboot = -1;
        c->numa = -1;
        snprintf(c->path, sizeof(c->path), "%s", filename);

        while (pos < len) {
                const char *line = text + pos, *eol = memchr(line, '\n', len - pos);
                size_t n = eol ? (size_t)(eol - line) : len - pos;
                const char *v;
                size_t kn, vn, i;
                bool blank = true;
                char q[VMCONF_QUOTE_MAX];

                pos += n + (eol ? 1 : 0);
                lineno++;
                while (n > 0 && line[n - 1] == '\r') /* CRLF */
                        n--;
                if (n > 0 && line[0] == '[') /* [PENDING], [special:...], [snapshot]: not the current config */
                        break;
                for (i = 0; i < n; i++)
                        if (!isspace((unsigned char)line[i]))
                                blank = false;
                if (blank || line[0] == '#') /* '#' lines are the description */
                        continue;

                kn = key_len(line, n);
                if (kn == 0 || kn >= n || line[kn] != ':') {
                        pgr_error_set(err, "%s:%u: expected 'key: value', got '%s'", filename, lineno,
                                      vmconf_quote(line, n, q, sizeof(q)));
                        r = -EINVAL;
                        goto out;
                }
                v = line + kn + 1;
                vn = n - kn - 1;
                while (vn > 0 && isspace((unsigned char)v[0]))
                        v++, vn--;
                while (vn > 0 && isspace((unsigned char)v[vn - 1]))
                        vn--;

                r = keyset_add(&keys, line, kn);
                if (r < 0)
                        goto out;
                if (r == 0) {
                        pgr_error_set(err, "%s:%u: duplicate key '%.*s'", filename, lineno, (int)kn, line);
                        r = -EINVAL;
                        goto out;
                }
                r = 0;

                if (kn >= 7 && memcmp(line, "hostpci", 7) == 0) {
                        struct pgr_error herr = {};
                        int idx = hostpci_index(line, kn);

                        if (idx < 0) {
                                pgr_error_set(err, "%s:%u: unknown key '%.*s' (hostpci0 to hostpci%d)", filename,
                                              lineno, (int)kn, line, VMCONF_MAX_HOSTPCI - 1);
                                r = -EINVAL;
                                goto out;
                        }
                        r = hostpci_parse_n(v, vn, &c->hostpci[idx], &herr);
                        if (r == -ENOMEM)
                                goto out;
                        if (r < 0) {
                                pgr_error_set(err, "%s:%u: %.*s: %s", filename, lineno, (int)kn, line, herr.msg);
                                goto out;
                        }
                        c->hostpci[idx].index = (unsigned)idx;
                        c->hostpci[idx].line = lineno;
                        continue;
                }

                /* doctor's NUMA facts: kept as written, never an error (see vmconf.h) */
                if (key_is(line, kn, "numa")) {
                        if (!vmconf_boolean_parse(v, vn, &c->numa))
                                c->numa = -1;
                        continue;
                }
                if (key_is(line, kn, "affinity") || (kn == 5 && memcmp(line, "numa", 4) == 0 && line[4] >= '0' &&
                                                     line[4] < '0' + VMCONF_MAX_NUMA)) {
                        char **to = line[0] == 'a' ? &c->affinity : &c->numa_nodes[line[4] - '0'];

                        if (vn > 0) {
                                r = set_string(to, v, vn);
                                if (r < 0)
                                        goto out;
                        }
                        continue;
                }

                char **dst = key_is(line, kn, "hookscript") ? &c->hookscript
                             : key_is(line, kn, "machine")  ? &c->machine
                             : key_is(line, kn, "bios")     ? &c->bios
                             : key_is(line, kn, "lock")     ? &c->lock
                                                            : NULL;
                bool is_reboot = key_is(line, kn, "reboot");

                if (!dst && !is_reboot) /* cores, net0, args, ...: not ours */
                        continue;
                if (vn == 0) {
                        pgr_error_set(err, "%s:%u: %.*s: empty value", filename, lineno, (int)kn, line);
                        r = -EINVAL;
                        goto out;
                }
                if (is_reboot) {
                        if (!vmconf_boolean_parse(v, vn, &c->reboot)) {
                                pgr_error_set(err, "%s:%u: reboot: invalid boolean '%s'", filename, lineno,
                                              vmconf_quote(v, vn, q, sizeof(q)));
                                r = -EINVAL;
                                goto out;
                        }
                        continue;
                }
                r = set_string(dst, v, vn);
                if (r < 0)
                        goto out;
        }

        *ret = c;
        c = NULL;
out:
        free(keys.slots);
        return r;
}

int vmconf_load(const struct pgr_ctx *ctx, unsigned long vmid, const char *migrated_from, struct vmconf **ret,
                struct pgr_error *err)
{
        _cleanup_free_ char *text = NULL;
        struct vmconf *c = NULL;
        char abs[PATH_MAX], full[PATH_MAX];
        size_t len = 0;
        int r, n;

        if (vmid < VMID_MIN || vmid > VMID_MAX) {
                pgr_error_set(err, "invalid VMID %lu (%lu to %lu)", vmid, VMID_MIN, VMID_MAX);
                return -EINVAL;
        }
        if (migrated_from && *migrated_from) {
                char q[VMCONF_QUOTE_MAX];
                size_t mn = strlen(migrated_from);
                bool ok = mn < 256 && migrated_from[0] != '.' && !strchr(migrated_from, '/');

                for (size_t i = 0; ok && i < mn; i++)
                        ok = (unsigned char)migrated_from[i] > 0x20 && migrated_from[i] != 0x7f;
                if (!ok) {
                        pgr_error_set(err, "VM %lu: invalid source node name '%s' (PVE_MIGRATED_FROM)", vmid,
                                      vmconf_quote(migrated_from, mn, q, sizeof(q)));
                        return -EINVAL;
                }
                n = snprintf(abs, sizeof(abs), "/etc/pve/nodes/%s/qemu-server/%lu.conf", migrated_from, vmid);
        } else
                n = snprintf(abs, sizeof(abs), "/etc/pve/qemu-server/%lu.conf", vmid);
        if (n < 0 || (size_t)n >= sizeof(abs))
                return -ENAMETOOLONG;
        r = pgr_path(ctx, full, sizeof(full), abs);
        if (r < 0) {
                pgr_error_set(err, "VM %lu: path of %s too long under the root prefix", vmid, abs);
                return r;
        }

        r = read_full_file(full, VMCONF_MAX_SIZE, &text, &len);
        if (r == -ENOENT) {
                pgr_error_set(err, "VM %lu: no config at %s", vmid, abs);
                return r;
        }
        if (r == -ELOOP) {
                pgr_error_set(err, "VM %lu: %s: symlink loop (too many levels of symbolic links)", vmid, abs);
                return r;
        }
        if (r == -EFBIG) {
                pgr_error_set(err, "VM %lu: %s is larger than %d bytes (1 MiB), the limit of a Proxmox config",
                              vmid, abs, VMCONF_MAX_SIZE);
                return r;
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                pgr_error_set(err, "VM %lu: cannot read %s: %s", vmid, abs, strerror(-r));
                return r;
        }

        r = vmconf_parse(text, len, abs, &c, err);
        if (r < 0)
                return r;
        c->vmid = vmid;
        snprintf(c->path, sizeof(c->path), "%s", abs);
        *ret = c;
        return 0;
}

static int cmp_ulong(const void *a, const void *b)
{
        unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

        return x < y ? -1 : x > y;
}

int vmconf_list_vmids(const struct pgr_ctx *ctx, unsigned long **ret, size_t *ret_n)
{
        unsigned long *v = NULL;
        size_t n = 0, alloc = 0;
        char path[PATH_MAX];
        struct dirent *de;
        DIR *dir;
        int r;

        *ret = NULL;
        *ret_n = 0;
        r = pgr_path(ctx, path, sizeof(path), "/etc/pve/qemu-server");
        if (r < 0)
                return r;
        dir = opendir(path);
        if (!dir)
                return 0;
        while ((de = readdir(dir))) {
                char name[32];
                size_t len = strlen(de->d_name);
                unsigned long vmid;

                if (len < 6 || len >= sizeof(name) || !streq(de->d_name + len - 5, ".conf"))
                        continue;
                snprintf(name, sizeof(name), "%.*s", (int)(len - 5), de->d_name);
                if (vmid_parse(name, &vmid) < 0)
                        continue;
                if (n == alloc) {
                        unsigned long *nv = realloc(v, (alloc ? alloc * 2 : 16) * sizeof(*v));

                        if (!nv) {
                                closedir(dir);
                                free(v);
                                return -ENOMEM;
                        }
                        v = nv;
                        alloc = alloc ? alloc * 2 : 16;
                }
                v[n++] = vmid;
        }
        closedir(dir);
        qsort(v, n, sizeof(*v), cmp_ulong);
        *ret = v;
        *ret_n = n;
        return 0;
}
