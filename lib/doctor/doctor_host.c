/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host-wide checks: `iommu`, `cmdline`, `kernel`, `numa`. */
#include "doctor/doctor_host.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/util.h"
#include "kernel/kmodinfo.h"
#include "kernel/sysfs.h"

#define HOST_FILE_MAX (1024 * 1024)

/* GRUB_CMDLINE_LINUX="..." then GRUB_CMDLINE_LINUX_DEFAULT="..." (GRUB puts them in that order). */
static void grub_cmdline(const char *text, char *buf, size_t size)
{
        static const char *const keys[] = { "GRUB_CMDLINE_LINUX=", "GRUB_CMDLINE_LINUX_DEFAULT=" };
        size_t w = 0;

        buf[0] = '\0';
        for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                for (const char *p = text; p && *p;) {
                        const char *eol = strchr(p, '\n'), *s = p, *e;

                        if (!eol)
                                eol = p + strlen(p);
                        while (s < eol && isspace((unsigned char)*s))
                                s++;
                        if ((size_t)(eol - s) > strlen(keys[k]) && strncmp(s, keys[k], strlen(keys[k])) == 0) {
                                s += strlen(keys[k]);
                                if (*s == '"' || *s == '\'') {
                                        char q = *s++;

                                        e = memchr(s, q, (size_t)(eol - s));
                                        if (!e)
                                                e = eol;
                                } else
                                        e = eol;
                                if (w < size)
                                        w += (size_t)snprintf(buf + w, size - w, "%s%.*s", w ? " " : "", (int)(e - s), s);
                        }
                        p = *eol ? eol + 1 : NULL;
                }
}

static void parse_release(struct doctor_host *h)
{
        unsigned a = 0, b = 0;

        if (sscanf(h->release, "%u.%u", &a, &b) == 2) {
                h->kmajor = a;
                h->kminor = b;
        }
}

/* /sys/devices/system/node/node<N>/cpulist, in node order. */
static void load_numa_nodes(const struct pgr_ctx *ctx, struct doctor_host *h)
{
        char path[PATH_MAX];
        struct dirent *de;
        DIR *d;

        if (pgr_path(ctx, path, sizeof(path), "/sys/devices/system/node") < 0 || !(d = opendir(path)))
                return;
        while ((de = readdir(d)) && h->n_numa_nodes < ELEMENTSOF(h->numa_nodes)) {
                struct doctor_numa_node *n;
                char abs[PATH_MAX], *end;
                long id;

                if (strncmp(de->d_name, "node", 4) != 0 || !isdigit((unsigned char)de->d_name[4]))
                        continue;
                id = strtol(de->d_name + 4, &end, 10);
                if (*end || id < 0 || id > INT_MAX)
                        continue;
                n = &h->numa_nodes[h->n_numa_nodes++];
                n->id = (int)id;
                snprintf(abs, sizeof(abs), "/sys/devices/system/node/node%ld/cpulist", id);
                if (sysfs_read(ctx, abs, n->cpulist, sizeof(n->cpulist)) < 0)
                        n->cpulist[0] = '\0';
        }
        closedir(d);
        for (size_t i = 1; i < h->n_numa_nodes; i++)
                for (size_t j = i; j > 0 && h->numa_nodes[j - 1].id > h->numa_nodes[j].id; j--) {
                        struct doctor_numa_node t = h->numa_nodes[j];

                        h->numa_nodes[j] = h->numa_nodes[j - 1];
                        h->numa_nodes[j - 1] = t;
                }
}

int doctor_host_load(const struct pgr_ctx *ctx, struct doctor_host **ret)
{
        struct doctor_host *h = calloc(1, sizeof(*h));
        _cleanup_free_ char *t = NULL;
        char path[PATH_MAX];
        DIR *d;

        if (!h)
                return -ENOMEM;
        if (pgr_read_file(ctx, "/proc/cmdline", HOST_FILE_MAX, &t, NULL) >= 0) {
                h->have_cmdline = true;
                snprintf(h->cmdline, sizeof(h->cmdline), "%s", strstrip(t));
        }
        free(t);
        t = NULL;
        if (pgr_read_file(ctx, "/etc/kernel/cmdline", HOST_FILE_MAX, &t, NULL) >= 0) {
                snprintf(h->boot_file, sizeof(h->boot_file), "/etc/kernel/cmdline");
                snprintf(h->boot_cmdline, sizeof(h->boot_cmdline), "%s", strstrip(t));
        } else if (pgr_read_file(ctx, "/etc/default/grub", HOST_FILE_MAX, &t, NULL) >= 0) {
                snprintf(h->boot_file, sizeof(h->boot_file), "/etc/default/grub");
                grub_cmdline(t, h->boot_cmdline, sizeof(h->boot_cmdline));
        }
        free(t);
        t = NULL;
        if (pgr_read_file(ctx, "/proc/sys/kernel/osrelease", 4096, &t, NULL) >= 0)
                snprintf(h->release, sizeof(h->release), "%s", strstrip(t));
        else if (!ctx->root[0]) {
                struct utsname u;

                if (uname(&u) == 0)
                        snprintf(h->release, sizeof(h->release), "%s", u.release);
        }
        parse_release(h);
        free(t);
        t = NULL;
        if (pgr_read_file(ctx, "/proc/cpuinfo", 4 * HOST_FILE_MAX, &t, NULL) >= 0) {
                const char *v = strstr(t, "vendor_id");

                if (v && (v = strchr(v, ':')))
                        sscanf(v + 1, " %31s", h->cpu_vendor);
        }
        h->n_iommu_groups = -1;
        if (pgr_path(ctx, path, sizeof(path), "/sys/kernel/iommu_groups") == 0 && (d = opendir(path))) {
                struct dirent *de;

                h->n_iommu_groups = 0;
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.')
                                h->n_iommu_groups++;
                closedir(d);
        }
        load_numa_nodes(ctx, h);
        h->proxmox_boot_tool = pgr_exists(ctx, "/etc/kernel/proxmox-boot-uuids");
        *ret = h;
        return 0;
}

void doctor_host_free(struct doctor_host *h)
{
        free(h);
}

/* The next blank-separated word of a command line from *p: its start (NULL at the end), its length in
 * *ret_len; *p moves past it. */
static const char *next_word(const char **p, size_t *ret_len)
{
        const char *s = *p + strspn(*p, " \t\n");
        size_t n = strcspn(s, " \t\n");

        *p = s + n;
        *ret_len = n;
        return n ? s : NULL;
}

const char *cmdline_value(const char *cmdline, const char *key, char *buf, size_t size)
{
        size_t klen = strlen(key), n;
        const char *found = NULL, *w;

        for (const char *p = cmdline; (w = next_word(&p, &n));)
                if (n >= klen && strncmp(w, key, klen) == 0 && (n == klen || w[klen] == '=')) {
                        const char *v = n == klen ? w + n : w + klen + 1;

                        snprintf(buf, size, "%.*s", (int)(w + n - v), v);
                        found = buf;
                }
        return found;
}

bool cmdline_has(const char *cmdline, const char *key, const char *value)
{
        size_t klen = strlen(key), vlen = strlen(value), n;
        const char *w;

        for (const char *p = cmdline; (w = next_word(&p, &n));) {
                const char *e = w + n;

                if (n > klen && strncmp(w, key, klen) == 0 && w[klen] == '=')
                        for (const char *v = w + klen + 1; v < e;) {
                                const char *c = memchr(v, ',', (size_t)(e - v));
                                size_t len = c ? (size_t)(c - v) : (size_t)(e - v);

                                if (len == vlen && strncmp(v, value, len) == 0)
                                        return true;
                                v += len + 1;
                        }
        }
        return false;
}

static bool is_amd(const struct doctor_host *h)
{
        return streq(h->cpu_vendor, "AuthenticAMD") || streq(h->cpu_vendor, "HygonGenuine");
}

static bool is_intel(const struct doctor_host *h)
{
        return streq(h->cpu_vendor, "GenuineIntel");
}

/* The fix for kernel command line parameters: where this host keeps them. add: add params, else
 * remove them; note (may be NULL) is put after the parameters. */
static void boot_fix(const struct doctor_host *h, struct dstr *fix, bool add, const char *params, const char *note)
{
        const char *prep = add ? "to" : "from";

        dstr_addf(fix, "%s %s%s%s ", add ? "add" : "remove", params, note ? " " : "", note ? note : "");
        if (streq(h->boot_file, "/etc/kernel/cmdline"))
                dstr_addf(fix, "%s /etc/kernel/cmdline (one line; systemd-boot), then proxmox-boot-tool refresh and reboot",
                          prep);
        else
                dstr_addf(fix, "%s GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then update-grub and reboot (on hosts "
                          "booting with systemd-boot: /etc/kernel/cmdline, then proxmox-boot-tool refresh)", prep);
}

void doctor_check_iommu(const struct doctor_host *h, struct doctor_report *rep)
{
        struct dstr fix = {};

        if (h->n_iommu_groups > 0) {
                doctor_add(rep, "iommu", DOCTOR_OK, NULL, NULL, "IOMMU on: %d groups in /sys/kernel/iommu_groups",
                           h->n_iommu_groups);
                return;
        }
        if (is_intel(h))
                dstr_addf(&fix, "enable VT-d (\"Intel Virtualization Technology for Directed I/O\") in the BIOS/UEFI setup");
        else if (is_amd(h))
                dstr_addf(&fix, "enable \"IOMMU\" (AMD-Vi; often under Advanced > AMD CBS > NBIO) and SVM in the BIOS/UEFI "
                          "setup");
        else
                dstr_addf(&fix, "enable VT-d (Intel) or IOMMU/AMD-Vi (AMD) in the BIOS/UEFI setup");
        if (!is_amd(h) && !cmdline_has(h->cmdline, "intel_iommu", "on"))
                dstr_addf(&fix, ", and add intel_iommu=on to the kernel command line (see the cmdline finding)");
        dstr_addf(&fix, "; after the reboot /sys/kernel/iommu_groups must list groups");
        doctor_add(rep, "iommu", DOCTOR_FAIL, NULL, dstr_get(&fix),
                   "IOMMU off: /sys/kernel/iommu_groups is %s, so VFIO cannot pass any device through",
                   h->n_iommu_groups < 0 ? "missing" : "empty");
        dstr_done(&fix);
}

static bool framebuffer_off(const char *cmdline)
{
        return cmdline_has(cmdline, "video", "efifb:off") || cmdline_has(cmdline, "video", "simplefb:off") ||
               cmdline_has(cmdline, "initcall_blacklist", "sysfb_init") || cmdline_has(cmdline, "video", "vesafb:off");
}

void doctor_check_cmdline(const struct doctor_host *h, const struct doctor_devices *set, const struct kmsg_log *log,
                          struct doctor_report *rep)
{
        static const char *const off_params[][2] = {
                { "intel_iommu", "off" }, { "amd_iommu", "off" }, { "iommu", "off" },
        };
        bool problem = false;
        struct dstr ok = {};
        char v[256];

        if (!h->have_cmdline) {
                doctor_add(rep, "cmdline", DOCTOR_INFO, NULL, NULL, "/proc/cmdline is not readable");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(off_params); i++)
                if (cmdline_has(h->cmdline, off_params[i][0], off_params[i][1])) {
                        struct dstr fix = {};
                        char what[64];

                        snprintf(what, sizeof(what), "%s=%s", off_params[i][0], off_params[i][1]);
                        boot_fix(h, &fix, false, what, NULL);
                        doctor_add(rep, "cmdline", DOCTOR_FAIL, NULL, dstr_get(&fix),
                                   "%s=%s on the kernel command line turns the IOMMU off", off_params[i][0],
                                   off_params[i][1]);
                        dstr_done(&fix);
                        problem = true;
                }
        if (h->n_iommu_groups <= 0 && !is_amd(h) && !cmdline_has(h->cmdline, "intel_iommu", "on")) {
                struct dstr fix = {};

                if (cmdline_has(h->boot_cmdline, "intel_iommu", "on"))
                        dstr_addf(&fix, "%s has intel_iommu=on but the running kernel was not booted with it: %s, "
                                  "then reboot", h->boot_file,
                                  streq(h->boot_file, "/etc/kernel/cmdline") ? "proxmox-boot-tool refresh" : "update-grub");
                else
                        boot_fix(h, &fix, true, "intel_iommu=on iommu=pt", NULL);
                doctor_add(rep, "cmdline", DOCTOR_FAIL, NULL, dstr_get(&fix),
                           "the IOMMU is off and the kernel command line has no intel_iommu=on%s",
                           is_intel(h) ? "" : " (needed on Intel CPUs; AMD CPUs turn the IOMMU on by default)");
                dstr_done(&fix);
                problem = true;
        }
        if (cmdline_value(h->cmdline, "amd_iommu", v, sizeof(v)) && (streq(v, "on") || streq(v, "pt"))) {
                struct dstr fix = {};
                char what[300];

                snprintf(what, sizeof(what), "amd_iommu=%.256s", v);
                boot_fix(h, &fix, false, what, "(for passthrough mode the option is iommu=pt)");
                doctor_add(rep, "cmdline", DOCTOR_INFO, NULL, dstr_get(&fix),
                           "amd_iommu=%s is not an option of the AMD IOMMU driver (it logs \"AMD-Vi: Unknown option\"); "
                           "the AMD IOMMU is on by default", v);
                dstr_done(&fix);
        }
        if (cmdline_value(h->cmdline, "pcie_acs_override", v, sizeof(v))) {
                struct dstr fix = {};

                boot_fix(h, &fix, false, "pcie_acs_override=...", NULL);
                dstr_addf(&fix, "; keep it only if every VM sharing a real IOMMU group is trusted; a slot whose root port has "
                          "ACS (usually a CPU-attached one) isolates the card for real");
                doctor_add(rep, "cmdline", DOCTOR_WARN, NULL, dstr_get(&fix),
                           "pcie_acs_override=%s splits IOMMU groups without hardware isolation: devices that really "
                           "share a group can still reach each other's memory by peer-to-peer DMA", v);
                dstr_done(&fix);
                problem = true;
        }
        /* The boot GPU: the firmware framebuffer sits in its BAR until something takes it away. */
        for (size_t i = 0; i < set->n; i++) {
                const struct doctor_device *d = &set->v[i];
                const struct kmsg_event *e;
                struct dstr fix = {};

                if (!d->dev.present || d->dev.boot_vga != 1 || d->untouched || framebuffer_off(h->cmdline))
                        continue;
                e = kmsg_log_find(log, KMSG_BAR_RESERVE, d->dev.bdf);
                if (!e)
                        e = kmsg_log_find(log, KMSG_BAR_EFIFB, d->dev.bdf);
                if (!e)
                        e = kmsg_log_find(log, KMSG_BAR_RESERVE, "");
                if (framebuffer_off(h->boot_cmdline))
                        dstr_addf(&fix, "%s disables the framebuffer but the running kernel was not booted with it: %s, "
                                  "then reboot", h->boot_file,
                                  streq(h->boot_file, "/etc/kernel/cmdline") ? "proxmox-boot-tool refresh" : "update-grub");
                else
                        boot_fix(h, &fix, true,
                                 h->kmajor && (h->kmajor < 5 || (h->kmajor == 5 && h->kminor < 15))
                                         ? "video=efifb:off video=vesafb:off"
                                         : "initcall_blacklist=sysfb_init",
                                 h->kmajor && (h->kmajor < 5 || (h->kmajor == 5 && h->kminor < 15))
                                         ? NULL
                                         : "(Linux 5.15+; video=efifb:off on older kernels)");
                doctor_add(rep, "cmdline", e ? DOCTOR_FAIL : DOCTOR_WARN, d->dev.bdf, dstr_get(&fix),
                           "%s is the boot VGA device and nothing on the kernel command line takes the firmware "
                           "framebuffer off it%s%s%s", d->dev.bdf, e ? ": the kernel log shows it (" : "",
                           e ? e->text : "", e ? ")" : " (vfio-pci then cannot reserve its BAR: \"BAR 0: can't reserve\")");
                dstr_done(&fix);
                problem = true;
        }
        if (problem)
                goto out;
        if (cmdline_value(h->cmdline, "intel_iommu", v, sizeof(v)))
                dstr_addf(&ok, "intel_iommu=%s", v);
        if (cmdline_value(h->cmdline, "iommu", v, sizeof(v)))
                dstr_addf(&ok, "%siommu=%s", ok.len ? " " : "", v);
        else
                dstr_addf(&ok, "%sno iommu=pt (optional: host devices skip IOMMU translation with it)", ok.len ? "; " : "");
        if (cmdline_value(h->cmdline, "pcie_aspm", v, sizeof(v)))
                dstr_addf(&ok, "; pcie_aspm=%s", v);
        dstr_addf(&ok, "; no pcie_acs_override");
        doctor_add(rep, "cmdline", DOCTOR_OK, NULL, NULL, "%s", dstr_get(&ok));
out:
        dstr_done(&ok);
}

void doctor_check_kernel(const struct pgr_ctx *ctx, const struct doctor_host *h, const struct kmodinfo *km,
                         struct doctor_report *rep)
{
        static const char *const mods[] = { "vfio", "vfio_iommu_type1", "vfio_pci" };
        struct dstr loaded = {}, installed = {}, missing = {}, unknown = {}, why = {}, fix = {};
        const char *modules_dir = kmodinfo_module_dir(km);
        int index_error = kmodinfo_index_error(km);

        /* the version */
        if (!h->release[0])
                doctor_add(rep, "kernel", DOCTOR_INFO, NULL, NULL, "kernel version unknown (no /proc/sys/kernel/osrelease)");
        else if (h->kmajor && (h->kmajor < 5 || (h->kmajor == 5 && h->kminor < 15)))
                doctor_add(rep, "kernel", DOCTOR_WARN, NULL,
                           "install a current Proxmox kernel (apt install proxmox-default-kernel) and reboot",
                           "Linux %s is older than 5.15: no reset_method, so the kernel tries its reset methods in its "
                           "own order and none can be chosen per card, and no reset_subordinate", h->release);
        else
                doctor_add(rep, "kernel", DOCTOR_OK, NULL, NULL, "Linux %s", h->release);

        /* what libkmod could not read, said once: the module checks below know less without it */
        if (!h->release[0] || !pgr_exists(ctx, modules_dir))
                dstr_addf(&why, "%s is missing", modules_dir);
        else if (index_error < 0) {
                dstr_addf(&why, "the module index of %s cannot be read (modules.dep.bin and the other files depmod "
                          "writes: %s)", modules_dir, strerror(-index_error));
                dstr_addf(&fix, "depmod %s (writes the index)", h->release);
        }

        /* the VFIO modules */
        for (size_t i = 0; i < ELEMENTSOF(mods); i++) {
                struct dstr *to;

                if (kmodinfo_loaded(ctx, mods[i]))
                        to = &loaded;
                else if (kmodinfo_installed(km, mods[i]))
                        to = &installed;
                else if (index_error == 0)
                        to = &missing;
                else
                        to = &unknown;
                dstr_addf(to, "%s%s", to->len ? ", " : "", mods[i]);
        }
        if (missing.len)
                doctor_add(rep, "kernel", DOCTOR_FAIL, NULL,
                           "boot a kernel with VFIO (every Proxmox kernel has it: apt install proxmox-default-kernel, "
                           "reboot); check with: modinfo vfio-pci",
                           "%s: neither loaded nor in %s: this kernel cannot pass devices through", dstr_get(&missing),
                           modules_dir);
        if (unknown.len) {
                dstr_addf(&fix, "%smodprobe vfio-pci, then: lsmod | grep vfio", fix.len ? ", then " : "");
                doctor_add(rep, "kernel", DOCTOR_WARN, NULL, dstr_get(&fix),
                           "%s: not loaded, and %s, so whether the kernel has them is unknown", dstr_get(&unknown),
                           dstr_get(&why));
        } else if (index_error < 0)
                doctor_add(rep, "kernel", DOCTOR_INFO, NULL, fix.len ? dstr_get(&fix) : NULL,
                           "%s: which host drivers can claim a card is known only from the drivers bound now",
                           dstr_get(&why));
        if (installed.len)
                doctor_add(rep, "kernel", DOCTOR_INFO, NULL, NULL,
                           "%s: installed, not loaded yet (Proxmox loads them when a VM with hostpci starts)",
                           dstr_get(&installed));
        if (!missing.len && !unknown.len && !installed.len)
                doctor_add(rep, "kernel", DOCTOR_OK, NULL, NULL, "%s loaded", dstr_get(&loaded));
        dstr_done(&loaded);
        dstr_done(&installed);
        dstr_done(&missing);
        dstr_done(&unknown);
        dstr_done(&why);
        dstr_done(&fix);
}

int doctor_cpuset_parse(const char *s, size_t n, char sep, uint64_t bits[DOCTOR_CPUSET_MAX / 64])
{
        size_t i = 0;
        bool any = false;

        memset(bits, 0, DOCTOR_CPUSET_MAX / 8);
        while (i < n) {
                unsigned long lo = 0, hi;
                size_t digits = 0;

                while (i < n && isspace((unsigned char)s[i]))
                        i++;
                for (; i < n && isdigit((unsigned char)s[i]) && lo < DOCTOR_CPUSET_MAX; i++, digits++)
                        lo = lo * 10 + (unsigned long)(s[i] - '0');
                if (!digits || lo >= DOCTOR_CPUSET_MAX)
                        return -EINVAL;
                hi = lo;
                if (i < n && s[i] == '-') {
                        i++;
                        hi = 0;
                        digits = 0;
                        for (; i < n && isdigit((unsigned char)s[i]) && hi < DOCTOR_CPUSET_MAX; i++, digits++)
                                hi = hi * 10 + (unsigned long)(s[i] - '0');
                        if (!digits || hi >= DOCTOR_CPUSET_MAX || hi < lo)
                                return -EINVAL;
                }
                while (i < n && isspace((unsigned char)s[i]))
                        i++;
                if (i < n && s[i] != sep)
                        return -EINVAL;
                if (i < n)
                        i++;
                for (unsigned long c = lo; c <= hi; c++)
                        bits[c / 64] |= 1ULL << (c % 64);
                any = true;
        }
        return any ? 0 : -EINVAL;
}

static bool cpuset_subset(const uint64_t *a, const uint64_t *b)
{
        for (size_t i = 0; i < DOCTOR_CPUSET_MAX / 64; i++)
                if (a[i] & ~b[i])
                        return false;
        return true;
}

static bool cpuset_overlaps(const uint64_t *a, const uint64_t *b)
{
        for (size_t i = 0; i < DOCTOR_CPUSET_MAX / 64; i++)
                if (a[i] & b[i])
                        return true;
        return false;
}

/* The value of key in a property string "cpus=0-3,hostnodes=1,memory=4096" (NULL when absent). */
static const char *prop_value(const char *s, const char *key, size_t *ret_len)
{
        size_t klen = strlen(key);

        for (const char *p = s; p && *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);

                if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        *ret_len = len - klen - 1;
                        return p + klen + 1;
                }
                p = comma ? comma + 1 : NULL;
        }
        return NULL;
}

/* numaI with hostnodes set to node (and policy=bind when it had none): the line the fix suggests. */
static void numa_fix_value(const char *value, int node, struct dstr *out)
{
        bool first = true, policy = false;

        for (const char *p = value; p && *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);

                if (len && !(len > 10 && strncmp(p, "hostnodes=", 10) == 0)) {
                        dstr_addf(out, "%s%.*s", first ? "" : ",", (int)len, p);
                        first = false;
                        policy = policy || (len > 7 && strncmp(p, "policy=", 7) == 0);
                }
                p = comma ? comma + 1 : NULL;
        }
        dstr_addf(out, "%shostnodes=%d%s", first ? "" : ",", node, policy ? "" : ",policy=bind");
}

static const struct doctor_numa_node *numa_node_by_id(const struct doctor_host *h, int id)
{
        for (size_t i = 0; i < h->n_numa_nodes; i++)
                if (h->numa_nodes[i].id == id)
                        return &h->numa_nodes[i];
        return NULL;
}

/* One finding per card (its first function in the set) and VM. Formats read from qemu-server:
 * affinity is a pve-cpuset ("0,5,8-11", PVE/QemuServer.pm $confdesc affinity, checked by
 * PVE::CpuSet::parse_cpuset; QEMU runs under taskset --cpu-list); numaN is $numa_fmt of
 * PVE/QemuServer/Memory.pm ("cpus=id[-id];...,hostnodes=id[-id];...,memory=N,policy=..."), used
 * only with numa: 1 (config_to_command's "if ($conf->{numa})"), and hostnodes needs a policy. */
void doctor_check_numa(const struct doctor_host *h, const struct doctor_devices *set, struct doctor_report *rep)
{
        if (h->n_numa_nodes < 2)
                return;
        for (size_t i = 0; i < set->n; i++) {
                const struct doctor_device *d = &set->v[i];
                const struct vmconf *c = d->conf;
                const struct doctor_numa_node *node;
                uint64_t node_cpus[DOCTOR_CPUSET_MAX / 64], set_bits[DOCTOR_CPUSET_MAX / 64];
                struct dstr msg = {}, fix = {};
                enum doctor_status st = DOCTOR_OK;
                bool dup = false, pinned = false;

                if (!d->dev.present || !c || d->untouched || d->dev.header_type == 1)
                        continue;
                for (size_t j = 0; j < i && !dup; j++)
                        dup = set->v[j].dev.present && set->v[j].vmid == d->vmid &&
                              pci_addr_same_slot(&set->v[j].dev.addr, &d->dev.addr);
                if (dup)
                        continue;
                if (d->numa_node < 0 || !(node = numa_node_by_id(h, d->numa_node)) ||
                    doctor_cpuset_parse(node->cpulist, strlen(node->cpulist), ',', node_cpus) < 0) {
                        doctor_add(rep, "numa", DOCTOR_INFO, d->dev.bdf, NULL,
                                   "%zu NUMA nodes, but the firmware does not tell which one the card is on (numa_node %d)",
                                   h->n_numa_nodes, d->numa_node);
                        continue;
                }
                dstr_addf(&msg, "the card is on NUMA node %d (CPUs %s) of %zu", node->id, node->cpulist, h->n_numa_nodes);
                if (c->affinity) {
                        pinned = true;
                        if (doctor_cpuset_parse(c->affinity, strlen(c->affinity), ',', set_bits) < 0)
                                dstr_addf(&msg, "; VM %lu's affinity '%s' is not a CPU list", c->vmid, c->affinity);
                        else if (cpuset_subset(set_bits, node_cpus))
                                dstr_addf(&msg, "; VM %lu runs on its CPUs (affinity %s)", c->vmid, c->affinity);
                        else {
                                st = DOCTOR_WARN;
                                dstr_addf(&msg, "; VM %lu's affinity %s %s CPUs of another node: the card's DMA and "
                                          "interrupts cross the socket interconnect", c->vmid, c->affinity,
                                          cpuset_overlaps(set_bits, node_cpus) ? "includes" : "has only");
                                dstr_addf(&fix, "qm set %lu --affinity %s", c->vmid, node->cpulist);
                        }
                }
                for (unsigned n = 0; c->numa == 1 && n < VMCONF_MAX_NUMA; n++) {
                        const char *v = c->numa_nodes[n], *hn;
                        size_t len = 0;
                        uint64_t want[DOCTOR_CPUSET_MAX / 64] = { 0 };

                        if (!v || !(hn = prop_value(v, "hostnodes", &len)))
                                continue;
                        pinned = true;
                        want[node->id / 64] = 1ULL << (node->id % 64);
                        if (doctor_cpuset_parse(hn, len, ';', set_bits) < 0)
                                dstr_addf(&msg, "; numa%u hostnodes '%.*s' is not a node list", n, (int)len, hn);
                        else if (cpuset_subset(set_bits, want))
                                dstr_addf(&msg, "; numa%u binds its memory to that node", n);
                        else {
                                bool also = cpuset_overlaps(set_bits, want);

                                st = DOCTOR_WARN;
                                dstr_addf(&msg, "; VM %lu's numa%u binds its memory to host node%s %.*s, %s the card's",
                                          c->vmid, n, memchr(hn, ';', len) || memchr(hn, '-', len) ? "s" : "", (int)len, hn,
                                          also ? "not only" : "not");
                                dstr_addf(&fix, "%sqm set %lu --numa%u ", fix.len ? "; " : "", c->vmid, n);
                                numa_fix_value(v, node->id, &fix);
                        }
                }
                if (!pinned) {
                        st = DOCTOR_INFO;
                        dstr_addf(&msg, "; VM %lu is not pinned (no affinity, no numaN hostnodes): its vCPUs and memory "
                                  "may end up on another node", c->vmid);
                        dstr_addf(&fix, "qm set %lu --affinity %s (and with numa: 1, numa0: cpus=...,hostnodes=%d,"
                                  "memory=...,policy=bind)", c->vmid, node->cpulist, node->id);
                }
                doctor_add(rep, "numa", st, d->dev.bdf, fix.len ? dstr_get(&fix) : NULL, "%s", dstr_get(&msg));
                dstr_done(&msg);
                dstr_done(&fix);
        }
}
