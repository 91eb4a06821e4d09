/* SPDX-License-Identifier: GPL-2.0-or-later */
/* attach/detach against a scratch root with a stand-in qm on $PATH: where the chained hookscript is
 * kept (the tool's own /etc/pve-gpu-reset.d/vm-<vmid>.json, never the admin's conffile), and that
 * --config resolves under --root the way the hook's policy loader resolves it. */
#include <dirent.h>
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
#include "ops/attach.h"
#include "reset/chain.h"
#include "reset/policy.h"
#include "testutil.h"
#include "base/util.h"

/* The policy as 0.1's attach left it: vms.101.hookscript recorded in the conffile. */
#define LEGACY_POLICY "{\n  \"defaults\": {\"settle_ms\": 250},\n  \"vms\": {\"101\": {\"hookscript\": " \
                      "\"/var/lib/vz/snippets/hook.sh\"}}\n}\n"

struct fsroot {
        char dir[PATH_MAX];
        char bin[PATH_MAX];      /* holds the stand-in qm */
        char self[PATH_MAX];     /* the "binary" attach links to */
        char old_path[PATH_MAX * 2];
        struct pgr_ctx ctx;
};

static void pathf(const struct fsroot *f, char *buf, size_t size, const char *rel)
{
        assert_true((size_t)snprintf(buf, size, "%s/%s", f->dir, rel) < size);
}

static void put(const struct fsroot *f, const char *rel, const char *text, mode_t mode)
{
        char path[PATH_MAX];

        pathf(f, path, sizeof(path), rel);
        write_text(path, text);
        assert_int_equal(chmod(path, mode), 0);
}

static bool exists(const struct fsroot *f, const char *rel)
{
        char path[PATH_MAX];

        pathf(f, path, sizeof(path), rel);
        return access(path, F_OK) == 0;
}

/* The one entry of directory path besides . and .. (fails the test when there are more or none). */
static const char *only_entry(const char *path)
{
        static char name[256];
        struct dirent *e;
        DIR *d = opendir(path);
        size_t n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                if (!streq(e->d_name, ".") && !streq(e->d_name, "..")) {
                        snprintf(name, sizeof(name), "%s", e->d_name);
                        n++;
                }
        closedir(d);
        assert_int_equal(n, 1);
        return name;
}

static char *slurp(const struct fsroot *f, const char *rel)
{
        char path[PATH_MAX], *text = NULL;
        size_t len = 0;

        pathf(f, path, sizeof(path), rel);
        return read_full_file(path, 1024 * 1024, &text, &len) == 0 ? text : NULL;
}

static int setup(void **state)
{
        static const char *const dirs[] = { "etc/pve/qemu-server", "var/lib/vz/snippets", "bin", "usr/sbin" };
        struct fsroot *f = calloc(1, sizeof(*f));
        char qm[PATH_MAX + 8], script[PATH_MAX * 2];
        const char *path = getenv("PATH");

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/pgr-attach-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char d[PATH_MAX];

                pathf(f, d, sizeof(d), dirs[i]);
                assert_int_equal(mkdir_p(d, 0755), 0);
        }
        put(f, "etc/pve/storage.cfg", "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,snippets\n", 0644);
        put(f, "etc/pve/qemu-server/100.conf", "memory: 2048\n", 0644);
        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/hook.sh\nmemory: 2048\n", 0644);
        put(f, "var/lib/vz/snippets/hook.sh", "#!/bin/sh\nexit 0\n", 0755);
        put(f, "usr/sbin/pve-gpu-reset", "#!/bin/sh\nexit 0\n", 0755);
        pathf(f, f->self, sizeof(f->self), "usr/sbin/pve-gpu-reset");
        pathf(f, f->bin, sizeof(f->bin), "bin");
        /* Proxmox's qm, as far as attach needs it: logs its arguments, fails with $QM_FAIL. */
        snprintf(qm, sizeof(qm), "%s/qm", f->bin);
        snprintf(script, sizeof(script), "#!/bin/sh\nprintf '%%s\\n' \"$*\" >>%s/qm.log\n"
                 "[ -z \"$QM_FAIL\" ] || { echo \"$QM_FAIL\" >&2; exit 255; }\n", f->dir);
        write_text(qm, script);
        assert_int_equal(chmod(qm, 0755), 0);
        snprintf(f->old_path, sizeof(f->old_path), "%s", path ? path : "");
        snprintf(script, sizeof(script), "%s:/usr/bin:/bin", f->bin);
        assert_int_equal(setenv("PATH", script, 1), 0);
        unsetenv("QM_FAIL");
        assert_int_equal(pgr_ctx_init(&f->ctx, f->dir, "pve1"), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fsroot *f = *state;

        setenv("PATH", f->old_path, 1);
        unsetenv("QM_FAIL");
        rm_rf(f->dir);
        free(f);
        return 0;
}

static void assert_qm_log(const struct fsroot *f, const char *want)
{
        _cleanup_free_ char *log = slurp(f, "qm.log");

        assert_string_equal(log ? log : "", want);
}

static int attach(const struct fsroot *f, unsigned long vmid, const char *config, struct attach_result *res)
{
        struct attach_options o = { .self_path = f->self, .policy_path = config };
        struct pgr_error err = { "" };
        int r = attach_vm_opts(&f->ctx, vmid, &o, res, &err);

        if (r < 0)
                print_message("attach: %s\n", err.msg);
        return r;
}

static int detach(const struct fsroot *f, unsigned long vmid, const char *config, struct attach_result *res)
{
        struct attach_options o = { .policy_path = config };
        struct pgr_error err = { "" };
        int r = detach_vm_opts(&f->ctx, vmid, &o, res, &err);

        if (r < 0)
                print_message("detach: %s\n", err.msg);
        return r;
}

/* The chained hookscript as the hook finds it (cmd-hook → run → policy loader). */
static void assert_hook_chains(const struct fsroot *f, unsigned long vmid, const char *want)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct pgr_error err = { "" };
        struct policy_settings s;

        assert_int_equal(policy_load_vm(&f->ctx, NULL, vmid, &p, &err), 0);
        policy_resolve(p, vmid, 0, 0, &s);
        assert_string_equal(s.hookscript, want);
}

/* The conffile is the admin's (dpkg asks on upgrade when it changed): attach records the chain
 * elsewhere and leaves the file byte for byte as it was. */
static void test_attach_leaves_the_conffile_byte_identical(void **state)
{
        struct fsroot *f = *state;
        _cleanup_free_ char *shipped = NULL, *after = NULL;
        char src[PATH_MAX];
        struct attach_result res;
        size_t len = 0;

        assert_true((size_t)snprintf(src, sizeof(src), "%s/conf/pve-gpu-reset.json", getenv("PGR_SRCDIR")) <
                    sizeof(src));
        assert_int_equal(read_full_file(src, POLICY_MAX_SIZE, &shipped, &len), 0);
        put(f, "etc/pve-gpu-reset.json", shipped, 0644);

        assert_int_equal(attach(f, 101, NULL, &res), 0);
        assert_string_equal(res.chained, "/var/lib/vz/snippets/hook.sh");
        assert_string_equal(res.chained_volid, "local:snippets/hook.sh");
        assert_qm_log(f, "set 101 --hookscript local:snippets/pve-gpu-reset\n");
        after = slurp(f, "etc/pve-gpu-reset.json");
        assert_non_null(after);
        assert_string_equal(after, shipped);
        assert_hook_chains(f, 101, "/var/lib/vz/snippets/hook.sh");
}

/* The state file: the tool's, one per VM, mode 0644, no temp file left beside it; detach gives the
 * recorded volume back to qm, removes the file, and the hook chains nothing any more. */
static void test_attach_records_the_chain_in_the_vm_state_file(void **state)
{
        struct fsroot *f = *state;
        struct attach_result res;
        struct pgr_error err = { "" };
        struct chain c;
        struct stat st;
        char path[PATH_MAX];

        assert_int_equal(attach(f, 101, NULL, &res), 0);
        assert_false(exists(f, "etc/pve-gpu-reset.json"));
        assert_int_equal(chain_load(&f->ctx, 101, &c, &err), 0);
        assert_string_equal(c.hookscript, "/var/lib/vz/snippets/hook.sh");
        assert_string_equal(c.volid, "local:snippets/hook.sh");
        pathf(f, path, sizeof(path), "etc/pve-gpu-reset.d/vm-101.json");
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        pathf(f, path, sizeof(path), "etc/pve-gpu-reset.d");
        assert_string_equal(only_entry(path), "vm-101.json"); /* no temp file left */
        /* VM 100 has no state: the hook chains nothing for it. */
        assert_hook_chains(f, 100, "");

        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/pve-gpu-reset\nmemory: 2048\n", 0644);
        assert_int_equal(detach(f, 101, NULL, &res), 0);
        assert_qm_log(f, "set 101 --hookscript local:snippets/pve-gpu-reset\nset 101 --hookscript local:snippets/hook.sh\n");
        assert_string_equal(res.chained_volid, "local:snippets/hook.sh");
        assert_string_equal(res.chained_in, "");
        assert_false(exists(f, "etc/pve-gpu-reset.d/vm-101.json"));
        assert_hook_chains(f, 101, "");
}

/* A failed qm set leaves the VM's hookscript as it was, and so its attach state. */
static void test_attach_qm_failure_restores_the_state(void **state)
{
        struct fsroot *f = *state;
        struct attach_result res;

        setenv("QM_FAIL", "VM is locked (backup)", 1);
        assert_int_equal(attach(f, 101, NULL, &res), -EIO);
        assert_false(exists(f, "etc/pve-gpu-reset.d/vm-101.json"));

        unsetenv("QM_FAIL");
        assert_int_equal(attach(f, 101, NULL, &res), 0);
        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/other.sh\nmemory: 2048\n", 0644);
        put(f, "var/lib/vz/snippets/other.sh", "#!/bin/sh\nexit 0\n", 0755);
        setenv("QM_FAIL", "VM is locked (backup)", 1);
        assert_int_equal(attach(f, 101, NULL, &res), -EIO);
        assert_hook_chains(f, 101, "/var/lib/vz/snippets/hook.sh");
}

/* attach of a VM without a hookscript: a state file left from an earlier attach whose hookscript was
 * removed by hand (qm set --delete hookscript, not detach) would chain a script the VM no longer has. */
static void test_attach_without_hookscript_drops_a_stale_state(void **state)
{
        struct fsroot *f = *state;
        struct attach_result res;

        assert_int_equal(attach(f, 101, NULL, &res), 0);
        assert_true(exists(f, "etc/pve-gpu-reset.d/vm-101.json"));
        put(f, "etc/pve/qemu-server/101.conf", "memory: 2048\n", 0644);
        assert_int_equal(attach(f, 101, NULL, &res), 0);
        assert_string_equal(res.chained, "");
        assert_false(exists(f, "etc/pve-gpu-reset.d/vm-101.json"));
        assert_hook_chains(f, 101, "");
}

/* Moving the snippet to another storage (attach --storage) keeps the chain recorded at the first attach. */
static void test_attach_to_another_storage_keeps_the_chain(void **state)
{
        struct fsroot *f = *state;
        struct attach_options o = { .storage = "local" };
        struct attach_result res;
        struct pgr_error err = { "" };

        put(f, "etc/pve/storage.cfg", "dir: local\n\tpath /var/lib/vz\n\tcontent snippets\n\n"
            "dir: other\n\tpath /srv/other\n\tcontent snippets\n", 0644);
        assert_int_equal(attach(f, 101, NULL, &res), 0);
        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/pve-gpu-reset\nmemory: 2048\n", 0644);
        o.storage = "other";
        o.self_path = f->self;
        assert_int_equal(attach_vm_opts(&f->ctx, 101, &o, &res, &err), 0);
        assert_false(res.already);
        assert_hook_chains(f, 101, "/var/lib/vz/snippets/hook.sh");
}

/* An upgraded 0.1 host: the chain is in the conffile. The hook keeps chaining it; detach gives it back
 * and leaves the conffile as it was (it is the admin's), saying where the key is. */
static void test_detach_reads_a_chain_recorded_by_0_1(void **state)
{
        struct fsroot *f = *state;
        _cleanup_free_ char *after = NULL;
        struct attach_result res;
        char conffile[PATH_MAX];

        put(f, "etc/pve-gpu-reset.json", LEGACY_POLICY, 0644);
        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/pve-gpu-reset\nmemory: 2048\n", 0644);
        assert_hook_chains(f, 101, "/var/lib/vz/snippets/hook.sh");
        assert_int_equal(detach(f, 101, NULL, &res), 0);
        assert_qm_log(f, "set 101 --hookscript local:snippets/hook.sh\n");
        pathf(f, conffile, sizeof(conffile), "etc/pve-gpu-reset.json");
        assert_string_equal(res.chained_in, conffile);
        after = slurp(f, "etc/pve-gpu-reset.json");
        assert_string_equal(after, LEGACY_POLICY);
}

/* The state file wins over a 0.1 entry: it is what the last attach saw. */
static void test_state_file_wins_over_the_conffile_entry(void **state)
{
        struct fsroot *f = *state;
        struct attach_result res;

        put(f, "etc/pve-gpu-reset.json", LEGACY_POLICY, 0644);
        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/other.sh\nmemory: 2048\n", 0644);
        put(f, "var/lib/vz/snippets/other.sh", "#!/bin/sh\nexit 0\n", 0755);
        assert_int_equal(attach(f, 101, NULL, &res), 0);
        assert_hook_chains(f, 101, "/var/lib/vz/snippets/other.sh");
        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/pve-gpu-reset\nmemory: 2048\n", 0644);
        assert_int_equal(detach(f, 101, NULL, &res), 0);
        assert_string_equal(res.chained_volid, "local:snippets/other.sh");
}

/* A state file detach cannot use: refused, nothing run, the file kept for the admin to look at. */
static void test_detach_refuses_a_bad_state_file(void **state)
{
        struct fsroot *f = *state;
        struct attach_options o = {};
        struct attach_result res;
        struct pgr_error err = { "" };
        char dir[PATH_MAX];

        pathf(f, dir, sizeof(dir), "etc/pve-gpu-reset.d");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        put(f, "etc/pve-gpu-reset.d/vm-101.json", "{\"format\": 1, \"vmid\": 102, \"hookscript\": \"/x\", "
            "\"volid\": \"local:snippets/x\"}\n", 0644);
        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/pve-gpu-reset\nmemory: 2048\n", 0644);
        assert_int_equal(detach_vm_opts(&f->ctx, 101, &o, &res, &err), -EINVAL);
        assert_string_equal(err.msg, "/etc/pve-gpu-reset.d/vm-101.json: vmid: 102, not 101");
        assert_qm_log(f, "");
        assert_true(exists(f, "etc/pve-gpu-reset.d/vm-101.json"));
}

/* --config naming the default location is the file under the root prefix, for attach/detach as for
 * the hook (policy_load): a 0.1 chain recorded there is restored by detach. */
static void test_detach_config_default_path_is_under_the_root(void **state)
{
        struct fsroot *f = *state;
        struct attach_result res;

        put(f, "etc/pve-gpu-reset.json", LEGACY_POLICY, 0644);
        put(f, "etc/pve/qemu-server/101.conf", "hookscript: local:snippets/pve-gpu-reset\nmemory: 2048\n", 0644);
        assert_hook_chains(f, 101, "/var/lib/vz/snippets/hook.sh");

        assert_int_equal(detach(f, 101, POLICY_DEFAULT_PATH, &res), 0);
        assert_qm_log(f, "set 101 --hookscript local:snippets/hook.sh\n");
        assert_string_equal(res.chained_volid, "local:snippets/hook.sh");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_attach_leaves_the_conffile_byte_identical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_detach_config_default_path_is_under_the_root, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attach_records_the_chain_in_the_vm_state_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attach_qm_failure_restores_the_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attach_without_hookscript_drops_a_stale_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attach_to_another_storage_keeps_the_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_detach_reads_a_chain_recorded_by_0_1, setup, teardown),
                cmocka_unit_test_setup_teardown(test_state_file_wins_over_the_conffile_entry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_detach_refuses_a_bad_state_file, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
