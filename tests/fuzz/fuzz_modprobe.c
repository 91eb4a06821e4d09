/* SPDX-License-Identifier: GPL-2.0-or-later */
/* modprobe_conf_parse: a file of /etc/modprobe.d (or /etc/modules) as `doctor` reads it, and
 * the lookups on the result. */
#include "fuzz.h"

#include <errno.h>

#include "base/util.h"
#include "doctor/doctor_modprobe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *text = fuzz_strdup(data, size);
        struct modprobe_conf *c = calloc(1, sizeof(*c));
        const struct modprobe_entry *ids;
        size_t n_ids = 0;
        int r;

        FUZZ_CHECK(c);
        r = modprobe_conf_parse(c, text, "/etc/modprobe.d/fuzz.conf");
        FUZZ_CHECK(r >= 0 || r == -ENOMEM);
        FUZZ_CHECK(c->n <= c->alloc);
        for (size_t i = 0; i < c->n; i++) {
                const struct modprobe_entry *e = &c->v[i];

                FUZZ_CHECK(e->kind >= MODPROBE_BLACKLIST && e->kind < _MODPROBE_KIND_MAX);
                FUZZ_CHECK(memchr(e->module, '\0', sizeof(e->module)) && !strchr(e->module, '-'));
                FUZZ_CHECK(memchr(e->value, '\0', sizeof(e->value)));
                FUZZ_CHECK(streq(e->file, "/etc/modprobe.d/fuzz.conf"));
                FUZZ_CHECK(e->line >= 1);
                FUZZ_CHECK(modprobe_conf_find(c, e->kind, e->module));
                if (e->kind == MODPROBE_VFIO_IDS)
                        (void)modprobe_ids_has(e->value, 0x10de, 0x2204);
        }
        (void)modprobe_conf_blacklisted(c, "nouveau");
        ids = modprobe_conf_vfio_ids(c, &n_ids);
        FUZZ_CHECK((ids != NULL) == (n_ids > 0));
        modprobe_conf_free(c);
        return 0;
}
