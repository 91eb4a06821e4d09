/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pci_addr_parse / pci_addr_parse_full: PCI addresses from configs, sysfs names and files. Accepted
 * text is exactly what pci_addr_format prints for the result (modulo case and a missing domain). */
#include "fuzz.h"

#include <ctype.h>
#include <errno.h>

#include "base/bdf.h"
#include "base/util.h"

static void check_roundtrip(const char *s, const struct pci_addr *a, bool full)
{
        char buf[PCI_ADDR_STRLEN], want[PCI_ADDR_STRLEN + 8];
        struct pci_addr b;
        size_t n = strlen(s), i;

        FUZZ_CHECK(a->bus <= 0xff && a->slot <= 0x1f && a->func >= -1 && a->func <= 7);
        if (full)
                FUZZ_CHECK(a->func >= 0);
        FUZZ_CHECK(n < sizeof(want) - 5);
        /* "BB:SS" means domain 0000. */
        snprintf(want, sizeof(want), "%s%s", strchr(s, ':') == strrchr(s, ':') ? "0000:" : "", s);
        for (i = 0; want[i]; i++)
                want[i] = (char)tolower((unsigned char)want[i]);
        FUZZ_CHECK(streq(pci_addr_format(a, buf), want));
        FUZZ_CHECK(pci_addr_parse(buf, &b) == 0 && pci_addr_eq(a, &b) && pci_addr_cmp(a, &b) == 0);
        FUZZ_CHECK(pci_addr_same_slot(a, &b));
        if (a->func >= 0)
                FUZZ_CHECK(pci_addr_parse_full(buf, &b) == 0 && pci_addr_eq(a, &b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *s = fuzz_strdup(data, size);
        struct pci_addr a, b, sentinel;
        int r1, r2;

        memset(&a, 0x5a, sizeof(a));
        sentinel = a;
        r1 = pci_addr_parse(s, &a);
        if (r1 == 0)
                check_roundtrip(s, &a, false);
        else
                FUZZ_CHECK(r1 == -EINVAL && memcmp(&a, &sentinel, sizeof(a)) == 0);

        memset(&b, 0x5a, sizeof(b));
        r2 = pci_addr_parse_full(s, &b);
        if (r2 == 0) {
                check_roundtrip(s, &b, true);
                FUZZ_CHECK(r1 == 0 && pci_addr_eq(&a, &b)); /* the strict form is a subset */
        } else
                FUZZ_CHECK(r2 == -EINVAL && memcmp(&b, &sentinel, sizeof(b)) == 0);

        if (r1 == 0 && r2 != 0)
                FUZZ_CHECK(a.func < 0 || strchr(s, ':') == strrchr(s, ':'));
        if (r1 == 0 && r2 == 0) {
                /* an order: antisymmetric with the swap, zero exactly for equal addresses */
                struct pci_addr c = { 0, 1, 0, 0 };
                int x = pci_addr_cmp(&a, &c), y = pci_addr_cmp(&c, &a);

                FUZZ_CHECK((x < 0 && y > 0) || (x > 0 && y < 0) || (x == 0 && y == 0));
                FUZZ_CHECK((x == 0) == pci_addr_eq(&a, &c));
        }
        return 0;
}
