/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/bdf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

/* Exactly n hex digits at *p, advancing it. */
static int hex_field(const char **p, size_t n, unsigned *ret)
{
        unsigned v = 0;

        for (size_t i = 0; i < n; i++) {
                int c = (unsigned char)(*p)[i];

                if (!isxdigit(c))
                        return -EINVAL;
                v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
        }
        *p += n;
        *ret = v;
        return 0;
}

static int parse(const char *s, struct pci_addr *ret, bool strict)
{
        struct pci_addr a = { .func = -1 };
        const char *p = s;
        size_t colons = 0;

        for (const char *q = s; *q; q++)
                colons += *q == ':';
        if (colons == 2) {
                /* 4 digits, or more for domains above ffff (Intel VMD: 10000:e0:00.0), as the kernel
                 * prints them (%04x): no leading 0 beyond 4 digits, at most 8 */
                size_t dn = strcspn(s, ":");

                if (dn < 4 || dn > 8 || (dn > 4 && s[0] == '0') || hex_field(&p, dn, &a.domain) < 0 || *p++ != ':')
                        return -EINVAL;
        } else if (colons != 1 || strict)
                return -EINVAL;
        if (hex_field(&p, 2, &a.bus) < 0 || *p++ != ':')
                return -EINVAL;
        if (hex_field(&p, 2, &a.slot) < 0 || a.slot > 0x1f)
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p) || *p > '7')
                        return -EINVAL;
                a.func = *p++ - '0';
        } else if (strict)
                return -EINVAL;
        if (*p)
                return -EINVAL;
        *ret = a;
        return 0;
}

int pci_addr_parse(const char *s, struct pci_addr *ret) { return parse(s, ret, false); }
int pci_addr_parse_full(const char *s, struct pci_addr *ret) { return parse(s, ret, true); }

/* v in lower-case hex, at least min_digits (zero-padded, as %0Nx); returns the end. */
static char *put_hex(char *p, unsigned v, int min_digits)
{
        int digits = 1;

        while (digits < 8 && v >> (4 * digits))
                digits++;
        if (digits < min_digits)
                digits = min_digits;
        for (int i = digits - 1; i >= 0; i--)
                *p++ = "0123456789abcdef"[(v >> (4 * i)) & 0xf];
        return p;
}

/* As "%04x:%02x:%02x.%d", by hand: the hook formats an address about a hundred times per run, and
 * snprintf costs ~2,000 instructions each (callgrind, B1 of tests/bench). */
const char *pci_addr_format(const struct pci_addr *a, char buf[static PCI_ADDR_STRLEN])
{
        char *p = put_hex(buf, a->domain, 4);

        *p++ = ':';
        p = put_hex(p, a->bus & 0xff, 2);
        *p++ = ':';
        p = put_hex(p, a->slot & 0x1f, 2);
        if (a->func >= 0) {
                *p++ = '.';
                *p++ = (char)('0' + (a->func & 7));
        }
        *p = '\0';
        return buf;
}

bool pci_addr_same_slot(const struct pci_addr *a, const struct pci_addr *b)
{
        return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot;
}

bool pci_addr_eq(const struct pci_addr *a, const struct pci_addr *b)
{
        return pci_addr_same_slot(a, b) && a->func == b->func;
}

int pci_addr_cmp(const struct pci_addr *a, const struct pci_addr *b)
{
        if (a->domain != b->domain)
                return a->domain < b->domain ? -1 : 1;
        if (a->bus != b->bus)
                return a->bus < b->bus ? -1 : 1;
        if (a->slot != b->slot)
                return a->slot < b->slot ? -1 : 1;
        if (a->func != b->func)
                return a->func < b->func ? -1 : 1;
        return 0;
}

static int cmp_addr(const void *a, const void *b)
{
        return pci_addr_cmp(a, b);
}

struct list_dir {
        const char *prefix;
        size_t plen, n, max;
        struct pci_addr *ret;
};

static int list_dir_one(const char *name, void *userdata)
{
        struct list_dir *l = userdata;
        struct pci_addr a;

        if (strncmp(name, l->prefix, l->plen) != 0 || pci_addr_parse_full(name + l->plen, &a) < 0)
                return 0;
        if (l->n >= l->max)
                return -ENOBUFS;
        l->ret[l->n++] = a;
        return 0;
}

int pci_addr_list_dir(const char *dir, const char *prefix, struct pci_addr *ret, size_t max, size_t *ret_n)
{
        struct list_dir l = { .prefix = prefix, .plen = strlen(prefix), .max = max, .ret = ret };
        int fd, r;

        *ret_n = 0;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = dir_each(fd, list_dir_one, &l);
        close(fd);
        qsort(ret, l.n, sizeof(ret[0]), cmp_addr);
        *ret_n = l.n;
        return r < 0 ? r : 0;
}

int pci_id_parse(const char *s, unsigned *ret_vendor, unsigned *ret_device)
{
        unsigned v[2] = {};

        if (strlen(s) != 9 || s[4] != ':')
                return -EINVAL;
        for (size_t i = 0; i < 9; i++) {
                unsigned x;

                if (i == 4)
                        continue;
                if (s[i] >= '0' && s[i] <= '9')
                        x = (unsigned)(s[i] - '0');
                else if (s[i] >= 'a' && s[i] <= 'f')
                        x = (unsigned)(s[i] - 'a' + 10);
                else
                        return -EINVAL;
                v[i > 4] = v[i > 4] << 4 | x;
        }
        *ret_vendor = v[0];
        *ret_device = v[1];
        return 0;
}
