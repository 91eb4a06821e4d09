/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /etc/pve/storage.cfg as Proxmox reads it: where snippets live, and which storage `attach` picks. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/context.h"
#include "pve/storagecfg.h"

static struct storagecfg *parse(const char *text)
{
        struct storagecfg *c = NULL;
        struct pgr_error err = { "" };

        assert_int_equal(storagecfg_parse(text, strlen(text), "storage.cfg", &c, &err), 0);
        assert_non_null(c);
        return c;
}

static void snippets_dir_is(const struct storagecfg *c, const char *id, const char *want)
{
        const struct storage *s = storagecfg_find(c, id);
        char buf[PATH_MAX];

        assert_non_null(s);
        assert_int_equal(storage_snippets_dir(s, buf, sizeof(buf)), 0);
        assert_string_equal(buf, want);
}

/* What the Proxmox VE installer writes: local has no snippets until the admin enables them. */
static void test_installer_default_local_has_no_snippets(void **state)
{
        struct storagecfg *c = parse("dir: local\n"
                                     "\tpath /var/lib/vz\n"
                                     "\tcontent iso,vztmpl,backup\n"
                                     "\n"
                                     "lvmthin: local-lvm\n"
                                     "\tthinpool data\n"
                                     "\tvgname pve\n"
                                     "\tcontent rootdir,images\n");
        const struct storage *local = storagecfg_find(c, "local"), *lvm = storagecfg_find(c, "local-lvm");

        (void)state;
        assert_int_equal(c->n, 2);
        assert_non_null(local);
        assert_false(local->snippets);
        assert_false(local->builtin);
        assert_false(local->shared);
        assert_string_equal(local->type, "dir");
        assert_string_equal(local->path, "/var/lib/vz");
        assert_string_equal(local->content, "iso,vztmpl,backup");
        assert_int_equal(local->line, 1);
        assert_non_null(lvm);
        assert_string_equal(lvm->type, "lvmthin");
        assert_null(lvm->path);
        assert_false(lvm->snippets);
        assert_int_equal(lvm->line, 5);
        storagecfg_free(c);
}

/* A missing storage.cfg (or one without a usable "local"): Proxmox's built-in local, snippets included. */
static void test_empty_file_gives_builtin_local_with_snippets(void **state)
{
        struct storagecfg *c = parse("");
        const struct storage *local = storagecfg_find(c, "local");

        (void)state;
        assert_int_equal(c->n, 1);
        assert_non_null(local);
        assert_true(local->builtin);
        assert_true(local->snippets);
        assert_string_equal(local->path, "/var/lib/vz");
        snippets_dir_is(c, "local", "/var/lib/vz/snippets");
        storagecfg_free(c);
}

static void test_local_of_another_type_is_replaced_by_builtin(void **state)
{
        struct storagecfg *c = parse("zfspool: local\n"
                                     "\tpool rpool/data\n"
                                     "\tcontent images\n"
                                     "\n"
                                     "dir: backups\n"
                                     "\tpath /mnt/backups\n"
                                     "\tcontent backup,snippets\n");
        const struct storage *local = storagecfg_find(c, "local");

        (void)state;
        assert_int_equal(c->n, 2);
        assert_ptr_equal(local, &c->v[0]);
        assert_true(local->builtin);
        assert_string_equal(local->type, "dir");
        assert_true(storagecfg_find(c, "backups")->snippets);
        storagecfg_free(c);
}

static void test_local_without_path_gets_var_lib_vz_and_loses_node_restriction(void **state)
{
        struct storagecfg *c = parse("dir: local\n\tcontent snippets\n\tnodes pve2\n");
        const struct storage *local = storagecfg_find(c, "local");

        (void)state;
        assert_false(local->builtin);
        assert_string_equal(local->path, "/var/lib/vz");
        assert_null(local->nodes);
        assert_true(storage_usable_on(local, "pve1"));
        storagecfg_free(c);
}

static void test_network_storages_are_shared_and_flags_parse(void **state)
{
        struct storagecfg *c = parse("dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n"
                                     "nfs: nas\n"
                                     "\texport /export/pve\n"
                                     "\tpath /mnt/pve/nas\n"
                                     "\tserver 192.0.2.10\n"
                                     "\tcontent snippets,iso\n"
                                     "\n"
                                     "dir: shareddir\n"
                                     "\tpath /srv/cluster\n"
                                     "\tcontent snippets\n"
                                     "\tshared 1\n"
                                     "\n"
                                     "dir: off\n"
                                     "\tpath /srv/off\n"
                                     "\tcontent snippets\n"
                                     "\tdisable\n"
                                     "\n"
                                     "dir: pinned\n"
                                     "\tpath /srv/pinned\n"
                                     "\tcontent snippets\n"
                                     "\tnodes pve2,pve3\n");

        (void)state;
        assert_true(storagecfg_find(c, "nas")->shared);
        assert_true(storagecfg_find(c, "nas")->snippets);
        assert_true(storagecfg_find(c, "shareddir")->shared);
        assert_false(storagecfg_find(c, "local")->shared);
        assert_true(storagecfg_find(c, "off")->disabled);
        assert_false(storage_usable_on(storagecfg_find(c, "off"), "pve1"));
        assert_false(storage_usable_on(storagecfg_find(c, "pinned"), "pve1"));
        assert_true(storage_usable_on(storagecfg_find(c, "pinned"), "pve3"));
        storagecfg_free(c);
}

/* A boolean in storage.cfg is SectionConfig's, not parse_property_string's: check_value runs
 * PVE::JSONSchema::check_type, which takes only '1' and '0' (a bare key is 1); anything else ("yes",
 * "on", "true") dies "type check ('boolean') failed" and parse_config warns and drops the property. A
 * second line of the same key dies "duplicate attribute": the first one stays. (pve-common
 * SectionConfig.pm parse_config/check_value, JSONSchema.pm check_type, at f665029e.) */
static void test_booleans_are_only_1_and_0_and_the_first_line_wins(void **state)
{
        struct storagecfg *c = parse("dir: yes\n\tpath /srv/yes\n\tcontent snippets\n\tdisable yes\n\n"
                                     "dir: zero\n\tpath /srv/zero\n\tcontent snippets\n\tdisable 0\n\n"
                                     "dir: twice\n\tpath /srv/twice\n\tcontent snippets\n\tdisable 0\n\tdisable 1\n\n"
                                     "dir: on\n\tpath /srv/on\n\tcontent snippets\n\tshared on\n\n"
                                     "dir: one\n\tpath /srv/one\n\tcontent snippets\n\tshared 1\n\tshared 0\n");

        (void)state;
        assert_false(storagecfg_find(c, "yes")->disabled);
        assert_false(storagecfg_find(c, "zero")->disabled);
        assert_false(storagecfg_find(c, "twice")->disabled);
        assert_false(storagecfg_find(c, "on")->shared);
        assert_true(storagecfg_find(c, "one")->shared);
        storagecfg_free(c);
}

/* SectionConfig details: comments, a header without the blank line before it is just an ignored
 * line, a duplicated id keeps the first section, a type that cannot hold files drops "snippets". */
static void test_sectionconfig_quirks(void **state)
{
        struct storagecfg *c = parse("# written by hand\n"
                                     "dir: local\n"
                                     "# a comment inside\n"
                                     "\tpath /var/lib/vz\n"
                                     "\tcontent snippets\n"
                                     "dir: glued\n"
                                     "\tpath /srv/glued\n"
                                     "\n"
                                     "dir: twice\n"
                                     "\tpath /srv/first\n"
                                     "\n"
                                     "dir: twice\n"
                                     "\tpath /srv/second\n"
                                     "\tcontent snippets\n"
                                     "\n"
                                     "rbd: ceph\n"
                                     "\tpool vm\n"
                                     "\tcontent images,snippets\n"
                                     "\n"
                                     "dir:nospace\n"
                                     "\tpath /srv/nospace\n"
                                     "\tcontent  backup ; snippets \n");

        (void)state;
        assert_true(storagecfg_find(c, "local")->snippets);
        assert_null(storagecfg_find(c, "glued"));
        assert_string_equal(storagecfg_find(c, "twice")->path, "/srv/first");
        assert_false(storagecfg_find(c, "twice")->snippets);
        assert_false(storagecfg_find(c, "ceph")->snippets);
        assert_true(storagecfg_find(c, "nospace")->snippets);
        storagecfg_free(c);
}

static void test_content_dirs_override_moves_snippets(void **state)
{
        struct storagecfg *c = parse("dir: local\n\tpath /var/lib/vz/\n\tcontent snippets\n\n"
                                     "dir: custom\n"
                                     "\tpath /srv/custom\n"
                                     "\tcontent snippets,iso\n"
                                     "\tcontent-dirs iso=isos,snippets=hooks/pve\n");

        (void)state;
        snippets_dir_is(c, "local", "/var/lib/vz/snippets");
        snippets_dir_is(c, "custom", "/srv/custom/hooks/pve");
        storagecfg_free(c);
}

static void test_volid_to_path_and_back(void **state)
{
        struct storagecfg *c = parse("dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n"
                                     "dir: hooks\n\tpath /srv/hooks\n\tcontent snippets\n");
        struct pgr_error err = { "" };
        char sid[STORAGE_ID_MAX], buf[PATH_MAX];
        const char *name;

        (void)state;
        assert_int_equal(snippet_volid_parse("local:snippets/vm100-hooks.sh", sid, &name), 0);
        assert_string_equal(sid, "local");
        assert_string_equal(name, "vm100-hooks.sh");
        assert_int_equal(snippet_volid_parse("local:iso/x.iso", sid, &name), -EINVAL);
        assert_int_equal(snippet_volid_parse("local:snippets/a/b", sid, &name), -EINVAL);
        assert_int_equal(snippet_volid_parse("/var/lib/vz/snippets/x", sid, &name), -EINVAL);
        assert_int_equal(snippet_volid_parse("1local:snippets/x", sid, &name), -EINVAL);

        assert_int_equal(storagecfg_volid_path(c, "local:snippets/vm100-hooks.sh", buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "/var/lib/vz/snippets/vm100-hooks.sh");
        assert_int_equal(storagecfg_volid_path(c, "nas:snippets/x", buf, sizeof(buf), &err), -ENOENT);
        assert_non_null(strstr(err.msg, "no storage 'nas'"));

        /* local has no snippets content here, so the storage that lists them wins */
        assert_int_equal(storagecfg_path_volid(c, "/srv/hooks/snippets/a.pl", "pve1", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "hooks:snippets/a.pl");
        assert_int_equal(storagecfg_path_volid(c, "/var/lib/vz//snippets/b.sh", "pve1", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "local:snippets/b.sh");
        assert_int_equal(storagecfg_path_volid(c, "/root/hook.sh", "pve1", buf, sizeof(buf)), -ENOENT);
        storagecfg_free(c);
}

static void test_load_missing_file_under_root_is_builtin(void **state)
{
        char root[] = "/tmp/pgr-storagecfg-XXXXXX";
        struct pgr_ctx ctx;
        struct storagecfg *c = NULL;
        struct pgr_error err = { "" };

        (void)state;
        assert_non_null(mkdtemp(root));
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve1"), 0);
        assert_int_equal(storagecfg_load(&ctx, &c, &err), 0);
        assert_true(storagecfg_find(c, "local")->builtin);
        storagecfg_free(c);
        assert_int_equal(rmdir(root), 0);
}

/* Fuzzer regression (tests/fuzz/crashes/storagecfg): a snippets directory that is "/" itself. */
static void test_snippets_dir_at_the_root_round_trips(void **state)
{
        static const char cfg[] = "dir: top\n\tpath /\n\tcontent snippets\n\tcontent-dirs snippets=/\n";
        struct storagecfg *c = NULL;
        struct pgr_error err = {};
        char path[PATH_MAX], volid[PATH_MAX];

        (void)state;
        assert_int_equal(storagecfg_parse(cfg, sizeof(cfg) - 1, "storage.cfg", &c, &err), 0);
        assert_int_equal(storagecfg_volid_path(c, "top:snippets/hook.sh", path, sizeof(path), &err), 0);
        assert_string_equal(path, "/hook.sh");
        assert_int_equal(storagecfg_path_volid(c, path, "pve", volid, sizeof(volid)), 0);
        assert_string_equal(volid, "top:snippets/hook.sh");
        storagecfg_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_snippets_dir_at_the_root_round_trips),
                cmocka_unit_test(test_installer_default_local_has_no_snippets),
                cmocka_unit_test(test_empty_file_gives_builtin_local_with_snippets),
                cmocka_unit_test(test_local_of_another_type_is_replaced_by_builtin),
                cmocka_unit_test(test_local_without_path_gets_var_lib_vz_and_loses_node_restriction),
                cmocka_unit_test(test_network_storages_are_shared_and_flags_parse),
                cmocka_unit_test(test_sectionconfig_quirks),
                cmocka_unit_test(test_booleans_are_only_1_and_0_and_the_first_line_wins),
                cmocka_unit_test(test_content_dirs_override_moves_snippets),
                cmocka_unit_test(test_volid_to_path_and_back),
                cmocka_unit_test(test_load_missing_file_under_root_is_builtin),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
