/* SPDX-License-Identifier: GPL-2.0-or-later */
/* propstr_parse against pve-common src/PVE/JSONSchema.pm parse_property_string (split /,/, skip
 * /^\s*$/ parts, /^([^=]+)=(.+)$/, default key, duplicate detection) and its check_object boolean
 * type check with parse_boolean; verified at pve-common f665029eac78022e81810ab2e44eace57ade13fb. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/util.h"
#include "pve/propstr.h"

enum { K_ID, K_FLAG, K_NAME, K_COUNT };
static const struct propstr_key keys[K_COUNT] = {
        [K_ID] = { "id", PROPSTR_STRING, true },
        [K_FLAG] = { "flag", PROPSTR_BOOLEAN, false },
        [K_NAME] = { "name", PROPSTR_STRING, false },
};

static void parse_ok(const char *text, struct propstr_value *v)
{
        char why[256] = "";
        int r = propstr_parse(text, strlen(text), keys, K_COUNT, v, why, sizeof(why));

        if (r < 0)
                fail_msg("'%s': %d %s", text, r, why);
}

static void parse_fails(const char *text, const char *expect)
{
        struct propstr_value v[K_COUNT];
        char why[256] = "";

        assert_int_equal(propstr_parse(text, strlen(text), keys, K_COUNT, v, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, expect);
}

static void assert_value(const struct propstr_value *v, const char *expect)
{
        assert_true(v->set);
        assert_int_equal(v->n, strlen(expect));
        assert_memory_equal(v->s, expect, v->n);
}

static void propstr_default_key_and_keys(void **state)
{
        struct propstr_value v[K_COUNT];

        (void)state;
        parse_ok("abc,flag=on,name=x=y", v);
        assert_value(&v[K_ID], "abc");
        assert_int_equal(v[K_FLAG].boolean, 1);
        assert_value(&v[K_NAME], "x=y"); /* (.+) after the first '=' */
        parse_ok("name=n,abc", v); /* the bare value wherever it stands */
        assert_value(&v[K_ID], "abc");
        parse_ok("id=abc", v);
        assert_value(&v[K_ID], "abc");
        assert_false(v[K_FLAG].set);
        parse_ok("", v);
        assert_false(v[K_ID].set);
}

/* `next if $part =~ /^\s*$/`: empty and blank parts are skipped, nothing else is trimmed */
static void propstr_blank_parts_skipped_nothing_trimmed(void **state)
{
        struct propstr_value v[K_COUNT];

        (void)state;
        parse_ok(",, \t,abc,,", v);
        assert_value(&v[K_ID], "abc");
        parse_ok(" abc ", v);
        assert_value(&v[K_ID], " abc ");
        parse_fails("abc, flag=1", "invalid key in comma-separated list property:  flag");
        parse_fails("abc,flag =1", "invalid key in comma-separated list property: flag ");
        parse_fails("abc,flag= 1", "flag: type check ('boolean') failed - got ' 1'");
}

static void propstr_missing_and_invalid_keys(void **state)
{
        (void)state;
        parse_fails("=x", "missing key in comma-separated list property");
        parse_fails("name=", "missing key in comma-separated list property");
        parse_fails("abc,other=1", "invalid key in comma-separated list property: other");
        parse_fails("abc,Flag=1", "invalid key in comma-separated list property: Flag");
}

static void propstr_duplicates(void **state)
{
        struct propstr_value v[K_COUNT];

        (void)state;
        parse_fails("flag=1,flag=1", "duplicate key in comma-separated list property: flag");
        parse_fails("abc,def", "duplicate key in comma-separated list property: id");
        parse_fails("abc,id=def", "duplicate key in comma-separated list property: id");
        parse_fails("id=abc,def", "duplicate key in comma-separated list property: id");
        /* `if (!$res->{$default_key})`: Perl's false "0" is overwritten by the bare value */
        parse_ok("id=0,def", v);
        assert_value(&v[K_ID], "def");
}

/* parse_boolean: m/^(1|on|yes|true)$/i, m/^(0|off|no|false)$/i */
static void propstr_booleans(void **state)
{
        static const char *const yes[] = { "1", "on", "ON", "Yes", "true", "TRUE" };
        static const char *const no[] = { "0", "off", "No", "false", "FALSE" };
        static const char *const bad[] = { "2", "y", "n", "t", "01", "enable" };
        struct propstr_value v[K_COUNT];
        char text[64], msg[128];

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                snprintf(text, sizeof(text), "flag=%s", yes[i]);
                parse_ok(text, v);
                assert_int_equal(v[K_FLAG].boolean, 1);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                snprintf(text, sizeof(text), "flag=%s", no[i]);
                parse_ok(text, v);
                assert_int_equal(v[K_FLAG].boolean, 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                snprintf(text, sizeof(text), "flag=%s", bad[i]);
                snprintf(msg, sizeof(msg), "flag: type check ('boolean') failed - got '%s'", bad[i]);
                parse_fails(text, msg);
        }
}

static void propstr_no_default_key(void **state)
{
        static const struct propstr_key nodef[] = { { "a", PROPSTR_STRING, false } };
        struct propstr_value v[1];
        char why[128];

        (void)state;
        assert_int_equal(propstr_parse("x", 1, nodef, 1, v, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "value without key, but schema does not define a default key");
        assert_int_equal(propstr_parse("a=1", 3, nodef, 1, v, why, sizeof(why)), 0);
        assert_value(&v[0], "1");
}

static void propstr_never_reads_past_n(void **state)
{
        struct propstr_value v[K_COUNT];
        char why[128];

        (void)state;
        /* "abc,flag=1" cut after "abc,fl": "fl" is a default-key duplicate, not a key */
        assert_int_equal(propstr_parse("abc,flag=1", 6, keys, K_COUNT, v, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "duplicate key in comma-separated list property: id");
        assert_int_equal(propstr_parse("abc,flag=1", 3, keys, K_COUNT, v, why, sizeof(why)), 0);
        assert_value(&v[K_ID], "abc");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(propstr_default_key_and_keys),
                cmocka_unit_test(propstr_blank_parts_skipped_nothing_trimmed),
                cmocka_unit_test(propstr_missing_and_invalid_keys),
                cmocka_unit_test(propstr_duplicates),
                cmocka_unit_test(propstr_booleans),
                cmocka_unit_test(propstr_no_default_key),
                cmocka_unit_test(propstr_never_reads_past_n),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
