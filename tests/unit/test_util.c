/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util: formatting into fixed buffers says when it cut. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/bdf.h"
#include "base/util.h"

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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(snprintf_ellipsis_marks_a_cut_text),
                cmocka_unit_test(error_message_marks_a_cut_text),
                cmocka_unit_test(pci_addr_format_is_the_kernels_printf),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
