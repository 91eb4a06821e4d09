/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fakekernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void cat_to(const char *path, char *buf, size_t size)
{
        FILE *f = fopen(path, "re");
        size_t n = 0;

        buf[0] = '\0';
        if (!f)
                return;
        n = fread(buf, 1, size - 1, f);
        buf[n] = '\0';
        fclose(f);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = '\0';
}

static int put(const char *path, const char *value)
{
        FILE *f = fopen(path, "we");

        if (!f)
                return -errno;
        fprintf(f, "%s\n", value);
        return fclose(f) == 0 ? 0 : -errno;
}

const char *fk_cat(const struct fakekernel *fk, const char *rel, char *buf, size_t size)
{
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", fk->root, rel);
        cat_to(path, buf, size);
        return buf;
}

static struct fk_dev *dev_find(struct fakekernel *fk, const char *bdf)
{
        for (int i = 0; i < fk->n_devs; i++)
                if (strcmp(fk->devs[i].bdf, bdf) == 0)
                        return &fk->devs[i];
        return NULL;
}

static const char *base(const char *p)
{
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

const char *fk_driver(const struct fakekernel *fk, const char *bdf, char *buf, size_t size)
{
        char path[PATH_MAX], target[PATH_MAX];
        ssize_t n;

        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%.16s/driver", fk->root, bdf);
        n = readlink(path, target, sizeof(target) - 1);
        buf[0] = '\0';
        if (n > 0) {
                target[n] = '\0';
                snprintf(buf, size, "%s", base(target));
        }
        return buf;
}

void fk_init(struct fakekernel *fk, struct pgr_ctx *ctx, const char *root);

static void unbind(struct fakekernel *fk, const char *bdf)
{
        char link[PATH_MAX], drv[64], back[PATH_MAX];

        fk_driver(fk, bdf, drv, sizeof(drv));
        if (!drv[0])
                return;
        snprintf(back, sizeof(back), "%s/sys/bus/pci/drivers/%s/%s", fk->root, drv, bdf);
        unlink(back);
        snprintf(link, sizeof(link), "%s/sys/bus/pci/devices/%s/driver", fk->root, bdf);
        unlink(link);
}

static void bind(struct fakekernel *fk, const char *bdf, const char *drv)
{
        char link[PATH_MAX], target[2048], back[PATH_MAX], devdir[PATH_MAX], dir[2048];

        snprintf(dir, sizeof(dir), "%s/sys/bus/pci/drivers/%s", fk->root, drv);
        if (access(dir, F_OK) < 0 || strcmp(drv, fk->probe_fails) == 0)
                return;
        snprintf(link, sizeof(link), "%s/sys/bus/pci/devices/%s/driver", fk->root, bdf);
        unlink(link);
        if (symlink(dir, link) < 0)
                return;
        snprintf(devdir, sizeof(devdir), "%s/sys/bus/pci/devices/%s", fk->root, bdf);
        char *real = realpath(devdir, NULL);

        if (real && strlen(real) < sizeof(target)) {
                strcpy(target, real);
                snprintf(back, sizeof(back), "%s/%s", dir, bdf);
                unlink(back);
                if (symlink(target, back) < 0) {
                        free(real);
                        return;
                }
        }
        free(real);
}

/* Every function on the same bus as bdf (the kernel's "alone on the bus" test). */
static bool alone_on_bus(struct fakekernel *fk, const char *bdf)
{
        for (int i = 0; i < fk->n_devs; i++)
                if (!fk->devs[i].removed && strcmp(fk->devs[i].bdf, bdf) != 0 &&
                    strncmp(fk->devs[i].bdf, bdf, 7) == 0)
                        return false;
        return true;
}

static void stash_path(const struct fakekernel *fk, const char *bdf, char *buf, size_t size)
{
        snprintf(buf, size, "%s/.fk-stash/%s", fk->root, bdf);
}

static int do_remove(struct fakekernel *fk, struct fk_dev *d)
{
        char link[PATH_MAX], stash[2048], dir[2048];

        unbind(fk, d->bdf);
        snprintf(dir, sizeof(dir), "%s/.fk-stash", fk->root);
        mkdir(dir, 0755);
        stash_path(fk, d->bdf, stash, sizeof(stash));
        if (rename(d->orig_path, stash) < 0)
                return -errno;
        snprintf(link, sizeof(link), "%s/sys/bus/pci/devices/%s", fk->root, d->bdf);
        unlink(link);
        d->removed = true;
        return 0;
}

/* The kernel forgets what user space set: driver_override, reset_method, d3cold_allowed. */
static void forget_settings(struct fakekernel *fk, struct fk_dev *d)
{
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "%s/driver_override", d->orig_path);
        put(p, "(null)");
        snprintf(p, sizeof(p), "%s/reset_method", d->orig_path);
        if (d->orig_methods[0])
                put(p, d->orig_methods);
        snprintf(p, sizeof(p), "%s/d3cold_allowed", d->orig_path);
        put(p, "1");
        (void)fk;
}

/* The iommu_group link and sys/kernel/iommu_groups/N/devices/<bdf> of a device that came back in
 * another group. */
static void move_to_group(struct fakekernel *fk, struct fk_dev *d)
{
        char p[PATH_MAX], target[PATH_MAX], old_target[256];
        ssize_t n;

        snprintf(p, sizeof(p), "%s/iommu_group", d->orig_path);
        n = readlink(p, old_target, sizeof(old_target) - 1);
        if (n > 0) {
                char old_member[PATH_MAX + 320];

                old_target[n] = '\0';
                snprintf(old_member, sizeof(old_member), "%s/sys/kernel/iommu_groups/%s/devices/%s", fk->root,
                         strrchr(old_target, '/') ? strrchr(old_target, '/') + 1 : old_target, d->bdf);
                unlink(old_member);
        }
        snprintf(target, sizeof(target), "%s/sys/kernel/iommu_groups/%d", fk->root, d->rescan_group);
        mkdir(target, 0755);
        snprintf(target, sizeof(target), "%s/sys/kernel/iommu_groups/%d/devices", fk->root, d->rescan_group);
        mkdir(target, 0755);
        snprintf(target, sizeof(target), "%s/sys/kernel/iommu_groups/%d/devices/%s", fk->root, d->rescan_group, d->bdf);
        if (symlink(d->orig_path, target) < 0)
                return;
        snprintf(target, sizeof(target), "%s/sys/kernel/iommu_groups/%d", fk->root, d->rescan_group);
        unlink(p);
        if (symlink(target, p) < 0)
                fprintf(stderr, "fakekernel: cannot relink %s\n", p);
}

static void do_rescan_bus(struct fakekernel *fk, const char *busprefix /* "DDDD:BB" or "" for all */)
{
        char autoprobe[16];

        fk_cat(fk, "sys/bus/pci/drivers_autoprobe", autoprobe, sizeof(autoprobe));
        for (int i = 0; i < fk->n_devs; i++) {
                struct fk_dev *d = &fk->devs[i];
                char stash[2048], link[PATH_MAX];

                if (!d->removed || d->dead || d->unpowered || (busprefix[0] && strncmp(d->bdf, busprefix, strlen(busprefix)) != 0))
                        continue;
                stash_path(fk, d->bdf, stash, sizeof(stash));
                if (rename(stash, d->orig_path) < 0)
                        continue;
                snprintf(link, sizeof(link), "%s/sys/bus/pci/devices/%s", fk->root, d->bdf);
                if (symlink(d->orig_path, link) < 0)
                        continue;
                d->removed = false;
                forget_settings(fk, d);
                if (d->rescan_group > 0)
                        move_to_group(fk, d);
                if ((strcmp(autoprobe, "1") == 0 || !fk->autoprobe_blocks_rescan_bind) && d->orig_driver[0])
                        bind(fk, d->bdf, d->orig_driver);
        }
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A function a delayed power-on (made by a child process) brought back: its directory is in place
 * again. */
static void sync_returned(struct fakekernel *fk)
{
        for (int i = 0; i < fk->n_devs; i++)
                if (fk->devs[i].removed && access(fk->devs[i].orig_path, F_OK) == 0)
                        fk->devs[i].removed = false;
}

/* "sys/bus/pci/slots/N/power": pciehp removes every device on the slot's bus when it powers the slot
 * off (pciehp_unconfigure_device walks parent->subordinate) and enumerates the bus again after power
 * on (pciehp_configure_device), which binds drivers as a rescan does. */
static int slot_power(struct fakekernel *fk, const char *path, const char *value)
{
        char addr_path[PATH_MAX], addr[32], bus[16];
        size_t len = strlen(path) - strlen("power");

        snprintf(addr_path, sizeof(addr_path), "%.*saddress", (int)len, path);
        cat_to(addr_path, addr, sizeof(addr));
        if (strlen(addr) < 7)
                return -ENODEV;
        snprintf(bus, sizeof(bus), "%.7s", addr);
        if (strcmp(value, "0") == 0) {
                for (int i = 0; i < fk->n_devs; i++)
                        if (strncmp(fk->devs[i].bdf, bus, 7) == 0) {
                                if (!fk->devs[i].removed)
                                        (void)do_remove(fk, &fk->devs[i]);
                                fk->devs[i].unpowered = true;
                        }
                return put(path, "0");
        }
        if (strcmp(value, "1") != 0)
                return -EINVAL;
        if (fk->power_on == FK_POWER_ON_ENODEV)
                return -ENODEV; /* pciehp_enable_slot: "No adapter"; power stays 0 */
        if (put(path, "1") < 0)
                return -EIO;
        for (int i = 0; i < fk->n_devs; i++)
                if (strncmp(fk->devs[i].bdf, bus, 7) == 0)
                        fk->devs[i].unpowered = false;
        if (fk->power_on_delay_ms == 0) {
                do_rescan_bus(fk, bus);
                return 0;
        }
        if (fk->n_power_children >= (int)(sizeof(fk->power_children) / sizeof(fk->power_children[0])))
                return -EAGAIN;
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                struct timespec ts = { .tv_sec = fk->power_on_delay_ms / 1000,
                                       .tv_nsec = (long)(fk->power_on_delay_ms % 1000) * 1000000L };

                nanosleep(&ts, NULL);
                do_rescan_bus(fk, bus);
                _exit(0);
        }
        fk->power_children[fk->n_power_children++] = pid;
        return 0;
}

/* "sys/bus/pci/devices/0000:01:00.0/<attr>" → the device and attr. */
static struct fk_dev *dev_of(struct fakekernel *fk, const char *rel, const char **attr)
{
        static const char prefix[] = "sys/bus/pci/devices/";
        char bdf[16];

        if (strncmp(rel, prefix, sizeof(prefix) - 1) != 0)
                return NULL;
        snprintf(bdf, sizeof(bdf), "%.12s", rel + sizeof(prefix) - 1);
        *attr = rel + sizeof(prefix) - 1 + 12;
        if (**attr == '/')
                (*attr)++;
        return dev_find(fk, bdf);
}

static int fault(struct fakekernel *fk, const char *rel, const char *value)
{
        for (int i = 0; i < fk->sh->n_faults; i++) {
                struct fk_fault *f = &fk->sh->faults[i];

                if (f->count == 0 || !ends_with(rel, f->suffix) || (f->value[0] && strcmp(f->value, value) != 0))
                        continue;
                if (f->count > 0)
                        f->count--;
                return -f->error;
        }
        return 0;
}

static int fk_write(void *userdata, const char *path, const char *value)
{
        struct fakekernel *fk = userdata;
        size_t rl = strlen(fk->root);
        const char *rel, *attr = "";
        struct fk_dev *d;
        char p[PATH_MAX];
        int r;

        if (strncmp(path, fk->root, rl) != 0 || path[rl] != '/')
                return -EXDEV; /* a write outside the fixture root is a test failure */
        rel = path + rl + 1;
        if (fk->sh->n_log < FK_MAX_LOG)
                snprintf(fk->sh->log[fk->sh->n_log++], sizeof(fk->sh->log[0]), "%.120s=%.30s", rel, value);
        if (fk->before_write && (r = fk->before_write(fk, rel, value)) != 0)
                return r;
        r = fault(fk, rel, value);
        if (r < 0)
                return r;
        sync_returned(fk);
        if (strncmp(rel, "sys/bus/pci/slots/", 18) == 0 && ends_with(rel, "/power"))
                return slot_power(fk, path, value);

        if (strcmp(rel, "sys/bus/pci/drivers_probe") == 0) {
                char override[64], drv[64];

                d = dev_find(fk, value);
                if (!d || d->removed)
                        return -ENODEV;
                if (fk_driver(fk, value, drv, sizeof(drv))[0])
                        return 0;
                snprintf(p, sizeof(p), "%s/driver_override", d->orig_path);
                cat_to(p, override, sizeof(override));
                if (strcmp(override, "(null)") != 0 && override[0])
                        bind(fk, value, override);
                else if (d->orig_driver[0])
                        bind(fk, value, d->orig_driver);
                return 0;
        }
        if (strcmp(rel, "sys/bus/pci/rescan") == 0) {
                do_rescan_bus(fk, "");
                return 0;
        }
        if (strncmp(rel, "sys/class/pci_bus/", 18) == 0 && ends_with(rel, "/rescan")) {
                char bus[16];

                snprintf(bus, sizeof(bus), "%.7s", rel + 18);
                do_rescan_bus(fk, bus);
                return 0;
        }
        d = dev_of(fk, rel, &attr);
        if (!d) {
                /* A bridge's rescan, reset_subordinate and the rest: plain files. */
                if (ends_with(rel, "/rescan")) {
                        do_rescan_bus(fk, "");
                        return 0;
                }
                return access(path, F_OK) < 0 ? -errno : put(path, value);
        }
        if (d->removed)
                return -ENOENT;
        if (strcmp(attr, "remove") == 0)
                return do_remove(fk, d);
        if (strcmp(attr, "driver/unbind") == 0) {
                if (strcmp(value, d->bdf) != 0)
                        return -ENODEV;
                unbind(fk, d->bdf);
                return 0;
        }
        if (strcmp(attr, "reset_method") == 0) {
                char copy[128], *save = NULL;

                snprintf(p, sizeof(p), "%s/reset_method", d->orig_path);
                if (strcmp(value, "default") == 0)
                        return put(p, d->orig_methods);
                /* Like sysfs_streq, one trailing newline is not part of the value: "\n" is the empty list,
                 * every per-function reset disabled. */
                snprintf(copy, sizeof(copy), "%s", value);
                copy[strcspn(copy, "\n")] = '\0';
                for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                        char padded[160], word[40];

                        snprintf(padded, sizeof(padded), " %s ", d->orig_methods);
                        snprintf(word, sizeof(word), " %s ", w);
                        if (!strstr(padded, word))
                                return -EINVAL;
                }
                snprintf(copy, sizeof(copy), "%s", value);
                copy[strcspn(copy, "\n")] = '\0';
                return put(p, copy);
        }
        if (strcmp(attr, "reset") == 0) {
                char methods[128];

                snprintf(p, sizeof(p), "%s/reset_method", d->orig_path);
                cat_to(p, methods, sizeof(methods));
                /* pci_reset_function: no method left (reset_method emptied) is -ENOTTY. */
                if (d->orig_methods[0] && !methods[0])
                        return -ENOTTY;
                if (strncmp(methods, "bus", 3) == 0 && (methods[3] == '\0' || methods[3] == ' ') && !alone_on_bus(fk, d->bdf))
                        return -ENOTTY;
                return 0;
        }
        return access(path, F_OK) < 0 ? -errno : put(path, value);
}

static int fk_read(void *userdata, const char *path, char *buf, size_t size)
{
        struct fakekernel *fk = userdata;
        int fd;
        ssize_t n;

        fk->n_reads++;
        sync_returned(fk);
        if (size == 0)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                return -errno;
        if (ends_with(path, "/config"))
                for (int i = 0; i < fk->n_devs; i++) {
                        struct fk_dev *d = &fk->devs[i];
                        char want[PATH_MAX];

                        snprintf(want, sizeof(want), "%s/sys/bus/pci/devices/%s/config", fk->root, d->bdf);
                        if (d->not_ready_reads > 0 && strcmp(path, want) == 0) {
                                d->not_ready_reads--;
                                memset(buf, 0xff, (size_t)n);
                        }
                }
        buf[n] = '\0';
        return (int)n;
}

static const struct pgr_sysfs_ops fk_ops = {
        .read = fk_read,
        .write = fk_write,
};

void fk_init(struct fakekernel *fk, struct pgr_ctx *ctx, const char *root)
{
        char dir[2048];
        DIR *dp;
        struct dirent *de;

        memset(fk, 0, sizeof(*fk));
        fk->sh = mmap(NULL, sizeof(*fk->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (fk->sh == MAP_FAILED)
                abort();
        snprintf(fk->root, sizeof(fk->root), "%s", root);
        snprintf(dir, sizeof(dir), "%s/sys/bus/pci/devices", root);
        dp = opendir(dir);
        while (dp && (de = readdir(dp)) && fk->n_devs < FK_MAX_DEVS) {
                struct fk_dev *d;
                char link[PATH_MAX], p[PATH_MAX];

                if (de->d_name[0] == '.')
                        continue;
                d = &fk->devs[fk->n_devs++];
                snprintf(d->bdf, sizeof(d->bdf), "%.15s", de->d_name);
                snprintf(link, sizeof(link), "%s/%.64s", dir, de->d_name);
                char *real = realpath(link, NULL);

                snprintf(d->orig_path, sizeof(d->orig_path), "%s", real && strlen(real) < sizeof(d->orig_path) ? real : "");
                free(real);
                fk_driver(fk, d->bdf, d->orig_driver, sizeof(d->orig_driver));
                snprintf(p, sizeof(p), "%s/reset_method", d->orig_path);
                cat_to(p, d->orig_methods, sizeof(d->orig_methods));
        }
        if (dp)
                closedir(dp);
        ctx->ops = &fk_ops;
        ctx->ops_userdata = fk;
}

void fk_done(struct fakekernel *fk)
{
        for (int i = 0; i < fk->n_power_children; i++) {
                (void)kill(fk->power_children[i], SIGKILL);
                (void)waitpid(fk->power_children[i], NULL, 0);
        }
        fk->n_power_children = 0;
        if (fk->sh)
                munmap(fk->sh, sizeof(*fk->sh));
        fk->sh = NULL;
}

void fk_fail(struct fakekernel *fk, const char *suffix, const char *value, int error, int count)
{
        struct fk_fault *f;

        if (fk->sh->n_faults >= FK_MAX_FAULTS)
                return;
        f = &fk->sh->faults[fk->sh->n_faults++];
        snprintf(f->suffix, sizeof(f->suffix), "%s", suffix);
        snprintf(f->value, sizeof(f->value), "%s", value ? value : "");
        f->error = error;
        f->count = count;
}

void fk_dead(struct fakekernel *fk, const char *bdf)
{
        struct fk_dev *d = dev_find(fk, bdf);

        if (d)
                d->dead = true;
}

void fk_renumber_group_on_rescan(struct fakekernel *fk, const char *bdf, int group)
{
        struct fk_dev *d = dev_find(fk, bdf);

        if (d)
                d->rescan_group = group;
}

int fk_count(const struct fakekernel *fk, const char *suffix, const char *value)
{
        int n = 0;

        for (int i = 0; i < fk->sh->n_log; i++) {
                const char *eq = strrchr(fk->sh->log[i], '=');
                char path[160];

                if (!eq)
                        continue;
                snprintf(path, sizeof(path), "%.*s", (int)(eq - fk->sh->log[i]), fk->sh->log[i]);
                if (ends_with(path, suffix) && (!value || strcmp(eq + 1, value) == 0))
                        n++;
        }
        return n;
}

void fk_config_all_ones(struct fakekernel *fk, const char *bdf)
{
        struct fk_dev *d = dev_find(fk, bdf);
        char path[PATH_MAX], ones[4096];
        struct stat st;
        FILE *f;

        if (!d)
                abort();
        snprintf(path, sizeof(path), "%s/config", d->orig_path);
        if (stat(path, &st) < 0 || st.st_size <= 0 || (size_t)st.st_size > sizeof(ones))
                abort();
        memset(ones, 0xff, sizeof(ones));
        f = fopen(path, "we");
        if (!f || fwrite(ones, 1, (size_t)st.st_size, f) != (size_t)st.st_size || fclose(f) != 0)
                abort();
}

void fk_not_ready_for(struct fakekernel *fk, const char *bdf, int n)
{
        struct fk_dev *d = dev_find(fk, bdf);

        if (!d)
                abort();
        d->not_ready_reads = n;
}
