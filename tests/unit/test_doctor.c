/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `doctor` on fixture hosts ($PGR_FIXTURES/<host>, built by tests/fixtures/mktree from the real host
 * configs, kernel logs and lspci dumps of tests/fixtures/real): for each host, the check that must
 * pass or fail, with its status, device and fix. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "doctor/doctor.h"
#include "doctor/doctor_report.h"
#include "testutil.h"

static void fixture_root(const char *host, char *buf, size_t size)
{
        const char *fx = getenv("PGR_FIXTURES");

        assert_non_null(fx); /* tests/run-unit.sh sets it */
        snprintf(buf, size, "%s/%s", fx, host);
}

/* mktree writes every file 0644; Proxmox wants an executable hookscript. */
static void make_snippet_executable(const char *root)
{
        char path[PATH_MAX + 64];

        snprintf(path, sizeof(path), "%s/var/lib/vz/snippets/pve-gpu-reset", root);
        (void)chmod(path, 0755);
}

static struct doctor_report *doctor_on(const char *host, const char *node, unsigned long vmid)
{
        struct doctor_report *rep = NULL;
        struct pgr_error err = {};
        struct pgr_ctx ctx;
        char root[PATH_MAX];
        int r;

        fixture_root(host, root, sizeof(root));
        make_snippet_executable(root);
        assert_int_equal(pgr_ctx_init(&ctx, root, node), 0);
        r = doctor_collect(&ctx, vmid, NULL, &rep, &err);
        if (r < 0)
                fail_msg("doctor on %s: %s (%s)", host, strerror(-r), err.msg);
        assert_non_null(rep);
        return rep;
}

static void dump(const struct doctor_report *rep)
{
        for (size_t i = 0; i < rep->n; i++)
                print_message("  %s %s %s: %s | fix: %s\n", doctor_status_to_string(rep->v[i].status), rep->v[i].id,
                              rep->v[i].slot[0] ? rep->v[i].slot : "-", rep->v[i].message,
                              rep->v[i].fix ? rep->v[i].fix : "-");
}

/* The finding with this id, slot ("" host-wide) and status whose message holds needle. */
static const struct doctor_finding *expect(const struct doctor_report *rep, const char *id, const char *slot,
                                           enum doctor_status st, const char *needle)
{
        for (size_t i = 0; i < rep->n; i++) {
                const struct doctor_finding *f = &rep->v[i];

                if (streq(f->id, id) && streq(f->slot, slot) && f->status == st && (!needle || strstr(f->message, needle)))
                        return f;
        }
        dump(rep);
        fail_msg("no %s finding %s for '%s' containing '%s'", doctor_status_to_string(st), id, slot[0] ? slot : "(host)",
                 needle ? needle : "");
        return NULL;
}

static void expect_fix(const struct doctor_finding *f, const char *needle)
{
        if (!f->fix || !strstr(f->fix, needle))
                fail_msg("fix of %s (%s) lacks '%s': %s", f->id, f->message, needle, f->fix ? f->fix : "(none)");
}

static void expect_none_worse_than(const struct doctor_report *rep, enum doctor_status st)
{
        for (size_t i = 0; i < rep->n; i++)
                if (rep->v[i].status > st && rep->v[i].status != DOCTOR_INFO) {
                        dump(rep);
                        fail_msg("unexpected %s %s: %s", doctor_status_to_string(rep->v[i].status), rep->v[i].id,
                                 rep->v[i].message);
                }
}

static const char *const rtx2080ti[] = { "0000:02:00.0", "0000:02:00.1", "0000:02:00.2", "0000:02:00.3" };

static void test_healthy_host_every_check_ok(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-healthy", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        assert_int_equal(doctor_report_verdict(rep), DOCTOR_OK);
        expect_none_worse_than(rep, DOCTOR_OK);
        expect(rep, "iommu", "", DOCTOR_OK, "IOMMU on");
        expect(rep, "cmdline", "", DOCTOR_OK, "intel_iommu=on iommu=pt");
        expect(rep, "kernel", "", DOCTOR_OK, "Linux 6.8.12-4-pve");
        expect(rep, "kernel", "", DOCTOR_OK, "vfio, vfio_iommu_type1, vfio_pci loaded");
        expect(rep, "modprobe", "", DOCTOR_OK, "vfio-pci ids=10de:1e07,10de:10f7,10de:1ad6,10de:1ad7");
        expect(rep, "modprobe", "", DOCTOR_OK, "nouveau blacklisted (/etc/modprobe.d/blacklist.conf:2)");
        /* the real /etc/modules still lists vfio_virqfd: worth a note, not a warning */
        f = expect(rep, "modprobe", "", DOCTOR_INFO, "vfio_virqfd");
        expect_fix(f, "delete line 9 (vfio_virqfd) from /etc/modules");
        expect(rep, "kernel-log", "", DOCTOR_OK, "no known trouble in the kernel log (/var/log/kern.log");
        expect(rep, "vm", "", DOCTOR_OK, "VM 100: hostpci0 0000:02:00 pcie=1 x-vga=1; q35, ovmf, hookscript");
        /* qemu-server QemuServer.pm config_to_command: reboot: 0 is QEMU's -no-reboot; CLI/qm.pm
         * cleanup restarts the VM only for an API reboot (clear_reboot_request, /run/qemu-server/
         * <vmid>.reboot): a reboot inside the guest leaves the VM off */
        f = expect(rep, "vm", "", DOCTOR_INFO, "reboot: 0: a reboot inside the guest stops the VM");
        assert_non_null(strstr(f->message, "stays off"));
        expect(rep, "iommu-group", "0000:02:00.0", DOCTOR_OK, "IOMMU group 40: only this card's functions (4)");
        expect(rep, "reset", "0000:02:00.0", DOCTOR_OK, "Post-stop uses: flr");
        expect(rep, "bar", "0000:02:00.0", DOCTOR_OK, "BAR1 256 MiB 64-bit prefetchable above 4 GiB");
        for (size_t i = 0; i < ELEMENTSOF(rtx2080ti); i++) {
                expect(rep, "driver", rtx2080ti[i], DOCTOR_OK, "bound to vfio-pci");
                expect(rep, "power", rtx2080ti[i], DOCTOR_OK, "power_state D0, d3cold_allowed 0, power/control on, ASPM off");
                expect(rep, "bar", rtx2080ti[i], DOCTOR_OK, "all assigned");
        }
        /* functions without a reset of their own: the whole slot, through the root port */
        expect(rep, "reset", "0000:02:00.1", DOCTOR_OK, "slot reset through 0000:00:02.0 (reset_subordinate)");
}

static void test_healthy_host_wide_same_verdict(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-healthy", "pve", 0);

        (void)state;
        assert_int_equal(doctor_report_verdict(rep), DOCTOR_OK);
        assert_int_equal(rep->vmid, 0);
        assert_int_equal(rep->n_groups, 4);
        expect(rep, "driver", "0000:02:00.3", DOCTOR_OK, "bound to vfio-pci");
        expect(rep, "vm", "", DOCTOR_OK, "VM 100");
}

static void test_json_has_the_documented_shape(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-healthy", "pve", 100);
        struct json_object *o = NULL, *v, *checks;
        bool saw_host = false, saw_device = false;

        (void)state;
        assert_int_equal(doctor_report_to_json(rep, &o), 0);
        assert_true(json_object_object_get_ex(o, "verdict", &v));
        assert_string_equal(json_object_get_string(v), "ok");
        assert_true(json_object_object_get_ex(o, "checks", &checks));
        assert_int_equal(json_object_array_length(checks), rep->n);
        for (size_t i = 0; i < json_object_array_length(checks); i++) {
                struct json_object *c = json_object_array_get_idx(checks, i), *slot, *fix, *status;

                json_object_object_foreach(c, key, val) {
                        (void)val;
                        assert_true(streq(key, "id") || streq(key, "status") || streq(key, "slot") ||
                                    streq(key, "message") || streq(key, "fix"));
                }
                assert_true(json_object_object_get_ex(c, "slot", &slot));
                assert_true(json_object_object_get_ex(c, "fix", &fix));
                assert_true(json_object_object_get_ex(c, "status", &status));
                if (slot)
                        saw_device = true;
                else {
                        /* host-wide findings come first */
                        assert_false(saw_device);
                        saw_host = true;
                }
                if (streq(json_object_get_string(status), "ok"))
                        assert_null(fix);
        }
        assert_true(saw_host && saw_device);
        json_object_put(o);
}

static void test_no_iommu_fails_iommu_cmdline_group_and_log(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-no-iommu", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        assert_int_equal(doctor_report_verdict(rep), DOCTOR_FAIL);
        f = expect(rep, "iommu", "", DOCTOR_FAIL, "/sys/kernel/iommu_groups is empty");
        expect_fix(f, "enable VT-d");
        /* /etc/default/grub has intel_iommu=on, the running kernel does not: update-grub was forgotten */
        f = expect(rep, "cmdline", "", DOCTOR_FAIL, "no intel_iommu=on");
        expect_fix(f, "/etc/default/grub has intel_iommu=on but the running kernel was not booted with it: update-grub");
        f = expect(rep, "iommu-group", "0000:01:00.0", DOCTOR_FAIL, "no IOMMU group");
        expect_fix(f, "turn the IOMMU on");
        f = expect(rep, "kernel-log", "", DOCTOR_FAIL, "no iommu_group found");
        expect_fix(f, "BIOS/UEFI");
        expect(rep, "driver", "0000:01:00.0", DOCTOR_WARN, "no driver although vfio-pci is loaded");
}

static void test_nouveau_owns_the_card(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-nouveau", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(rep, "driver", "0000:01:00.0", DOCTOR_FAIL, "nouveau");
        expect_fix(f, "echo \"blacklist nouveau\" >> /etc/modprobe.d/blacklist.conf");
        expect_fix(f, "options vfio-pci ids=10de:1b06,10de:10ef");
        expect_fix(f, "update-initramfs -u -k all");
        expect(rep, "driver", "0000:01:00.1", DOCTOR_OK, "bound to vfio-pci");
        /* the real blacklist of an AMD host: HDA and AMD drivers, not nouveau */
        f = expect(rep, "modprobe", "", DOCTOR_WARN, "nouveau is not blacklisted");
        expect_fix(f, "blacklist nouveau");
        /* "kernel: nouveau 0000:01:00.0: Refused to change power state" three times, no time stamps */
        f = expect(rep, "kernel-log", "0000:01:00.0", DOCTOR_WARN, "Refused to change power state, currently in D3");
        assert_non_null(strstr(f->message, "(3 such messages"));
        expect_fix(f, "d3cold_allowed");
}

static void test_host_driver_needs_ids_and_softdep(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("host-driver", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(rep, "driver", "0000:01:00.0", DOCTOR_FAIL, "bound to the host driver nvidia");
        expect_fix(f, "echo \"options vfio-pci ids=10de:1b06,10de:10ef\" >> /etc/modprobe.d/vfio.conf");
        expect_fix(f, "echo \"softdep nvidia pre: vfio-pci\" >> /etc/modprobe.d/vfio.conf");
        f = expect(rep, "driver", "0000:01:00.1", DOCTOR_FAIL, "bound to the host driver snd_hda_intel");
        expect_fix(f, "softdep snd_hda_intel pre: vfio-pci");
        f = expect(rep, "modprobe", "", DOCTOR_WARN, "no 'options vfio-pci ids='");
        expect_fix(f, "echo \"options vfio-pci ids=10de:1b06,10de:10ef\" >> /etc/modprobe.d/vfio.conf && update-initramfs -u -k all");
        expect(rep, "modprobe", "", DOCTOR_WARN, "no 'softdep nvidia pre: vfio-pci'");
}

static void test_stale_vfio_ids_on_the_command_line(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-ids-mismatch", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        assert_int_equal(doctor_report_verdict(rep), DOCTOR_FAIL);
        f = expect(rep, "modprobe", "", DOCTOR_FAIL, "does not list 10de:1b06 (0000:0a:00.0), 10de:10ef (0000:0a:00.1)");
        assert_non_null(strstr(f->message, "the kernel command line"));
        expect_fix(f, "vfio-pci.ids=10de:1b81,10de:10f0,1002:73ff,1002:ab28,10de:1b06,10de:10ef");
        f = expect(rep, "cmdline", "", DOCTOR_WARN, "pcie_acs_override=downstream,multifunction");
        expect_fix(f, "/etc/default/grub");
        expect(rep, "cmdline", "", DOCTOR_INFO, "amd_iommu=on is not an option");
        /* AER on the root port above the card is reported under the card */
        f = expect(rep, "kernel-log", "0000:0a:00.0", DOCTOR_WARN, "(on its parent bridge)");
        assert_non_null(strstr(f->message, "severity=Correctable"));
        expect_fix(f, "pcie_aspm=off");
}

static void test_real_vfio_conf_misses_the_gt218_vga_id(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("gpu-audio-rootport", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        /* pvebak's vfio.conf: ids=10de:0be3,10de:10c5 (a GT 405), the GT218 VGA is 10de:0a65 */
        f = expect(rep, "modprobe", "", DOCTOR_FAIL, "does not list 10de:0a65 (0000:01:00.0)");
        expect_fix(f, "in /etc/modprobe.d/vfio.conf replace line 2 with: options vfio-pci ids=10de:0be3,10de:10c5,10de:0a65");
        /* and its 'softdep drm pre:vfio-pci' lacks the space kmod needs */
        f = expect(rep, "modprobe", "", DOCTOR_WARN, "'softdep drm pre:vfio-pci' (/etc/modprobe.d/vfio.conf:1) does nothing");
        expect_fix(f, "'pre: vfio-pci'");
}

static void test_group_shared_with_a_host_nic(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-shared-group", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(rep, "iommu-group", "0000:01:00.0", DOCTOR_FAIL, "0000:02:00.0 (Ethernet controller, in use by the host driver e1000e");
        assert_non_null(strstr(f->message, "group not viable"));
        expect_fix(f, "move the card to a slot with its own group");
        expect_fix(f, "pcie_acs_override");
        /* one finding per group: not repeated under the audio function */
        assert_null(doctor_report_find(rep, "iommu-group", "0000:01:00.1", NULL));
}

/* The pin: INFO before the VM first ran (pre-start will pin it), OK once reset_method holds it, WARN
 * when something set it back (e.g. echo default) after it was pinned. */
static void test_pin_as_the_policy_says(void **state)
{
        char root[PATH_MAX], rm[PATH_MAX + 64], dir[PATH_MAX + 64], rec[PATH_MAX + 128];
        const struct doctor_finding *f;
        FILE *fp;

        (void)state;
        fixture_root("doctor-healthy", root, sizeof(root));
        snprintf(rm, sizeof(rm), "%s/sys/bus/pci/devices/0000:02:00.0/reset_method", root);
        snprintf(dir, sizeof(dir), "%s/run/pve-gpu-reset", root);
        snprintf(rec, sizeof(rec), "%s/kernel-reset_method-0000:02:00.0", dir);
        {
                _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-healthy", "pve", 100);

                f = expect(rep, "pin", "0000:02:00.0", DOCTOR_INFO, "reset_method is 'flr bus' (the kernel's order); "
                                                                   "pre-start will pin it to flr");
                expect_fix(f, "echo flr > /sys/bus/pci/devices/0000:02:00.0/reset_method");
        }
        snprintf(rec, sizeof(rec), "%s/run", root);
        (void)mkdir(rec, 0755);
        (void)mkdir(dir, 0700);
        snprintf(rec, sizeof(rec), "%s/kernel-reset_method-0000:02:00.0", dir);
        assert_non_null(fp = fopen(rec, "we"));
        fputs("flr bus\n", fp);
        fclose(fp);
        {
                _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-healthy", "pve", 100);

                expect(rep, "pin", "0000:02:00.0", DOCTOR_WARN, "reset_method is 'flr bus', not the pin flr");
        }
        assert_non_null(fp = fopen(rm, "we"));
        fputs("flr\n", fp);
        fclose(fp);
        {
                _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-healthy", "pve", 100);

                expect(rep, "pin", "0000:02:00.0", DOCTOR_OK, "reset_method pinned to flr as the policy says");
        }
        /* back as the other tests know the tree */
        assert_non_null(fp = fopen(rm, "we"));
        fputs("flr bus\n", fp);
        fclose(fp);
        assert_int_equal(unlink(rec), 0);
}

/* An 'options vfio-pci reset_method=' line does nothing (no such parameter): a warning naming the
 * line, with the fix. */
static void test_vfio_reset_method_option_is_ineffective(void **state)
{
        char root[PATH_MAX], path[PATH_MAX + 64];
        const struct doctor_finding *f;
        FILE *fp;

        (void)state;
        fixture_root("doctor-healthy", root, sizeof(root));
        snprintf(path, sizeof(path), "%s/etc/modprobe.d/flr-off.conf", root);
        assert_non_null(fp = fopen(path, "we"));
        fputs("# keep FLR away\noptions vfio-pci reset_method=bus\n", fp);
        fclose(fp);
        {
                _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-healthy", "pve", 100);

                f = expect(rep, "modprobe", "", DOCTOR_WARN,
                           "'reset_method=bus' for vfio-pci (/etc/modprobe.d/flr-off.conf:2) does nothing");
                expect_fix(f, "delete reset_method=bus from /etc/modprobe.d/flr-off.conf line 2");
        }
        assert_int_equal(unlink(path), 0);
}

static void test_blackwell_flr_is_known_bad(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-blackwell", "pve-node-3", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(rep, "reset", "0000:43:00.0", DOCTOR_FAIL, "FLR is widely reported to hang these cards");
        expect_fix(f, "prefer a slot reset: policy devices.\"10de:2b85\".reset_methods = [\"slot\",\"remove-rescan\"]");
        expect(rep, "reset", "0000:43:00.1", DOCTOR_OK, "slot reset through 0000:40:01.1");
        /* the real pvesh mapping resolves on node pve-node-3 */
        expect(rep, "vm", "", DOCTOR_OK, "hostpci0 mapping=rtx5090 pcie=1 x-vga=1");
        expect(rep, "bar", "0000:43:00.0", DOCTOR_OK, "BAR1 32 GiB 64-bit prefetchable above 4 GiB");
}

static void test_navi_needs_vendor_reset(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *with = doctor_on("doctor-navi", "pve", 100);
        _cleanup_(doctor_report_freep) struct doctor_report *without = doctor_on("doctor-navi", "pve", 101);
        const struct doctor_finding *f;

        (void)state;
        expect(with, "reset", "0000:44:00.0", DOCTOR_OK, "Post-stop uses: device_specific");
        expect(with, "kernel-log", "", DOCTOR_OK, "no known trouble");
        assert_int_equal(doctor_report_verdict(with), DOCTOR_OK);
        f = expect(without, "reset", "0000:0b:00.0", DOCTOR_FAIL, "AMD Navi 14");
        expect_fix(f, "https://github.com/gnif/vendor-reset");
        expect_fix(f, "echo device_specific > /sys/bus/pci/devices/0000:0b:00.0/reset_method");
}

static void test_card_stuck_in_d3cold(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-d3cold", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(rep, "power", "0000:01:00.0", DOCTOR_FAIL, "power_state D3cold");
        expect_fix(f, "echo 0 > /sys/bus/pci/devices/0000:01:00.0/d3cold_allowed");
        expect(rep, "driver", "0000:01:00.0", DOCTOR_FAIL, "config space reads all 0xff");
        f = expect(rep, "kernel-log", "0000:01:00.0", DOCTOR_FAIL, "Unable to change power state from D3cold to D0");
        assert_non_null(strstr(f->message, "[586739.361008]"));
        assert_non_null(strstr(f->message, "(3 such messages, the first at [586739.359281])"));
}

static void test_bar_not_assigned(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-bar", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(rep, "bar", "0000:08:00.0", DOCTOR_FAIL, "BAR1 (512 MiB 64-bit), BAR3 (32 MiB 64-bit) not assigned");
        expect_fix(f, "Above 4G Decoding");
        /* the mail-wrapped "BAR 1 [mem size 0x20000000 64bit pref]:\ncan't assign; no space" lines, joined */
        f = expect(rep, "kernel-log", "0000:08:00.0", DOCTOR_WARN, "failed to assign");
        assert_non_null(strstr(f->message, "4 such messages"));
}

static void test_boot_gpu_keeps_the_framebuffer(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-efifb", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(rep, "cmdline", "0000:0a:00.0", DOCTOR_FAIL, "is the boot VGA device");
        assert_non_null(strstr(f->message, "BAR 1: assigned to efifb"));
        expect_fix(f, "add initcall_blacklist=sysfb_init");
        expect_fix(f, "to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then update-grub");
        expect(rep, "kernel-log", "0000:0a:00.0", DOCTOR_WARN, "assigned to efifb");
        f = expect(rep, "cmdline", "", DOCTOR_INFO, "amd_iommu=on is not an option");
        expect_fix(f, "remove amd_iommu=on");
        /* the healthy host's boot GPU is not the passed-through card: nothing to say */
}

static void test_policy_without_keep_awake_warns(void **state)
{
        char root[PATH_MAX], policy[] = "/tmp/pgr-doctor-policy-XXXXXX";
        static const char json[] = "{\"defaults\": {\"keep_awake\": false, \"aspm_off\": false}}";
        struct doctor_report *rep = NULL;
        struct pgr_error err = {};
        const struct doctor_finding *f;
        struct pgr_ctx ctx;
        int fd;

        (void)state;
        fd = mkstemp(policy);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, json, sizeof(json) - 1), (ssize_t)sizeof(json) - 1);
        close(fd);
        fixture_root("gpu-audio-rootport", root, sizeof(root));
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve"), 0);
        assert_int_equal(doctor_collect(&ctx, 100, policy, &rep, &err), 0);
        /* power/control auto and d3cold_allowed 1, and the hook is told not to fix it */
        f = expect(rep, "power", "0000:01:00.0", DOCTOR_WARN, "the policy turns keep_awake off");
        expect_fix(f, "set keep_awake true in the policy");
        expect(rep, "power", "0000:01:00.1", DOCTOR_WARN, "ASPM stays on (policy aspm_off false)");
        doctor_report_free(rep);
        rep = NULL;
        /* with the defaults the same facts are only a note: the hook keeps the card awake */
        assert_int_equal(doctor_collect(&ctx, 100, NULL, &rep, &err), 0);
        expect(rep, "power", "0000:01:00.0", DOCTOR_INFO, "the hook keeps it awake at every start and stop");
        doctor_report_free(rep);
        unlink(policy);
}

static void test_old_kernel_then_no_vfio(void **state)
{
        char root[PATH_MAX], path[PATH_MAX + 64];
        const struct doctor_finding *f;
        struct doctor_report *rep;

        (void)state;
        rep = doctor_on("doctor-old-kernel", "pve", 100);
        f = expect(rep, "kernel", "", DOCTOR_WARN, "Linux 5.4.203-1-pve is older than 5.15");
        expect_fix(f, "proxmox-default-kernel");
        expect(rep, "reset", "0000:01:00.0", DOCTOR_OK, "absent (kernel before 5.15: only 'reset')");
        doctor_report_free(rep);

        /* the same kernel without the vfio modules loaded: modules.dep does not have them either */
        fixture_root("doctor-old-kernel", root, sizeof(root));
        for (const char *const *m = (const char *const[]){ "vfio", "vfio_pci", "vfio_iommu_type1", NULL }; *m; m++) {
                snprintf(path, sizeof(path), "%s/sys/module/%s", root, *m);
                (void)rm_rf(path);
        }
        rep = doctor_on("doctor-old-kernel", "pve", 100);
        f = expect(rep, "kernel", "", DOCTOR_FAIL,
                   "vfio, vfio_iommu_type1, vfio_pci: neither loaded nor in /lib/modules/5.4.203-1-pve");
        expect_fix(f, "modinfo vfio-pci");
        doctor_report_free(rep);
}

static void test_flr_that_hangs_in_kmsg_records(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-flr-hang", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        /* dev/kmsg holds "prio,seq,usec,flags;msg" records with " KEY=value" metadata lines */
        f = expect(rep, "kernel-log", "0000:0c:00.3", DOCTOR_FAIL, "[ 2496.387544] \"vfio-pci 0000:0c:00.3: not ready 65535ms after FLR; giving up\"");
        assert_non_null(strstr(f->message, "(7 such messages, the first at [ 2423.556570])"));
        expect_fix(f, "devices.\"1022:149c\".reset_methods");
        f = expect(rep, "reset", "0000:0c:00.3", DOCTOR_FAIL, "The kernel log shows FLR hanging on this function");
        expect_fix(f, "neither applies to this VM yet");
}

/* pve-guest-common Mapping/PCI.pm assert_valid: id, subsystem-id, iommugroup (first path) and mdev of
 * every map line for this node must match sysfs, else qemu-server refuses the start. doctor VMID runs
 * the same checks (mapping_check) and names every mismatch, each with its fix: here the IOMMU group
 * renumbered (16 → the map's 17) and a subsystem id the card does not have. */
static void test_mapping_mismatches_each_fail_with_the_fix(void **state)
{
        static const char cfg[] = "nvidia-gpu\n"
                                  "\tmap id=10de:27b0,iommugroup=17,node=pve,path=0000:07:00,subsystem-id=10de:0000\n";
        char root[PATH_MAX], path[PATH_MAX + 64], saved[4096];
        const struct doctor_finding *f;
        struct doctor_report *rep;
        ssize_t n;
        int fd;

        (void)state;
        fixture_root("mapping", root, sizeof(root));
        snprintf(path, sizeof(path), "%s/etc/pve/mapping/pci.cfg", root);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        n = read(fd, saved, sizeof(saved));
        close(fd);
        assert_true(n > 0);

        rep = doctor_on("mapping", "pve", 100); /* the fixture's map matches */
        assert_null(doctor_report_find(rep, "vm", "", "mapping"));
        doctor_report_free(rep);

        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, cfg, sizeof(cfg) - 1), (ssize_t)sizeof(cfg) - 1);
        close(fd);
        rep = doctor_on("mapping", "pve", 100);
        f = expect(rep, "vm", "", DOCTOR_FAIL, "0000:07:00.0 has iommugroup 16, mapping expects 17");
        expect_fix(f, "pvesh set /cluster/mapping/pci/nvidia-gpu --map 'id=10de:27b0,iommugroup=16,node=pve,"
                      "path=0000:07:00,subsystem-id=10de:0000'");
        expect_fix(f, "Datacenter");
        f = expect(rep, "vm", "", DOCTOR_FAIL, "0000:07:00.0 has subsystem-id 10de:16fa, mapping expects 10de:0000");
        expect_fix(f, "--map 'id=10de:27b0,iommugroup=17,node=pve,path=0000:07:00,subsystem-id=10de:16fa'");
        assert_int_equal(doctor_report_verdict(rep), DOCTOR_FAIL);
        doctor_report_free(rep);

        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, saved, (size_t)n), n);
        close(fd);
}

static void test_vm_configs_that_go_wrong(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *r100 = doctor_on("doctor-vm", "pve", 100);
        _cleanup_(doctor_report_freep) struct doctor_report *r101 = doctor_on("doctor-vm", "pve", 101);
        _cleanup_(doctor_report_freep) struct doctor_report *r206 = doctor_on("doctor-vm", "pve", 206);
        _cleanup_(doctor_report_freep) struct doctor_report *r210 = doctor_on("doctor-vm", "pve", 210);
        _cleanup_(doctor_report_freep) struct doctor_report *all = doctor_on("doctor-vm", "pve", 0);
        const struct doctor_finding *f;

        (void)state;
        f = expect(r100, "vm", "", DOCTOR_FAIL, "pcie=1 needs a q35 machine, the VM has pc-i440fx-8.1");
        expect_fix(f, "qm set 100 --machine q35");
        f = expect(r100, "vm", "", DOCTOR_FAIL, "hookscript local:snippets/pve-gpu-reset does not exist");
        expect_fix(f, "pve-gpu-reset attach 100");
        /* the default reboot: 1 — a guest reboot is a reset inside QEMU, no hook phase runs */
        f = expect(r100, "vm", "", DOCTOR_INFO, "a reboot inside the guest runs no hook");
        expect_fix(f, "qm reboot 100");
        assert_null(strstr(f->fix, "--reboot 0"));

        f = expect(r101, "vm", "", DOCTOR_FAIL, "hardware probably changed");
        assert_non_null(strstr(f->message, "0000:07:00.0 has id 10de:1b06"));
        expect_fix(f, "Resource Mappings");

        f = expect(r206, "vm", "", DOCTOR_FAIL, "no PCI device at 0000:02:00");
        assert_non_null(strstr(f->message, "206.conf:17"));
        expect(r206, "vm", "", DOCTOR_FAIL, "no PCI device at 0000:04:00");
        f = expect(r206, "vm", "", DOCTOR_WARN, "its hookscript is local:snippets/exec-cmds");
        expect_fix(f, "keeps local:snippets/exec-cmds as the chained hookscript");

        expect(r210, "vm", "", DOCTOR_FAIL, "no PCI device at 0000:0f:00.4");
        f = expect(r210, "vm", "", DOCTOR_WARN, "pve-gpu-reset is not its hookscript");
        expect_fix(f, "qm set 210 --hookscript local:snippets/pve-gpu-reset");

        /* host-wide: every VM's findings, and the card two VMs share */
        expect(all, "vm", "", DOCTOR_FAIL, "VM 101 hostpci0");
        expect(all, "vm", "", DOCTOR_FAIL, "VM 206 hostpci1");
        expect(all, "vm", "", DOCTOR_INFO, "VM 210 hostpci0: 0000:01:00.0 is also hostpci0 of VM 100");
}

/* Where an attached VM's chained hookscript is recorded: a chain still in the policy file (0.1's
 * attach put it there) keeps working and is said with the way to move it; a state file the hook
 * cannot use fails every run of the hook and is a failing finding. */
static void test_chain_recorded_by_0_1_and_a_bad_state_file(void **state)
{
        char root[PATH_MAX], policy[PATH_MAX + 32], dir[PATH_MAX + 32], file[PATH_MAX + 64];
        const struct doctor_finding *f;
        struct doctor_report *rep;

        (void)state;
        fixture_root("doctor-healthy", root, sizeof(root));
        snprintf(policy, sizeof(policy), "%s/etc/pve-gpu-reset.json", root);
        snprintf(dir, sizeof(dir), "%s/etc/pve-gpu-reset.d", root);
        snprintf(file, sizeof(file), "%s/vm-100.json", dir);
        write_text(policy, "{\"vms\": {\"100\": {\"hookscript\": \"/var/lib/vz/snippets/old.sh\"}}}\n");
        rep = doctor_on("doctor-healthy", "pve", 100);
        f = expect(rep, "vm", "", DOCTOR_INFO, "its chained hookscript /var/lib/vz/snippets/old.sh is recorded as "
                   "vms.100.hookscript in the policy file, where pve-gpu-reset 0.1 kept it; it keeps working");
        expect_fix(f, "pve-gpu-reset detach 100 && pve-gpu-reset attach 100, then delete vms.100.hookscript");
        doctor_report_free(rep);

        assert_int_equal(mkdir_p(dir, 0755), 0);
        write_text(file, "{\"format\": 1}\n");
        rep = doctor_on("doctor-healthy", "pve", 100);
        f = expect(rep, "vm", "", DOCTOR_FAIL, "its attach state cannot be used (/etc/pve-gpu-reset.d/vm-100.json: "
                   "vmid: expected a number)");
        expect_fix(f, "remove /etc/pve-gpu-reset.d/vm-100.json");
        assert_null(doctor_report_find(rep, "vm", "", "0.1 kept it"));
        doctor_report_free(rep);

        assert_int_equal(unlink(file), 0);
        assert_int_equal(rmdir(dir), 0);
        assert_int_equal(unlink(policy), 0);
}

static void test_missing_vm_is_a_failing_finding(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("doctor-healthy", "pve", 999);
        const struct doctor_finding *f;

        (void)state;
        f = expect(rep, "vm", "", DOCTOR_FAIL, "/etc/pve/qemu-server/999.conf");
        expect_fix(f, "qm list");
        assert_int_equal(rep->n_groups, 0);
}

struct scratch {
        char dir[64];
};

static void scratch_root(struct scratch *s, const char *conf)
{
        char path[PATH_MAX];
        FILE *f;

        snprintf(s->dir, sizeof(s->dir), "/tmp/pgr-doctor-XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        snprintf(path, sizeof(path), "%s/etc/pve/qemu-server", s->dir);
        for (char *p = path + strlen(s->dir) + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                mkdir(path, 0755);
                *p = '/';
        }
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/etc/pve/qemu-server/100.conf", s->dir);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(conf, f);
        fclose(f);
}

/* qemu-server QemuServer.pm parse_vm_config drops a hostpci value it cannot parse with a warning and
 * starts the VM without it: not bad input, a warning finding naming file:line, for the VM and
 * host-wide. */
static void test_dropped_hostpci_is_a_warning_finding(void **state)
{
        struct doctor_report *rep = NULL;
        struct pgr_error err = {};
        struct scratch s;
        struct pgr_ctx ctx;

        (void)state;
        scratch_root(&s, "hostpci0: 01:00,foo=1\n");
        assert_int_equal(pgr_ctx_init(&ctx, s.dir, "pve"), 0);
        assert_int_equal(doctor_collect(&ctx, 100, NULL, &rep, &err), 0);
        expect(rep, "vm", "", DOCTOR_WARN, "100.conf:1");
        expect(rep, "vm", "", DOCTOR_WARN, "foo");
        doctor_report_free(rep);
        rep = NULL;
        assert_int_equal(doctor_collect(&ctx, 0, NULL, &rep, &err), 0);
        expect(rep, "vm", "", DOCTOR_WARN, "100.conf:1");
        doctor_report_free(rep);
        (void)rm_rf(s.dir);
}

static void test_bad_policy_is_bad_input(void **state)
{
        struct doctor_report *rep = NULL;
        struct pgr_error err = {};
        char root[PATH_MAX], policy[] = "/tmp/pgr-doctor-policy-XXXXXX";
        struct pgr_ctx ctx;
        int fd;

        (void)state;
        fd = mkstemp(policy);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{\"defaults\": {", 14), 14);
        close(fd);
        fixture_root("doctor-healthy", root, sizeof(root));
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve"), 0);
        assert_true(doctor_collect(&ctx, 100, policy, &rep, &err) < 0);
        assert_null(rep);
        assert_non_null(strstr(err.msg, policy));
        unlink(policy);
}

/* Every file with its size and mtime, and every symlink with its target. */
static char *tree_listing;
static size_t tree_len;

static int list_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        char line[PATH_MAX + 128], target[PATH_MAX] = "";

        (void)ftw;
        if (flag == FTW_SL) {
                ssize_t n = readlink(p, target, sizeof(target) - 1);

                target[n > 0 ? n : 0] = '\0';
        }
        snprintf(line, sizeof(line), "%s %o %lld %lld.%09ld %s\n", p, st->st_mode, (long long)st->st_size,
                 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, target);
        tree_listing = realloc(tree_listing, tree_len + strlen(line) + 1);
        assert_non_null(tree_listing);
        memcpy(tree_listing + tree_len, line, strlen(line) + 1);
        tree_len += strlen(line);
        return 0;
}

static char *snapshot(const char *root)
{
        char *s;

        tree_listing = NULL;
        tree_len = 0;
        assert_int_equal(nftw(root, list_one, 16, FTW_PHYS), 0);
        s = tree_listing;
        tree_listing = NULL;
        return s;
}

/* Writes text to <root of host>/rel (creating nothing but the file). */
static void write_fixture_file(const char *host, const char *rel, const char *text)
{
        char root[PATH_MAX], path[PATH_MAX + 256];
        FILE *f;

        fixture_root(host, root, sizeof(root));
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        f = fopen(path, "we");
        if (!f)
                fail_msg("%s: %s", path, strerror(errno));
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static void set_fixture_mtime(const char *host, const char *rel, time_t when)
{
        char root[PATH_MAX], path[PATH_MAX + 256];
        struct timespec ts[2] = { { .tv_sec = when }, { .tv_sec = when } };

        fixture_root(host, root, sizeof(root));
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        if (utimensat(AT_FDCWD, path, ts, 0) < 0)
                fail_msg("%s: %s", path, strerror(errno));
}

static void expect_no_finding(const struct doctor_report *rep, const char *id)
{
        for (size_t i = 0; i < rep->n; i++)
                if (streq(rep->v[i].id, id)) {
                        dump(rep);
                        fail_msg("unexpected %s finding: %s", id, rep->v[i].message);
                }
}

/* qemu-server: affinity is a pve-cpuset (PVE/QemuServer.pm $confdesc affinity, PVE::CpuSet::parse_cpuset),
 * numaN the $numa_fmt of PVE/QemuServer/Memory.pm, read only with numa: 1 (config_to_command). */
static void test_numa_card_and_vm_on_different_nodes(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *r100 = doctor_on("doctor-numa", "pve", 100);
        _cleanup_(doctor_report_freep) struct doctor_report *r101 = doctor_on("doctor-numa", "pve", 101);
        _cleanup_(doctor_report_freep) struct doctor_report *r102 = doctor_on("doctor-numa", "pve", 102);
        _cleanup_(doctor_report_freep) struct doctor_report *r103 = doctor_on("doctor-numa", "pve", 103);
        _cleanup_(doctor_report_freep) struct doctor_report *single = doctor_on("doctor-healthy", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(r100, "numa", "0000:83:00.0", DOCTOR_WARN, "VM 100's affinity 0-7 has only CPUs of another node");
        assert_non_null(strstr(f->message, "NUMA node 1 (CPUs 14-27,42-55) of 2"));
        expect_fix(f, "qm set 100 --affinity 14-27,42-55");
        /* one finding per card, not per function */
        assert_null(doctor_report_find(r100, "numa", "0000:83:00.1", NULL));

        f = expect(r101, "numa", "0000:83:00.0", DOCTOR_WARN, "numa0 binds its memory to host node 0, not the card's");
        expect_fix(f, "qm set 101 --numa0 cpus=0-7,memory=16384,policy=bind,hostnodes=1");

        expect(r102, "numa", "0000:83:00.0", DOCTOR_OK, "VM 102 runs on its CPUs (affinity 14-21); numa0 binds its "
               "memory to that node");

        f = expect(r103, "numa", "0000:83:00.0", DOCTOR_INFO, "VM 103 is not pinned");
        expect_fix(f, "qm set 103 --affinity 14-27,42-55");

        /* spread over both nodes; hostnodes without a policy (qemu-server dies without one) */
        {
                _cleanup_(doctor_report_freep) struct doctor_report *r104 = doctor_on("doctor-numa", "pve", 104);

                f = expect(r104, "numa", "0000:83:00.0", DOCTOR_WARN, "VM 104's affinity 10-17 includes CPUs of another node");
                assert_non_null(strstr(f->message, "numa0 binds its memory to host nodes 0-1, not only the card's"));
                expect_fix(f, "qm set 104 --affinity 14-27,42-55; qm set 104 --numa0 cpus=0-7,memory=16384,hostnodes=1,"
                           "policy=bind");
        }

        /* one node (no /sys/devices/system/node, or node0 only): nothing to say */
        expect_no_finding(single, "numa");
}

static void test_initramfs_older_than_the_vfio_settings(void **state)
{
        const time_t built = 1704067200; /* 2024-01-01 00:00 UTC */
        struct doctor_report *rep;
        const struct doctor_finding *f;

        (void)state;
        set_fixture_mtime("doctor-initramfs", "boot/initrd.img-6.8.12-4-pve", built);
        set_fixture_mtime("doctor-initramfs", "etc/modules", built - 86400);
        set_fixture_mtime("doctor-initramfs", "etc/modprobe.d/blacklist.conf", built - 86400);
        set_fixture_mtime("doctor-initramfs", "etc/modprobe.d/vfio.conf", built + 3600);
        set_fixture_mtime("doctor-initramfs", "etc/modprobe.d/kvm.conf", built + 7200);
        rep = doctor_on("doctor-initramfs", "pve", 100);
        /* kvm.conf is newer still, but has nothing to do with vfio: vfio.conf is the file named */
        f = expect(rep, "initramfs", "", DOCTOR_WARN,
                   "/etc/modprobe.d/vfio.conf changed after /boot/initrd.img-6.8.12-4-pve was built (2024-01-01 00:00 UTC)");
        expect_fix(f, "update-initramfs -u -k all && proxmox-boot-tool refresh");
        /* the ineffective vfio-pci option, with its file and line */
        f = expect(rep, "modprobe", "", DOCTOR_WARN, "'reset_method=bus' for vfio-pci (/etc/modprobe.d/vfio.conf:2) does "
                   "nothing: vfio-pci has no reset_method parameter");
        expect_fix(f, "delete reset_method=bus from /etc/modprobe.d/vfio.conf line 2");
        doctor_report_free(rep);

        /* rebuilt after every vfio file; only kvm.conf changed since */
        set_fixture_mtime("doctor-initramfs", "etc/modprobe.d/vfio.conf", built - 3600);
        rep = doctor_on("doctor-initramfs", "pve", 100);
        expect(rep, "initramfs", "", DOCTOR_OK, "/boot/initrd.img-6.8.12-4-pve is newer than /etc/modprobe.d/vfio.conf");
        doctor_report_free(rep);

        /* the GPU blacklist counts too, and a GRUB host needs no proxmox-boot-tool */
        set_fixture_mtime("doctor-initramfs", "etc/modprobe.d/blacklist.conf", built + 60);
        {
                char root[PATH_MAX], path[PATH_MAX + 64];

                fixture_root("doctor-initramfs", root, sizeof(root));
                snprintf(path, sizeof(path), "%s/etc/kernel/proxmox-boot-uuids", root);
                assert_int_equal(unlink(path), 0);
        }
        rep = doctor_on("doctor-initramfs", "pve", 100);
        f = expect(rep, "initramfs", "", DOCTOR_WARN, "/etc/modprobe.d/blacklist.conf changed after");
        assert_null(strstr(f->fix, "proxmox-boot-tool"));
        doctor_report_free(rep);
}

static void test_huge_bar_needs_ovmf_q35_pcie(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *ovmf = doctor_on("doctor-blackwell", "pve-node-3", 100);
        _cleanup_(doctor_report_freep) struct doctor_report *seabios = doctor_on("doctor-blackwell", "pve-node-3", 101);
        const struct doctor_finding *f;

        (void)state;
        expect(ovmf, "bar", "0000:43:00.0", DOCTOR_OK, "BAR1 32 GiB 64-bit prefetchable above 4 GiB");
        f = expect(seabios, "bar", "0000:43:00.0", DOCTOR_WARN, "a 32 GiB 64-bit BAR must be mapped above 4 GiB inside "
                   "the VM too, and VM 101 boots SeaBIOS");
        expect_fix(f, "qm set 101 --machine q35 --bios ovmf");
        expect_fix(f, "pcie=1 on hostpci0");
        /* the audio function's small BAR needs nothing */
        expect(seabios, "bar", "0000:43:00.1", DOCTOR_INFO, NULL);
}

static void test_sriov_pf_with_vfs_and_a_vf(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *pf = doctor_on("doctor-sriov", "pve1", 100);
        _cleanup_(doctor_report_freep) struct doctor_report *vf = doctor_on("doctor-sriov", "pve1", 101);
        _cleanup_(doctor_report_freep) struct doctor_report *healthy = doctor_on("doctor-healthy", "pve", 100);
        const struct doctor_finding *f;

        (void)state;
        f = expect(pf, "sriov", "0000:00:02.0", DOCTOR_WARN, "SR-IOV physical function with 7 of 7 VFs enabled, passed "
                   "through whole");
        expect_fix(f, "echo 0 > /sys/bus/pci/devices/0000:00:02.0/sriov_numvfs");
        expect(vf, "sriov", "0000:00:02.1", DOCTOR_INFO, "a virtual function of 0000:00:02.0: only its FLR is safe");
        /* a VF alone in its ARI slot: still FLR only, nothing beyond */
        {
                _cleanup_(doctor_report_freep) struct doctor_report *ari = doctor_on("doctor-sriov", "pve1", 102);

                expect(ari, "sriov", "0000:03:01.0", DOCTOR_INFO, "a virtual function of 0000:03:00.0");
                expect(ari, "reset", "0000:03:01.0", DOCTOR_OK, "Post-stop uses: flr (why:");
        }
        expect_no_finding(healthy, "sriov");
}

static void test_vendor_reset_loaded_without_device_specific(void **state)
{
        char root[PATH_MAX], path[PATH_MAX + 64];
        struct doctor_report *rep;
        const struct doctor_finding *f;

        (void)state;
        fixture_root("doctor-navi", root, sizeof(root));
        /* loaded, as /proc/modules shows it */
        write_fixture_file("doctor-navi", "proc/modules", "kvm_amd 208896 0 - Live 0x0000000000000000\n"
                           "vendor_reset 114688 0 - Live 0x0000000000000000 (OE)\n");
        rep = doctor_on("doctor-navi", "pve", 101);
        f = expect(rep, "reset", "0000:0b:00.0", DOCTOR_FAIL, "vendor-reset is loaded, but reset_method does not list "
                   "device_specific");
        expect_fix(f, "echo device_specific > /sys/bus/pci/devices/0000:0b:00.0/reset_method");
        assert_null(strstr(f->fix, "git clone"));
        doctor_report_free(rep);

        /* listed, but after bus: the kernel's own reset tries bus first */
        write_fixture_file("doctor-navi", "sys/bus/pci/devices/0000:44:00.0/reset_method", "bus device_specific\n");
        rep = doctor_on("doctor-navi", "pve", 100);
        f = expect(rep, "reset", "0000:44:00.0", DOCTOR_WARN, "reset_method lists device_specific but not first");
        expect_fix(f, "echo device_specific > /sys/bus/pci/devices/0000:44:00.0/reset_method");
        doctor_report_free(rep);

        /* loaded, as /sys/module shows it */
        snprintf(path, sizeof(path), "%s/proc/modules", root);
        assert_int_equal(unlink(path), 0);
        snprintf(path, sizeof(path), "%s/sys/module/vendor_reset", root);
        assert_int_equal(mkdir(path, 0755), 0);
        rep = doctor_on("doctor-navi", "pve", 101);
        expect(rep, "reset", "0000:0b:00.0", DOCTOR_FAIL, "vendor-reset is loaded");
        doctor_report_free(rep);

        /* back as the host file has it, for the other tests */
        assert_int_equal(rmdir(path), 0);
        write_fixture_file("doctor-navi", "sys/bus/pci/devices/0000:44:00.0/reset_method", "device_specific bus\n");
}

/* No finding of this id whose message holds needle. */
static void expect_none(const struct doctor_report *rep, const char *id, const char *needle)
{
        for (size_t i = 0; i < rep->n; i++)
                if (streq(rep->v[i].id, id) && strstr(rep->v[i].message, needle)) {
                        dump(rep);
                        fail_msg("unexpected %s finding: %s", id, rep->v[i].message);
                }
}

static void rename_fixture_file(const char *host, const char *from, const char *to)
{
        char root[PATH_MAX], a[PATH_MAX + 256], b[PATH_MAX + 256];

        fixture_root(host, root, sizeof(root));
        snprintf(a, sizeof(a), "%s/%s", root, from);
        snprintf(b, sizeof(b), "%s/%s", root, to);
        if (rename(a, b) < 0)
                fail_msg("%s: %s", a, strerror(errno));
}

/* A module directory without depmod's index (depmod never ran for the kernel, or the files are
 * unreadable) tells nothing about which modules the kernel has: modprobe finds none either, so that
 * is unknown (and the index is the thing to fix), not "this kernel cannot pass devices through". */
static void test_module_dir_without_index(void **state)
{
        static const char *const index[] = { "modules.dep", "modules.dep.bin" };
        char root[PATH_MAX], path[PATH_MAX + 64], from[160], to[160];
        const struct doctor_finding *f;
        struct doctor_report *rep;

        (void)state;
        fixture_root("doctor-old-kernel", root, sizeof(root));
        for (const char *const *m = (const char *const[]){ "vfio", "vfio_pci", "vfio_iommu_type1", NULL }; *m; m++) {
                snprintf(path, sizeof(path), "%s/sys/module/%s", root, *m);
                (void)rm_rf(path);
        }
        for (size_t i = 0; i < ELEMENTSOF(index); i++) {
                snprintf(from, sizeof(from), "lib/modules/5.4.203-1-pve/%s", index[i]);
                snprintf(to, sizeof(to), "lib/modules/5.4.203-1-pve/%s.away", index[i]);
                rename_fixture_file("doctor-old-kernel", from, to);
        }
        rep = doctor_on("doctor-old-kernel", "pve", 100);
        expect_none(rep, "kernel", "neither loaded nor in");
        f = expect(rep, "kernel", "", DOCTOR_WARN, "vfio, vfio_iommu_type1, vfio_pci: not loaded, and the module index of "
                   "/lib/modules/5.4.203-1-pve cannot be read");
        expect_fix(f, "depmod 5.4.203-1-pve");
        doctor_report_free(rep);
        for (size_t i = 0; i < ELEMENTSOF(index); i++) {
                snprintf(to, sizeof(to), "lib/modules/5.4.203-1-pve/%s", index[i]);
                snprintf(from, sizeof(from), "lib/modules/5.4.203-1-pve/%s.away", index[i]);
                rename_fixture_file("doctor-old-kernel", from, to);
        }
}

/* Which host driver can claim a card is what the card's modalias matches in modules.alias (lspci -k's
 * "Kernel modules"), not a list per vendor: every Proxmox kernel has radeon, but none of its aliases
 * is a Navi card, so radeon needs neither a softdep nor a blacklist there; amdgpu's aliases are. */
static void test_host_drivers_are_those_whose_aliases_match(void **state)
{
        static const char vfio_conf[] = "options vfio-pci ids=1002:731f,1002:7340\nsoftdep amdgpu pre: vfio-pci\n"
                                        "softdep radeon pre: vfio-pci\n";
        struct doctor_report *rep;

        (void)state;
        write_fixture_file("doctor-navi", "etc/modprobe.d/vfio.conf",
                           "options vfio-pci ids=1002:731f,1002:7340\nsoftdep amdgpu pre: vfio-pci\n");
        rep = doctor_on("doctor-navi", "pve", 100);
        expect_none(rep, "modprobe", "radeon");
        expect(rep, "modprobe", "", DOCTOR_OK, "'softdep amdgpu pre: vfio-pci' (/etc/modprobe.d/vfio.conf:2)");
        doctor_report_free(rep);

        /* without amdgpu's softdep: amdgpu (installed, its aliases match the card) is the one named */
        write_fixture_file("doctor-navi", "etc/modprobe.d/vfio.conf", "options vfio-pci ids=1002:731f,1002:7340\n");
        rep = doctor_on("doctor-navi", "pve", 100);
        expect(rep, "modprobe", "", DOCTOR_WARN, "no 'softdep amdgpu pre: vfio-pci'");
        expect_none(rep, "modprobe", "radeon");
        doctor_report_free(rep);

        write_fixture_file("doctor-navi", "etc/modprobe.d/vfio.conf", vfio_conf); /* as the host file has it */
}

static void test_doctor_changes_nothing(void **state)
{
        static const char *const hosts[] = { "doctor-healthy", "doctor-nouveau", "doctor-d3cold", "doctor-vm" };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(hosts); i++) {
                char root[PATH_MAX];
                _cleanup_free_ char *before = NULL, *after = NULL;
                struct doctor_report *rep;

                fixture_root(hosts[i], root, sizeof(root));
                make_snippet_executable(root);
                before = snapshot(root);
                rep = doctor_on(hosts[i], "pve", 0);
                doctor_report_free(rep);
                after = snapshot(root);
                assert_string_equal(before, after);
        }
}

/* The class of issue #11: a group listing cut at 64 members (65 share group 50 on this host) must not
 * pass for "only this card's functions". */
static void test_group_larger_than_listed_is_not_called_clean(void **state)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = doctor_on("wide-bus", "pve", 300);
        const struct doctor_finding *f = doctor_report_find(rep, "iommu-group", "0000:05:00.0", NULL);

        (void)state;
        if (!f)
                dump(rep);
        assert_non_null(f);
        assert_true(f->status >= DOCTOR_WARN);
        assert_non_null(strstr(f->message, "members beyond the 64 listed"));
}

/* sriov-nvme (the Samsung PM174X's VFs): a VF's config space reads FFFFh as Vendor/Device ID by the
 * SR-IOV spec. That is no dead card: no "does not answer" finding, and above all not its fix
 * "reset --method slot", which would take the PF and every VF down. The PF passed whole while its
 * VFs are enabled is a warning that says the hook leaves it alone. An NVIDIA vGPU VF given without
 * mdev= (nvidia-vgpu VM 201) is Proxmox's to manage: left alone on purpose, with the mdev hint. */
static void test_sriov_vf_answers_and_pf_with_vfs_is_left_alone(void **state)
{
        (void)state;
        _cleanup_(doctor_report_freep) struct doctor_report *vf = doctor_on("sriov-nvme", "pve1", 100);
        _cleanup_(doctor_report_freep) struct doctor_report *pf = doctor_on("sriov-nvme", "pve1", 102);
        _cleanup_(doctor_report_freep) struct doctor_report *vgpu = doctor_on("nvidia-vgpu", "pve1", 201);
        const struct doctor_finding *f;

        for (size_t i = 0; i < vf->n; i++) {
                if (strstr(vf->v[i].message, "does not answer") || (vf->v[i].fix && strstr(vf->v[i].fix, "--method slot")))
                        dump(vf);
                assert_null(strstr(vf->v[i].message, "does not answer"));
                assert_true(!vf->v[i].fix || !strstr(vf->v[i].fix, "--method slot"));
        }
        expect(vf, "sriov", "0000:2e:04.0", DOCTOR_INFO, "a virtual function of 0000:2e:00.0: only its FLR is safe");
        f = expect(pf, "sriov", "0000:2e:00.0", DOCTOR_WARN, "3 of 64 VFs enabled, passed through whole");
        assert_non_null(strstr(f->message, "vfio-pci refuses"));
        expect(vgpu, "driver", "0000:c1:00.5", DOCTOR_INFO, "on purpose");
        f = expect(vgpu, "sriov", "0000:c1:00.5", DOCTOR_INFO, "NVIDIA vGPU");
        expect_fix(f, "mdev=nvidia-");
}

/* driver_override is doctor's to read (the probe does not: its show takes the device lock): a function on
 * vfio-pci whose override names another driver is a warning, as it was when the probe read it. */
static void test_vfio_function_with_another_driver_override_is_a_warning(void **state)
{
        char root[PATH_MAX], path[PATH_MAX + 128];
        struct doctor_report *rep;

        (void)state;
        fixture_root("gpu-audio-rootport", root, sizeof(root));
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/driver_override", root);
        write_text(path, "nouveau\n");
        rep = doctor_on("gpu-audio-rootport", "pve", 100);
        expect(rep, "driver", "0000:01:00.0", DOCTOR_WARN, "bound to vfio-pci, but driver_override is nouveau");
        doctor_report_free(rep);
        write_text(path, "(null)\n");
        rep = doctor_on("gpu-audio-rootport", "pve", 100);
        expect(rep, "driver", "0000:01:00.0", DOCTOR_OK, "bound to vfio-pci");
        doctor_report_free(rep);
}

/* Issue 16: a reset left the card's link narrower than the last time it was whole (apply's record in
 * /run/pve-gpu-reset/link-BDF): a warning with the widths and the fix; as wide as recorded: ok. */
static void test_link_narrower_than_after_the_last_good_reset_is_a_warning(void **state)
{
        char root[PATH_MAX], path[PATH_MAX + 128], cmd[4 * PATH_MAX];
        struct doctor_report *rep;
        const struct doctor_finding *f;

        (void)state;
        fixture_root("gpu-audio-rootport", root, sizeof(root));
        snprintf(cmd, sizeof(cmd), "mkdir -p -m 0700 '%s/run/pve-gpu-reset'", root);
        assert_int_equal(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/run/pve-gpu-reset/link-0000:01:00.0", root);
        write_text(path, "width=16 speed=5000\n");
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/max_link_width", root);
        write_text(path, "16\n");
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/current_link_width", root);
        write_text(path, "8\n");
        rep = doctor_on("gpu-audio-rootport", "pve", 100);
        f = expect(rep, "link", "0000:01:00.0", DOCTOR_WARN,
                   "the PCIe link is x8 now (max x16), it was x16 after the last reset that left it whole");
        expect_fix(f, "power the host off and on");
        assert_null(doctor_report_find(rep, "link", "0000:01:00.1", NULL)); /* function 0 speaks for the link */
        doctor_report_free(rep);

        write_text(path, "16\n");
        rep = doctor_on("gpu-audio-rootport", "pve", 100);
        expect(rep, "link", "0000:01:00.0", DOCTOR_OK, "x16 (max x16)");
        doctor_report_free(rep);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/run/pve-gpu-reset' '%s/sys/bus/pci/devices/0000:01:00.0/current_link_width' "
                 "'%s/sys/bus/pci/devices/0000:01:00.0/max_link_width'", root, root, root);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_group_larger_than_listed_is_not_called_clean),
                cmocka_unit_test(test_healthy_host_every_check_ok),
                cmocka_unit_test(test_healthy_host_wide_same_verdict),
                cmocka_unit_test(test_json_has_the_documented_shape),
                cmocka_unit_test(test_no_iommu_fails_iommu_cmdline_group_and_log),
                cmocka_unit_test(test_nouveau_owns_the_card),
                cmocka_unit_test(test_host_driver_needs_ids_and_softdep),
                cmocka_unit_test(test_stale_vfio_ids_on_the_command_line),
                cmocka_unit_test(test_real_vfio_conf_misses_the_gt218_vga_id),
                cmocka_unit_test(test_group_shared_with_a_host_nic),
                cmocka_unit_test(test_blackwell_flr_is_known_bad),
                cmocka_unit_test(test_pin_as_the_policy_says),
                cmocka_unit_test(test_vfio_reset_method_option_is_ineffective),
                cmocka_unit_test(test_navi_needs_vendor_reset),
                cmocka_unit_test(test_card_stuck_in_d3cold),
                cmocka_unit_test(test_bar_not_assigned),
                cmocka_unit_test(test_boot_gpu_keeps_the_framebuffer),
                cmocka_unit_test(test_policy_without_keep_awake_warns),
                cmocka_unit_test(test_old_kernel_then_no_vfio),
                cmocka_unit_test(test_flr_that_hangs_in_kmsg_records),
                cmocka_unit_test(test_mapping_mismatches_each_fail_with_the_fix),
                cmocka_unit_test(test_vm_configs_that_go_wrong),
                cmocka_unit_test(test_chain_recorded_by_0_1_and_a_bad_state_file),
                cmocka_unit_test(test_missing_vm_is_a_failing_finding),
                cmocka_unit_test(test_dropped_hostpci_is_a_warning_finding),
                cmocka_unit_test(test_bad_policy_is_bad_input),
                cmocka_unit_test(test_numa_card_and_vm_on_different_nodes),
                cmocka_unit_test(test_initramfs_older_than_the_vfio_settings),
                cmocka_unit_test(test_huge_bar_needs_ovmf_q35_pcie),
                cmocka_unit_test(test_sriov_pf_with_vfs_and_a_vf),
                cmocka_unit_test(test_sriov_vf_answers_and_pf_with_vfs_is_left_alone),
                cmocka_unit_test(test_vendor_reset_loaded_without_device_specific),
                cmocka_unit_test(test_doctor_changes_nothing),
                cmocka_unit_test(test_vfio_function_with_another_driver_override_is_a_warning),
                cmocka_unit_test(test_link_narrower_than_after_the_last_good_reset_is_a_warning),
                cmocka_unit_test(test_module_dir_without_index),
                cmocka_unit_test(test_host_drivers_are_those_whose_aliases_match),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
