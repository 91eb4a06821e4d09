/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kmsg_parse_text: the kernel log `doctor` reads (/dev/kmsg records, dmesg, syslog, mail-quoted
 * and wrapped text), as exact-size bytes; fed twice, as the loader may add several sources. */
#include "fuzz.h"

#include <errno.h>

#include "base/util.h"
#include "doctor/doctor_kmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kmsg_log *log = kmsg_log_new();
        size_t half = size / 2;
        int r;

        FUZZ_CHECK(log);
        r = kmsg_parse_text(log, (const char *)data, half);
        if (r >= 0)
                r = kmsg_parse_text(log, (const char *)data + half, size - half);
        FUZZ_CHECK(r >= 0 || r == -ENOMEM);
        FUZZ_CHECK(log->n <= log->alloc);
        for (size_t i = 0; i < log->n; i++) {
                const struct kmsg_event *e = &log->v[i];
                struct pci_addr a;

                FUZZ_CHECK((unsigned)e->kind < _KMSG_KIND_MAX);
                FUZZ_CHECK(kmsg_kind_to_string(e->kind));
                FUZZ_CHECK(e->count >= 1);
                FUZZ_CHECK(memchr(e->slot, '\0', sizeof(e->slot)));
                FUZZ_CHECK(!e->slot[0] || pci_addr_parse_full(e->slot, &a) == 0);
                FUZZ_CHECK(memchr(e->first_time, '\0', sizeof(e->first_time)));
                FUZZ_CHECK(memchr(e->time, '\0', sizeof(e->time)));
                FUZZ_CHECK(memchr(e->text, '\0', sizeof(e->text)));
                FUZZ_CHECK(kmsg_log_find(log, e->kind, e->slot[0] ? e->slot : NULL));
                (void)kmsg_kind_status(e->kind);
                (void)kmsg_kind_host_wide(e->kind);
        }
        kmsg_log_free(log);
        return 0;
}
