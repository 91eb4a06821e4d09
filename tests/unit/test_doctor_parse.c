/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The readers behind `doctor`: kernel logs in every format found in the wild (the real logs of
 * tests/fixtures/real/dmesg), modprobe.d files and kernel command lines (../hostconf). */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "doctor/doctor_host.h"
#include "doctor/doctor_kmsg.h"
#include "doctor/doctor_modprobe.h"
#include "testutil.h"

static char *read_real(const char *rel)
{
        char path[PATH_MAX];
        char *text = NULL;

        snprintf(path, sizeof(path), "%s/%s", real_fixtures(), rel);
        if (read_full_file(path, 16 * 1024 * 1024, &text, NULL) < 0)
                fail_msg("cannot read %s", path);
        return text;
}

static struct kmsg_log *parse_log(const char *rel)
{
        _cleanup_free_ char *text = read_real(rel);
        struct kmsg_log *log = kmsg_log_new();

        assert_non_null(log);
        assert_int_equal(kmsg_parse_text(log, text, strlen(text)), 0);
        return log;
}

static const struct kmsg_event *expect_event(const struct kmsg_log *log, enum kmsg_kind kind, const char *slot,
                                             unsigned count)
{
        const struct kmsg_event *e = kmsg_log_find(log, kind, slot);

        if (!e) {
                for (size_t i = 0; i < log->n; i++)
                        print_message("  %s %s x%u %s\n", kmsg_kind_to_string(log->v[i].kind), log->v[i].slot,
                                      log->v[i].count, log->v[i].text);
                fail_msg("no %s event for '%s'", kmsg_kind_to_string(kind), slot);
        }
        assert_int_equal(e->count, count);
        return e;
}

static void test_full_pve_boot_log_has_only_the_amd_vi_note(void **state)
{
        /* 977 lines of a real PVE 6.5 boot: nothing in it is trouble except amd_iommu=on */
        struct kmsg_log *log = parse_log("dmesg/pve-6.5-boot-ryzen5700u-amd-vi-unknown-option-on-iommu-groups-full.txt");

        (void)state;
        assert_true(log->n_lines > 900);
        assert_int_equal(log->n, 1);
        expect_event(log, KMSG_AMD_VI_OPTION, "", 1);
        assert_true(kmsg_kind_host_wide(KMSG_AMD_VI_OPTION));
        kmsg_log_free(log);
}

static void test_dmesg_flr_backoff_folds_into_one_event(void **state)
{
        struct kmsg_log *log = parse_log("dmesg/vfio-pci-not-ready-after-flr-matisse-hda-usb-dmesg-format.txt");
        const struct kmsg_event *e;

        (void)state;
        e = expect_event(log, KMSG_FLR_NOT_READY, "0000:0c:00.3", 7);
        assert_string_equal(e->first_time, "[ 2423.556570]");
        assert_string_equal(e->time, "[ 2496.387544]");
        assert_string_equal(e->text, "vfio-pci 0000:0c:00.3: not ready 65535ms after FLR; giving up");
        assert_int_equal(kmsg_kind_status(e->kind), DOCTOR_FAIL);
        kmsg_log_free(log);
}

static void test_syslog_prefixed_journal_lines(void **state)
{
        /* "May 23 22:59:46 mesquite kernel: ..." plus an elision line and a soft lockup */
        struct kmsg_log *log = parse_log("dmesg/vfio-pci-not-ready-after-flr-giving-up-soft-lockup-amd-starship-usb.txt");
        const struct kmsg_event *e;

        (void)state;
        e = expect_event(log, KMSG_FLR_NOT_READY, "0000:05:00.3", 5);
        assert_string_equal(e->time, "May 23 23:01:00");
        assert_non_null(kmsg_log_find(log, KMSG_SOFT_LOCKUP, ""));
        kmsg_log_free(log);
}

static void test_nvrm_multiline_message_is_joined(void **state)
{
        /* the address is on the first line, "fallen off the bus" on the third, indented, untimed */
        struct kmsg_log *log = parse_log("dmesg/nvrm-l40-26b5-fallen-off-the-bus-multiline-no-xid.txt");
        const struct kmsg_event *e;

        (void)state;
        e = expect_event(log, KMSG_FALLEN_OFF_BUS, "0000:b3:00.0", 1);
        assert_string_equal(e->time, "[ 1843.308145]");
        assert_non_null(strstr(e->text, "(PCI ID: 10de:26b5)"));
        kmsg_log_free(log);
}

/* NVIDIA's Xid form names the GPU as "PCI:DDDD:BB:DD" (the form quoted in the source of the l40
 * fixture, NVIDIA/NVSentinel issue 155): the event belongs to function 0 of that slot. */
static void test_nvrm_xid_pci_prefix_names_the_slot(void **state)
{
        static const char text[] = "[ 1843.308145] NVRM: Xid (PCI:0000:44:00): 79, GPU has fallen off the bus.\n"
                                   "[ 1900.000001] NVRM: Xid (PCI:0000:45:00): 154, GPU recovery action changed from 0x0 "
                                   "(None) to 0x2 (Node Reboot Required)\n";
        struct kmsg_log *log = kmsg_log_new();

        (void)state;
        assert_non_null(log);
        assert_int_equal(kmsg_parse_text(log, text, strlen(text)), 0);
        expect_event(log, KMSG_FALLEN_OFF_BUS, "0000:44:00.0", 1);
        expect_event(log, KMSG_XID, "0000:45:00.0", 1);
        kmsg_log_free(log);
}

static void test_mail_wrapped_bar_lines_are_joined(void **state)
{
        struct kmsg_log *log = parse_log("dmesg/rebar-tb3-egpu-bar-cant-assign-no-space-resize.txt");
        const struct kmsg_event *e;

        (void)state;
        e = expect_event(log, KMSG_BAR_ASSIGN, "0000:08:00.0", 4);
        assert_string_equal(e->first_time, "[ 1769.797557]");
        assert_string_equal(e->text, "pci 0000:08:00.0: BAR 3 [mem size 0x02000000 64bit pref]: failed to assign");
        kmsg_log_free(log);
}

static void test_mail_quoted_journal_lines(void **state)
{
        /* "> May 14 21:37:35 pve2 kernel: ..." as quoted in a GitHub comment */
        struct kmsg_log *log = parse_log("dmesg/vendor-reset-780m-navi12-rom-bogus-alignment-psp-no-ack-failed-reset-trimmed.txt");
        const struct kmsg_event *e;

        (void)state;
        e = expect_event(log, KMSG_CANNOT_RESET, "0000:c8:00.0", 1);
        assert_string_equal(e->time, "May 14 21:37:35");
        assert_string_equal(e->text, "vfio-pci 0000:c8:00.0: AMD_NAVI12: failed to reset device");
        kmsg_log_free(log);
}

static void test_kernel_messages_by_kind(void **state)
{
        static const struct {
                const char *file;
                enum kmsg_kind kind;
                const char *slot;
                unsigned count;
        } cases[] = {
                { "dmesg/arc-a770-vfio-d3cold-not-ready-after-resume-linux-pci-2023.txt", KMSG_RESUME_NOT_READY, "0000:03:00.0", 8 },
                { "dmesg/arc-a770-vfio-d3cold-not-ready-after-resume-linux-pci-2023.txt", KMSG_LINK_DOWN, "0000:00:01.0", 2 },
                { "dmesg/kata-vfio-d3cold-to-d0-inaccessible-flr-anyway.txt", KMSG_D3COLD, "0000:01:00.0", 3 },
                { "dmesg/nvidia-not-ready-after-resume-d3cold-rminitadapter-trimmed.txt", KMSG_DRIVER_INIT_FAILED, "0000:01:00.0", 3 },
                { "dmesg/nvrm-rminitadapter-failed-0x22-0x56-894-cmp40hx-xid79-trimmed.txt", KMSG_DRIVER_INIT_FAILED, "0000:01:00.0", 5 },
                { "dmesg/amdgpu-wx3100-ring-uvd-test-failed-fatal-error-gpu-init.txt", KMSG_DRIVER_INIT_FAILED, "0000:01:00.0", 1 },
                { "dmesg/nouveau-refused-to-change-power-state-currently-in-d3.txt", KMSG_POWER_REFUSED, "0000:01:00.0", 3 },
                { "dmesg/proxmox-qm-start-reset-inappropriate-ioctl-rx9070.txt", KMSG_CANNOT_RESET, "0000:7b:00.0", 2 },
                { "dmesg/uhd630-vm-start-invalid-rom-signature-cannot-reset-no-reset-mechanism-igd-lpc.txt", KMSG_CANNOT_RESET, "0000:00:1f.3", 2 },
                { "dmesg/uhd630-vm-start-invalid-rom-signature-cannot-reset-no-reset-mechanism-igd-lpc.txt", KMSG_ROM, "0000:00:02.0", 4 },
                { "dmesg/pve-start-amd-igpu-failed-reset-and-group-not-owned-trimmed.txt", KMSG_GROUP_NOT_OWNED, "0000:7a:00.6", 1 },
                { "dmesg/pve-journal-aer-acsviol-uncorrectable-nonfatal-device-recovery-failed-trimmed.txt", KMSG_ACS_VIOLATION, "0000:80:1b.4", 1 },
                { "dmesg/pve-journal-aer-acsviol-uncorrectable-nonfatal-device-recovery-failed-trimmed.txt", KMSG_AER_UNCORRECTABLE, "0000:80:1b.4", 4 },
                { "dmesg/aer-correctable-badtlp-timeout-gpu-rootport-before-fallen-off-bus-trimmed.txt", KMSG_AER_CORRECTABLE, "0000:00:03.1", 4 },
                { "dmesg/vfio-pci-bar0-cant-reserve-amd-vega8-igpu.txt", KMSG_BAR_RESERVE, "0000:05:00.0", 1 },
                { "dmesg/boot-enum-rtx-gpu-bar1-assigned-to-efifb-audio-1aef-trimmed.txt", KMSG_BAR_EFIFB, "0000:0a:00.0", 1 },
                { "dmesg/igd-dmar-pte-read-fault-guest-reboot-trimmed.txt", KMSG_IOMMU_FAULT, "0000:00:02.0", 3 },
                { "dmesg/qemu-vfio-no-iommu-group-found-and-cmdline.txt", KMSG_NO_IOMMU, "", 1 },
                { "dmesg/qubes-libxl-pci-cannot-be-assigned-no-iommu.txt", KMSG_NO_IOMMU, "", 1 },
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct kmsg_log *log = parse_log(cases[i].file);

                expect_event(log, cases[i].kind, cases[i].slot, cases[i].count);
                kmsg_log_free(log);
        }
}

static void test_benign_logs_have_no_events(void **state)
{
        static const char *const files[] = {
                "dmesg/vfio-pci-boot-vgaarb-changed-decodes-and-ids-add-quadro-p1000.txt",
                "dmesg/vendor-reset-navi10-5600xt-psp-mode1-reset-trimmed.txt",
                "dmesg/blackwell-10de-2f04-enumeration-sriov-vf-bars-trimmed.txt",
                "dmesg/pve-host-no-iommu-on-cmdline-dmar-present-skip-iommu-disabling-graphics-trimmed.txt",
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                struct kmsg_log *log = parse_log(files[i]);

                if (log->n)
                        fail_msg("%s: unexpected %s: %s", files[i], kmsg_kind_to_string(log->v[0].kind), log->v[0].text);
                kmsg_log_free(log);
        }
}

static void test_kmsg_records_and_their_metadata(void **state)
{
        static const char text[] =
                "6,1201,86085388,-;pcieport 0000:00:01.0: Data Link Layer Link Active not set in 1000 msec\n"
                " SUBSYSTEM=pci\n"
                " DEVICE=+pci:0000:00:01.0\n"
                "3,1202,155615409,-,caller=T42;vfio-pci 0000:04:00.0: not ready 65535ms after resume; giving up\n"
                "6,1203,155700000,c;unrelated: continuation lines of a record are not messages\n";
        struct kmsg_log *log = kmsg_log_new();
        const struct kmsg_event *e;

        (void)state;
        assert_int_equal(kmsg_parse_text(log, text, sizeof(text) - 1), 0);
        assert_int_equal(log->n_lines, 3);
        e = expect_event(log, KMSG_LINK_DOWN, "0000:00:01.0", 1);
        assert_string_equal(e->time, "[   86.085388]");
        assert_string_equal(e->text, "pcieport 0000:00:01.0: Data Link Layer Link Active not set in 1000 msec");
        e = expect_event(log, KMSG_RESUME_NOT_READY, "0000:04:00.0", 1);
        assert_string_equal(e->time, "[  155.615409]");
        kmsg_log_free(log);
}

static struct modprobe_conf *parse_conf(const char *rel, const char *as)
{
        _cleanup_free_ char *text = read_real(rel);
        struct modprobe_conf *c = calloc(1, sizeof(*c));

        assert_non_null(c);
        assert_int_equal(modprobe_conf_parse(c, text, as), 0);
        return c;
}

static void test_only_the_last_ids_line_counts(void **state)
{
        /* five 'options vfio-pci ids=' lines (and three commented-out ones) */
        struct modprobe_conf *c = parse_conf("hostconf/iroger-modprobe-vfio-multiple-options-lines.conf",
                                             "/etc/modprobe.d/vfio.conf");
        const struct modprobe_entry *e;
        size_t n = 0;

        (void)state;
        e = modprobe_conf_vfio_ids(c, &n);
        assert_int_equal(n, 5);
        assert_string_equal(e->value, "14e4:43a0");
        assert_int_equal(e->line, 14);
        assert_true(modprobe_ids_has(c->v[0].value, 0x1002, 0xab20));
        assert_false(modprobe_ids_has(e->value, 0x1002, 0x66af));
        modprobe_conf_free(c);
}

static void test_softdep_needs_a_space_after_pre(void **state)
{
        struct modprobe_conf *broken = parse_conf("hostconf/pvebak-modprobe-vfio-softdep-drm-disable_vga.conf",
                                                  "/etc/modprobe.d/vfio.conf");
        struct modprobe_conf *good = parse_conf("hostconf/arc-a770-modprobe-vfio-softdep-drm-pre-space.conf",
                                                "/etc/modprobe.d/vfio.conf");
        const struct modprobe_entry *e;

        (void)state;
        e = modprobe_conf_find(broken, MODPROBE_SOFTDEP_BROKEN, "drm");
        assert_non_null(e);
        assert_int_equal(e->line, 1);
        assert_null(modprobe_conf_find(broken, MODPROBE_SOFTDEP_VFIO, "drm"));
        e = modprobe_conf_find(good, MODPROBE_SOFTDEP_VFIO, "drm");
        assert_non_null(e);
        assert_int_equal(e->line, 4); /* after the '$ cat' prompt line, which is ignored */
        assert_string_equal(modprobe_conf_vfio_ids(good, NULL)->value, "8086:56a0,8086:4f90");
        modprobe_conf_free(broken);
        modprobe_conf_free(good);
}

static void test_blacklists_and_install_false(void **state)
{
        struct modprobe_conf *c = parse_conf("hostconf/andreipaul-modprobe-passthrough-combined-options-and-blacklists.conf",
                                             "/etc/modprobe.d/passthrough.conf");
        static const char extra[] = "install nvidia_drm /bin/false\n"
                                    "options vfio-pci \\\n"
                                    "\tids=10de:2204,10de:1aef\n";

        (void)state;
        assert_non_null(modprobe_conf_blacklisted(c, "nouveau"));
        assert_non_null(modprobe_conf_blacklisted(c, "snd-hda-intel")); /* '-' and '_' are the same */
        assert_null(modprobe_conf_blacklisted(c, "amdgpu"));
        assert_string_equal(modprobe_conf_vfio_ids(c, NULL)->value, "8086:3a38,8086:3a39");
        assert_int_equal(modprobe_conf_parse(c, extra, "/etc/modprobe.d/extra.conf"), 0);
        assert_non_null(modprobe_conf_blacklisted(c, "nvidia-drm"));
        /* a line continued with '\' */
        assert_string_equal(modprobe_conf_vfio_ids(c, NULL)->value, "10de:2204,10de:1aef");
        assert_int_equal(modprobe_conf_vfio_ids(c, NULL)->line, 2);
        modprobe_conf_free(c);
}

static void test_command_line_module_options_come_last(void **state)
{
        char dir[] = "/tmp/pgr-doctor-parse-XXXXXX", path[PATH_MAX];
        struct modprobe_conf *c = NULL;
        struct kmodinfo *km = NULL;
        struct pgr_ctx ctx;
        size_t n = 0;
        FILE *f;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/etc", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/etc/modprobe.d", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/etc/modprobe.d/vfio.conf", dir);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs("options vfio-pci ids=10de:2206\n", f);
        fclose(f);
        assert_int_equal(pgr_ctx_init(&ctx, dir, "pve"), 0);
        assert_int_equal(kmodinfo_new(&ctx, "6.8.12-4-pve", &km), 0);
        /* the first GRUB line of the real technomagniaque notes: vfio-pci.ids= four times */
        assert_int_equal(modprobe_conf_load(&ctx, km,
                                            "vfio-pci.ids=8086:1521 amd_iommu=pt pci=realloc pci=assign-busses "
                                            "module_blacklist=nouveau vfio-pci.ids=10de:2206 vfio-pci.ids=10de:1aef "
                                            "vfio-pci.ids=10de:1b38",
                                            &c),
                         0);
        assert_int_equal(c->n_files, 1);
        assert_string_equal(modprobe_conf_vfio_ids(c, &n)->value, "10de:1b38");
        assert_int_equal(n, 5);
        assert_string_equal(modprobe_conf_vfio_ids(c, NULL)->file, "/proc/cmdline");
        assert_non_null(modprobe_conf_blacklisted(c, "nouveau"));
        modprobe_conf_free(c);
        kmodinfo_free(km);
        unlink(path);
        snprintf(path, sizeof(path), "%s/etc/modprobe.d", dir);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/etc", dir);
        rmdir(path);
        rmdir(dir);
}

static void test_command_line_values(void **state)
{
        static const char cmdline[] = "BOOT_IMAGE=/boot/vmlinuz root=ZFS=rpool/ROOT/pve-1 intel_iommu=on iommu=pt "
                                      "video=efifb:off,vesafb:off quiet pcie_acs_override=downstream,multifunction";
        char v[64];

        (void)state;
        assert_string_equal(cmdline_value(cmdline, "iommu", v, sizeof(v)), "pt");
        assert_string_equal(cmdline_value(cmdline, "intel_iommu", v, sizeof(v)), "on");
        assert_string_equal(cmdline_value(cmdline, "quiet", v, sizeof(v)), "");
        assert_null(cmdline_value(cmdline, "amd_iommu", v, sizeof(v)));
        assert_true(cmdline_has(cmdline, "video", "vesafb:off"));
        assert_true(cmdline_has(cmdline, "pcie_acs_override", "multifunction"));
        assert_false(cmdline_has(cmdline, "video", "simplefb:off"));
        assert_false(cmdline_has(cmdline, "iommu", "on")); /* intel_iommu=on is another key */
}

static void write_file(const char *dir, const char *rel, const char *text)
{
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                mkdir(path, 0755);
                *p = '/';
        }
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_grub_and_systemd_boot_command_lines(void **state)
{
        _cleanup_free_ char *grub = read_real("hostconf/pvebak-default-grub-intel-iommu-video-off.txt");
        _cleanup_free_ char *kcmd = read_real("hostconf/adrianlsy-etc-kernel-cmdline-systemd-boot-zfs-isolcpus.txt");
        char dir[] = "/tmp/pgr-doctor-boot-XXXXXX";
        struct doctor_host *h = NULL;
        struct pgr_ctx ctx;

        (void)state;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(pgr_ctx_init(&ctx, dir, "pve"), 0);
        write_file(dir, "etc/default/grub", grub);
        write_file(dir, "proc/sys/kernel/osrelease", "6.8.12-4-pve\n");
        assert_int_equal(doctor_host_load(&ctx, &h), 0);
        assert_string_equal(h->boot_file, "/etc/default/grub");
        assert_true(cmdline_has(h->boot_cmdline, "intel_iommu", "on"));
        assert_true(cmdline_has(h->boot_cmdline, "video", "efifb:off"));
        assert_false(h->have_cmdline);
        assert_int_equal(h->kmajor, 6);
        assert_int_equal(h->kminor, 8);
        assert_int_equal(h->n_iommu_groups, -1);
        doctor_host_free(h);
        /* /etc/kernel/cmdline wins: the host boots with systemd-boot */
        write_file(dir, "etc/kernel/cmdline", kcmd);
        assert_int_equal(doctor_host_load(&ctx, &h), 0);
        assert_string_equal(h->boot_file, "/etc/kernel/cmdline");
        assert_true(cmdline_has(h->boot_cmdline, "isolcpus", "2-7"));
        doctor_host_free(h);

        assert_int_equal(rm_rf(dir), 0);
}

/* A kern.log larger than the 4 MiB kmsg_load reads: only its tail counts, the line the cut lands in
 * is dropped (it would be half a message), and a message at the very end is found. */
static void test_long_kern_log_is_read_from_its_last_4_mib(void **state)
{
        char dir[] = "/tmp/pgr-kmsg-tail-XXXXXX", path[PATH_MAX];
        _cleanup_(kmsg_log_freep) struct kmsg_log *log = NULL;
        struct pgr_ctx ctx;
        FILE *f;

        (void)state;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(pgr_ctx_init(&ctx, dir, "pve"), 0);
        write_file(dir, "var/log/kern.log", "");
        snprintf(path, sizeof(path), "%s/var/log/kern.log", dir);
        f = fopen(path, "we");
        assert_non_null(f);
        /* at the start, outside the tail: must not be found */
        fputs("[    1.000000] vfio-pci 0000:01:00.0: not ready 65535ms after FLR; giving up\n", f);
        for (int i = 0; i < 70000; i++) /* 70000 * 64 bytes = 4.27 MiB */
                fprintf(f, "[%5d.000000] filler line that matches no known message, padded to 64 b\n", 10000 + i % 80000);
        fputs("[99999.000000] NVRM: GPU at PCI:0000:02:00: GPU has fallen off the bus.\n", f);
        fclose(f);

        assert_int_equal(kmsg_load(&ctx, &log), 0);
        assert_true(log->available);
        assert_non_null(kmsg_log_find(log, KMSG_FALLEN_OFF_BUS, NULL));
        assert_null(kmsg_log_find(log, KMSG_FLR_NOT_READY, NULL));
        assert_true(log->n_lines > 50000 && log->n_lines < 60000); /* ~57000 of the 70002 lines fit in 4 MiB */
        assert_int_equal(rm_rf(dir), 0);
}

/* What takes effect is what libkmod parsed, each entry at the line the scan found it on: a softdep
 * with a post: part (kmod 30 hands it back as "pre: vfio-pcipost: ..."), blacklists, install
 * /bin/false, the ids= of the options line read last; a 'pre:vfio-pci' line is the lint's, and not when
 * another line makes the softdep. */
static void test_effective_configuration_with_places(void **state)
{
        char dir[] = "/tmp/pgr-doctor-kmod-XXXXXX";
        struct modprobe_conf *c = NULL;
        struct kmodinfo *km = NULL;
        const struct modprobe_entry *e;
        struct pgr_ctx ctx;
        size_t n = 0;

        (void)state;
        assert_non_null(mkdtemp(dir));
        write_file(dir, "etc/modprobe.d/vfio.conf",
                   "# GPU\n"
                   "softdep nouveau pre: vfio-pci post: snd_hda_intel\n"
                   "options vfio-pci ids=10de:1b81\n"
                   "softdep drm pre:vfio-pci\n"
                   "softdep amdgpu pre:vfio-pci\n"
                   "softdep amdgpu pre: vfio-pci\n");
        write_file(dir, "run/modprobe.d/blacklist.conf", "blacklist radeon\ninstall nvidiafb /bin/false\n"
                   "options vfio_pci ids=10de:1b81,10de:10f0\n");
        assert_int_equal(pgr_ctx_init(&ctx, dir, "pve"), 0);
        assert_int_equal(kmodinfo_new(&ctx, "6.8.12-4-pve", &km), 0);
        assert_int_equal(modprobe_conf_load(&ctx, km, "", &c), 0);
        e = modprobe_conf_find(c, MODPROBE_SOFTDEP_VFIO, "nouveau");
        assert_non_null(e);
        assert_string_equal(e->file, "/etc/modprobe.d/vfio.conf");
        assert_int_equal(e->line, 2);
        e = modprobe_conf_blacklisted(c, "radeon");
        assert_non_null(e);
        assert_string_equal(e->file, "/run/modprobe.d/blacklist.conf");
        assert_int_equal(e->line, 1);
        e = modprobe_conf_blacklisted(c, "nvidiafb");
        assert_non_null(e);
        assert_int_equal(e->kind, MODPROBE_INSTALL_FALSE);
        /* kmod reads files in name order across the directories: blacklist.conf, then vfio.conf */
        e = modprobe_conf_vfio_ids(c, &n);
        assert_int_equal(n, 2);
        assert_string_equal(e->value, "10de:1b81");
        assert_string_equal(e->file, "/etc/modprobe.d/vfio.conf");
        assert_int_equal(e->line, 3);
        e = modprobe_conf_find(c, MODPROBE_SOFTDEP_BROKEN, "drm");
        assert_non_null(e);
        assert_int_equal(e->line, 4);
        assert_null(modprobe_conf_find(c, MODPROBE_SOFTDEP_BROKEN, "amdgpu")); /* line 6 makes it */
        assert_int_equal(modprobe_conf_find(c, MODPROBE_SOFTDEP_VFIO, "amdgpu")->line, 6);
        modprobe_conf_free(c);
        kmodinfo_free(km);
        assert_int_equal(rm_rf(dir), 0);
}

/* vfio-pci has no reset_method parameter (drivers/vfio/pci/vfio_pci.c: ids, nointxmask,
 * disable_vga, disable_idle_d3, enable_sriov, disable_denylist): the line is found, with its place. */
static void test_vfio_pci_reset_method_option_is_found(void **state)
{
        static const char text[] = "options vfio-pci ids=10de:1b06,10de:10ef\n"
                                   "# options vfio-pci reset_method=flr\n"
                                   "options vfio_pci disable_vga=1 reset_method=bus\n";
        struct modprobe_conf *c = calloc(1, sizeof(*c));
        const struct modprobe_entry *e;

        (void)state;
        assert_non_null(c);
        assert_int_equal(modprobe_conf_parse(c, text, "/etc/modprobe.d/vfio.conf"), 0);
        e = modprobe_conf_find(c, MODPROBE_VFIO_RESET_METHOD, NULL);
        assert_non_null(e);
        assert_string_equal(e->value, "reset_method=bus");
        assert_int_equal(e->line, 3);
        assert_string_equal(modprobe_conf_vfio_ids(c, NULL)->value, "10de:1b06,10de:10ef");
        modprobe_conf_free(c);
}

static void test_cpu_and_node_lists(void **state)
{
        uint64_t b[DOCTOR_CPUSET_MAX / 64];

        (void)state;
        assert_int_equal(doctor_cpuset_parse("0-13,28-41", 10, ',', b), 0);
        assert_int_equal(b[0], (0x3fffULL) | (0x3fffULL << 28));
        assert_int_equal(doctor_cpuset_parse("0,5,8-11", 8, ',', b), 0);
        assert_int_equal(b[0], 0xf21ULL);
        assert_int_equal(doctor_cpuset_parse("0-1;3", 5, ';', b), 0);
        assert_int_equal(b[0], 0xbULL);
        assert_int_equal(doctor_cpuset_parse("1023", 4, ',', b), 0);
        assert_int_equal(b[15], 1ULL << 63);
        assert_int_equal(doctor_cpuset_parse("", 0, ',', b), -EINVAL);
        assert_int_equal(doctor_cpuset_parse("3-1", 3, ',', b), -EINVAL);
        assert_int_equal(doctor_cpuset_parse("1024", 4, ',', b), -EINVAL);
        assert_int_equal(doctor_cpuset_parse("0;1", 3, ',', b), -EINVAL);
        assert_int_equal(doctor_cpuset_parse("a", 1, ',', b), -EINVAL);
        assert_int_equal(doctor_cpuset_parse("1,", 2, ',', b), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_pve_boot_log_has_only_the_amd_vi_note),
                cmocka_unit_test(test_dmesg_flr_backoff_folds_into_one_event),
                cmocka_unit_test(test_syslog_prefixed_journal_lines),
                cmocka_unit_test(test_nvrm_multiline_message_is_joined),
                cmocka_unit_test(test_nvrm_xid_pci_prefix_names_the_slot),
                cmocka_unit_test(test_mail_wrapped_bar_lines_are_joined),
                cmocka_unit_test(test_mail_quoted_journal_lines),
                cmocka_unit_test(test_kernel_messages_by_kind),
                cmocka_unit_test(test_benign_logs_have_no_events),
                cmocka_unit_test(test_kmsg_records_and_their_metadata),
                cmocka_unit_test(test_only_the_last_ids_line_counts),
                cmocka_unit_test(test_vfio_pci_reset_method_option_is_found),
                cmocka_unit_test(test_cpu_and_node_lists),
                cmocka_unit_test(test_softdep_needs_a_space_after_pre),
                cmocka_unit_test(test_blacklists_and_install_false),
                cmocka_unit_test(test_command_line_module_options_come_last),
                cmocka_unit_test(test_effective_configuration_with_places),
                cmocka_unit_test(test_command_line_values),
                cmocka_unit_test(test_grub_and_systemd_boot_command_lines),
                cmocka_unit_test(test_long_kern_log_is_read_from_its_last_4_mib),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
