/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VM config and hostpci grammar: every rule and error path, against real configs where they fit. */
#define _GNU_SOURCE /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pve/vmconf.h"
#include "testutil.h"

/* ---- helpers ---- */


static char *load_fixture(const char *rel, size_t *ret_len)
{
        char path[PATH_MAX];
        char *text = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/vmconf/%s", real_fixtures(), rel);
        assert_int_equal(read_full_file(path, 4 * VMCONF_MAX_SIZE, &text, &len), 0);
        if (ret_len)
                *ret_len = len;
        return text;
}

/* Replaces every occurrence of from with to (same length or not); returns a new string. */
static char *replace_all(const char *s, const char *from, const char *to)
{
        size_t fl = strlen(from), tl = strlen(to), n = 0;
        const char *p;
        char *out, *o;

        for (p = s; (p = strstr(p, from)); p += fl)
                n++;
        out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
        assert_non_null(out);
        o = out;
        for (p = s;;) {
                const char *q = strstr(p, from);

                if (!q) {
                        strcpy(o, p);
                        break;
                }
                memcpy(o, p, (size_t)(q - p));
                o += q - p;
                memcpy(o, to, tl);
                o += tl;
                p = q + fl;
        }
        return out;
}

static struct vmconf *parse_ok(const char *text)
{
        struct pgr_error err = {};
        struct vmconf *c = NULL;
        int r = vmconf_parse(text, strlen(text), "100.conf", &c, &err);

        if (r < 0)
                fail_msg("unexpected error %d: %s", r, err.msg);
        assert_non_null(c);
        return c;
}

static void hostpci_ok(const char *value, struct hostpci *h)
{
        struct pgr_error err = {};
        int r = hostpci_parse(value, h, &err);

        if (r < 0)
                fail_msg("'%s': unexpected error %d: %s", value, r, err.msg);
        assert_true(h->present);
}

static void hostpci_fails(const char *value, int expect_r, const char *expect_msg)
{
        struct pgr_error err = {};
        struct hostpci h;
        int r;

        memset(&h, 0x5a, sizeof(h)); /* untouched on failure: no free of garbage either */
        r = hostpci_parse(value, &h, &err);
        if (r >= 0)
                fail_msg("'%s' parsed, expected: %s", value, expect_msg);
        assert_int_equal(r, expect_r);
        assert_string_equal(err.msg, expect_msg);
}

static void assert_addr(const struct pci_addr *a, const char *expect)
{
        char buf[PCI_ADDR_STRLEN];

        assert_string_equal(pci_addr_format(a, buf), expect);
}

/* ---- vmid ---- */

static void vmid_parse_accepts_100_to_999999999(void **state)
{
        unsigned long v = 0;

        (void)state;
        assert_int_equal(vmid_parse("100", &v), 0);
        assert_int_equal(v, 100);
        assert_int_equal(vmid_parse("999999999", &v), 0);
        assert_int_equal(v, 999999999UL);
        assert_int_equal(vmid_parse("4242", &v), 0);
        assert_int_equal(v, 4242);
}

static void vmid_parse_rejects_anything_else(void **state)
{
        static const char *const bad[] = { "../100", "99",   "1000000000", "100a", "",     "+100", "-100", "0100",
                                           " 100",   "100 ", "100\n",      "1e3",  "0x64", "0",    "00100",
                                           "99999999999999999999" };
        unsigned long v = 7;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (vmid_parse(bad[i], &v) != -EINVAL)
                        fail_msg("vmid '%s' accepted", bad[i]);
                assert_int_equal(v, 7); /* untouched */
        }
        assert_int_equal(vmid_parse(NULL, &v), -EINVAL);
}

/* ---- hostpci grammar ----
 * Sources (verified at qemu-server e6352be67f70042a7433a3a3c712b36d02f9f7cb and pve-common
 * f665029eac78022e81810ab2e44eace57ade13fb): qemu-server src/PVE/QemuServer/PCI.pm $PCIRE,
 * $hostpci_fmt, parse_hostpci; pve-common src/PVE/JSONSchema.pm parse_property_string,
 * parse_boolean, check_object/check_prop (patterns are matched as m/^$pattern$/, no /i). */

static void hostpci_bare_id_without_domain_means_domain_0000(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("05:00.0", &h);
        assert_int_equal(h.n_ids, 1);
        assert_addr(&h.ids[0], "0000:05:00.0");
        assert_null(h.mapping);
        assert_int_equal(h.pcie, -1);
        assert_int_equal(h.x_vga, -1);
        assert_int_equal(h.rombar, -1);
        assert_int_equal(h.legacy_igd, -1);
        assert_int_equal(h.vendor_id, -1);
        assert_int_equal(h.driver, HOSTPCI_DRIVER_VFIO);
        hostpci_done(&h);
}

static void hostpci_id_without_function_is_the_whole_slot(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("0000:44:00,pcie=1,romfile=amd-vbios.rom,x-vga=1", &h);
        assert_int_equal(h.n_ids, 1);
        assert_int_equal(h.ids[0].func, -1);
        assert_addr(&h.ids[0], "0000:44:00");
        assert_int_equal(h.pcie, 1);
        assert_int_equal(h.x_vga, 1);
        assert_string_equal(h.romfile, "amd-vbios.rom");
        hostpci_done(&h);

        hostpci_ok("4b:00", &h); /* short form, whole slot */
        assert_addr(&h.ids[0], "0000:4b:00");
        hostpci_done(&h);
}

static void hostpci_explicit_host_key_and_other_domains(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("host=0000:01:00.0,pcie=1", &h);
        assert_addr(&h.ids[0], "0000:01:00.0");
        hostpci_done(&h);

        hostpci_ok("1234:f0:03", &h);
        assert_int_equal(h.ids[0].domain, 0x1234);
        assert_addr(&h.ids[0], "1234:f0:03");
        hostpci_done(&h);

        hostpci_ok("0001:62:00.0", &h); /* the Matrox G400 domain of the pciutils fixture */
        assert_addr(&h.ids[0], "0001:62:00.0");
        hostpci_done(&h);

        hostpci_ok("pcie=1,01:00", &h); /* parse_property_string takes the bare value wherever it stands */
        assert_addr(&h.ids[0], "0000:01:00");
        hostpci_done(&h);
}

/* PCI.pm $PCIRE: (?:[a-f0-9]{4,}:)? — a domain of 4 or more digits (qemu-server 7.1, for Intel VMD
 * domains); SysFSTools::lspci finds 10000:e0:00.0 because the kernel prints domains with %04x. */
static void hostpci_vmd_domain_above_ffff_is_a_device(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("10000:e0:00.0,pcie=1", &h);
        assert_int_equal(h.ids[0].domain, 0x10000);
        assert_addr(&h.ids[0], "10000:e0:00.0");
        hostpci_done(&h);
        hostpci_ok("1ffff:01:00", &h);
        assert_addr(&h.ids[0], "1ffff:01:00");
        hostpci_done(&h);
        /* $PCIRE takes them, but no sysfs name has a leading 0 beyond 4 digits: lspci finds nothing and
         * parse_hostpci dies "no PCI device found" (the start fails, nothing may be touched) */
        hostpci_fails("00000:01:00.0", -ENXIO, "no PCI device can have ID '00000:01:00.0': the kernel names domains "
                                               "with %04x, at most 8 digits and no leading 0 beyond 4 in '00000:01:00.0'");
        hostpci_fails("123456789:01:00.0", -ENXIO,
                      "no PCI device can have ID '123456789:01:00.0': the kernel names domains with %04x, at most 8 "
                      "digits and no leading 0 beyond 4 in '123456789:01:00.0'");
}

/* PCI.pm $PCIRE is [a-f0-9] without /i and vendor-id & co. are ^0x[0-9a-fA-F]{4}$: an upper-case
 * ID or 0X fails check_prop's pattern, parse_vm_config drops the value, nothing is passed. */
static void hostpci_upper_case_hex_is_not_a_proxmox_id(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_fails("0A:00.0", -EINVAL, "host: value does not match the regex pattern (invalid PCI ID '0A:00.0': "
                                          "expected [dddd:]bb:ss[.f], lower-case hex) in '0A:00.0'");
        hostpci_fails("0000:0a:1F.7", -EINVAL, "host: value does not match the regex pattern (invalid PCI ID "
                                               "'0000:0a:1F.7': expected [dddd:]bb:ss[.f], lower-case hex) in "
                                               "'0000:0a:1F.7'");
        hostpci_fails("ABCD:0a:00.0", -EINVAL, "host: value does not match the regex pattern (invalid PCI ID "
                                               "'ABCD:0a:00.0': expected [dddd:]bb:ss[.f], lower-case hex) in "
                                               "'ABCD:0a:00.0'");
        hostpci_fails("01:00.0,vendor-id=0X10de", -EINVAL,
                      "vendor-id: value does not match the regex pattern (expected 0x and 4 hex digits, got '0X10de') "
                      "in '01:00.0,vendor-id=0X10de'");
        hostpci_ok("01:00.0,vendor-id=0x10DE", &h); /* [0-9a-fA-F] after the 0x */
        assert_int_equal(h.vendor_id, 0x10de);
        hostpci_done(&h);
}

static void hostpci_semicolon_list_keeps_order(void **state)
{
        struct hostpci h;

        (void)state;
        /* the runbook's qm set 130 --hostpci0 '0000:09:00.0;0000:09:00.1,pcie=0' */
        hostpci_ok("0000:09:00.0;0000:09:00.1,pcie=0", &h);
        assert_int_equal(h.n_ids, 2);
        assert_addr(&h.ids[0], "0000:09:00.0");
        assert_addr(&h.ids[1], "0000:09:00.1");
        assert_int_equal(h.pcie, 0);
        hostpci_done(&h);

        hostpci_ok("host=01:00.4;01:00.5;0002:01:00", &h);
        assert_int_equal(h.n_ids, 3);
        assert_addr(&h.ids[2], "0002:01:00");
        hostpci_done(&h);
}

/* PCI.pm host pattern $PCIRE(;$PCIRE)* has no upper bound: 40 IDs (SR-IOV VFs) are all passed. */
static void hostpci_more_than_sixteen_ids_are_all_kept(void **state)
{
        char v[1024] = "";
        struct hostpci h;

        (void)state;
        for (int i = 0; i < 40; i++)
                snprintf(v + strlen(v), sizeof(v) - strlen(v), "%s01:%02x.%d", i ? ";" : "", i / 8, i % 8);
        hostpci_ok(v, &h);
        assert_int_equal(h.n_ids, 40);
        assert_addr(&h.ids[16], "0000:01:02.0");
        assert_addr(&h.ids[39], "0000:01:04.7");
        hostpci_done(&h);
}

static void hostpci_every_option_is_stored(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("0000:01:00,pcie=1,x-vga=on,rombar=0,romfile=vbios.rom,vendor-id=0x10de,device-id=0x2204,"
                   "sub-vendor-id=0x1458,sub-device-id=0x403B,legacy-igd=no,driver=vfio",
                   &h);
        assert_int_equal(h.pcie, 1);
        assert_int_equal(h.x_vga, 1);
        assert_int_equal(h.rombar, 0);
        assert_int_equal(h.legacy_igd, 0);
        assert_string_equal(h.romfile, "vbios.rom");
        assert_int_equal(h.vendor_id, 0x10de);
        assert_int_equal(h.device_id, 0x2204);
        assert_int_equal(h.sub_vendor_id, 0x1458);
        assert_int_equal(h.sub_device_id, 0x403b);
        assert_int_equal(h.driver, HOSTPCI_DRIVER_VFIO);
        assert_null(h.mdev);
        hostpci_done(&h);
}

/* JSONSchema.pm parse_boolean: m/^(1|on|yes|true)$/i and m/^(0|off|no|false)$/i. */
static void hostpci_booleans_take_every_proxmox_spelling(void **state)
{
        static const struct {
                const char *s;
                int v;
        } cases[] = { { "1", 1 }, { "on", 1 },  { "yes", 1 }, { "true", 1 },  { "TRUE", 1 }, { "On", 1 },
                      { "0", 0 }, { "off", 0 }, { "no", 0 },  { "false", 0 }, { "OFF", 0 },  { "No", 0 } };
        char v[64];
        struct hostpci h;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                snprintf(v, sizeof(v), "01:00,pcie=%s,x-vga=%s,rombar=%s,legacy-igd=%s", cases[i].s, cases[i].s,
                         cases[i].s, cases[i].s);
                hostpci_ok(v, &h);
                assert_int_equal(h.pcie, cases[i].v);
                assert_int_equal(h.x_vga, cases[i].v);
                assert_int_equal(h.rombar, cases[i].v);
                assert_int_equal(h.legacy_igd, cases[i].v);
                hostpci_done(&h);
        }
}

/* JSONSchema.pm check_type: a boolean other than parse_boolean's spellings fails the type check. */
static void hostpci_bad_boolean_names_option_and_value(void **state)
{
        (void)state;
        hostpci_fails("01:00,pcie=2", -EINVAL, "pcie: type check ('boolean') failed - got '2' in '01:00,pcie=2'");
        hostpci_fails("01:00,x-vga=y", -EINVAL, "x-vga: type check ('boolean') failed - got 'y' in '01:00,x-vga=y'");
        hostpci_fails("01:00,rombar= 1", -EINVAL,
                      "rombar: type check ('boolean') failed - got ' 1' in '01:00,rombar= 1'");
}

/* PCI.pm driver: enum [vfio keep], compared with eq (JSONSchema.pm check_prop). */
static void hostpci_driver_keep_and_vfio(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("00:1f.1,driver=keep", &h);
        assert_int_equal(h.driver, HOSTPCI_DRIVER_KEEP);
        hostpci_done(&h);
        hostpci_ok("d0:13.0,pcie=1,driver=vfio", &h); /* hostpci1 of Proxmox's driver-keep test */
        assert_int_equal(h.driver, HOSTPCI_DRIVER_VFIO);
        hostpci_done(&h);
        hostpci_fails("01:00,driver=nvidia", -EINVAL, "driver: value 'nvidia' does not have a value in the "
                                                      "enumeration 'vfio, keep' in '01:00,driver=nvidia'");
        hostpci_fails("01:00,driver=KEEP", -EINVAL, "driver: value 'KEEP' does not have a value in the enumeration "
                                                    "'vfio, keep' in '01:00,driver=KEEP'");
}

/* PCI.pm mdev pattern [^/\.:]+ */
static void hostpci_mdev_type_names(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("mapping=someGpu,mdev=some-model", &h); /* Proxmox's hostpci-mapping test */
        assert_string_equal(h.mapping, "someGpu");
        assert_string_equal(h.mdev, "some-model");
        assert_int_equal(h.n_ids, 0);
        hostpci_done(&h);
        hostpci_ok("0000:00:02.0,mdev=i915-GVTg_V5_4", &h);
        assert_string_equal(h.mdev, "i915-GVTg_V5_4");
        hostpci_done(&h);
        /* qemu-server src/PVE/QemuServer/PCI.pm $hostpci_fmt: mdev pattern '[^/\\.:]+', no length limit. */
        hostpci_ok("0000:00:02.0,mdev=GRID P40+2Q", &h); /* the pattern allows far more than [A-Za-z0-9_-] */
        assert_string_equal(h.mdev, "GRID P40+2Q");
        hostpci_done(&h);
        {
                char value[400] = "01:00.0,mdev=";

                memset(value + strlen(value), 'm', 300);
                hostpci_ok(value, &h);
                assert_int_equal(strlen(h.mdev), 300);
                hostpci_done(&h);
        }
        hostpci_fails("01:00.0,mdev=../x", -EINVAL,
                      "mdev: value does not match the regex pattern [^/.:]+ in '01:00.0,mdev=../x'");
        hostpci_fails("01:00.0,mdev=nvidia:63", -EINVAL,
                      "mdev: value does not match the regex pattern [^/.:]+ in '01:00.0,mdev=nvidia:63'");
        hostpci_fails("01:00.0,mdev=a/b", -EINVAL,
                      "mdev: value does not match the regex pattern [^/.:]+ in '01:00.0,mdev=a/b'");
}

/* PCI.pm mapping: format pve-configid, JSONSchema.pm $CONFIGID_RE [a-z][a-z0-9_-]+ with /i. */
static void hostpci_mapping_names_follow_pve_configid(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("mapping=nvidia-gpu,pcie=1", &h);
        assert_string_equal(h.mapping, "nvidia-gpu");
        assert_int_equal(h.n_ids, 0);
        hostpci_done(&h);
        hostpci_ok("mapping=igpu-audio,romfile=AMDGopDriver.rom", &h); /* mapping and romfile coexist */
        assert_string_equal(h.romfile, "AMDGopDriver.rom");
        hostpci_done(&h);
        /* pve-common src/PVE/JSONSchema.pm: $CONFIGID_RE = qr/[a-z][a-z0-9_-]+/i, no length limit. */
        {
                char value[400] = "mapping=g";

                memset(value + strlen(value), 'p', 300);
                hostpci_ok(value, &h);
                assert_int_equal(strlen(h.mapping), 301);
                hostpci_done(&h);
        }
        hostpci_fails("mapping=1gpu", -EINVAL,
                      "mapping: invalid format - invalid configuration ID '1gpu' in 'mapping=1gpu'");
        hostpci_fails("mapping=g", -EINVAL, "mapping: invalid format - invalid configuration ID 'g' in 'mapping=g'");
        hostpci_fails("mapping=gpu.0", -EINVAL,
                      "mapping: invalid format - invalid configuration ID 'gpu.0' in 'mapping=gpu.0'");
}

/* PCI.pm parse_hostpci (at the start, after the config was read): "Cannot set both 'host' and
 * 'mapping'." and "Either 'host' or 'mapping' must be set." — the start fails (-ENXIO). */
static void hostpci_host_and_mapping_are_exclusive_and_one_is_required(void **state)
{
        (void)state;
        hostpci_fails("01:00,mapping=gpu", -ENXIO, "Cannot set both 'host' and 'mapping' in '01:00,mapping=gpu'");
        hostpci_fails("mapping=gpu,host=01:00", -ENXIO,
                      "Cannot set both 'host' and 'mapping' in 'mapping=gpu,host=01:00'");
        hostpci_fails("pcie=1,x-vga=1", -ENXIO, "Either 'host' or 'mapping' must be set in 'pcie=1,x-vga=1'");
        hostpci_fails(" , ", -ENXIO, "Either 'host' or 'mapping' must be set in ' , '");
}

/* JSONSchema.pm parse_property_string: "invalid key in comma-separated list property", and
 * /^([^=]+)=(.+)$/ — no trimming, an empty key or value is "missing key". */
static void hostpci_unknown_option_names_it(void **state)
{
        (void)state;
        hostpci_fails("01:00,foo=1", -EINVAL, "invalid key in comma-separated list property: foo in '01:00,foo=1'");
        hostpci_fails("01:00, pcie=1", -EINVAL,
                      "invalid key in comma-separated list property:  pcie in '01:00, pcie=1'");
        hostpci_fails("01:00,pcie =1", -EINVAL,
                      "invalid key in comma-separated list property: pcie  in '01:00,pcie =1'");
        hostpci_fails("01:00,PCIE=1", -EINVAL, "invalid key in comma-separated list property: PCIE in '01:00,PCIE=1'");
        hostpci_fails("01:00,=1", -EINVAL, "missing key in comma-separated list property in '01:00,=1'");
        hostpci_fails(" 01:00.0", -EINVAL, "host: value does not match the regex pattern (invalid PCI ID ' 01:00.0': "
                                           "expected [dddd:]bb:ss[.f], lower-case hex) in ' 01:00.0'");
        /* a future option Proxmox adds is unknown here too: dropped like Proxmox drops options it does
         * not know, never an abort (with qm at hand we could ask it; we do not) */
        hostpci_fails("01:00,x-future=1", -EINVAL,
                      "invalid key in comma-separated list property: x-future in '01:00,x-future=1'");
}

/* JSONSchema.pm parse_property_string: "duplicate key in comma-separated list property". */
static void hostpci_duplicate_options_are_errors(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_fails("01:00,pcie=1,pcie=0", -EINVAL,
                      "duplicate key in comma-separated list property: pcie in '01:00,pcie=1,pcie=0'");
        hostpci_fails("01:00,host=02:00", -EINVAL,
                      "duplicate key in comma-separated list property: host in '01:00,host=02:00'");
        hostpci_fails("01:00,02:00", -EINVAL, "duplicate key in comma-separated list property: host in '01:00,02:00'");
        hostpci_fails("mapping=a1,mapping=b1", -EINVAL,
                      "duplicate key in comma-separated list property: mapping in 'mapping=a1,mapping=b1'");
        /* `if (!$res->{$default_key})`: an explicit host=0 is false to Perl and the bare value replaces it */
        hostpci_ok("host=0,02:00.0", &h);
        assert_int_equal(h.n_ids, 1);
        assert_addr(&h.ids[0], "0000:02:00.0");
        hostpci_done(&h);
}

/* JSONSchema.pm parse_property_string: `next if $part =~ /^\s*$/`; "k=" is "missing key". */
static void hostpci_empty_values_are_errors_empty_segments_are_not(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_fails("01:00,pcie=", -EINVAL, "missing key in comma-separated list property in '01:00,pcie='");
        hostpci_fails("host=,pcie=1", -EINVAL, "missing key in comma-separated list property in 'host=,pcie=1'");
        hostpci_fails("01:00,romfile=", -EINVAL, "missing key in comma-separated list property in '01:00,romfile='");
        hostpci_fails("", -ENXIO, "Either 'host' or 'mapping' must be set in ''");
        hostpci_ok("01:00,,pcie=1,", &h);
        assert_int_equal(h.pcie, 1);
        hostpci_done(&h);
        hostpci_ok(",01:00, \t,pcie=1", &h);
        assert_int_equal(h.pcie, 1);
        hostpci_done(&h);
}

static void hostpci_rejects_impossible_and_malformed_ids(void **state)
{
#define BAD(id) "host: value does not match the regex pattern (invalid PCI ID '" id "': expected [dddd:]bb:ss[.f], " \
                "lower-case hex) in "
        static const struct {
                const char *v;
                int r;
                const char *msg;
        } cases[] = {
                /* not $PCIRE: parse_vm_config drops the value */
                { "1:00", -EINVAL, BAD("1:00") "'1:00'" },
                { "01:0", -EINVAL, BAD("01:0") "'01:0'" },
                { "01:00.", -EINVAL, BAD("01:00.") "'01:00.'" },
                { "g1:00", -EINVAL, BAD("g1:00") "'g1:00'" },
                { "0000:01:00.0.1", -EINVAL, BAD("0000:01:00.0.1") "'0000:01:00.0.1'" },
                { "01:00;", -EINVAL, BAD("") "'01:00;'" },
                { ";01:00", -EINVAL, BAD("") "';01:00'" },
                { "000:01:00.0", -EINVAL, BAD("000:01:00.0") "'000:01:00.0'" },
                { "01:00 ", -EINVAL, BAD("01:00 ") "'01:00 '" },
                { "0000:0000:01:00", -EINVAL, BAD("0000:0000:01:00") "'0000:0000:01:00'" },
                { "../100", -EINVAL, BAD("../100") "'../100'" },
                /* $PCIRE, but SysFSTools::lspci finds no such device: parse_hostpci dies at the start */
                { "01:00.8", -ENXIO, "no PCI device can have ID '01:00.8': function 8 is out of range (0-7) in "
                                     "'01:00.8'" },
                { "01:00.f", -ENXIO, "no PCI device can have ID '01:00.f': function f is out of range (0-7) in "
                                     "'01:00.f'" },
                { "01:20.0", -ENXIO, "no PCI device can have ID '01:20.0': device number 20 is out of range (00-1f) "
                                     "in '01:20.0'" },
                { "00:ff.1", -ENXIO, "no PCI device can have ID '00:ff.1': device number ff is out of range (00-1f) "
                                     "in '00:ff.1'" },
        };
#undef BAD

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                hostpci_fails(cases[i].v, cases[i].r, cases[i].msg);
}

static void hostpci_id_overrides_need_0x_and_four_hex_digits(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("d0:13.0,pcie=1,vendor-id=0x1234,device-id=0x5678", &h); /* Proxmox's x-pci-overrides test */
        assert_int_equal(h.vendor_id, 0x1234);
        assert_int_equal(h.device_id, 0x5678);
        assert_int_equal(h.sub_vendor_id, -1);
        hostpci_done(&h);
        hostpci_ok("01:00,sub-device-id=0x0000", &h);
        assert_int_equal(h.sub_device_id, 0);
        hostpci_done(&h);
        hostpci_fails("01:00,vendor-id=10de", -EINVAL, "vendor-id: value does not match the regex pattern (expected "
                                                       "0x and 4 hex digits, got '10de') in '01:00,vendor-id=10de'");
        hostpci_fails("01:00,device-id=0x123", -EINVAL, "device-id: value does not match the regex pattern (expected "
                                                        "0x and 4 hex digits, got '0x123') in '01:00,device-id=0x123'");
        hostpci_fails("01:00,sub-vendor-id=0x12345", -EINVAL,
                      "sub-vendor-id: value does not match the regex pattern (expected 0x and 4 hex digits, got "
                      "'0x12345') in '01:00,sub-vendor-id=0x12345'");
        hostpci_fails("01:00,sub-device-id=0xgggg", -EINVAL,
                      "sub-device-id: value does not match the regex pattern (expected 0x and 4 hex digits, got "
                      "'0xgggg') in '01:00,sub-device-id=0xgggg'");
}

/* PCI.pm romfile pattern [^,;]+: anything but ',' and ';' (Proxmox resolves it below
 * /usr/share/kvm unless absolute; the hook never opens it). */
static void hostpci_romfile_takes_what_proxmox_takes(void **state)
{
        static const char *const ok[] = { "Gigabyte.RTX2080Super.8192.190820.rom", "sub/..rom", "/etc/shadow",
                                          "../../etc/x", "vbios/../x.rom", "my vbios (1).rom", "a=b" };
        char v[128];
        struct hostpci h;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                snprintf(v, sizeof(v), "01:00,romfile=%s", ok[i]);
                hostpci_ok(v, &h);
                assert_string_equal(h.romfile, ok[i]);
                hostpci_done(&h);
        }
        hostpci_fails("01:00,romfile=a;b", -EINVAL,
                      "romfile: value does not match the regex pattern [^,;]+ in '01:00,romfile=a;b'");
}

static void hostpci_error_quotes_control_bytes_safely(void **state)
{
        (void)state;
        hostpci_fails("01:00,\x1b[31m=1", -EINVAL,
                      "invalid key in comma-separated list property: ?[31m in '01:00,?[31m=1'");
}

/* QemuServer.pm check_type: "property contains a line feed". */
static void hostpci_line_feed_in_value(void **state)
{
        (void)state;
        hostpci_fails("01:00\r,pcie=1", -EINVAL, "property contains a line feed in '01:00?,pcie=1'");
        hostpci_fails("01:00\n", -EINVAL, "property contains a line feed in '01:00?'");
}

/* The shared ID-list parser: qemu-server PCI.pm $PCIRE for hostpci, pve-guest-common
 * src/PVE/Mapping/PCI.pm $PCI_RE ("[a-f0-9]{4,}:[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?", domain
 * required; verified at 4a8f6cbf78e1b6992ef77facb4ff2ab3372999e7) for pci.cfg path=. */
static void vmconf_proxmox_pci_ids_both_patterns(void **state)
{
        struct pci_addr *ids = NULL;
        size_t n = 0;
        char why[256];

        (void)state;
        assert_int_equal(vmconf_proxmox_pci_ids_parse("01:00;0000:02:00.1", 18, false, &ids, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 2);
        assert_addr(&ids[0], "0000:01:00");
        assert_addr(&ids[1], "0000:02:00.1");
        free(ids);
        ids = NULL;
        assert_int_equal(vmconf_proxmox_pci_ids_parse("01:00", 5, true, &ids, &n, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "value does not match the regex pattern (invalid PCI ID '01:00': expected "
                                 "dddd:bb:ss[.f], lower-case hex)");
        assert_null(ids);
        assert_int_equal(vmconf_proxmox_pci_ids_parse("10000:e0:00.0", 13, true, &ids, &n, why, sizeof(why)), 0);
        assert_addr(&ids[0], "10000:e0:00.0");
        free(ids);
        ids = NULL;
        assert_int_equal(vmconf_proxmox_pci_ids_parse("0000:0A:00.0", 12, true, &ids, &n, why, sizeof(why)), -EINVAL);
        assert_int_equal(vmconf_proxmox_pci_ids_parse("0000:00:ff.0", 12, true, &ids, &n, why, sizeof(why)), -ENXIO);
        assert_null(ids);
}

/* ---- the config file ----
 * qemu-server src/PVE/QemuServer.pm parse_vm_config (non-strict, as a start reads it) and
 * check_type; the warnings are its "vm 100 - unable to parse ..." lines. */

static void assert_warning(const struct vmconf *c, size_t i, unsigned line, const char *msg)
{
        if (i >= c->n_warnings)
                fail_msg("warning %zu missing (%zu warnings), expected: %s", i, c->n_warnings, msg);
        assert_int_equal(c->warnings[i].line, line);
        assert_string_equal(c->warnings[i].msg, msg);
}

static void vmconf_bad_hostpci_value_is_dropped_with_a_warning(void **state)
{
        struct vmconf *c;

        (void)state;
        /* parse_vm_config: check_type dies → $handle_error warns "unable to parse value of 'hostpci0'",
         * the key is not set; the VM starts without it and with hostpci1 */
        c = parse_ok("cores: 2\nmemory: 4096\nhostpci0: 01:00,foo=1\nhostpci1: 02:00.0\n");
        assert_false(c->hostpci[0].present);
        assert_true(c->hostpci[1].present);
        assert_addr(&c->hostpci[1].ids[0], "0000:02:00.0");
        assert_int_equal(c->n_warnings, 1);
        assert_warning(c, 0, 3, "100.conf:3: vm 100 - unable to parse value of 'hostpci0' - invalid key in "
                                "comma-separated list property: foo in '01:00,foo=1': Proxmox starts the VM without "
                                "this entry, its devices are left alone");
        vmconf_free(c);

        /* every class of bad value: unknown option, bad boolean, duplicate, bad ID, empty k=, spaces */
        c = parse_ok("hostpci0: 01:00,pcie=maybe\nhostpci1: 01:00,pcie=1,pcie=1\nhostpci2: 1:00\n"
                     "hostpci3: 01:00,rombar=\nhostpci4: 01:00, pcie=1\nhostpci5: 01:00 ,pcie=1\nhostpci6: 03:00\n");
        for (int i = 0; i < 6; i++)
                assert_false(c->hostpci[i].present);
        assert_true(c->hostpci[6].present);
        assert_int_equal(c->n_warnings, 6);
        vmconf_free(c);
}

/* PCI.pm parse_hostpci dies at the start for values parse_vm_config kept: the hook leaves the devices
 * alone and lets Proxmox report it. */
static void vmconf_hostpci_proxmox_refuses_at_start_is_a_warning(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("hostpci0: 00:ff.1\nhostpci1: 01:00,mapping=gpu\nhostpci2:   \nhostpci3: 04:00\n");
        assert_false(c->hostpci[0].present);
        assert_false(c->hostpci[1].present);
        assert_false(c->hostpci[2].present);
        assert_true(c->hostpci[3].present);
        assert_int_equal(c->n_warnings, 3);
        assert_warning(c, 0, 1, "100.conf:1: hostpci0: no PCI device can have ID '00:ff.1': device number ff is out "
                                "of range (00-1f) in '00:ff.1': Proxmox refuses to start the VM with this entry, its "
                                "devices are left alone");
        /* "hostpci2:   ": :\s*(.+?)\s*$ backtracks, the value is " "; parse_property_string skips the
         * blank part and check_object accepts {} (host and mapping are optional), so the config keeps it */
        assert_warning(c, 2, 3, "100.conf:3: hostpci2: Either 'host' or 'mapping' must be set in ' ': Proxmox "
                                "refuses to start the VM with this entry, its devices are left alone");
        vmconf_free(c);
}

/* The issue's case: 0000:0a:00.0 was reset although Proxmox passes nothing. */
static void vmconf_upper_case_hostpci_touches_nothing(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("hostpci0: 0A:00.0\nhostpci1: 01:00.0,vendor-id=0X10de\n");
        assert_false(c->hostpci[0].present);
        assert_false(c->hostpci[1].present);
        assert_int_equal(c->n_warnings, 2);
        vmconf_free(c);
}

/* parse_vm_config: a line that matches none of its patterns → "unable to parse config: $line",
 * skipped; the config goes on. */
static void vmconf_junk_lines_are_skipped_with_a_warning(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok(" cores: 4\nCores: 4\n\xef\xbb\xbfhostpci0: 01:00.0\ncat /etc/pve/qemu-server/100.conf\n"
                     " hostpci1: 02:00.0\nhostpci2 : 03:00.0\nnet0x: virtio\nhostpci3: 04:00.0\n");
        for (int i = 0; i < 3; i++)
                assert_false(c->hostpci[i].present);
        assert_true(c->hostpci[3].present);
        assert_int_equal(c->n_warnings, 7);
        assert_warning(c, 0, 1, "100.conf:1: vm 100 - unable to parse config:  cores: 4 (Proxmox skips this line)");
        assert_warning(c, 2, 3, "100.conf:3: vm 100 - unable to parse config: ???hostpci0: 01:00.0 (Proxmox skips "
                                "this line)");
        assert_warning(c, 3, 4, "100.conf:4: vm 100 - unable to parse config: cat /etc/pve/qemu-server/100.conf "
                                "(Proxmox skips this line)");
        vmconf_free(c);

        /* ^([a-z][a-z_\-]*\d*):\s*(.+?)\s*$ needs a value */
        c = parse_ok("hostpci0:\nhostpci1: 01:00\n");
        assert_false(c->hostpci[0].present);
        assert_warning(c, 0, 1, "100.conf:1: vm 100 - unable to parse config: hostpci0: (Proxmox skips this line)");
        vmconf_free(c);
}

/* check_type: `die "unknown setting '$key'"` for keys beyond $MAX_HOSTPCI_DEVICES (16). */
static void vmconf_hostpci_keys_beyond_15_are_unknown(void **state)
{
        static const char *const keys[] = { "hostpci16", "hostpcix", "hostpci", "hostpci01", "hostpci100" };
        char text[64], msg[256];
        struct vmconf *c;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                snprintf(text, sizeof(text), "%s: 01:00\nhostpci1: 02:00\n", keys[i]);
                c = parse_ok(text);
                assert_true(c->hostpci[1].present);
                assert_false(c->hostpci[0].present);
                snprintf(msg, sizeof(msg), "100.conf:1: vm 100 - unable to parse value of '%s' - unknown setting '%s' "
                         "(Proxmox knows hostpci0 to hostpci15 and skips this line)", keys[i], keys[i]);
                assert_warning(c, 0, 1, msg);
                vmconf_free(c);
        }
}

/* parse_vm_config: `$conf->{$key} = $value` — the last valid line wins, silently; a line whose value
 * fails check_type leaves the earlier value. */
static void vmconf_duplicate_keys_last_valid_one_wins(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("hostpci0: 01:00\ncores: 2\nhostpci0: 02:00\ncores: 4\nbios: seabios\nbios: ovmf\n");
        assert_addr(&c->hostpci[0].ids[0], "0000:02:00");
        assert_int_equal(c->hostpci[0].line, 3);
        assert_string_equal(c->bios, "ovmf");
        assert_int_equal(c->n_warnings, 0);
        vmconf_free(c);

        c = parse_ok("hostpci0: 01:00\nhostpci0: 02:00,foo=1\n");
        assert_addr(&c->hostpci[0].ids[0], "0000:01:00");
        assert_int_equal(c->hostpci[0].line, 1);
        assert_int_equal(c->n_warnings, 1);
        vmconf_free(c);

        /* a value Proxmox keeps but cannot start with replaces the earlier one */
        c = parse_ok("hostpci0: 01:00\nhostpci0: 00:ff.0\n");
        assert_false(c->hostpci[0].present);
        assert_int_equal(c->n_warnings, 1);
        vmconf_free(c);
}

/* parse_vm_config headers: ^\[PENDING\]\s*$ (/i), ^\[special:(cloudinit|fleecing)\]\s*$ (/i),
 * ^\[([a-z][a-z0-9_\-]+)\]\s*$ (/i), and ^\[([^\]]*)\]\s*$ ("skipping unknown section"): each ends the
 * current config. Anything else starting with '[' is a line it cannot parse. */
static void vmconf_section_headers(void **state)
{
        static const char *const headers[] = { "[PENDING]", "[pending]", "[Pending]  ", "[special:cloudinit]",
                                               "[SPECIAL:Fleecing]", "[snap1]", "[Snap_1-x]\r", "[snap 1]", "[]",
                                               "[special:foo]" };
        static const char *const junk[] = { "[snap1", "[PENDING]x", "[a]b]", " [snap1]" };
        char text[128];
        struct vmconf *c;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(headers); i++) {
                snprintf(text, sizeof(text), "hostpci0: 01:00\n%s\nhostpci1: 02:00\n", headers[i]);
                c = parse_ok(text);
                assert_true(c->hostpci[0].present);
                assert_false(c->hostpci[1].present);
                assert_int_equal(c->n_warnings, 0);
                vmconf_free(c);
        }
        for (size_t i = 0; i < ELEMENTSOF(junk); i++) {
                snprintf(text, sizeof(text), "hostpci0: 01:00\n%s\nhostpci1: 02:00\n", junk[i]);
                c = parse_ok(text);
                assert_true(c->hostpci[0].present);
                assert_true(c->hostpci[1].present);
                assert_int_equal(c->n_warnings, 1);
                assert_int_equal(c->warnings[0].line, 2);
                vmconf_free(c);
        }
}

/* What the old parser refused and Proxmox takes, as config lines: a VMD domain (PCI.pm $PCIRE
 * [a-f0-9]{4,}), romfile= with '/' and spaces ([^,;]+), mdev= with spaces and '+' ([^/.:]+), more than
 * 16 IDs ($PCIRE(;$PCIRE)*): all passed, no warning. */
static void vmconf_what_proxmox_takes_is_passed(void **state)
{
        char text[1024] = "hostpci0: 10000:e0:00.0,pcie=1\nhostpci1: 01:00,romfile=/root/my vbios.rom\n"
                          "hostpci2: 00:02.0,mdev=GRID P40+2Q\nhostpci3: ";
        struct vmconf *c;

        (void)state;
        for (int i = 0; i < 20; i++)
                snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s02:%02x.0", i ? ";" : "", i);
        strcat(text, ",pcie=1\n");
        c = parse_ok(text);
        assert_int_equal(c->n_warnings, 0);
        assert_addr(&c->hostpci[0].ids[0], "10000:e0:00.0");
        assert_string_equal(c->hostpci[1].romfile, "/root/my vbios.rom");
        assert_string_equal(c->hostpci[2].mdev, "GRID P40+2Q");
        assert_int_equal(c->hostpci[3].n_ids, 20);
        assert_addr(&c->hostpci[3].ids[19], "0000:02:13.0");
        vmconf_free(c);
}

/* parse_vm_config: m/snapstate:\s*(prepare|delete)\s*$/ is tried before the key pattern and is not
 * anchored: such a line sets the snapshot state, silently, whatever key it starts with. */
static void vmconf_snapstate_line_is_not_a_hostpci(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("hostpci0: 01:00.0,romfile=snapstate: prepare\nsnapstate: delete\nhostpci1: 02:00\n");
        assert_false(c->hostpci[0].present);
        assert_true(c->hostpci[1].present);
        assert_int_equal(c->n_warnings, 0);
        vmconf_free(c);
}

/* parse_vm_config: `delete:` outside [PENDING] → "property 'delete' is only allowed in [PENDING]" */
static void vmconf_delete_outside_pending_is_warned(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("hostpci0: 01:00\ndelete: hostpci0\n");
        assert_true(c->hostpci[0].present);
        assert_warning(c, 0, 2, "100.conf:2: vm 100 - property 'delete' is only allowed in [PENDING]");
        vmconf_free(c);
}

static void vmconf_warnings_are_capped(void **state)
{
        char text[64 * 8] = "";
        struct vmconf *c;

        (void)state;
        for (int i = 0; i < 40; i++)
                strcat(text, "Junk: 1\n");
        c = parse_ok(text);
        assert_int_equal(c->n_warnings, VMCONF_MAX_WARNINGS);
        assert_int_equal(c->n_warnings_dropped, 40 - VMCONF_MAX_WARNINGS);
        assert_int_equal(c->warnings[VMCONF_MAX_WARNINGS - 1].line, VMCONF_MAX_WARNINGS);
        vmconf_free(c);
}

static void vmconf_only_the_current_section_counts(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("bios: seabios\nhostpci0: 01:00\n\n[PENDING]\nhostpci0: 02:00\nhostpci1: 03:00\nbios: ovmf\n"
                     "[special:cloudinit]\nhostpci2: 04:00\n[special:fleecing]\nhostpci3: 05:00\n"
                     "[snap1]\nhostpci4: 06:00\nthis is not a config line\n");
        assert_true(c->hostpci[0].present);
        assert_addr(&c->hostpci[0].ids[0], "0000:01:00");
        for (int i = 1; i < VMCONF_MAX_HOSTPCI; i++)
                assert_false(c->hostpci[i].present);
        assert_string_equal(c->bios, "seabios");
        vmconf_free(c);

        /* a snapshot with devices does not give them to a VM without any */
        c = parse_ok("cores: 1\nparent: snap\n\n[snap]\nhostpci0: 0000:44:00,pcie=1\nsnaptime: 1\n");
        assert_false(c->hostpci[0].present);
        vmconf_free(c);
}

static void vmconf_keys_we_store(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("hookscript: local:snippets/pve-gpu-reset\nmachine: pc-q35-9.2+pve1\nbios: ovmf\nlock: backup\n"
                     "reboot: 0\n");
        assert_string_equal(c->hookscript, "local:snippets/pve-gpu-reset");
        assert_string_equal(c->machine, "pc-q35-9.2+pve1");
        assert_string_equal(c->bios, "ovmf");
        assert_string_equal(c->lock, "backup");
        assert_int_equal(c->reboot, 0);
        assert_int_equal(c->path[0] != '\0', 1);
        assert_string_equal(c->path, "100.conf");
        vmconf_free(c);

        c = parse_ok("cores: 4\n");
        assert_null(c->hookscript);
        assert_null(c->machine);
        assert_null(c->bios);
        assert_null(c->lock);
        assert_int_equal(c->reboot, -1);
        vmconf_free(c);
}

static void vmconf_hostpci15_is_the_last(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("hostpci15: 0000:0f:00.1\nhostpci9: 09:00\n");
        assert_true(c->hostpci[15].present);
        assert_int_equal(c->hostpci[15].index, 15);
        assert_int_equal(c->hostpci[15].line, 1);
        assert_addr(&c->hostpci[15].ids[0], "0000:0f:00.1");
        assert_true(c->hostpci[9].present);
        assert_int_equal(c->hostpci[9].line, 2);
        vmconf_free(c);
}

static void vmconf_description_lines_are_ignored(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("#hostpci0: 0000:42:00,pcie=1\n#hostpci1%3A 0000%3A42%3A00\n# \xe7\x9b\xb4\xe9\x80\x9a\n"
                     "hostpci0: 0000:10:00,pcie=1\n#garbage in the middle\ncores: 1\n\n   \n\t\n");
        assert_addr(&c->hostpci[0].ids[0], "0000:10:00");
        assert_false(c->hostpci[1].present);
        vmconf_free(c);
}

static void vmconf_crlf_line_endings(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("# windows\r\nbios: ovmf\r\nhostpci0: 0000:01:00,pcie=1,x-vga=1\r\n\r\n[snap]\r\nbios: seabios\r\n");
        assert_string_equal(c->bios, "ovmf");
        assert_int_equal(c->hostpci[0].x_vga, 1);
        assert_addr(&c->hostpci[0].ids[0], "0000:01:00");
        vmconf_free(c);
}

static void vmconf_size_limit_is_1_mib(void **state)
{
        size_t n = VMCONF_MAX_SIZE + 1;
        char *big = malloc(n);
        struct pgr_error err = {};
        struct vmconf *c = NULL;

        (void)state;
        assert_non_null(big);
        /* an overlong description line: fine up to the limit */
        memcpy(big, "hostpci0: 01:00\n#", 17);
        memset(big + 17, 'x', n - 17);
        big[n - 2] = '\n';
        assert_int_equal(vmconf_parse(big, VMCONF_MAX_SIZE, "100.conf", &c, &err), 0);
        assert_true(c->hostpci[0].present);
        vmconf_free(c);
        c = NULL;
        assert_int_equal(vmconf_parse(big, n, "100.conf", &c, &err), -EFBIG);
        assert_null(c);
        assert_string_equal(err.msg, "100.conf: larger than 1048576 bytes (1 MiB), the limit of a Proxmox config");
        free(big);
}

static void vmconf_overlong_args_line_is_fine(void **state)
{
        size_t n = 600 * 1024;
        char *text = malloc(n + 64);
        struct vmconf *c;

        (void)state;
        assert_non_null(text);
        strcpy(text, "args: ");
        memset(text + 6, 'a', n);
        strcpy(text + 6 + n, "\nhostpci0: 02:00.0\n");
        c = parse_ok(text);
        assert_addr(&c->hostpci[0].ids[0], "0000:02:00.0");
        assert_int_equal(c->hostpci[0].line, 2);
        vmconf_free(c);
        free(text);
}

static void vmconf_never_reads_past_len(void **state)
{
        static const char line[] = "hostpci0: 01:00,pcie=1";
        char *exact = malloc(sizeof(line) - 1); /* no NUL after the text: ASan catches any overread */
        struct pgr_error err = {};
        struct vmconf *c = NULL;

        (void)state;
        assert_non_null(exact);
        memcpy(exact, line, sizeof(line) - 1);
        assert_int_equal(vmconf_parse(exact, sizeof(line) - 1, "100.conf", &c, &err), 0);
        assert_int_equal(c->hostpci[0].pcie, 1);
        vmconf_free(c);
        c = NULL;
        /* cut in the middle: only "hostpci0: 01:00" is seen */
        assert_int_equal(vmconf_parse(exact, 15, "100.conf", &c, &err), 0);
        assert_int_equal(c->hostpci[0].pcie, -1);
        assert_addr(&c->hostpci[0].ids[0], "0000:01:00");
        vmconf_free(c);
        c = NULL;
        /* cut after "hostpci0:": a line parse_vm_config cannot parse, skipped */
        assert_int_equal(vmconf_parse(exact, 9, "100.conf", &c, &err), 0);
        assert_false(c->hostpci[0].present);
        assert_int_equal(c->n_warnings, 1);
        vmconf_free(c);
        c = NULL;
        /* empty input is an empty config */
        assert_int_equal(vmconf_parse(exact, 0, "100.conf", &c, &err), 0);
        assert_false(c->hostpci[0].present);
        vmconf_free(c);
        free(exact);
}

/* parse_vm_config → check_type: `reboot` is a boolean; a bad one is warned about and skipped. */
static void vmconf_reboot_is_a_proxmox_boolean(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("reboot: yes\n");
        assert_int_equal(c->reboot, 1);
        vmconf_free(c);
        c = parse_ok("reboot:1\n"); /* no space after the colon is fine for qemu-server */
        assert_int_equal(c->reboot, 1);
        vmconf_free(c);
        c = parse_ok("reboot: 0\nreboot: maybe\n");
        assert_int_equal(c->reboot, 0);
        assert_warning(c, 0, 2, "100.conf:2: vm 100 - unable to parse value of 'reboot' - type check ('boolean') "
                                "failed - got 'maybe'");
        vmconf_free(c);
}

static void vmconf_empty_values(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("boot:  \ncores: 1\n"); /* real PVE 6 configs have this; not ours, ignored */
        assert_int_equal(c->n_warnings, 0);
        vmconf_free(c);
        /* "hookscript: " has the value " " (the regex backtracks), which is no volume ID: warned;
         * "bios:" has no value at all: unable to parse config */
        c = parse_ok("hookscript: \nbios:\n");
        assert_null(c->hookscript);
        assert_null(c->bios);
        assert_int_equal(c->n_warnings, 2);
        vmconf_free(c);
        /* "hostpci0:\r": the value is "\r", QemuServer.pm check_type dies "property contains a line
         * feed", the earlier line stays; "hostpci0: \t": the value is "\t", kept, refused at start */
        c = parse_ok("hostpci0: 01:00\nhostpci0:\r\n");
        assert_true(c->hostpci[0].present);
        assert_int_equal(c->n_warnings, 1);
        vmconf_free(c);
        c = parse_ok("hostpci0: 01:00\nhostpci0: \t\n");
        assert_false(c->hostpci[0].present);
        assert_int_equal(c->n_warnings, 1);
        vmconf_free(c);
}

/* A NUL is an ordinary byte in Perl's strings: parse_vm_config reads the line like any other and
 * $PCIRE does not match it, so the value is dropped; the rest of the config counts. */
static void vmconf_nul_byte_is_an_ordinary_byte(void **state)
{
        static const char text[] = "cores: 1\nhostpci0: 01:00\0,pcie=1\nhostpci1: 02:00\n# a\0b\nhookscript: a\0b\n";
        struct pgr_error err = {};
        struct vmconf *c = NULL;

        (void)state;
        assert_int_equal(vmconf_parse(text, sizeof(text) - 1, "100.conf", &c, &err), 0);
        assert_false(c->hostpci[0].present);
        assert_true(c->hostpci[1].present);
        assert_warning(c, 0, 2, "100.conf:2: vm 100 - unable to parse value of 'hostpci0' - host: value does not match "
                                "the regex pattern (invalid PCI ID '01:00?': expected [dddd:]bb:ss[.f], lower-case hex) "
                                "in '01:00?,pcie=1': Proxmox starts the VM without this entry, its devices are left "
                                "alone");
        assert_null(c->hookscript); /* a C string cannot hold it: skipped with a warning */
        assert_warning(c, 1, 5, "100.conf:5: hookscript: a NUL byte in the value, ignored");
        vmconf_free(c);
}

/* ---- real configs ---- */

/* Every real config parses (never a fatal error: a start Proxmox makes is never aborted); these
 * have lines Proxmox skips or values it cannot start with, and the first warning of each says so.
 * Proxmox's own cfg2cmd tests use device numbers above 1f that no kernel can have (PCI.pm
 * parse_hostpci would die "no PCI device found"); one README excerpt starts with the shell command
 * that printed it (QemuServer.pm parse_vm_config: "unable to parse config"). */
static const struct {
        const char *file;
        size_t n_warnings;
        const char *first;
} expected_warnings[] = {
        { "pvehelpers-204-description-commands-hookscript-exec-cmds-elided.conf", 6,
          "pvehelpers-204-description-commands-hookscript-exec-cmds-elided.conf:1: unable to parse config: cat "
          "/etc/pve/qemu-server/204.conf (Proxmox skips this line)" },
        { "qemu-server-test-i440fx-win10-hostpci.conf", 1,
          "qemu-server-test-i440fx-win10-hostpci.conf:6: hostpci0: no PCI device can have ID '0f:f2.0': device number "
          "f2 is out of range (00-1f) in '0f:f2.0': Proxmox refuses to start the VM with this entry, its devices are "
          "left alone" },
        { "qemu-server-test-q35-linux-hostpci-driver-keep.conf", 2,
          "qemu-server-test-q35-linux-hostpci-driver-keep.conf:6: hostpci0: no PCI device can have ID '00:ff.1': "
          "device number ff is out of range (00-1f) in '00:ff.1,driver=keep': Proxmox refuses to start the VM with "
          "this entry, its devices are left alone" },
        { "qemu-server-test-q35-linux-hostpci-multifunction.conf", 2,
          "qemu-server-test-q35-linux-hostpci-multifunction.conf:6: hostpci0: no PCI device can have ID 'f0:43': "
          "device number 43 is out of range (00-1f) in 'f0:43': Proxmox refuses to start the VM with this entry, its "
          "devices are left alone" },
        { "qemu-server-test-q35-linux-hostpci-template.conf", 2,
          "qemu-server-test-q35-linux-hostpci-template.conf:6: hostpci0: no PCI device can have ID '00:ff.1': device "
          "number ff is out of range (00-1f) in '00:ff.1': Proxmox refuses to start the VM with this entry, its "
          "devices are left alone" },
        { "qemu-server-test-q35-linux-hostpci-x-pci-overrides.conf", 1,
          "qemu-server-test-q35-linux-hostpci-x-pci-overrides.conf:6: hostpci0: no PCI device can have ID '00:ff.1': "
          "device number ff is out of range (00-1f) in "
          "'00:ff.1,vendor-id=0x1234,device-id=0x5678,sub-vendor-id=0x2233,sub-device-id=0x0000': Proxmox refuses to "
          "start the VM with this entry, its devices are left alone" },
        { "qemu-server-test-q35-linux-hostpci.conf", 2,
          "qemu-server-test-q35-linux-hostpci.conf:6: hostpci0: no PCI device can have ID '00:ff.1': device number ff "
          "is out of range (00-1f) in '00:ff.1': Proxmox refuses to start the VM with this entry, its devices are left "
          "alone" },
        { "qemu-server-test-q35-win10-hostpci.conf", 3,
          "qemu-server-test-q35-win10-hostpci.conf:6: hostpci0: no PCI device can have ID 'f0:42.0': device number 42 "
          "is out of range (00-1f) in 'f0:42.0': Proxmox refuses to start the VM with this entry, its devices are "
          "left alone" },
        /* "boot:" without a value: ^([a-z][a-z_\-]*\d*):\s*(.+?)\s*$ needs one */
        { "uhd630-qm-config-100-legacy-igd-args-x-igd-parent-empty-boot.conf", 1,
          "uhd630-qm-config-100-legacy-igd-args-x-igd-parent-empty-boot.conf:4: unable to parse config: boot: (Proxmox "
          "skips this line)" },
};

static void check_dir(const char *dir, unsigned *ret_ok, unsigned *ret_warned)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                fail_msg("cannot open %s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                size_t nl = strlen(de->d_name), expect_n = 0;
                char path[PATH_MAX], *text = NULL;
                const char *expect = NULL;
                struct pgr_error err = {};
                struct vmconf *c = NULL;
                size_t len = 0;
                int r;

                if (nl < 6 || strcmp(de->d_name + nl - 5, ".conf") != 0)
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(expected_warnings); i++)
                        if (streq(expected_warnings[i].file, de->d_name)) {
                                expect = expected_warnings[i].first;
                                expect_n = expected_warnings[i].n_warnings;
                        }
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                assert_int_equal(read_full_file(path, VMCONF_MAX_SIZE, &text, &len), 0);
                r = vmconf_parse(text, len, de->d_name, &c, &err);
                free(text);
                if (r < 0)
                        fail_msg("%s: %s", de->d_name, err.msg);
                if (expect) {
                        if (c->n_warnings == 0)
                                fail_msg("%s: no warning, expected: %s", de->d_name, expect);
                        assert_string_equal(c->warnings[0].msg, expect);
                        assert_int_equal(c->n_warnings, expect_n);
                        (*ret_warned)++;
                } else {
                        if (c->n_warnings)
                                fail_msg("%s: unexpected warning: %s", de->d_name, c->warnings[0].msg);
                        (*ret_ok)++;
                }
                vmconf_free(c);
        }
        closedir(d);
}

static void vmconf_every_real_config_parses(void **state)
{
        char dir[PATH_MAX];
        unsigned ok = 0, warned = 0;

        (void)state;
        snprintf(dir, sizeof(dir), "%s/vmconf", real_fixtures());
        check_dir(dir, &ok, &warned);
        assert_int_equal(warned, ELEMENTSOF(expected_warnings));
        assert_true(ok >= 30);
        snprintf(dir, sizeof(dir), "%s/vmconf/qemu-server-parse-config", real_fixtures());
        ok = warned = 0;
        check_dir(dir, &ok, &warned);
        assert_int_equal(warned, 0);
        assert_true(ok >= 14);
}

static void vmconf_qemu_server_section_tests_read_only_the_current_config(void **state)
{
        struct vmconf *c;
        char *t;

        (void)state;
        t = load_fixture("qemu-server-parse-config/sections.conf", NULL); /* [PENDING] bios: ovmf */
        c = parse_ok(t);
        assert_null(c->bios);
        vmconf_free(c);
        free(t);

        t = load_fixture("qemu-server-parse-config/duplicate-sections.conf", NULL);
        c = parse_ok(t);
        assert_null(c->bios);
        vmconf_free(c);
        free(t);

        t = load_fixture("qemu-server-parse-config/unknown-sections.conf", NULL);
        c = parse_ok(t);
        assert_null(c->bios);
        vmconf_free(c);
        free(t);

        t = load_fixture("qemu-server-parse-config/snapshots.conf", NULL); /* a snapshot has bios: ovmf */
        c = parse_ok(t);
        assert_null(c->bios);
        assert_string_equal(c->machine, "pc-i440fx-9.1");
        vmconf_free(c);
        free(t);

        t = load_fixture("qemu-server-parse-config/locked.conf", NULL);
        c = parse_ok(t);
        assert_string_equal(c->lock, "backup");
        vmconf_free(c);
        free(t);

        t = load_fixture("qemu-server-parse-config/regular-vm-efi.conf", NULL);
        c = parse_ok(t);
        assert_string_equal(c->bios, "ovmf");
        assert_null(c->lock);
        vmconf_free(c);
        free(t);
}

static void vmconf_snapshot_hostpci_lines_do_not_change_the_result(void **state)
{
        struct vmconf *c;
        char *t;

        (void)state;
        /* current: 44:00 + 45:00.3 + 01:00.0 + 08:00.0; snapshot 5 lacks hostpci3 */
        t = load_fixture("spongeypc-100-arch-rx6800xt-snapshots-differing-hostpci.conf", NULL);
        c = parse_ok(t);
        assert_addr(&c->hostpci[0].ids[0], "0000:44:00");
        assert_int_equal(c->hostpci[0].x_vga, 1);
        assert_string_equal(c->hostpci[0].romfile, "amd-vbios.rom");
        assert_addr(&c->hostpci[1].ids[0], "0000:45:00.3");
        assert_addr(&c->hostpci[2].ids[0], "0000:01:00.0");
        assert_true(c->hostpci[3].present);
        assert_addr(&c->hostpci[3].ids[0], "0000:08:00.0");
        assert_int_equal(c->hostpci[3].line, 12);
        for (int i = 4; i < VMCONF_MAX_HOSTPCI; i++)
                assert_false(c->hostpci[i].present);
        vmconf_free(c);
        free(t);

        t = load_fixture("spongeypc-220-parsec-nvidia-romfile-4-snapshot-chain.conf", NULL);
        c = parse_ok(t);
        assert_addr(&c->hostpci[0].ids[0], "0000:09:00");
        assert_false(c->hostpci[1].present);
        vmconf_free(c);
        free(t);
}

static void vmconf_hostpci10_written_before_hostpci2(void **state)
{
        struct vmconf *c;
        char *t;

        (void)state;
        t = load_fixture("proxintosh-bigsur-100-radeonvii-12-hostpci-hostpci10-sorted-before-2.conf", NULL);
        c = parse_ok(t);
        for (int i = 0; i < 12; i++) {
                assert_true(c->hostpci[i].present);
                assert_int_equal(c->hostpci[i].index, (unsigned)i);
        }
        assert_false(c->hostpci[12].present);
        assert_int_equal(c->hostpci[10].line, 11);
        assert_addr(&c->hostpci[10].ids[0], "0000:25:00.3");
        assert_addr(&c->hostpci[0].ids[0], "0000:23:00");
        assert_int_equal(c->hostpci[0].x_vga, 1);
        vmconf_free(c);
        free(t);
}

static void vmconf_commented_hostpci_is_description(void **state)
{
        struct vmconf *c;
        char *t;

        (void)state;
        t = load_fixture("spongey-210-bak-hand-edited-commented-hostpci-mid-file.conf", NULL);
        c = parse_ok(t);
        assert_addr(&c->hostpci[0].ids[0], "0000:10:00"); /* not the commented 0000:42:00 */
        assert_int_equal(c->hostpci[0].line, 14);
        assert_addr(&c->hostpci[1].ids[0], "0000:11:00.3");
        vmconf_free(c);
        free(t);
}

static void vmconf_hookscript_and_igd_fixtures(void **state)
{
        struct vmconf *c;
        char *t;

        (void)state;
        t = load_fixture("iroger-trx40-100-macpro-radeonvii-6-hostpci-no-domain-hookscript.conf", NULL);
        c = parse_ok(t);
        assert_string_equal(c->hookscript, "local:snippets/reset-gpu.pl");
        assert_addr(&c->hostpci[2].ids[0], "0000:03:00");
        assert_string_equal(c->hostpci[2].romfile, "RadeonVII.rom");
        vmconf_free(c);
        free(t);

        t = load_fixture("uhd630-qm-config-100-legacy-igd-args-x-igd-parent-empty-boot.conf", NULL);
        c = parse_ok(t);
        assert_addr(&c->hostpci[0].ids[0], "0000:00:02");
        assert_int_equal(c->hostpci[0].legacy_igd, 1);
        assert_string_equal(c->hostpci[0].romfile, "igpu-uhd630.rom");
        assert_string_equal(c->machine, "pc-i440fx-9.2");
        vmconf_free(c);
        free(t);
}

/* Proxmox's cfg2cmd tests with their impossible device numbers moved into range: the rest of each
 * file is the real thing. */
static void vmconf_qemu_server_driver_keep_test(void **state)
{
        struct vmconf *c;
        char *t, *t2, *t3;

        (void)state;
        t = load_fixture("qemu-server-test-q35-linux-hostpci-driver-keep.conf", NULL);
        t2 = replace_all(t, "00:ff.1", "00:1f.1");
        t3 = replace_all(t2, "00:f4.0", "00:14.0");
        c = parse_ok(t3);
        assert_int_equal(c->hostpci[0].driver, HOSTPCI_DRIVER_KEEP);
        assert_addr(&c->hostpci[0].ids[0], "0000:00:1f.1");
        assert_int_equal(c->hostpci[1].driver, HOSTPCI_DRIVER_VFIO);
        assert_int_equal(c->hostpci[1].pcie, 1);
        assert_addr(&c->hostpci[1].ids[0], "0000:d0:13.0");
        assert_int_equal(c->hostpci[2].driver, HOSTPCI_DRIVER_VFIO);
        assert_int_equal(c->hostpci[4].rombar, 0);
        assert_true(c->hostpci[7].present);
        assert_false(c->hostpci[5].present);
        assert_string_equal(c->machine, "q35");
        assert_string_equal(c->bios, "ovmf");
        vmconf_free(c);
        free(t);
        free(t2);
        free(t3);
}

static void vmconf_qemu_server_x_pci_overrides_and_multifunction_tests(void **state)
{
        struct vmconf *c;
        char *t, *t2;

        (void)state;
        t = load_fixture("qemu-server-test-q35-linux-hostpci-x-pci-overrides.conf", NULL);
        t2 = replace_all(t, "00:ff.1", "00:1f.1");
        c = parse_ok(t2);
        assert_int_equal(c->hostpci[0].vendor_id, 0x1234);
        assert_int_equal(c->hostpci[0].device_id, 0x5678);
        assert_int_equal(c->hostpci[0].sub_vendor_id, 0x2233);
        assert_int_equal(c->hostpci[0].sub_device_id, 0);
        assert_int_equal(c->hostpci[1].vendor_id, 0x1234);
        assert_int_equal(c->hostpci[1].sub_vendor_id, -1);
        vmconf_free(c);
        free(t);
        free(t2);

        t = load_fixture("qemu-server-test-q35-linux-hostpci-multifunction.conf", NULL);
        t2 = replace_all(t, "f0:43", "f0:03");
        c = parse_ok(t2);
        assert_addr(&c->hostpci[0].ids[0], "0000:f0:03");
        assert_addr(&c->hostpci[1].ids[0], "1234:f0:03");
        assert_int_equal(c->hostpci[1].ids[0].func, -1);
        vmconf_free(c);
        free(t);
        free(t2);
}

static void vmconf_qemu_server_mapping_test(void **state)
{
        struct vmconf *c;
        char *t;

        (void)state;
        t = load_fixture("qemu-server-test-q35-linux-hostpci-mapping.conf", NULL);
        c = parse_ok(t);
        assert_string_equal(c->hostpci[0].mapping, "someNic");
        assert_int_equal(c->hostpci[0].n_ids, 0);
        assert_string_equal(c->hostpci[1].mapping, "someGpu");
        assert_string_equal(c->hostpci[1].mdev, "some-model");
        assert_string_equal(c->hostpci[2].mapping, "someNic");
        vmconf_free(c);
        free(t);
}

/* Proxmox's cfg2cmd tests read as they are: its test harness mocks SysFSTools::lspci, so 00:ff.1
 * "exists" there; on a real host no device has device number ff and PCI.pm parse_hostpci dies "no
 * PCI device found" — those entries are left alone, the others are read as Proxmox reads them. */
static void vmconf_qemu_server_hostpci_tests_as_they_are(void **state)
{
        struct vmconf *c;
        char *t;

        (void)state;
        t = load_fixture("qemu-server-test-q35-linux-hostpci.conf", NULL);
        c = parse_ok(t);
        assert_false(c->hostpci[0].present); /* 00:ff.1 */
        assert_false(c->hostpci[2].present); /* 00:f4.0 */
        assert_addr(&c->hostpci[1].ids[0], "0000:d0:13.0");
        assert_int_equal(c->hostpci[1].pcie, 1);
        assert_addr(&c->hostpci[3].ids[0], "0000:d0:15.1");
        assert_addr(&c->hostpci[4].ids[0], "0000:d0:17.0");
        assert_int_equal(c->hostpci[4].rombar, 0);
        assert_addr(&c->hostpci[7].ids[0], "0000:d0:15.2");
        assert_int_equal(c->n_warnings, 2);
        assert_int_equal(c->warnings[0].line, 6);
        assert_int_equal(c->warnings[1].line, 8);
        vmconf_free(c);
        free(t);

        t = load_fixture("qemu-server-test-q35-linux-hostpci-mapping.conf", NULL);
        c = parse_ok(t);
        assert_int_equal(c->n_warnings, 0);
        assert_string_equal(c->hostpci[1].mdev, "some-model");
        vmconf_free(c);
        free(t);
}

/* bdf.c follows the kernel's %04x domain names, so a VMD address round-trips through sysfs names */
static void vmconf_vmd_domain_round_trips_through_sysfs_names(void **state)
{
        struct pci_addr a;
        char buf[PCI_ADDR_STRLEN];

        (void)state;
        assert_int_equal(pci_addr_parse_full("10000:e0:00.0", &a), 0);
        assert_int_equal(a.domain, 0x10000);
        assert_string_equal(pci_addr_format(&a, buf), "10000:e0:00.0");
        assert_int_equal(pci_addr_parse_full("ffffffff:ff:1f.7", &a), 0);
        assert_string_equal(pci_addr_format(&a, buf), "ffffffff:ff:1f.7");
        assert_int_equal(pci_addr_parse_full("00000:e0:00.0", &a), -EINVAL);
        assert_int_equal(pci_addr_parse_full("100000000:e0:00.0", &a), -EINVAL);
        assert_int_equal(pci_addr_parse_full("000:e0:00.0", &a), -EINVAL);
}

/* ---- loading through the root prefix ---- */

struct root {
        char dir[64];
        struct pgr_ctx ctx;
};

static void root_make(struct root *r)
{
        strcpy(r->dir, "/tmp/pgr-vmconf-XXXXXX");
        assert_non_null(mkdtemp(r->dir));
        assert_int_equal(pgr_ctx_init(&r->ctx, r->dir, "pve"), 0);
}

static void root_free(struct root *r)
{
        rm_rf(r->dir);
}

static void write_file(const char *root, const char *rel, const char *content)
{
        char path[PATH_MAX], cmd[PATH_MAX + 32];
        FILE *f;

        snprintf(path, sizeof(path), "%s%s", root, rel);
        snprintf(cmd, sizeof(cmd), "%s", path);
        for (char *p = cmd + strlen(root) + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                mkdir(cmd, 0755);
                *p = '/';
        }
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

static void vmconf_load_reads_the_vm_config_under_the_root(void **state)
{
        struct root root;
        struct pgr_error err = {};
        struct vmconf *c = NULL;

        (void)state;
        root_make(&root);
        write_file(root.dir, "/etc/pve/qemu-server/100.conf", "hostpci0: 0000:01:00,pcie=1\n");
        assert_int_equal(vmconf_load(&root.ctx, 100, NULL, &c, &err), 0);
        assert_int_equal(c->vmid, 100);
        assert_string_equal(c->path, "/etc/pve/qemu-server/100.conf");
        assert_addr(&c->hostpci[0].ids[0], "0000:01:00");
        vmconf_free(c);
        c = NULL;

        assert_int_equal(vmconf_load(&root.ctx, 100, "", &c, &err), 0); /* empty PVE_MIGRATED_FROM */
        vmconf_free(c);
        c = NULL;

        /* QemuServer.pm parse_vm_config: the bad value is dropped with a warning naming the file */
        write_file(root.dir, "/etc/pve/qemu-server/101.conf", "cores: 1\nhostpci0: 01:00,bogus=1\n");
        assert_int_equal(vmconf_load(&root.ctx, 101, NULL, &c, &err), 0);
        assert_false(c->hostpci[0].present);
        assert_int_equal(c->n_warnings, 1);
        assert_string_equal(c->warnings[0].msg, "/etc/pve/qemu-server/101.conf:2: vm 101 - unable to parse value of "
                                                "'hostpci0' - invalid key in comma-separated list property: bogus in "
                                                "'01:00,bogus=1': Proxmox starts the VM without this entry, its devices "
                                                "are left alone");
        vmconf_free(c);
        root_free(&root);
}

static void vmconf_load_missing_config(void **state)
{
        struct root root;
        struct pgr_error err = {};
        struct vmconf *c = NULL;

        (void)state;
        root_make(&root);
        assert_int_equal(vmconf_load(&root.ctx, 100, NULL, &c, &err), -ENOENT);
        assert_null(c);
        assert_string_equal(err.msg, "VM 100: no config at /etc/pve/qemu-server/100.conf");
        assert_int_equal(vmconf_load(&root.ctx, 99, NULL, &c, &err), -EINVAL);
        root_free(&root);
}

static void vmconf_load_after_migration_reads_the_source_node(void **state)
{
        static const char *const bad[] = { "../pve1", "a/b", ".hidden", "..", "x\ny" };
        struct root root;
        struct pgr_error err = {};
        struct vmconf *c = NULL;

        (void)state;
        root_make(&root);
        write_file(root.dir, "/etc/pve/nodes/pve2/qemu-server/100.conf", "hostpci0: 02:00.0\n");
        assert_int_equal(vmconf_load(&root.ctx, 100, "pve2", &c, &err), 0);
        assert_string_equal(c->path, "/etc/pve/nodes/pve2/qemu-server/100.conf");
        assert_addr(&c->hostpci[0].ids[0], "0000:02:00.0");
        vmconf_free(c);
        c = NULL;
        assert_int_equal(vmconf_load(&root.ctx, 100, "pve3", &c, &err), -ENOENT);
        assert_string_equal(err.msg, "VM 100: no config at /etc/pve/nodes/pve3/qemu-server/100.conf");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(vmconf_load(&root.ctx, 100, bad[i], &c, &err), -EINVAL);
                assert_null(c);
                assert_non_null(strstr(err.msg, "invalid source node name"));
        }
        root_free(&root);
}

static void vmconf_load_symlink_loop_and_oversized_file(void **state)
{
        struct root root;
        struct pgr_error err = {};
        struct vmconf *c = NULL;
        char a[PATH_MAX], b[PATH_MAX];
        FILE *f;

        (void)state;
        root_make(&root);
        write_file(root.dir, "/etc/pve/qemu-server/.keep", "");
        snprintf(a, sizeof(a), "%s/etc/pve/qemu-server/100.conf", root.dir);
        snprintf(b, sizeof(b), "%s/etc/pve/qemu-server/101.conf", root.dir);
        assert_int_equal(symlink("101.conf", a), 0);
        assert_int_equal(symlink("100.conf", b), 0);
        assert_int_equal(vmconf_load(&root.ctx, 100, NULL, &c, &err), -ELOOP);
        assert_string_equal(err.msg, "VM 100: /etc/pve/qemu-server/100.conf: symlink loop (too many levels of "
                                     "symbolic links)");

        snprintf(a, sizeof(a), "%s/etc/pve/qemu-server/102.conf", root.dir);
        f = fopen(a, "we");
        assert_non_null(f);
        for (int i = 0; i < VMCONF_MAX_SIZE / 8 + 1; i++)
                fputs("#xxxxxx\n", f);
        fclose(f);
        assert_int_equal(vmconf_load(&root.ctx, 102, NULL, &c, &err), -EFBIG);
        assert_null(c);
        assert_string_equal(err.msg, "VM 102: /etc/pve/qemu-server/102.conf is larger than 1048576 bytes (1 MiB), "
                                     "the limit of a Proxmox config");
        root_free(&root);
}

/* doctor's NUMA facts, as qemu-server writes them (PVE/QemuServer.pm affinity: pve-cpuset;
 * PVE/QemuServer/Memory.pm numa0..numa7 ($MAX_NUMA 8): $numa_fmt property strings). Kept as
 * written and never an error, so the hook never refuses a config over them. */
static void numa_affinity_and_numa_nodes_are_kept_as_written(void **state)
{
        struct vmconf *c = parse_ok("affinity: 0,5,8-11\nnuma: 1\nnuma0: cpus=0-3,hostnodes=1,memory=4096,policy=bind\n"
                                    "numa7: cpus=4-7,memory=4096\nnuma8: cpus=8\nhostpci0: 01:00\n");

        (void)state;
        assert_string_equal(c->affinity, "0,5,8-11");
        assert_int_equal(c->numa, 1);
        assert_string_equal(c->numa_nodes[0], "cpus=0-3,hostnodes=1,memory=4096,policy=bind");
        assert_string_equal(c->numa_nodes[7], "cpus=4-7,memory=4096");
        for (size_t i = 1; i < 7; i++)
                assert_null(c->numa_nodes[i]);
        vmconf_free(c);

        /* empty values and a numa that is not a boolean: unset, not an error */
        c = parse_ok("affinity:\nnuma: maybe\nnuma0:\nhostpci0: 01:00\n");
        assert_null(c->affinity);
        assert_int_equal(c->numa, -1);
        assert_null(c->numa_nodes[0]);
        vmconf_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(vmid_parse_accepts_100_to_999999999),
                cmocka_unit_test(numa_affinity_and_numa_nodes_are_kept_as_written),
                cmocka_unit_test(vmid_parse_rejects_anything_else),
                cmocka_unit_test(hostpci_bare_id_without_domain_means_domain_0000),
                cmocka_unit_test(hostpci_id_without_function_is_the_whole_slot),
                cmocka_unit_test(hostpci_explicit_host_key_and_other_domains),
                cmocka_unit_test(hostpci_vmd_domain_above_ffff_is_a_device),
                cmocka_unit_test(hostpci_upper_case_hex_is_not_a_proxmox_id),
                cmocka_unit_test(hostpci_semicolon_list_keeps_order),
                cmocka_unit_test(hostpci_more_than_sixteen_ids_are_all_kept),
                cmocka_unit_test(hostpci_every_option_is_stored),
                cmocka_unit_test(hostpci_booleans_take_every_proxmox_spelling),
                cmocka_unit_test(hostpci_bad_boolean_names_option_and_value),
                cmocka_unit_test(hostpci_driver_keep_and_vfio),
                cmocka_unit_test(hostpci_mdev_type_names),
                cmocka_unit_test(hostpci_mapping_names_follow_pve_configid),
                cmocka_unit_test(hostpci_host_and_mapping_are_exclusive_and_one_is_required),
                cmocka_unit_test(hostpci_unknown_option_names_it),
                cmocka_unit_test(hostpci_duplicate_options_are_errors),
                cmocka_unit_test(hostpci_empty_values_are_errors_empty_segments_are_not),
                cmocka_unit_test(hostpci_rejects_impossible_and_malformed_ids),
                cmocka_unit_test(hostpci_id_overrides_need_0x_and_four_hex_digits),
                cmocka_unit_test(hostpci_romfile_takes_what_proxmox_takes),
                cmocka_unit_test(hostpci_error_quotes_control_bytes_safely),
                cmocka_unit_test(hostpci_line_feed_in_value),
                cmocka_unit_test(vmconf_proxmox_pci_ids_both_patterns),
                cmocka_unit_test(vmconf_bad_hostpci_value_is_dropped_with_a_warning),
                cmocka_unit_test(vmconf_hostpci_proxmox_refuses_at_start_is_a_warning),
                cmocka_unit_test(vmconf_upper_case_hostpci_touches_nothing),
                cmocka_unit_test(vmconf_junk_lines_are_skipped_with_a_warning),
                cmocka_unit_test(vmconf_hostpci_keys_beyond_15_are_unknown),
                cmocka_unit_test(vmconf_duplicate_keys_last_valid_one_wins),
                cmocka_unit_test(vmconf_section_headers),
                cmocka_unit_test(vmconf_what_proxmox_takes_is_passed),
                cmocka_unit_test(vmconf_snapstate_line_is_not_a_hostpci),
                cmocka_unit_test(vmconf_delete_outside_pending_is_warned),
                cmocka_unit_test(vmconf_warnings_are_capped),
                cmocka_unit_test(vmconf_only_the_current_section_counts),
                cmocka_unit_test(vmconf_keys_we_store),
                cmocka_unit_test(vmconf_hostpci15_is_the_last),
                cmocka_unit_test(vmconf_description_lines_are_ignored),
                cmocka_unit_test(vmconf_crlf_line_endings),
                cmocka_unit_test(vmconf_size_limit_is_1_mib),
                cmocka_unit_test(vmconf_overlong_args_line_is_fine),
                cmocka_unit_test(vmconf_never_reads_past_len),
                cmocka_unit_test(vmconf_reboot_is_a_proxmox_boolean),
                cmocka_unit_test(vmconf_empty_values),
                cmocka_unit_test(vmconf_nul_byte_is_an_ordinary_byte),
                cmocka_unit_test(vmconf_every_real_config_parses),
                cmocka_unit_test(vmconf_qemu_server_section_tests_read_only_the_current_config),
                cmocka_unit_test(vmconf_snapshot_hostpci_lines_do_not_change_the_result),
                cmocka_unit_test(vmconf_hostpci10_written_before_hostpci2),
                cmocka_unit_test(vmconf_commented_hostpci_is_description),
                cmocka_unit_test(vmconf_hookscript_and_igd_fixtures),
                cmocka_unit_test(vmconf_qemu_server_driver_keep_test),
                cmocka_unit_test(vmconf_qemu_server_x_pci_overrides_and_multifunction_tests),
                cmocka_unit_test(vmconf_qemu_server_mapping_test),
                cmocka_unit_test(vmconf_qemu_server_hostpci_tests_as_they_are),
                cmocka_unit_test(vmconf_vmd_domain_round_trips_through_sysfs_names),
                cmocka_unit_test(vmconf_load_reads_the_vm_config_under_the_root),
                cmocka_unit_test(vmconf_load_missing_config),
                cmocka_unit_test(vmconf_load_after_migration_reads_the_source_node),
                cmocka_unit_test(vmconf_load_symlink_loop_and_oversized_file),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
