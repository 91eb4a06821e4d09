/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pcidev_probe on a tiny fixture tree whose sysfs values come from the input: the reset_method
 * list, the driver and iommu_group links, numbers (d3cold_allowed, boot_vga, vendor...), the slot
 * address file and config space (read by libpci). This reaches the static parsers of pcidev.c
 * (probe_reset, probe_iommu_group, probe_slot...) through the library's own sysfs seam.
 * Input: NUL-separated reset_method, driver link target, iommu_group link target,
 * driver_override, d3cold_allowed, boot_vga, power/control, power_state, vendor, device, class,
 * subsystem_vendor, subsystem_device, modalias (the IDs the probe reads first), slots/1/address; the rest is
 * config space. An empty field
 * is an absent attribute (or link). */
#include "fuzz.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "kernel/pcidev.h"
#include "kernel/sysfs.h"

enum {
        F_RESET_METHOD, F_DRIVER, F_IOMMU_GROUP, F_DRIVER_OVERRIDE, F_D3COLD, F_BOOT_VGA, F_POWER_CONTROL,
        F_POWER_STATE, F_VENDOR, F_DEVICE, F_CLASS, F_SUB_VENDOR, F_SUB_DEVICE, F_MODALIAS, F_SLOT_ADDRESS, N_FIELDS
};

/* Attributes served from the input, by field. */
static const char *const attr_names[N_FIELDS] = {
        [F_RESET_METHOD] = "reset_method",       [F_DRIVER_OVERRIDE] = "driver_override",
        [F_D3COLD] = "d3cold_allowed",           [F_BOOT_VGA] = "boot_vga",
        [F_POWER_CONTROL] = "power/control",     [F_POWER_STATE] = "power_state",
        [F_VENDOR] = "vendor",                   [F_DEVICE] = "device",
        [F_CLASS] = "class",                     [F_SUB_VENDOR] = "subsystem_vendor",
        [F_SUB_DEVICE] = "subsystem_device",    [F_MODALIAS] = "modalias",
};

static struct pgr_ctx ctx;
static struct pcidev_access *acc;
static char root[PATH_MAX], devdir[PATH_MAX], busdev[PATH_MAX], slot_address[PATH_MAX];
static struct fuzz_fields cur;
static const struct pci_addr dev = { 0, 1, 0, 0 }, bridge = { 0, 0, 1, 0 };

static int fuzz_read(void *userdata, const char *path, char *buf, size_t size)
{
        size_t n = strlen(busdev);
        const char *value = NULL;

        (void)userdata;
        if (strncmp(path, busdev, n) == 0 && path[n] == '/') {
                for (size_t i = 0; i < N_FIELDS; i++)
                        if (attr_names[i] && streq(path + n + 1, attr_names[i]))
                                value = cur.f[i];
        } else if (streq(path, slot_address))
                value = cur.f[F_SLOT_ADDRESS];
        if (!value)
                return pgr_sysfs_ops_real.read(NULL, path, buf, size);
        if (!value[0])
                return -ENOENT;
        if (size == 0)
                return -EINVAL;
        n = strlen(value);
        if (n > size - 1)
                n = size - 1;
        memcpy(buf, value, n);
        buf[n] = '\0';
        return (int)n;
}

static int fuzz_write(void *userdata, const char *path, const char *value)
{
        (void)userdata;
        (void)path;
        (void)value;
        abort(); /* probing never writes */
}

static const struct pgr_sysfs_ops fuzz_ops = { .read = fuzz_read, .write = fuzz_write };

static void mkpath(const char *fmt, const char *arg)
{
        char p[PATH_MAX * 2];
        size_t n;

        n = (size_t)snprintf(p, sizeof(p), fmt, root, arg);
        FUZZ_CHECK(n < sizeof(p));
        for (char *s = p + strlen(root) + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                FUZZ_CHECK(mkdir(p, 0755) == 0 || errno == EEXIST);
                *s = '/';
        }
        FUZZ_CHECK(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static void mkfile(const char *dir, const char *name, const char *content)
{
        char p[PATH_MAX * 2];
        int fd;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
        close(fd);
}

static void mklink(const char *target, const char *fmt, const char *arg)
{
        char p[PATH_MAX * 2];

        snprintf(p, sizeof(p), fmt, root, arg);
        FUZZ_CHECK(symlink(target, p) == 0);
}

static void rm_tree(void)
{
        char cmd[PATH_MAX + 32];

        pcidev_access_free(acc);
        acc = NULL;
        if (root[0] && strstr(root, "pgr-fuzz-pcidev.")) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
                if (system(cmd) != 0)
                        fprintf(stderr, "fuzz_pcidev: could not remove %s\n", root);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *tmp = fuzz_tmpdir();
        char bridgedir[PATH_MAX];

        (void)argc;
        (void)argv;
        snprintf(root, sizeof(root), "%s/pgr-fuzz-pcidev.XXXXXX", tmp);
        FUZZ_CHECK(mkdtemp(root));
        atexit(rm_tree);
        mkpath("%s/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/%s", "power");
        mkpath("%s/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/%s", "link");
        mkpath("%s/sys/devices/pci0000:00/0000:00:01.0/%s", "0000:01:00.1");
        mkpath("%s/sys/bus/pci/%s", "devices");
        mkpath("%s/sys/bus/pci/drivers/%s", "vfio-pci");
        mkpath("%s/sys/bus/pci/slots/%s", "1");
        mkpath("%s/sys/kernel/iommu_groups/14/%s", "devices");
        mklink("../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0", "%s/sys/bus/pci/devices/%s", "0000:01:00.0");
        mklink("../../../devices/pci0000:00/0000:00:01.0/0000:01:00.1", "%s/sys/bus/pci/devices/%s", "0000:01:00.1");
        mklink("../../../devices/pci0000:00/0000:00:01.0", "%s/sys/bus/pci/devices/%s", "0000:00:01.0");
        mklink("../../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0", "%s/sys/kernel/iommu_groups/14/devices/%s",
               "0000:01:00.0");
        snprintf(devdir, sizeof(devdir), "%s/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0", root);
        snprintf(bridgedir, sizeof(bridgedir), "%s/sys/devices/pci0000:00/0000:00:01.0", root);
        snprintf(busdev, sizeof(busdev), "%s/sys/bus/pci/devices/0000:01:00.0", root);
        snprintf(slot_address, sizeof(slot_address), "%s/sys/bus/pci/slots/1/address", root);
        /* the attributes must exist for sysfs_dev_has(); their content comes from the input */
        for (size_t i = 0; i < N_FIELDS; i++)
                if (attr_names[i])
                        mkfile(devdir, attr_names[i], "");
        mkfile(devdir, "reset", "");
        mkfile(devdir, "config", "");
        mkfile(devdir, "link/l1_aspm", "1\n");
        mkfile(devdir, "link/l0s_aspm", "0\n");
        mkfile(bridgedir, "reset_subordinate", "");
        mkfile(bridgedir, "vendor", "0x8086\n");
        {
                char slotdir[PATH_MAX + 32];

                snprintf(slotdir, sizeof(slotdir), "%s/sys/bus/pci/slots/1", root);
                mkfile(slotdir, "address", "");
        }

        FUZZ_CHECK(pgr_ctx_init(&ctx, root, "pve") == 0);
        ctx.ops = &fuzz_ops;
        FUZZ_CHECK(pcidev_access_new(&ctx, &acc) == 0);
        return 0;
}

/* (Re)points devdir/<name> at prefix + target; an empty target leaves no link. */
static void set_link(const char *name, const char *prefix, const char *target)
{
        char p[PATH_MAX * 2], t[PATH_MAX * 2];

        snprintf(p, sizeof(p), "%s/%s", devdir, name);
        FUZZ_CHECK(unlink(p) == 0 || errno == ENOENT);
        if (!target[0] || (size_t)snprintf(t, sizeof(t), "%s%s", prefix, target) >= PATH_MAX)
                return;
        FUZZ_CHECK(symlink(t, p) == 0);
}

static void set_config(const uint8_t *data, size_t size)
{
        char p[PATH_MAX * 2];
        int fd;

        if (size > 4096)
                size = 4096;
        snprintf(p, sizeof(p), "%s/config", devdir);
        fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
        close(fd);
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char)*s))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ struct pcidev *d = malloc(sizeof(*d));
        const char *g;

        FUZZ_CHECK(d);
        fuzz_fields_split(data, size, N_FIELDS, &cur);
        set_link("driver", "../../../../bus/pci/drivers/", cur.f[F_DRIVER]);
        set_link("iommu_group", "../../../../kernel/iommu_groups/", cur.f[F_IOMMU_GROUP]);
        set_config(cur.rest, cur.rest_size);

        FUZZ_CHECK(pcidev_probe(acc, &dev, d) == 0);
        FUZZ_CHECK(d->present && pci_addr_eq(&d->addr, &dev) && streq(d->bdf, "0000:01:00.0"));
        /* an empty field is an absent attribute: reset_method is read, not looked up */
        FUZZ_CHECK(d->has_reset && d->has_reset_method == (cur.f[F_RESET_METHOD][0] != '\0'));
        FUZZ_CHECK(d->n_reset_methods <= PCIDEV_MAX_METHODS);
        for (size_t i = 0; i < d->n_reset_methods; i++) {
                const char *m = d->reset_methods[i];

                FUZZ_CHECK(memchr(m, '\0', sizeof(d->reset_methods[i])) && m[0]);
                FUZZ_CHECK(!strpbrk(m, " \t\n")); /* the separators the kernel writes */
                FUZZ_CHECK(pcidev_has_method(d, m));
        }
        FUZZ_CHECK(memchr(d->driver, '\0', sizeof(d->driver)) && !strchr(d->driver, '/'));
        if (d->driver[0]) {
                const char *t = cur.f[F_DRIVER], *base = strrchr(t, '/');

                FUZZ_CHECK(streq(d->driver, base ? base + 1 : t));
        }
        FUZZ_CHECK(memchr(d->driver_override, '\0', sizeof(d->driver_override)));
        FUZZ_CHECK(!streq(d->driver_override, "(null)"));
        FUZZ_CHECK(d->iommu_group >= -1);
        g = strrchr(cur.f[F_IOMMU_GROUP], '/');
        g = g ? g + 1 : cur.f[F_IOMMU_GROUP];
        if (d->iommu_group >= 0)
                FUZZ_CHECK(all_digits(g) && strtoul(g, NULL, 10) == (unsigned long)d->iommu_group);
        if (d->iommu_group == 14)
                FUZZ_CHECK(d->n_group_members == 1 && pci_addr_eq(&d->group_members[0], &dev));
        FUZZ_CHECK(d->n_group_members <= PCIDEV_MAX_RELATED);
        FUZZ_CHECK(d->d3cold_allowed >= -1 && d->boot_vga >= -1);
        FUZZ_CHECK(d->pm_state >= -1 && d->pm_state <= 3);
        FUZZ_CHECK(d->aspm_ctl >= -1 && d->aspm_ctl <= 3);
        FUZZ_CHECK(d->pcie_type >= -1 && d->pcie_type <= 15);
        FUZZ_CHECK(d->header_type <= 0x7f);
        FUZZ_CHECK(d->vendor <= 0xffff && d->device <= 0xffff && d->class_code <= 0xffffff);
        FUZZ_CHECK(memchr(d->name, '\0', sizeof(d->name)));
        FUZZ_CHECK(memchr(d->power_control, '\0', sizeof(d->power_control)));
        FUZZ_CHECK(memchr(d->power_state, '\0', sizeof(d->power_state)));
        FUZZ_CHECK(d->n_link_aspm == 2);
        FUZZ_CHECK(!d->slot_name[0] || streq(d->slot_name, "1"));
        FUZZ_CHECK(d->has_parent && pci_addr_eq(&d->parent, &bridge) && d->parent_has_reset_subordinate);
        FUZZ_CHECK(d->n_below_parent == 2 && !d->alone_on_bus);
        {
                char cls[8];

                pcidev_class_str(d, cls);
                FUZZ_CHECK(strlen(cls) == 4);
        }
        fuzz_fields_done(&cur);
        return 0;
}
