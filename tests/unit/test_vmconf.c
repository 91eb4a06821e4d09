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

#include "vmconf.h"
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

static void parse_fails(const char *text, int expect_r, const char *expect_msg)
{
        struct pgr_error err = {};
        struct vmconf *c = NULL;
        int r = vmconf_parse(text, strlen(text), "100.conf", &c, &err);

        if (r >= 0)
                fail_msg("'%s' parsed, expected: %s", text, expect_msg);
        assert_int_equal(r, expect_r);
        assert_null(c);
        assert_string_equal(err.msg, expect_msg);
}

static void hostpci_ok(const char *value, struct hostpci *h)
{
        struct pgr_error err = {};
        int r = hostpci_parse(value, h, &err);

        if (r < 0)
                fail_msg("'%s': unexpected error %d: %s", value, r, err.msg);
        assert_true(h->present);
}

static void hostpci_fails(const char *value, const char *expect_msg)
{
        struct pgr_error err = {};
        struct hostpci h;
        int r;

        memset(&h, 0x5a, sizeof(h)); /* untouched on failure: no free of garbage either */
        r = hostpci_parse(value, &h, &err);
        if (r >= 0)
                fail_msg("'%s' parsed, expected: %s", value, expect_msg);
        assert_int_equal(r, -EINVAL);
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

/* ---- hostpci grammar ---- */

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

        hostpci_ok("0000:0A:1F.7", &h); /* upper-case hex is read as hex */
        assert_addr(&h.ids[0], "0000:0a:1f.7");
        hostpci_done(&h);

        hostpci_ok("pcie=1,01:00", &h); /* Proxmox takes the bare value wherever it stands */
        assert_addr(&h.ids[0], "0000:01:00");
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

static void hostpci_sixteen_ids_fit_seventeen_do_not(void **state)
{
        char v[512] = "", v17[600];
        struct hostpci h;

        (void)state;
        for (int i = 0; i < HOSTPCI_MAX_IDS; i++)
                snprintf(v + strlen(v), sizeof(v) - strlen(v), "%s01:%02x.0", i ? ";" : "", i);
        hostpci_ok(v, &h);
        assert_int_equal(h.n_ids, HOSTPCI_MAX_IDS);
        assert_addr(&h.ids[15], "0000:01:0f.0");
        hostpci_done(&h);

        snprintf(v17, sizeof(v17), "%s;02:00.0", v);
        {
                struct pgr_error err = {};

                assert_int_equal(hostpci_parse(v17, &h, &err), -EINVAL);
                assert_non_null(strstr(err.msg, "more than 16 PCI IDs"));
        }
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

static void hostpci_bad_boolean_names_option_and_value(void **state)
{
        (void)state;
        hostpci_fails("01:00,pcie=2", "invalid boolean '2' for 'pcie' (expected 1|on|yes|true or 0|off|no|false) in "
                                      "'01:00,pcie=2'");
        hostpci_fails("01:00,x-vga=y", "invalid boolean 'y' for 'x-vga' (expected 1|on|yes|true or 0|off|no|false) "
                                       "in '01:00,x-vga=y'");
        hostpci_fails("01:00,rombar= 1", "invalid boolean ' 1' for 'rombar' (expected 1|on|yes|true or "
                                         "0|off|no|false) in '01:00,rombar= 1'");
}

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
        hostpci_fails("01:00,driver=nvidia", "invalid driver 'nvidia' (expected vfio or keep) in '01:00,driver=nvidia'");
        hostpci_fails("01:00,driver=KEEP", "invalid driver 'KEEP' (expected vfio or keep) in '01:00,driver=KEEP'");
}

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
        hostpci_fails("01:00.0,mdev=../x", "invalid mdev type '../x' in '01:00.0,mdev=../x'");
        hostpci_fails("01:00.0,mdev=nvidia:63", "invalid mdev type 'nvidia:63' in '01:00.0,mdev=nvidia:63'");
        hostpci_fails("01:00.0,mdev=a/b", "invalid mdev type 'a/b' in '01:00.0,mdev=a/b'");
}

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
        hostpci_fails("mapping=1gpu", "invalid mapping name '1gpu' (expected [a-z][a-z0-9_-]+) in 'mapping=1gpu'");
        hostpci_fails("mapping=g", "invalid mapping name 'g' (expected [a-z][a-z0-9_-]+) in 'mapping=g'");
        hostpci_fails("mapping=gpu.0", "invalid mapping name 'gpu.0' (expected [a-z][a-z0-9_-]+) in 'mapping=gpu.0'");
}

static void hostpci_host_and_mapping_are_exclusive_and_one_is_required(void **state)
{
        (void)state;
        hostpci_fails("01:00,mapping=gpu", "'host' and 'mapping' are exclusive in '01:00,mapping=gpu'");
        hostpci_fails("mapping=gpu,host=01:00", "'host' and 'mapping' are exclusive in 'mapping=gpu,host=01:00'");
        hostpci_fails("pcie=1,x-vga=1", "neither a PCI ID ('host') nor 'mapping' in 'pcie=1,x-vga=1'");
}

static void hostpci_unknown_option_names_it(void **state)
{
        (void)state;
        hostpci_fails("01:00,foo=1", "unknown option 'foo' in '01:00,foo=1'");
        hostpci_fails("01:00, pcie=1", "unknown option ' pcie' in '01:00, pcie=1'"); /* no trimming, as Proxmox */
        hostpci_fails("01:00,PCIE=1", "unknown option 'PCIE' in '01:00,PCIE=1'");
        hostpci_fails("01:00,=1", "unknown option '' in '01:00,=1'");
}

static void hostpci_duplicate_options_are_errors(void **state)
{
        (void)state;
        hostpci_fails("01:00,pcie=1,pcie=0", "duplicate option 'pcie' in '01:00,pcie=1,pcie=0'");
        hostpci_fails("01:00,host=02:00", "duplicate option 'host' in '01:00,host=02:00'");
        hostpci_fails("01:00,02:00", "duplicate option 'host' in '01:00,02:00'");
        hostpci_fails("mapping=a1,mapping=b1", "duplicate option 'mapping' in 'mapping=a1,mapping=b1'");
}

static void hostpci_empty_values_are_errors_empty_segments_are_not(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_fails("01:00,pcie=", "empty value for 'pcie' in '01:00,pcie='");
        hostpci_fails("host=,pcie=1", "empty value for 'host' in 'host=,pcie=1'");
        hostpci_fails("01:00,romfile=", "empty value for 'romfile' in '01:00,romfile='");
        hostpci_fails("", "empty value");
        /* parse_property_string skips empty segments */
        hostpci_ok("01:00,,pcie=1,", &h);
        assert_int_equal(h.pcie, 1);
        hostpci_done(&h);
}

static void hostpci_rejects_impossible_and_malformed_ids(void **state)
{
        static const struct {
                const char *v, *msg;
        } cases[] = {
                { "1:00", "invalid PCI ID '1:00': expected [DDDD:]BB:SS[.F] in '1:00'" },
                { "01:0", "invalid PCI ID '01:0': expected [DDDD:]BB:SS[.F] in '01:0'" },
                { "01:00.", "invalid PCI ID '01:00.': expected [DDDD:]BB:SS[.F] in '01:00.'" },
                { "01:00.8", "invalid PCI ID '01:00.8': function 8 is out of range (0-7) in '01:00.8'" },
                { "01:00.f", "invalid PCI ID '01:00.f': function f is out of range (0-7) in '01:00.f'" },
                { "01:20.0", "invalid PCI ID '01:20.0': device number 20 is out of range (00-1f) in '01:20.0'" },
                { "00:ff.1", "invalid PCI ID '00:ff.1': device number ff is out of range (00-1f) in '00:ff.1'" },
                { "g1:00", "invalid PCI ID 'g1:00': expected [DDDD:]BB:SS[.F] in 'g1:00'" },
                { "0000:01:00.0.1", "invalid PCI ID '0000:01:00.0.1': expected [DDDD:]BB:SS[.F] in '0000:01:00.0.1'" },
                { "01:00;", "invalid PCI ID '': expected [DDDD:]BB:SS[.F] in '01:00;'" },
                { ";01:00", "invalid PCI ID '': expected [DDDD:]BB:SS[.F] in ';01:00'" },
                { "000:01:00.0", "invalid PCI ID '000:01:00.0': expected [DDDD:]BB:SS[.F] in '000:01:00.0'" },
                { "10000:e1:00.0", "invalid PCI ID '10000:e1:00.0': domain '10000' has more than 4 hex digits (not "
                                   "supported) in '10000:e1:00.0'" },
                { "01:00 ", "invalid PCI ID '01:00 ': expected [DDDD:]BB:SS[.F] in '01:00 '" },
                { "0000:0000:01:00", "invalid PCI ID '0000:0000:01:00': expected [DDDD:]BB:SS[.F] in "
                                     "'0000:0000:01:00'" },
                { "../100", "invalid PCI ID '../100': expected [DDDD:]BB:SS[.F] in '../100'" },
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                hostpci_fails(cases[i].v, cases[i].msg);
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
        hostpci_fails("01:00,vendor-id=10de", "invalid vendor-id '10de' (expected 0x and 4 hex digits) in "
                                             "'01:00,vendor-id=10de'");
        hostpci_fails("01:00,device-id=0x123", "invalid device-id '0x123' (expected 0x and 4 hex digits) in "
                                              "'01:00,device-id=0x123'");
        hostpci_fails("01:00,sub-vendor-id=0x12345", "invalid sub-vendor-id '0x12345' (expected 0x and 4 hex "
                                                    "digits) in '01:00,sub-vendor-id=0x12345'");
        hostpci_fails("01:00,sub-device-id=0xgggg", "invalid sub-device-id '0xgggg' (expected 0x and 4 hex "
                                                   "digits) in '01:00,sub-device-id=0xgggg'");
}

static void hostpci_romfile_stays_below_usr_share_kvm(void **state)
{
        struct hostpci h;

        (void)state;
        hostpci_ok("01:00,romfile=Gigabyte.RTX2080Super.8192.190820.rom", &h);
        assert_string_equal(h.romfile, "Gigabyte.RTX2080Super.8192.190820.rom");
        hostpci_done(&h);
        hostpci_ok("01:00,romfile=sub/..rom", &h); /* "..rom" is a name, not a '..' component */
        hostpci_done(&h);
        hostpci_fails("01:00,romfile=/etc/shadow", "invalid romfile '/etc/shadow' (a file name below /usr/share/kvm, "
                                                  "no '/' at the start, no '..') in '01:00,romfile=/etc/shadow'");
        hostpci_fails("01:00,romfile=../../etc/x", "invalid romfile '../../etc/x' (a file name below /usr/share/kvm, "
                                                  "no '/' at the start, no '..') in '01:00,romfile=../../etc/x'");
        hostpci_fails("01:00,romfile=a/..", "invalid romfile 'a/..' (a file name below /usr/share/kvm, no '/' at the "
                                           "start, no '..') in '01:00,romfile=a/..'");
        hostpci_fails("01:00,romfile=a;b", "invalid romfile 'a;b' (a file name below /usr/share/kvm, no '/' at the "
                                          "start, no '..') in '01:00,romfile=a;b'");
}

static void hostpci_error_quotes_control_bytes_safely(void **state)
{
        (void)state;
        hostpci_fails("01:00,\x1b[31m=1", "unknown option '?[31m' in '01:00,?[31m=1'");
}

/* ---- the config file ---- */

static void vmconf_error_names_file_line_and_key(void **state)
{
        (void)state;
        parse_fails("cores: 2\nmemory: 4096\nhostpci0: 01:00,foo=1\n", -EINVAL,
                    "100.conf:3: hostpci0: unknown option 'foo' in '01:00,foo=1'");
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
        parse_fails("reboot: maybe\n", -EINVAL, "100.conf:1: reboot: invalid boolean 'maybe'");
}

static void vmconf_duplicate_keys_are_errors(void **state)
{
        (void)state;
        parse_fails("hostpci0: 01:00\ncores: 2\nhostpci0: 02:00\n", -EINVAL, "100.conf:3: duplicate key 'hostpci0'");
        parse_fails("cores: 2\ncores: 4\n", -EINVAL, "100.conf:2: duplicate key 'cores'");
        parse_fails("boot:\nboot: order=scsi0\n", -EINVAL, "100.conf:2: duplicate key 'boot'");
}

static void vmconf_hostpci_keys_beyond_15_are_unknown(void **state)
{
        (void)state;
        parse_fails("hostpci16: 01:00\n", -EINVAL, "100.conf:1: unknown key 'hostpci16' (hostpci0 to hostpci15)");
        parse_fails("hostpcix: 01:00\n", -EINVAL, "100.conf:1: unknown key 'hostpcix' (hostpci0 to hostpci15)");
        parse_fails("hostpci: 01:00\n", -EINVAL, "100.conf:1: unknown key 'hostpci' (hostpci0 to hostpci15)");
        parse_fails("hostpci01: 01:00\n", -EINVAL, "100.conf:1: unknown key 'hostpci01' (hostpci0 to hostpci15)");
        parse_fails("hostpci100: 01:00\n", -EINVAL, "100.conf:1: unknown key 'hostpci100' (hostpci0 to hostpci15)");
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

static void vmconf_line_without_key_value_is_an_error(void **state)
{
        (void)state;
        parse_fails("cores: 1\ngarbage\n", -EINVAL, "100.conf:2: expected 'key: value', got 'garbage'");
        parse_fails(" hostpci0: 01:00\n", -EINVAL, "100.conf:1: expected 'key: value', got ' hostpci0: 01:00'");
        parse_fails("Cores: 1\n", -EINVAL, "100.conf:1: expected 'key: value', got 'Cores: 1'");
        parse_fails("hostpci0 01:00\n", -EINVAL, "100.conf:1: expected 'key: value', got 'hostpci0 01:00'");
        parse_fails("net0x: virtio\n", -EINVAL, "100.conf:1: expected 'key: value', got 'net0x: virtio'");
}

static void vmconf_empty_values(void **state)
{
        struct vmconf *c;

        (void)state;
        c = parse_ok("boot:  \ncores: 1\n"); /* real PVE 6 configs have this; not ours, ignored */
        vmconf_free(c);
        parse_fails("hostpci0:\n", -EINVAL, "100.conf:1: hostpci0: empty value");
        parse_fails("hostpci0:   \n", -EINVAL, "100.conf:1: hostpci0: empty value");
        parse_fails("hookscript: \n", -EINVAL, "100.conf:1: hookscript: empty value");
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

static void vmconf_nul_byte_names_its_line(void **state)
{
        static const char text[] = "cores: 1\nhostpci0: 01:00\0,pcie=1\nmemory: 512\n";
        struct pgr_error err = {};
        struct vmconf *c = NULL;

        (void)state;
        assert_int_equal(vmconf_parse(text, sizeof(text) - 1, "100.conf", &c, &err), -EINVAL);
        assert_null(c);
        assert_string_equal(err.msg, "100.conf:2: NUL byte in the file");

        /* even in a snapshot section: the file is damaged */
        static const char text2[] = "cores: 1\n[snap]\nx\0";
        assert_int_equal(vmconf_parse(text2, sizeof(text2) - 1, "100.conf", &c, &err), -EINVAL);
        assert_string_equal(err.msg, "100.conf:3: NUL byte in the file");
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
        /* cut after "hostpci0:" */
        assert_int_equal(vmconf_parse(exact, 9, "100.conf", &c, &err), -EINVAL);
        assert_string_equal(err.msg, "100.conf:1: hostpci0: empty value");
        /* empty input is an empty config */
        assert_int_equal(vmconf_parse(exact, 0, "100.conf", &c, &err), 0);
        assert_false(c->hostpci[0].present);
        vmconf_free(c);
        free(exact);
}

/* ---- real configs ---- */

/* Configs that must fail, and why: Proxmox's own cfg2cmd tests use device numbers above 1f that no
 * kernel can have (Proxmox would stop at "no PCI device found"), and one README excerpt starts with
 * the shell command that printed it. */
static const struct {
        const char *file, *msg;
} expected_failures[] = {
        { "pvehelpers-204-description-commands-hookscript-exec-cmds-elided.conf",
          "pvehelpers-204-description-commands-hookscript-exec-cmds-elided.conf:1: expected 'key: value', got 'cat "
          "/etc/pve/qemu-server/204.conf'" },
        { "qemu-server-test-i440fx-win10-hostpci.conf",
          "qemu-server-test-i440fx-win10-hostpci.conf:6: hostpci0: invalid PCI ID '0f:f2.0': device number f2 is out "
          "of range (00-1f) in '0f:f2.0'" },
        { "qemu-server-test-q35-linux-hostpci-driver-keep.conf",
          "qemu-server-test-q35-linux-hostpci-driver-keep.conf:6: hostpci0: invalid PCI ID '00:ff.1': device number ff "
          "is out of range (00-1f) in '00:ff.1,driver=keep'" },
        { "qemu-server-test-q35-linux-hostpci-multifunction.conf",
          "qemu-server-test-q35-linux-hostpci-multifunction.conf:6: hostpci0: invalid PCI ID 'f0:43': device number "
          "43 is out of range (00-1f) in 'f0:43'" },
        { "qemu-server-test-q35-linux-hostpci-template.conf",
          "qemu-server-test-q35-linux-hostpci-template.conf:6: hostpci0: invalid PCI ID '00:ff.1': device number ff "
          "is out of range (00-1f) in '00:ff.1'" },
        { "qemu-server-test-q35-linux-hostpci-x-pci-overrides.conf",
          "qemu-server-test-q35-linux-hostpci-x-pci-overrides.conf:6: hostpci0: invalid PCI ID '00:ff.1': device "
          "number ff is out of range (00-1f) in "
          "'00:ff.1,vendor-id=0x1234,device-id=0x5678,sub-vendor-id=0x2233,sub-device-id=0x0000'" },
        { "qemu-server-test-q35-linux-hostpci.conf",
          "qemu-server-test-q35-linux-hostpci.conf:6: hostpci0: invalid PCI ID '00:ff.1': device number ff is out of "
          "range (00-1f) in '00:ff.1'" },
        { "qemu-server-test-q35-win10-hostpci.conf",
          "qemu-server-test-q35-win10-hostpci.conf:6: hostpci0: invalid PCI ID 'f0:42.0': device number 42 is out of "
          "range (00-1f) in 'f0:42.0'" },
};

static void check_dir(const char *dir, unsigned *ret_ok, unsigned *ret_failed)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                fail_msg("cannot open %s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                size_t nl = strlen(de->d_name);
                char path[PATH_MAX], *text = NULL;
                const char *expect = NULL;
                struct pgr_error err = {};
                struct vmconf *c = NULL;
                size_t len = 0;
                int r;

                if (nl < 6 || strcmp(de->d_name + nl - 5, ".conf") != 0)
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(expected_failures); i++)
                        if (streq(expected_failures[i].file, de->d_name))
                                expect = expected_failures[i].msg;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                assert_int_equal(read_full_file(path, VMCONF_MAX_SIZE, &text, &len), 0);
                r = vmconf_parse(text, len, de->d_name, &c, &err);
                free(text);
                if (expect) {
                        if (r >= 0)
                                fail_msg("%s parsed but should fail with: %s", de->d_name, expect);
                        assert_string_equal(err.msg, expect);
                        (*ret_failed)++;
                } else {
                        if (r < 0)
                                fail_msg("%s: %s", de->d_name, err.msg);
                        (*ret_ok)++;
                }
                vmconf_free(c);
        }
        closedir(d);
}

static void vmconf_every_real_config_parses_or_fails_as_expected(void **state)
{
        char dir[PATH_MAX];
        unsigned ok = 0, failed = 0;

        (void)state;
        snprintf(dir, sizeof(dir), "%s/vmconf", real_fixtures());
        check_dir(dir, &ok, &failed);
        assert_int_equal(failed, ELEMENTSOF(expected_failures));
        assert_true(ok >= 30);
        snprintf(dir, sizeof(dir), "%s/vmconf/qemu-server-parse-config", real_fixtures());
        ok = failed = 0;
        check_dir(dir, &ok, &failed);
        assert_int_equal(failed, 0);
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

        write_file(root.dir, "/etc/pve/qemu-server/101.conf", "cores: 1\nhostpci0: 01:00,bogus=1\n");
        assert_int_equal(vmconf_load(&root.ctx, 101, NULL, &c, &err), -EINVAL);
        assert_string_equal(err.msg, "/etc/pve/qemu-server/101.conf:2: hostpci0: unknown option 'bogus' in "
                                     "'01:00,bogus=1'");
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
                cmocka_unit_test(hostpci_semicolon_list_keeps_order),
                cmocka_unit_test(hostpci_sixteen_ids_fit_seventeen_do_not),
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
                cmocka_unit_test(hostpci_romfile_stays_below_usr_share_kvm),
                cmocka_unit_test(hostpci_error_quotes_control_bytes_safely),
                cmocka_unit_test(vmconf_error_names_file_line_and_key),
                cmocka_unit_test(vmconf_only_the_current_section_counts),
                cmocka_unit_test(vmconf_keys_we_store),
                cmocka_unit_test(vmconf_reboot_is_a_proxmox_boolean),
                cmocka_unit_test(vmconf_duplicate_keys_are_errors),
                cmocka_unit_test(vmconf_hostpci_keys_beyond_15_are_unknown),
                cmocka_unit_test(vmconf_hostpci15_is_the_last),
                cmocka_unit_test(vmconf_line_without_key_value_is_an_error),
                cmocka_unit_test(vmconf_empty_values),
                cmocka_unit_test(vmconf_description_lines_are_ignored),
                cmocka_unit_test(vmconf_crlf_line_endings),
                cmocka_unit_test(vmconf_nul_byte_names_its_line),
                cmocka_unit_test(vmconf_size_limit_is_1_mib),
                cmocka_unit_test(vmconf_overlong_args_line_is_fine),
                cmocka_unit_test(vmconf_never_reads_past_len),
                cmocka_unit_test(vmconf_every_real_config_parses_or_fails_as_expected),
                cmocka_unit_test(vmconf_qemu_server_section_tests_read_only_the_current_config),
                cmocka_unit_test(vmconf_snapshot_hostpci_lines_do_not_change_the_result),
                cmocka_unit_test(vmconf_hostpci10_written_before_hostpci2),
                cmocka_unit_test(vmconf_commented_hostpci_is_description),
                cmocka_unit_test(vmconf_hookscript_and_igd_fixtures),
                cmocka_unit_test(vmconf_qemu_server_driver_keep_test),
                cmocka_unit_test(vmconf_qemu_server_x_pci_overrides_and_multifunction_tests),
                cmocka_unit_test(vmconf_qemu_server_mapping_test),
                cmocka_unit_test(vmconf_load_reads_the_vm_config_under_the_root),
                cmocka_unit_test(vmconf_load_missing_config),
                cmocka_unit_test(vmconf_load_after_migration_reads_the_source_node),
                cmocka_unit_test(vmconf_load_symlink_loop_and_oversized_file),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
