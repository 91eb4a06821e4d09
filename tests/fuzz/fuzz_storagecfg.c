/* SPDX-License-Identifier: GPL-2.0-or-later */
/* storagecfg_parse (/etc/pve/storage.cfg, read by `attach`) and the snippet volume id helpers.
 * Input: volid NUL node NUL storage.cfg text. A volume id that resolves to a path maps back to a
 * volume id that resolves to the same path. */
#include "fuzz.h"

#include <errno.h>
#include <limits.h>

#include "pve/storagecfg.h"

static void check_roundtrip(const struct storagecfg *c, const char *volid, const char *node)
{
        char path[PATH_MAX], back[PATH_MAX], again[PATH_MAX];
        struct pgr_error err = {};
        int r;

        r = storagecfg_volid_path(c, volid, path, sizeof(path), &err);
        FUZZ_CHECK_ERRMSG(&err);
        if (r < 0) {
                FUZZ_CHECK(err.msg[0]);
                return;
        }
        r = storagecfg_path_volid(c, path, node, back, sizeof(back));
        if (r == -ENAMETOOLONG)
                return;
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(storagecfg_volid_path(c, back, again, sizeof(again), &err) == 0);
        FUZZ_CHECK(streq(path, again));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_fields f;
        struct storagecfg *c = NULL;
        struct pgr_error err = {};
        _cleanup_free_ char *text = NULL;
        char sid[STORAGE_ID_MAX];
        const char *name;
        int r;

        fuzz_fields_split(data, size, 2, &f);
        text = fuzz_memdup(f.rest, f.rest_size);
        r = storagecfg_parse(text, f.rest_size, "storage.cfg", &c, &err);
        FUZZ_CHECK_ERRMSG(&err);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || r == -EFBIG || r == -EINVAL);
                FUZZ_CHECK(c == NULL);
                fuzz_fields_done(&f);
                return 0;
        }
        FUZZ_CHECK(c && c->n >= 1);
        FUZZ_CHECK(storagecfg_find(c, "local")); /* Proxmox's built-in when the file has none */
        if (storagecfg_find(c, "local")->builtin)
                FUZZ_CHECK(storagecfg_find(c, "local") == &c->v[0]);
        for (size_t i = 0; i < c->n; i++) {
                const struct storage *s = &c->v[i];
                char dir[PATH_MAX];

                FUZZ_CHECK(s->id[0] && memchr(s->id, '\0', sizeof(s->id)));
                FUZZ_CHECK(memchr(s->type, '\0', sizeof(s->type)));
                FUZZ_CHECK(storagecfg_find(c, s->id) == s); /* first of a duplicated id wins */
                (void)storage_holds_files(s);
                (void)storage_usable_on(s, f.f[1]);
                r = storage_snippets_dir(s, dir, sizeof(dir));
                FUZZ_CHECK(r == 0 || r == -ENOENT || r == -ENAMETOOLONG);
                FUZZ_CHECK(r == -ENOENT || s->path);
        }
        r = snippet_volid_parse(f.f[0], sid, &name);
        if (r == 0) {
                FUZZ_CHECK(sid[0] && strlen(sid) < STORAGE_ID_MAX);
                FUZZ_CHECK(name[0] && !strchr(name, '/'));
        }
        check_roundtrip(c, f.f[0], f.f[1]);
        storagecfg_free(c);
        fuzz_fields_done(&f);
        return 0;
}
