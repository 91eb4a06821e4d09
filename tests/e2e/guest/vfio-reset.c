/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfio-reset — the e2e guest's stand-in for QEMU with passed-through PCI functions.
 *
 *   vfio-reset BDF[,BDF...] STEP...      (BDF with domain: 0000:04:00.0)
 *
 * The steps run in order in ONE process, because the file descriptors are the point: vfio-pci resets a
 * function when its device fd is opened and again when it is released, so a step that needs the device
 * open (a guest reboot) cannot be a process of its own. Steps:
 *
 *   open           /dev/vfio/vfio, each function's group (VFIO_GROUP_GET_STATUS: viable?),
 *                  VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU (type1v2, else type1), VFIO_GROUP_GET_DEVICE_FD
 *                  for each function, as QEMU's vfio_realize -> vfio_get_group/vfio_get_device do.
 *                  The kernel resets each function here: vfio_pci_core_enable() calls
 *                  pci_try_reset_function() and records whether it worked (vdev->reset_works).
 *   info           VFIO_DEVICE_GET_INFO per function: does it report VFIO_DEVICE_FLAGS_RESET (= reset_works),
 *                  and what QEMU derives from config space (has_flr, has_pm_reset).
 *   reset[=BDF]    VFIO_DEVICE_RESET on BDF (default: the first function): pci_try_reset_function() in
 *                  vfio_pci_ioctl_reset, -EINVAL when the function reported no reset.
 *   hot-reset[=BDF] QEMU's vfio_pci_hot_reset(): VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (ENOSPC first to learn
 *                  the count), every affected function's group must be one this process opened (else
 *                  EPERM, no ioctl, as QEMU: "depends on group N which is not owned"), then
 *                  VFIO_DEVICE_PCI_HOT_RESET with those group fds (the kernel's pci_reset_bus: slot or bus).
 *   reboot         what QEMU does on a guest reboot (system reset): per function vfio_pci_reset() —
 *                  VFIO_DEVICE_RESET when the function reports a reset and (has_flr or !has_pm_reset), else
 *                  a hot reset that affects no other open function ("one"), else VFIO_DEVICE_RESET when
 *                  has_pm_reset — then vfio_reset_handler(): every function whose
 *                  vfio_pci_compute_needs_reset() says so (!reset_works, or pm reset without FLR) gets the
 *                  multi-function hot reset (vfio_pci_hot_reset_multi).
 *   close          close the device fds, groups and container (vfio_pci_core_close_device ->
 *                  vfio_pci_core_disable: a function reset when reset_works, then
 *                  vfio_pci_dev_set_try_reset: a bus reset when a function of the set still needs one).
 *   mark=NAME      print "E2E-STEP NAME" on /dev/console and wait until it has left the UART (tcdrain), so
 *                  the host's log has it before any QEMU trace line of the next step (tests/e2e/lib.sh
 *                  checks "# e2e-trace-none@NAME:" lines between this marker and the next one).
 *
 * Each step prints "vfio: STEP BDF ok" or "vfio: STEP BDF failed: errno N (ENAME, text)" on stdout; the
 * exit status is 0 when every step that the scenario asked for ran (a failed ioctl is a result, not an
 * error), 1 when open failed (later steps are skipped), 2 on usage errors.
 *
 * Sources: QEMU 7.2 hw/vfio/pci.c (vfio_pci_reset, vfio_pci_hot_reset, vfio_pci_compute_needs_reset,
 * vfio_check_pcie_flr, vfio_check_pm_reset), hw/vfio/common.c (vfio_reset_handler, vfio_get_group,
 * vfio_connect_container); Linux drivers/vfio/pci/vfio_pci_core.c (vfio_pci_core_enable,
 * vfio_pci_core_disable, vfio_pci_ioctl_get_pci_hot_reset_info, vfio_pci_ioctl_pci_hot_reset,
 * vfio_pci_dev_set_hot_reset).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define MAX_FUNCS 8
#define PCI_SLOT(devfn) (((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn) ((devfn) & 0x07)

struct func {
        char bdf[16];
        int group_id;
        int group_fd; /* shared with other functions of the same group; owned by groups[] */
        int fd;
        bool reset_works, has_flr, has_pm_reset, needs_reset;
};

struct vfio {
        int container;
        int n_funcs, n_groups;
        struct func f[MAX_FUNCS];
        int group_ids[MAX_FUNCS], group_fds[MAX_FUNCS];
};

static void report(const char *step, const char *bdf, int r)
{
        if (r >= 0)
                printf("vfio: %s %s ok\n", step, bdf);
        else
                printf("vfio: %s %s failed: errno %d (%s, %s)\n", step, bdf, -r, strerrorname_np(-r) ?: "?",
                       strerror(-r));
        fflush(stdout);
}

static int group_of(const char *bdf)
{
        char path[128], link[256];
        ssize_t n;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return -errno;
        link[n] = '\0';
        return atoi(strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
}

/* Config space through the device fd, as QEMU reads it (the kernel's virtualized view). */
static int config_read(const struct func *f, unsigned off, void *buf, size_t len)
{
        struct vfio_region_info reg = { .argsz = sizeof(reg), .index = VFIO_PCI_CONFIG_REGION_INDEX };

        if (ioctl(f->fd, VFIO_DEVICE_GET_REGION_INFO, &reg) < 0)
                return -errno;
        if (pread(f->fd, buf, len, (off_t)(reg.offset + off)) != (ssize_t)len)
                return -EIO;
        return 0;
}

static unsigned find_cap(const struct func *f, uint8_t id)
{
        uint8_t pos = 0, cap[2];
        uint16_t status = 0;

        if (config_read(f, PCI_STATUS, &status, 2) < 0 || !(status & PCI_STATUS_CAP_LIST))
                return 0;
        if (config_read(f, PCI_CAPABILITY_LIST, &pos, 1) < 0)
                return 0;
        for (int guard = 0; pos >= 0x40 && guard < 48; guard++) {
                if (config_read(f, pos, cap, 2) < 0)
                        return 0;
                if (cap[0] == id)
                        return pos;
                pos = cap[1];
        }
        return 0;
}

/* QEMU vfio_check_pcie_flr / vfio_check_pm_reset, and vfio_populate_device's reset_works. */
static int probe_func(struct func *f)
{
        struct vfio_device_info info = { .argsz = sizeof(info) };
        unsigned pos;

        if (ioctl(f->fd, VFIO_DEVICE_GET_INFO, &info) < 0)
                return -errno;
        f->reset_works = info.flags & VFIO_DEVICE_FLAGS_RESET;
        f->has_flr = f->has_pm_reset = false;
        pos = find_cap(f, PCI_CAP_ID_EXP);
        if (pos) {
                uint32_t devcap = 0;
                if (config_read(f, pos + PCI_EXP_DEVCAP, &devcap, 4) == 0)
                        f->has_flr = devcap & PCI_EXP_DEVCAP_FLR;
        }
        pos = find_cap(f, PCI_CAP_ID_PM);
        if (pos) {
                uint16_t pmcsr = 0;
                if (config_read(f, pos + PCI_PM_CTRL, &pmcsr, 2) == 0)
                        f->has_pm_reset = !(pmcsr & PCI_PM_CTRL_NO_SOFT_RESET);
        }
        return 0;
}

static int step_open(struct vfio *v)
{
        int r;

        v->container = open("/dev/vfio/vfio", O_RDWR);
        if (v->container < 0)
                return -errno;
        if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
                return -EINVAL;
        for (int i = 0; i < v->n_funcs; i++) {
                struct func *f = &v->f[i];
                int g;

                f->group_id = group_of(f->bdf);
                if (f->group_id < 0)
                        return f->group_id;
                for (g = 0; g < v->n_groups && v->group_ids[g] != f->group_id; g++)
                        ;
                if (g == v->n_groups) {
                        struct vfio_group_status st = { .argsz = sizeof(st) };
                        char path[64];
                        int fd;

                        snprintf(path, sizeof(path), "/dev/vfio/%d", f->group_id);
                        fd = open(path, O_RDWR);
                        if (fd < 0)
                                return -errno;
                        v->group_ids[g] = f->group_id;
                        v->group_fds[g] = fd;
                        v->n_groups++;
                        if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0)
                                return -errno;
                        /* Not viable: a function of the group is bound to a host driver (QEMU:
                         * "group N is not viable"). */
                        if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
                                return -EPERM;
                        if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &v->container) < 0)
                                return -errno;
                        /* QEMU vfio_connect_container: the IOMMU type is set once the first group is in. */
                        if (g == 0) {
                                int type = ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0
                                                   ? VFIO_TYPE1v2_IOMMU
                                                   : VFIO_TYPE1_IOMMU;
                                if (ioctl(v->container, VFIO_SET_IOMMU, type) < 0)
                                        return -errno;
                        }
                }
                f->group_fd = v->group_fds[g];
                /* vfio_pci_core_enable: the kernel's first reset of the function happens here. */
                f->fd = ioctl(f->group_fd, VFIO_GROUP_GET_DEVICE_FD, f->bdf);
                if (f->fd < 0)
                        return -errno;
                r = probe_func(f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static struct func *find_func(struct vfio *v, const char *bdf)
{
        if (!bdf)
                return &v->f[0];
        for (int i = 0; i < v->n_funcs; i++)
                if (!strcmp(v->f[i].bdf, bdf))
                        return &v->f[i];
        return NULL;
}

static bool owned_group(const struct vfio *v, uint32_t id, int *ret_fd)
{
        for (int g = 0; g < v->n_groups; g++)
                if ((uint32_t)v->group_ids[g] == id) {
                        if (ret_fd)
                                *ret_fd = v->group_fds[g];
                        return true;
                }
        return false;
}

/* How QEMU's vfio_pci_hot_reset(vdev, single) is called: HOT_RESET_ONE (single, from vfio_pci_reset)
 * refuses (-EINVAL) a hot reset that would also reset another function this process has open, leaving it
 * to the system reset handler; HOT_RESET_MULTI (from vfio_reset_handler) refuses one that would not
 * (a "one" did it already); HOT_RESET_ANY is the plain ioctl pair. */
enum hot_reset_mode { HOT_RESET_ANY, HOT_RESET_ONE, HOT_RESET_MULTI };

static int hot_reset(struct vfio *v, struct func *f, enum hot_reset_mode mode, bool verbose)
{
        bool other_open = false;
        struct vfio_pci_hot_reset_info *info;
        struct vfio_pci_hot_reset *reset;
        uint32_t count;
        int r = 0, n_fds = 0;

        info = calloc(1, sizeof(*info));
        if (!info)
                return -ENOMEM;
        info->argsz = sizeof(*info);
        if (ioctl(f->fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info) < 0 && errno != ENOSPC) {
                r = -errno;
                free(info);
                return r;
        }
        count = info->count;
        free(info);
        info = calloc(1, sizeof(*info) + count * sizeof(info->devices[0]));
        if (!info)
                return -ENOMEM;
        info->argsz = sizeof(*info) + count * sizeof(info->devices[0]);
        if (ioctl(f->fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info) < 0) {
                r = -errno;
                goto out;
        }
        reset = calloc(1, sizeof(*reset) + (size_t)v->n_groups * sizeof(reset->group_fds[0]));
        if (!reset) {
                r = -ENOMEM;
                goto out;
        }
        reset->argsz = sizeof(*reset) + (uint32_t)v->n_groups * sizeof(reset->group_fds[0]);
        for (uint32_t i = 0; i < info->count; i++) {
                const struct vfio_pci_dependent_device *d = &info->devices[i];
                char bdf[16];
                int gfd = -1;

                snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", d->segment, d->bus, PCI_SLOT(d->devfn),
                         PCI_FUNC(d->devfn));
                if (verbose)
                        printf("vfio: hot-reset %s affects %s (group %u)\n", f->bdf, bdf, d->group_id);
                if (!strcmp(bdf, f->bdf))
                        continue;
                if (!owned_group(v, d->group_id, &gfd)) {
                        printf("vfio: hot-reset %s depends on group %u which is not owned\n", f->bdf, d->group_id);
                        r = -EPERM;
                        goto out_reset;
                }
                other_open |= find_func(v, bdf) != NULL;
        }
        if ((mode == HOT_RESET_ONE && other_open) || (mode == HOT_RESET_MULTI && !other_open)) {
                r = -EINVAL;
                goto out_reset;
        }
        /* Every group we hold that appears in the list, once (QEMU: "Fill in group fds"). */
        for (int g = 0; g < v->n_groups; g++)
                for (uint32_t i = 0; i < info->count; i++)
                        if ((uint32_t)v->group_ids[g] == info->devices[i].group_id) {
                                reset->group_fds[n_fds++] = v->group_fds[g];
                                break;
                        }
        reset->count = (uint32_t)n_fds;
        if (ioctl(f->fd, VFIO_DEVICE_PCI_HOT_RESET, reset) < 0)
                r = -errno;
out_reset:
        free(reset);
out:
        free(info);
        return r;
}

/* QEMU vfio_pci_reset (the device's reset on a system reset), then vfio_reset_handler. */
static void step_reboot(struct vfio *v)
{
        for (int i = 0; i < v->n_funcs; i++) {
                struct func *f = &v->f[i];
                const char *how = "nothing";
                int r = -ENOTTY;

                if (f->reset_works && (f->has_flr || !f->has_pm_reset)) {
                        r = ioctl(f->fd, VFIO_DEVICE_RESET) < 0 ? -errno : 0;
                        how = "VFIO_DEVICE_RESET";
                }
                if (r < 0) {
                        r = hot_reset(v, f, HOT_RESET_ONE, false);
                        how = "hot reset (one)";
                }
                if (r < 0 && f->reset_works && f->has_pm_reset) {
                        r = ioctl(f->fd, VFIO_DEVICE_RESET) < 0 ? -errno : 0;
                        how = "VFIO_DEVICE_RESET (pm)";
                }
                printf("vfio: reboot %s: vfio_pci_reset used %s\n", f->bdf, how);
                report("reboot-device", f->bdf, r);
        }
        /* vfio_reset_handler: vfio_pci_compute_needs_reset, then a multi hot reset for each that needs it;
         * the first one resets the whole set (QEMU clears needs_reset of every function it covered). */
        for (int i = 0; i < v->n_funcs; i++)
                v->f[i].needs_reset = !v->f[i].reset_works || (!v->f[i].has_flr && v->f[i].has_pm_reset);
        for (int i = 0; i < v->n_funcs; i++) {
                struct func *f = &v->f[i];
                int r;

                if (!f->needs_reset)
                        continue;
                r = hot_reset(v, f, HOT_RESET_MULTI, false);
                printf("vfio: reboot %s: needs a bus reset (%s)\n", f->bdf,
                       !f->reset_works ? "no function reset" : "pm reset only");
                report("reboot-hot-reset", f->bdf, r);
                for (int j = 0; j < v->n_funcs; j++)
                        v->f[j].needs_reset = false;
        }
}

static void step_close(struct vfio *v)
{
        for (int i = 0; i < v->n_funcs; i++)
                if (v->f[i].fd >= 0) {
                        close(v->f[i].fd);
                        v->f[i].fd = -1;
                }
        for (int g = 0; g < v->n_groups; g++)
                close(v->group_fds[g]);
        v->n_groups = 0;
        if (v->container >= 0)
                close(v->container);
        v->container = -1;
}

static void mark(const char *name)
{
        int fd = open("/dev/console", O_WRONLY | O_NOCTTY);
        char line[128];
        int n = snprintf(line, sizeof(line), "E2E-STEP %s\n", name);

        fflush(stdout);
        if (fd < 0) {
                fputs(line, stdout);
                fflush(stdout);
                return;
        }
        if (write(fd, line, (size_t)n) != n)
                perror("vfio-reset: mark");
        tcdrain(fd);
        close(fd);
}

int main(int argc, char **argv)
{
        struct vfio v = { .container = -1 };
        char *list, *tok, *save = NULL;

        if (argc < 2) {
                fprintf(stderr, "usage: %s BDF[,BDF...] open|info|reset[=BDF]|hot-reset[=BDF]|reboot|close|mark=NAME...\n"
                                "       %s mark=NAME\n", argv[0], argv[0]);
                return 2;
        }
        if (!strncmp(argv[1], "mark=", 5)) {
                mark(argv[1] + 5);
                return 0;
        }
        list = argv[1];
        for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (v.n_funcs == MAX_FUNCS || strlen(tok) >= sizeof(v.f[0].bdf)) {
                        fprintf(stderr, "vfio-reset: too many functions or a bad BDF: %s\n", tok);
                        return 2;
                }
                snprintf(v.f[v.n_funcs].bdf, sizeof(v.f[0].bdf), "%s", tok);
                v.f[v.n_funcs++].fd = -1;
        }
        for (int a = 2; a < argc; a++) {
                const char *step = argv[a], *arg = strchr(step, '=') ? strchr(step, '=') + 1 : NULL;
                struct func *f;

                if (!strncmp(step, "mark=", 5)) {
                        mark(arg);
                } else if (!strcmp(step, "open")) {
                        int r = step_open(&v);
                        report("open", v.f[0].bdf, r);
                        if (r < 0) {
                                step_close(&v);
                                return 1;
                        }
                        for (int i = 0; i < v.n_funcs; i++)
                                printf("vfio: opened %s group %d\n", v.f[i].bdf, v.f[i].group_id);
                } else if (v.container < 0) {
                        fprintf(stderr, "vfio-reset: %s before open\n", step);
                        return 2;
                } else if (!strcmp(step, "info")) {
                        for (int i = 0; i < v.n_funcs; i++) {
                                int r = probe_func(&v.f[i]);
                                report("info", v.f[i].bdf, r);
                                printf("vfio: info %s reset=%s has_flr=%s has_pm_reset=%s\n", v.f[i].bdf,
                                       v.f[i].reset_works ? "yes" : "no", v.f[i].has_flr ? "yes" : "no",
                                       v.f[i].has_pm_reset ? "yes" : "no");
                        }
                } else if (!strncmp(step, "reset", 5) && (!step[5] || step[5] == '=')) {
                        if (!(f = find_func(&v, arg)))
                                return fprintf(stderr, "vfio-reset: %s is not open\n", arg), 2;
                        report("reset", f->bdf, ioctl(f->fd, VFIO_DEVICE_RESET) < 0 ? -errno : 0);
                } else if (!strncmp(step, "hot-reset", 9) && (!step[9] || step[9] == '=')) {
                        if (!(f = find_func(&v, arg)))
                                return fprintf(stderr, "vfio-reset: %s is not open\n", arg), 2;
                        report("hot-reset", f->bdf, hot_reset(&v, f, HOT_RESET_ANY, true));
                } else if (!strcmp(step, "reboot")) {
                        step_reboot(&v);
                } else if (!strcmp(step, "close")) {
                        step_close(&v);
                        report("close", v.f[0].bdf, 0);
                } else {
                        fprintf(stderr, "vfio-reset: unknown step %s\n", step);
                        return 2;
                }
        }
        step_close(&v);
        return 0;
}
