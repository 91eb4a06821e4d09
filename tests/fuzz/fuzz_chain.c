/* SPDX-License-Identifier: GPL-2.0-or-later */
/* chain_parse: a VM's attach state (/etc/pve-gpu-reset.d/vm-VMID.json), read as root by the hook,
 * which runs the hookscript it names. Promises: -EINVAL/-EFBIG/-ENOMEM with a message, or an absolute
 * hookscript path and a snippets volume id, both NUL-terminated and free of control characters. */
#include "fuzz.h"

#include <errno.h>

#include "pve/storagecfg.h"
#include "reset/chain.h"

static bool printable(const char *s, size_t size)
{
        const char *end = memchr(s, '\0', size);

        if (!end)
                return false;
        for (; s < end; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct pgr_error err = {};
        char sid[STORAGE_ID_MAX];
        const char *name;
        struct chain c;
        int rc;

        memset(&c, 0xa5, sizeof(c));
        rc = chain_parse((const char *)data, size, "fuzz", 101, &c, &err);
        if (rc < 0) {
                FUZZ_CHECK(rc == -EINVAL || rc == -EFBIG || rc == -ENOMEM);
                FUZZ_CHECK(rc == -ENOMEM || err.msg[0]);
                return 0;
        }
        FUZZ_CHECK(c.vmid == 101);
        FUZZ_CHECK(printable(c.hookscript, sizeof(c.hookscript)) && c.hookscript[0] == '/');
        FUZZ_CHECK(printable(c.volid, sizeof(c.volid)) && snippet_volid_parse(c.volid, sid, &name) == 0);
        return 0;
}
