/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "reset/plan.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "kernel/sysfs.h"
#include "reset/state.h"

static const char *const phase_names[_PHASE_MAX] = {
        [PHASE_PRE_START] = "pre-start",
        [PHASE_POST_START] = "post-start",
        [PHASE_PRE_STOP] = "pre-stop",
        [PHASE_POST_STOP] = "post-stop",
        [PHASE_MANUAL] = "reset",
};

static const char *const action_names[_ACTION_MAX] = {
        [ACTION_BIND_VFIO] = "bind-vfio",
        [ACTION_KEEP_AWAKE] = "keep-awake",
        [ACTION_ASPM_OFF] = "aspm-off",
        [ACTION_RESET] = "reset",
        [ACTION_BUS_RESET] = "bus-reset",
        [ACTION_REMOVE_RESCAN] = "remove-rescan",
        [ACTION_POWER_CYCLE] = "power-cycle",
        [ACTION_SKIP] = "skip",
};

const char *phase_to_string(enum phase p)
{
        return p >= 0 && p < _PHASE_MAX ? phase_names[p] : "unknown";
}

enum phase phase_from_string(const char *s)
{
        for (int i = 0; i < _PHASE_MAX; i++)
                if (i != PHASE_MANUAL && streq(s, phase_names[i]))
                        return (enum phase)i;
        return PHASE_INVALID;
}

const char *action_to_string(enum plan_action_kind k)
{
        return k < _ACTION_MAX ? action_names[k] : "unknown";
}

bool plan_action_is_reset(enum plan_action_kind k)
{
        return k == ACTION_RESET || k == ACTION_BUS_RESET || k == ACTION_REMOVE_RESCAN || k == ACTION_POWER_CYCLE;
}

static const char *const kernel_methods[] = { "device_specific", "flr", "af_flr", "pm", "bus", "cxl_bus" };

static bool is_kernel_method(const char *m)
{
        for (size_t i = 0; i < ELEMENTSOF(kernel_methods); i++)
                if (streq(m, kernel_methods[i]))
                        return true;
        return false;
}

static void add_problem(struct plan *p, enum plan_severity sev, const struct pci_addr *a, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void add_problem(struct plan *p, enum plan_severity sev, const struct pci_addr *a, const char *fmt, ...)
{
        struct plan_problem *pr;
        va_list ap;

        if (p->n_problems >= PLAN_MAX_PROBLEMS)
                return;
        /* Grown as problems come: most plans have none, and 64 slots in place were 25 KiB zeroed (six
         * page faults) in every hook run. Out of memory, a problem is dropped like one past the cap. */
        if (p->n_problems == p->problems_allocated) {
                size_t want = p->problems_allocated ? 2 * p->problems_allocated : 4;
                struct plan_problem *grown = reallocarray(p->problems, want, sizeof(*grown));

                if (!grown)
                        return;
                p->problems = grown;
                p->problems_allocated = want;
        }
        pr = &p->problems[p->n_problems++];
        pr->severity = sev;
        if (a)
                pci_addr_format(a, pr->slot);
        else
                pr->slot[0] = '\0';
        va_start(ap, fmt);
        vsnprintf_ellipsis(pr->message, sizeof(pr->message), fmt, ap);
        va_end(ap);
}

static struct plan_action *add_action(struct plan_device *d, enum plan_action_kind kind, const char *method,
                                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct plan_action *add_action(struct plan_device *d, enum plan_action_kind kind, const char *method,
                                      const char *fmt, ...)
{
        struct plan_action *a;
        va_list ap;

        /* Full (cannot happen with the fixed set of actions): the last one is overwritten, never lost. */
        a = &d->actions[d->n_actions < PLAN_MAX_ACTIONS ? d->n_actions++ : PLAN_MAX_ACTIONS - 1];
        memset(a, 0, sizeof(*a));
        a->kind = kind;
        snprintf(a->method, sizeof(a->method), "%s", method ? method : "");
        if (fmt) {
                va_start(ap, fmt);
                vsnprintf_ellipsis(a->reason, sizeof(a->reason), fmt, ap);
                va_end(ap);
        }
        return a;
}

/* A function the plan handles, before facts are read. */
struct wanted {
        struct pci_addr addr;
        char hostpci[16];
        enum hostpci_use use;
        const char *skip_reason; /* driver=keep, mdev...: never touched */
        bool whole_slot;         /* named without function: every function of the slot */
};

struct collect {
        struct wanted items[PLAN_MAX_DEVICES];
        size_t n;
};

static bool collect_has(const struct collect *c, const struct pci_addr *a)
{
        for (size_t i = 0; i < c->n; i++)
                if (pci_addr_eq(&c->items[i].addr, a))
                        return true;
        return false;
}

static int collect_add(struct collect *c, const struct pci_addr *a, const char *hostpci, enum hostpci_use use,
                       bool whole_slot)
{
        if (collect_has(c, a))
                return 0;
        if (c->n >= PLAN_MAX_DEVICES)
                return -E2BIG;
        c->items[c->n].addr = *a;
        snprintf(c->items[c->n].hostpci, sizeof(c->items[c->n].hostpci), "%s", hostpci);
        c->items[c->n].use = use;
        c->items[c->n].skip_reason = plan_use_skip_reason(use);
        c->items[c->n].whole_slot = whole_slot;
        c->n++;
        return 0;
}

/* The functions of dev's slot: from its facts when they list everything below its bridge (the slot
 * is part of that, and it was read moments ago), else looked up. */
static int slot_functions(const struct plan_input *in, const struct pcidev *dev, struct pci_addr *ret, size_t max,
                          size_t *ret_n)
{
        size_t n = 0;

        if (!dev->has_parent || !dev->below_parent_complete)
                return pcidev_slot_functions(in->ctx, &dev->addr, ret, max, ret_n);
        for (size_t i = 0; i < dev->n_below_parent; i++) {
                if (!pci_addr_same_slot(&dev->below_parent[i], &dev->addr))
                        continue;
                if (n >= max)
                        return -ENOBUFS;
                ret[n++] = dev->below_parent[i];
        }
        *ret_n = n;
        return 0;
}

/* A slot without function means every function present; none present still yields function 0 so
 * the plan can say the device is missing (pre-start rescans for it). */
static int collect_id(const struct plan_input *in, struct plan *p, struct collect *c, const struct pci_addr *id,
                      const char *hostpci, enum hostpci_use use)
{
        struct pci_addr funcs[8];
        size_t n = 0;
        int r;

        if (id->func >= 0)
                return collect_add(c, id, hostpci, use, false);
        r = pcidev_slot_functions(in->ctx, id, funcs, ELEMENTSOF(funcs), &n);
        if (r < 0 && r != -ENOENT)
                return r;
        if (n == 0) {
                struct pci_addr f0 = *id;

                f0.func = 0;
                add_problem(p, SEVERITY_ERROR, id, "%s: no function of slot present", hostpci);
                return collect_add(c, &f0, hostpci, use, true);
        }
        for (size_t i = 0; i < n; i++) {
                r = collect_add(c, &funcs[i], hostpci, use, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct usable_ctx {
        const struct pgr_ctx *ctx;
        const struct reservations *res;
        unsigned long vmid;
        long long now;
        const struct collect *c;
        bool taken[PLAN_MAX_DEVICES];   /* c->items[i] was given to an earlier hostpci line */
};

/* qemu-server PCI.pm choose_hostpci_devices: an alternative is skipped when one of its functions
 * (a path without function: every function lspci lists) went to an earlier hostpci line of this VM
 * ($used; mdev lines take none), or is reserved by another VM (reserve_pci_usage). */
static bool mapping_usable(const struct pci_addr *a, void *userdata)
{
        const struct usable_ctx *u = userdata;
        struct pci_addr funcs[8];
        size_t n = 0;

        if (a->func >= 0)
                funcs[n++] = *a;
        else if (pcidev_slot_functions(u->ctx, a, funcs, ELEMENTSOF(funcs), &n) < 0 || n == 0) {
                funcs[0] = *a;
                funcs[0].func = 0;
                n = 1;
        }
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < u->c->n; k++)
                        if (u->taken[k] && pci_addr_eq(&u->c->items[k].addr, &funcs[i]))
                                return false;
                if (reservations_holder(u->ctx, u->res, &funcs[i], u->vmid, u->now) != 0)
                        return false;
        }
        return true;
}

/* A mapping that does not match the hardware because a device fell off the bus: at pre-start its
 * absent paths join the plan as missing functions, so the one rescan raw hostpci entries get
 * (run.c execute: apply_rescan_missing) covers them too, and the plan made after it resolves the
 * mapping again. Every map line for this node counts: qemu-server refuses the start when any of
 * them does not match (PVE::Mapping::PCI::assert_valid). */
static int collect_missing_mapping_paths(const struct plan_input *in, struct plan *p, struct collect *c,
                                         const struct mapping *m, const char *hostpci, enum hostpci_use use)
{
        for (size_t i = 0; m && i < m->n_maps; i++) {
                const struct mapping_map *map = &m->maps[i];

                if (!streq(map->node, in->ctx->node))
                        continue;
                for (size_t j = 0; j < map->n_paths; j++) {
                        struct pci_addr f = map->paths[j];
                        int r;

                        if (f.func < 0)
                                f.func = 0;
                        if (sysfs_dev_present(in->ctx, &f))
                                continue;
                        r = collect_id(in, p, c, &map->paths[j], hostpci, use);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static _noinline_ int collect_from_config(const struct plan_input *in, struct plan *p, struct collect *c,
                                          const struct reservations *res, struct pgr_error *err)
{
        struct usable_ctx u = { .ctx = in->ctx, .res = res, .vmid = in->vmid, .now = in->now, .c = c };

        for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++) {
                const struct hostpci *h = &in->conf->hostpci[i];
                struct pci_addr ids[MAPPING_MAX_PATHS];
                const struct pci_addr *list = h->ids;
                size_t n = h->n_ids;
                enum hostpci_use use = plan_hostpci_use(h, in->mappings);
                char name[16];
                size_t n_before = c->n;
                int r;

                if (!h->present)
                        continue;
                snprintf(name, sizeof(name), "hostpci%u", h->index);
                if (h->mapping) {
                        struct pgr_error merr = {};

                        r = in->mappings ? mapping_resolve(in->ctx, in->mappings, h->mapping, mapping_usable, &u,
                                                           ids, &n, &merr)
                                         : -ENOENT;
                        /* choose_hostpci_devices picks nothing for an mdev line and vm_start reserves
                         * nothing for it: "in use" fails no start, and its parent is never touched. */
                        if (r == -EBUSY && h->mdev)
                                r = mapping_resolve(in->ctx, in->mappings, h->mapping, NULL, NULL, ids, &n, &merr);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                /* -EOPNOTSUPP: Proxmox may well start it, we just leave it alone */
                                add_problem(p, r == -EOPNOTSUPP ? SEVERITY_WARNING : SEVERITY_ERROR, NULL, "%s: %s", name,
                                            merr.msg[0] ? merr.msg
                                                        : "mapping not found (no /etc/pve/mapping/pci.cfg)");
                                if (r == -ENODEV && in->phase == PHASE_PRE_START) {
                                        r = collect_missing_mapping_paths(in, p, c, mapping_find(in->mappings, h->mapping),
                                                                          name, use);
                                        if (r == -E2BIG)
                                                pgr_error_set(err, "VM %lu: more than %d PCI functions", in->vmid,
                                                              PLAN_MAX_DEVICES);
                                        if (r < 0)
                                                return r;
                                }
                                continue;
                        }
                        list = ids;
                }
                for (size_t j = 0; j < n; j++) {
                        r = collect_id(in, p, c, &list[j], name, use);
                        if (r == -E2BIG) {
                                pgr_error_set(err, "VM %lu: more than %d PCI functions", in->vmid, PLAN_MAX_DEVICES);
                                return r;
                        }
                        if (r < 0)
                                return r;
                }
                for (size_t k = n_before; k < c->n; k++)
                        u.taken[k] = !h->mdev;
        }
        return 0;
}

static const char *const use_skip_reasons[_HOSTPCI_USE_MAX] = {
        [HOSTPCI_USE_KEEP] = "driver=keep: Proxmox neither binds nor resets it, so neither do we",
        [HOSTPCI_USE_MDEV] = "mediated device (mdev=): a slice of a shared GPU; the parent is never reset",
        [HOSTPCI_USE_MAPPING_MDEV] = "mapping is for mediated devices (mdev): the parent is never reset",
};

const char *plan_use_skip_reason(enum hostpci_use use)
{
        return (unsigned)use < _HOSTPCI_USE_MAX ? use_skip_reasons[use] : NULL;
}

/* qemu-server PVE/QemuServer/PCI.pm prepare_pci_device: an mdev entry (or a mapping with mdev 1)
 * creates a slice, driver=keep skips both the bind and the reset. */
enum hostpci_use plan_hostpci_use(const struct hostpci *h, const struct mapping_file *maps)
{
        const struct mapping *m;

        if (h->driver == HOSTPCI_DRIVER_KEEP)
                return HOSTPCI_USE_KEEP;
        if (h->mdev)
                return HOSTPCI_USE_MDEV;
        m = h->mapping && maps ? mapping_find(maps, h->mapping) : NULL;
        if (m && m->mdev)
                return HOSTPCI_USE_MAPPING_MDEV;
        return HOSTPCI_USE_VFIO;
}

static bool id_covers(const struct pci_addr *id, const struct pci_addr *a)
{
        return pci_addr_same_slot(id, a) && (id->func < 0 || id->func == a->func);
}

/* Does h give function a? Its host IDs, or any path of its mapping on this node (every line, not
 * only the one a start would pick: what matters is what the config says about the function). */
static bool hostpci_gives(const struct pgr_ctx *ctx, const struct hostpci *h, const struct mapping_file *maps,
                          const struct pci_addr *a)
{
        const struct mapping *m;

        for (size_t j = 0; j < h->n_ids; j++)
                if (id_covers(&h->ids[j], a))
                        return true;
        m = h->mapping && maps ? mapping_find(maps, h->mapping) : NULL;
        for (size_t k = 0; m && k < m->n_maps; k++)
                for (size_t j = 0; m->maps[k].node && streq(m->maps[k].node, ctx->node) && j < m->maps[k].n_paths; j++)
                        if (id_covers(&m->maps[k].paths[j], a))
                                return true;
        return false;
}

/* What conf says about function a: the strictest use of the hostpciN entries that give it
 * (HOSTPCI_USE_UNKNOWN: none does); ret_label gets the first such hostpciN. */
static enum hostpci_use config_use(const struct pgr_ctx *ctx, const struct vmconf *conf, const struct mapping_file *maps,
                                   const struct pci_addr *a, char *ret_label, size_t label_size)
{
        enum hostpci_use use = HOSTPCI_USE_UNKNOWN;

        for (size_t i = 0; conf && i < VMCONF_MAX_HOSTPCI; i++) {
                const struct hostpci *h = &conf->hostpci[i];
                enum hostpci_use u;

                if (!h->present || !hostpci_gives(ctx, h, maps, a))
                        continue;
                u = plan_hostpci_use(h, maps);
                if (use == HOSTPCI_USE_UNKNOWN && ret_label)
                        snprintf(ret_label, label_size, "hostpci%u", h->index);
                if (use == HOSTPCI_USE_UNKNOWN || plan_use_skip_reason(u))
                        use = u;
        }
        return use;
}

enum hostpci_use plan_config_use(const struct pgr_ctx *ctx, const struct vmconf *conf, const struct mapping_file *maps,
                                 const struct pci_addr *a)
{
        return config_use(ctx, conf, maps, a, NULL, 0);
}

/* The override path (post-stop's recorded set, the reset command's arguments, doctor's extras):
 * label each collected function and give it the same skip as the config path would. A function is
 * left alone when the record says keep/mdev, when the current config says so (a record from before
 * an upgrade carries no such word), and, for a record that does not say, when the current config
 * does not give it at all. For the reset command any VM config on the node counts. */
static void refine_override(const struct plan_input *in, struct plan *p, struct wanted *w, enum hostpci_use recorded)
{
        char label[16] = "";
        enum hostpci_use use = config_use(in->ctx, in->conf, in->mappings, &w->addr, label, sizeof(label));

        snprintf(w->hostpci, sizeof(w->hostpci), "%s", label[0] ? label : in->phase == PHASE_MANUAL ? "manual" : "recorded");
        for (size_t i = 0; i < in->n_all_confs && !plan_use_skip_reason(use); i++) {
                enum hostpci_use u = config_use(in->ctx, in->all_confs[i], in->mappings, &w->addr, NULL, 0);

                if (plan_use_skip_reason(u)) {
                        use = u;
                        add_problem(p, SEVERITY_ERROR, &w->addr, "VM %lu gives it with %s: not ours to reset",
                                    in->all_confs[i]->vmid, u == HOSTPCI_USE_KEEP ? "driver=keep" : "a mediated device (mdev)");
                }
        }
        if (plan_use_skip_reason(recorded))
                use = recorded;
        w->use = use;
        w->skip_reason = plan_use_skip_reason(use);
        if (!w->skip_reason && in->override_use && recorded == HOSTPCI_USE_UNKNOWN && use == HOSTPCI_USE_UNKNOWN)
                w->skip_reason = "recorded by an older version without what the config said about it, and the "
                                 "current config does not give it: left alone (the next start resets it)";
}

static long group_holder(struct foreign_check *fc, int group)
{
        long pid;

        for (size_t i = 0; i < fc->n_groups; i++)
                if (fc->groups[i] == group)
                        return fc->holders[i];
        pid = vfio_group_holder(fc->ctx, group);
        if (fc->n_groups < ELEMENTSOF(fc->groups)) {
                fc->groups[fc->n_groups] = group;
                fc->holders[fc->n_groups++] = pid;
        }
        return pid;
}

bool foreign_check_device(struct foreign_check *fc, const struct pci_addr *addr, int iommu_group,
                          struct foreign_holder *ret)
{
        long pid;

        *ret = (struct foreign_holder){ .iommu_group = iommu_group, .error = fc->res_error };
        if (fc->res_error < 0)
                return true;
        ret->vmid = reservations_holder(fc->ctx, fc->res, addr, fc->vmid, fc->now);
        if (ret->vmid)
                return true;
        if (iommu_group < 0)
                return false;
        pid = group_holder(fc, iommu_group);
        if (pid == 0)
                return false;
        ret->pid = pid; /* < 0: /proc could not be read; in doubt, in use */
        return true;
}

void foreign_holder_describe(const struct foreign_holder *h, char *buf, size_t size)
{
        if (h->error < 0)
                snprintf(buf, size, "of unknown use: /run/qemu-server/pci-id-reservations cannot be read (%s), "
                         "in doubt it is in use", strerror(-h->error));
        else if (h->vmid)
                snprintf(buf, size, "reserved by VM %lu (pci-id-reservations)", h->vmid);
        else if (h->pid > 0)
                snprintf(buf, size, "/dev/vfio/%d is held open by pid %ld: another VM uses it", h->iommu_group, h->pid);
        else
                snprintf(buf, size, "cannot tell who holds /dev/vfio/%d open (%s)", h->iommu_group, strerror((int)-h->pid));
}

bool plan_may_cover(struct foreign_check *fc, const struct plan *p, const struct pci_addr *addr,
                    bool *ret_collateral, char *why, size_t why_size)
{
        const struct plan_device *own = NULL;
        struct foreign_holder h;
        char whose[160];
        int group = -1;

        *ret_collateral = false;
        for (size_t i = 0; i < p->n_devices && !own; i++)
                if (pci_addr_eq(&p->devices[i].dev.addr, addr))
                        own = &p->devices[i];
        if (own) {
                if (own->n_actions > 0 && own->actions[0].kind == ACTION_SKIP) {
                        snprintf_ellipsis(why, why_size, "is skipped (%s)", own->actions[0].reason);
                        return false;
                }
                /* Read now, not the plan's number: apply calls this under the locks, after a remove+rescan
                 * of this run may have renumbered the groups (both Debian kernels do). */
                group = pcidev_iommu_group(fc->ctx, addr);
        } else {
                bool same_group = false;

                group = pcidev_iommu_group(fc->ctx, addr);
                for (size_t i = 0; i < p->n_devices && group >= 0 && !same_group; i++) {
                        const struct plan_device *d = &p->devices[i];

                        same_group = pcidev_iommu_group(fc->ctx, &d->dev.addr) == group &&
                                     (d->n_actions == 0 || d->actions[0].kind != ACTION_SKIP);
                }
                if (!same_group || pcidev_is_bridge(fc->ctx, addr)) {
                        snprintf(why, why_size, "is not this VM's");
                        return false;
                }
                /* Proxmox binds the group to vfio-pci only after pre-start, and a group function back on a
                 * host driver after post-stop was given back to the host on purpose: either way a driver is
                 * using it now, and a bus reset or a remove under a live driver can take the host down
                 * with it (seen in e2e: the foreign e1000 behind a PCI bridge shares the display's group).
                 * Unbound or on vfio-pci, nobody but this VM can be using it. */
                {
                        char drv[64];

                        int r = sysfs_dev_link(fc->ctx, addr, "driver", drv, sizeof(drv));

                        /* Only a missing link means unbound; a link that cannot be read fails closed. */
                        if (r != -ENOENT && (r < 0 || !streq(drv, "vfio-pci"))) {
                                snprintf(why, why_size, "is bound to host driver %s", r < 0 ? "(unreadable)" : drv);
                                return false;
                        }
                }
                *ret_collateral = true;
        }
        if (group < 0)
                group = -1; /* no group (no IOMMU, or gone): the reservations alone tell */
        if (foreign_check_device(fc, addr, group, &h)) {
                foreign_holder_describe(&h, whose, sizeof(whose));
                snprintf(why, why_size, "is %s", whose);
                return false;
        }
        return true;
}

/* NVIDIA Hopper and friends the kernel flags PCI_DEV_FLAGS_NO_BUS_RESET (quirks.c). */
static bool no_bus_reset_quirk(const struct pcidev *d)
{
        return d->vendor == 0x10de && d->device >= 0x2340 && d->device <= 0x237f;
}

static void ladder_add(struct plan_device *d, enum plan_action_kind kind, const char *method, const char *reason)
{
        struct plan_action *a;

        if (d->n_ladder >= PLAN_MAX_LADDER)
                return;
        a = &d->ladder[d->n_ladder++];
        memset(a, 0, sizeof(*a));
        a->kind = kind;
        snprintf(a->method, sizeof(a->method), "%s", method);
        snprintf(a->reason, sizeof(a->reason), "%s", reason);
}

/* The reset ladder for one function, decided from facts: every rung that can work, in policy order. */
/* Appends "a, b" style: the collateral functions a slot-wide rung also hits. A list too long for
 * buf ends in ", ..." so that the reason says there are more (never a cut address). */
static void note_collateral(char *buf, size_t size, const struct pci_addr *a)
{
        static const char more[] = ", ...";
        size_t len = strlen(buf), n_more = sizeof(more) - 1;
        char b[PCI_ADDR_STRLEN];

        if (strstr(buf, pci_addr_format(a, b)) || (len >= n_more && streq(buf + len - n_more, more)))
                return;
        if (len + 2 + strlen(b) + n_more < size)
                snprintf(buf + len, size - len, "%s%s", len ? ", " : "", b);
        else if (len > 0 && len + n_more < size)
                memcpy(buf + len, more, sizeof(more));
}

/* Whether a rung that reaches everything below dev's parent (a slot reset, a power cycle) may: every
 * function there is the VM's or its collateral (plan_may_cover), and the listing is complete. No:
 * why_not says "RUNG: ..." for the ladder's why. Yes: the collateral functions are noted. */
static bool below_parent_all_ours(struct foreign_check *fc, const struct plan *p, const struct pcidev *dev,
                                  const char *rung, const char *bridge_word, char *collateral, size_t coll_size,
                                  char *why_not, size_t why_size)
{
        char parent[PCI_ADDR_STRLEN];

        pci_addr_format(&dev->parent, parent);
        if (!dev->below_parent_complete) {
                snprintf(why_not, why_size, "%s: cannot list every function below %s %s (more than %d, or unreadable): "
                         "they count as not this VM's; ", rung, bridge_word, parent, PCIDEV_MAX_RELATED);
                return false;
        }
        for (size_t j = 0; j < dev->n_below_parent; j++) {
                char whynot[320], b[PCI_ADDR_STRLEN];
                bool coll;

                if (!plan_may_cover(fc, p, &dev->below_parent[j], &coll, whynot, sizeof(whynot))) {
                        snprintf(why_not, why_size, "%s: %s below %s %s %s; ", rung,
                                 pci_addr_format(&dev->below_parent[j], b), bridge_word, parent, whynot);
                        return false;
                }
                if (coll)
                        note_collateral(collateral, coll_size, &dev->below_parent[j]);
        }
        return true;
}

static void build_ladder(const struct plan_input *in, struct plan *p, struct plan_device *d, struct foreign_check *fc,
                         char *why, size_t why_size)
{
        const struct pcidev *dev = &d->dev;
        const struct policy_settings *s = &d->policy;
        char parent[PCI_ADDR_STRLEN];
        size_t w = 0;

        const char *rungs[POLICY_MAX_METHODS];
        size_t n_rungs = 0;
        bool noted_no_reset = false, noted_vf = false;

        /* An explicit --method bypasses the policy's order: the administrator asked for that rung. */
        if (in->forced_method)
                rungs[n_rungs++] = streq(in->forced_method, "reset_subordinate") || streq(in->forced_method, "bridge")
                                           ? "slot" : in->forced_method;
        else
                for (size_t i = 0; i < s->n_methods && i < POLICY_MAX_METHODS; i++)
                        rungs[n_rungs++] = s->methods[i];
        why[0] = '\0';
        /* Appends; once full, the text ends in "..." and w stays inside why (it is indexed below). */
#define WHY(...)                                                                                       \
        do {                                                                                           \
                if (w < why_size) {                                                                    \
                        snprintf_ellipsis(why + w, why_size - w, __VA_ARGS__);                         \
                        w += strlen(why + w);                                                          \
                }                                                                                      \
        } while (0)
        for (size_t i = 0; i < n_rungs; i++) {
                const char *m = rungs[i];

                /* A VF shares its reset domain with its PF: a slot or bus reset, a remove or a power
                 * cycle hits the PF, and a PF reset takes every VF down (a rescan never brings a VF
                 * back: only the PF's sriov_numvfs creates VFs). The kernel even lists "bus" for a
                 * VF in a hotplug slot (pci_dev_reset_slot_function). Its own FLR is the one reset
                 * that stays inside it. */
                if (dev->physfn[0] && !streq(m, "flr")) {
                        if (!noted_vf)
                                WHY("a virtual function of %s gets only its own FLR (every other rung reaches the PF "
                                    "and every sibling VF); ", dev->physfn);
                        noted_vf = true;
                        continue;
                }
                if (is_kernel_method(m)) {
                        if (!dev->has_reset) {
                                if (!noted_no_reset)
                                        WHY("the kernel offers no reset method for this function; ");
                                noted_no_reset = true;
                                continue;
                        }
                        if (dev->has_reset_method && !pcidev_has_method(dev, m)) {
                                if (in->forced_method)
                                        WHY("%s: not in this function's reset_method list; ", m);
                                continue;
                        }
                        if (!dev->has_reset_method && !streq(m, "flr")) /* pre-5.15: one opaque reset */
                                continue;
                        if (streq(m, "bus") && !dev->alone_on_bus) {
                                WHY("bus: listed, but other functions share the bus (the kernel refuses with ENOTTY); ");
                                continue;
                        }
                        if (streq(m, "pm") && dev->pm_no_soft_reset) {
                                WHY("pm: No_Soft_Reset is set, a D3hot cycle keeps the state; ");
                                continue;
                        }
                        ladder_add(d, ACTION_RESET, dev->has_reset_method ? m : "default",
                                   dev->has_reset_method ? "" : "kernel without reset_method: its default order");
                } else if (streq(m, "slot")) {
                        const char *how;

                        if (!dev->has_parent) {
                                WHY("slot: on a root bus, no bridge to reset through; ");
                                continue;
                        }
                        pci_addr_format(&dev->parent, parent);
                        if (no_bus_reset_quirk(dev)) {
                                WHY("slot: the kernel marks %04x:%04x as not surviving a bus reset; ", dev->vendor,
                                    dev->device);
                                continue;
                        }
                        char collateral[192] = "", why_not[512];

                        if (!below_parent_all_ours(fc, p, dev, "slot", "bridge", collateral, sizeof(collateral),
                                                   why_not, sizeof(why_not))) {
                                WHY("%s", why_not);
                                continue;
                        }
                        if (s->bus_reset == POLICY_BUS_RESET_BRIDGE || (in->forced_method && streq(in->forced_method, "bridge")))
                                how = "bridge";
                        else if (dev->parent_has_reset_subordinate)
                                how = "reset_subordinate";
                        else if (s->bus_reset == POLICY_BUS_RESET_SUBORDINATE) {
                                WHY("slot: policy wants reset_subordinate, which this kernel lacks; ");
                                continue;
                        } else
                                how = "bridge";
                        if (in->forced_method && streq(in->forced_method, "reset_subordinate") && !streq(how, "reset_subordinate"))
                                continue;
                        ladder_add(d, ACTION_BUS_RESET, how, "");
                        if (collateral[0])
                                snprintf_ellipsis(d->ladder[d->n_ladder - 1].reason, sizeof(d->ladder[0].reason),
                                                  "also resets %s: same IOMMU group, which Proxmox binds to vfio-pci "
                                                  "with the VM", collateral);
                } else if (streq(m, "remove-rescan")) {
                        struct pci_addr funcs[8];
                        char collateral[192] = "";
                        size_t n = 0;
                        bool foreign = false;

                        /* Removing the slot removes every function in it. */
                        if (slot_functions(in, dev, funcs, ELEMENTSOF(funcs), &n) < 0) {
                                WHY("remove-rescan: cannot list the slot's functions; ");
                                continue;
                        }
                        for (size_t j = 0; j < n && !foreign; j++) {
                                char whynot[320], b[PCI_ADDR_STRLEN];
                                bool coll;

                                if (!plan_may_cover(fc, p, &funcs[j], &coll, whynot, sizeof(whynot))) {
                                        WHY("remove-rescan: %s shares the slot and %s; ", pci_addr_format(&funcs[j], b),
                                            whynot);
                                        foreign = true;
                                } else if (coll)
                                        note_collateral(collateral, sizeof(collateral), &funcs[j]);
                        }
                        if (foreign)
                                continue;
                        ladder_add(d, ACTION_REMOVE_RESCAN, "", "");
                        if (collateral[0])
                                snprintf_ellipsis(d->ladder[d->n_ladder - 1].reason, sizeof(d->ladder[0].reason),
                                                  "also removes %s: same IOMMU group, which Proxmox binds to vfio-pci "
                                                  "with the VM", collateral);
                } else if (streq(m, "power-cycle")) {
                        char collateral[192] = "", why_not[512];

                        if (!dev->slot_power) {
                                if (in->forced_method)
                                        WHY("power-cycle: its slot has no power control (no hotplug slot with a "
                                            "power attribute); ");
                                continue;
                        }
                        if (!dev->has_parent)
                                continue;
                        /* pciehp powers the whole link: everything below the slot's port goes off. */
                        if (!below_parent_all_ours(fc, p, dev, "power-cycle", "port", collateral, sizeof(collateral),
                                                   why_not, sizeof(why_not))) {
                                WHY("%s", why_not);
                                continue;
                        }
                        ladder_add(d, ACTION_POWER_CYCLE, "", "");
                        snprintf_ellipsis(d->ladder[d->n_ladder - 1].reason, sizeof(d->ladder[0].reason),
                                          "slot %s powered off and on%s%s", dev->slot_name,
                                          collateral[0] ? "; also powers " : "", collateral);
                }
        }
#undef WHY
        if (w > 2 && why[w - 2] == ';')
                why[w - 2] = '\0';
}

/* The mapping=NAME of the config's hostpciN line named label, or "". */
static const char *hostpci_mapping_name(const struct plan_input *in, const char *label)
{
        unsigned idx;
        char tail;

        if (!in->conf || sscanf(label, "hostpci%u%c", &idx, &tail) != 1 || idx >= VMCONF_MAX_HOSTPCI)
                return "";
        return in->conf->hostpci[idx].present && in->conf->hostpci[idx].mapping ? in->conf->hostpci[idx].mapping : "";
}

/* Whether a rung takes the function off the bus and back (a new struct pci_dev, maybe a new IOMMU
 * group number: seen on Debian's 6.1 and 6.12 kernels) rather than resetting it in place. */
static bool rung_removes(const struct plan_action *a)
{
        return a->kind == ACTION_REMOVE_RESCAN || a->kind == ACTION_POWER_CYCLE ||
               (a->kind == ACTION_BUS_RESET && streq(a->method, "bridge"));
}

/* A function from a mapping: pve-guest-common Mapping/PCI.pm assert_valid compares the map's
 * iommugroup with the group at start, so the rungs that keep the device (kernel method,
 * reset_subordinate) go first and the removing ones last, each in policy order. */
static void keeping_rungs_first(struct plan_device *d)
{
        struct plan_action sorted[PLAN_MAX_LADDER];
        size_t k = 0;

        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < d->n_ladder; i++)
                        if (rung_removes(&d->ladder[i]) == (pass == 1)) {
                                sorted[k] = d->ladder[i];
                                if (pass == 1 && !sorted[k].reason[0])
                                        snprintf_ellipsis(sorted[k].reason, sizeof(sorted[k].reason),
                                                          "last: may renumber the IOMMU group mapping %s records",
                                                          d->mapping);
                                k++;
                        }
        memcpy(d->ladder, sorted, k * sizeof(sorted[0]));
}

static bool skip_for_safety(struct plan *p, struct plan_device *d, struct foreign_check *fc)
{
        const struct pcidev *dev = &d->dev;
        struct foreign_holder h;
        char whose[160];

        if (!foreign_check_device(fc, &dev->addr, dev->iommu_group, &h))
                return false;
        foreign_holder_describe(&h, whose, sizeof(whose));
        add_action(d, ACTION_SKIP, NULL, "%s: not ours to touch", whose)->for_safety = true;
        if (h.vmid)
                add_problem(p, SEVERITY_ERROR, &dev->addr, "in use by VM %lu; it cannot be given to VM %lu", h.vmid,
                            fc->vmid);
        else
                add_problem(p, SEVERITY_ERROR, &dev->addr, "IOMMU group %d is open in pid %ld", dev->iommu_group, h.pid);
        return true;
}

/* The kernel's link/..._aspm attributes are the truth where they exist (5.5+); else Link Control. */
static bool aspm_enabled(const struct pgr_ctx *ctx, const struct pcidev *dev)
{
        for (size_t i = 0; i < dev->n_link_aspm; i++) {
                char attr[48], val[8];

                snprintf(attr, sizeof(attr), "link/%s", dev->link_aspm[i]);
                if (sysfs_dev_read(ctx, &dev->addr, attr, val, sizeof(val)) == 0 && streq(val, "1"))
                        return true;
        }
        return dev->n_link_aspm == 0 && dev->aspm_ctl > 0;
}

static void plan_one(const struct plan_input *in, struct plan *p, struct plan_device *d, struct foreign_check *fc)
{
        const struct pcidev *dev = &d->dev;
        const struct policy_settings *s = &d->policy;
        bool prepare = in->phase == PHASE_PRE_START || in->phase == PHASE_POST_STOP;
        char why[768], parent[PCI_ADDR_STRLEN];

        if (!dev->present) {
                if (in->phase == PHASE_PRE_START)
                        add_problem(p, SEVERITY_ERROR, &dev->addr,
                                    "not present; pre-start rescans its bridge once, else the start fails");
                else if (in->phase != PHASE_POST_START && in->phase != PHASE_PRE_STOP)
                        add_problem(p, SEVERITY_WARNING, &dev->addr, "not present");
                return;
        }
        if (!dev->config_readable)
                add_problem(p, SEVERITY_WARNING, &dev->addr,
                            "config space reads all 0xff: the card is asleep in D3cold or fell off the bus");
        if (dev->header_type == 1) {
                add_action(d, ACTION_SKIP, NULL, "a PCI bridge: never reset or rebound");
                return;
        }
        if (in->phase == PHASE_POST_START || in->phase == PHASE_PRE_STOP)
                return;
        if (skip_for_safety(p, d, fc))
                return;
        /* A PF whose VFs are enabled: vfio-pci refuses to bind it (vfio_pci_core_register_device:
         * "Cannot bind to PF with SR-IOV enabled"), unbinding its driver leaves the VFs
         * (pci_iov_remove: "driver left SR-IOV enabled after remove"; e2e sriov.sh: the nvme PF ended
         * with no driver), and a reset of it resets every VF, other VMs' included. Proxmox decides
         * the start; the reset command refuses. */
        if (dev->sriov_numvfs > 0) {
                add_action(d, ACTION_SKIP, NULL, "an SR-IOV physical function with %u VFs enabled: vfio-pci refuses "
                           "it and its reset resets every VF", dev->sriov_numvfs)->for_safety = true;
                add_problem(p, in->phase == PHASE_MANUAL ? SEVERITY_ERROR : SEVERITY_WARNING, &dev->addr,
                            "an SR-IOV physical function with %u VFs enabled: not bound, reset or pinned (pass a "
                            "VF instead, or echo 0 > sriov_numvfs first)", dev->sriov_numvfs);
                return;
        }
        if (in->phase == PHASE_MANUAL && dev->driver[0] && !streq(dev->driver, "vfio-pci")) {
                add_action(d, ACTION_SKIP, NULL, "bound to host driver %s; resetting would pull the card from under it",
                           dev->driver)->for_safety = true;
                add_problem(p, SEVERITY_ERROR, &dev->addr, "bound to %s, not vfio-pci", dev->driver);
                return;
        }
        /* The reset command leaves a function it resets on vfio-pci, like the hook does. */
        if ((prepare || (in->phase == PHASE_MANUAL && !dev->driver[0])) && !streq(dev->driver, "vfio-pci"))
                add_action(d, ACTION_BIND_VFIO, NULL, dev->driver[0] ? "on host driver %s" : "%s", dev->driver[0] ? dev->driver : "no driver");
        /* Binding changes power settings too (vfio-pci turns runtime PM on): keep-awake follows a bind. */
        if (prepare && s->keep_awake &&
            (dev->d3cold_allowed > 0 || (dev->power_control[0] && !streq(dev->power_control, "on")) ||
             (d->n_actions && d->actions[d->n_actions - 1].kind == ACTION_BIND_VFIO)))
                add_action(d, ACTION_KEEP_AWAKE, NULL, NULL);
        /* A VF's link/ attributes are its PF's link (pcie_aspm_get_link: the upstream bridge's). */
        if (prepare && s->aspm_off && !dev->physfn[0] && aspm_enabled(in->ctx, dev))
                add_action(d, ACTION_ASPM_OFF, NULL, NULL);

        switch (in->phase) {
        case PHASE_PRE_START:
                d->needs_reset = s->reset_on_pre_start && !state_is_clean(in->ctx, &dev->addr, -1);
                if (s->reset_on_pre_start && !d->needs_reset)
                        add_problem(p, SEVERITY_INFO, &dev->addr, "left clean by the last post-stop: no reset needed");
                break;
        case PHASE_POST_STOP:
                d->needs_reset = s->reset_on_post_stop;
                break;
        case PHASE_MANUAL:
                d->needs_reset = true;
                break;
        default:
                break;
        }
        d->release = in->phase == PHASE_POST_STOP && s->release_after_stop && d->use == HOSTPCI_USE_VFIO;
        if (!d->needs_reset)
                return;
        build_ladder(in, p, d, fc, why, sizeof(why));
        if (d->mapping)
                keeping_rungs_first(d);
        if (d->n_ladder == 0) {
                add_action(d, ACTION_SKIP, NULL, "no usable reset: %s", why[0] ? why : "policy allows none")->for_safety = true;
                add_problem(p, SEVERITY_ERROR, &dev->addr, "cannot be reset: %s", why[0] ? why : "policy allows no method");
                return;
        }
        if (d->n_actions < PLAN_MAX_ACTIONS) {
                struct plan_action *a = &d->actions[d->n_actions++];

                *a = d->ladder[0];
                if (a->kind == ACTION_BUS_RESET) {
                        char full[sizeof(a->reason) + sizeof(why) + 64];

                        snprintf(full, sizeof(full), "through bridge %s%s%s%s%s", pci_addr_format(&dev->parent, parent),
                                 a->reason[0] ? "; " : "", a->reason, why[0] ? "; " : "", why);
                        snprintf_ellipsis(a->reason, sizeof(a->reason), "%s", full);
                }
                else if (!a->reason[0])
                        snprintf_ellipsis(a->reason, sizeof(a->reason), "%s", why);
        }
}

const char *plan_pin_name(const char *pin)
{
        return pin[0] ? pin : "none";
}

/* qemu-server before 8.2.6 (Proxmox VE 8.2 and older) dies when its write to reset fails ("can't
 * reset PCI device"; since commit 458b487b "pci: don't hard require resetting devices for passthrough"
 * it warns). The die is in PVE/QemuServer/PCI.pm prepare_pci_device since commit acd4b777 (2021), in
 * PVE/QemuServer.pm vm_start before. With such a qemu-server a pin to none would abort every start of
 * the VM. Read from the installed modules; none installed (not a Proxmox host, a fixture tree): newer
 * behaviour. */
static _noinline_ bool proxmox_dies_on_failed_reset(const struct pgr_ctx *ctx, struct plan *p)
{
        static const char *const modules[] = { "/usr/share/perl5/PVE/QemuServer/PCI.pm",
                                               "/usr/share/perl5/PVE/QemuServer.pm" };

        if (p->qemu_server_dies_on_reset_failure < 0) {
                p->qemu_server_dies_on_reset_failure = 0;
                for (size_t i = 0; i < ELEMENTSOF(modules); i++) {
                        _cleanup_free_ char *text = NULL;
                        char path[PATH_MAX];
                        size_t len;

                        if (pgr_path(ctx, path, sizeof(path), modules[i]) < 0 ||
                            read_full_file(path, 1 << 20, &text, &len) < 0)
                                continue;
                        p->qemu_server_dies_on_reset_failure = strstr(text, "can't reset PCI device") != NULL;
                        /* where prepare_pci_device lives, the write to reset is: QemuServer.pm (300 KB,
                         * the hook's hot path) need not be read */
                        if (p->qemu_server_dies_on_reset_failure || strstr(text, "sub prepare_pci_device"))
                                break;
                }
        }
        return p->qemu_server_dies_on_reset_failure > 0;
}

/* A pin of ours (there is a kernel-reset_method record) on a function that is no longer the VM's. */
static void plan_unpin(const struct plan_input *in, struct plan_device *d, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void plan_unpin(const struct plan_input *in, struct plan_device *d, const char *fmt, ...)
{
        va_list ap;

        if (state_kernel_methods_load(in->ctx, &d->dev.addr, d->unpin_list, sizeof(d->unpin_list)) < 0)
                return;
        d->unpin = true;
        va_start(ap, fmt);
        vsnprintf_ellipsis(d->unpin_reason, sizeof(d->unpin_reason), fmt, ap);
        va_end(ap);
}

/* The pin follows the rung the ladder puts first: its kernel method, or none when the first rung
 * that can work is slot-wide. The ladder is the one built for the reset, or (no reset needed this
 * time: left clean) built the same way for the pin alone. */
static _noinline_ void decide_pin(const struct plan_input *in, struct plan *p, struct plan_device *d,
                                  struct foreign_check *fc)
{
        struct plan_action first = { .kind = ACTION_SKIP }; /* the ladder's first rung; SKIP: none */
        char order[256] = "", why[768];
        bool skipped = false, for_safety = false;
        size_t w = 0;

        if (in->phase != PHASE_PRE_START && in->phase != PHASE_POST_STOP)
                return;
        if (!d->dev.present || d->dev.header_type == 1 || !d->dev.has_reset_method)
                return;
        for (size_t i = 0; i < d->n_actions; i++) {
                skipped |= d->actions[i].kind == ACTION_SKIP;
                for_safety |= d->actions[i].kind == ACTION_SKIP && d->actions[i].for_safety;
        }
        /* keep, mdev, someone else's: never pinned. A function with no usable reset is the VM's: pinned
         * to none, so nothing resets it behind the ladder's back either. One the config now gives with
         * keep/mdev loses a pin of ours; someone else's (reserved, open) is not ours to change. */
        if (skipped && !(d->needs_reset && d->n_ladder == 0)) {
                if (!for_safety && plan_use_skip_reason(d->use))
                        plan_unpin(in, d, "the config gives it with %s now: no longer the VM's to pin",
                                   d->use == HOSTPCI_USE_KEEP ? "driver=keep" : "a mediated device (mdev)");
                return;
        }
        if (d->release && !d->policy.release_keeps_pin) {
                plan_unpin(in, d, "released to the host driver after the stop (release_after_stop) with the "
                           "kernel's list (release_keeps_pin false)");
                return;
        }
        /* post-stop replays what the VM used; a function its config no longer gives (hot-unplugged,
         * VM deleted) is reset as the VM's one last time and then is nobody's. */
        if (in->phase == PHASE_POST_STOP && streq(d->hostpci, "recorded")) {
                plan_unpin(in, d, "VM %lu's config no longer gives it: reset after its run, then no longer pinned",
                           in->vmid);
                return;
        }
        if (!d->needs_reset) {
                /* The ladder a reset would climb, built for the pin and then dropped again: this phase
                 * resets nothing (in place, with the device's own ladder kept aside: a copy of the whole
                 * device was 8 KiB, three pages touched, in every no-op run). */
                struct plan_action kept[PLAN_MAX_LADDER];
                size_t n_kept = d->n_ladder;

                memcpy(kept, d->ladder, n_kept * sizeof(kept[0]));
                d->n_ladder = 0;
                build_ladder(in, p, d, fc, why, sizeof(why));
                if (d->n_ladder)
                        first = d->ladder[0];
                memcpy(d->ladder, kept, n_kept * sizeof(kept[0]));
                d->n_ladder = n_kept;
        } else if (d->n_ladder)
                first = d->ladder[0];
        for (size_t i = 0; i < d->policy.n_methods && w < sizeof(order); i++)
                w += (size_t)snprintf(order + w, sizeof(order) - w, "%s%s", i ? ", " : "", d->policy.methods[i]);
        d->pin_set = true;
        if (first.kind == ACTION_RESET) {
                snprintf(d->pin, sizeof(d->pin), "%s", first.method);
                snprintf_ellipsis(d->pin_reason, sizeof(d->pin_reason),
                                  "%s: the first method of the policy's order (%s) this function offers; every other "
                                  "reset of it (Proxmox's write to reset, vfio-pci's, QEMU's on a guest reboot) uses "
                                  "it too", d->pin, order);
                return;
        }
        d->pin[0] = '\0';
        snprintf(d->pin_rung, sizeof(d->pin_rung), "%s",
                 first.kind == ACTION_SKIP ? "no usable reset"
                 : first.kind == ACTION_BUS_RESET ? "slot reset"
                 : first.kind == ACTION_POWER_CYCLE ? "power cycle" : "remove+rescan");
        if (proxmox_dies_on_failed_reset(in->ctx, p)) {
                d->pin_set = false;
                add_problem(p, SEVERITY_WARNING, &d->dev.addr,
                            "reset_method not pinned to none (%s): this qemu-server (before 8.2.6) aborts the VM start "
                            "when its write to reset fails; Proxmox's reset uses the kernel's order (%s first) until "
                            "you upgrade to Proxmox VE 8.3 or later", d->pin_rung,
                            d->dev.n_reset_methods ? d->dev.reset_methods[0] : "none");
                return;
        }
        snprintf_ellipsis(d->pin_reason, sizeof(d->pin_reason),
                          "none: the policy's order (%s) makes the %s the safe reset; per-function resets are "
                          "disabled, so Proxmox's write to reset fails (a warning), vfio-pci reports no reset and QEMU "
                          "resets the bus", order, d->pin_rung);
}

int plan_probe_function(const struct pgr_ctx *ctx, struct pcidev_access *acc, const struct pci_addr *addr,
                        const struct pcidev *sibling, struct pcidev *ret)
{
        char list[256];
        int r;

        r = pcidev_probe_near(acc, addr, sibling, ret);
        if (r < 0 || !ret->present || !ret->has_reset_method)
                return r;
        /* The attribute may hold our pin ("pm", or nothing at all) or a value narrowed around a reset:
         * the list the kernel offered, recorded before the first pin, is the function's list. A record
         * of an older run that narrowed it (without the kernel's list) holds the list it went back to. */
        if (state_kernel_methods_load(ctx, addr, list, sizeof(list)) == 0 ||
            state_setting_load(ctx, addr, "reset_method", list, sizeof(list)) == 0)
                pcidev_set_reset_methods(ret, list);
        return 0;
}

int plan_build(const struct plan_input *in, struct plan **ret, struct pgr_error *err)
{
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct reservations res = {};
        struct foreign_check fc;
        struct collect *c = NULL;
        int r;

        p = calloc(1, sizeof(*p));
        c = calloc(1, sizeof(*c));
        if (!p || !c) {
                free(c);
                return -ENOMEM;
        }
        p->qemu_server_dies_on_reset_failure = -1;
        p->vmid = in->vmid;
        p->phase = in->phase;
        snprintf(p->node, sizeof(p->node), "%s", in->ctx->node);

        r = reservations_load(in->ctx, &res);
        fc = (struct foreign_check){ .ctx = in->ctx, .res = &res, .res_error = r < 0 ? r : 0, .vmid = in->vmid,
                                     .now = in->now };
        if (r < 0)
                add_problem(p, SEVERITY_WARNING, NULL, "cannot read /run/qemu-server/pci-id-reservations: %s",
                            strerror(-r));

        if (in->override) {
                r = 0;
                for (size_t i = 0; i < in->n_override && r >= 0; i++) {
                        enum hostpci_use recorded = in->override_use ? in->override_use[i] : HOSTPCI_USE_UNKNOWN;
                        size_t first = c->n;

                        r = collect_id(in, p, c, &in->override[i], "", recorded);
                        for (size_t k = first; k < c->n && r >= 0; k++)
                                refine_override(in, p, &c->items[k], recorded);
                }
        } else if (in->conf)
                r = collect_from_config(in, p, c, &res, err);
        else
                r = 0;
        if (r < 0)
                goto out;

        /* none for a VM without hostpci (the most common hook run: 8 KiB zeroed for nothing) */
        p->devices = c->n ? calloc(c->n, sizeof(*p->devices)) : NULL;
        if (c->n && !p->devices) {
                r = -ENOMEM;
                goto out;
        }
        /* Facts for all first: whether a bridge may be reset depends on every function of the VM. */
        for (size_t i = 0; i < c->n; i++) {
                struct plan_device *d = &p->devices[p->n_devices++];

                snprintf(d->hostpci, sizeof(d->hostpci), "%s", c->items[i].hostpci);
                d->whole_slot = c->items[i].whole_slot;
                if (*hostpci_mapping_name(in, d->hostpci) &&
                    !(d->mapping = strdup(hostpci_mapping_name(in, d->hostpci)))) {
                        r = -ENOMEM;
                        goto out;
                }
                /* the functions of a slot come one after another: the one before shares its slot facts */
                r = plan_probe_function(in->ctx, in->acc, &c->items[i].addr, i > 0 ? &p->devices[i - 1].dev : NULL,
                                        &d->dev);
                if (r < 0) {
                        char b[PCI_ADDR_STRLEN];

                        pgr_error_set(err, "%s: cannot read device facts: %s", pci_addr_format(&c->items[i].addr, b),
                                      strerror(-r));
                        goto out;
                }
                policy_resolve(in->policy, in->vmid, d->dev.vendor, d->dev.device, &d->policy);
                d->use = c->items[i].use;
                if (c->items[i].skip_reason)
                        add_action(d, ACTION_SKIP, NULL, "%s", c->items[i].skip_reason);
                /* qemu-server PCI.pm: for mdev=nvidia-N, choose_hostpci_devices sets the VF's vGPU type
                 * (Mdev.pm create_nvidia_device) and prepare_pci_device neither binds nor resets it. */
                else if (d->dev.nvidia_vgpu)
                        add_action(d, ACTION_SKIP, NULL, "an NVIDIA vGPU function (nvidia/current_vgpu_type): "
                                   "Proxmox gives it its vGPU type with mdev=nvidia-N and neither binds nor resets it");
        }
        for (size_t i = 0; i < p->n_devices; i++) {
                if (p->devices[i].n_actions == 0)
                        plan_one(in, p, &p->devices[i], &fc);
                /* also for a function the config skips: it may hold a pin of ours to remove */
                decide_pin(in, p, &p->devices[i], &fc);
        }
        *ret = p;
        p = NULL;
        r = 0;
out:
        free(c);
        reservations_done(&res);
        return r;
}

void plan_free(struct plan *p)
{
        if (!p)
                return;
        for (size_t i = 0; p->devices && i < p->n_devices; i++)
                free(p->devices[i].mapping);
        free(p->devices);
        free(p->problems);
        free(p);
}

bool plan_has_errors(const struct plan *p)
{
        for (size_t i = 0; i < p->n_problems; i++)
                if (p->problems[i].severity == SEVERITY_ERROR)
                        return true;
        return false;
}

size_t plan_recorded_devices(const struct plan *p, struct state_device *ret, size_t max)
{
        size_t n = 0;

        for (size_t i = 0; i < p->n_devices && n < max; i++)
                ret[n++] = (struct state_device){ .addr = p->devices[i].dev.addr,
                                                  .use = p->devices[i].use ? p->devices[i].use : HOSTPCI_USE_VFIO };
        return n;
}

bool plan_device_was_reset(const struct plan_device *d)
{
        bool reset = false;

        if (!d->applied || d->apply_result < 0 || !d->needs_reset)
                return false;
        for (size_t i = 0; i < d->n_actions; i++) {
                if (d->actions[i].kind == ACTION_SKIP)
                        return false;
                reset |= plan_action_is_reset(d->actions[i].kind);
        }
        return reset;
}

static const char *severity_str(enum plan_severity s)
{
        return s == SEVERITY_ERROR ? "error" : s == SEVERITY_WARNING ? "warning" : "info";
}

static struct json_object *action_json(const struct plan_action *a)
{
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "action", json_object_new_string(action_to_string(a->kind)));
        if (a->method[0])
                json_object_object_add(o, "method", json_object_new_string(a->method));
        if (a->reason[0])
                json_object_object_add(o, "reason", json_object_new_string(a->reason));
        return o;
}

int plan_to_json(const struct plan *p, struct json_object **ret)
{
        struct json_object *root = json_object_new_object(), *devs = json_object_new_array(),
                           *probs = json_object_new_array();

        if (!root || !devs || !probs) {
                json_object_put(root);
                json_object_put(devs);
                json_object_put(probs);
                return -ENOMEM;
        }
        json_object_object_add(root, "vmid", json_object_new_int64((int64_t)p->vmid));
        json_object_object_add(root, "phase", json_object_new_string(phase_to_string(p->phase)));
        json_object_object_add(root, "node", json_object_new_string(p->node));
        for (size_t i = 0; i < p->n_devices; i++) {
                const struct plan_device *d = &p->devices[i];
                struct json_object *o = json_object_new_object(), *acts = json_object_new_array(),
                                   *methods = json_object_new_array(), *fallback = json_object_new_array();
                char id[16], cls[8];

                json_object_object_add(o, "hostpci", json_object_new_string(d->hostpci));
                json_object_object_add(o, "slot", json_object_new_string(d->dev.bdf));
                json_object_object_add(o, "present", json_object_new_boolean(d->dev.present));
                if (d->dev.present) {
                        snprintf(id, sizeof(id), "%04x:%04x", d->dev.vendor, d->dev.device);
                        pcidev_class_str(&d->dev, cls);
                        json_object_object_add(o, "id", json_object_new_string(id));
                        json_object_object_add(o, "class", json_object_new_string(cls));
                        if (d->dev.name[0])
                                json_object_object_add(o, "name", json_object_new_string(d->dev.name));
                        json_object_object_add(o, "driver", d->dev.driver[0] ? json_object_new_string(d->dev.driver) : NULL);
                        json_object_object_add(o, "iommu_group",
                                               d->dev.iommu_group >= 0 ? json_object_new_int(d->dev.iommu_group) : NULL);
                        for (size_t j = 0; j < d->dev.n_reset_methods; j++)
                                json_object_array_add(methods, json_object_new_string(d->dev.reset_methods[j]));
                }
                json_object_object_add(o, "reset_methods", methods);
                for (size_t j = 0; j < d->n_actions; j++)
                        json_object_array_add(acts, action_json(&d->actions[j]));
                json_object_object_add(o, "actions", acts);
                for (size_t j = 1; j < d->n_ladder; j++)
                        json_object_array_add(fallback, action_json(&d->ladder[j]));
                json_object_object_add(o, "fallback", fallback);
                if (d->pin_set) {
                        struct json_object *pin = json_object_new_object();

                        json_object_object_add(pin, "method", json_object_new_string(plan_pin_name(d->pin)));
                        json_object_object_add(pin, "reason", json_object_new_string(d->pin_reason));
                        json_object_object_add(o, "pin", pin);
                } else
                        json_object_object_add(o, "pin", NULL);
                if (d->unpin) {
                        struct json_object *unpin = json_object_new_object();

                        json_object_object_add(unpin, "methods", json_object_new_string(d->unpin_list));
                        json_object_object_add(unpin, "reason", json_object_new_string(d->unpin_reason));
                        json_object_object_add(o, "unpin", unpin);
                } else
                        json_object_object_add(o, "unpin", NULL);
                json_object_object_add(o, "release", json_object_new_boolean(d->release));
                json_object_array_add(devs, o);
        }
        json_object_object_add(root, "devices", devs);
        for (size_t i = 0; i < p->n_problems; i++) {
                const struct plan_problem *pr = &p->problems[i];
                struct json_object *o = json_object_new_object();

                json_object_object_add(o, "severity", json_object_new_string(severity_str(pr->severity)));
                json_object_object_add(o, "slot", pr->slot[0] ? json_object_new_string(pr->slot) : NULL);
                json_object_object_add(o, "message", json_object_new_string(pr->message));
                json_object_array_add(probs, o);
        }
        json_object_object_add(root, "problems", probs);
        *ret = root;
        return 0;
}

void plan_print(const struct plan *p, bool verbose, FILE *out)
{
        if (p->phase == PHASE_MANUAL)
                fprintf(out, "reset command, node %s\n", p->node);
        else
                fprintf(out, "VM %lu, phase %s, node %s\n", p->vmid, phase_to_string(p->phase), p->node);
        if (p->n_devices == 0)
                fprintf(out, "  no PCI devices passed through: nothing to do\n");
        else
                fprintf(out, "  %-9s %-13s %-9s %-5s %-13s %-14s %s\n", "HOSTPCI", "SLOT", "ID", "CLASS", "DRIVER",
                        "RESET METHODS", "ACTIONS");
        for (size_t i = 0; i < p->n_devices; i++) {
                const struct plan_device *d = &p->devices[i];
                char id[16] = "-", cls[8] = "-", methods[64] = "", acts[512] = "";
                size_t w = 0;

                if (d->dev.present) {
                        snprintf(id, sizeof(id), "%04x:%04x", d->dev.vendor, d->dev.device);
                        pcidev_class_str(&d->dev, cls);
                }
                for (size_t j = 0; j < d->dev.n_reset_methods; j++)
                        snprintf(methods + strlen(methods), sizeof(methods) - strlen(methods), "%s%s", j ? "," : "",
                                 d->dev.reset_methods[j]);
                for (size_t j = 0; j < d->n_actions && w < sizeof(acts); j++) {
                        const struct plan_action *a = &d->actions[j];

                        w += (size_t)snprintf(acts + w, sizeof(acts) - w, "%s%s%s%s", j ? ", " : "",
                                              action_to_string(a->kind), a->method[0] ? " " : "", a->method);
                }
                if (!d->dev.present)
                        snprintf(acts, sizeof(acts), "(not present)");
                else if (d->n_actions == 0)
                        snprintf(acts, sizeof(acts), "none");
                fprintf(out, "  %-9s %-13s %-9s %-5s %-13s %-14s %s\n", d->hostpci, d->dev.bdf, id, cls,
                        d->dev.driver[0] ? d->dev.driver : "-", methods[0] ? methods : "-", acts);
                for (size_t j = 0; j < d->n_actions; j++)
                        if (d->actions[j].kind == ACTION_SKIP)
                                fprintf(out, "  %-9s   skipped: %s\n", "", d->actions[j].reason);
                        else if (verbose && d->actions[j].reason[0])
                                fprintf(out, "  %-9s   %s: %s\n", "", action_to_string(d->actions[j].kind),
                                        d->actions[j].reason);
                if (d->n_ladder > 1) {
                        fprintf(out, "  %-9s   if that fails:", "");
                        for (size_t j = 1; j < d->n_ladder; j++)
                                fprintf(out, "%s %s%s%s", j > 1 ? "," : "", action_to_string(d->ladder[j].kind),
                                        d->ladder[j].method[0] ? " " : "", d->ladder[j].method);
                        fputc('\n', out);
                }
                if (d->unpin) {
                        fprintf(out, "  %-9s   unpin: reset_method back to the kernel's list (%s)\n", "",
                                d->unpin_list[0] ? d->unpin_list : "default");
                        if (verbose)
                                fprintf(out, "  %-9s     %s\n", "", d->unpin_reason);
                }
                if (d->pin_set) {
                        fprintf(out, "  %-9s   pin: %s", "", plan_pin_name(d->pin));
                        if (!d->pin[0])
                                fprintf(out, " (%s)", d->pin_rung);
                        fputc('\n', out);
                        if (verbose)
                                fprintf(out, "  %-9s     %s\n", "", d->pin_reason);
                }
                if (d->release)
                        fprintf(out, "  %-9s   then: release to the host driver (release_after_stop)\n", "");
        }
        for (size_t i = 0; i < p->n_problems; i++)
                fprintf(out, "  %s: %s%s%s\n", severity_str(p->problems[i].severity), p->problems[i].slot,
                        p->problems[i].slot[0] ? ": " : "", p->problems[i].message);
}
