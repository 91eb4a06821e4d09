/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmconf_parse: a whole /etc/pve/qemu-server/<vmid>.conf, as exact-size bytes (no NUL after). Like
 * Proxmox's parse_vm_config it never fails on content: bad lines and values become warnings. */
#include "fuzz.h"

#include <errno.h>

#include "pve/vmconf.h"

static void check_hostpci(const struct hostpci *h, unsigned index)
{
        if (!h->present)
                return;
        FUZZ_CHECK(h->index == index);
        FUZZ_CHECK(h->line >= 1);
        FUZZ_CHECK(h->n_ids == 0 || h->ids);
        FUZZ_CHECK((h->n_ids > 0) != (h->mapping != NULL)); /* host= and mapping= are exclusive, one is required */
        for (size_t i = 0; i < h->n_ids; i++) {
                FUZZ_CHECK(h->ids[i].bus <= 0xff);
                FUZZ_CHECK(h->ids[i].slot <= 0x1f);
                FUZZ_CHECK(h->ids[i].func >= -1 && h->ids[i].func <= 7);
        }
        FUZZ_CHECK(h->vendor_id >= -1 && h->vendor_id <= 0xffff);
        FUZZ_CHECK(h->device_id >= -1 && h->device_id <= 0xffff);
        FUZZ_CHECK(h->sub_vendor_id >= -1 && h->sub_vendor_id <= 0xffff);
        FUZZ_CHECK(h->sub_device_id >= -1 && h->sub_device_id <= 0xffff);
        FUZZ_CHECK(h->driver == HOSTPCI_DRIVER_VFIO || h->driver == HOSTPCI_DRIVER_KEEP);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vmconf *c = NULL;
        struct pgr_error err = {};
        int r;

        r = vmconf_parse((const char *)data, size, "fuzz.conf", &c, &err);
        FUZZ_CHECK_ERRMSG(&err);
        if (r < 0) {
                FUZZ_CHECK(c == NULL);
                FUZZ_CHECK(r == -EFBIG || r == -ENOMEM);
                if (r != -ENOMEM) /* the message names the file */
                        FUZZ_CHECK(strncmp(err.msg, "fuzz.conf", 9) == 0);
                return 0;
        }
        FUZZ_CHECK(c->n_warnings <= VMCONF_MAX_WARNINGS);
        FUZZ_CHECK(c->n_warnings_dropped == 0 || c->n_warnings == VMCONF_MAX_WARNINGS);
        for (size_t i = 0; i < c->n_warnings; i++) /* each names file:line */
                FUZZ_CHECK(c->warnings[i].line >= 1 && strncmp(c->warnings[i].msg, "fuzz.conf:", 10) == 0);
        FUZZ_CHECK(r == 0 && c);
        for (unsigned i = 0; i < VMCONF_MAX_HOSTPCI; i++)
                check_hostpci(&c->hostpci[i], i);
        FUZZ_CHECK(c->reboot >= -1 && c->reboot <= 1);
        FUZZ_CHECK(!c->hookscript || c->hookscript[0]);
        FUZZ_CHECK(streq(c->path, "fuzz.conf"));
        vmconf_free(c);
        return 0;
}
