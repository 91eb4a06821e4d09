/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmid_parse: the VMID argument of the hook. Accepted text is exactly the canonical decimal. */
#include "fuzz.h"

#include <errno.h>

#include "pve/vmconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *s = fuzz_strdup(data, size);
        unsigned long v = 12345;
        char back[32];
        int r;

        r = vmid_parse(s, &v);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ERANGE);
                FUZZ_CHECK(v == 12345);
                return 0;
        }
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(v >= VMID_MIN && v <= VMID_MAX);
        snprintf(back, sizeof(back), "%lu", v);
        FUZZ_CHECK(streq(back, s));
        return 0;
}
