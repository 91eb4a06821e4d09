/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Device facts: config space through libpci (sysfs access method, pointed at the root prefix),
 * everything the kernel knows better (driver, groups, reset methods, power) from sysfs. */
#include "kernel/pcidev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pci/pci.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "kernel/sysfs.h"

/* The pci.ids data file of the tool itself (package pci.ids), never under the root prefix. */
#define PCIDEV_PCI_IDS "/usr/share/misc/pci.ids"

/* libpci builds "<sysfs.path>/devices/DDDD:BB:DD.F/<attr>" in a 1024-byte buffer and calls error()
 * when it does not fit: keep well below that. */
#define PCIDEV_MAX_SYSFS_PATH 900

struct pcidev_access {
        const struct pgr_ctx *ctx;
        struct pci_access *pacc;
        bool no_names;
};

void pcidev_access_skip_names(struct pcidev_access *acc)
{
        acc->no_names = true;
}

/* libpci declares error() noreturn and its compiled code relies on that, so the handler must not
 * return. Nothing we call can reach it with bad input: the tree is validated before pci_init(),
 * the access method is given explicitly (no detection), there is no bus scan and no pci_fill_info()
 * of sysfs-backed fields; config reads that fail give 0xff, not an error. What is left is an
 * allocation failure inside libpci or a corrupt pci.ids: treat those like a failed assertion. */
static void pcidev_libpci_error(char *msg, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void pcidev_libpci_error(char *msg, ...)
{
        va_list ap;

        fputs("pve-gpu-reset: libpci: ", stderr);
        va_start(ap, msg);
        vfprintf(stderr, msg, ap);
        va_end(ap);
        fputc('\n', stderr);
        abort();
}

/* Warnings are "cannot open .../config" and the like: the caller sees the effect (config space
 * unreadable) in the facts, so there is nothing to add. */
static void pcidev_libpci_quiet(char *msg, ...) __attribute__((format(printf, 1, 2)));
static void pcidev_libpci_quiet(char *msg, ...)
{
        (void)msg;
}

int pcidev_access_new(const struct pgr_ctx *ctx, struct pcidev_access **ret)
{
        _cleanup_free_ struct pcidev_access *acc = NULL;
        char pci[PATH_MAX], devices[PATH_MAX], param[] = "sysfs.path";
        struct pci_access *pacc;
        struct stat st;
        int r;

        r = pgr_path(ctx, pci, sizeof(pci), "/sys/bus/pci");
        if (r < 0)
                return r;
        if (strlen(pci) > PCIDEV_MAX_SYSFS_PATH)
                return -ENAMETOOLONG;
        r = pgr_path(ctx, devices, sizeof(devices), "/sys/bus/pci/devices");
        if (r < 0)
                return r;
        if (stat(devices, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (access(devices, R_OK | X_OK) < 0)
                return -errno;

        acc = calloc(1, sizeof(*acc));
        if (!acc)
                return -ENOMEM;
        pacc = pci_alloc();
        if (!pacc)
                return -ENOMEM;
        pacc->error = pcidev_libpci_error;
        pacc->warning = pcidev_libpci_quiet;
        pacc->debug = pcidev_libpci_quiet;
        pacc->method = PCI_ACCESS_SYS_BUS_PCI;
        pacc->id_lookup_mode = 0; /* no DNS, no ~/.pciids-cache */
        if (pci_set_param(pacc, param, pci) < 0) {
                pci_cleanup(pacc);
                return -EINVAL;
        }
        if (access(PCIDEV_PCI_IDS, R_OK) == 0) {
                char *ids = strdup(PCIDEV_PCI_IDS);

                if (!ids) {
                        pci_cleanup(pacc);
                        return -ENOMEM;
                }
                pci_set_name_list_path(pacc, ids, 1);
        }
        pci_init(pacc);

        acc->ctx = ctx;
        acc->pacc = pacc;
        *ret = acc;
        acc = NULL;
        return 0;
}

void pcidev_access_free(struct pcidev_access *acc)
{
        if (!acc)
                return;
        if (acc->pacc)
                pci_cleanup(acc->pacc);
        free(acc);
}

static int cmp_addr(const void *a, const void *b)
{
        return pci_addr_cmp(a, b);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(a, b);
}

/* Config space as far as it reads: all 4096 bytes in one read (root, a PCIe function: every run's
 * case), else 256, else 64 (a conventional device, a reader that is not root, a 64-byte dump; libpci
 * fails a short read). Returns the length read (0: nothing). */
static int read_config(struct pci_dev *d, u8 *buf, int size)
{
        static const int sizes[] = { 4096, 256, 64 };

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
                if (sizes[i] <= size && pci_read_block(d, 0, buf, sizes[i]))
                        return sizes[i];
        return 0;
}

static bool all_ones(const uint8_t *b)
{
        return b[0] == 0xff && b[1] == 0xff && b[2] == 0xff && b[3] == 0xff;
}

bool pcidev_config_alive(const uint8_t *head, size_t len, bool virtfn)
{
        if (virtfn)
                return len >= 8 && !all_ones(head + 4);
        return len >= 4 && !all_ones(head);
}

/* Facts from config space: header, PCIe (FLR, ASPM control), PM (state, No_Soft_Reset), AF (FLR). */
static void probe_config(struct pcidev_access *acc, struct pcidev *p, bool have_ids)
{
        u8 buf[4096];
        struct pci_dev *d;
        struct pci_cap *cap;
        int len;

        d = pci_get_dev(acc->pacc, (int)p->addr.domain, (int)p->addr.bus, (int)p->addr.slot, p->addr.func);
        if (!d)
                return;
        len = read_config(d, buf, (int)sizeof(buf));
        if (len < 64 || !pcidev_config_alive(buf, (size_t)len, p->physfn[0] != '\0')) {
                pci_free_dev(d);
                return;
        }
        pci_setup_cache(d, buf, len);
        p->config_readable = true;
        p->ext_config_read = len > 256;
        p->header_type = buf[PCI_HEADER_TYPE] & 0x7f;
        p->multifunction = buf[PCI_HEADER_TYPE] & 0x80;
        if (!have_ids) {
                p->vendor = pci_read_word(d, PCI_VENDOR_ID);
                p->device = pci_read_word(d, PCI_DEVICE_ID);
                p->class_code = (unsigned)pci_read_long(d, PCI_CLASS_REVISION) >> 8;
                if (p->header_type == PCI_HEADER_TYPE_NORMAL) {
                        p->sub_vendor = pci_read_word(d, PCI_SUBSYSTEM_VENDOR_ID);
                        p->sub_device = pci_read_word(d, PCI_SUBSYSTEM_ID);
                }
        }

        cap = pci_find_cap(d, PCI_CAP_ID_EXP, PCI_CAP_NORMAL);
        if (cap) {
                unsigned flags = pci_read_word(d, (int)cap->addr + PCI_EXP_FLAGS);

                p->is_pcie = true;
                p->pcie_type = (int)((flags & PCI_EXP_FLAGS_TYPE) >> 4);
                p->flr_capable = pci_read_long(d, (int)cap->addr + PCI_EXP_DEVCAP) & PCI_EXP_DEVCAP_FLRESET;
                /* Root complex integrated endpoints and event collectors have no link. */
                if (p->pcie_type != PCI_EXP_TYPE_ROOT_INT_EP && p->pcie_type != PCI_EXP_TYPE_ROOT_EC)
                        p->aspm_ctl = pci_read_word(d, (int)cap->addr + PCI_EXP_LNKCTL) & PCI_EXP_LNKCTL_ASPM;
        }
        cap = pci_find_cap(d, PCI_CAP_ID_PM, PCI_CAP_NORMAL);
        if (cap) {
                unsigned pmcsr = pci_read_word(d, (int)cap->addr + PCI_PM_CTRL);

                p->has_pm = true;
                p->pm_no_soft_reset = pmcsr & PCI_PM_CTRL_NO_SOFT_RST;
                p->pm_state = (int)(pmcsr & PCI_PM_CTRL_STATE_MASK);
        }
        cap = pci_find_cap(d, PCI_CAP_ID_AF, PCI_CAP_NORMAL);
        if (cap) {
                unsigned afcap = pci_read_byte(d, (int)cap->addr + PCI_AF_CAP);

                /* The kernel's af_flr wants both Transactions Pending and FLR. */
                p->af_flr_capable = (afcap & PCI_AF_CAP_TP) && (afcap & PCI_AF_CAP_FLR);
        }
        /* What tells two cards of one model apart (claim records): the serial, low dword first. */
        cap = p->ext_config_read ? pci_find_cap(d, PCI_EXT_CAP_ID_DSN, PCI_CAP_EXTENDED) : NULL;
        if (cap) {
                p->has_dsn = true;
                p->dsn = (uint64_t)pci_read_long(d, (int)cap->addr + 4) |
                         (uint64_t)pci_read_long(d, (int)cap->addr + 8) << 32;
        }
        pci_free_dev(d);
}

static void lookup_name(struct pcidev_access *acc, struct pcidev *p)
{
        char buf[sizeof(p->name)];
        const char *n;

        if (acc->no_names || p->vendor == 0xffff || p->vendor == 0)
                return;
        n = pci_lookup_name(acc->pacc, buf, (int)sizeof(buf),
                            PCI_LOOKUP_VENDOR | PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB,
                            (int)p->vendor, (int)p->device);
        if (n)
                snprintf(p->name, sizeof(p->name), "%s", n);
}

/* A sysfs attribute into a fixed buffer: "" when absent or unreadable. */
static void read_attr(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr, char *buf,
                      size_t size)
{
        if (sysfs_dev_read(ctx, a, attr, buf, size) < 0)
                buf[0] = '\0';
}

static int read_int_attr(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr)
{
        char buf[32];
        unsigned long v;

        if (sysfs_dev_read(ctx, a, attr, buf, sizeof(buf)) < 0 || parse_uint(buf, 10, INT_MAX, &v) < 0)
                return -1;
        return (int)v;
}

void pcidev_read_driver_override(const struct pgr_ctx *ctx, struct pcidev *p)
{
        read_attr(ctx, &p->addr, "driver_override", p->driver_override, sizeof(p->driver_override));
        if (streq(p->driver_override, "(null)"))
                p->driver_override[0] = '\0';
}

void pcidev_set_reset_methods(struct pcidev *p, const char *list)
{
        char buf[256];
        char *save = NULL;

        p->n_reset_methods = 0;
        snprintf(buf, sizeof(buf), "%s", list);
        for (char *m = strtok_r(buf, " \t\n", &save); m; m = strtok_r(NULL, " \t\n", &save)) {
                if (p->n_reset_methods >= PCIDEV_MAX_METHODS)
                        break;
                if (strlen(m) >= sizeof(p->reset_methods[0]))
                        continue; /* a name we do not know; cut, it could pass for one we do */
                snprintf(p->reset_methods[p->n_reset_methods++], sizeof(p->reset_methods[0]), "%s", m);
        }
}

static void probe_reset(const struct pgr_ctx *ctx, struct pcidev *p)
{
        char buf[256];

        int r;

        p->has_reset = sysfs_dev_has(ctx, &p->addr, "reset");
        /* read, not looked up first: there unless the read says ENOENT (one system call, not two) */
        r = sysfs_dev_read(ctx, &p->addr, "reset_method", buf, sizeof(buf));
        p->has_reset_method = r == 0 || (r != -ENOENT && sysfs_dev_has(ctx, &p->addr, "reset_method"));
        if (r == 0)
                pcidev_set_reset_methods(p, buf);
}

int pcidev_iommu_group(const struct pgr_ctx *ctx, const struct pci_addr *addr)
{
        char buf[32];
        unsigned long g;
        int r;

        r = sysfs_dev_link(ctx, addr, "iommu_group", buf, sizeof(buf));
        if (r < 0)
                return r;
        if (parse_uint(buf, 10, INT_MAX, &g) < 0)
                return -EINVAL;
        return (int)g;
}

bool pcidev_is_bridge(const struct pgr_ctx *ctx, const struct pci_addr *addr)
{
        unsigned c;

        /* Proxmox's own test (SysFSTools.pm pci_dev_group_bind_to_vfio): a bridge has a pci_bus directory. */
        return sysfs_dev_has(ctx, addr, "pci_bus") ||
               (sysfs_dev_read_hex(ctx, addr, "class", &c) == 0 && ((c >> 8) & 0xffff) == 0x0604);
}

static void probe_iommu_group(const struct pgr_ctx *ctx, struct pcidev *p, const struct pcidev *sibling)
{
        char dir[PATH_MAX];
        int g;

        g = pcidev_iommu_group(ctx, &p->addr);
        if (g < 0)
                return;
        p->iommu_group = g;
        /* a GPU and its audio function share a group: listed once */
        if (sibling && sibling->present && sibling->iommu_group == g) {
                p->n_group_members = sibling->n_group_members;
                memcpy(p->group_members, sibling->group_members, sibling->n_group_members * sizeof(p->group_members[0]));
                p->group_members_complete = sibling->group_members_complete;
                return;
        }
        p->group_members_complete = pgr_pathf(ctx, dir, sizeof(dir), "/sys/kernel/iommu_groups/%d/devices", g) == 0 &&
                                    pci_addr_list_dir(dir, "", p->group_members, PCIDEV_MAX_RELATED, &p->n_group_members) == 0;
}

static int add_link_aspm(const char *name, void *userdata)
{
        struct pcidev *p = userdata;
        size_t len = strlen(name);

        if (p->n_link_aspm >= ELEMENTSOF(p->link_aspm))
                return 1;
        if (len >= 5 && len < sizeof(p->link_aspm[0]) && streq(name + len - 5, "_aspm"))
                memcpy(p->link_aspm[p->n_link_aspm++], name, len + 1);
        return 0;
}

static _noinline_ void probe_link(struct pcidev *p, const char *devdir)
{
        char path[PATH_MAX];
        int n, fd;

        n = snprintf(path, sizeof(path), "%s/link", devdir);
        if (n < 0 || (size_t)n >= sizeof(path))
                return;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        (void)dir_each(fd, add_link_aspm, p);
        close(fd);
        qsort(p->link_aspm, p->n_link_aspm, sizeof(p->link_aspm[0]), cmp_str);
}

struct find_slot {
        const struct pgr_ctx *ctx;
        const struct pci_addr *addr;
        char *ret_name;
        size_t size;
};

static int slot_matches(const char *name, void *userdata)
{
        const struct find_slot *f = userdata;
        char abs[PATH_MAX], buf[64];
        struct pci_addr a;
        int n;

        if (strlen(name) >= f->size)
                return 0;
        n = snprintf(abs, sizeof(abs), "/sys/bus/pci/slots/%s/address", name);
        if (n < 0 || (size_t)n >= sizeof(abs) || sysfs_read(f->ctx, abs, buf, sizeof(buf)) < 0)
                return 0;
        if (pci_addr_parse(buf, &a) < 0 || a.func >= 0 || !pci_addr_same_slot(&a, f->addr))
                return 0;
        strcpy(f->ret_name, name);
        return 1;
}

int pcidev_find_slot(const struct pgr_ctx *ctx, const struct pci_addr *addr, char *ret_name, size_t size)
{
        struct find_slot f = { .ctx = ctx, .addr = addr, .ret_name = ret_name, .size = size };
        char dir[PATH_MAX];
        int fd, r;

        if (pgr_path(ctx, dir, sizeof(dir), "/sys/bus/pci/slots") < 0)
                return -ENAMETOOLONG;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -ENOENT;
        r = dir_each(fd, slot_matches, &f);
        close(fd);
        return r == 1 ? 0 : -ENOENT;
}

/* The physical slot this function sits in, and whether its power can be switched. */
static _noinline_ void probe_slot(const struct pgr_ctx *ctx, struct pcidev *p)
{
        char path[PATH_MAX];

        if (pcidev_find_slot(ctx, &p->addr, p->slot_name, sizeof(p->slot_name)) < 0)
                return;
        p->slot_power = pgr_pathf(ctx, path, sizeof(path), "/sys/bus/pci/slots/%s/power", p->slot_name) >= 0 &&
                        access(path, F_OK) == 0;
}

/* "16.0 GT/s PCIe", "2.5 GT/s", "8 GT/s" → MT/s; "Unknown" and the rest → 0. */
static unsigned parse_link_speed(const char *s)
{
        unsigned whole = 0, tenths = 0;
        const char *p = s;

        if (*p < '0' || *p > '9')
                return 0;
        while (*p >= '0' && *p <= '9' && whole < 1000)
                whole = whole * 10 + (unsigned)(*p++ - '0');
        if (*p == '.') {
                p++;
                if (*p >= '0' && *p <= '9')
                        tenths = (unsigned)(*p++ - '0');
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        if (strncmp(p, " GT/s", 5) != 0)
                return 0;
        return whole * 1000 + tenths * 100;
}

static unsigned read_link_number(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr)
{
        char buf[32];
        unsigned long v;

        if (sysfs_dev_read(ctx, a, attr, buf, sizeof(buf)) < 0 || parse_uint(buf, 10, 64, &v) < 0)
                return 0;
        return (unsigned)v;
}

static unsigned read_link_speed(const struct pgr_ctx *ctx, const struct pci_addr *a, const char *attr)
{
        char buf[64];

        return sysfs_dev_read(ctx, a, attr, buf, sizeof(buf)) < 0 ? 0 : parse_link_speed(buf);
}

int pcidev_read_link(const struct pgr_ctx *ctx, const struct pci_addr *addr, struct pcidev_link *ret)
{
        struct pcidev_link l = {
                .width = read_link_number(ctx, addr, "current_link_width"),
                .max_width = read_link_number(ctx, addr, "max_link_width"),
                .speed_mts = read_link_speed(ctx, addr, "current_link_speed"),
                .max_speed_mts = read_link_speed(ctx, addr, "max_link_speed"),
        };

        if (l.width == 0)
                return -ENOENT;
        *ret = l;
        return 0;
}

/* The parent bridge from the canonical path: the parent directory is a PCI device or pciDDDD:BB. */
static void probe_parent(const struct pgr_ctx *ctx, struct pcidev *p, const char *devdir)
{
        const char *slash = strrchr(devdir, '/'), *base;
        char name[PCI_ADDR_STRLEN + 8];

        if (!slash)
                return;
        for (base = slash; base > devdir && base[-1] != '/'; base--)
                ;
        if ((size_t)(slash - base) >= sizeof(name))
                return; /* pciDDDD:BB or longer: a root bus, no bridge above */
        memcpy(name, base, (size_t)(slash - base));
        name[slash - base] = '\0';
        if (pci_addr_parse_full(name, &p->parent) < 0) {
                memset(&p->parent, 0, sizeof(p->parent));
                return;
        }
        p->has_parent = true;
        p->parent_has_reset_subordinate = sysfs_dev_has(ctx, &p->parent, "reset_subordinate");
        /* A list cut short (-ENOBUFS past PCIDEV_MAX_RELATED) or unreadable must never pass for all of them. */
        p->below_parent_complete =
                pcidev_below_bridge(ctx, &p->parent, p->below_parent, PCIDEV_MAX_RELATED, &p->n_below_parent) == 0;
}

static int count_virtfn(const char *name, void *userdata)
{
        unsigned long n;

        if (strncmp(name, "virtfn", 6) == 0 && parse_uint(name + 6, 10, 0xffff, &n) == 0)
                (*(unsigned *)userdata)++;
        return 0;
}

/* An SR-IOV PF's enabled VFs: its virtfnN links (drivers/pci/iov.c pci_iov_sysfs_link, one per VF
 * enabled). Not the sriov_numvfs attribute: its show takes the device lock (sriov_numvfs_show's
 * device_lock(), 35ff867b765, v5.11 on), which a host driver stuck in its probe or remove holds for
 * good: the probe, and the VM start with it, would hang. A directory listing takes no device lock. */
static _noinline_ unsigned count_virtfns(const struct pgr_ctx *ctx, const struct pci_addr *addr)
{
        char dir[PATH_MAX];
        unsigned n = 0;
        int fd;

        if (sysfs_dev_path(ctx, addr, NULL, dir, sizeof(dir)) < 0)
                return 0;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        (void)dir_each(fd, count_virtfn, &n);
        close(fd);
        return n;
}

static int other_on_bus(const char *name, void *userdata)
{
        const struct pcidev *p = userdata;
        struct pci_addr a;

        return pci_addr_parse_full(name, &a) == 0 && a.domain == p->addr.domain && a.bus == p->addr.bus &&
               !pci_addr_eq(&a, &p->addr);
}

static _noinline_ void probe_bus_neighbours(const struct pgr_ctx *ctx, struct pcidev *p)
{
        char dir[PATH_MAX];
        int fd;

        p->alone_on_bus = true;
        if (pgr_path(ctx, dir, sizeof(dir), "/sys/bus/pci/devices") < 0)
                return;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        p->alone_on_bus = dir_each(fd, other_on_bus, p) != 1;
        close(fd);
}

/* The kernel's IDs from the modalias attribute, "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X" of the
 * fields the vendor, device, subsystem_* and class attributes show (drivers/pci/pci-sysfs.c
 * modalias_show): one read instead of five, and a function that has one is there. Not the uevent
 * attribute, which prints the same fields: on the stable kernels with drivers/base/core.c uevent_show's
 * device_lock() (c0a40097f0bc, mid-2024 until 15fffc6a5624) its read waits for the device's lock, which
 * a host driver stuck in its probe or remove holds: the hook would hang. For the same reason the probe
 * does not read driver_override (pcidev_read_driver_override, doctor's).
 * false (nothing set): no modalias to go by (gone, or a tree without it): then the attributes decide. */
static bool probe_ids_modalias(const struct pgr_ctx *ctx, struct pcidev *p)
{
        char buf[128];
        unsigned vendor, device, sub_vendor, sub_device, base, sub, prog;
        int end = -1;

        if (sysfs_dev_read(ctx, &p->addr, "modalias", buf, sizeof(buf)) < 0)
                return false;
        if (sscanf(buf, "pci:v%8Xd%8Xsv%8Xsd%8Xbc%2Xsc%2Xi%2X%n", &vendor, &device, &sub_vendor, &sub_device, &base,
                   &sub, &prog, &end) != 7 ||
            end < 0 || buf[end] || vendor > 0xffff || device > 0xffff || sub_vendor > 0xffff || sub_device > 0xffff)
                return false;
        p->present = true;
        p->vendor = vendor;
        p->device = device;
        p->sub_vendor = sub_vendor;
        p->sub_device = sub_device;
        p->class_code = base << 16 | sub << 8 | prog;
        return true;
}

static void pcidev_init(struct pcidev *p, const struct pci_addr *addr)
{
        memset(p, 0, sizeof(*p));
        p->addr = *addr;
        pci_addr_format(addr, p->bdf);
        p->iommu_group = -1;
        p->pm_state = -1;
        p->aspm_ctl = -1;
        p->d3cold_allowed = -1;
        p->boot_vga = -1;
        p->pcie_type = -1;
}

/* What every function of one slot shares, probed once: the slot, the bus, the bridge above and what
 * hangs below it (~26 system calls, and most of them walk the tree). */
static bool take_slot_facts(struct pcidev *p, const struct pcidev *sibling)
{
        if (!sibling || !sibling->present || !pci_addr_same_slot(&sibling->addr, &p->addr) ||
            pci_addr_eq(&sibling->addr, &p->addr))
                return false;
        memcpy(p->slot_name, sibling->slot_name, sizeof(p->slot_name));
        p->slot_power = sibling->slot_power;
        p->alone_on_bus = false; /* the sibling is on the bus */
        p->has_parent = sibling->has_parent;
        p->parent = sibling->parent;
        p->parent_has_reset_subordinate = sibling->parent_has_reset_subordinate;
        p->n_below_parent = sibling->n_below_parent;
        memcpy(p->below_parent, sibling->below_parent, sibling->n_below_parent * sizeof(p->below_parent[0]));
        p->below_parent_complete = sibling->below_parent_complete;
        return true;
}

/* Where the function hangs: its link, its slot, its bus, the bridge above and what is below that.
 * Not inlined: its path buffers stay out of the frame every attribute read runs below. */
static _noinline_ void probe_tree(const struct pgr_ctx *ctx, struct pcidev *p, const struct pcidev *sibling)
{
        char devdir[PATH_MAX];
        bool shared = take_slot_facts(p, sibling), have_dir;

        have_dir = sysfs_dev_realpath(ctx, &p->addr, devdir, sizeof(devdir)) == 0;
        if (have_dir)
                probe_link(p, devdir);
        if (shared)
                return;
        probe_slot(ctx, p);
        if (have_dir)
                probe_parent(ctx, p, devdir);
        /* Alone on its bus: the complete list below its bridge holds the bus (one walk, not a listing
         * of every PCI device more); on a root bus, or with the list cut short, the listing decides. */
        if (p->has_parent && p->below_parent_complete) {
                p->alone_on_bus = true;
                for (size_t i = 0; i < p->n_below_parent; i++) {
                        const struct pci_addr *a = &p->below_parent[i];

                        if (a->domain == p->addr.domain && a->bus == p->addr.bus && !pci_addr_eq(a, &p->addr))
                                p->alone_on_bus = false;
                }
        } else
                probe_bus_neighbours(ctx, p);
}

int pcidev_probe(struct pcidev_access *acc, const struct pci_addr *addr, struct pcidev *ret)
{
        return pcidev_probe_near(acc, addr, NULL, ret);
}

int pcidev_probe_near(struct pcidev_access *acc, const struct pci_addr *addr, const struct pcidev *sibling,
                      struct pcidev *ret)
{
        const struct pgr_ctx *ctx = acc->ctx;
        _cleanup_free_ struct pcidev *p = NULL;
        unsigned v, d, c;
        bool have_ids;

        if (addr->func < 0 || addr->func > 7)
                return -EINVAL;
        p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        pcidev_init(p, addr);
        /* The IDs the kernel read at enumeration: still there when the device stopped answering. */
        have_ids = probe_ids_modalias(ctx, p);
        if (!have_ids && !sysfs_dev_present(ctx, addr)) {
                *ret = *p;
                return 0;
        }
        p->present = true;
        if (!have_ids && (have_ids = sysfs_dev_read_hex(ctx, addr, "vendor", &v) == 0 &&
                                     sysfs_dev_read_hex(ctx, addr, "device", &d) == 0 &&
                                     sysfs_dev_read_hex(ctx, addr, "class", &c) == 0)) {
                p->vendor = v & 0xffff;
                p->device = d & 0xffff;
                p->class_code = c & 0xffffff;
                if (sysfs_dev_read_hex(ctx, addr, "subsystem_vendor", &v) == 0 &&
                    sysfs_dev_read_hex(ctx, addr, "subsystem_device", &d) == 0) {
                        p->sub_vendor = v & 0xffff;
                        p->sub_device = d & 0xffff;
                }
        }
        {
                char pf_name[64];
                struct pci_addr pf;

                /* before config space: a VF's reads differently */
                if (sysfs_dev_link(ctx, addr, "physfn", pf_name, sizeof(pf_name)) == 0 &&
                    pci_addr_parse_full(pf_name, &pf) == 0)
                        pci_addr_format(&pf, p->physfn);
        }
        probe_config(acc, p, have_ids);
        if (!p->config_readable)
                p->header_type = (p->class_code >> 8) == 0x0604 ? PCI_HEADER_TYPE_BRIDGE : PCI_HEADER_TYPE_NORMAL;
        lookup_name(acc, p);

        if (sysfs_dev_link(ctx, addr, "driver", p->driver, sizeof(p->driver)) < 0)
                p->driver[0] = '\0';
        probe_iommu_group(ctx, p, sibling);
        probe_reset(ctx, p);
        p->has_reset_subordinate = sysfs_dev_has(ctx, addr, "reset_subordinate");
        p->sriov_numvfs = count_virtfns(ctx, addr);
        p->nvidia_vgpu = sysfs_dev_has(ctx, addr, "nvidia/current_vgpu_type");
        p->d3cold_allowed = read_int_attr(ctx, addr, "d3cold_allowed");
        read_attr(ctx, addr, "power/control", p->power_control, sizeof(p->power_control));
        read_attr(ctx, addr, "power_state", p->power_state, sizeof(p->power_state));
        p->boot_vga = read_int_attr(ctx, addr, "boot_vga");
        probe_tree(ctx, p, sibling);
        *ret = *p;
        return 0;
}

int pcidev_sysfs_path(const struct pgr_ctx *ctx, const struct pci_addr *addr, char *buf, size_t size)
{
        char devices[PATH_MAX], real_devices[PATH_MAX], dev[PATH_MAX];
        size_t l;
        int r;

        r = pgr_path(ctx, devices, sizeof(devices), "/sys/devices");
        if (r < 0)
                return r;
        if (!realpath(devices, real_devices))
                return -errno;
        r = sysfs_dev_realpath(ctx, addr, dev, sizeof(dev));
        if (r < 0)
                return r;
        l = strlen(real_devices);
        if (strncmp(dev, real_devices, l) != 0 || dev[l] != '/')
                return -EXDEV; /* not below /sys/devices: no PCI device the kernel made */
        if (strlen(dev + l + 1) >= size)
                return -ENAMETOOLONG;
        strcpy(buf, dev + l + 1);
        return 0;
}

/* A libpci device for a present function whose config space answers, no cache (every read and
 * write goes to the device). */
static int open_live(struct pcidev_access *acc, const struct pci_addr *a, struct pci_dev **ret)
{
        struct pci_dev *d;
        u8 head[8];

        if (a->func < 0 || a->func > 7)
                return -EINVAL;
        if (!sysfs_dev_present(acc->ctx, a))
                return -ENODEV;
        d = pci_get_dev(acc->pacc, (int)a->domain, (int)a->bus, (int)a->slot, a->func);
        if (!d)
                return -ENOMEM;
        if (!pci_read_block(d, 0, head, sizeof(head)) ||
            !pcidev_config_alive(head, sizeof(head), sysfs_dev_has(acc->ctx, a, "physfn"))) {
                pci_free_dev(d);
                return -EIO;
        }
        *ret = d;
        return 0;
}

/* open_live, with the function's PCIe capability (NULL: none) and its Device/Port type (0 without). */
static int open_live_pcie(struct pcidev_access *acc, const struct pci_addr *a, struct pci_dev **ret,
                          struct pci_cap **ret_cap, unsigned *ret_type)
{
        struct pci_cap *cap;
        int r;

        r = open_live(acc, a, ret);
        if (r < 0)
                return r;
        cap = pci_find_cap(*ret, PCI_CAP_ID_EXP, PCI_CAP_NORMAL);
        *ret_cap = cap;
        *ret_type = cap ? (pci_read_word(*ret, (int)cap->addr + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >> 4 : 0;
        return 0;
}

int pcidev_aspm_disable(struct pcidev_access *acc, const struct pci_addr *dev)
{
        struct pci_dev *d;
        struct pci_cap *cap;
        unsigned type, ctl;
        int r;

        r = open_live_pcie(acc, dev, &d, &cap, &type);
        if (r < 0)
                return r;
        if (!cap || type == PCI_EXP_TYPE_ROOT_INT_EP || type == PCI_EXP_TYPE_ROOT_EC) {
                pci_free_dev(d);
                return -EOPNOTSUPP;
        }
        ctl = pci_read_word(d, (int)cap->addr + PCI_EXP_LNKCTL);
        r = 0;
        if (ctl == 0xffff)
                r = -EIO;
        else if ((ctl & PCI_EXP_LNKCTL_ASPM) &&
                 !pci_write_word(d, (int)cap->addr + PCI_EXP_LNKCTL, (u16)(ctl & ~PCI_EXP_LNKCTL_ASPM)))
                r = -EIO;
        pci_free_dev(d);
        return r;
}

int pcidev_bridge_secondary_reset(struct pcidev_access *acc, const struct pci_addr *bridge, bool on)
{
        struct pci_dev *d;
        unsigned ctl;
        int r;

        r = open_live(acc, bridge, &d);
        if (r < 0)
                return r;
        if ((pci_read_byte(d, PCI_HEADER_TYPE) & 0x7f) != PCI_HEADER_TYPE_BRIDGE) {
                pci_free_dev(d);
                return -ENOTTY;
        }
        ctl = pci_read_word(d, PCI_BRIDGE_CONTROL);
        if (ctl == 0xffff)
                r = -EIO;
        else {
                ctl = on ? ctl | PCI_BRIDGE_CTL_BUS_RESET : ctl & ~PCI_BRIDGE_CTL_BUS_RESET;
                if (!pci_write_word(d, PCI_BRIDGE_CONTROL, (u16)ctl))
                        r = -EIO;
        }
        pci_free_dev(d);
        return r;
}

/* Polls Link Status until Link Training is clear: 1 ms steps growing to 20 ms, at most timeout_ms
 * (the kernel's pcie_wait_for_link_status waits PCIE_LINK_RETRAIN_TIMEOUT_MS, 1 s). */
static int wait_link_trained(struct pci_dev *d, int lnksta, unsigned timeout_ms)
{
        unsigned waited = 0, step = 1;

        for (;;) {
                unsigned sta = pci_read_word(d, lnksta);

                if (sta == 0xffff)
                        return -EIO;
                if (!(sta & PCI_EXP_LNKSTA_TRAIN))
                        return 0;
                if (waited >= timeout_ms)
                        return -ETIMEDOUT;
                usleep(step * 1000);
                waited += step;
                if (step < 20)
                        step *= 2;
        }
}

int pcidev_link_retrain(struct pcidev_access *acc, const struct pci_addr *port, unsigned timeout_ms)
{
        struct pci_dev *d;
        struct pci_cap *cap;
        unsigned type, ctl;
        int r;

        r = open_live_pcie(acc, port, &d, &cap, &type);
        if (r < 0)
                return r;
        /* Retrain Link is reserved for endpoints, bridges' upstream ports and the rest (PCIe r6.1
         * 7.5.3.7): only the downstream end of a link may ask for it. */
        if (!cap || (type != PCI_EXP_TYPE_ROOT_PORT && type != PCI_EXP_TYPE_DOWNSTREAM)) {
                pci_free_dev(d);
                return -ENOTTY;
        }
        /* A training that started before is waited out first, as the kernel does (the implementation
         * note at the end of PCIe r6.1 7.5.3.7: an LTSSM race). */
        r = wait_link_trained(d, (int)cap->addr + PCI_EXP_LNKSTA, timeout_ms);
        if (r >= 0) {
                ctl = pci_read_word(d, (int)cap->addr + PCI_EXP_LNKCTL);
                if (ctl == 0xffff)
                        r = -EIO;
                else if (!pci_write_word(d, (int)cap->addr + PCI_EXP_LNKCTL, (u16)(ctl | PCI_EXP_LNKCTL_RETRAIN)))
                        r = -EIO;
        }
        if (r >= 0)
                r = wait_link_trained(d, (int)cap->addr + PCI_EXP_LNKSTA, timeout_ms);
        pci_free_dev(d);
        return r;
}

int pcidev_slot_functions(const struct pgr_ctx *ctx, const struct pci_addr *slot, struct pci_addr *ret,
                          size_t max, size_t *ret_n)
{
        size_t n = 0;

        for (int f = 0; f < 8; f++) {
                struct pci_addr a = *slot;

                a.func = f;
                if (!sysfs_dev_present(ctx, &a))
                        continue;
                if (n >= max)
                        return -ENOBUFS;
                ret[n++] = a;
        }
        *ret_n = n;
        return 0;
}

/* Functions in the directory tree below the open directory dfd: real subdirectories named
 * DDDD:BB:DD.F (links such as driver or subsystem are not followed: O_NOFOLLOW, and attribute
 * directories do not parse). Relative to each directory's fd, not by path: no path buffer on the
 * stack of every level of the recursion. */
struct below_names {
        struct pci_addr names[PCIDEV_MAX_RELATED];
        size_t n;
};

static int add_below_name(const char *name, void *userdata)
{
        struct below_names *b = userdata;
        struct pci_addr a;

        if (pci_addr_parse_full(name, &a) < 0)
                return 0;
        if (b->n >= ELEMENTSOF(b->names))
                return -ENOBUFS; /* more than the whole list may hold */
        b->names[b->n++] = a;
        return 0;
}

static int walk_below(int dfd, unsigned depth, struct pci_addr *ret, size_t max, size_t *n)
{
        struct below_names b = { .n = 0 };
        int r;

        if (depth > 32)
                return -ELOOP;
        r = dir_each(dfd, add_below_name, &b);
        for (size_t i = 0; i < b.n && r >= 0; i++) {
                char name[PCI_ADDR_STRLEN];
                int sub;

                sub = openat(dfd, pci_addr_format(&b.names[i], name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0 && (errno == ELOOP || errno == ENOTDIR || errno == ENOENT))
                        continue; /* a link, not a directory, or gone */
                if (sub < 0) {
                        r = -errno; /* unreadable: the list must not pass for complete */
                        break;
                }
                if (*n >= max) {
                        close(sub);
                        r = -ENOBUFS;
                        break;
                }
                ret[(*n)++] = b.names[i];
                r = walk_below(sub, depth + 1, ret, max, n);
                close(sub);
        }
        return r;
}

int pcidev_below_bridge(const struct pgr_ctx *ctx, const struct pci_addr *bridge, struct pci_addr *ret,
                        size_t max, size_t *ret_n)
{
        char dir[PATH_MAX];
        size_t n = 0;
        int r, dfd;

        /* <root>/sys/bus/pci/devices/<bdf> is the kernel's link to the bridge's own directory */
        r = sysfs_dev_path(ctx, bridge, NULL, dir, sizeof(dir));
        if (r < 0)
                return r;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        r = walk_below(dfd, 0, ret, max, &n);
        close(dfd);
        qsort(ret, n, sizeof(ret[0]), cmp_addr);
        *ret_n = n;
        return r;
}

void pcidev_class_str(const struct pcidev *d, char buf[static 8])
{
        snprintf(buf, 8, "%04x", (d->class_code >> 8) & 0xffff);
}

bool pcidev_has_method(const struct pcidev *d, const char *method)
{
        for (size_t i = 0; i < d->n_reset_methods; i++)
                if (streq(d->reset_methods[i], method))
                        return true;
        return false;
}
