/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kmodinfo: libkmod under the root prefix: the modprobe.d configuration kmod acts on, the module
 * indexes of /lib/modules/<release> (written by tests/fixtures/mktree from real depmod output), and
 * module names as kmod compares them. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "kernel/kmodinfo.h"
#include "testutil.h"

struct seen {
        char text[4096];
};

static int collect(const char *module, const char *value, void *userdata)
{
        struct seen *s = userdata;
        size_t len = strlen(s->text);

        snprintf(s->text + len, sizeof(s->text) - len, "%s%s%s%s", len ? "|" : "", module, value ? "=" : "",
                 value ? value : "");
        return 0;
}

static void config(const struct kmodinfo *k, enum kmodinfo_config kind, const char *want)
{
        struct seen s = { .text = "" };

        assert_int_equal(kmodinfo_config_foreach(k, kind, collect, &s), 0);
        assert_string_equal(s.text, want);
}

static void write_under(const char *root, const char *rel, const char *text)
{
        char path[PATH_MAX + 256], dir[PATH_MAX + 256], *slash;

        snprintf(path, sizeof(path), "%s/%s", root, rel);
        snprintf(dir, sizeof(dir), "%s", path);
        slash = strrchr(dir, '/');
        *slash = '\0';
        assert_int_equal(mkdir_p(dir, 0755), 0);
        write_text(path, text);
}

/* libkmod's configuration of the root, not of the machine the test runs on: its directories under
 * the root, a file name in an earlier directory hiding the same name in a later one (libkmod-config.c
 * conf_files_insert_sorted), and none of the entries libkmod takes from this machine's /proc/cmdline
 * (a machine booted with "random.trust_cpu=1" gives libkmod an "options random trust_cpu=1"). */
static void test_configuration_of_the_root_only(void **state)
{
        char dir[] = "/tmp/pgr-kmodinfo-XXXXXX";
        struct kmodinfo *k = NULL;
        struct pgr_ctx ctx;

        (void)state;
        assert_non_null(mkdtemp(dir));
        write_under(dir, "etc/modprobe.d/vfio.conf",
                    "options vfio-pci ids=10de:1b81,10de:10f0 disable_vga=1\n"
                    "softdep snd-hda-intel pre: vfio-pci post: snd_hda_codec_hdmi\n"
                    "softdep drm pre:vfio-pci\n"
                    "blacklist nouveau\n"
                    "install nvidiafb /bin/false\n");
        write_under(dir, "lib/modprobe.d/vfio.conf", "blacklist radeon\n"); /* hidden by /etc's vfio.conf */
        write_under(dir, "run/modprobe.d/amd.conf", "blacklist amdgpu\n");
        assert_int_equal(pgr_ctx_init(&ctx, dir, "pve"), 0);
        assert_int_equal(kmodinfo_new(&ctx, "6.8.12-4-pve", &k), 0);

        config(k, KMODINFO_BLACKLIST, "amdgpu|nouveau");
        config(k, KMODINFO_OPTIONS, "vfio_pci=ids=10de:1b81,10de:10f0 disable_vga=1");
        config(k, KMODINFO_INSTALL, "nvidiafb=/bin/false");
        /* kmod 30 writes "post:" over the blank after the last pre module; "pre:vfio-pci" is no marker */
        {
                struct seen s = { .text = "" };

                assert_int_equal(kmodinfo_config_foreach(k, KMODINFO_SOFTDEP, collect, &s), 0);
                assert_non_null(strstr(s.text, "snd_hda_intel=pre: vfio-pci"));
                assert_non_null(strstr(s.text, "post: snd_hda_codec_hdmi"));
                assert_null(strstr(s.text, "drm=pre"));
        }
        /* no /lib/modules/6.8.12-4-pve: no index, nothing installed, said as -ENOENT */
        assert_int_equal(kmodinfo_index_error(k), -ENOENT);
        assert_string_equal(kmodinfo_module_dir(k), "/lib/modules/6.8.12-4-pve");
        assert_false(kmodinfo_installed(k, "vfio-pci"));
        kmodinfo_free(k);
        assert_int_equal(rm_rf(dir), 0);
}

static void fixture_root(const char *host, char *buf, size_t size)
{
        const char *fx = getenv("PGR_FIXTURES");

        assert_non_null(fx);
        snprintf(buf, size, "%s/%s", fx, host);
}

/* lspci -k's "Kernel modules" for the two Navi cards of doctor-navi, from the real modules.alias of
 * Debian 12's 6.12 kernel: amdgpu lists both (1002:731f, 1002:7340), radeon neither; the HDA
 * function of an NVIDIA card matches snd_hda_intel's class alias, its VGA function nouveau's. */
static void test_modalias_lookup_and_installed(void **state)
{
        static const struct {
                const char *modalias, *want;
        } cases[] = {
                { "pci:v00001002d0000731Fsv00001DA2sd0000E411bc03sc00i00", "amdgpu" },
                { "pci:v00001002d00007340sv00001DA2sd0000E421bc03sc00i00", "amdgpu" },
                { "pci:v000010DEd00001E07sv000010DEsd000012A4bc03sc00i00", "nouveau" },
                { "pci:v000010DEd000010F7sv000010DEsd000012A4bc04sc03i00", "snd_hda_intel" },
                { "pci:v000010DEd00001AD6sv000010DEsd000012A4bc0Csc03i30", "xhci_pci" },
                { "pci:v00008086d00001521sv00008086sd00000001bc02sc00i00", "" },
        };
        char root[PATH_MAX];
        struct kmodinfo *k = NULL;
        struct pgr_ctx ctx;

        (void)state;
        fixture_root("doctor-navi", root, sizeof(root));
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve"), 0);
        assert_int_equal(kmodinfo_new(&ctx, "6.8.12-4-pve", &k), 0);
        assert_int_equal(kmodinfo_index_error(k), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char **mods = NULL, got[256] = "";
                size_t n = 0;

                assert_int_equal(kmodinfo_modalias_modules(k, cases[i].modalias, &mods, &n), 0);
                for (size_t j = 0; j < n; j++)
                        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", j ? " " : "", mods[j]);
                assert_string_equal(got, cases[i].want);
                strv_free(mods, n);
        }
        assert_true(kmodinfo_installed(k, "vfio-pci"));
        assert_true(kmodinfo_installed(k, "vfio_iommu_type1"));
        assert_true(kmodinfo_installed(k, "radeon"));
        assert_false(kmodinfo_installed(k, "vendor_reset"));
        kmodinfo_free(k);
}

static void test_module_names(void **state)
{
        char buf[16];

        (void)state;
        assert_true(module_name_eq("snd-hda-intel", "snd_hda_intel"));
        assert_true(module_name_eq("vfio_pci", "vfio-pci"));
        assert_false(module_name_eq("vfio_pci", "vfio_pci_core"));
        assert_false(module_name_eq("vfio", "vfio_pci"));
        assert_true(module_name_eqn("vfio-pci 114688 0", 8, "vfio_pci"));
        assert_false(module_name_eqn("vfio-pci", 4, "vfio_pci"));
        module_name_normalize(buf, sizeof(buf), "i2c-nvidia-gpu-and-more", 23);
        assert_string_equal(buf, "i2c_nvidia_gpu_");
}

/* The sysfs module link names a driver's module (xhci_hcd is xhci_pci's driver); without one the
 * driver's own name is taken. */
static void test_driver_module(void **state)
{
        char root[PATH_MAX], buf[64];
        struct pgr_ctx ctx;

        (void)state;
        fixture_root("rtx2080ti-4func", root, sizeof(root));
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve"), 0);
        assert_string_equal(kmodinfo_driver_module(&ctx, "xhci_hcd", buf, sizeof(buf)), "xhci_pci");
        assert_string_equal(kmodinfo_driver_module(&ctx, "nvidia-gpu", buf, sizeof(buf)), "i2c_nvidia_gpu");
        assert_string_equal(kmodinfo_driver_module(&ctx, "snd_hda_intel", buf, sizeof(buf)), "snd_hda_intel");
        assert_string_equal(kmodinfo_driver_module(&ctx, "vfio-pci", buf, sizeof(buf)), "vfio_pci");
}

/* libkmod is dlopen'd (kmodinfo.c): a library that is missing, or one without libkmod's functions
 * (libkmod before 30 has no kmod_module_new_from_name_lookup), is -ELIBACC and nothing else. */
static void test_library_missing_or_unfit(void **state)
{
        char root[PATH_MAX];
        struct kmodinfo *k = NULL;
        struct pgr_ctx ctx;

        (void)state;
        fixture_root("doctor-navi", root, sizeof(root));
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve"), 0);
        assert_int_equal(kmodinfo_new_with(&ctx, "6.8.12-4-pve", "libkmod-not-installed.so.2", &k), -ELIBACC);
        assert_null(k);
        assert_int_equal(kmodinfo_new_with(&ctx, "6.8.12-4-pve", "libc.so.6", &k), -ELIBACC);
        assert_null(k);
        assert_int_equal(kmodinfo_new_with(&ctx, "6.8.12-4-pve", KMODINFO_LIBRARY, &k), 0);
        assert_true(kmodinfo_installed(k, "vfio-pci"));
        kmodinfo_free(k);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_configuration_of_the_root_only),
                cmocka_unit_test(test_modalias_lookup_and_installed),
                cmocka_unit_test(test_module_names),
                cmocka_unit_test(test_driver_module),
                cmocka_unit_test(test_library_missing_or_unfit),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
