/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util: formatting into fixed buffers says when it cut. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bdf.h"
#include "base/util.h"
#include "testutil.h"

static void snprintf_ellipsis_marks_a_cut_text(void **state)
{
        char buf[12];

        (void)state;
        assert_true(snprintf_ellipsis(buf, sizeof(buf), "%s", "0123456789a"));
        assert_string_equal(buf, "0123456789a");
        assert_false(snprintf_ellipsis(buf, sizeof(buf), "%s-%d", "0123456789", 42));
        assert_string_equal(buf, "01234567...");
        /* "é" is two bytes: never half of it before the mark */
        assert_false(snprintf_ellipsis(buf, sizeof(buf), "%s", "0123456\xc3\xa9xyz"));
        assert_string_equal(buf, "0123456...");
        assert_false(snprintf_ellipsis(buf, 3, "%s", "abcdef"));
        assert_string_equal(buf, "ab");
}

static void error_message_marks_a_cut_text(void **state)
{
        struct pgr_error err = {};
        char long_path[sizeof(err.msg)];

        (void)state;
        memset(long_path, 'p', sizeof(long_path) - 1);
        long_path[sizeof(long_path) - 1] = '\0';
        pgr_error_set(&err, "%s: %s", long_path, "the reason");
        assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
        assert_string_equal(err.msg + sizeof(err.msg) - 4, "...");
}

/* pci_addr_format formats by hand (it runs ~100 times per hook run): the same text as the kernel's
 * "%04x:%02x:%02x.%d", VMD domains (10000 and up) and whole slots included. */
static void pci_addr_format_is_the_kernels_printf(void **state)
{
        static const unsigned domains[] = { 0, 1, 0xa, 0xffff, 0x10000, 0x1234567, 0xffffffff };
        char got[PCI_ADDR_STRLEN], want[64];

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(domains); i++)
                for (unsigned bus = 0; bus < 256; bus += 17)
                        for (unsigned slot = 0; slot < 32; slot += 5)
                                for (int func = -1; func < 8; func++) {
                                        struct pci_addr a = { .domain = domains[i], .bus = bus, .slot = slot, .func = func };

                                        if (func < 0)
                                                snprintf(want, sizeof(want), "%04x:%02x:%02x", a.domain, bus, slot);
                                        else
                                                snprintf(want, sizeof(want), "%04x:%02x:%02x.%d", a.domain, bus, slot, func);
                                        assert_string_equal(pci_addr_format(&a, got), want);
                                }
}

struct seen {
        char names[64][32];
        size_t n, stop_after;
};

static int note_name(const char *name, void *userdata)
{
        struct seen *s = userdata;

        snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", name);
        return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(a, b);
}

/* dir_each gives every entry but "." and "..", more than one getdents64 buffer's worth too; a callback's
 * non-zero return stops the walk and is what it returns; a file is no directory (-ENOTDIR). */
static void dir_each_lists_every_entry_and_stops_when_told(void **state)
{
        char dir[] = "/tmp/pgr-dir-each-XXXXXX", path[128];
        struct seen s = { .n = 0 };
        int fd;

        (void)state;
        assert_non_null(mkdtemp(dir));
        for (int i = 0; i < 60; i++) {
                snprintf(path, sizeof(path), "%s/entry-with-a-longish-name-%02d", dir, i);
                write_text(path, "x");
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(dir_each(fd, note_name, &s), 0);
        assert_int_equal(s.n, 60);
        qsort(s.names, s.n, sizeof(s.names[0]), cmp_names);
        assert_string_equal(s.names[0], "entry-with-a-longish-name-00");
        assert_string_equal(s.names[59], "entry-with-a-longish-name-59");
        close(fd);
        s = (struct seen){ .stop_after = 3 };
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(dir_each(fd, note_name, &s), 7);
        assert_int_equal(s.n, 3);
        close(fd);
        snprintf(path, sizeof(path), "%s/entry-with-a-longish-name-00", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_int_equal(dir_each(fd, note_name, &s), -ENOTDIR);
        close(fd);
        {
                char *text = NULL;
                size_t len = 0;

                /* the other way round: a directory is no file (read_full_file reads, never fstat()s) */
                assert_int_equal(read_full_file(dir, 4096, &text, &len), -EISDIR);
                assert_null(text);
        }
        assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(snprintf_ellipsis_marks_a_cut_text),
                cmocka_unit_test(error_message_marks_a_cut_text),
                cmocka_unit_test(pci_addr_format_is_the_kernels_printf),
                cmocka_unit_test(dir_each_lists_every_entry_and_stops_when_told),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
