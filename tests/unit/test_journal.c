/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal sink without journald: the fields handed to sd_journal_sendv(), the short stderr line
 * the Proxmox task log shows, the fallbacks, and the message catalog against lib/log/msgid.h.
 * The real journald round trip is tests/journal/run.sh. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "log/journal.h"
#include "log/msgid.h"

/* A representative post-stop reset of an RTX 3090's GPU function. */
static const struct journal_event full_event = {
        .message_id = PGR_MSGID_RESET_DONE,
        .priority = LOG_NOTICE,
        .vmid = 100,
        .phase = "post-stop",
        .slot = "0000:01:00.0",
        .pci_id = "10de:2204",
        .action = "reset",
        .method = "flr",
        .result = "ok",
        .duration_usec = 123456,
        .driver_before = "vfio-pci",
        .driver_after = "vfio-pci",
        .errno_value = 0,
        .message = "0000:01:00.0 reset with flr",
};

static char *iov_str(const struct iovec *v)
{
        char *s = strndup(v->iov_base, v->iov_len);

        assert_non_null(s);
        return s;
}

static void assert_fields(const struct journal_fields *f, const char *const *expected, size_t n)
{
        assert_int_equal(f->n, n);
        for (size_t i = 0; i < n; i++) {
                char *s = iov_str(&f->iov[i]);

                assert_string_equal(s, expected[i]);
                free(s);
        }
}

/* ---- message ids ---- */

static void msgid_table_holds_every_id_once_wellformed(void **state)
{
        const char *const all[] = {
                PGR_MSGID_RESET_DONE,     PGR_MSGID_RESET_FAILED,   PGR_MSGID_DEVICE_GONE,
                PGR_MSGID_HOST_DRIVER,    PGR_MSGID_BOUND_VFIO,     PGR_MSGID_BIND_FAILED,
                PGR_MSGID_SKIPPED_SAFETY, PGR_MSGID_SKIPPED_CONFIG, PGR_MSGID_POWER,
                PGR_MSGID_AUTOPROBE_RESTORED, PGR_MSGID_SETTING_RESTORED, PGR_MSGID_PHASE_OK, PGR_MSGID_PHASE_FAILED,
                PGR_MSGID_CONFIG_ERROR,   PGR_MSGID_LOCK_TIMEOUT,   PGR_MSGID_CHAINED_HOOK,
                PGR_MSGID_STATE_WRITE_FAILED,
                PGR_MSGID_STALE_COPY,     PGR_MSGID_RESET_PINNED,   PGR_MSGID_RESET_UNPINNED,
                PGR_MSGID_RELEASED,       PGR_MSGID_LINK_DEGRADED,  PGR_MSGID_CARD_DEAD,
                PGR_MSGID_CLAIM_APPLIED,  PGR_MSGID_CLAIM_DROPPED,
        };

        (void)state;
        assert_int_equal(pgr_msgids_count, sizeof(all) / sizeof(all[0]));
        for (size_t i = 0; i < pgr_msgids_count; i++) {
                assert_true(pgr_msgid_valid(pgr_msgids[i].id));
                assert_non_null(pgr_msgid_name(all[i]));
                for (size_t k = 0; pgr_msgids[i].name[k]; k++)
                        assert_true(islower((unsigned char)pgr_msgids[i].name[k]) || pgr_msgids[i].name[k] == '-');
                for (size_t j = i + 1; j < pgr_msgids_count; j++) {
                        assert_string_not_equal(pgr_msgids[i].id, pgr_msgids[j].id);
                        assert_string_not_equal(pgr_msgids[i].name, pgr_msgids[j].name);
                }
        }
        assert_string_equal(pgr_msgid_name(PGR_MSGID_HOST_DRIVER), "host-driver");
        assert_null(pgr_msgid_name("00000000000000000000000000000000"));
        assert_null(pgr_msgid_name(NULL));
}

static void msgid_valid_rejects_upper_case_short_and_dashed(void **state)
{
        (void)state;
        assert_true(pgr_msgid_valid("0bf7d0405cd643a8903089cd0e9f3091"));
        assert_false(pgr_msgid_valid("0BF7D0405CD643A8903089CD0E9F3091"));
        assert_false(pgr_msgid_valid("0bf7d0405cd643a8903089cd0e9f309"));
        assert_false(pgr_msgid_valid("0bf7d0405cd643a8903089cd0e9f30911"));
        assert_false(pgr_msgid_valid("0bf7d040-5cd6-43a8-9030-89cd0e9f3091"));
        assert_false(pgr_msgid_valid(""));
        assert_false(pgr_msgid_valid(NULL));
}

/* ---- catalog lint ---- */

static const char *const catalog_fields[] = {
        "VMID", "PHASE", "PCI_SLOT", "PCI_ID", "ACTION", "RESET_METHOD", "RESULT", "DURATION_USEC",
        "DRIVER_BEFORE", "DRIVER_AFTER", "ERRNO", "MESSAGE",
};

struct lint {
        char ids[64][PGR_MSGID_LEN + 1];
        size_t n;
        char problem[256];
};

static bool lint_fail(struct lint *l, int line, const char *what)
{
        snprintf(l->problem, sizeof(l->problem), "line %d: %s", line, what);
        return false;
}

static bool known_field(const char *s, size_t len)
{
        for (size_t i = 0; i < sizeof(catalog_fields) / sizeof(catalog_fields[0]); i++)
                if (strlen(catalog_fields[i]) == len && strncmp(catalog_fields[i], s, len) == 0)
                        return true;
        return false;
}

/* Our own lint: journalctl silently absorbs a malformed "-- id" line into the entry before it. */
static bool lint_catalog(const char *text, struct lint *l)
{
        char *copy = strdup(text), *save = NULL, *line;
        enum { OUTSIDE, HEADER, BODY } where = OUTSIDE;
        bool subject = false, defined = false, support = false, body = false;
        int no = 0;
        bool ok = true;

        assert_non_null(copy);
        memset(l, 0, sizeof(*l));
        /* strtok_r would skip empty lines, which carry meaning here */
        for (line = copy; line && ok; line = save) {
                save = strchr(line, '\n');
                if (save)
                        *save++ = '\0';
                no++;
                if (line[0] == '#')
                        continue;
                if (strncmp(line, "--", 2) == 0) {
                        if (where == HEADER || (where == BODY && !body))
                                ok = lint_fail(l, no, "entry without text");
                        else if (where == BODY && (!subject || !defined || !support))
                                ok = lint_fail(l, no, "previous entry lacks Subject/Defined-By/Support");
                        else if (strlen(line) != 3 + PGR_MSGID_LEN || line[2] != ' ' || !pgr_msgid_valid(line + 3))
                                ok = lint_fail(l, no, "malformed '-- ID' line");
                        else {
                                for (size_t i = 0; i < l->n; i++)
                                        if (streq(l->ids[i], line + 3))
                                                ok = lint_fail(l, no, "duplicate id");
                                if (ok && l->n < 64)
                                        strcpy(l->ids[l->n++], line + 3);
                        }
                        where = HEADER;
                        subject = defined = support = body = false;
                        continue;
                }
                if (where == OUTSIDE) {
                        if (line[0])
                                ok = lint_fail(l, no, "text outside an entry");
                        continue;
                }
                if (where == HEADER) {
                        if (!line[0])
                                where = BODY;
                        else if (strncmp(line, "Subject: ", 9) == 0 && line[9])
                                subject = true;
                        else if (streq(line, "Defined-By: pve-gpu-reset"))
                                defined = true;
                        else if (strncmp(line, "Support: ", 9) == 0 && line[9])
                                support = true;
                        else if (strncmp(line, "Documentation: ", 15) != 0)
                                ok = lint_fail(l, no, "unknown header line");
                        if (!ok)
                                break;
                        /* fall through to check @FIELD@ in the Subject too */
                }
                if (line[0] && where == BODY)
                        body = true;
                for (char *at = strchr(line, '@'); ok && at; at = strchr(at, '@')) {
                        char *end = strchr(at + 1, '@');
                        size_t len;

                        if (!end) {
                                ok = lint_fail(l, no, "unpaired '@'");
                                break;
                        }
                        len = (size_t)(end - at - 1);
                        for (size_t k = 0; k < len; k++)
                                if (!isupper((unsigned char)at[1 + k]) && at[1 + k] != '_')
                                        ok = lint_fail(l, no, "'@' around something that is not a field name");
                        if (ok && !known_field(at + 1, len))
                                ok = lint_fail(l, no, "@FIELD@ names a field pve-gpu-reset never writes");
                        at = end + 1;
                }
        }
        if (ok && where == HEADER)
                ok = lint_fail(l, no, "last entry without text");
        if (ok && where == BODY && (!subject || !defined || !support || !body))
                ok = lint_fail(l, no, "last entry incomplete");
        free(copy);
        return ok;
}

/* PGR_SRCDIR names the tests/ directory (the documented convention) or the top of the tree (what
 * tests/run-unit.sh computes); accept both. */
static char *read_catalog(void)
{
        static const char *const rel[] = { "../conf/pve-gpu-reset.catalog", "conf/pve-gpu-reset.catalog" };
        const char *src = getenv("PGR_SRCDIR");
        char path[4096];
        char *text = NULL;

        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", src ? src : "tests", rel[i]);
                if (access(path, R_OK) == 0)
                        break;
        }
        if (read_full_file(path, 1 << 20, &text, NULL) < 0)
                fail_msg("cannot read %s (PGR_SRCDIR=%s)", path, src ? src : "unset");
        return text;
}

static void catalog_has_exactly_one_entry_per_msgid(void **state)
{
        _cleanup_free_ char *text = read_catalog();
        struct lint l;
        bool ok;

        (void)state;
        ok = lint_catalog(text, &l);
        if (!ok)
                fail_msg("conf/pve-gpu-reset.catalog: %s", l.problem);
        assert_int_equal(l.n, pgr_msgids_count);
        for (size_t i = 0; i < pgr_msgids_count; i++) {
                size_t hits = 0;

                for (size_t j = 0; j < l.n; j++)
                        hits += streq(l.ids[j], pgr_msgids[i].id);
                if (hits != 1)
                        fail_msg("%s (%s): %zu catalog entries", pgr_msgids[i].id, pgr_msgids[i].name, hits);
        }
        for (size_t j = 0; j < l.n; j++)
                if (!pgr_msgid_name(l.ids[j]))
                        fail_msg("catalog entry %s is not in lib/log/msgid.h", l.ids[j]);
}

static void catalog_lint_catches_malformed_entries(void **state)
{
        static const char *const bad[] = {
                /* the id line a typo turns into text of the entry before */
                "-- 0bf7d0405cd643a8903089cd0e9f3091\nSubject: a\nDefined-By: pve-gpu-reset\nSupport: man:x\n\nt\n"
                "--0bf7d0405cd643a8903089cd0e9f3092\nSubject: b\n",
                "-- 0BF7D0405CD643A8903089CD0E9F3091\nSubject: a\nDefined-By: pve-gpu-reset\nSupport: man:x\n\nt\n",
                "-- 0bf7d0405cd643a8903089cd0e9f309\nSubject: a\nDefined-By: pve-gpu-reset\nSupport: man:x\n\nt\n",
                "-- 0bf7d0405cd643a8903089cd0e9f3091\nSubject: a\nDefined-By: pve-gpu-reset\nSupport: man:x\n\nt\n"
                "-- 0bf7d0405cd643a8903089cd0e9f3091\nSubject: a\nDefined-By: pve-gpu-reset\nSupport: man:x\n\nt\n",
                "-- 0bf7d0405cd643a8903089cd0e9f3091\nSubject: a\nSupport: man:x\n\nt\n",
                "-- 0bf7d0405cd643a8903089cd0e9f3091\nSubject: a\nDefined-By: pve-gpu-reset\nSupport: man:x\n\n",
                "-- 0bf7d0405cd643a8903089cd0e9f3091\nSubject: @PCI_SLT@\nDefined-By: pve-gpu-reset\nSupport: man:x\n\nt\n",
                "-- 0bf7d0405cd643a8903089cd0e9f3091\nSubject: a\nDefined-By: pve-gpu-reset\nSupport: man:x\n\nt @VMID\n",
        };
        struct lint l;

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (lint_catalog(bad[i], &l))
                        fail_msg("lint accepted bad catalog #%zu", i);
        assert_true(lint_catalog("# c\n\n-- 0bf7d0405cd643a8903089cd0e9f3091\nSubject: @PCI_SLOT@\n"
                                 "Defined-By: pve-gpu-reset\nSupport: man:x\n\nt @VMID@ x\n\nmore\n",
                                 &l));
        assert_int_equal(l.n, 1);
}

/* ---- fields for sd_journal_sendv ---- */

static void fields_carry_every_field_by_its_upper_case_name(void **state)
{
        struct journal_event ev = full_event;
        struct journal_fields f;
        const char *const expected[] = {
                "SYSLOG_IDENTIFIER=pve-gpu-reset",
                "MESSAGE=0000:01:00.0 reset with flr",
                "MESSAGE_ID=" PGR_MSGID_RESET_DONE,
                "PRIORITY=5",
                "VMID=100",
                "PHASE=post-stop",
                "PCI_SLOT=0000:01:00.0",
                "PCI_ID=10de:2204",
                "ACTION=reset",
                "RESET_METHOD=flr",
                "RESULT=ok",
                "DURATION_USEC=123456",
                "DRIVER_BEFORE=vfio-pci",
                "DRIVER_AFTER=vfio-pci",
                "ERRNO=16",
        };

        (void)state;
        ev.errno_value = EBUSY;
        assert_int_equal(journal_fields_build(&ev, &f), 0);
        assert_fields(&f, expected, sizeof(expected) / sizeof(expected[0]));
        for (size_t i = 0; i < f.n; i++) {
                const char *s = f.iov[i].iov_base;
                const char *eq = memchr(s, '=', f.iov[i].iov_len);

                assert_non_null(eq);
                assert_true(eq > s && s[0] != '_');
                for (const char *p = s; p < eq; p++)
                        assert_true(isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
        }
        journal_fields_done(&f);
        assert_null(f.buf);
}

static void fields_leave_out_unset_values(void **state)
{
        struct journal_event ev = {
                .message_id = PGR_MSGID_PHASE_OK,
                .priority = LOG_INFO,
                .vmid = 0,
                .phase = NULL,
                .slot = "",
                .action = "summary",
                .result = "ok",
                .duration_usec = -1,
                .message = "reset: 1 device(s) ok, 0 skipped",
        };
        struct journal_fields f;
        const char *const expected[] = {
                "SYSLOG_IDENTIFIER=pve-gpu-reset",
                "MESSAGE=reset: 1 device(s) ok, 0 skipped",
                "MESSAGE_ID=" PGR_MSGID_PHASE_OK,
                "PRIORITY=6",
                "ACTION=summary",
                "RESULT=ok",
        };

        (void)state;
        assert_int_equal(journal_fields_build(&ev, &f), 0);
        assert_fields(&f, expected, sizeof(expected) / sizeof(expected[0]));
        journal_fields_done(&f);

        ev.duration_usec = 0; /* zero is a real duration, not "unset" */
        assert_int_equal(journal_fields_build(&ev, &f), 0);
        assert_int_equal(f.n, sizeof(expected) / sizeof(expected[0]) + 1);
        {
                char *s = iov_str(&f.iov[f.n - 1]);

                assert_string_equal(s, "DURATION_USEC=0");
                free(s);
        }
        journal_fields_done(&f);
}

static void fields_copy_device_names_and_messages_verbatim(void **state)
{
        struct journal_event ev = full_event;
        struct journal_fields f;
        char *s;

        (void)state;
        ev.slot = "%s%n%x";
        ev.driver_before = "nvidia%%";
        ev.message = "card %s said %n\nsecond line";
        assert_int_equal(journal_fields_build(&ev, &f), 0);
        s = iov_str(&f.iov[1]);
        assert_string_equal(s, "MESSAGE=card %s said %n\nsecond line");
        free(s);
        s = iov_str(&f.iov[6]);
        assert_string_equal(s, "PCI_SLOT=%s%n%x");
        free(s);
        s = iov_str(&f.iov[12]);
        assert_string_equal(s, "DRIVER_BEFORE=nvidia%%");
        free(s);
        journal_fields_done(&f);
}

static void fields_of_a_malformed_event_stay_loggable(void **state)
{
        struct journal_event ev = full_event;
        struct journal_fields f;
        char *s;

        (void)state;
        ev.message_id = "not-an-id";
        ev.priority = 42;
        ev.message = NULL;
        assert_false(journal_event_valid(&ev));
        assert_int_equal(journal_fields_build(&ev, &f), 0);
        s = iov_str(&f.iov[1]);
        assert_string_equal(s, "MESSAGE=(no message)");
        free(s);
        s = iov_str(&f.iov[2]); /* MESSAGE_ID left out: PRIORITY follows MESSAGE */
        assert_string_equal(s, "PRIORITY=5");
        free(s);
        journal_fields_done(&f);
        assert_true(journal_event_valid(&full_event));
}

/* ---- the short line ---- */

static char *line_of(const struct journal_event *ev)
{
        char *line = NULL;

        assert_int_equal(journal_format_line(ev, &line), 0);
        assert_non_null(line);
        return line;
}

static void line_of_hook_reset_names_vm_device_method_result_time(void **state)
{
        _cleanup_free_ char *line = line_of(&full_event);

        (void)state;
        assert_string_equal(line, "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr ok 123ms: 0000:01:00.0 reset with flr");
}

static void line_of_manual_reset_has_no_vmid_and_names_errno(void **state)
{
        struct journal_event ev = full_event;
        _cleanup_free_ char *line = NULL;

        (void)state;
        ev.vmid = 0;
        ev.phase = "reset";
        ev.action = "bus-reset";
        ev.method = "bridge";
        ev.result = "failed";
        ev.errno_value = ETIMEDOUT;
        ev.duration_usec = 1500000;
        ev.message = "0000:01:00.0 did not answer after the bus reset";
        line = line_of(&ev);
        assert_string_equal(line, "pve-gpu-reset 0000:01:00.0 bus-reset bridge failed (ETIMEDOUT) 1.5s: "
                                  "0000:01:00.0 did not answer after the bus reset");
}

static void line_of_skip_and_summary_are_short(void **state)
{
        struct journal_event skip = {
                .message_id = PGR_MSGID_SKIPPED_SAFETY, .priority = LOG_WARNING, .vmid = 100,
                .slot = "0000:02:00.0", .action = "skip", .result = "skipped", .duration_usec = -1,
                .message = "reserved by VM 101",
        };
        struct journal_event sum = {
                .message_id = PGR_MSGID_PHASE_OK, .priority = LOG_INFO, .vmid = 100, .phase = "pre-start",
                .action = "summary", .result = "ok", .duration_usec = 2345678,
                .message = "VM 100 pre-start: 2 device(s) ok, 0 skipped",
        };
        _cleanup_free_ char *a = NULL, *b = NULL;

        (void)state;
        a = line_of(&skip);
        assert_string_equal(a, "pve-gpu-reset[VMID 100] 0000:02:00.0 skip: reserved by VM 101");
        b = line_of(&sum);
        assert_string_equal(b, "pve-gpu-reset[VMID 100] summary ok 2.3s: VM 100 pre-start: 2 device(s) ok, 0 skipped");
}

static void line_stays_one_line_whatever_the_message_holds(void **state)
{
        struct journal_event ev = full_event;
        _cleanup_free_ char *line = NULL;

        (void)state;
        ev.slot = "0000:01:00.0\n";
        ev.message = "first\nsecond\tthird\x1b[31mred\r";
        line = line_of(&ev);
        assert_null(strchr(line, '\n'));
        assert_null(strchr(line, '\x1b'));
        assert_string_equal(line, "pve-gpu-reset[VMID 100] 0000:01:00.0  reset flr ok 123ms: first second third?[31mred ");
}

static void duration_is_rounded_to_a_readable_unit(void **state)
{
        static const struct {
                long long usec;
                const char *text;
        } cases[] = {
                { 0, "0us" },           { 850, "850us" },          { 1000, "1ms" },
                { 123456, "123ms" },    { 999999, "999ms" },        { 1000000, "1.0s" },
                { 12345678, "12.3s" },  { 59999999, "59.9s" },      { 303000000, "5min 3s" },
                { 7500000000LL, "2h 5min" }, { 9223372036854775807LL, "2562047788h 0min" },
        };
        char buf[24];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                journal_format_duration(cases[i].usec, buf);
                assert_string_equal(buf, cases[i].text);
        }
}

/* ---- sinks ---- */

struct capture {
        char *buf;
        size_t len;
        FILE *f;
};

static void capture_open(struct capture *c)
{
        memset(c, 0, sizeof(*c));
        c->f = open_memstream(&c->buf, &c->len);
        assert_non_null(c->f);
}

static void capture_close(struct capture *c)
{
        fclose(c->f);
        free(c->buf);
}

static size_t count_lines(const char *s)
{
        size_t n = 0;

        for (; s && *s; s++)
                n += *s == '\n';
        return n;
}

static bool journald_here(void)
{
        struct stat st;

        return stat(JOURNAL_SOCKET, &st) == 0;
}

static void stderr_mode_writes_every_entry_whatever_its_priority(void **state)
{
        struct journal_event info = full_event, err = full_event;
        struct journal *j = NULL;
        struct capture c;

        (void)state;
        err.priority = LOG_ERR;
        err.result = "failed";
        capture_open(&c);
        assert_int_equal(journal_open_mode(JOURNAL_MODE_STDERR, c.f, &j), 0);
        assert_int_equal(journal_log(j, &info), 0);
        assert_int_equal(journal_log(j, &err), 0);
        journal_close(j);
        fflush(c.f);
        assert_string_equal(c.buf, "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr ok 123ms: 0000:01:00.0 reset with flr\n"
                                   "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr failed 123ms: 0000:01:00.0 reset with flr\n");
        capture_close(&c);
}

static void auto_mode_without_journald_puts_everything_on_stderr_quietly(void **state)
{
        struct journal *j = NULL;
        struct capture c;

        (void)state;
        if (journald_here())
                skip();
        capture_open(&c);
        assert_int_equal(journal_open_mode(JOURNAL_MODE_AUTO, c.f, &j), 0);
        assert_int_equal(journal_log(j, &full_event), 0);
        assert_int_equal(journal_log(j, &full_event), 0);
        journal_close(j);
        fflush(c.f);
        assert_int_equal(count_lines(c.buf), 2);
        assert_null(strstr(c.buf, "logging to stderr"));
        capture_close(&c);
}

static void journal_mode_without_journald_says_so_once_and_loses_nothing(void **state)
{
        struct journal *j = NULL;
        struct capture c;

        (void)state;
        if (journald_here())
                skip();
        capture_open(&c);
        assert_int_equal(journal_open_mode(JOURNAL_MODE_JOURNAL, c.f, &j), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(journal_log(j, &full_event), 0);
        journal_close(j);
        fflush(c.f);
        assert_int_equal(count_lines(c.buf), 4);
        assert_true(strncmp(c.buf, "pve-gpu-reset: no journald socket (" JOURNAL_SOCKET "); logging to stderr\n",
                            strlen("pve-gpu-reset: no journald socket")) == 0);
        assert_non_null(strstr(c.buf, "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr ok 123ms"));
        capture_close(&c);
}

static void malformed_event_is_written_and_reported(void **state)
{
        struct journal_event ev = full_event;
        struct journal *j = NULL;
        struct capture c;

        (void)state;
        ev.message_id = "XYZ";
        capture_open(&c);
        assert_int_equal(journal_open_mode(JOURNAL_MODE_STDERR, c.f, &j), 0);
        assert_int_equal(journal_log(j, &ev), -EINVAL);
        journal_close(j);
        fflush(c.f);
        assert_int_equal(count_lines(c.buf), 1);
        capture_close(&c);
}

/* Runs journal_log(NULL, ...) with fd 2 redirected to a file; returns what it wrote. */
static char *stderr_of_log_without_sink(const struct journal_event *ev, int *ret)
{
        char path[] = "/tmp/pgr-journal-XXXXXX";
        int fd = mkstemp(path), saved;
        char *out = NULL;

        assert_true(fd >= 0);
        fflush(stderr);
        saved = dup(2);
        assert_true(saved >= 0);
        assert_int_equal(dup2(fd, 2), 2);
        *ret = journal_log(NULL, ev);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        close(fd);
        assert_int_equal(read_full_file(path, 65536, &out, NULL), 0);
        unlink(path);
        return out;
}

static void log_without_sink_goes_to_stderr(void **state)
{
        _cleanup_free_ char *out = NULL;
        int r;

        (void)state;
        out = stderr_of_log_without_sink(&full_event, &r);
        assert_int_equal(r, 0);
        assert_string_equal(out, "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr ok 123ms: 0000:01:00.0 reset with flr\n");
}

static void open_reads_the_mode_from_the_environment(void **state)
{
        struct pgr_ctx ctx;
        struct journal *j = (struct journal *)0x1;
        enum journal_mode m;

        (void)state;
        assert_int_equal(pgr_ctx_init(&ctx, "/nonexistent-root", "pve"), 0);
        setenv("PVE_GPU_RESET_JOURNAL", "syslog", 1);
        assert_int_equal(journal_open(&ctx, &j), -EINVAL);
        assert_ptr_equal(j, (struct journal *)0x1); /* untouched on failure */
        j = NULL;
        setenv("PVE_GPU_RESET_JOURNAL", "stderr", 1);
        assert_int_equal(journal_open(&ctx, &j), 0);
        assert_non_null(j);
        journal_close(j);
        j = NULL;
        unsetenv("PVE_GPU_RESET_JOURNAL");
        assert_int_equal(journal_open(&ctx, &j), 0);
        journal_closep(&j);
        assert_null(j);

        assert_int_equal(journal_mode_from_string("both", &m), 0);
        assert_int_equal(m, JOURNAL_MODE_BOTH);
        assert_int_equal(journal_mode_from_string("journal", &m), 0);
        assert_int_equal(m, JOURNAL_MODE_JOURNAL);
        assert_int_equal(journal_mode_from_string("auto", &m), 0);
        assert_int_equal(m, JOURNAL_MODE_AUTO);
        assert_int_equal(journal_mode_from_string("Journal", &m), -EINVAL);
        assert_int_equal(journal_mode_from_string(NULL, &m), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(msgid_table_holds_every_id_once_wellformed),
                cmocka_unit_test(msgid_valid_rejects_upper_case_short_and_dashed),
                cmocka_unit_test(catalog_has_exactly_one_entry_per_msgid),
                cmocka_unit_test(catalog_lint_catches_malformed_entries),
                cmocka_unit_test(fields_carry_every_field_by_its_upper_case_name),
                cmocka_unit_test(fields_leave_out_unset_values),
                cmocka_unit_test(fields_copy_device_names_and_messages_verbatim),
                cmocka_unit_test(fields_of_a_malformed_event_stay_loggable),
                cmocka_unit_test(line_of_hook_reset_names_vm_device_method_result_time),
                cmocka_unit_test(line_of_manual_reset_has_no_vmid_and_names_errno),
                cmocka_unit_test(line_of_skip_and_summary_are_short),
                cmocka_unit_test(line_stays_one_line_whatever_the_message_holds),
                cmocka_unit_test(duration_is_rounded_to_a_readable_unit),
                cmocka_unit_test(stderr_mode_writes_every_entry_whatever_its_priority),
                cmocka_unit_test(auto_mode_without_journald_puts_everything_on_stderr_quietly),
                cmocka_unit_test(journal_mode_without_journald_says_so_once_and_loses_nothing),
                cmocka_unit_test(malformed_event_is_written_and_reported),
                cmocka_unit_test(log_without_sink_goes_to_stderr),
                cmocka_unit_test(open_reads_the_mode_from_the_environment),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
