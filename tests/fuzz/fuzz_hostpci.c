/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hostpci_parse (one "hostpciN:" value) and the Proxmox helpers it shares with mapping.c. The same
 * value as a line of a VM config must give the same result. */
#define _GNU_SOURCE 1 /* asprintf */
#include "fuzz.h"

#include <ctype.h>
#include <errno.h>

#include "pve/propstr.h"
#include "pve/vmconf.h"

static bool one_line(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
                return false;
        /* parse_vm_config takes a line ending in "snapstate: prepare" for the snapshot state */
        return !strchr(s, '\n') && !strchr(s, '\r') && !strstr(s, "snapstate:");
}

static void check_against_config(const char *value, int r, const struct hostpci *h)
{
        _cleanup_free_ char *text = NULL;
        struct vmconf *c = NULL;
        struct pgr_error err = {};
        int rc;

        if (!one_line(value) || asprintf(&text, "hostpci3: %s\n", value) < 0)
                return;
        rc = vmconf_parse(text, strlen(text), "fuzz.conf", &c, &err);
        if (rc == -ENOMEM || r == -ENOMEM) {
                vmconf_free(c);
                return;
        }
        FUZZ_CHECK(rc == 0); /* a bad value is a warning, never a failed parse */
        FUZZ_CHECK(c->hostpci[3].present == (r == 0));
        FUZZ_CHECK((c->n_warnings == 1) == (r != 0));
        if (r != 0) {
                vmconf_free(c);
                return;
        }
        FUZZ_CHECK(c->hostpci[3].n_ids == h->n_ids);
        FUZZ_CHECK(h->n_ids == 0 || memcmp(c->hostpci[3].ids, h->ids, h->n_ids * sizeof(h->ids[0])) == 0);
        FUZZ_CHECK((c->hostpci[3].mapping == NULL) == (h->mapping == NULL));
        FUZZ_CHECK(c->hostpci[3].driver == h->driver);
        vmconf_free(c);
}

static void check_helpers(const char *s, size_t n)
{
        char why[128], q[TEXT_QUOTE_MAX];
        int b = 42, r;

        for (int need_domain = 0; need_domain <= 1; need_domain++) {
                struct pci_addr *list = NULL;
                size_t count = 0;

                why[0] = '\0';
                r = vmconf_proxmox_pci_ids_parse(s, n, need_domain, &list, &count, why, sizeof(why));
                FUZZ_CHECK(memchr(why, '\0', sizeof(why)));
                if (r < 0) {
                        FUZZ_CHECK((r == -EINVAL || r == -ENXIO || r == -ENOMEM) && list == NULL && why[0]);
                        continue;
                }
                FUZZ_CHECK(count >= 1 && list);
                for (size_t i = 0; i < count; i++)
                        FUZZ_CHECK(list[i].bus <= 0xff && list[i].slot <= 0x1f && list[i].func >= -1 && list[i].func <= 7);
                free(list);
        }
        (void)vmconf_configid_valid(s, n);
        if (propstr_boolean(s, n, &b))
                FUZZ_CHECK(b == 0 || b == 1);
        FUZZ_CHECK(text_quote(s, n, q, sizeof(q)) == q);
        FUZZ_CHECK(strlen(q) < sizeof(q));
        for (const char *p = q; *p; p++)
                FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *value = fuzz_strdup(data, size);
        _cleanup_free_ char *exact = fuzz_memdup(data, size);
        struct hostpci h, untouched;
        struct pgr_error err = {};
        int r;

        memset(&h, 0x5a, sizeof(h));
        untouched = h;
        r = hostpci_parse(value, &h, &err);
        FUZZ_CHECK_ERRMSG(&err);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ENXIO || r == -ENOMEM);
                FUZZ_CHECK(memcmp(&h, &untouched, sizeof(h)) == 0); /* ret untouched on error */
                FUZZ_CHECK(err.msg[0]);
        } else {
                FUZZ_CHECK(h.present);
                FUZZ_CHECK(h.n_ids == 0 || h.ids);
                FUZZ_CHECK((h.n_ids > 0) != (h.mapping != NULL));
                for (size_t i = 0; i < h.n_ids; i++) /* any domain: VMD domains are 10000 and up */
                        FUZZ_CHECK(h.ids[i].bus <= 0xff && h.ids[i].slot <= 0x1f && h.ids[i].func >= -1 &&
                                   h.ids[i].func <= 7);
        }
        check_against_config(value, r, &h);
        if (r == 0)
                hostpci_done(&h);
        check_helpers(exact, size);
        return 0;
}
