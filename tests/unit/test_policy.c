/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Policy file: defaults, per-device and per-VM overrides, every validation error with its key path and
 * line, the shipped conf/pve-gpu-reset.json, and the ownership/mode checks of policy_load. */
#include <errno.h>
#include <fcntl.h>
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
#include <json-c/json.h>

#include "base/context.h"
#include "base/util.h"
#include "reset/chain.h"
#include "reset/policy.h"
#include "testutil.h"

#define NAME "test.json"

/* ---- helpers ---- */

static int parse(const char *json, struct policy **ret, struct pgr_error *err)
{
        return policy_parse(json, strlen(json), NAME, ret, err);
}

/* Parses json, expects -EINVAL and exactly the message msg. */
static void expect_error(const char *json, const char *msg)
{
        struct pgr_error err = { "" };
        struct policy *p = NULL;

        assert_int_equal(parse(json, &p, &err), -EINVAL);
        assert_null(p);
        assert_string_equal(err.msg, msg);
}

static struct policy *parse_ok(const char *json)
{
        struct pgr_error err = { "" };
        struct policy *p = NULL;
        int r = parse(json, &p, &err);

        if (r < 0)
                print_error("unexpected error: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_non_null(p);
        return p;
}

static void assert_methods(const struct policy_settings *s, size_t n, ...)
{
        va_list ap;

        assert_int_equal(s->n_methods, n);
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(s->methods[i], va_arg(ap, const char *));
        va_end(ap);
}

static void assert_settings_equal(const struct policy_settings *a, const struct policy_settings *b)
{
        assert_int_equal(a->n_methods, b->n_methods);
        for (size_t i = 0; i < a->n_methods; i++)
                assert_string_equal(a->methods[i], b->methods[i]);
        assert_int_equal(a->bus_reset, b->bus_reset);
        assert_int_equal(a->keep_awake, b->keep_awake);
        assert_int_equal(a->aspm_off, b->aspm_off);
        assert_int_equal(a->reset_on_pre_start, b->reset_on_pre_start);
        assert_int_equal(a->reset_on_post_stop, b->reset_on_post_stop);
        assert_int_equal(a->on_failure, b->on_failure);
        assert_int_equal(a->reset_timeout_ms, b->reset_timeout_ms);
        assert_int_equal(a->rescan_timeout_ms, b->rescan_timeout_ms);
        assert_int_equal(a->bind_timeout_ms, b->bind_timeout_ms);
        assert_int_equal(a->lock_timeout_ms, b->lock_timeout_ms);
        assert_int_equal(a->settle_ms, b->settle_ms);
        assert_string_equal(a->hookscript, b->hookscript);
}

static void compiled_defaults(struct policy_settings *ret)
{
        struct policy *d = NULL;

        assert_int_equal(policy_new_default(&d), 0);
        policy_resolve(d, 0, 0, 0, ret);
        policy_free(d);
}

/* A fresh root prefix per test: ROOT/etc exists, the policy file does not. */
struct fsroot {
        char dir[64];
        char etc[96];
        char file[128];
        struct pgr_ctx ctx;
};

static int root_setup(void **state)
{
        struct fsroot *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/pgr-policy-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->etc, sizeof(f->etc), "%s/etc", f->dir);
        assert_int_equal(mkdir(f->etc, 0755), 0);
        snprintf(f->file, sizeof(f->file), "%s%s", f->dir, POLICY_DEFAULT_PATH);
        assert_int_equal(pgr_ctx_init(&f->ctx, f->dir, "pve1"), 0);
        *state = f;
        return 0;
}

static int root_teardown(void **state)
{
        struct fsroot *f = *state;

        rm_rf(f->dir);
        free(f);
        return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
        FILE *fp = fopen(path, "we");

        assert_non_null(fp);
        assert_int_equal(fputs(text, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
        assert_int_equal(chmod(path, mode), 0);
}

/* Ownership checks need root to create root-owned (and chown to foreign-owned) files. */
#define REQUIRE_ROOT()                                                                                 \
        do {                                                                                           \
                if (geteuid() != 0)                                                                    \
                        skip();                                                                        \
        } while (0)

/* conf/pve-gpu-reset.json of the source tree. PGR_SRCDIR names the tests/ directory (the documented
 * convention) or the top of the tree (what tests/run-unit.sh computes); accept both. */
static char *read_shipped_conf(char *path, size_t size)
{
        static const char *const rel[] = { "../conf/pve-gpu-reset.json", "conf/pve-gpu-reset.json" };
        const char *srcdir = getenv("PGR_SRCDIR");
        char *text = NULL;
        size_t len;

        for (size_t i = 0; i < ELEMENTSOF(rel); i++) {
                snprintf(path, size, "%s/%s", srcdir ? srcdir : "tests", rel[i]);
                if (access(path, R_OK) == 0)
                        break;
        }
        assert_int_equal(read_full_file(path, POLICY_MAX_SIZE, &text, &len), 0);
        return text;
}

/* ---- defaults and the shipped file ---- */

static void test_compiled_defaults_are_the_documented_ones(void **state)
{
        struct policy_settings s;

        (void)state;
        compiled_defaults(&s);
        assert_methods(&s, 8, "device_specific", "flr", "af_flr", "pm", "bus", "slot", "remove-rescan", "power-cycle");
        assert_int_equal(s.bus_reset, POLICY_BUS_RESET_AUTO);
        assert_true(s.keep_awake);
        assert_true(s.aspm_off);
        assert_true(s.reset_on_pre_start);
        assert_true(s.reset_on_post_stop);
        assert_int_equal(s.on_failure, POLICY_ON_FAILURE_ABORT);
        assert_int_equal(s.reset_timeout_ms, 10000);
        assert_int_equal(s.rescan_timeout_ms, 10000);
        assert_int_equal(s.bind_timeout_ms, 5000);
        assert_int_equal(s.lock_timeout_ms, 60000);
        assert_int_equal(s.settle_ms, 250);
        assert_string_equal(s.hookscript, "");
}

static void test_missing_default_file_gives_defaults(void **state)
{
        struct fsroot *f = *state;
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct pgr_error err = { "" };
        struct policy_settings s, d;

        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), 0);
        assert_non_null(p);
        assert_null(policy_source(p));
        compiled_defaults(&d);
        policy_resolve(p, 100, 0x10de, 0x2b85, &s);
        assert_settings_equal(&s, &d);
}

static void test_shipped_conf_equals_compiled_defaults(void **state)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_(policy_freep) struct policy *p = NULL;
        char path[PATH_MAX];
        struct policy_settings s, d;

        (void)state;
        text = read_shipped_conf(path, sizeof(path));
        p = parse_ok(text);
        compiled_defaults(&d);
        /* Whatever the card or the VM: the shipped file's examples are inactive. */
        policy_resolve(p, 0, 0, 0, &s);
        assert_settings_equal(&s, &d);
        policy_resolve(p, 100, 0x10de, 0x2b85, &s);
        assert_settings_equal(&s, &d);
        policy_resolve(p, 101, 0x1002, 0x731f, &s);
        assert_settings_equal(&s, &d);
}

static void test_shipped_conf_examples_are_valid_and_mean_what_they_say(void **state)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct json_object *root, *examples;
        char path[PATH_MAX];
        struct policy_settings s;

        (void)state;
        text = read_shipped_conf(path, sizeof(path));
        root = json_tokener_parse(text);
        assert_non_null(root);
        assert_true(json_object_object_get_ex(root, "_examples", &examples));
        p = parse_ok(json_object_to_json_string(examples));
        json_object_put(root);

        policy_resolve(p, 0, 0x10de, 0x2b85, &s);
        assert_methods(&s, 2, "slot", "remove-rescan");
        assert_false(policy_method_allowed(&s, "flr"));
        policy_resolve(p, 0, 0x1002, 0x731f, &s);
        assert_methods(&s, 2, "device_specific", "remove-rescan");
        policy_resolve(p, 100, 0x10de, 0x2204, &s);
        assert_int_equal(s.on_failure, POLICY_ON_FAILURE_CONTINUE);
        policy_resolve(p, 101, 0x10de, 0x2204, &s);
        assert_string_equal(s.hookscript, "/var/lib/vz/snippets/pin-cpus.sh");
}

static void test_shipped_conf_loads_from_root_prefix(void **state)
{
        struct fsroot *f = *state;
        _cleanup_free_ char *text = NULL;
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct pgr_error err = { "" };
        char path[PATH_MAX];

        REQUIRE_ROOT();
        text = read_shipped_conf(path, sizeof(path));
        write_file(f->file, text, 0644);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), 0);
        assert_string_equal(policy_source(p), f->file);
}

/* Out of memory as policy_load meets it: the strdup of this one string fails, every other goes on.
 * This definition takes the place of libc's for the library linked into this binary. */
static const char *strdup_fails_for;

char *strdup(const char *s)
{
        size_t n = strlen(s) + 1;
        char *copy;

        if (strdup_fails_for && strcmp(s, strdup_fails_for) == 0) {
                errno = ENOMEM;
                return NULL;
        }
        copy = malloc(n);
        return copy ? memcpy(copy, s, n) : NULL;
}

/* The policy's source path is a copy of its own since the B1 change: out of memory there, the policy
 * parsed already is freed, not leaked (LeakSanitizer under make check-asan says which). */
static void test_policy_load_out_of_memory_frees_what_it_parsed(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };

        REQUIRE_ROOT();
        write_file(f->file, "{\"defaults\": {\"settle_ms\": 500, \"hookscript\": \"/var/lib/vz/snippets/x.sh\"}}\n", 0644);
        strdup_fails_for = f->file;
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), -ENOMEM);
        strdup_fails_for = NULL;
        assert_null(p);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), 0);
        assert_string_equal(policy_source(p), f->file);
        policy_free(p);
}

/* ---- precedence ---- */

static const char overrides[] =
        "{\n"
        "  \"defaults\": {\"settle_ms\": 500, \"lock_timeout_ms\": 30000},\n"
        "  \"devices\": {\n"
        "    \"10de:2b85\": {\"reset_methods\": [\"slot\", \"remove-rescan\"], \"settle_ms\": 1000,\n"
        "                  \"bus_reset\": \"bridge\"},\n"
        "    \"1002:731f\": {\"reset_methods\": [\"device_specific\", \"remove-rescan\"]}\n"
        "  },\n"
        "  \"vms\": {\n"
        "    \"100\": {\"on_failure\": \"continue\", \"settle_ms\": 2000},\n"
        "    \"999999999\": {\"reset_on_pre_start\": false, \"hookscript\": \"/var/lib/vz/snippets/other.pl\"}\n"
        "  }\n"
        "}\n";

static void test_file_defaults_replace_compiled_defaults(void **state)
{
        _cleanup_(policy_freep) struct policy *p = parse_ok(overrides);
        struct policy_settings s, d;

        (void)state;
        compiled_defaults(&d);
        policy_resolve(p, 0, 0x8086, 0x1234, &s);
        assert_int_equal(s.settle_ms, 500);
        assert_int_equal(s.lock_timeout_ms, 30000);
        /* Keys not given keep the compiled value. */
        d.settle_ms = 500;
        d.lock_timeout_ms = 30000;
        assert_settings_equal(&s, &d);
}

static void test_device_override_applies_only_to_its_id(void **state)
{
        _cleanup_(policy_freep) struct policy *p = parse_ok(overrides);
        struct policy_settings s;

        (void)state;
        policy_resolve(p, 0, 0x10de, 0x2b85, &s);
        assert_methods(&s, 2, "slot", "remove-rescan");
        assert_int_equal(s.settle_ms, 1000);
        assert_int_equal(s.bus_reset, POLICY_BUS_RESET_BRIDGE);
        assert_int_equal(s.lock_timeout_ms, 30000); /* from "defaults" */
        assert_true(s.keep_awake);                  /* compiled */

        /* Same vendor, other device; and swapped vendor/device. */
        policy_resolve(p, 0, 0x10de, 0x2b84, &s);
        assert_int_equal(s.n_methods, 8);
        assert_int_equal(s.settle_ms, 500);
        policy_resolve(p, 0, 0x2b85, 0x10de, &s);
        assert_int_equal(s.n_methods, 8);

        policy_resolve(p, 0, 0x1002, 0x731f, &s);
        assert_methods(&s, 2, "device_specific", "remove-rescan");
        assert_int_equal(s.settle_ms, 500);
        assert_int_equal(s.bus_reset, POLICY_BUS_RESET_AUTO);
}

static void test_vm_override_wins_over_device_override(void **state)
{
        _cleanup_(policy_freep) struct policy *p = parse_ok(overrides);
        struct policy_settings s;

        (void)state;
        policy_resolve(p, 100, 0x10de, 0x2b85, &s);
        assert_int_equal(s.settle_ms, 2000);                       /* vm over device */
        assert_int_equal(s.on_failure, POLICY_ON_FAILURE_CONTINUE); /* vm */
        assert_methods(&s, 2, "slot", "remove-rescan");            /* device, the vm does not say */
        assert_int_equal(s.bus_reset, POLICY_BUS_RESET_BRIDGE);

        policy_resolve(p, 999999999, 0x8086, 0x1234, &s);
        assert_false(s.reset_on_pre_start);
        assert_true(s.reset_on_post_stop);
        assert_string_equal(s.hookscript, "/var/lib/vz/snippets/other.pl");
        assert_int_equal(s.settle_ms, 500);
}

static void test_vmid_zero_and_other_vms_ignore_vm_entries(void **state)
{
        _cleanup_(policy_freep) struct policy *p = parse_ok(overrides);
        struct policy_settings s;

        (void)state;
        policy_resolve(p, 0, 0x10de, 0x2b85, &s);
        assert_int_equal(s.on_failure, POLICY_ON_FAILURE_ABORT);
        assert_int_equal(s.settle_ms, 1000);
        policy_resolve(p, 101, 0x10de, 0x2b85, &s);
        assert_int_equal(s.on_failure, POLICY_ON_FAILURE_ABORT);
        assert_int_equal(s.settle_ms, 1000);
}

static void test_underscore_keys_are_comments_everywhere(void **state)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct policy_settings s;

        (void)state;
        p = parse_ok("{\"_about\": [\"x\", {\"nested\": 1}], \"_about\": \"repeats are fine\",\n"
                     " \"defaults\": {\"_keep_awake\": \"doc\", \"keep_awake\": false, \"_x\": null},\n"
                     " \"devices\": {\"_about\": \"doc\", \"10de:2b85\": {\"_why\": 1, \"aspm_off\": false}},\n"
                     " \"vms\": {\"_about\": {\"unknown\": true}, \"100\": {\"_\": [], \"settle_ms\": 0}}}");
        policy_resolve(p, 100, 0x10de, 0x2b85, &s);
        assert_false(s.keep_awake);
        assert_false(s.aspm_off);
        assert_int_equal(s.settle_ms, 0);
}

static void test_empty_object_and_empty_sections_are_defaults(void **state)
{
        _cleanup_(policy_freep) struct policy *a = parse_ok("{}");
        _cleanup_(policy_freep) struct policy *b = parse_ok("{\"defaults\": {}, \"devices\": {}, \"vms\": {}}");
        struct policy_settings s, d;

        (void)state;
        compiled_defaults(&d);
        policy_resolve(a, 100, 0x10de, 0x2b85, &s);
        assert_settings_equal(&s, &d);
        policy_resolve(b, 100, 0x10de, 0x2b85, &s);
        assert_settings_equal(&s, &d);
}

static void test_method_allowed_follows_the_resolved_list(void **state)
{
        _cleanup_(policy_freep) struct policy *p = parse_ok(overrides);
        struct policy_settings s;

        (void)state;
        policy_resolve(p, 0, 0x10de, 0x2b85, &s);
        assert_true(policy_method_allowed(&s, "slot"));
        assert_true(policy_method_allowed(&s, "remove-rescan"));
        assert_false(policy_method_allowed(&s, "flr"));
        assert_false(policy_method_allowed(&s, "bus"));
        assert_false(policy_method_allowed(&s, "Slot"));
        assert_true(policy_method_known("af_flr"));
        assert_false(policy_method_known("acpi"));
        assert_string_equal(policy_bus_reset_to_string(POLICY_BUS_RESET_SUBORDINATE), "reset_subordinate");
        assert_string_equal(policy_on_failure_to_string(POLICY_ON_FAILURE_CONTINUE), "continue");
}

static void test_bounds_are_inclusive(void **state)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct policy_settings s;

        (void)state;
        p = parse_ok("{\"defaults\": {\"reset_timeout_ms\": 1, \"rescan_timeout_ms\": 600000,"
                     " \"bind_timeout_ms\": 600000, \"lock_timeout_ms\": 1, \"settle_ms\": 60000}}");
        policy_resolve(p, 0, 0, 0, &s);
        assert_int_equal(s.reset_timeout_ms, 1);
        assert_int_equal(s.rescan_timeout_ms, 600000);
        assert_int_equal(s.settle_ms, 60000);
}

/* ---- validation errors: key path and line ---- */

static void test_unknown_key_at_every_level(void **state)
{
        (void)state;
        expect_error("{\n  \"default\": {}\n}",
                     NAME ":2: default: unknown key (expected \"defaults\", \"devices\" or \"vms\")");
        expect_error("{\"defaults\": {\n  \"keep_awake\": true,\n  \"keepawake\": true}}",
                     NAME ":3: defaults.keepawake: unknown key");
        expect_error("{\n"
                     "  \"devices\": {\n"
                     "    \"10de:2b85\": {\n"
                     "      \"reset_metods\": [\"slot\"]\n"
                     "    }\n"
                     "  }\n"
                     "}\n",
                     NAME ":4: devices.10de:2b85.reset_metods: unknown key");
        expect_error("{\"vms\": {\"100\": {\"on_fail\": \"abort\"}}}", NAME ":1: vms.100.on_fail: unknown key");
}

static void test_wrong_type_for_each_kind(void **state)
{
        (void)state;
        expect_error("{\"defaults\": {\"keep_awake\": \"yes\"}}",
                     NAME ":1: defaults.keep_awake: expected true or false, got a string");
        expect_error("{\"defaults\": {\"aspm_off\": 1}}",
                     NAME ":1: defaults.aspm_off: expected true or false, got an integer");
        expect_error("{\"defaults\": {\"reset_timeout_ms\": \"10000\"}}",
                     NAME ":1: defaults.reset_timeout_ms: expected an integer (milliseconds, 1..600000), got a string");
        expect_error("{\"defaults\": {\"settle_ms\": 2.5}}",
                     NAME ":1: defaults.settle_ms: expected an integer (milliseconds, 0..60000), got a number with a "
                     "fraction");
        expect_error("{\"defaults\": {\"on_failure\": true}}",
                     NAME ":1: defaults.on_failure: expected \"abort\" or \"continue\", got a boolean");
        expect_error("{\"defaults\": {\"reset_methods\": \"flr\"}}",
                     NAME ":1: defaults.reset_methods: expected an array of reset methods, got a string");
        expect_error("{\"defaults\": {\"reset_methods\": [\"flr\", 3]}}",
                     NAME ":1: defaults.reset_methods[1]: expected a reset method name, got an integer");
        expect_error("{\"defaults\": {\"hookscript\": null}}",
                     NAME ":1: defaults.hookscript: expected a string (an absolute path, or \"\"), got null");
        expect_error("{\"defaults\": []}", NAME ":1: defaults: expected an object of settings, got an array");
        expect_error("{\"devices\": {\"10de:2b85\": \"slot\"}}",
                     NAME ":1: devices.10de:2b85: expected an object of settings, got a string");
        expect_error("{\"devices\": [\"10de:2b85\"]}",
                     NAME ":1: devices: expected an object keyed by vendor:device, got an array");
        expect_error("{\"vms\": 100}", NAME ":1: vms: expected an object keyed by VMID, got an integer");
}

static void test_bad_enum_values(void **state)
{
        (void)state;
        expect_error("{\"vms\": {\"100\": {\"on_failure\": \"stop\"}}}",
                     NAME ":1: vms.100.on_failure: expected \"abort\" or \"continue\", not \"stop\"");
        expect_error("{\"defaults\": {\"bus_reset\": \"sbr\"}}",
                     NAME ":1: defaults.bus_reset: expected \"auto\", \"reset_subordinate\" or \"bridge\", not \"sbr\"");
        expect_error("{\"defaults\": {\"on_failure\": \"Abort\"}}",
                     NAME ":1: defaults.on_failure: expected \"abort\" or \"continue\", not \"Abort\"");
}

static void test_bad_reset_method_lists(void **state)
{
        (void)state;
        expect_error("{\"defaults\": {\n\"reset_methods\": [\"flr\",\n \"acpi\"]}}",
                     NAME ":3: defaults.reset_methods[1]: unknown reset method \"acpi\" (known: device_specific, flr, "
                     "af_flr, pm, bus, slot, remove-rescan, power-cycle)");
        expect_error("{\"devices\": {\"10de:2b85\": {\"reset_methods\": [\"slot\", \"flr\", \"slot\"]}}}",
                     NAME ":1: devices.10de:2b85.reset_methods[2]: \"slot\" is listed twice");
        expect_error("{\"vms\": {\"100\": {\"reset_methods\": []}}}",
                     NAME ":1: vms.100.reset_methods: must list at least one reset method");
        expect_error("{\"defaults\": {\"reset_methods\": [\"flr\", \"flr\", \"flr\", \"flr\", \"flr\", \"flr\", "
                     "\"flr\", \"flr\", \"flr\"]}}",
                     NAME ":1: defaults.reset_methods: lists 9 reset methods, at most 8 are allowed");
}

static void test_bad_device_keys(void **state)
{
        (void)state;
        expect_error("{\"devices\": {\n  \"10de-2b85\": {}}}",
                     NAME ":2: devices.10de-2b85: expected a PCI ID \"vendor:device\" in lower-case hex, like "
                     "\"10de:2b85\"");
        expect_error("{\"devices\": {\"10DE:2B85\": {}}}",
                     NAME ":1: devices.10DE:2B85: expected a PCI ID \"vendor:device\" in lower-case hex, like "
                     "\"10de:2b85\"");
        expect_error("{\"devices\": {\"10de:2b8\": {}}}",
                     NAME ":1: devices.10de:2b8: expected a PCI ID \"vendor:device\" in lower-case hex, like "
                     "\"10de:2b85\"");
        expect_error("{\"devices\": {\"0000:01:00.0\": {}}}",
                     NAME ":1: devices.0000:01:00.0: expected a PCI ID \"vendor:device\" in lower-case hex, like "
                     "\"10de:2b85\"");
}

static void test_bad_vmid_keys(void **state)
{
        (void)state;
        expect_error("{\"vms\": {\"99\": {}}}", NAME ":1: vms.99: expected a VMID, digits only, 100..999999999");
        expect_error("{\"vms\": {\"0100\": {}}}", NAME ":1: vms.0100: expected a VMID, digits only, 100..999999999");
        expect_error("{\"vms\": {\"1000000000\": {}}}",
                     NAME ":1: vms.1000000000: expected a VMID, digits only, 100..999999999");
        expect_error("{\"vms\": {\"+100\": {}}}", NAME ":1: vms.+100: expected a VMID, digits only, 100..999999999");
        expect_error("{\"vms\": {\"\": {}}}", NAME ":1: vms.: expected a VMID, digits only, 100..999999999");
}

static void test_timeouts_out_of_range(void **state)
{
        (void)state;
        expect_error("{\"defaults\": {\"reset_timeout_ms\": 0}}",
                     NAME ":1: defaults.reset_timeout_ms: must be between 1 and 600000 (milliseconds), got 0");
        expect_error("{\"vms\": {\"100\": {\"lock_timeout_ms\": 600001}}}",
                     NAME ":1: vms.100.lock_timeout_ms: must be between 1 and 600000 (milliseconds), got 600001");
        expect_error("{\"defaults\": {\"bind_timeout_ms\": -5}}",
                     NAME ":1: defaults.bind_timeout_ms: must be between 1 and 600000 (milliseconds), got -5");
        expect_error("{\"defaults\": {\"rescan_timeout_ms\": 99999999999999999999999}}",
                     NAME ":1: defaults.rescan_timeout_ms: must be between 1 and 600000 (milliseconds), got "
                     "9223372036854775807");
        expect_error("{\"defaults\": {\"settle_ms\": 60001}}",
                     NAME ":1: defaults.settle_ms: must be between 0 and 60000 (milliseconds), got 60001");
}

static void test_hookscript_must_be_absolute(void **state)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct policy_settings s;

        (void)state;
        expect_error("{\"defaults\": {\"hookscript\": \"local:snippets/other.pl\"}}",
                     NAME ":1: defaults.hookscript: must be an absolute path to an executable, or \"\" for none, not "
                     "\"local:snippets/other.pl\"");
        expect_error("{\"defaults\": {\"hookscript\": \"/bin/x\\u0000y\"}}",
                     NAME ":1: defaults.hookscript: must not contain a NUL character");
        expect_error("{\"defaults\": {\"hookscript\": \"/bin/x\\ny\"}}",
                     NAME ":1: defaults.hookscript: must not contain control characters");
        p = parse_ok("{\"defaults\": {\"hookscript\": \"/usr/local/bin/hook\"}, \"vms\": {\"100\": {\"hookscript\": \"\"}}}");
        policy_resolve(p, 100, 0, 0, &s);
        assert_string_equal(s.hookscript, "");
        policy_resolve(p, 101, 0, 0, &s);
        assert_string_equal(s.hookscript, "/usr/local/bin/hook");
}

static void test_duplicate_keys_are_errors(void **state)
{
        (void)state;
        expect_error("{\n  \"defaults\": {\"settle_ms\": 1},\n  \"defaults\": {\"settle_ms\": 2}\n}",
                     NAME ":3: defaults: duplicate key (JSON would silently keep only the last one)");
        expect_error("{\"devices\": {\"10de:2b85\": {\n  \"settle_ms\": 1,\n  \"settle_ms\": 2}}}",
                     NAME ":3: devices.10de:2b85.settle_ms: duplicate key (JSON would silently keep only the last "
                     "one)");
        /* An escape spelling the same key is the same key. */
        expect_error("{\"vms\": {\"100\": {}, \"\\u0031\\u0030\\u0030\": {}}}",
                     NAME ":1: vms.100: duplicate key (JSON would silently keep only the last one)");
}

/* ---- syntax errors ---- */

static void test_truncated_json(void **state)
{
        (void)state;
        expect_error("{\"defaults\": {", NAME ":1:15: invalid JSON: unexpected end of file (truncated?)");
        expect_error("{\n  \"defaults\": {\n    \"settle_ms\": 25",
                     NAME ":3:20: invalid JSON: unexpected end of file (truncated?)");
}

static void test_syntax_error_has_line_and_column(void **state)
{
        struct pgr_error err = { "" };
        struct policy *p = NULL;

        (void)state;
        /* Missing comma after line 2. */
        assert_int_equal(parse("{\n  \"defaults\": {\"settle_ms\": 1}\n  \"vms\": {}\n}", &p, &err), -EINVAL);
        assert_non_null(strstr(err.msg, NAME ":3:3: invalid JSON: "));
        expect_error("{\"defaults\": {'settle_ms': 1}}", NAME ":1:15: invalid JSON: strings must be in double quotes");
}

static void test_trailing_garbage_after_object(void **state)
{
        (void)state;
        expect_error("{\"defaults\": {}}\n\nx", NAME ":3:1: invalid JSON: unexpected data after the top-level object");
        expect_error("{}{}", NAME ":1:3: invalid JSON: unexpected data after the top-level object");
        /* Whitespace after the object is fine. */
        policy_free(parse_ok("{}\n\n  \t\n"));
}

static void test_top_level_must_be_an_object(void **state)
{
        (void)state;
        expect_error("[\"defaults\"]",
                     NAME ":1: (top level): expected an object {\"defaults\": ..., \"devices\": ..., \"vms\": ...}, "
                     "got an array");
        expect_error("\n42", NAME ":2: (top level): expected an object {\"defaults\": ..., \"devices\": ..., "
                     "\"vms\": ...}, got an integer");
        expect_error("null", NAME ":1:1: invalid JSON: expected an object, got null");
}

static void test_empty_nul_and_bom_are_refused(void **state)
{
        (void)state;
        expect_error("", NAME ": empty file; expected a JSON object (\"{}\" means the built-in defaults)");
        expect_error(" \n", NAME ": empty file; expected a JSON object (\"{}\" means the built-in defaults)");
        expect_error("\xef\xbb\xbf{}",
                     NAME ":1:1: invalid JSON: starts with a UTF-8 byte order mark; save the file without it");
        {
                static const char nul[] = "{\"defaults\": {}}\0{\"x\": 1}";
                struct pgr_error err = { "" };
                struct policy *p = NULL;

                assert_int_equal(policy_parse(nul, sizeof(nul) - 1, NAME, &p, &err), -EINVAL);
                assert_string_equal(err.msg, NAME ":1:17: invalid JSON: contains a NUL byte");
        }
}

/* ---- loading from disk ---- */

static void test_world_writable_file_is_refused(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };
        char want[1024];

        REQUIRE_ROOT();
        write_file(f->file, "{}", 0666);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), -EPERM);
        assert_null(p);
        snprintf(want, sizeof(want), "%s: writable by others (mode 0666); refusing it. Run: chown root:root %s; "
                 "chmod 0644 %s", f->file, f->file, f->file);
        assert_string_equal(err.msg, want);
}

static void test_group_writable_file_is_refused(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };

        REQUIRE_ROOT();
        write_file(f->file, "{}", 0664);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), -EPERM);
        assert_non_null(strstr(err.msg, "writable by its group (mode 0664)"));
}

static void test_file_not_owned_by_root_is_refused(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };
        char want[1024];

        REQUIRE_ROOT();
        write_file(f->file, "{}", 0644);
        assert_int_equal(chown(f->file, 1000, 1000), 0);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), -EPERM);
        assert_null(p);
        snprintf(want, sizeof(want), "%s: owned by uid 1000, not root; refusing it. Run: chown root:root %s; "
                 "chmod 0644 %s", f->file, f->file, f->file);
        assert_string_equal(err.msg, want);
}

static void test_explicit_path_missing_is_an_error(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };
        char other[160], want[1024];

        snprintf(other, sizeof(other), "%s/other.json", f->dir);
        assert_int_equal(policy_load(&f->ctx, other, &p, &err), -ENOENT);
        assert_null(p);
        snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", other);
        assert_string_equal(err.msg, want);

        /* Naming the default path explicitly: under the root prefix, and it must exist. */
        assert_int_equal(policy_load(&f->ctx, POLICY_DEFAULT_PATH, &p, &err), -ENOENT);
        snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", f->file);
        assert_string_equal(err.msg, want);
}

static void test_explicit_path_is_not_under_the_root_prefix(void **state)
{
        struct fsroot *f = *state;
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct pgr_error err = { "" };
        struct pgr_ctx elsewhere;
        char other[160];
        struct policy_settings s;

        REQUIRE_ROOT();
        snprintf(other, sizeof(other), "%s/other.json", f->dir);
        write_file(other, "{\"defaults\": {\"settle_ms\": 42}}", 0644);
        /* A root prefix where nothing exists: the explicit path is still found as given. */
        assert_int_equal(pgr_ctx_init(&elsewhere, "/nonexistent-pgr-root", "pve1"), 0);
        assert_int_equal(policy_load(&elsewhere, other, &p, &err), 0);
        assert_string_equal(policy_source(p), other);
        policy_resolve(p, 0, 0, 0, &s);
        assert_int_equal(s.settle_ms, 42);
}

static void test_errors_in_a_loaded_file_name_the_file(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };
        char want[1024];

        REQUIRE_ROOT();
        write_file(f->file, "{\n  \"devices\": {\n    \"10de:2b85\": {\"reset_metods\": [\"slot\"]}\n  }\n}\n", 0644);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), -EINVAL);
        snprintf(want, sizeof(want), "%s:3: devices.10de:2b85.reset_metods: unknown key", f->file);
        assert_string_equal(err.msg, want);

        write_file(f->file, "{\"defaults\": {", 0644);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), -EINVAL);
        snprintf(want, sizeof(want), "%s:1:15: invalid JSON: unexpected end of file (truncated?)", f->file);
        assert_string_equal(err.msg, want);
}

static void test_directory_and_oversized_file_are_refused(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };
        _cleanup_free_ char *big = NULL;

        REQUIRE_ROOT();
        big = malloc(POLICY_MAX_SIZE + 2);
        assert_non_null(big);
        memset(big, ' ', POLICY_MAX_SIZE + 1);
        big[0] = '{';
        big[POLICY_MAX_SIZE] = '}';
        big[POLICY_MAX_SIZE + 1] = '\0';
        write_file(f->file, big, 0644);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "larger than 262144 bytes"));

        /* One byte less is accepted. */
        big[POLICY_MAX_SIZE - 1] = '}';
        big[POLICY_MAX_SIZE] = '\0';
        write_file(f->file, big, 0644);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), 0);
        policy_free(p);
        p = NULL;

        assert_int_equal(unlink(f->file), 0);
        assert_int_equal(mkdir(f->file, 0755), 0);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), -EINVAL);
        assert_non_null(strstr(err.msg, ": not a regular file"));
}

static void test_policy_replaced_after_load_is_not_reread(void **state)
{
        struct fsroot *f = *state;
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct pgr_error err = { "" };
        struct policy_settings s;

        REQUIRE_ROOT();
        write_file(f->file, "{\"defaults\": {\"on_failure\": \"continue\"}}", 0644);
        assert_int_equal(policy_load(&f->ctx, NULL, &p, &err), 0);
        /* Replaced (even by something invalid) mid-run: the loaded policy stays what was read. */
        write_file(f->file, "{\"defaults\": {\"on_failure\": \"abort\"}, \"bogus\": 1}", 0644);
        policy_resolve(p, 100, 0x10de, 0x2b85, &s);
        assert_int_equal(s.on_failure, POLICY_ON_FAILURE_CONTINUE);
}

/* ---- the one config path resolver, and the per-VM attach state ---- */

/* attach/detach and the hook resolve --config through the same function: the literal default is the
 * file under the root prefix (the one the hook reads), anything else is used as given. */
static void test_config_path_resolution(void **state)
{
        struct fsroot *f = *state;
        struct pgr_error err = { "" };
        char buf[PATH_MAX];

        assert_int_equal(policy_config_path(&f->ctx, NULL, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, f->file);
        assert_int_equal(policy_config_path(&f->ctx, POLICY_DEFAULT_PATH, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, f->file);
        assert_int_equal(policy_config_path(&f->ctx, "/srv/policy.json", buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "/srv/policy.json");
        assert_int_equal(policy_config_path(&f->ctx, "", buf, sizeof(buf), &err), -EINVAL);
        assert_string_equal(err.msg, "--config: invalid path \"\"");
}

static void put_state(const struct fsroot *f, unsigned long vmid, const char *text, mode_t mode)
{
        char dir[PATH_MAX], path[PATH_MAX + 32];

        snprintf(dir, sizeof(dir), "%s/etc/pve-gpu-reset.d", f->dir);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        snprintf(path, sizeof(path), "%s/vm-%lu.json", dir, vmid);
        write_file(path, text, mode);
}

#define STATE_101 "{\"format\": 1, \"vmid\": 101, \"hookscript\": \"/var/lib/vz/snippets/new.sh\", " \
                  "\"volid\": \"local:snippets/new.sh\"}\n"

/* The settings' hookscript is the policy's string: copied out before the policy goes. */
static const char *chained(const struct fsroot *f, unsigned long vmid)
{
        static char copy[PATH_MAX];
        struct policy_settings s;
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct pgr_error err = { "" };
        int r = policy_load_vm(&f->ctx, NULL, vmid, &p, &err);

        if (r < 0)
                print_error("policy_load_vm: %s\n", err.msg);
        assert_int_equal(r, 0);
        policy_resolve(p, vmid, 0, 0, &s);
        snprintf(copy, sizeof(copy), "%s", s.hookscript);
        return copy;
}

/* The VM's state file replaces the conffile's vms.<vmid>.hookscript (0.1's record) for that VM only;
 * policy_load (no VM) and other VMs see the conffile as it is. */
static void test_load_vm_state_replaces_the_conffile_entry(void **state)
{
        struct fsroot *f = *state;
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct pgr_error err = { "" };

        write_file(f->file, "{\"vms\": {\"101\": {\"hookscript\": \"/var/lib/vz/snippets/old.sh\"}, "
                   "\"102\": {\"hookscript\": \"/var/lib/vz/snippets/102.sh\"}}}", 0644);
        assert_string_equal(chained(f, 101), "/var/lib/vz/snippets/old.sh");
        put_state(f, 101, STATE_101, 0644);
        assert_string_equal(chained(f, 101), "/var/lib/vz/snippets/new.sh");
        assert_string_equal(chained(f, 102), "/var/lib/vz/snippets/102.sh");
        assert_int_equal(policy_load_vm(&f->ctx, NULL, 101, &p, &err), 0);
        assert_true(policy_chain_from_state(p, 101));
        assert_false(policy_chain_from_state(p, 102));
        assert_string_equal(policy_vm_hookscript(p, 101), "/var/lib/vz/snippets/old.sh");
        assert_null(policy_vm_hookscript(p, 103));
        /* No policy file at all: the state alone. */
        unlink(f->file);
        assert_string_equal(chained(f, 101), "/var/lib/vz/snippets/new.sh");
}

/* The hook runs the script a state file names, as root: a file it cannot trust or read fails the
 * VM's hook like a bad policy file; another VM's bad file is none of this VM's business. */
static void test_load_vm_bad_state_fails_only_its_vm(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };
        char want[PATH_MAX + 128];

        put_state(f, 102, "{\"format\": 1,", 0644);
        assert_string_equal(chained(f, 101), "");
        assert_int_equal(policy_load_vm(&f->ctx, NULL, 102, &p, &err), -EINVAL);
        assert_null(p);
        assert_non_null(strstr(err.msg, "/etc/pve-gpu-reset.d/vm-102.json: invalid JSON"));

        put_state(f, 101, STATE_101, 0664);
        assert_int_equal(policy_load_vm(&f->ctx, NULL, 101, &p, &err), -EPERM);
        snprintf(want, sizeof(want), "%s/etc/pve-gpu-reset.d/vm-101.json: writable by its group", f->dir);
        assert_non_null(strstr(err.msg, want));
}

/* Attack review: the state file was checked (root's, not group/world-writable) but not the directory
 * that holds it. Whoever may write /etc/pve-gpu-reset.d can put in its place a symlink to a root-owned
 * 0644 file whose content is theirs (an ISO uploaded through the Proxmox API lands as root:root 0644 in
 * /var/lib/vz/template/iso): it passed every check and the hook ran the script it named, as root. A
 * directory others may write is refused unless sticky (there a name is only replaced by its owner). */
static void test_load_vm_state_in_a_directory_others_can_write_is_refused(void **state)
{
        struct fsroot *f = *state;
        struct policy *p = NULL;
        struct pgr_error err = { "" };
        char dir[PATH_MAX], iso[PATH_MAX + 64], link[PATH_MAX + 32], want[PATH_MAX + 64];

        put_state(f, 101, STATE_101, 0644);
        snprintf(dir, sizeof(dir), "%s/etc/pve-gpu-reset.d", f->dir);
        snprintf(iso, sizeof(iso), "%s/var/lib/vz/template/iso", f->dir);
        assert_int_equal(mkdir_p(iso, 0755), 0);
        strcat(iso, "/upload.iso");
        write_file(iso, "{\"format\": 1, \"vmid\": 101, \"hookscript\": \"/tmp/evil\", "
                        "\"volid\": \"local:snippets/x\"}\n", 0644);
        snprintf(link, sizeof(link), "%s/vm-101.json", dir);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(symlink(iso, link), 0);
        assert_int_equal(chmod(dir, 0777), 0);
        assert_int_equal(policy_load_vm(&f->ctx, NULL, 101, &p, &err), -EPERM);
        assert_null(p);
        snprintf(want, sizeof(want), "%s: writable by others (mode 0777)", dir);
        assert_non_null(strstr(err.msg, want));
        /* sticky like /tmp: only the name's owner replaces it */
        assert_int_equal(chmod(dir, 01777), 0);
        assert_string_equal(chained(f, 101), "/tmp/evil");
        assert_int_equal(chmod(dir, 0755), 0);
        assert_string_equal(chained(f, 101), "/tmp/evil");
}

/* What chain_parse refuses, each with the key named. */
static void test_chain_parse_errors(void **state)
{
        static const struct {
                const char *text, *msg;
        } cases[] = {
                { "{\"vmid\": 101, \"hookscript\": \"/x\", \"volid\": \"local:snippets/x\"}", "f: format: expected a number" },
                { "{\"format\": 2, \"vmid\": 101, \"hookscript\": \"/x\", \"volid\": \"local:snippets/x\"}",
                  "f: format: 2 is not 1 (written by another version of pve-gpu-reset)" },
                { "{\"format\": 1, \"vmid\": 101, \"hookscript\": \"x.sh\", \"volid\": \"local:snippets/x\"}",
                  "f: hookscript: must be an absolute path, not \"x.sh\"" },
                { "{\"format\": 1, \"vmid\": 101, \"hookscript\": \"/x\\n\", \"volid\": \"local:snippets/x\"}",
                  "f: hookscript: contains control characters" },
                { "{\"format\": 1, \"vmid\": 101, \"hookscript\": \"/x\\u0000y\", \"volid\": \"local:snippets/x\"}",
                  "f: hookscript: contains a NUL" },
                { "{\"format\": 1, \"vmid\": 101, \"hookscript\": \"/x\", \"volid\": \"local:iso/x\"}",
                  "f: volid: \"local:iso/x\" is not a snippets volume (STORAGE:snippets/NAME)" },
                { "{\"format\": 1, \"vmid\": 101, \"hookscript\": \"/x\"}", "f: volid: missing" },
                { "[1]", "f: invalid JSON: expected one object" },
                { "{\"format\": 1} {}", "f: invalid JSON: expected one object" },
        };
        struct pgr_error err;
        struct chain c;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                err.msg[0] = '\0';
                assert_int_equal(chain_parse(cases[i].text, strlen(cases[i].text), "f", 101, &c, &err), -EINVAL);
                assert_string_equal(err.msg, cases[i].msg);
        }
        /* Comments and keys of a newer version are ignored. */
        {
                const char *ok = "{\"_about\": \"x\", \"format\": 1, \"vmid\": 101, \"hookscript\": \"/x\", "
                                 "\"volid\": \"local:snippets/x\", \"since\": 3}";

                assert_int_equal(chain_parse(ok, strlen(ok), "f", 101, &c, &err), 0);
                assert_string_equal(c.hookscript, "/x");
                assert_string_equal(c.volid, "local:snippets/x");
        }
}

/* What chain_save writes, chain_load reads back (json-c escapes what needs it). */
static void test_chain_save_load_round_trip(void **state)
{
        struct fsroot *f = *state;
        struct chain c = { .vmid = 101, .hookscript = "/var/lib/vz/snippets/a \"b\"\\c.sh",
                           .volid = "local:snippets/a \"b\"\\c.sh" }, back;
        struct pgr_error err = { "" };

        assert_int_equal(chain_save(&f->ctx, &c, &err), 0);
        assert_int_equal(chain_load(&f->ctx, 101, &back, &err), 0);
        assert_string_equal(back.hookscript, c.hookscript);
        assert_string_equal(back.volid, c.volid);
        assert_int_equal(chain_remove(&f->ctx, 101, &err), 0);
        assert_int_equal(chain_load(&f->ctx, 101, &back, &err), -ENOENT);
        assert_int_equal(chain_remove(&f->ctx, 101, &err), 0); /* none is fine */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_compiled_defaults_are_the_documented_ones),
                cmocka_unit_test_setup_teardown(test_missing_default_file_gives_defaults, root_setup, root_teardown),
                cmocka_unit_test(test_shipped_conf_equals_compiled_defaults),
                cmocka_unit_test_setup_teardown(test_policy_load_out_of_memory_frees_what_it_parsed, root_setup, root_teardown),
                cmocka_unit_test(test_shipped_conf_examples_are_valid_and_mean_what_they_say),
                cmocka_unit_test_setup_teardown(test_shipped_conf_loads_from_root_prefix, root_setup, root_teardown),
                cmocka_unit_test(test_file_defaults_replace_compiled_defaults),
                cmocka_unit_test(test_device_override_applies_only_to_its_id),
                cmocka_unit_test(test_vm_override_wins_over_device_override),
                cmocka_unit_test(test_vmid_zero_and_other_vms_ignore_vm_entries),
                cmocka_unit_test(test_underscore_keys_are_comments_everywhere),
                cmocka_unit_test(test_empty_object_and_empty_sections_are_defaults),
                cmocka_unit_test(test_method_allowed_follows_the_resolved_list),
                cmocka_unit_test(test_bounds_are_inclusive),
                cmocka_unit_test(test_unknown_key_at_every_level),
                cmocka_unit_test(test_wrong_type_for_each_kind),
                cmocka_unit_test(test_bad_enum_values),
                cmocka_unit_test(test_bad_reset_method_lists),
                cmocka_unit_test(test_bad_device_keys),
                cmocka_unit_test(test_bad_vmid_keys),
                cmocka_unit_test(test_timeouts_out_of_range),
                cmocka_unit_test(test_hookscript_must_be_absolute),
                cmocka_unit_test(test_duplicate_keys_are_errors),
                cmocka_unit_test(test_truncated_json),
                cmocka_unit_test(test_syntax_error_has_line_and_column),
                cmocka_unit_test(test_trailing_garbage_after_object),
                cmocka_unit_test(test_top_level_must_be_an_object),
                cmocka_unit_test(test_empty_nul_and_bom_are_refused),
                cmocka_unit_test_setup_teardown(test_world_writable_file_is_refused, root_setup, root_teardown),
                cmocka_unit_test_setup_teardown(test_group_writable_file_is_refused, root_setup, root_teardown),
                cmocka_unit_test_setup_teardown(test_file_not_owned_by_root_is_refused, root_setup, root_teardown),
                cmocka_unit_test_setup_teardown(test_explicit_path_missing_is_an_error, root_setup, root_teardown),
                cmocka_unit_test_setup_teardown(test_explicit_path_is_not_under_the_root_prefix, root_setup,
                                                root_teardown),
                cmocka_unit_test_setup_teardown(test_errors_in_a_loaded_file_name_the_file, root_setup, root_teardown),
                cmocka_unit_test_setup_teardown(test_directory_and_oversized_file_are_refused, root_setup,
                                                root_teardown),
                cmocka_unit_test_setup_teardown(test_policy_replaced_after_load_is_not_reread, root_setup,
                                                root_teardown),
                cmocka_unit_test_setup_teardown(test_config_path_resolution, root_setup, root_teardown),
                cmocka_unit_test_setup_teardown(test_load_vm_state_replaces_the_conffile_entry, root_setup,
                                                root_teardown),
                cmocka_unit_test_setup_teardown(test_load_vm_bad_state_fails_only_its_vm, root_setup, root_teardown),
                cmocka_unit_test_setup_teardown(test_load_vm_state_in_a_directory_others_can_write_is_refused, root_setup,
                                                root_teardown),
                cmocka_unit_test(test_chain_parse_errors),
                cmocka_unit_test_setup_teardown(test_chain_save_load_round_trip, root_setup, root_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
