/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /etc/pve/qemu-server/<vmid>.conf: the current section's hostpciN lines and the few keys we need.
 * Reads it as qemu-server's parse_vm_config and pve-common's parse_property_string do: what Proxmox
 * skips or drops is skipped here with a warning, so the hook touches exactly the devices Proxmox will
 * pass and never refuses a config Proxmox starts. Parsers take (buffer, length), never read past it. */
#define _GNU_SOURCE /* memmem, vasprintf */
#include "pve/vmconf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pve/propstr.h"


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
        free(h->ids);
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

/* Proxmox's pve-configid (pve-common JSONSchema.pm $CONFIGID_RE): [a-z][a-z0-9_-]+, case-insensitive, no
 * length limit. */
bool vmconf_configid_valid(const char *s, size_t n)
{
        if (n < 2 || !isalpha((unsigned char)s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

static bool key_is(const char *k, size_t kn, const char *name)
{
        return kn == strlen(name) && memcmp(k, name, kn) == 0;
}

/* qemu-server PCI.pm: vendor-id & co. match ^0x[0-9a-fA-F]{4}$ (a lower-case x). */
static bool parse_hex_id(const char *s, size_t n, int *ret)
{
        unsigned v = 0;

        if (n != 6 || s[0] != '0' || s[1] != 'x')
                return false;
        for (size_t i = 2; i < 6; i++) {
                if (!is_hex(s[i]))
                        return false;
                v = v * 16 + hexval(s[i]);
        }
        *ret = (int)v;
        return true;
}

/* No byte of s is in chars (the patterns [^,;]+ and [^/.:]+ of PCI.pm; never empty here). */
static bool none_of(const char *s, size_t n, const char *chars)
{
        for (size_t i = 0; i < n; i++)
                if (strchr(chars, s[i]) && s[i] != '\0')
                        return false;
        return true;
}

static bool lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

/* One ID against PCI.pm's $PCIRE, which has no /i: (?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?
 * Sets *domain_len (0 without a domain). any_dot: pve-guest-common Mapping/PCI.pm's $PCI_RE, built in a
 * double-quoted string where "\." is a plain "." (any character but a line feed). */
static bool pcire_match(const char *s, size_t n, bool any_dot, size_t *domain_len)
{
        const char *c = memchr(s, ':', n);
        size_t d = 0;

        if (!c)
                return false;
        if (memchr(c + 1, ':', n - (size_t)(c + 1 - s))) { /* a domain */
                d = (size_t)(c - s);
                if (d < 4)
                        return false;
                for (size_t i = 0; i < d; i++)
                        if (!lower_hex(s[i]))
                                return false;
                s += d + 1;
                n -= d + 1;
        }
        if (!(n == 5 || n == 7) || !lower_hex(s[0]) || !lower_hex(s[1]) || s[2] != ':' || !lower_hex(s[3]) ||
            !lower_hex(s[4]) || (n == 7 && ((any_dot ? s[5] == '\n' : s[5] != '.') || !lower_hex(s[6]))))
                return false;
        *domain_len = d;
        return true;
}

/* The device an ID that matched $PCIRE names, as SysFSTools::lspci finds it: it compares the ID
 * with the sysfs names (domain printed with %04x, device 00-1f, function 0-7), so an ID outside
 * those names no device. -ENXIO with the reason in why. */
static int pcire_to_addr(const char *s, size_t n, size_t domain_len, struct pci_addr *ret, char *why,
                         size_t why_size)
{
        struct pci_addr a = { .func = -1 };
        const char *p = s;
        char q[TEXT_QUOTE_MAX];

        if (domain_len) {
                if (domain_len > 8 || (domain_len > 4 && s[0] == '0')) {
                        snprintf(why, why_size, "no PCI device can have ID '%s': the kernel names domains with "
                                 "%%04x, at most 8 digits and no leading 0 beyond 4",
                                 text_quote(s, n, q, sizeof(q)));
                        return -ENXIO;
                }
                for (size_t i = 0; i < domain_len; i++)
                        a.domain = a.domain * 16 + hexval(s[i]);
                p = s + domain_len + 1;
        }
        a.bus = hexval(p[0]) * 16 + hexval(p[1]);
        a.slot = hexval(p[3]) * 16 + hexval(p[4]);
        if (a.slot > 0x1f) {
                snprintf(why, why_size, "no PCI device can have ID '%s': device number %c%c is out of range (00-1f)",
                         text_quote(s, n, q, sizeof(q)), p[3], p[4]);
                return -ENXIO;
        }
        if ((size_t)(p - s) + 7 == n) {
                if (p[5] != '.') { /* $PCI_RE's any character: assert_valid appends ".0", never found */
                        snprintf(why, why_size, "no PCI device can have ID '%s': '%c' is not the '.' before a "
                                 "function", text_quote(s, n, q, sizeof(q)), p[5]);
                        return -ENXIO;
                }
                if (p[6] > '7') {
                        snprintf(why, why_size, "no PCI device can have ID '%s': function %c is out of range (0-7)",
                                 text_quote(s, n, q, sizeof(q)), p[6]);
                        return -ENXIO;
                }
                a.func = p[6] - '0';
        }
        *ret = a;
        return 0;
}

/* $PCIRE(;$PCIRE)* (anchored by check_prop's m/^$pattern$/). First the whole pattern, as Proxmox
 * checks it when it reads the config (-EINVAL), then whether each ID can name a device (-ENXIO: the
 * start fails). Allocates *ret_ids. */
int vmconf_proxmox_pci_ids_parse(const char *s, size_t n, bool need_domain, struct pci_addr **ret_ids,
                                 size_t *ret_n, char *why, size_t why_size)
{
        _cleanup_free_ struct pci_addr *ids = NULL;
        size_t count = 1, k = 0, start = 0, dl;
        char q[TEXT_QUOTE_MAX];
        int r;

        for (size_t i = 0; i <= n; i++) {
                if (i < n && s[i] != ';')
                        continue;
                if (!pcire_match(s + start, i - start, need_domain, &dl) || (need_domain && dl == 0)) {
                        snprintf(why, why_size, "value does not match the regex pattern (invalid PCI ID '%s': "
                                 "expected %sbb:ss[.f], lower-case hex)",
                                 text_quote(s + start, i - start, q, sizeof(q)), need_domain ? "dddd:" : "[dddd:]");
                        return -EINVAL;
                }
                start = i + 1;
        }
        for (size_t i = 0; i < n; i++)
                count += s[i] == ';';
        ids = calloc(count, sizeof(*ids));
        if (!ids)
                return -ENOMEM;
        start = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i < n && s[i] != ';')
                        continue;
                (void)pcire_match(s + start, i - start, need_domain, &dl);
                r = pcire_to_addr(s + start, i - start, dl, &ids[k++], why, why_size);
                if (r < 0)
                        return r;
                start = i + 1;
        }
        *ret_ids = ids;
        ids = NULL;
        *ret_n = count;
        return 0;
}

enum hostpci_key {
        HK_HOST, HK_MAPPING, HK_ROMBAR, HK_ROMFILE, HK_PCIE, HK_X_VGA, HK_LEGACY_IGD, HK_MDEV,
        HK_VENDOR_ID, HK_DEVICE_ID, HK_SUB_VENDOR_ID, HK_SUB_DEVICE_ID, HK_DRIVER, HK_COUNT
};

/* qemu-server PCI.pm $hostpci_fmt, key for key. */
static const struct propstr_key hostpci_keys[HK_COUNT] = {
        [HK_HOST] = { "host", PROPSTR_STRING, true },
        [HK_MAPPING] = { "mapping", PROPSTR_STRING, false },
        [HK_ROMBAR] = { "rombar", PROPSTR_BOOLEAN, false },
        [HK_ROMFILE] = { "romfile", PROPSTR_STRING, false },
        [HK_PCIE] = { "pcie", PROPSTR_BOOLEAN, false },
        [HK_X_VGA] = { "x-vga", PROPSTR_BOOLEAN, false },
        [HK_LEGACY_IGD] = { "legacy-igd", PROPSTR_BOOLEAN, false },
        [HK_MDEV] = { "mdev", PROPSTR_STRING, false },
        [HK_VENDOR_ID] = { "vendor-id", PROPSTR_STRING, false },
        [HK_DEVICE_ID] = { "device-id", PROPSTR_STRING, false },
        [HK_SUB_VENDOR_ID] = { "sub-vendor-id", PROPSTR_STRING, false },
        [HK_SUB_DEVICE_ID] = { "sub-device-id", PROPSTR_STRING, false },
        [HK_DRIVER] = { "driver", PROPSTR_STRING, false },
};

static int hostpci_parse_n(const char *value, size_t len, struct hostpci *ret, struct pgr_error *err)
{
        struct propstr_value v[HK_COUNT];
        char qv[TEXT_QUOTE_MAX], q[TEXT_QUOTE_MAX], why[384];
        struct hostpci h;
        int r;

        hostpci_init(&h);
        text_quote(value, len, qv, sizeof(qv));
        if (memchr(value, '\n', len) || memchr(value, '\r', len)) { /* QemuServer.pm check_type */
                pgr_error_set(err, "property contains a line feed in '%s'", qv);
                return -EINVAL;
        }
        r = propstr_parse(value, len, hostpci_keys, HK_COUNT, v, why, sizeof(why));
        if (r < 0) {
                pgr_error_set(err, "%s in '%s'", why, qv);
                return r;
        }

        /* check_object: the pattern, format or enum of each string key (all are checked there, so
         * the order of these messages is ours) */
        for (int k = HK_VENDOR_ID; k <= HK_SUB_DEVICE_ID; k++) {
                int *dst = k == HK_VENDOR_ID ? &h.vendor_id
                           : k == HK_DEVICE_ID ? &h.device_id
                           : k == HK_SUB_VENDOR_ID ? &h.sub_vendor_id
                                                   : &h.sub_device_id;

                if (v[k].set && !parse_hex_id(v[k].s, v[k].n, dst)) {
                        pgr_error_set(err, "%s: value does not match the regex pattern (expected 0x and 4 hex digits, "
                                      "got '%s') in '%s'", hostpci_keys[k].name,
                                      text_quote(v[k].s, v[k].n, q, sizeof(q)), qv);
                        return -EINVAL;
                }
        }
        if (v[HK_MAPPING].set && !vmconf_configid_valid(v[HK_MAPPING].s, v[HK_MAPPING].n)) {
                pgr_error_set(err, "mapping: invalid format - invalid configuration ID '%s' in '%s'",
                              text_quote(v[HK_MAPPING].s, v[HK_MAPPING].n, q, sizeof(q)), qv);
                return -EINVAL;
        }
        if (v[HK_ROMFILE].set && !none_of(v[HK_ROMFILE].s, v[HK_ROMFILE].n, ";")) {
                pgr_error_set(err, "romfile: value does not match the regex pattern [^,;]+ in '%s'", qv);
                return -EINVAL;
        }
        if (v[HK_MDEV].set && !none_of(v[HK_MDEV].s, v[HK_MDEV].n, "/.:")) {
                pgr_error_set(err, "mdev: value does not match the regex pattern [^/.:]+ in '%s'", qv);
                return -EINVAL;
        }
        if (v[HK_DRIVER].set) {
                if (key_is(v[HK_DRIVER].s, v[HK_DRIVER].n, "keep"))
                        h.driver = HOSTPCI_DRIVER_KEEP;
                else if (!key_is(v[HK_DRIVER].s, v[HK_DRIVER].n, "vfio")) {
                        pgr_error_set(err, "driver: value '%s' does not have a value in the enumeration 'vfio, keep' "
                                      "in '%s'", text_quote(v[HK_DRIVER].s, v[HK_DRIVER].n, q, sizeof(q)), qv);
                        return -EINVAL;
                }
        }
        if (v[HK_HOST].set) {
                r = vmconf_proxmox_pci_ids_parse(v[HK_HOST].s, v[HK_HOST].n, false, &h.ids, &h.n_ids, why,
                                                 sizeof(why));
                if (r == -EINVAL) {
                        pgr_error_set(err, "host: %s in '%s'", why, qv);
                        return r;
                }
                if (r == -ENOMEM)
                        return r;
                /* -ENXIO: the start fails; reported below, after what also fails at the start */
        }

        /* PCI.pm parse_hostpci, when the VM starts */
        if (v[HK_HOST].set && v[HK_MAPPING].set) {
                pgr_error_set(err, "Cannot set both 'host' and 'mapping' in '%s'", qv);
                r = -ENXIO;
                goto fail;
        }
        if (!v[HK_HOST].set && !v[HK_MAPPING].set) {
                pgr_error_set(err, "Either 'host' or 'mapping' must be set in '%s'", qv);
                r = -ENXIO;
                goto fail;
        }
        if (r == -ENXIO) {
                pgr_error_set(err, "%s in '%s'", why, qv);
                goto fail;
        }

        h.pcie = v[HK_PCIE].set ? v[HK_PCIE].boolean : -1;
        h.x_vga = v[HK_X_VGA].set ? v[HK_X_VGA].boolean : -1;
        h.rombar = v[HK_ROMBAR].set ? v[HK_ROMBAR].boolean : -1;
        h.legacy_igd = v[HK_LEGACY_IGD].set ? v[HK_LEGACY_IGD].boolean : -1;
        if ((v[HK_MAPPING].set && !(h.mapping = strndup(v[HK_MAPPING].s, v[HK_MAPPING].n))) ||
            (v[HK_ROMFILE].set && !(h.romfile = strndup(v[HK_ROMFILE].s, v[HK_ROMFILE].n))) ||
            (v[HK_MDEV].set && !(h.mdev = strndup(v[HK_MDEV].s, v[HK_MDEV].n)))) {
                r = -ENOMEM;
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
        for (size_t i = 0; i < c->n_warnings; i++)
                free(c->warnings[i].msg);
        free(c->warnings);
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

static int warn(struct vmconf *c, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int warn(struct vmconf *c, unsigned line, const char *fmt, ...)
{
        va_list ap;
        char *msg;
        int n;

        if (c->n_warnings >= VMCONF_MAX_WARNINGS) {
                c->n_warnings_dropped++;
                return 0;
        }
        if (!c->warnings) {
                c->warnings = calloc(VMCONF_MAX_WARNINGS, sizeof(*c->warnings));
                if (!c->warnings)
                        return -ENOMEM;
        }
        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        c->warnings[c->n_warnings++] = (struct vmconf_warning){ .line = line, .msg = msg };
        return 0;
}

/* parse_vm_config's section headers: [PENDING] (any case), [special:cloudinit|fleecing] (any case),
 * [snapshot-name] and, skipped as unknown, any other ^\[([^\]]*)\]\s*$. The last one covers the
 * others: each of them ends the current config. */
static bool section_header(const char *line, size_t n)
{
        const char *close;

        if (n == 0 || line[0] != '[')
                return false;
        close = memchr(line, ']', n);
        if (!close)
                return false;
        for (const char *p = close + 1; p < line + n; p++)
                if (!isspace((unsigned char)*p))
                        return false;
        return true;
}

/* parse_vm_config's unanchored m/snapstate:\s*(prepare|delete)\s*$/: such a line is the snapshot
 * state, whatever comes before it. */
static bool snapstate_line(const char *line, size_t n)
{
        for (const char *p = line; (p = memmem(p, n - (size_t)(p - line), "snapstate:", 10)); p++) {
                const char *q = p + 10, *end = line + n;

                while (q < end && isspace((unsigned char)*q))
                        q++;
                if ((size_t)(end - q) >= 7 && memcmp(q, "prepare", 7) == 0)
                        q += 7;
                else if ((size_t)(end - q) >= 6 && memcmp(q, "delete", 6) == 0)
                        q += 6;
                else
                        continue;
                while (q < end && isspace((unsigned char)*q))
                        q++;
                if (q == end)
                        return true;
        }
        return false;
}

/* "hostpci0".."hostpci15" → index, else -1 (qemu-server's confdesc has exactly these). */
static int hostpci_index(const char *k, size_t kn)
{
        if (kn == 8 && memcmp(k, "hostpci", 7) == 0 && k[7] >= '0' && k[7] <= '9')
                return k[7] - '0';
        if (kn == 9 && memcmp(k, "hostpci1", 8) == 0 && k[8] >= '0' && k[8] <= '5')
                return 10 + k[8] - '0';
        return -1;
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

static int parse_line(struct vmconf *c, const char *filename, const char *vmtag, unsigned lineno, const char *line,
                      size_t n)
{
        char q[TEXT_QUOTE_MAX];
        const char *v;
        size_t kn, vn;
        int r;

        if (line[0] == '#') /* the description */
                return 0;
        if (snapstate_line(line, n))
                return 0;
        kn = key_len(line, n);
        if (kn == 0 || kn >= n || line[kn] != ':') {
                /* leading space, "Cores:", a BOM, a shell command, "[snap1": Proxmox skips the line */
                return warn(c, lineno, "%s:%u: %sunable to parse config: %s (Proxmox skips this line)", filename,
                            lineno, vmtag, text_quote(line, n, q, sizeof(q)));
        }
        v = line + kn + 1;
        vn = n - kn - 1;
        if (vn == 0) /* ^key:\s*(.+?)\s*$ needs a value */
                return warn(c, lineno, "%s:%u: %sunable to parse config: %s (Proxmox skips this line)", filename,
                            lineno, vmtag, text_quote(line, n, q, sizeof(q)));
        {       /* :\s*(.+?)\s*$ — all whitespace: the regex keeps the last character as the value */
                const char *last = v + vn - 1;

                while (vn > 0 && isspace((unsigned char)v[0]))
                        v++, vn--;
                while (vn > 0 && isspace((unsigned char)v[vn - 1]))
                        vn--;
                if (vn == 0)
                        v = last, vn = 1;
        }

        if (kn >= 7 && memcmp(line, "hostpci", 7) == 0) {
                struct pgr_error herr = {};
                struct hostpci h;
                int idx = hostpci_index(line, kn);

                if (idx < 0)
                        return warn(c, lineno, "%s:%u: %sunable to parse value of '%.*s' - unknown setting "
                                    "'%.*s' (Proxmox knows hostpci0 to hostpci%d and skips this line)",
                                    filename, lineno, vmtag, (int)kn, line, (int)kn, line, VMCONF_MAX_HOSTPCI - 1);
                r = hostpci_parse_n(v, vn, &h, &herr);
                if (r == -ENOMEM)
                        return r;
                if (r == -EINVAL) /* an earlier line of the same key stays, as in parse_vm_config */
                        return warn(c, lineno, "%s:%u: %sunable to parse value of '%.*s' - %s: Proxmox starts "
                                    "the VM without this entry, its devices are left alone",
                                    filename, lineno, vmtag, (int)kn, line, herr.msg);
                hostpci_done(&c->hostpci[idx]);
                if (r < 0) /* -ENXIO: Proxmox keeps the value, parse_hostpci refuses the start */
                        return warn(c, lineno, "%s:%u: %.*s: %s: Proxmox refuses to start the VM with this entry, "
                                    "its devices are left alone", filename, lineno, (int)kn, line, herr.msg);
                h.index = (unsigned)idx;
                h.line = lineno;
                c->hostpci[idx] = h;
                return 0;
        }

        if (key_is(line, kn, "delete")) /* parse_vm_config: ^delete:\s*(.*\S)\s*$ outside [PENDING] */
                return !isspace((unsigned char)v[0]) ? warn(c, lineno, "%s:%u: %sproperty 'delete' is only allowed "
                                                       "in [PENDING]", filename, lineno, vmtag)
                                                     : 0;
        if (key_is(line, kn, "reboot")) {
                if (!propstr_boolean(v, vn, &c->reboot))
                        return warn(c, lineno, "%s:%u: %sunable to parse value of 'reboot' - type check "
                                    "('boolean') failed - got '%s'", filename, lineno, vmtag,
                                    text_quote(v, vn, q, sizeof(q)));
                return 0;
        }
        /* doctor's NUMA facts: kept as written, never a warning or an error (see vmconf.h) */
        if (key_is(line, kn, "numa")) {
                if (!propstr_boolean(v, vn, &c->numa))
                        c->numa = -1;
                return 0;
        }
        if (key_is(line, kn, "affinity") ||
            (kn == 5 && memcmp(line, "numa", 4) == 0 && line[4] >= '0' && line[4] < '0' + VMCONF_MAX_NUMA))
                return memchr(v, '\0', vn) ? 0 : set_string(line[0] == 'a' ? &c->affinity : &c->numa_nodes[line[4] - '0'],
                                                              v, vn);
        char **dst = key_is(line, kn, "hookscript") ? &c->hookscript
                     : key_is(line, kn, "machine")  ? &c->machine
                     : key_is(line, kn, "bios")     ? &c->bios
                     : key_is(line, kn, "lock")     ? &c->lock
                                                    : NULL;
        if (!dst) /* cores, net0, args, ...: not ours */
                return 0;
        if (vn == 1 && isspace((unsigned char)v[0])) /* fails the key's format (volume ID, enum, machine type) */
                return warn(c, lineno, "%s:%u: %sunable to parse value of '%.*s' - an empty value", filename, lineno,
                            vmtag, (int)kn, line);
        if (memchr(v, '\0', vn)) /* a C string cannot hold it; nothing of ours is in such a value */
                return warn(c, lineno, "%s:%u: %.*s: a NUL byte in the value, ignored", filename, lineno, (int)kn,
                            line);
        return set_string(dst, v, vn);
}

int vmconf_parse(const char *text, size_t len, const char *filename, struct vmconf **ret, struct pgr_error *err)
{
        _cleanup_(vmconf_freep) struct vmconf *c = NULL;
        unsigned lineno = 0;
        size_t pos = 0;
        char vmtag[32] = "";
        int r;

        if (!filename)
                filename = "(config)";
        if (len > VMCONF_MAX_SIZE) {
                pgr_error_set(err, "%s: larger than %d bytes (1 MiB), the limit of a Proxmox config", filename,
                              VMCONF_MAX_SIZE);
                return -EFBIG;
        }
        if (len > 0 && !text)
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++)
                hostpci_init(&c->hostpci[i]);
        c->reboot = -1;
        c->numa = -1;
        snprintf(c->path, sizeof(c->path), "%s", filename);
        {       /* "vm 100 - " as in Proxmox's warnings, when the file name says which VM */
                const char *base = strrchr(filename, '/');
                unsigned long id;
                char num[16];
                size_t bn;

                base = base ? base + 1 : filename;
                bn = strlen(base);
                if (bn > 5 && bn - 5 < sizeof(num) && streq(base + bn - 5, ".conf")) {
                        memcpy(num, base, bn - 5);
                        num[bn - 5] = '\0';
                        if (vmid_parse(num, &id) == 0)
                                snprintf(vmtag, sizeof(vmtag), "vm %lu - ", id);
                }
        }

        /* A NUL byte is an ordinary byte to Proxmox (Perl strings): no line with one can match what
         * it must not, and every parser here takes (buffer, length). */
        while (pos < len) {
                const char *line = text + pos, *eol = memchr(line, '\n', len - pos);
                size_t n = eol ? (size_t)(eol - line) : len - pos;
                bool blank = true;

                pos += n + (eol ? 1 : 0);
                lineno++;
                for (size_t i = 0; i < n && blank; i++)
                        blank = isspace((unsigned char)line[i]);
                if (blank)
                        continue;
                if (section_header(line, n)) /* [PENDING], [special:...], [snapshot]: not the current config */
                        break;
                r = parse_line(c, filename, vmtag, lineno, line, n);
                if (r < 0)
                        return r;
        }

        *ret = c;
        c = NULL;
        return 0;
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
                char q[TEXT_QUOTE_MAX];
                size_t mn = strlen(migrated_from);
                bool ok = mn < 256 && migrated_from[0] != '.' && !strchr(migrated_from, '/');

                for (size_t i = 0; ok && i < mn; i++)
                        ok = (unsigned char)migrated_from[i] > 0x20 && migrated_from[i] != 0x7f;
                if (!ok) {
                        pgr_error_set(err, "VM %lu: invalid source node name '%s' (PVE_MIGRATED_FROM)", vmid,
                                      text_quote(migrated_from, mn, q, sizeof(q)));
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
