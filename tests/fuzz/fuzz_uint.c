/* SPDX-License-Identifier: GPL-2.0-or-later */
/* parse_uint: every number read from sysfs (d3cold_allowed, iommu_group, vendor...) and from our
 * own files. Input: base selector, max selector, then the text. */
#include "fuzz.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const int bases[] = { 0, 10, 16, 8, 2, 36 };
        static const unsigned long maxes[] = { ULONG_MAX, 0xffffffffUL, INT_MAX, 0xffff, 0xff, 7, 0 };
        _cleanup_free_ char *s = NULL;
        unsigned long v = 4242, max;
        int base, r;

        if (size < 2)
                return 0;
        base = bases[data[0] % ELEMENTSOF(bases)];
        max = maxes[data[1] % ELEMENTSOF(maxes)];
        s = fuzz_strdup(data + 2, size - 2);

        r = parse_uint(s, base, max, &v);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ERANGE);
                FUZZ_CHECK(v == 4242);
                /* plain short decimal within max is always accepted */
                if (base == 10 || base == 0) {
                        size_t n = strlen(s), i;

                        for (i = 0; i < n && isdigit((unsigned char)s[i]); i++)
                                ;
                        if (n > 0 && n <= 9 && i == n && (base == 10 || s[0] != '0'))
                                FUZZ_CHECK(strtoul(s, NULL, 10) > max);
                }
                return 0;
        }
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(v <= max);
        FUZZ_CHECK(s[0] && !isspace((unsigned char)s[0]) && s[0] != '-' && s[0] != '+');
        {
                char *end;

                errno = 0;
                FUZZ_CHECK(strtoul(s, &end, base) == v && *end == '\0' && errno == 0);
        }
        return 0;
}
