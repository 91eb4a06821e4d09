/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `history` filters: --since in journalctl's forms (absolute, words, relative), --device, and reading
 * a journal directory with no entries. Entries written by a real journald are read back by
 * tests/journal/run.sh. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/history.h"

#define SEC 1000000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

/* A zone with DST, given as a POSIX TZ string so the test needs no tzdata. */
#define BERLIN "CET-1CEST,M3.5.0,M10.5.0/3"

static long long utc(int y, int mo, int d, int h, int mi, int s)
{
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s };

        return (long long)timegm(&tm) * SEC;
}

static void set_tz(const char *tz)
{
        setenv("TZ", tz, 1);
        tzset();
}

static int reset_tz(void **state)
{
        (void)state;
        set_tz("UTC0");
        return 0;
}

static long long since(const char *s, long long now)
{
        struct pgr_error err = {};
        long long v = -1;

        if (history_parse_since(s, now, &v, &err) < 0)
                fail_msg("'%s' rejected: %s", s, err.msg);
        return v;
}

static void since_relative_forms_count_back_from_now(void **state)
{
        long long now = utc(2026, 11, 24, 15, 30, 0);

        (void)state;
        assert_true(since("-1h", now) == now - HOUR);
        assert_true(since("-30min", now) == now - 30 * MIN);
        assert_true(since("-2d", now) == now - 2 * DAY);
        assert_true(since("-90s", now) == now - 90 * SEC);
        assert_true(since("-1w", now) == now - 7 * DAY);
        assert_true(since("-1h 30min", now) == now - 90 * MIN);
        assert_true(since("-1h30min", now) == now - 90 * MIN);
        assert_true(since("-1.5h", now) == now - 90 * MIN);
        assert_true(since("-500ms", now) == now - 500000);
        assert_true(since("-10", now) == now - 10 * SEC); /* no unit: seconds, as in systemd */
        assert_true(since("2 days ago", now) == now - 2 * DAY);
        assert_true(since("  -5 minutes ", now) == now - 5 * MIN);
        assert_true(since("+5min", now) == now + 5 * MIN);
        assert_true(since("-100y", 10 * SEC) == 0); /* before the epoch: clamped */
}

static void since_words_are_midnights_and_now(void **state)
{
        long long now = utc(2026, 11, 24, 15, 30, 0);

        (void)state;
        assert_true(since("now", now) == now);
        assert_true(since("today", now) == utc(2026, 11, 24, 0, 0, 0));
        assert_true(since("yesterday", now) == utc(2026, 11, 23, 0, 0, 0));
        assert_true(since("tomorrow", now) == utc(2026, 11, 25, 0, 0, 0));
        /* across a month end */
        assert_true(since("yesterday", utc(2026, 3, 1, 8, 0, 0)) == utc(2026, 2, 28, 0, 0, 0));
}

static void since_absolute_forms_in_utc(void **state)
{
        long long now = utc(2026, 11, 24, 15, 30, 0);

        (void)state;
        assert_true(since("2026-11-24 10:00:00", now) == utc(2026, 11, 24, 10, 0, 0));
        assert_true(since("2026-11-24 10:00", now) == utc(2026, 11, 24, 10, 0, 0));
        assert_true(since("2026-11-24", now) == utc(2026, 11, 24, 0, 0, 0));
        assert_true(since("2026-11-24T10:00:05", now) == utc(2026, 11, 24, 10, 0, 5));
        assert_true(since("2026-11-24 10:00:00.25", now) == utc(2026, 11, 24, 10, 0, 0) + 250000);
        assert_true(since("2024-02-29", now) == utc(2024, 2, 29, 0, 0, 0));
        assert_true(since("10:00", now) == utc(2026, 11, 24, 10, 0, 0));
        assert_true(since("10:00:30", now) == utc(2026, 11, 24, 10, 0, 30));
        assert_true(since("@1795530319", now) == 1795530319LL * SEC);
}

static void since_uses_local_time_with_dst_unless_utc_is_said(void **state)
{
        (void)state;
        set_tz(BERLIN);
        assert_true(since("2026-11-24 10:00:00", 0) == utc(2026, 11, 24, 9, 0, 0));  /* CET, +1 */
        assert_true(since("2026-07-01 10:00", 0) == utc(2026, 7, 1, 8, 0, 0));       /* CEST, +2 */
        assert_true(since("2026-11-24 10:00:00 UTC", 0) == utc(2026, 11, 24, 10, 0, 0));
        /* 23:30 UTC is already the 25th in Berlin */
        assert_true(since("today", utc(2026, 11, 24, 23, 30, 0)) == utc(2026, 11, 24, 23, 0, 0));
        assert_true(since("10:00", utc(2026, 11, 24, 23, 30, 0)) == utc(2026, 11, 25, 9, 0, 0));
        /* the day after the switch to summer time: yesterday began in CET */
        assert_true(since("yesterday", utc(2026, 3, 30, 12, 0, 0)) == utc(2026, 3, 28, 23, 0, 0));
        assert_true(since("today", utc(2026, 3, 30, 12, 0, 0)) == utc(2026, 3, 29, 22, 0, 0));
        /* relative times do not care about the zone */
        assert_true(since("-1h", utc(2026, 3, 29, 2, 30, 0)) == utc(2026, 3, 29, 1, 30, 0));
}

static void since_rejects_what_journalctl_would_not_take(void **state)
{
        static const char *const bad[] = {
                "", "   ", "abc", "1h", "-", "-h", "-1parsec", "- 1h x", "2 parsecs ago", "ago",
                "2026-02-30", "2025-02-29", "2026-13-01", "2026-00-10", "2026-11-24 25:00", "2026-11-24 10:60",
                "2026-11-24 10:00:61", "2026-11-24 10:00:00 junk", "2026-11-24 10:00:", "2026-11-24 10:00:00.",
                "26-11-24", "2026/11/24", "24:00", "10", "10:", "@", "@-5", "@12x", "@ 12", "nowish",
                "-99999999999999999999h",
                "2026-11-24 10:00:00 2026-11-24 10:00:00 2026-11-24 10:00:00 2026-11-24 10:00:00 2026-11-24",
        };
        struct pgr_error err;
        long long v;

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                v = 12345;
                memset(&err, 0, sizeof(err));
                if (history_parse_since(bad[i], 0, &v, &err) != -EINVAL)
                        fail_msg("'%s' accepted as %lld", bad[i], v);
                assert_true(v == 12345); /* untouched */
                assert_non_null(strstr(err.msg, "--since"));
        }
        memset(&err, 0, sizeof(err));
        assert_int_equal(history_parse_since("yesterdy", 0, &v, &err), -EINVAL);
        assert_string_equal(err.msg, "invalid --since 'yesterdy': expected 'YYYY-MM-DD [HH:MM[:SS]]', 'HH:MM[:SS]', "
                                     "'today', 'yesterday', 'now', '@EPOCH' or a relative time like '-1h', "
                                     "'-30min', '-2d', '-1w'");
}

static void filter_init_parses_device_and_since_and_keeps_vmid(void **state)
{
        struct history_filter f = { .vmid = 100 };
        struct pgr_error err = {};
        struct timespec a, b;

        (void)state;
        clock_gettime(CLOCK_REALTIME, &a);
        assert_int_equal(history_filter_init(&f, "01:00", "-1h", &err), 0);
        clock_gettime(CLOCK_REALTIME, &b);
        assert_int_equal(f.vmid, 100);
        assert_true(f.has_slot);
        assert_int_equal(f.slot.domain, 0);
        assert_int_equal(f.slot.bus, 1);
        assert_int_equal(f.slot.slot, 0);
        assert_int_equal(f.slot.func, -1); /* the whole slot: GPU, audio, USB-C */
        assert_true(f.since_usec >= a.tv_sec * SEC + a.tv_nsec / 1000 - HOUR);
        assert_true(f.since_usec <= b.tv_sec * SEC + b.tv_nsec / 1000 - HOUR);

        assert_int_equal(history_filter_init(&f, "0000:41:00.1", NULL, &err), 0);
        assert_int_equal(f.slot.bus, 0x41);
        assert_int_equal(f.slot.func, 1);
        assert_true(f.since_usec == 0);

        assert_int_equal(history_filter_init(&f, NULL, NULL, &err), 0);
        assert_false(f.has_slot);
}

static void filter_init_names_the_bad_argument(void **state)
{
        struct history_filter f = { .vmid = 100 };
        struct pgr_error err = {};

        (void)state;
        assert_int_equal(history_filter_init(&f, "gpu0", NULL, &err), -EINVAL);
        assert_string_equal(err.msg, "invalid --device 'gpu0': expected a PCI address [DDDD:]BB:SS[.F]");
        memset(&err, 0, sizeof(err));
        assert_int_equal(history_filter_init(&f, "01:00.0", "last tuesday", &err), -EINVAL);
        assert_non_null(strstr(err.msg, "invalid --since 'last tuesday'"));
        assert_int_equal(f.vmid, 100);
}

static char *query_dir(const char *dir, bool json, int *ret)
{
        struct history_filter f = {};
        struct pgr_error err = {};
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);

        assert_non_null(out);
        *ret = history_query_dir(dir, &f, json, out, &err);
        fclose(out);
        if (*ret < 0) {
                free(buf);
                return strdup(err.msg);
        }
        return buf;
}

static void query_of_an_empty_journal_directory_says_no_entries(void **state)
{
        char dir[] = "/tmp/pgr-history-XXXXXX";
        _cleanup_free_ char *table = NULL, *json = NULL;
        int r;

        (void)state;
        assert_non_null(mkdtemp(dir));
        table = query_dir(dir, false, &r);
        assert_int_equal(r, 0);
        assert_string_equal(table, "-- No entries --\n");
        json = query_dir(dir, true, &r);
        assert_int_equal(r, 0);
        assert_string_equal(json, ""); /* JSON lines: nothing, not a message */
        rmdir(dir);
}

static void query_of_a_missing_directory_fails_naming_it(void **state)
{
        _cleanup_free_ char *msg = NULL;
        int r;

        (void)state;
        msg = query_dir("/nonexistent/pgr-journal", false, &r);
        assert_true(r < 0);
        assert_int_not_equal(r, -EINVAL); /* not a usage error: exit 1 */
        assert_non_null(strstr(msg, "/nonexistent/pgr-journal"));
}

static void query_rejects_a_relative_journal_dir_from_the_environment(void **state)
{
        struct history_filter f = {};
        struct pgr_error err = {};
        struct pgr_ctx ctx;

        (void)state;
        assert_int_equal(pgr_ctx_init(&ctx, "/nonexistent-root", "pve"), 0);
        setenv(HISTORY_DIR_ENV, "run/log/journal", 1);
        assert_int_equal(history_query(&ctx, &f, false, stdout, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "PVE_GPU_RESET_JOURNAL_DIR=run/log/journal"));
        unsetenv(HISTORY_DIR_ENV);
}

static int count_entry(struct history_entry *e, void *userdata, struct pgr_error *err)
{
        (void)e;
        (void)err;
        (*(int *)userdata)++;
        return 0;
}

/* history_read is the reader behind history_query and verify's per-cycle resets: same journal choice,
 * same errors. */
static void reader_takes_the_same_journal_and_errors_as_the_query(void **state)
{
        char dir[] = "/tmp/pgr-history-XXXXXX";
        struct history_filter f = { .vmid = 100 };
        struct pgr_error err = {};
        struct pgr_ctx ctx;
        int n = 0;

        (void)state;
        assert_int_equal(pgr_ctx_init(&ctx, "/nonexistent-root", "pve"), 0);
        assert_non_null(mkdtemp(dir));
        setenv(HISTORY_DIR_ENV, dir, 1);
        assert_int_equal(history_read(&ctx, &f, count_entry, &n, &err), 0);
        assert_int_equal(n, 0);
        setenv(HISTORY_DIR_ENV, "/nonexistent/pgr-journal", 1);
        assert_true(history_read(&ctx, &f, count_entry, &n, &err) < 0);
        assert_non_null(strstr(err.msg, "cannot open journal directory /nonexistent/pgr-journal"));
        setenv(HISTORY_DIR_ENV, "rel/journal", 1);
        assert_int_equal(history_read(&ctx, &f, count_entry, &n, &err), -EINVAL);
        unsetenv(HISTORY_DIR_ENV);
        rmdir(dir);
}

/* Fuzzer regression (tests/fuzz/crashes/since): a fraction of a year overflowed frac * unit. */
static void fractional_years_do_not_overflow(void **state)
{
        struct pgr_error err = {};
        long long now = 4000000000LL * 1000000LL, t = 0;

        (void)state;
        assert_int_equal(history_parse_since("-.555555y", now, &t, &err), 0);
        /* 0.555555 of a Julian year (31557600 s) before now, to the microsecond */
        assert_true(now - t == 555555LL * 31557600LL);
        assert_int_equal(history_parse_since("-1.999999month", now, &t, &err), 0);
        assert_true(now - t > 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(since_relative_forms_count_back_from_now, reset_tz, reset_tz),
                cmocka_unit_test_setup_teardown(since_words_are_midnights_and_now, reset_tz, reset_tz),
                cmocka_unit_test_setup_teardown(since_absolute_forms_in_utc, reset_tz, reset_tz),
                cmocka_unit_test_setup_teardown(since_uses_local_time_with_dst_unless_utc_is_said, reset_tz, reset_tz),
                cmocka_unit_test_setup_teardown(since_rejects_what_journalctl_would_not_take, reset_tz, reset_tz),
                cmocka_unit_test(filter_init_parses_device_and_since_and_keeps_vmid),
                cmocka_unit_test(filter_init_names_the_bad_argument),
                cmocka_unit_test(query_of_an_empty_journal_directory_says_no_entries),
                cmocka_unit_test(query_of_a_missing_directory_fails_naming_it),
                cmocka_unit_test(query_rejects_a_relative_journal_dir_from_the_environment),
                cmocka_unit_test(fractional_years_do_not_overflow),
                cmocka_unit_test(reader_takes_the_same_journal_and_errors_as_the_query),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
