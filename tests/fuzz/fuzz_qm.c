/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What verify reads from qm (lib/reset/verify.h): `qm status` and `qm guest exec` outputs come from a guest
 * and from Proxmox, and --probe from the command line. Input: selector byte, then the text. */
#include "fuzz.h"

#include <errno.h>

#include "reset/verify.h"

static void check_line(const char *s, size_t size)
{
        FUZZ_CHECK(strlen(s) < size);
        for (; *s; s++)
                FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *s = NULL;
        int r;

        if (size < 1)
                return 0;
        s = fuzz_strdup(data + 1, size - 1);
        switch (data[0] % 3) {
        case 0: {
                char status[16] = "x";

                r = verify_parse_status(s, status, sizeof(status));
                FUZZ_CHECK(r == 0 || r == -EINVAL);
                if (r == 0) {
                        FUZZ_CHECK(status[0] && strlen(status) < sizeof(status));
                        FUZZ_CHECK(!strchr(status, '\n') && !strchr(status, '\r'));
                        FUZZ_CHECK(strstr(s, status));
                }
                break;
        }
        case 1: {
                struct verify_exec_status st;

                r = verify_parse_exec(s, &st);
                FUZZ_CHECK(r == 0 || r == -EINVAL);
                if (r == 0) {
                        check_line(st.out_first, sizeof(st.out_first));
                        check_line(st.err_first, sizeof(st.err_first));
                }
                break;
        }
        default: {
                char buf[64], *argv[8];
                size_t n = 0;

                r = verify_split_command(s, buf, sizeof(buf), argv, ELEMENTSOF(argv), &n);
                FUZZ_CHECK(r == 0 || r == -EINVAL || r == -E2BIG);
                if (r == 0) {
                        FUZZ_CHECK(n >= 1 && n < ELEMENTSOF(argv) && argv[n] == NULL);
                        for (size_t i = 0; i < n; i++)
                                FUZZ_CHECK(argv[i][0] && !strchr(argv[i], ' ') && !strchr(argv[i], '\t'));
                }
                break;
        }
        }
        return 0;
}
