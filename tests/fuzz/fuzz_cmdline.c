/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel command line as `doctor` reads it: cmdline_value / cmdline_has, and the module
 * options of the command line (modprobe.blacklist=, vfio-pci.ids=...) through modprobe_conf_load
 * on an empty root. Input: key NUL value NUL cmdline. */
#include "fuzz.h"

#include <errno.h>

#include "base/util.h"
#include "doctor/doctor_host.h"
#include "doctor/doctor_modprobe.h"
#include "kernel/kmodinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_fields f;
        struct pgr_ctx ctx;
        struct modprobe_conf *c = NULL;
        /* libkmod's view of the empty root, made once: it does not depend on the input */
        static struct kmodinfo *km;
        char buf[64];
        const char *v;
        int r;

        fuzz_fields_split(data, size, 3, &f);
        memset(buf, 'x', sizeof(buf));
        v = cmdline_value(f.f[2], f.f[0], buf, sizeof(buf));
        FUZZ_CHECK(!v || memchr(buf, '\0', sizeof(buf)));
        (void)cmdline_has(f.f[2], f.f[0], f.f[1]);

        FUZZ_CHECK(pgr_ctx_init(&ctx, "/nonexistent-fuzz-root", "pve") == 0);
        FUZZ_CHECK(km || kmodinfo_new(&ctx, "6.8.12-4-pve", &km) == 0);
        r = modprobe_conf_load(&ctx, km, f.f[2], &c);
        FUZZ_CHECK(r >= 0 || r == -ENOMEM);
        if (r >= 0) {
                for (size_t i = 0; i < c->n; i++) {
                        const struct modprobe_entry *e = &c->v[i];

                        FUZZ_CHECK(streq(e->file, "/proc/cmdline") && e->line == 0);
                        FUZZ_CHECK(memchr(e->module, '\0', sizeof(e->module)) && !strchr(e->module, '-'));
                        FUZZ_CHECK(memchr(e->value, '\0', sizeof(e->value)));
                        if (e->kind == MODPROBE_VFIO_IDS)
                                (void)modprobe_ids_has(e->value, 0x10de, 0x2204);
                }
                modprobe_conf_free(c);
        }
        fuzz_fields_done(&f);
        return 0;
}
