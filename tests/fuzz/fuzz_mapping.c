/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mapping_parse: /etc/pve/mapping/pci.cfg as exact-size bytes. */
#include "fuzz.h"

#include <errno.h>

#include "pve/mapping.h"
#include "pve/vmconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mapping_file *f = NULL;
        struct pgr_error err = {};
        int r;

        r = mapping_parse((const char *)data, size, "pci.cfg", &f, &err);
        FUZZ_CHECK_ERRMSG(&err);
        if (r < 0) {
                /* only the size limit and memory refuse: everything else is a skipped line */
                FUZZ_CHECK(f == NULL);
                FUZZ_CHECK(r == -EFBIG || r == -ENOMEM);
                if (r != -ENOMEM)
                        FUZZ_CHECK(strncmp(err.msg, "pci.cfg", 7) == 0);
                return 0;
        }
        FUZZ_CHECK(f);
        FUZZ_CHECK(f->n_warnings <= MAPPING_MAX_WARNINGS);
        for (size_t i = 0; i < f->n_warnings; i++)
                FUZZ_CHECK(f->warnings[i] && strncmp(f->warnings[i], "pci.cfg:", 8) == 0);
        for (size_t i = 0; i < f->n_mappings; i++) {
                const struct mapping *m = &f->mappings[i];
                const struct mapping *found = mapping_find(f, m->name);

                FUZZ_CHECK(m->name && vmconf_configid_valid(m->name, strlen(m->name)));
                FUZZ_CHECK(found && found >= m && streq(found->name, m->name)); /* the last one wins */
                FUZZ_CHECK(m->line >= 1);
                for (size_t j = 0; j < m->n_maps; j++) {
                        const struct mapping_map *mm = &m->maps[j];

                        FUZZ_CHECK(mm->node && mm->node[0]);
                        FUZZ_CHECK(mm->n_paths <= MAPPING_MAX_PATHS);
                        FUZZ_CHECK(mm->n_paths >= 1 || mm->path_problem < 0);
                        FUZZ_CHECK(mm->path_problem == 0 || mm->path_problem == -ENODEV ||
                                   mm->path_problem == -EOPNOTSUPP);
                        FUZZ_CHECK(mm->line > m->line);
                        for (size_t k = 0; k < mm->n_paths; k++)
                                /* any domain: $PCI_RE takes 4+ digits, Intel VMD's are above ffff */
                                FUZZ_CHECK(mm->paths[k].bus <= 0xff &&
                                           mm->paths[k].slot <= 0x1f && mm->paths[k].func >= -1 &&
                                           mm->paths[k].func <= 7);
                        FUZZ_CHECK(strlen(mm->id) == 9 && mm->id[4] == ':');
                        FUZZ_CHECK(!mm->subsystem_id[0] || (strlen(mm->subsystem_id) == 9 && mm->subsystem_id[4] == ':'));
                }
        }
        mapping_file_free(f);
        return 0;
}
