/* SPDX-License-Identifier: GPL-2.0-or-later */
/* history_parse_since and history_filter_init: the --since and --device arguments of `history`.
 * Input: 8 bytes of "now", then since NUL device. */
#include "fuzz.h"

#include <errno.h>
#include <limits.h>

#include "log/history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_fields f;
        struct pgr_error err = {};
        struct history_filter hf = {};
        long long now = 0, v = 777;
        int r;

        if (size < 8)
                return 0;
        memcpy(&now, data, sizeof(now));
        /* journald timestamps: 1970 .. year 2500; the reference is the current time, always in range */
        if (now < 0 || now > 16725225600000000LL)
                now = 1795530319000000LL;
        fuzz_fields_split(data + 8, size - 8, 2, &f);

        r = history_parse_since(f.f[0], now, &v, &err);
        FUZZ_CHECK_ERRMSG(&err);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ERANGE);
                FUZZ_CHECK(err.msg[0]);
        } else {
                FUZZ_CHECK(r == 0);
                if (streq(f.f[0], "now"))
                        FUZZ_CHECK(v == now);
        }

        memset(&err, 0, sizeof(err));
        r = history_filter_init(&hf, f.f[1][0] ? f.f[1] : NULL, f.f[0][0] ? f.f[0] : NULL, &err);
        FUZZ_CHECK_ERRMSG(&err);
        if (r < 0)
                FUZZ_CHECK(err.msg[0]);
        else if (hf.has_slot)
                FUZZ_CHECK(FUZZ_ADDR_OK(hf.slot, -1));
        fuzz_fields_done(&f);
        return 0;
}
