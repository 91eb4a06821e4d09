/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `doctor`: which devices to look at, the `vm` check, and the run the CLI calls. The checks
 * themselves live in doctor_host.c (iommu, cmdline, kernel, numa), doctor_modprobe.c (modprobe,
 * initramfs), doctor_kmsg.c (kernel-log) and doctor_device.c (driver, iommu-group, reset, power, bar,
 * sriov). */
#include "doctor/doctor.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "doctor/doctor_device.h"
#include "doctor/doctor_host.h"
#include "doctor/doctor_kmsg.h"
#include "doctor/doctor_modprobe.h"
#include "kernel/kmodinfo.h"
#include "kernel/pcidev.h"
#include "kernel/sysfs.h"
#include "pve/mapping.h"
#include "pve/storagecfg.h"
#include "pve/vmconf.h"
#include "reset/chain.h"
#include "reset/claim.h"
#include "reset/plan.h"
#include "reset/policy.h"

struct vm_entry {
        unsigned long vmid;
        struct vmconf *conf;            /* NULL when it could not be loaded */
        int load_r;
        char load_err[sizeof(((struct pgr_error *)0)->msg)];
        struct plan *plan;
};

/* A function two VMs name. */
struct shared_dev {
        unsigned long vmid, other_vmid;
        char hostpci[16], other_hostpci[16];
        char bdf[PCI_ADDR_STRLEN];
};

struct doctor {
        const struct pgr_ctx *ctx;
        unsigned long vmid;
        struct doctor_report *rep;
        struct policy *policy;
        struct mapping_file *maps;
        struct pcidev_access *acc;
        size_t n_vms;
        struct vm_entry *vms;
        struct plan *extra_plan;        /* vfio-pci functions in no VM (host-wide) */
        size_t alloc_devs;
        struct doctor_devices set;
        size_t n_shared;
        struct shared_dev shared[32];
};

static void doctor_done(struct doctor *d)
{
        for (size_t i = 0; i < d->n_vms; i++) {
                vmconf_free(d->vms[i].conf);
                plan_free(d->vms[i].plan);
        }
        free(d->vms);
        plan_free(d->extra_plan);
        free(d->set.v);
        pcidev_access_free(d->acc);
        mapping_file_free(d->maps);
        policy_free(d->policy);
}

static const struct hostpci *hostpci_by_name(const struct vmconf *conf, const char *name)
{
        for (size_t i = 0; conf && i < VMCONF_MAX_HOSTPCI; i++) {
                char n[16];

                snprintf(n, sizeof(n), "hostpci%u", conf->hostpci[i].index);
                if (conf->hostpci[i].present && streq(n, name))
                        return &conf->hostpci[i];
        }
        return NULL;
}

static bool hostpci_untouched(const struct doctor *d, const struct hostpci *h)
{
        return h && plan_use_skip_reason(plan_hostpci_use(h, d->maps));
}

static int add_plan_devices(struct doctor *d, const struct plan *p, const struct vmconf *conf, unsigned long vmid)
{
        for (size_t i = 0; i < p->n_devices; i++) {
                const struct plan_device *pd = &p->devices[i];
                struct doctor_device *dd;

                const struct doctor_device *other = doctor_devices_find(&d->set, &pd->dev.addr);

                if (other) {
                        /* given to an earlier VM too: only one of them can run at a time (check_vm says so) */
                        if (other->vmid && other->vmid != vmid && d->n_shared < ELEMENTSOF(d->shared)) {
                                struct shared_dev *sd = &d->shared[d->n_shared++];

                                sd->vmid = vmid;
                                snprintf(sd->hostpci, sizeof(sd->hostpci), "%s", pd->hostpci);
                                snprintf(sd->bdf, sizeof(sd->bdf), "%s", pd->dev.bdf);
                                sd->other_vmid = other->vmid;
                                snprintf(sd->other_hostpci, sizeof(sd->other_hostpci), "%s", other->hostpci);
                        }
                        continue;
                }
                if (d->set.n == d->alloc_devs) {
                        size_t alloc = d->alloc_devs ? d->alloc_devs * 2 : 16;
                        struct doctor_device *v = realloc(d->set.v, alloc * sizeof(*v));

                        if (!v)
                                return -ENOMEM;
                        d->set.v = v;
                        d->alloc_devs = alloc;
                }
                dd = &d->set.v[d->set.n++];
                memset(dd, 0, sizeof(*dd));
                dd->dev = pd->dev;
                dd->vmid = vmid;
                if (conf)
                        snprintf(dd->hostpci, sizeof(dd->hostpci), "%s", pd->hostpci);
                dd->entry = conf ? hostpci_by_name(conf, pd->hostpci) : NULL;
                dd->untouched = hostpci_untouched(d, dd->entry) || pd->dev.nvidia_vgpu || pd->dev.sriov_numvfs;
                dd->pd = pd;
                dd->conf = conf;
                doctor_device_load_facts(d->ctx, dd);
        }
        return 0;
}

static int build_plan(struct doctor *d, const struct vmconf *conf, unsigned long vmid, const struct pci_addr *override,
                      size_t n_override, struct plan **ret, struct pgr_error *err)
{
        struct plan_input in = {
                .ctx = d->ctx,
                .acc = d->acc,
                .conf = conf,
                .mappings = d->maps,
                .policy = d->policy,
                .phase = PHASE_POST_STOP,
                .vmid = vmid,
                .override = override,
                .n_override = n_override,
                .now = (long long)time(NULL),
        };

        return plan_build(&in, ret, err);
}

/* Host-wide: functions bound to vfio-pci that no VM on this node names. */
static int add_vfio_extras(struct doctor *d)
{
        struct pci_addr extra[PLAN_MAX_DEVICES];
        size_t n = 0;
        char path[PATH_MAX];
        struct dirent *de;
        struct pgr_error err = {};
        DIR *dir;
        int r;

        r = pgr_path(d->ctx, path, sizeof(path), "/sys/bus/pci/drivers/vfio-pci");
        if (r < 0)
                return r;
        dir = opendir(path);
        if (!dir)
                return 0;
        while ((de = readdir(dir)) && n < ELEMENTSOF(extra)) {
                struct pci_addr a;

                if (pci_addr_parse_full(de->d_name, &a) < 0 || doctor_devices_find(&d->set, &a))
                        continue;
                extra[n++] = a;
        }
        closedir(dir);
        if (n == 0)
                return 0;
        for (size_t i = 1; i < n; i++) /* address order */
                for (size_t j = i; j > 0 && pci_addr_cmp(&extra[j - 1], &extra[j]) > 0; j--) {
                        struct pci_addr t = extra[j];

                        extra[j] = extra[j - 1];
                        extra[j - 1] = t;
                }
        r = build_plan(d, NULL, 0, extra, n, &d->extra_plan, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        return add_plan_devices(d, d->extra_plan, NULL, 0);
}

/* A VM whose config cannot be loaded or planned (r < 0, why says what): named on the command line it is
 * bad input (exit 2: r is returned with err set), unless missing_is_finding and it is missing; found
 * while looking at the whole host it is a finding of the vm check (0). -ENOMEM is always returned. */
static int vm_failed(const struct doctor *d, struct vm_entry *e, int r, bool missing_is_finding,
                     const struct pgr_error *why, struct pgr_error *err)
{
        if (r == -ENOMEM)
                return r;
        if (d->vmid && !(missing_is_finding && r == -ENOENT)) {
                pgr_error_set(err, "%s", why->msg);
                return r;
        }
        e->load_r = r;
        snprintf_ellipsis(e->load_err, sizeof(e->load_err), "%s", why->msg[0] ? why->msg : strerror(-r));
        return 0;
}

static int load_vms(struct doctor *d, struct pgr_error *err)
{
        _cleanup_free_ unsigned long *ids = NULL;
        size_t n = 0;
        int r;

        if (d->vmid) {
                ids = malloc(sizeof(*ids));
                if (!ids)
                        return -ENOMEM;
                ids[0] = d->vmid;
                n = 1;
        } else {
                r = vmconf_list_vmids(d->ctx, &ids, &n);
                if (r < 0)
                        return r;
        }
        d->vms = calloc(n ? n : 1, sizeof(*d->vms));
        if (!d->vms)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct vm_entry *e = &d->vms[d->n_vms++];
                struct pgr_error verr = {};

                e->vmid = ids[i];
                r = vmconf_load(d->ctx, ids[i], NULL, &e->conf, &verr);
                /* a VM named on the command line that does not exist is a finding too */
                if (r < 0 && (r = vm_failed(d, e, r, true, &verr, err)) < 0)
                        return r;
        }
        return 0;
}

static int build_set(struct doctor *d, struct pgr_error *err)
{
        int r;

        for (size_t i = 0; i < d->n_vms; i++) {
                struct vm_entry *e = &d->vms[i];
                struct pgr_error perr = {};

                if (!e->conf || !d->acc)
                        continue;
                r = build_plan(d, e->conf, e->vmid, NULL, 0, &e->plan, &perr);
                if (r < 0) {
                        r = vm_failed(d, e, r, false, &perr, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = add_plan_devices(d, e->plan, e->conf, e->vmid);
                if (r < 0)
                        return r;
        }
        if (!d->vmid && d->acc) {
                r = add_vfio_extras(d);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void name_groups(struct doctor *d)
{
        for (size_t i = 0; i < d->set.n; i++) {
                const struct doctor_device *dd = &d->set.v[i];
                char title[sizeof(dd->dev.name) + sizeof(dd->dev.driver) + 128], id[16], owner[64];

                if (dd->vmid)
                        snprintf(owner, sizeof(owner), "%s of VM %lu", dd->hostpci, dd->vmid);
                else
                        snprintf(owner, sizeof(owner), "in no VM");
                if (dd->dev.present) {
                        doctor_device_id(dd, id);
                        snprintf(title, sizeof(title), "%s%s%s (%s, %s)", id, dd->dev.name[0] ? " " : "", dd->dev.name,
                                 owner, dd->dev.driver[0] ? dd->dev.driver : "no driver");
                } else
                        snprintf(title, sizeof(title), "(not present; %s)", owner);
                doctor_group(d->rep, dd->dev.bdf, title);
        }
}

static bool machine_is_q35(const struct vmconf *c)
{
        return c->machine && strstr(c->machine, "q35");
}

static bool is_ours(const char *volid)
{
        const char *slash = strrchr(volid, '/');

        return streq(slash ? slash + 1 : volid, HOOK_SNIPPET_NAME);
}

/* Where the chained hookscript of a VM the hook runs for is recorded. A state file the hook cannot
 * use fails its every run. A chain still in the policy file, where 0.1's attach recorded it, keeps
 * working and is only said: doctor is where an admin looks at one VM, and attach/detach never write
 * the policy file, which is the admin's conffile (dpkg asks on upgrade when it changed). */
static void check_chain(struct doctor *d, unsigned long vmid, bool *problem)
{
        char shown[CHAIN_SHOWN_MAX], fix[2 * PATH_MAX + 256];
        const char *legacy = NULL, *policy_file = policy_source(d->policy);
        struct pgr_error err = {};
        struct chain c;
        int r;

        chain_path(vmid, shown);
        r = chain_load(d->ctx, vmid, &c, &err);
        if (r == -ENOENT)
                legacy = policy_vm_hookscript(d->policy, vmid);
        if (r == 0 || (r == -ENOENT && !legacy))
                return;
        if (r != -ENOENT) {
                *problem = true;
                snprintf(fix, sizeof(fix), "remove %s, set the VM's earlier hookscript back if it had one "
                         "(qm set %lu --hookscript STORAGE:snippets/NAME), then pve-gpu-reset attach %lu", shown,
                         vmid, vmid);
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, fix,
                           "VM %lu: its attach state cannot be used (%s): the hook fails, so the VM does not start",
                           vmid, err.msg);
                return;
        }
        snprintf(fix, sizeof(fix), "to move it to %s: pve-gpu-reset detach %lu && pve-gpu-reset attach %lu, then "
                 "delete vms.%lu.hookscript from %s", shown, vmid, vmid, vmid,
                 policy_file ? policy_file : POLICY_DEFAULT_PATH);
        doctor_add(d->rep, "vm", DOCTOR_INFO, NULL, fix,
                   "VM %lu: its chained hookscript %s is recorded as vms.%lu.hookscript in the policy file, where "
                   "pve-gpu-reset 0.1 kept it; it keeps working", vmid, legacy, vmid);
}

static void check_hookscript(struct doctor *d, const struct vmconf *c, bool *problem)
{
        const struct pgr_ctx *ctx = d->ctx;
        struct storagecfg *cfg = NULL;
        struct pgr_error err = {};
        char host_path[PATH_MAX], path[PATH_MAX], fix[PATH_MAX + 64];
        unsigned long vmid = c->vmid;

        snprintf(fix, sizeof(fix), "pve-gpu-reset attach %lu (or: qm set %lu --hookscript local:snippets/%s)", vmid, vmid,
                 HOOK_SNIPPET_NAME);
        if (!c->hookscript) {
                *problem = true;
                doctor_add(d->rep, "vm", DOCTOR_WARN, NULL, fix,
                           "VM %lu: pve-gpu-reset is not its hookscript, so nothing resets the card between runs", vmid);
                return;
        }
        if (!is_ours(c->hookscript)) {
                *problem = true;
                snprintf_ellipsis(fix, sizeof(fix), "pve-gpu-reset attach %lu (keeps %s as the chained hookscript)", vmid,
                                  c->hookscript);
                doctor_add(d->rep, "vm", DOCTOR_WARN, NULL, fix,
                           "VM %lu: its hookscript is %s, not pve-gpu-reset", vmid, c->hookscript);
                return;
        }
        if (storagecfg_load(ctx, &cfg, &err) < 0)
                return;
        if (storagecfg_volid_path(cfg, c->hookscript, host_path, sizeof(host_path), &err) < 0 ||
            pgr_path(ctx, path, sizeof(path), host_path) < 0) {
                *problem = true;
                snprintf(fix, sizeof(fix), "pve-gpu-reset attach %lu", vmid);
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, fix,
                           "VM %lu: hookscript %s cannot be found (%s): Proxmox refuses to start the VM", vmid,
                           c->hookscript, err.msg);
        } else if (access(path, F_OK) < 0) {
                *problem = true;
                snprintf(fix, sizeof(fix), "pve-gpu-reset attach %lu (recreates the snippet)", vmid);
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, fix,
                           "VM %lu: hookscript %s does not exist (%s): Proxmox refuses to start the VM", vmid,
                           c->hookscript, host_path);
        } else if (access(path, X_OK) < 0) {
                *problem = true;
                snprintf(fix, sizeof(fix), "chmod 0755 %s", host_path);
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, fix,
                           "VM %lu: hookscript %s (%s) is not executable: Proxmox refuses to start the VM", vmid,
                           c->hookscript, host_path);
        }
        storagecfg_free(cfg);
        check_chain(d, vmid, problem);
}

static void check_hostpci_present(struct doctor *d, const struct vmconf *c, const struct hostpci *h, bool *problem)
{
        for (size_t j = 0; j < h->n_ids; j++) {
                const struct pci_addr *a = &h->ids[j];
                struct pci_addr funcs[8];
                size_t n = 0;
                char bdf[PCI_ADDR_STRLEN], fix[256];
                bool present;

                if (a->func < 0)
                        present = pcidev_slot_functions(d->ctx, a, funcs, ELEMENTSOF(funcs), &n) >= 0 && n > 0;
                else
                        present = sysfs_dev_present(d->ctx, a);
                if (present)
                        continue;
                *problem = true;
                snprintf(fix, sizeof(fix), "lspci -nn shows where the card is now; then qm set %lu --hostpci%u "
                         "<address>,... (or use a resource mapping, which survives renumbering)", c->vmid, h->index);
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, fix,
                           "VM %lu hostpci%u (%s:%u): no PCI device at %s: the start fails with \"no PCI device found\"",
                           c->vmid, h->index, c->path, h->line, pci_addr_format(a, bdf));
        }
}

struct mapping_check_ctx {
        struct doctor *d;
        const struct vmconf *c;
        const struct hostpci *h;
};

/* One FAIL per mismatch assert_valid would die on; for a value the map line can simply take
 * (id, subsystem-id, iommugroup) the fix is the exact pvesh command. */
static void doctor_mapping_mismatch(const struct mapping_mismatch *mm, void *userdata)
{
        const struct mapping_check_ctx *mc = userdata;
        char fix[2048], cmd[1536];
        bool settable = mm->found[0] && (streq(mm->property, "id") || streq(mm->property, "subsystem-id") ||
                                         streq(mm->property, "iommugroup"));

        if (settable && mapping_fix_command(mm->mapping, mm->map, mm->property, mm->found, cmd, sizeof(cmd)) >= 0)
                snprintf(fix, sizeof(fix), "if %s is still the device meant: %s (or Datacenter > Resource Mappings > %s: "
                         "edit the map for node %s and select the device again)", mm->bdf, cmd, mm->mapping->name,
                         mm->map->node);
        else
                snprintf(fix, sizeof(fix), "Datacenter > Resource Mappings > %s: select the device again for node %s (or: "
                         "pvesh set /cluster/mapping/pci/%s --map ...)", mm->mapping->name, mm->map->node,
                         mm->mapping->name);
        doctor_add(mc->d->rep, "vm", DOCTOR_FAIL, NULL, fix, "VM %lu hostpci%u: %s", mc->c->vmid, mc->h->index,
                   mm->message);
}

static void check_mapping(struct doctor *d, const struct vmconf *c, const struct hostpci *h, bool *problem)
{
        struct mapping_check_ctx mc = { .d = d, .c = c, .h = h };
        struct pgr_error err = {};
        char fix[1024];
        int r;

        if (d->maps->error[0]) {
                *problem = true;
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, "fix /etc/pve/mapping/pci.cfg (Datacenter > Resource Mappings)",
                           "VM %lu hostpci%u: mapping=%s, but the mappings cannot be read: %s", c->vmid, h->index,
                           h->mapping, d->maps->error);
                return;
        }
        r = mapping_check(d->ctx, d->maps, h->mapping, doctor_mapping_mismatch, &mc, NULL, &err);
        if (r >= 0)
                return;
        *problem = true;
        if (r == -ENODEV) /* each mismatch already reported */
                return;
        snprintf(fix, sizeof(fix), "Datacenter > Resource Mappings > %s: select the device again for node %s (or: pvesh "
                 "set /cluster/mapping/pci/%s --map ...)", h->mapping, d->ctx->node, h->mapping);
        if (err.msg[0])
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, fix, "VM %lu hostpci%u: %s", c->vmid, h->index, err.msg);
        else
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, fix, "VM %lu hostpci%u: mapping %s: %s", c->vmid, h->index,
                           h->mapping, r == -ENOENT ? "not defined for this node" : strerror(-r));
}

/* Whether the entry gives the VM a display function (for the pcie=1 advice). */
static bool hostpci_has_display(const struct doctor *d, const struct vmconf *c, const struct hostpci *h)
{
        char name[16];

        snprintf(name, sizeof(name), "hostpci%u", h->index);
        for (size_t i = 0; i < d->set.n; i++)
                if (d->set.v[i].vmid == c->vmid && streq(d->set.v[i].hostpci, name) && d->set.v[i].dev.present &&
                    doctor_device_is_display(&d->set.v[i]))
                        return true;
        return false;
}

static void check_vm(struct doctor *d, const struct vm_entry *e)
{
        const struct vmconf *c = e->conf;
        bool problem = false, any = false;
        struct dstr ok = {};
        char fix[256];

        if (!c) {
                const char *hint = e->load_r == -ENOENT ? "check the VMID (qm list); in a cluster, run doctor on the node "
                                                          "that hosts the VM"
                                                        : "fix the line named (qm config VMID shows what Proxmox reads)";

                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, hint, "%s", e->load_err);
                return;
        }
        /* What Proxmox skips in the config, the hook skips too: a dropped hostpci entry is a device
         * the user meant to pass and neither Proxmox nor the hook will touch. */
        for (size_t i = 0; i < c->n_warnings; i++)
                if (d->vmid || strstr(c->warnings[i].msg, "hostpci"))
                        doctor_add(d->rep, "vm", DOCTOR_WARN, NULL,
                                   "fix the line named (qm config VMID shows what Proxmox reads)", "%s",
                                   c->warnings[i].msg);
        if (!d->vmid) {
                bool has = false;

                for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++)
                        has = has || c->hostpci[i].present;
                if (!has)
                        return; /* host-wide: VMs without passthrough are not our business */
        }
        if (e->load_r < 0) {
                doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, NULL, "VM %lu: %s", e->vmid, e->load_err);
                return;
        }
        for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++) {
                const struct hostpci *h = &c->hostpci[i];
                char bdf[PCI_ADDR_STRLEN];

                if (!h->present)
                        continue;
                any = true;
                if (h->mapping)
                        check_mapping(d, c, h, &problem);
                else
                        check_hostpci_present(d, c, h, &problem);
                dstr_addf(&ok, "%shostpci%u %s%s%s%s", ok.len ? ", " : "", h->index, h->mapping ? "mapping=" : "",
                          h->mapping ? h->mapping : (h->n_ids ? pci_addr_format(&h->ids[0], bdf) : "?"),
                          h->pcie > 0 ? " pcie=1" : "", h->x_vga > 0 ? " x-vga=1" : "");
                if (h->pcie > 0 && !machine_is_q35(c)) {
                        problem = true;
                        snprintf(fix, sizeof(fix), "qm set %lu --machine q35 (or drop pcie=1 from hostpci%u)", c->vmid,
                                 h->index);
                        doctor_add(d->rep, "vm", DOCTOR_FAIL, NULL, fix,
                                   "VM %lu hostpci%u: pcie=1 needs a q35 machine, the VM has %s: Proxmox refuses to start it",
                                   c->vmid, h->index, c->machine ? c->machine : "the default i440fx");
                }
                if (h->pcie <= 0 && machine_is_q35(c) && hostpci_has_display(d, c, h)) {
                        snprintf(fix, sizeof(fix), "add pcie=1 to hostpci%u (qm set %lu --hostpci%u ...,pcie=1)", h->index,
                                 c->vmid, h->index);
                        doctor_add(d->rep, "vm", DOCTOR_INFO, NULL, fix,
                                   "VM %lu hostpci%u: a GPU without pcie=1 on a q35 machine sits on a plain PCI bus; "
                                   "guest drivers expect a PCIe link", c->vmid, h->index);
                }
                if (h->x_vga > 0 && !(c->bios && streq(c->bios, "ovmf"))) {
                        snprintf(fix, sizeof(fix), "qm set %lu --bios ovmf (with an EFI disk: qm set %lu --efidisk0 "
                                 "local-lvm:1,efitype=4m); the guest OS may need reinstalling for UEFI", c->vmid, c->vmid);
                        doctor_add(d->rep, "vm", DOCTOR_INFO, NULL, fix,
                                   "VM %lu hostpci%u: x-vga=1 with SeaBIOS relies on the card's legacy VGA BIOS; OVMF "
                                   "(UEFI) starts modern GPUs more reliably", c->vmid, h->index);
                }
        }
        if (!any) {
                doctor_add(d->rep, "vm", DOCTOR_INFO, NULL, NULL,
                           "VM %lu passes no PCI device through: nothing for pve-gpu-reset to do", c->vmid);
                goto out;
        }
        /* A guest reboot is a reset inside QEMU: no hook phase runs. reboot: 0 does not turn it into stop +
         * start: QemuServer.pm config_to_command gives QEMU -no-reboot, so QEMU exits; CLI/qm.pm cleanup
         * then runs post-stop but restarts the VM only after an API reboot (clear_reboot_request:
         * /run/qemu-server/<vmid>.reboot). */
        if (c->reboot == 0)
                doctor_add(d->rep, "vm", DOCTOR_INFO, NULL, NULL,
                           "VM %lu has reboot: 0: a reboot inside the guest stops the VM (QEMU -no-reboot); "
                           "post-stop runs, but Proxmox restarts a VM only after a GUI/API reboot, so it stays off "
                           "until started again",
                           c->vmid);
        else {
                snprintf(fix, sizeof(fix), "reboot it with qm reboot %lu (or the GUI's Reboot): that runs post-stop "
                         "and pre-start", c->vmid);
                doctor_add(d->rep, "vm", DOCTOR_INFO, NULL, fix,
                           "VM %lu: a reboot inside the guest runs no hook (QEMU resets the card in-process), so "
                           "pve-gpu-reset never sees it",
                           c->vmid);
        }
        check_hookscript(d, c, &problem);
        for (size_t i = 0; i < d->n_shared; i++)
                if (d->shared[i].vmid == c->vmid)
                        doctor_add(d->rep, "vm", DOCTOR_INFO, NULL, NULL,
                                   "VM %lu %s: %s is also %s of VM %lu: only one of the two can run at a time", c->vmid,
                                   d->shared[i].hostpci, d->shared[i].bdf, d->shared[i].other_hostpci,
                                   d->shared[i].other_vmid);
        if (c->lock)
                doctor_add(d->rep, "vm", DOCTOR_INFO, NULL, NULL, "VM %lu is locked (%s)", c->vmid, c->lock);
        if (!problem)
                doctor_add(d->rep, "vm", DOCTOR_OK, NULL, NULL, "VM %lu: %s; %s, %s, hookscript %s", c->vmid,
                           dstr_get(&ok), c->machine ? c->machine : "i440fx", c->bios ? c->bios : "seabios",
                           c->hookscript);
out:
        dstr_done(&ok);
}

/* Claim records that no VM config backs any more (the check "claim", under the function): claimed by a
 * VM with no config on this node (nothing drops that claim but unclaim), or by a VM whose config no
 * longer gives the function for vfio-pci (its next hook run drops it). Only the VMs looked at: with a
 * VMID, that VM's claims. A VM whose config does not parse is the vm check's; one whose mapping pci.cfg
 * cannot give is not judged. */
static void check_stale_claims(struct doctor *d)
{
        _cleanup_free_ struct claim *claims = NULL;
        size_t n = 0;

        if (claim_list(d->ctx, &claims, &n, NULL) < 0)
                n = 0; /* unreadable records are the per-device claim check's to report */
        for (size_t i = 0; i < n; i++) {
                const struct claim *c = &claims[i];
                char bdf[PCI_ADDR_STRLEN], fix[160];

                pci_addr_format(&c->addr, bdf);
                for (size_t k = 0; k < c->n_owners; k++) {
                        unsigned long owner = c->owners[k];
                        const struct vm_entry *e = NULL;
                        enum hostpci_use use;
                        bool unknown_mapping = false;

                        if (owner == CLAIM_OWNER_MANUAL || (d->vmid && owner != d->vmid))
                                continue;
                        for (size_t v = 0; v < d->n_vms && !e; v++)
                                if (d->vms[v].vmid == owner)
                                        e = &d->vms[v];
                        if (!e || (!e->conf && e->load_r == -ENOENT)) {
                                snprintf(fix, sizeof(fix), "pve-gpu-reset unclaim %lu", owner);
                                doctor_add(d->rep, "claim", DOCTOR_WARN, bdf, fix,
                                           "claimed by VM %lu, which has no config on node %s: udev still takes it from "
                                           "its host driver at boot", owner, d->ctx->node);
                                continue;
                        }
                        if (!e->conf)
                                continue;
                        for (size_t h = 0; h < VMCONF_MAX_HOSTPCI; h++)
                                unknown_mapping |= e->conf->hostpci[h].present && e->conf->hostpci[h].mapping &&
                                                   (!d->maps || d->maps->error[0]);
                        use = plan_config_use(d->ctx, e->conf, d->maps, &c->addr);
                        if (unknown_mapping || use == HOSTPCI_USE_VFIO)
                                continue;
                        snprintf(fix, sizeof(fix), "the next start or stop of VM %lu drops it; now: pve-gpu-reset unclaim %s",
                                 owner, bdf);
                        doctor_add(d->rep, "claim", DOCTOR_WARN, bdf, fix,
                                   "claimed by VM %lu, whose config %s: udev still takes it from its host driver at boot",
                                   owner, use == HOSTPCI_USE_UNKNOWN ? "no longer gives it"
                                          : use == HOSTPCI_USE_KEEP ? "gives it with driver=keep"
                                                                    : "gives it as a mediated device (mdev)");
                }
        }
}

int doctor_collect(const struct pgr_ctx *ctx, unsigned long vmid, const char *config_path,
                   struct doctor_report **ret, struct pgr_error *err)
{
        _cleanup_(doctor_report_freep) struct doctor_report *rep = NULL;
        _cleanup_(doctor_host_freep) struct doctor_host *host = NULL;
        _cleanup_(modprobe_conf_freep) struct modprobe_conf *mp = NULL;
        _cleanup_(kmodinfo_freep) struct kmodinfo *km = NULL;
        _cleanup_(kmsg_log_freep) struct kmsg_log *log = NULL;
        struct doctor d = { .ctx = ctx, .vmid = vmid };
        struct modprobe_kernel k;
        int r;

        rep = doctor_report_new(vmid, ctx->node);
        if (!rep)
                return -ENOMEM;
        d.rep = rep;
        r = policy_load(ctx, config_path, &d.policy, err);
        if (r < 0)
                goto out;
        r = load_vms(&d, err);
        if (r < 0)
                goto out;
        /* Never fails over its content (only -ENOMEM): a VM without mapping= does not care. */
        r = mapping_load(ctx, &d.maps, err);
        if (r < 0)
                goto out;
        r = pcidev_access_new(ctx, &d.acc);
        if (r == -ENOMEM)
                goto out;
        if (r < 0)
                d.acc = NULL; /* no sysfs PCI tree: host checks only */
        r = build_set(&d, err);
        if (r < 0)
                goto out;
        name_groups(&d);

        r = doctor_host_load(ctx, &host);
        if (r < 0)
                goto out;
        r = kmodinfo_new(ctx, host->release, &km);
        if (r == -ELIBACC)
                pgr_error_set(err, "cannot load %s (libkmod 30 or later, Debian package libkmod2): doctor reads the "
                              "module indexes and the modprobe.d configuration through it; install libkmod2",
                              KMODINFO_LIBRARY);
        if (r < 0)
                goto out;
        r = modprobe_conf_load(ctx, km, host->have_cmdline ? host->cmdline : "", &mp);
        if (r < 0)
                goto out;
        r = kmsg_load(ctx, &log);
        if (r < 0)
                goto out;

        doctor_check_devices(ctx, &d.set, kmodinfo_loaded(ctx, "vfio_pci"), kmodinfo_loaded(ctx, "vendor_reset"), log,
                             rep);
        doctor_check_iommu(host, rep);
        doctor_check_cmdline(host, &d.set, log, rep);
        doctor_check_kernel(ctx, host, km, rep);
        k = (struct modprobe_kernel){
                .release = host->release,
                .major = host->kmajor,
                .minor = host->kminor,
                .modules = km,
        };
        doctor_check_modprobe(ctx, mp, &d.set, &k, rep);
        doctor_check_initramfs(ctx, mp, host->release, host->proxmox_boot_tool, rep);
        doctor_check_numa(host, &d.set, rep);
        doctor_check_kernel_log(log, &d.set, vmid == 0, rep);
        for (size_t i = 0; i < d.n_vms; i++)
                check_vm(&d, &d.vms[i]);
        check_stale_claims(&d);
        if (!d.acc)
                doctor_add(rep, "driver", DOCTOR_INFO, NULL, NULL, "no PCI devices: /sys/bus/pci/devices is not readable");
        else if (d.set.n == 0 && !vmid)
                doctor_add(rep, "driver", DOCTOR_INFO, NULL, NULL,
                           "no passthrough devices: no VM on node %s has hostpci entries and nothing is bound to vfio-pci",
                           ctx->node);
        if (rep->oom) {
                r = -ENOMEM;
                goto out;
        }
        *ret = rep;
        rep = NULL;
        r = 0;
out:
        doctor_done(&d);
        return r;
}
