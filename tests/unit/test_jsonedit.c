/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Smallest-change JSON edits: attach/detach touch one member of the policy (a conffile) and keep
 * the rest of the file byte for byte. */
#define _GNU_SOURCE 1 /* asprintf */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "ops/jsonedit.h"

static const char *const VM100_HS[] = { "vms", "100", "hookscript" };

static void set_is(const char *in, const char *const *path, size_t n, const char *value, const char *want)
{
        char *out = NULL;

        assert_int_equal(json_text_set_string(in, strlen(in), path, n, value, &out), 0);
        assert_string_equal(out, want);
        free(out);
}

static void remove_is(const char *in, const char *const *path, size_t n, const char *want)
{
        char *out = NULL;

        assert_int_equal(json_text_remove(in, strlen(in), path, n, &out), 0);
        assert_string_equal(out, want);
        free(out);
}

/* The shape of the shipped policy: "vms" holds only its "_about" comment. */
static void test_add_vm_entry_next_to_a_comment_key(void **state)
{
        (void)state;
        set_is("{\n"
               "  \"defaults\": {\n"
               "    \"settle_ms\": 250\n"
               "  },\n"
               "\n"
               "  \"vms\": {\n"
               "    \"_about\": [\"Per-VM overrides\"]\n"
               "  }\n"
               "}\n",
               VM100_HS, 3, "/var/lib/vz/snippets/a.sh",
               "{\n"
               "  \"defaults\": {\n"
               "    \"settle_ms\": 250\n"
               "  },\n"
               "\n"
               "  \"vms\": {\n"
               "    \"_about\": [\"Per-VM overrides\"],\n"
               "    \"100\": {\n"
               "      \"hookscript\": \"/var/lib/vz/snippets/a.sh\"\n"
               "    }\n"
               "  }\n"
               "}\n");
}

static void test_add_vms_when_missing_with_tab_indentation(void **state)
{
        (void)state;
        set_is("{\n\t\"defaults\": {}\n}", VM100_HS, 3, "/x",
               "{\n\t\"defaults\": {},\n\t\"vms\": {\n\t\t\"100\": {\n\t\t\t\"hookscript\": \"/x\"\n\t\t}\n\t}\n}");
}

static void test_add_into_empty_objects(void **state)
{
        (void)state;
        set_is("{}", VM100_HS, 3, "/x", "{\n  \"vms\": {\n    \"100\": {\n      \"hookscript\": \"/x\"\n    }\n  }\n}");
        set_is("{\n  \"vms\": {}\n}\n", VM100_HS, 3, "/x",
               "{\n  \"vms\": {\n    \"100\": {\n      \"hookscript\": \"/x\"\n    }\n  }\n}\n");
}

static void test_add_to_existing_vm_and_replace_existing_value(void **state)
{
        (void)state;
        set_is("{\"vms\": {\n    \"100\": {\n      \"on_failure\": \"continue\"\n    }\n}}", VM100_HS, 3, "/x",
               "{\"vms\": {\n    \"100\": {\n      \"on_failure\": \"continue\",\n      \"hookscript\": \"/x\"\n    }\n}}");
        set_is("{ \"vms\": { \"100\": { \"hookscript\": \"/old\", \"settle_ms\": 5 } } }", VM100_HS, 3, "/new",
               "{ \"vms\": { \"100\": { \"hookscript\": \"/new\", \"settle_ms\": 5 } } }");
}

static void test_one_line_objects_stay_on_one_line(void **state)
{
        (void)state;
        set_is("{\"vms\": {\"200\": {\"settle_ms\": 1}}}", VM100_HS, 3, "/x",
               "{\"vms\": {\"200\": {\"settle_ms\": 1}, \"100\": {\"hookscript\": \"/x\"}}}");
}

static void test_value_is_escaped(void **state)
{
        (void)state;
        set_is("{\"vms\": {\"100\": {}}}", VM100_HS, 3, "/a \"b\"\\c",
               "{\"vms\": {\"100\": {\n  \"hookscript\": \"/a \\\"b\\\"\\\\c\"\n}}}");
}

static void test_remove_first_middle_last_and_only_member(void **state)
{
        static const char *const path[] = { "vms", "100" };

        (void)state;
        remove_is("{\"vms\": {\n  \"100\": {},\n  \"101\": {}\n}}", path, 2, "{\"vms\": {\n  \"101\": {}\n}}");
        remove_is("{\"vms\": {\n  \"99\": 1,\n  \"100\": {\"a\": [1, {\"b\": \"}\"}]},\n  \"101\": {}\n}}", path, 2,
                  "{\"vms\": {\n  \"99\": 1,\n  \"101\": {}\n}}");
        remove_is("{\"vms\": {\n  \"99\": 1,\n  \"100\": {}\n}}", path, 2, "{\"vms\": {\n  \"99\": 1\n}}");
        remove_is("{\"vms\": {\n  \"100\": {}\n}}", path, 2, "{\"vms\": {}}");
}

static void test_missing_member_and_malformed_text(void **state)
{
        static const char *const path[] = { "vms", "100" };
        char *out = NULL;

        (void)state;
        assert_int_equal(json_text_remove("{\"vms\": {}}", 11, path, 2, &out), -ENOENT);
        assert_int_equal(json_text_remove("{}", 2, path, 2, &out), -ENOENT);
        assert_int_equal(json_text_set_string("{\"vms\": []}", 11, VM100_HS, 3, "/x", &out), -EINVAL);
        assert_int_equal(json_text_set_string("{\"vms\": {", 9, VM100_HS, 3, "/x", &out), -EINVAL);
        assert_int_equal(json_text_set_string("[]", 2, VM100_HS, 3, "/x", &out), -EINVAL);
        assert_int_equal(json_text_set_string("{} x", 4, VM100_HS, 3, "/x", &out), -EINVAL);
        assert_int_equal(json_text_set_string("{\"a\": \"x\ny\"}", 11, VM100_HS, 3, "/x", &out), -EINVAL);
        assert_null(out);
}

/* The shipped policy: add a VM's chained hookscript, remove it and its entry, get the same bytes. */
static void test_shipped_policy_round_trip_is_byte_exact(void **state)
{
        static const char *const vm[] = { "vms", "101" };
        const char *src = getenv("PGR_SRCDIR");
        _cleanup_free_ char *orig = NULL, *added = NULL, *removed = NULL, *path = NULL;
        const char *const hs[] = { "vms", "101", "hookscript" };
        size_t len = 0;

        (void)state;
        assert_non_null(src);
        /* PGR_SRCDIR is the repository or its tests/ directory, depending on the runner */
        assert_true(asprintf(&path, "%s/conf/pve-gpu-reset.json", src) > 0);
        if (access(path, F_OK) < 0) {
                free(path);
                assert_true(asprintf(&path, "%s/../conf/pve-gpu-reset.json", src) > 0);
        }
        assert_int_equal(read_full_file(path, 1 << 20, &orig, &len), 0);
        assert_int_equal(json_text_set_string(orig, len, hs, 3, "/var/lib/vz/snippets/pin-cpus.sh", &added), 0);
        assert_non_null(strstr(added, "\"101\": {\n      \"hookscript\": \"/var/lib/vz/snippets/pin-cpus.sh\"\n    }"));
        assert_int_equal(json_text_remove(added, strlen(added), vm, 2, &removed), 0);
        assert_string_equal(removed, orig);
}

/* Fuzzer regression (tests/fuzz/crashes/jsonedit): a key that needs escaping would corrupt the file. */
static void test_keys_that_need_escaping_are_refused(void **state)
{
        static const char *const quote[] = { "\"", "" }, *const backslash[] = { "vms", "a\\b" },
                                 *const ctrl[] = { "vms\n" };
        char *out = NULL;

        (void)state;
        assert_int_equal(json_text_set_string("{}", 2, quote, 2, "", &out), -EINVAL);
        assert_null(out);
        assert_int_equal(json_text_set_string("{}", 2, backslash, 2, "x", &out), -EINVAL);
        assert_int_equal(json_text_remove("{\"vms\": {}}", 11, ctrl, 1, &out), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add_vm_entry_next_to_a_comment_key),
                cmocka_unit_test(test_add_vms_when_missing_with_tab_indentation),
                cmocka_unit_test(test_add_into_empty_objects),
                cmocka_unit_test(test_add_to_existing_vm_and_replace_existing_value),
                cmocka_unit_test(test_one_line_objects_stay_on_one_line),
                cmocka_unit_test(test_value_is_escaped),
                cmocka_unit_test(test_remove_first_middle_last_and_only_member),
                cmocka_unit_test(test_missing_member_and_malformed_text),
                cmocka_unit_test(test_shipped_policy_round_trip_is_byte_exact),
                cmocka_unit_test(test_keys_that_need_escaping_are_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
