/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Device facts read from the fixture trees ($PGR_FIXTURES/<host>, built by tests/fixtures/mktree from
 * real lspci dumps): libpci config space through the sysfs method plus the sysfs attributes. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "kernel/pcidev.h"
#include "kernel/sysfs.h"
#include "testutil.h"

struct host {
        char root[PATH_MAX];
        struct pgr_ctx ctx;
        struct pcidev_access *acc;
};

static struct host *host_open(const char *name)
{
        const char *fx = getenv("PGR_FIXTURES");
        struct host *h = calloc(1, sizeof(*h));

        assert_non_null(fx); /* tests/run-unit.sh sets it */
        assert_non_null(h);
        snprintf(h->root, sizeof(h->root), "%s/%s", fx, name);
        assert_int_equal(pgr_ctx_init(&h->ctx, h->root, "pve"), 0);
        assert_int_equal(pcidev_access_new(&h->ctx, &h->acc), 0);
        assert_non_null(h->acc);
        return h;
}

static void host_close(struct host *h)
{
        pcidev_access_free(h->acc);
        free(h);
}

static struct pci_addr addr(const char *s)
{
        struct pci_addr a;

        assert_int_equal(pci_addr_parse(s, &a), 0);
        return a;
}

static struct pcidev *probe(struct host *h, const char *bdf)
{
        struct pcidev *d = malloc(sizeof(*d));
        struct pci_addr a = addr(bdf);

        assert_non_null(d);
        assert_int_equal(pcidev_probe(h->acc, &a, d), 0);
        return d;
}

static void assert_addr(const struct pci_addr *a, const char *want)
{
        char buf[PCI_ADDR_STRLEN];

        assert_string_equal(pci_addr_format(a, buf), want);
}

static void assert_addrs(const struct pci_addr *a, size_t n, const char *const *want, size_t n_want)
{
        assert_int_equal(n, n_want);
        for (size_t i = 0; i < n; i++)
                assert_addr(&a[i], want[i]);
}

/* One parser for the "vendor:device" IDs the tool writes itself (policy keys, claim records). */
static void test_pci_id_parse_takes_only_the_tools_own_form(void **state)
{
        static const char *const bad[] = { "10DE:2B85", "10de:2b8", "10de-2b85", "0x10de:2b85", "10de:2b85 ",
                                           "10de::b85", "", "g0de:2b85" };
        unsigned v = 1, d = 1;

        (void)state;
        assert_int_equal(pci_id_parse("10de:2b85", &v, &d), 0);
        assert_int_equal(v, 0x10de);
        assert_int_equal(d, 0x2b85);
        assert_int_equal(pci_id_parse("0000:ffff", &v, &d), 0);
        assert_int_equal(v, 0);
        assert_int_equal(d, 0xffff);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                v = d = 7;
                assert_int_equal(pci_id_parse(bad[i], &v, &d), -EINVAL);
                assert_int_equal(v, 7); /* nothing written on failure */
        }
}

static void test_gt218_vga_behind_root_port(void **state)
{
        struct host *h = host_open("gpu-audio-rootport");
        struct pcidev *d = probe(h, "0000:01:00.0");
        static const char *const both[] = { "0000:01:00.0", "0000:01:00.1" };
        char cls[8];

        (void)state;
        assert_true(d->present);
        assert_string_equal(d->bdf, "0000:01:00.0");
        assert_int_equal(d->vendor, 0x10de);
        assert_int_equal(d->device, 0x0a65);
        assert_int_equal(d->sub_vendor, 0x3842);
        assert_int_equal(d->class_code, 0x030000);
        pcidev_class_str(d, cls);
        assert_string_equal(cls, "0300");
        assert_non_null(strstr(d->name, "GT218")); /* pci.ids: "NVIDIA Corporation GT218 [GeForce 210]" */
        assert_int_equal(d->header_type, 0);
        assert_true(d->multifunction);
        assert_string_equal(d->driver, "vfio-pci");
        assert_string_equal(d->driver_override, "");
        assert_int_equal(d->iommu_group, 13);
        assert_addrs(d->group_members, d->n_group_members, both, 2);

        /* The stale "bus": listed, but the function is not alone on its bus. */
        assert_true(d->has_reset);
        assert_true(d->has_reset_method);
        assert_int_equal(d->n_reset_methods, 1);
        assert_string_equal(d->reset_methods[0], "bus");
        assert_true(pcidev_has_method(d, "bus"));
        assert_false(pcidev_has_method(d, "flr"));
        assert_false(d->alone_on_bus);

        assert_true(d->config_readable);
        assert_true(d->is_pcie);
        assert_int_equal(d->pcie_type, 0);
        assert_false(d->flr_capable);
        assert_false(d->af_flr_capable);
        assert_true(d->has_pm);
        assert_true(d->pm_no_soft_reset);
        assert_int_equal(d->pm_state, 0);
        assert_int_equal(d->aspm_ctl, 0);

        assert_int_equal(d->d3cold_allowed, 1);
        assert_string_equal(d->power_control, "auto");
        assert_string_equal(d->power_state, "D0");
        assert_int_equal(d->boot_vga, 0);
        assert_int_equal(d->n_link_aspm, 2);
        assert_string_equal(d->link_aspm[0], "l0s_aspm");
        assert_string_equal(d->link_aspm[1], "l1_aspm");
        assert_string_equal(d->slot_name, "1");

        assert_true(d->has_parent);
        assert_addr(&d->parent, "0000:00:01.0");
        assert_true(d->parent_has_reset_subordinate);
        assert_addrs(d->below_parent, d->n_below_parent, both, 2);
        free(d);
        host_close(h);
}

static void test_gt218_audio_has_no_reset(void **state)
{
        struct host *h = host_open("gpu-audio-rootport");
        struct pcidev *d = probe(h, "0000:01:00.1");
        char cls[8];

        (void)state;
        assert_true(d->present);
        assert_int_equal(d->device, 0x0be3);
        pcidev_class_str(d, cls);
        assert_string_equal(cls, "0403");
        assert_false(d->has_reset);
        assert_false(d->has_reset_method);
        assert_int_equal(d->n_reset_methods, 0);
        assert_int_equal(d->aspm_ctl, 3); /* ASPM L0s L1 Enabled in the dump */
        assert_int_equal(d->boot_vga, -1); /* not a VGA device */
        assert_addr(&d->parent, "0000:00:01.0");
        free(d);
        host_close(h);
}

static void test_unrelated_nvme_alone_on_its_bus(void **state)
{
        struct host *h = host_open("gpu-audio-rootport");
        struct pcidev *d = probe(h, "0000:02:00.0");
        static const char *const self[] = { "0000:02:00.0" };

        (void)state;
        assert_string_equal(d->driver, "nvme");
        assert_true(d->alone_on_bus);
        assert_true(d->flr_capable);
        assert_false(d->pm_no_soft_reset);
        assert_addr(&d->parent, "0000:00:03.0");
        assert_addrs(d->below_parent, d->n_below_parent, self, 1);
        free(d);
        host_close(h);
}

static void test_absent_device_is_not_present(void **state)
{
        struct host *h = host_open("gpu-audio-rootport");
        struct pcidev *d = probe(h, "0000:05:00.0");

        (void)state;
        assert_false(d->present);
        assert_string_equal(d->bdf, "0000:05:00.0");
        assert_int_equal(d->iommu_group, -1);
        assert_false(d->config_readable);
        assert_string_equal(d->driver, "");
        free(d);
        host_close(h);
}

static void test_whole_slot_address_is_rejected(void **state)
{
        struct host *h = host_open("gpu-audio-rootport");
        struct pci_addr a = addr("01:00");
        struct pcidev d;

        (void)state;
        assert_int_equal(pcidev_probe(h->acc, &a, &d), -EINVAL);
        host_close(h);
}

static void test_rtx2080ti_vga_can_flr(void **state)
{
        struct host *h = host_open("rtx2080ti-4func");
        struct pcidev *d = probe(h, "0000:02:00.0");

        (void)state;
        assert_int_equal(d->vendor, 0x10de);
        assert_int_equal(d->device, 0x1e07);
        assert_true(d->flr_capable);
        assert_int_equal(d->pcie_type, 1); /* Legacy Endpoint */
        assert_int_equal(d->n_reset_methods, 2);
        assert_string_equal(d->reset_methods[0], "flr");
        assert_string_equal(d->reset_methods[1], "bus");
        assert_int_equal(d->n_group_members, 4);
        assert_string_equal(d->slot_name, "2");
        free(d);
        host_close(h);
}

static void test_rtx2080ti_usb_functions_on_host_drivers(void **state)
{
        struct host *h = host_open("rtx2080ti-4func");
        struct pcidev *usb = probe(h, "0000:02:00.2");
        struct pcidev *ucsi = probe(h, "0000:02:00.3");
        char cls[8];

        (void)state;
        assert_string_equal(usb->driver, "xhci_hcd");
        assert_int_equal(usb->device, 0x1ad6);
        assert_false(usb->flr_capable);
        assert_false(usb->has_reset);
        assert_string_equal(ucsi->driver, "nvidia-gpu");
        pcidev_class_str(ucsi, cls);
        assert_string_equal(cls, "0c80");
        assert_false(ucsi->has_reset_method);
        free(usb);
        free(ucsi);
        host_close(h);
}

static void test_slot_without_function_expands_to_present_functions(void **state)
{
        struct host *h = host_open("rtx2080ti-4func");
        static const char *const four[] = { "0000:83:00.0", "0000:83:00.1", "0000:83:00.2", "0000:83:00.3" };
        struct pci_addr slot = addr("0000:83:00"), empty = addr("0000:85:00"), got[8];
        size_t n = 99;

        (void)state;
        assert_int_equal(pcidev_slot_functions(&h->ctx, &slot, got, ELEMENTSOF(got), &n), 0);
        assert_addrs(got, n, four, 4);
        assert_int_equal(pcidev_slot_functions(&h->ctx, &slot, got, 2, &n), -ENOBUFS);
        n = 99;
        assert_int_equal(pcidev_slot_functions(&h->ctx, &empty, got, ELEMENTSOF(got), &n), 0);
        assert_int_equal(n, 0);
        host_close(h);
}

static void test_k2200_cannot_flr(void **state)
{
        struct host *h = host_open("quadro-noflr");
        struct pcidev *d = probe(h, "0000:01:00.0");

        (void)state;
        assert_int_equal(d->device, 0x13ba);
        assert_true(d->config_readable);
        assert_false(d->flr_capable);
        assert_false(d->af_flr_capable);
        assert_true(d->pm_no_soft_reset);
        assert_int_equal(d->n_reset_methods, 1);
        assert_string_equal(d->reset_methods[0], "bus");
        assert_false(d->parent_has_reset_subordinate);
        free(d);
        host_close(h);
}

static void test_p1000_mail_quoted_dump_in_d3hot(void **state)
{
        struct host *h = host_open("quadro-noflr");
        struct pcidev *d = probe(h, "0000:05:00.0");

        (void)state;
        assert_int_equal(d->device, 0x1cb1);
        assert_true(d->config_readable);
        assert_false(d->flr_capable);
        assert_string_equal(d->power_control, "auto");
        assert_string_equal(d->power_state, "D3hot");
        assert_int_equal(d->d3cold_allowed, 1);
        assert_addr(&d->parent, "0000:00:01.1");
        free(d);
        host_close(h);
}

static void test_dead_gpu_config_unreadable_but_ids_cached(void **state)
{
        struct host *h = host_open("dead-gpu");
        struct pcidev *d = probe(h, "0000:01:00.0");
        struct pcidev *m = probe(h, "0000:02:00.0");

        (void)state;
        assert_true(d->present);
        assert_false(d->config_readable);
        assert_int_equal(d->vendor, 0x10de);
        assert_int_equal(d->device, 0x2216);
        assert_int_equal(d->sub_vendor, 0x7377);
        assert_false(d->is_pcie);
        assert_false(d->flr_capable);
        assert_false(d->has_pm);
        assert_int_equal(d->pm_state, -1);
        assert_int_equal(d->aspm_ctl, -1);
        assert_string_equal(d->driver, "vfio-pci");

        assert_true(m->present);
        assert_false(m->config_readable);
        assert_string_equal(m->power_state, "D3cold");
        assert_string_equal(m->power_control, "auto");
        free(d);
        free(m);
        host_close(h);
}

static void test_plx_foreign_function_below_the_bridge(void **state)
{
        struct host *h = host_open("plx-shared-bridge");
        struct pcidev *gpu = probe(h, "0000:04:00.0");
        struct pcidev *audio = probe(h, "0000:04:00.1");
        static const char *const slot[] = { "0000:04:00.0", "0000:04:00.1" };
        static const char *const switch1[] = { "0000:03:08.0", "0000:03:10.0", "0000:04:00.0", "0000:04:00.1",
                                               "0000:05:00.0", "0000:05:00.1" };
        struct pci_addr up = addr("0000:02:00.0"), rp = addr("0000:00:02.0"), below[16];
        size_t n;

        (void)state;
        assert_addr(&gpu->parent, "0000:03:08.0");
        assert_false(gpu->parent_has_reset_subordinate);
        assert_addrs(gpu->below_parent, gpu->n_below_parent, slot, 2);
        assert_string_equal(audio->driver, "snd_hda_intel");

        assert_int_equal(pcidev_below_bridge(&h->ctx, &up, below, ELEMENTSOF(below), &n), 0);
        assert_addrs(below, n, switch1, ELEMENTSOF(switch1));
        assert_int_equal(pcidev_below_bridge(&h->ctx, &rp, below, ELEMENTSOF(below), &n), 0);
        assert_int_equal(n, 7);
        assert_addr(&below[0], "0000:02:00.0");
        assert_int_equal(pcidev_below_bridge(&h->ctx, &rp, below, 3, &n), -ENOBUFS);
        assert_int_equal(n, 3);
        free(gpu);
        free(audio);
        host_close(h);
}

/* pcidev_probe_near takes the slot's shared facts (slot, bus, bridge above, what hangs below) from a
 * sibling probed just before: the result is byte for byte what a probe of its own gives, for the
 * functions of a slot with a hotplug slot, behind a root port and behind a switch; a "sibling" in
 * another slot (or the function itself) is not taken. */
static void assert_near_equals_probe(struct host *h, const char *sibling_bdf, const char *bdf)
{
        struct pcidev *sibling = probe(h, sibling_bdf), *alone = probe(h, bdf), *near = malloc(sizeof(*near));
        struct pci_addr a = addr(bdf);

        assert_non_null(near);
        assert_int_equal(pcidev_probe_near(h->acc, &a, sibling, near), 0);
        assert_true(near->present);
        assert_string_equal(near->slot_name, alone->slot_name);
        assert_int_equal(near->alone_on_bus, alone->alone_on_bus);
        assert_int_equal(near->n_below_parent, alone->n_below_parent);
        assert_memory_equal(near, alone, sizeof(*near));
        free(sibling);
        free(alone);
        free(near);
}

static void test_probe_near_takes_the_slot_facts_of_a_sibling(void **state)
{
        static const struct {
                const char *host, *sibling, *bdf;
        } cases[] = {
                { "gpu-audio-rootport", "0000:01:00.0", "0000:01:00.1" },
                { "rtx2080ti-4func", "0000:02:00.0", "0000:02:00.1" },
                { "rtx2080ti-4func", "0000:02:00.2", "0000:02:00.3" },
                { "plx-shared-bridge", "0000:04:00.0", "0000:04:00.1" },
                { "plx-shared-bridge", "0000:04:00.1", "0000:05:00.0" }, /* another slot: probed */
                { "plx-shared-bridge", "0000:04:00.1", "0000:04:00.1" }, /* itself: probed */
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct host *h = host_open(cases[i].host);

                print_message("%s: %s near %s\n", cases[i].host, cases[i].bdf, cases[i].sibling);
                assert_near_equals_probe(h, cases[i].sibling, cases[i].bdf);
                host_close(h);
        }
}

/* The probe reads the kernel's IDs from the modalias attribute (one read instead of five): for every
 * function of every fixture tree they are what the vendor, device, class and subsystem_* attributes
 * say (drivers/pci/pci-sysfs.c modalias_show prints the same fields). */
static void test_modalias_ids_are_the_attributes(void **state)
{
        static const char *const hosts[] = { "gpu-audio-rootport", "rtx2080ti-4func", "plx-shared-bridge",
                                             "sriov-nvme", "dead-gpu", "qemu-guest-6.12" };
        size_t checked = 0;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(hosts); i++) {
                struct host *h = host_open(hosts[i]);
                char dir[PATH_MAX + 64];
                DIR *d;
                struct dirent *de;

                snprintf(dir, sizeof(dir), "%s/sys/bus/pci/devices", h->root);
                d = opendir(dir);
                assert_non_null(d);
                while ((de = readdir(d))) {
                        struct pci_addr a;
                        struct pcidev *p;
                        unsigned v;

                        if (pci_addr_parse_full(de->d_name, &a) < 0)
                                continue;
                        p = probe(h, de->d_name);
                        assert_true(p->present);
                        assert_int_equal(sysfs_dev_read_hex(&h->ctx, &a, "vendor", &v), 0);
                        assert_int_equal(p->vendor, v);
                        assert_int_equal(sysfs_dev_read_hex(&h->ctx, &a, "device", &v), 0);
                        assert_int_equal(p->device, v);
                        assert_int_equal(sysfs_dev_read_hex(&h->ctx, &a, "class", &v), 0);
                        assert_int_equal(p->class_code, v);
                        if (sysfs_dev_read_hex(&h->ctx, &a, "subsystem_vendor", &v) == 0) {
                                assert_int_equal(p->sub_vendor, v);
                                assert_int_equal(sysfs_dev_read_hex(&h->ctx, &a, "subsystem_device", &v), 0);
                                assert_int_equal(p->sub_device, v);
                        }
                        free(p);
                        checked++;
                }
                closedir(d);
                host_close(h);
        }
        assert_true(checked > 20);
}

/* Reading a function's uevent attribute takes its device lock on the stable kernels that carry
 * drivers/base/core.c uevent_show's "Synchronize with really_probe()" device_lock() (commit c0a40097f0bc,
 * backported mid-2024, e.g. Debian 12's 6.1.94 to 6.1.99, until 15fffc6a5624 took it out again). A host
 * driver stuck in its probe or remove (a wedged GPU: this tool's case), or a reset holding the lock,
 * then blocks the read uninterruptibly, and the hook with it: the VM start hangs. The ID attributes
 * and modalias (drivers/pci/pci-sysfs.c modalias_show) print the same fields without a lock. The same
 * holds for driver_override at every kernel: drivers/pci/pci-sysfs.c driver_override_show takes the
 * device lock; no plan decides on it, so only doctor reads it (doctor_device_load_facts). And for
 * sriov_numvfs (drivers/pci/iov.c sriov_numvfs_show: device_lock() since 35ff867b765, v5.11, in
 * Debian 12's 6.1 and Proxmox's kernels): a PF's VF count comes from its virtfnN links. Every
 * attribute a probe reads goes through ctx->ops->read: none may be uevent, driver_override or
 * sriov_numvfs. */
struct read_log {
        const struct pgr_sysfs_ops *real;
        void *real_userdata;
        size_t n_reads, n_uevent;
};

static int logging_read(void *userdata, const char *path, char *buf, size_t size)
{
        struct read_log *l = userdata;
        const char *slash = strrchr(path, '/');

        l->n_reads++;
        if (slash && (streq(slash + 1, "uevent") || streq(slash + 1, "driver_override") ||
                      streq(slash + 1, "sriov_numvfs")))
                l->n_uevent++;
        return l->real->read(l->real_userdata, path, buf, size);
}

static int logging_write(void *userdata, const char *path, const char *value)
{
        struct read_log *l = userdata;

        return l->real->write(l->real_userdata, path, value);
}

static void test_probe_reads_no_attribute_that_takes_the_device_lock(void **state)
{
        static const struct pgr_sysfs_ops logging = { .read = logging_read, .write = logging_write };
        static const struct {
                const char *host, *bdf;
        } cases[] = {
                { "gpu-audio-rootport", "0000:01:00.0" }, { "rtx2080ti-4func", "0000:02:00.0" },
                { "dead-gpu", "0000:01:00.0" }, { "qemu-guest-6.12", "0000:00:02.0" },
                { "sriov-nvme", "0000:2e:00.0" }, /* a PF with 3 VFs enabled */
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct host *h = host_open(cases[i].host);
                struct read_log log = { .real = h->ctx.ops, .real_userdata = h->ctx.ops_userdata };
                struct pcidev *p = malloc(sizeof(*p)), *q = malloc(sizeof(*q));
                struct pci_addr a = addr(cases[i].bdf);

                assert_non_null(p);
                assert_non_null(q);
                assert_int_equal(pcidev_probe(h->acc, &a, q), 0);
                h->ctx.ops = &logging;
                h->ctx.ops_userdata = &log;
                assert_int_equal(pcidev_probe(h->acc, &a, p), 0);
                print_message("%s %s: %zu attribute reads, %zu of uevent, driver_override or sriov_numvfs\n", cases[i].host, cases[i].bdf, log.n_reads, log.n_uevent);
                assert_true(p->present);
                assert_true(log.n_reads > 0);
                assert_int_equal(log.n_uevent, 0);
                /* and the IDs are the same as ever */
                assert_int_equal(p->vendor, q->vendor);
                assert_int_equal(p->device, q->device);
                assert_int_equal(p->class_code, q->class_code);
                assert_int_equal(p->sriov_numvfs, streq(cases[i].host, "sriov-nvme") ? 3 : 0);
                free(p);
                free(q);
                host_close(h);
        }
}

/* A tree without modalias (an older fixture, a hand-made one): the attributes give the IDs; a modalias
 * that does not parse (or a uevent, which the probe never reads) is no help either; an absent
 * function is absent. */
static void test_ids_without_modalias_come_from_the_attributes(void **state)
{
        static const char *const attrs[][2] = { { "vendor", "0x1002\n" },           { "device", "0x73bf\n" },
                                                { "class", "0x030000\n" },          { "subsystem_vendor", "0x1da2\n" },
                                                { "subsystem_device", "0xe438\n" } };
        char root[] = "/tmp/pgr-uevent-XXXXXX", dev[PATH_MAX], path[PATH_MAX + 32];
        struct pgr_ctx ctx;
        struct pcidev_access *acc;
        struct pci_addr a;
        struct pcidev p;

        (void)state;
        assert_non_null(mkdtemp(root));
        snprintf(dev, sizeof(dev), "%s/sys/bus/pci/devices/0000:05:00.0", root);
        snprintf(path, sizeof(path), "mkdir -p '%s'", dev);
        assert_int_equal(system(path), 0);
        for (size_t i = 0; i < ELEMENTSOF(attrs); i++) {
                snprintf(path, sizeof(path), "%s/%s", dev, attrs[i][0]);
                write_text(path, attrs[i][1]);
        }
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve"), 0);
        assert_int_equal(pcidev_access_new(&ctx, &acc), 0);
        a = addr("0000:05:00.0");
        assert_int_equal(pcidev_probe(acc, &a, &p), 0);
        assert_true(p.present);
        assert_int_equal(p.vendor, 0x1002);
        assert_int_equal(p.device, 0x73bf);
        assert_int_equal(p.class_code, 0x030000);
        assert_int_equal(p.sub_vendor, 0x1da2);
        assert_int_equal(p.sub_device, 0xe438);
        snprintf(path, sizeof(path), "%s/uevent", dev);
        write_text(path, "DRIVER=amdgpu\nPCI_ID=1002:FFFF\nPCI_SLOT_NAME=0000:05:00.0\n");
        snprintf(path, sizeof(path), "%s/modalias", dev);
        write_text(path, "pci:v00001002d000073BFsv00001DA2sd0000E438bc03sc00\n"); /* cut short */
        assert_int_equal(pcidev_probe(acc, &a, &p), 0);
        assert_int_equal(p.device, 0x73bf);
        assert_int_equal(p.sub_device, 0xe438);
        write_text(path, "pci:v00001002d000073AFsv00001DA2sd0000E439bc03sc80i00\n");
        assert_int_equal(pcidev_probe(acc, &a, &p), 0);
        assert_int_equal(p.vendor, 0x1002);
        assert_int_equal(p.device, 0x73af);
        assert_int_equal(p.sub_device, 0xe439);
        assert_int_equal(p.class_code, 0x038000);
        a = addr("0000:05:00.1");
        assert_int_equal(pcidev_probe(acc, &a, &p), 0);
        assert_false(p.present);
        pcidev_access_free(acc);
        assert_int_equal(rm_rf(root), 0);
}

/* sysfs_dev_realpath resolves the kernel's relative link as text (one readlink, not realpath(3)'s
 * one per component): the same directory realpath(3) names, for a device behind a switch, a root
 * port and a root bus device; an absent device is -ENOENT. */
static void test_dev_realpath_is_realpath(void **state)
{
        static const char *const bdfs[] = { "0000:04:00.1", "0000:03:08.0", "0000:02:00.0", "0000:00:02.0" };
        struct host *h = host_open("plx-shared-bridge");
        char link[PATH_MAX + 64], want[PATH_MAX], got[PATH_MAX];

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(bdfs); i++) {
                struct pci_addr a = addr(bdfs[i]);

                snprintf(link, sizeof(link), "%s/sys/bus/pci/devices/%s", h->root, bdfs[i]);
                assert_non_null(realpath(link, want));
                assert_int_equal(sysfs_dev_realpath(&h->ctx, &a, got, sizeof(got)), 0);
                assert_non_null(realpath(got, link));
                assert_string_equal(link, want);
                assert_null(strstr(got, "/../"));
                assert_null(strstr(got, "/./"));
        }
        {
                struct pci_addr a = addr("0000:0a:00.0");

                assert_int_equal(sysfs_dev_realpath(&h->ctx, &a, got, sizeof(got)), -ENOENT);
                a = addr("0000:04:00.1");
                assert_int_equal(sysfs_dev_realpath(&h->ctx, &a, got, 16), -ENAMETOOLONG);
        }
        host_close(h);
}

static void test_absent_bridge_has_nothing_below(void **state)
{
        struct host *h = host_open("plx-shared-bridge");
        struct pci_addr br = addr("0000:00:1c.0"), below[4];
        size_t n = 0;

        (void)state;
        assert_int_equal(pcidev_below_bridge(&h->ctx, &br, below, ELEMENTSOF(below), &n), -ENOENT);
        host_close(h);
}

static void test_wx3100_no_soft_reset_and_root_port_pm(void **state)
{
        struct host *h = host_open("wx3100-amdgpu");
        struct pcidev *gpu = probe(h, "0000:01:00.0");
        struct pcidev *rp = probe(h, "0000:00:01.1");

        (void)state;
        assert_int_equal(gpu->vendor, 0x1002);
        assert_int_equal(gpu->device, 0x6985);
        assert_true(gpu->has_pm);
        assert_true(gpu->pm_no_soft_reset);
        assert_false(gpu->flr_capable);
        assert_int_equal(gpu->aspm_ctl, 2); /* ASPM L1 Enabled */
        assert_string_equal(gpu->driver, "amdgpu");
        assert_int_equal(gpu->boot_vga, 1);
        assert_true(gpu->alone_on_bus);

        assert_int_equal(rp->header_type, 1);
        assert_int_equal(rp->pcie_type, 4); /* Root Port */
        assert_false(rp->pm_no_soft_reset);
        assert_true(rp->has_reset_subordinate);
        assert_true(pcidev_has_method(rp, "pm"));
        assert_false(rp->has_parent);
        assert_int_equal(rp->n_below_parent, 0);
        free(gpu);
        free(rp);
        host_close(h);
}

static void test_igpu_integrated_endpoint_has_no_link(void **state)
{
        struct host *h = host_open("keep-mdev");
        struct pcidev *d = probe(h, "0000:00:02.0");

        (void)state;
        assert_int_equal(d->device, 0x191e);
        assert_int_equal(d->pcie_type, 9);
        assert_int_equal(d->aspm_ctl, -1);
        assert_true(d->flr_capable);
        assert_false(d->pm_no_soft_reset);
        assert_false(d->has_parent);
        assert_string_equal(d->driver, "i915");
        free(d);
        host_close(h);
}

/* The e2e guest as the real 6.1 kernel shows it (sysfs-reference). */
static void test_qemu_guest_power_and_reset_facts(void **state)
{
        struct host *h = host_open("qemu-guest-6.1");
        struct pcidev *vga = probe(h, "0000:01:00.0");
        struct pcidev *nvme = probe(h, "0000:03:00.0");
        struct pcidev *nic = probe(h, "0000:02:00.1");
        struct pcidev *mch = probe(h, "0000:00:00.0");

        (void)state;
        assert_int_equal(vga->vendor, 0x1234);
        assert_int_equal(vga->d3cold_allowed, 0);
        assert_string_equal(vga->power_state, "unknown");
        assert_string_equal(vga->power_control, "on");
        assert_int_equal(vga->boot_vga, 1);
        assert_false(vga->is_pcie);
        assert_false(vga->has_pm);
        assert_false(vga->alone_on_bus);
        assert_true(pcidev_has_method(vga, "bus"));
        assert_string_equal(vga->driver, "");
        assert_string_equal(vga->slot_name, "1");

        assert_true(nvme->alone_on_bus);
        assert_true(nvme->flr_capable);
        assert_true(nvme->pm_no_soft_reset);
        assert_int_equal(nvme->d3cold_allowed, 1);
        assert_int_equal(nvme->n_link_aspm, 1);
        assert_string_equal(nvme->link_aspm[0], "l0s_aspm");
        assert_true(nvme->parent_has_reset_subordinate);

        assert_string_equal(nic->driver, "e1000e");
        assert_string_equal(nic->power_state, "D0");
        assert_int_equal(nic->n_reset_methods, 1);
        assert_string_equal(nic->reset_methods[0], "pm");
        assert_false(nic->flr_capable);

        assert_false(mch->has_parent);
        assert_false(mch->has_reset);
        assert_int_equal(mch->iommu_group, 0);
        free(vga);
        free(nvme);
        free(nic);
        free(mch);
        host_close(h);
}

/* Facts are read afresh on every probe: a device that stops answering, then disappears. */
static void test_probe_sees_config_go_dead_and_device_vanish(void **state)
{
        struct host *h = host_open("host-driver");
        char cfg[PATH_MAX], link[PATH_MAX], moved[PATH_MAX + 8];
        unsigned char ff[256];
        struct pcidev *d;
        int fd;

        (void)state;
        d = probe(h, "0000:01:00.0");
        assert_true(d->config_readable);
        assert_string_equal(d->driver, "nvidia");
        free(d);

        assert_int_equal(pgr_path(&h->ctx, cfg, sizeof(cfg), "/sys/bus/pci/devices/0000:01:00.0/config"), 0);
        memset(ff, 0xff, sizeof(ff));
        fd = open(cfg, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, ff, sizeof(ff)), (ssize_t)sizeof(ff));
        close(fd);
        d = probe(h, "0000:01:00.0");
        assert_true(d->present);
        assert_false(d->config_readable);
        assert_int_equal(d->device, 0x1b06);
        free(d);

        assert_int_equal(pgr_path(&h->ctx, link, sizeof(link), "/sys/bus/pci/devices/0000:01:00.0"), 0);
        snprintf(moved, sizeof(moved), "%s.gone", link);
        assert_int_equal(rename(link, moved), 0);
        d = probe(h, "0000:01:00.0");
        assert_false(d->present);
        free(d);
        assert_int_equal(rename(moved, link), 0);
        host_close(h);
}

static unsigned config_byte(const struct host *h, const char *bdf, unsigned off)
{
        char abs[PATH_MAX], path[PATH_MAX];
        unsigned char b = 0;
        int fd;

        snprintf(abs, sizeof(abs), "/sys/bus/pci/devices/%s/config", bdf);
        assert_int_equal(pgr_path(&h->ctx, path, sizeof(path), abs), 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &b, 1, off), 1);
        close(fd);
        return b;
}

/* Only the ASPM Control bits change; the HDA function of the PLX host is not checked elsewhere. */
static void test_aspm_disable_clears_link_control(void **state)
{
        struct host *h = host_open("plx-shared-bridge");
        struct pci_addr a = addr("0000:04:00.1"), absent = addr("0000:04:00.2");
        struct pcidev *d = probe(h, "0000:04:00.1");
        unsigned lnkctl_lo, lnkctl_hi;

        (void)state;
        assert_int_equal(d->aspm_ctl, 3);
        free(d);
        /* PCIe capability at 0x78 in the dump; Link Control at +0x10 reads 0x0103 */
        lnkctl_lo = config_byte(h, "0000:04:00.1", 0x78 + 0x10);
        lnkctl_hi = config_byte(h, "0000:04:00.1", 0x78 + 0x11);
        assert_int_equal(lnkctl_lo, 0x03);
        assert_int_equal(pcidev_aspm_disable(h->acc, &a), 0);
        d = probe(h, "0000:04:00.1");
        assert_int_equal(d->aspm_ctl, 0);
        free(d);
        assert_int_equal(config_byte(h, "0000:04:00.1", 0x78 + 0x10), lnkctl_lo & ~3u);
        assert_int_equal(config_byte(h, "0000:04:00.1", 0x78 + 0x11), lnkctl_hi); /* other bits kept */
        assert_int_equal(pcidev_aspm_disable(h->acc, &a), 0); /* already off */
        assert_int_equal(pcidev_aspm_disable(h->acc, &absent), -ENODEV);
        host_close(h);
}

static void test_aspm_disable_refused_without_a_link(void **state)
{
        struct host *igpu = host_open("keep-mdev"), *dead = host_open("dead-gpu"), *qemu = host_open("qemu-guest-6.1");
        struct pci_addr rciep = addr("0000:00:02.0"), gone = addr("0000:01:00.0"), vga = addr("0000:01:00.0");

        (void)state;
        assert_int_equal(pcidev_aspm_disable(igpu->acc, &rciep), -EOPNOTSUPP);
        assert_int_equal(pcidev_aspm_disable(dead->acc, &gone), -EIO);
        assert_int_equal(pcidev_aspm_disable(qemu->acc, &vga), -EOPNOTSUPP); /* conventional PCI */
        host_close(igpu);
        host_close(dead);
        host_close(qemu);
}

static void test_bridge_secondary_reset_toggles_bridge_control(void **state)
{
        struct host *h = host_open("qemu-guest-6.1");
        struct pci_addr rp = addr("0000:00:02.0"), ep = addr("0000:02:00.0");

        (void)state;
        assert_int_equal(config_byte(h, "0000:00:02.0", 0x3e) & 0x40, 0);
        assert_int_equal(pcidev_bridge_secondary_reset(h->acc, &rp, true), 0);
        assert_int_equal(config_byte(h, "0000:00:02.0", 0x3e) & 0x40, 0x40);
        assert_int_equal(config_byte(h, "0000:00:02.0", 0x19), 2); /* bus numbers untouched */
        assert_int_equal(pcidev_bridge_secondary_reset(h->acc, &rp, false), 0);
        assert_int_equal(config_byte(h, "0000:00:02.0", 0x3e) & 0x40, 0);
        assert_int_equal(pcidev_bridge_secondary_reset(h->acc, &ep, true), -ENOTTY);
        host_close(h);
}

/* The qemu-guest-* trees say what the real kernels said: every "key=value", "link -> target" and
 * "link/: names" line of tests/fixtures/real/sysfs-reference/ matches the tree. */
static void check_reference(const char *host, const char *reference)
{
        char refpath[PATH_MAX], dev[PCI_ADDR_STRLEN] = "", line[512];
        struct pgr_ctx ctx;
        char root[PATH_MAX];
        size_t n_checked = 0;
        FILE *f;

        assert_non_null(getenv("PGR_FIXTURES"));
        snprintf(root, sizeof(root), "%s/%s", getenv("PGR_FIXTURES"), host);
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve"), 0);
        snprintf(refpath, sizeof(refpath), "%s/sysfs-reference/%s", real_fixtures(), reference);
        f = fopen(refpath, "re");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
                struct pci_addr a;
                char *arrow, *eq, want[256], got[256];

                line[strcspn(line, "\n")] = '\0';
                if (strncmp(line, "### ", 4) == 0) {
                        dev[0] = '\0';
                        if (pci_addr_parse_full(line + 4, &a) == 0)
                                pci_addr_format(&a, dev);
                        continue;
                }
                if (!dev[0] || pci_addr_parse_full(dev, &a) < 0)
                        continue;
                arrow = strstr(line, " -> ");
                eq = strchr(line, '=');
                if (arrow) {
                        char path[PATH_MAX + sizeof(line) + 64], target[PATH_MAX];
                        ssize_t k;

                        *arrow = '\0';
                        snprintf(want, sizeof(want), "%s", arrow + 4);
                        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/%s", root, dev, line);
                        k = readlink(path, target, sizeof(target) - 1);
                        if (k < 0)
                                fail_msg("%s: %s: no link %s", host, dev, line);
                        target[k] = '\0';
                        if (!streq(target, want))
                                fail_msg("%s: %s: %s -> %s, want %s", host, dev, line, target, want);
                } else if (strncmp(line, "link/:", 6) == 0) {
                        char *save = NULL;
                        size_t want_n = 0;
                        struct pcidev *d = malloc(sizeof(*d));
                        struct pcidev_access *acc;

                        assert_non_null(d);
                        assert_int_equal(pcidev_access_new(&ctx, &acc), 0);
                        assert_int_equal(pcidev_probe(acc, &a, d), 0);
                        for (char *w = strtok_r(line + 6, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                                assert_true(want_n < d->n_link_aspm);
                                assert_string_equal(d->link_aspm[want_n], w);
                                want_n++;
                        }
                        assert_int_equal(d->n_link_aspm, want_n);
                        pcidev_access_free(acc);
                        free(d);
                } else if (eq) {
                        *eq = '\0';
                        snprintf(want, sizeof(want), "%s", eq + 1);
                        if (sysfs_dev_read(&ctx, &a, line, got, sizeof(got)) < 0)
                                fail_msg("%s: %s: no attribute %s", host, dev, line);
                        if (!streq(got, want))
                                fail_msg("%s: %s: %s=%s, want %s", host, dev, line, got, want);
                } else
                        continue;
                n_checked++;
        }
        fclose(f);
        assert_true(n_checked > 150);
}

static void test_qemu_guest_trees_match_the_real_kernels(void **state)
{
        (void)state;
        check_reference("qemu-guest-6.1", "debian12-linux-6.1-qemu-q35.txt");
        check_reference("qemu-guest-6.12", "debian12-linux-6.12-qemu-q35.txt");
}

static void test_tree_without_sys_is_a_clean_error(void **state)
{
        char root[] = "/tmp/pgr-pcidev-XXXXXX", path[PATH_MAX];
        struct pcidev_access *acc = (struct pcidev_access *)0x1;
        struct pgr_ctx ctx;
        int fd;

        (void)state;
        assert_non_null(mkdtemp(root));
        assert_int_equal(pgr_ctx_init(&ctx, root, "pve"), 0);
        assert_int_equal(pcidev_access_new(&ctx, &acc), -ENOENT);
        assert_ptr_equal(acc, (struct pcidev_access *)0x1); /* untouched on failure */

        /* devices is a file, not a directory */
        snprintf(path, sizeof(path), "%s/sys", root);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/sys/bus", root);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/sys/bus/pci", root);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices", root);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(pcidev_access_new(&ctx, &acc), -ENOTDIR);

        /* an empty but valid tree: every device is simply absent */
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0755), 0);
        assert_int_equal(pcidev_access_new(&ctx, &acc), 0);
        {
                struct pci_addr a = addr("0000:01:00.0");
                struct pcidev d;

                assert_int_equal(pcidev_probe(acc, &a, &d), 0);
                assert_false(d.present);
        }
        pcidev_access_free(acc);
        pcidev_access_free(NULL);

        rmdir(path);
        snprintf(path, sizeof(path), "%s/sys/bus/pci", root);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/sys/bus", root);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/sys", root);
        rmdir(path);
        assert_int_equal(rmdir(root), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pci_id_parse_takes_only_the_tools_own_form),
                cmocka_unit_test(test_gt218_vga_behind_root_port),
                cmocka_unit_test(test_gt218_audio_has_no_reset),
                cmocka_unit_test(test_unrelated_nvme_alone_on_its_bus),
                cmocka_unit_test(test_absent_device_is_not_present),
                cmocka_unit_test(test_whole_slot_address_is_rejected),
                cmocka_unit_test(test_rtx2080ti_vga_can_flr),
                cmocka_unit_test(test_rtx2080ti_usb_functions_on_host_drivers),
                cmocka_unit_test(test_slot_without_function_expands_to_present_functions),
                cmocka_unit_test(test_k2200_cannot_flr),
                cmocka_unit_test(test_p1000_mail_quoted_dump_in_d3hot),
                cmocka_unit_test(test_dead_gpu_config_unreadable_but_ids_cached),
                cmocka_unit_test(test_plx_foreign_function_below_the_bridge),
                cmocka_unit_test(test_probe_near_takes_the_slot_facts_of_a_sibling),
                cmocka_unit_test(test_modalias_ids_are_the_attributes),
                cmocka_unit_test(test_ids_without_modalias_come_from_the_attributes),
                cmocka_unit_test(test_probe_reads_no_attribute_that_takes_the_device_lock),
                cmocka_unit_test(test_absent_bridge_has_nothing_below),
                cmocka_unit_test(test_dev_realpath_is_realpath),
                cmocka_unit_test(test_wx3100_no_soft_reset_and_root_port_pm),
                cmocka_unit_test(test_igpu_integrated_endpoint_has_no_link),
                cmocka_unit_test(test_qemu_guest_power_and_reset_facts),
                cmocka_unit_test(test_probe_sees_config_go_dead_and_device_vanish),
                cmocka_unit_test(test_aspm_disable_clears_link_control),
                cmocka_unit_test(test_aspm_disable_refused_without_a_link),
                cmocka_unit_test(test_bridge_secondary_reset_toggles_bridge_control),
                cmocka_unit_test(test_qemu_guest_trees_match_the_real_kernels),
                cmocka_unit_test(test_tree_without_sys_is_a_clean_error),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
