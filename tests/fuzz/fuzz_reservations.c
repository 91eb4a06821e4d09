/* SPDX-License-Identifier: GPL-2.0-or-later */
/* reservations_parse: Proxmox's /run/qemu-server/pci-id-reservations as exact-size bytes. */
#include "fuzz.h"

#include <errno.h>
#include <limits.h>

#include "pve/reservations.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct reservations r = {};
        size_t bad = 0, lines = 0;
        struct pci_addr a = { 0, 1, 0, 0 };
        int rc;

        rc = reservations_parse((const char *)data, size, &r, &bad);
        if (rc < 0) {
                FUZZ_CHECK(rc == -ENOMEM || rc == -EFBIG || rc == -EINVAL);
                return 0;
        }
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
        lines += size > 0 && data[size - 1] != '\n';
        FUZZ_CHECK(r.n + bad <= lines);
        FUZZ_CHECK(r.n == 0 || r.items);
        for (size_t i = 0; i < r.n; i++) {
                const struct reservation *it = &r.items[i];

                FUZZ_CHECK(FUZZ_ADDR_OK(it->addr, -1));
                FUZZ_CHECK(it->vmid > 0);
                FUZZ_CHECK((it->expires >= 0) != (it->pid >= 0)); /* time: or pid:, one of them */
                FUZZ_CHECK(it->pid <= INT_MAX);
        }
        /* No <root>/proc under this root: a pid entry counts as dead, a time entry lives until its
         * epoch, inclusive; so each time entry holds its device at that epoch for any other VM. */
        {
                struct pgr_ctx ctx;

                FUZZ_CHECK(pgr_ctx_init(&ctx, "/nonexistent-fuzz-root", "pve") == 0);
                (void)reservations_holder(&ctx, &r, &a, 100, 1700000000);
                for (size_t i = 0; i < r.n && i < 8; i++) {
                        const struct reservation *it = &r.items[i];
                        struct pci_addr fn = it->addr;

                        if (it->expires < 0 || it->vmid == ULONG_MAX)
                                continue;
                        if (fn.func < 0)
                                fn.func = 3;
                        FUZZ_CHECK(reservations_holder(&ctx, &r, &fn, ULONG_MAX, it->expires) != 0);
                }
        }
        reservations_done(&r);
        return 0;
}
