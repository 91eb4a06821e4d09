/* SPDX-License-Identifier: GPL-2.0-or-later */
/* claim_parse: a claim record (/etc/pve-gpu-reset.d/claims/BDF), read as root at every PCI add event
 * of a claimed device, as exact-size bytes. Promises: -EINVAL/-EFBIG/-ENOMEM or a record with an id,
 * at least one owner (each a VMID or manual, none twice) and a pin the kernel could take. */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "pve/vmconf.h"
#include "reset/claim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct pci_addr a = { 0, 1, 0, 0 };
        struct pgr_error err = {};
        struct claim c;
        int rc;

        memset(&c, 0xa5, sizeof(c));
        rc = claim_parse((const char *)data, size, &a, "fuzz", &c, &err);
        if (rc < 0) {
                FUZZ_CHECK(rc == -EINVAL || rc == -EFBIG || rc == -ENOMEM);
                FUZZ_CHECK(rc == -ENOMEM || err.msg[0]);
                return 0;
        }
        FUZZ_CHECK(c.vendor <= 0xffff && c.device <= 0xffff);
        FUZZ_CHECK(c.n_owners >= 1 && c.n_owners <= CLAIM_MAX_OWNERS);
        for (size_t i = 0; i < c.n_owners; i++) {
                FUZZ_CHECK(c.owners[i] == CLAIM_OWNER_MANUAL || (c.owners[i] >= VMID_MIN && c.owners[i] <= VMID_MAX));
                for (size_t k = 0; k < i; k++)
                        FUZZ_CHECK(c.owners[k] != c.owners[i]);
        }
        /* format 2 names the card: subsystem IDs and a sysfs path of the kernel's PCI names only */
        if (c.identified) {
                FUZZ_CHECK(c.sub_vendor <= 0xffff && c.sub_device <= 0xffff);
                FUZZ_CHECK(memchr(c.path, '\0', sizeof(c.path)) != NULL && strncmp(c.path, "pci", 3) == 0);
                FUZZ_CHECK(!strstr(c.path, ".."));
                for (const char *p = c.path + 3; *p; p++)
                        FUZZ_CHECK((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == ':' || *p == '.' ||
                                   *p == '/');
        } else
                FUZZ_CHECK(!c.has_serial);
        FUZZ_CHECK(memchr(c.pin, '\0', sizeof(c.pin)) != NULL);
        for (const char *p = c.pin; *p; p++)
                FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
        return 0;
}
