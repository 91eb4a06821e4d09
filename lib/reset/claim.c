/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Claim records under /etc/pve-gpu-reset.d/claims/ and the udev rule's entry point (see claim.h). */
#include "reset/claim.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "kernel/pcidev.h"
#include "kernel/sysfs.h"
#include "log/journal.h"
#include "log/msgid.h"
#include "pve/mapping.h"
#include "pve/reservations.h"
#include "pve/vmconf.h"
#include "reset/apply.h"
#include "reset/plan.h"

/* Long enough for a person's claim/unclaim racing attach; short enough that a stuck holder is named. */
#define CLAIM_LOCK_TIMEOUT_MS 10000

const char *claim_path(const struct pci_addr *a, char buf[static sizeof(CLAIM_DIR) + PCI_ADDR_STRLEN + 1])
{
        char bdf[PCI_ADDR_STRLEN];

        snprintf(buf, sizeof(CLAIM_DIR) + PCI_ADDR_STRLEN + 1, CLAIM_DIR "/%s", pci_addr_format(a, bdf));
        return buf;
}

static bool owner_parse(const char *w, unsigned long *ret)
{
        if (streq(w, "manual")) {
                *ret = CLAIM_OWNER_MANUAL;
                return true;
        }
        return vmid_parse(w, ret) >= 0;
}

bool claim_has_owner(const struct claim *c, unsigned long owner)
{
        for (size_t i = 0; i < c->n_owners; i++)
                if (c->owners[i] == owner)
                        return true;
        return false;
}

/* A pin is a kernel reset method name: what reset_method_store accepts, nothing a shell or a udev
 * line could misread. */
static bool pin_valid(const char *s)
{
        if (!*s || strlen(s) >= sizeof(((struct claim *)NULL)->pin))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
                        return false;
        return true;
}

/* "10de:2b85": four hex digits, a colon, four hex digits. */
static bool id_parse(char *val, unsigned *ret_vendor, unsigned *ret_device)
{
        unsigned long v, d;
        char *colon = strchr(val, ':');

        if (!colon || colon - val != 4 || strlen(colon + 1) != 4)
                return false;
        *colon = '\0';
        if (parse_uint(val, 16, 0xffff, &v) < 0 || parse_uint(colon + 1, 16, 0xffff, &d) < 0)
                return false;
        *ret_vendor = (unsigned)v;
        *ret_device = (unsigned)d;
        return true;
}

/* A sysfs path below /sys/devices as the kernel names PCI devices: "pciDDDD:BB/DDDD:BB:SS.F/...", lower
 * case hex, nothing a udev log line or a path walk could misread. */
static bool path_valid(const char *s)
{
        if (strncmp(s, "pci", 3) != 0 || strlen(s) >= CLAIM_PATH_MAX || strstr(s, "..") || strstr(s, "//") ||
            s[strlen(s) - 1] == '/')
                return false;
        for (const char *p = s + 3; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == ':' || *p == '.' || *p == '/'))
                        return false;
        return true;
}

int claim_parse(const char *text, size_t len, const struct pci_addr *a, const char *file, struct claim *ret,
                struct pgr_error *err)
{
        _cleanup_free_ char *copy = NULL;
        bool have_format = false, have_id = false, have_pin = false, have_by = false, have_subsys = false,
             have_path = false, have_serial = false;
        unsigned format = 0;
        struct claim c = { .addr = *a };
        unsigned line = 0;
        char *save = NULL;
        int r;

        r = text_check(text, len, CLAIM_MAX_SIZE, file, "a claim record is a few short lines", err);
        if (r < 0)
                return r;
        copy = strndup(text, len);
        if (!copy)
                return -ENOMEM;
        for (char *p = copy, *next; p; p = next) {
                char *l, *eq, *key, *val;

                next = strchr(p, '\n');
                if (next)
                        *next++ = '\0';
                line++;
                l = strstrip(p);
                if (!*l || *l == '#')
                        continue;
                eq = strchr(l, '=');
                if (!eq)
                        goto bad;
                *eq = '\0';
                key = l;
                val = eq + 1;
                if (streq(key, "format") && !have_format) {
                        if (!streq(val, "1") && !streq(val, "2"))
                                goto bad;
                        format = val[0] == '2' ? 2 : 1;
                        have_format = true;
                } else if (streq(key, "id") && !have_id) {
                        if (!id_parse(val, &c.vendor, &c.device))
                                goto bad;
                        have_id = true;
                } else if (streq(key, "subsys") && !have_subsys) {
                        if (!id_parse(val, &c.sub_vendor, &c.sub_device))
                                goto bad;
                        have_subsys = true;
                } else if (streq(key, "path") && !have_path) {
                        if (!path_valid(val))
                                goto bad;
                        snprintf(c.path, sizeof(c.path), "%s", val);
                        have_path = true;
                } else if (streq(key, "serial") && !have_serial) {
                        unsigned long v;

                        if (strlen(val) != 16 || parse_uint(val, 16, ULONG_MAX, &v) < 0)
                                goto bad;
                        c.serial = (uint64_t)v;
                        c.has_serial = true;
                        have_serial = true;
                } else if (streq(key, "pin") && !have_pin) {
                        if (streq(val, "-"))
                                c.pin_set = false;
                        else if (streq(val, "none")) {
                                c.pin_set = true;
                                c.pin[0] = '\0';
                        } else if (pin_valid(val)) {
                                c.pin_set = true;
                                snprintf(c.pin, sizeof(c.pin), "%s", val);
                        } else
                                goto bad;
                        have_pin = true;
                } else if (streq(key, "by") && !have_by) {
                        for (char *w = strtok_r(val, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                                unsigned long o;

                                if (!owner_parse(w, &o) || c.n_owners >= CLAIM_MAX_OWNERS)
                                        goto bad;
                                if (!claim_has_owner(&c, o))
                                        c.owners[c.n_owners++] = o;
                        }
                        have_by = true;
                } else
                        goto bad;
        }
        if (!have_format || !have_id || !have_pin || !have_by || c.n_owners == 0) {
                pgr_error_set(err, "%s: incomplete claim record: needs format=, id=, pin= and by= lines", file);
                return -EINVAL;
        }
        /* format 2 names the card; format 1 (older versions) has nothing but its vendor:device */
        if (format == 2 ? !have_subsys || !have_path : have_subsys || have_path || have_serial) {
                pgr_error_set(err, "%s: a format=2 claim record has subsys= and path= lines (serial= when the card "
                              "has one), a format=1 record none of them", file);
                return -EINVAL;
        }
        c.identified = format == 2;
        *ret = c;
        return 0;
bad:
        pgr_error_set(err, "%s:%u: not a claim record line (format=1|2, id=VVVV:DDDD, subsys=VVVV:DDDD, "
                      "path=pciDDDD:BB/..., serial=16 hex digits, pin=METHOD|none|-, by=VMID|manual ...; each once)",
                      file, line);
        return -EINVAL;
}

int claim_load(const struct pgr_ctx *ctx, const struct pci_addr *a, struct claim *ret, struct pgr_error *err)
{
        char shown[sizeof(CLAIM_DIR) + PCI_ADDR_STRLEN + 1], path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        claim_path(a, shown);
        r = pgr_path(ctx, path, sizeof(path), shown);
        if (r < 0)
                return r;
        /* The record makes udev (root) take the function from its host driver at every boot: trusted
         * like the policy and the attach state (root's, not group/world-writable, a regular file). */
        r = read_trusted_file(path, CLAIM_MAX_SIZE + 1, &text, &len, err);
        if (r < 0)
                return r;
        return claim_parse(text, len, a, shown, ret, err);
}

int claim_list(const struct pgr_ctx *ctx, struct claim **ret, size_t *ret_n, size_t *ret_bad)
{
        _cleanup_free_ struct claim *claims = NULL;
        struct pci_addr addrs[CLAIM_MAX];
        char dir[PATH_MAX];
        size_t n = 0, bad = 0, k = 0;
        int r, listed;

        *ret = NULL;
        *ret_n = 0;
        if (ret_bad)
                *ret_bad = 0;
        r = pgr_path(ctx, dir, sizeof(dir), CLAIM_DIR);
        if (r < 0)
                return r;
        listed = pci_addr_list_dir(dir, "", addrs, ELEMENTSOF(addrs), &n);
        if (listed == -ENOENT)
                return 0;
        if (listed < 0 && listed != -ENOBUFS)
                return listed;
        /* Sized by what is there: every hook run reconciles the claims, and most hosts have none. */
        if (n > 0 && !(claims = calloc(n, sizeof(*claims))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct pgr_error err;

                if (claim_load(ctx, &addrs[i], &claims[k], &err) < 0) {
                        bad++;
                        continue;
                }
                k++;
        }
        if (k) {
                *ret = claims;
                claims = NULL;
        }
        *ret_n = k;
        if (ret_bad)
                *ret_bad = bad;
        return listed == -ENOBUFS ? -ENOBUFS : 0;
}

int claim_identify(const struct pgr_ctx *ctx, const struct pcidev *dev, struct claim *c)
{
        int r;

        r = pcidev_sysfs_path(ctx, &dev->addr, c->path, sizeof(c->path));
        if (r < 0)
                return r;
        if (!path_valid(c->path))
                return -EXDEV;
        c->vendor = dev->vendor;
        c->device = dev->device;
        c->sub_vendor = dev->sub_vendor;
        c->sub_device = dev->sub_device;
        c->has_serial = dev->has_dsn;
        c->serial = dev->dsn;
        c->identified = true;
        return 0;
}

/* As lspci -vv shows it: "00-11-22-33-44-55-66-77", high byte first. */
static const char *serial_format(uint64_t v, char buf[static 24])
{
        snprintf(buf, 24, "%02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x", (unsigned)(v >> 56) & 0xff,
                 (unsigned)(v >> 48) & 0xff, (unsigned)(v >> 40) & 0xff, (unsigned)(v >> 32) & 0xff,
                 (unsigned)(v >> 24) & 0xff, (unsigned)(v >> 16) & 0xff, (unsigned)(v >> 8) & 0xff, (unsigned)v & 0xff);
        return buf;
}

const char *claim_mismatch(const struct pgr_ctx *ctx, const struct claim *c, const struct pcidev *dev, char *buf,
                           size_t size)
{
        char path[CLAIM_PATH_MAX] = "", a[24], b[24]; /* pcidev_sysfs_path leaves it as it is on error */

        if (c->vendor != dev->vendor || c->device != dev->device) {
                snprintf(buf, size, "claimed as %04x:%04x, but the device there is %04x:%04x", c->vendor, c->device,
                         dev->vendor, dev->device);
                return buf;
        }
        if (!c->identified)
                return NULL;
        if (c->sub_vendor != dev->sub_vendor || c->sub_device != dev->sub_device) {
                snprintf(buf, size, "claimed as %04x:%04x subsystem %04x:%04x, but the card there is subsystem "
                         "%04x:%04x (another maker's board of the same model)", c->vendor, c->device, c->sub_vendor,
                         c->sub_device, dev->sub_vendor, dev->sub_device);
                return buf;
        }
        if (pcidev_sysfs_path(ctx, &dev->addr, path, sizeof(path)) < 0 || !streq(path, c->path)) {
                snprintf(buf, size, "claimed where it hung at /sys/devices/%s, but the card there hangs at "
                         "/sys/devices/%s (another port: the buses were numbered anew)", c->path, path[0] ? path : "?");
                return buf;
        }
        /* Without the extended config space (read as non-root) the serial is not known: not compared. */
        if (dev->ext_config_read && (c->has_serial != dev->has_dsn || (c->has_serial && c->serial != dev->dsn))) {
                snprintf(buf, size, "claimed with serial number %s, but the card there has %s%s",
                         c->has_serial ? serial_format(c->serial, a) : "none",
                         dev->has_dsn ? "serial number " : "none", dev->has_dsn ? serial_format(dev->dsn, b) : "");
                return buf;
        }
        return NULL;
}

void claim_owners_format(const struct claim *c, char *buf, size_t size)
{
        size_t w = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < c->n_owners && w < size; i++) {
                if (c->owners[i] == CLAIM_OWNER_MANUAL)
                        w += (size_t)snprintf(buf + w, size - w, "%smanual", i ? " " : "");
                else
                        w += (size_t)snprintf(buf + w, size - w, "%s%lu", i ? " " : "", c->owners[i]);
        }
}

const char *claim_pin_name(const struct claim *c)
{
        return !c->pin_set ? "-" : c->pin[0] ? c->pin : "none";
}

static int claim_save(const struct pgr_ctx *ctx, const struct claim *c)
{
        char shown[sizeof(CLAIM_DIR) + PCI_ADDR_STRLEN + 1], path[PATH_MAX], dir[PATH_MAX], owners[256], text[1024];
        char serial[32] = "", identity[CLAIM_PATH_MAX + 64] = "";
        int n, r;

        r = pgr_path(ctx, dir, sizeof(dir), CLAIM_DIR);
        if (r < 0)
                return r;
        /* Read by udev (root) only, but like /etc/modprobe.d nothing in it is secret. */
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;
        r = pgr_path(ctx, path, sizeof(path), claim_path(&c->addr, shown));
        if (r < 0)
                return r;
        claim_owners_format(c, owners, sizeof(owners));
        if (c->has_serial)
                snprintf(serial, sizeof(serial), "serial=%016" PRIx64 "\n", c->serial);
        /* A record read from an older version (format 1) is kept as it is: its card's identity is not
         * known here (a claim of the card records it). */
        if (c->identified)
                snprintf(identity, sizeof(identity), "subsys=%04x:%04x\npath=%s\n%s", c->sub_vendor, c->sub_device,
                         c->path, serial);
        n = snprintf(text, sizeof(text),
                     "# pve-gpu-reset claim: at device add, udev (70-pve-gpu-reset.rules) gives this function to vfio-pci.\n"
                     "# Written by 'pve-gpu-reset claim/attach'; remove with 'pve-gpu-reset unclaim'.\n"
                     "format=%d\nid=%04x:%04x\n%spin=%s\nby=%s\n",
                     c->identified ? 2 : 1, c->vendor, c->device, identity, claim_pin_name(c), owners);
        if (n < 0 || (size_t)n >= sizeof(text))
                return -ENAMETOOLONG;
        return write_file_atomic(path, text, (size_t)n, 0644);
}

static int claim_remove(const struct pgr_ctx *ctx, const struct pci_addr *a)
{
        char shown[sizeof(CLAIM_DIR) + PCI_ADDR_STRLEN + 1], path[PATH_MAX];
        int r;

        r = pgr_path(ctx, path, sizeof(path), claim_path(a, shown));
        if (r < 0)
                return r;
        return unlink(path) < 0 ? -errno : 0;
}

int claim_add(const struct pgr_ctx *ctx, const struct claim *c, unsigned long owner, bool *ret_created,
              struct pgr_error *err)
{
        _cleanup_(lock_releasep) struct pgr_lock lock = PGR_LOCK_INIT;
        char shown[sizeof(CLAIM_DIR) + PCI_ADDR_STRLEN + 1];
        struct claim cur = {}, next = *c;
        int r;

        r = lock_claims(ctx, owner, "claim", CLAIM_LOCK_TIMEOUT_MS, &lock, err);
        if (r < 0)
                return r;
        r = claim_load(ctx, &c->addr, &cur, err);
        if (r < 0 && r != -ENOENT && r != -EINVAL)
                return r;
        /* A malformed record is replaced: its owners cannot be known, the new claim is the truth. */
        *ret_created = r < 0;
        next.n_owners = 0;
        if (r >= 0)
                for (size_t i = 0; i < cur.n_owners; i++)
                        next.owners[next.n_owners++] = cur.owners[i];
        if (!claim_has_owner(&next, owner)) {
                if (next.n_owners >= CLAIM_MAX_OWNERS) {
                        pgr_error_set(err, "%s: already claimed by %d owners", claim_path(&c->addr, shown),
                                      CLAIM_MAX_OWNERS);
                        return -E2BIG;
                }
                next.owners[next.n_owners++] = owner;
        }
        r = claim_save(ctx, &next);
        if (r < 0)
                pgr_error_set(err, "%s: cannot write: %s", claim_path(&c->addr, shown), strerror(-r));
        return r;
}

int claim_drop(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned long owner, bool all, size_t *ret_left,
               struct pgr_error *err)
{
        _cleanup_(lock_releasep) struct pgr_lock lock = PGR_LOCK_INIT;
        char shown[sizeof(CLAIM_DIR) + PCI_ADDR_STRLEN + 1];
        struct claim cur;
        size_t k = 0;
        int r;

        *ret_left = 0;
        r = lock_claims(ctx, owner, "unclaim", CLAIM_LOCK_TIMEOUT_MS, &lock, err);
        if (r < 0)
                return r;
        r = claim_load(ctx, a, &cur, err);
        /* unclaim BDF of a malformed or untrusted record: removing it is what the user asked for. */
        if ((r == -EINVAL || r == -EPERM) && all)
                cur.n_owners = 0;
        else if (r < 0)
                return r;
        else if (!all && !claim_has_owner(&cur, owner))
                return -ENOENT;
        for (size_t i = 0; i < cur.n_owners && !all; i++)
                if (cur.owners[i] != owner)
                        cur.owners[k++] = cur.owners[i];
        cur.n_owners = all ? 0 : k;
        r = cur.n_owners ? claim_save(ctx, &cur) : claim_remove(ctx, a);
        if (r < 0) {
                pgr_error_set(err, "%s: cannot %s: %s", claim_path(a, shown), cur.n_owners ? "write" : "remove",
                              strerror(-r));
                return r;
        }
        *ret_left = cur.n_owners;
        return 0;
}

int claim_reconcile(const struct pgr_ctx *ctx, struct journal *j, const struct vmconf *conf,
                    const struct mapping_file *maps, const char *phase)
{
        _cleanup_free_ struct claim *claims = NULL;
        unsigned long vmid = conf->vmid;
        size_t n = 0;
        int r, dropped = 0;

        for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++)
                if (conf->hostpci[i].present && conf->hostpci[i].mapping && (!maps || maps->error[0]))
                        return 0;
        r = claim_list(ctx, &claims, &n, NULL);
        if (r < 0 && r != -ENOBUFS)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct claim *c = &claims[i];
                enum hostpci_use use;
                struct pgr_error err = {};
                char bdf[PCI_ADDR_STRLEN], id[16], rest[256] = "", msg[1024];
                size_t left = 0, k = 0;

                if (!claim_has_owner(c, vmid))
                        continue;
                use = plan_config_use(ctx, conf, maps, &c->addr);
                if (use == HOSTPCI_USE_VFIO)
                        continue;
                pci_addr_format(&c->addr, bdf);
                snprintf(id, sizeof(id), "%04x:%04x", c->vendor, c->device);
                r = claim_drop(ctx, &c->addr, vmid, false, &left, &err);
                for (size_t o = 0; o < c->n_owners; o++)
                        if (c->owners[o] != vmid)
                                c->owners[k++] = c->owners[o];
                c->n_owners = k;
                claim_owners_format(c, rest, sizeof(rest));
                snprintf(msg, sizeof(msg), "%s: VM %lu %s: its claim by VM %lu %s%.300s%s%.200s", bdf, vmid,
                         use == HOSTPCI_USE_UNKNOWN ? "no longer gives it"
                         : use == HOSTPCI_USE_KEEP ? "gives it with driver=keep now"
                                                   : "gives it as a mediated device (mdev) now",
                         vmid, r < 0 ? "could not be dropped: " : "dropped", r < 0 ? (err.msg[0] ? err.msg : strerror(-r)) : "",
                         r >= 0 && left ? " (still claimed by " : r >= 0 ? " (at boot it stays with its host driver)" : "",
                         r >= 0 && left ? rest : "");
                if (r >= 0 && left)
                        strncat(msg, ")", sizeof(msg) - strlen(msg) - 1);
                journal_log(j, &(struct journal_event){
                        .message_id = PGR_MSGID_CLAIM_DROPPED,
                        .priority = r < 0 ? LOG_WARNING : LOG_NOTICE,
                        .vmid = vmid,
                        .phase = phase,
                        .slot = bdf,
                        .pci_id = id,
                        .action = "unclaim",
                        .result = r < 0 ? "failed" : "ok",
                        .duration_usec = -1,
                        .errno_value = r < 0 ? -r : 0,
                        .message = msg,
                });
                if (r >= 0)
                        dropped++;
        }
        return dropped;
}

static void claim_journal(struct journal *j, const char *bdf, const char *id, int priority, const char *result,
                          const char *before, const char *after, int error, const char *method, const char *msg)
{
        journal_log(j, &(struct journal_event){
                .message_id = PGR_MSGID_CLAIM_APPLIED,
                .priority = priority,
                .phase = "udev",
                .slot = bdf,
                .pci_id = id,
                .action = "claim",
                .method = method,
                .result = result,
                .duration_usec = -1,
                .driver_before = before ? (before[0] ? before : "none") : NULL,
                .driver_after = after ? (after[0] ? after : "none") : NULL,
                .errno_value = error < 0 ? -error : error,
                .message = msg,
        });
}

/* What the hook's plan refuses, checked again at the device add (plan.c plan_one, skip_for_safety): an
 * SR-IOV PF with VFs enabled (vfio-pci refuses it, and unbinding its driver leaves the VFs, maybe other
 * VMs', without their PF), an NVIDIA vGPU function (Proxmox's, through mdev=), a function reserved by a
 * VM in /run/qemu-server/pci-id-reservations or whose /dev/vfio group is open (a VM runs with it: a
 * rescan's add event while it runs must not rewrite it). true with msg set: leave it alone. */
static bool udev_not_ours_now(const struct pgr_ctx *ctx, struct pcidev_access *acc, const struct pci_addr *a,
                              char *msg, size_t size)
{
        _cleanup_(reservations_done) struct reservations reserved = {};
        struct foreign_check fc = { .ctx = ctx, .res = &reserved, .now = (long long)time(NULL) };
        struct foreign_holder h;
        struct pcidev dev;
        char bdf[PCI_ADDR_STRLEN], whose[160];
        int r;

        pci_addr_format(a, bdf);
        r = plan_probe_function(ctx, acc, a, NULL, &dev);
        if (r < 0) {
                snprintf(msg, size, "%s: its facts cannot be read (%s): left alone", bdf, strerror(-r));
                return true;
        }
        if (dev.sriov_numvfs > 0) {
                snprintf(msg, size, "%s: an SR-IOV physical function with %u VFs enabled: vfio-pci refuses it, and "
                         "its VFs would lose their PF; left alone", bdf, dev.sriov_numvfs);
                return true;
        }
        if (dev.nvidia_vgpu) {
                snprintf(msg, size, "%s: an NVIDIA vGPU function (Proxmox manages it through mdev=): left alone", bdf);
                return true;
        }
        r = reservations_load(ctx, &reserved);
        fc.res_error = r < 0 ? r : 0;
        if (foreign_check_device(&fc, a, dev.iommu_group, &h)) {
                foreign_holder_describe(&h, whose, sizeof(whose));
                snprintf(msg, size, "%s: %s: left alone", bdf, whose);
                return true;
        }
        return false;
}

/* The card at a claimed address is not the one claimed (why), or is gone: said at warning level, on
 * stderr too, which udev logs. */
static void other_card_journal(struct journal *j, const char *bdf, const char *id, const char *why)
{
        char msg[1024];

        snprintf(msg, sizeof(msg), "%s: %s: left alone (pve-gpu-reset unclaim %s, then claim the card there if it "
                 "is meant for a VM)", bdf, why, bdf);
        claim_journal(j, bdf, id, LOG_WARNING, "skipped", NULL, NULL, 0, NULL, msg);
}

/* The holder line of the slot lock while the udev entry point holds it. */
#define CLAIM_UDEV_LOCK_WHAT "udev-claim"

/* The slot lock for the udev entry point. Held by a hook run (or the reset command, a claim command):
 * that run works on the slot - its remove+rescan makes this very add event - and binds and pins the
 * function itself, so writing now would cross its narrowed reset_method or its release: -EBUSY at once
 * (the run never waits for udev, so nothing deadlocks). Held by another udev claim (the add events of
 * a card's functions are handled in parallel, one lock per slot): waited for, up to wait_ms. A holder
 * line not written yet is read again. -ETIMEDOUT after wait_ms; other errors fill err. */
static int lock_slot_for_udev(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned wait_ms,
                              struct pgr_lock *ret, struct pgr_error *err)
{
        long long deadline = monotonic_usec() + (long long)wait_ms * 1000;
        unsigned step_ms = 1;

        for (;;) {
                char what[64];
                int r;

                r = lock_slot(ctx, a, 0, CLAIM_UDEV_LOCK_WHAT, 0, ret, err);
                if (r != -ETIMEDOUT)
                        return r;
                r = lock_slot_holder(ctx, a, what, sizeof(what));
                if (r >= 0 && !streq(what, CLAIM_UDEV_LOCK_WHAT))
                        return -EBUSY;
                if (monotonic_usec() >= deadline)
                        return -ETIMEDOUT;
                sleep_usec((long long)step_ms * 1000);
                if (step_ms < 50)
                        step_ms *= 2;
        }
}

int claim_udev(const struct pgr_ctx *ctx, struct journal *j, const struct pci_addr *a, unsigned bind_timeout_ms,
               unsigned lock_wait_ms, enum claim_udev_outcome *ret_outcome, char *ret_pin, size_t pin_size)
{
        _cleanup_(lock_releasep) struct pgr_lock lock = PGR_LOCK_INIT;
        _cleanup_(pcidev_access_freep) struct pcidev_access *acc = NULL;
        struct apply_claim_result res;
        struct pgr_error err = {};
        struct apply_ctx ac;
        char bdf[PCI_ADDR_STRLEN], id[16], msg[1024], why[640];
        struct pcidev dev;
        struct claim c;
        int r;

        *ret_outcome = CLAIM_UDEV_NOT_CLAIMED;
        if (pin_size)
                ret_pin[0] = '\0';
        pci_addr_format(a, bdf);
        r = claim_load(ctx, a, &c, &err);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                claim_journal(j, bdf, NULL, LOG_ERR, "failed", NULL, NULL, r, NULL, err.msg);
                *ret_outcome = CLAIM_UDEV_FAILED;
                return 0;
        }
        snprintf(id, sizeof(id), "%04x:%04x", c.vendor, c.device);
        r = pcidev_access_new(ctx, &acc);
        if (r < 0)
                return r;
        r = pcidev_probe(acc, a, &dev);
        if (r < 0)
                return r;
        /* Only the card that was claimed: a different one in the slot, or the same model renumbered onto
         * this address, is someone else's. Said at warning level: on stderr too, which udev logs. */
        if (!dev.present || claim_mismatch(ctx, &c, &dev, why, sizeof(why))) {
                other_card_journal(j, bdf, id, dev.present ? why : "gone");
                *ret_outcome = CLAIM_UDEV_OTHER_CARD;
                return 0;
        }
        if (pcidev_is_bridge(ctx, a)) {
                snprintf(msg, sizeof(msg), "%s: a bridge is never given to vfio-pci; claim left unused", bdf);
                claim_journal(j, bdf, id, LOG_WARNING, "skipped", NULL, NULL, 0, NULL, msg);
                *ret_outcome = CLAIM_UDEV_OTHER_CARD;
                return 0;
        }
        r = lock_slot_for_udev(ctx, a, lock_wait_ms, &lock, &err);
        /* The wait for a sibling's claim may have been long: an unclaim, a claim of another card or a
         * hook run's reconciliation in it changed the record. Only what it says under the lock counts. */
        if (r >= 0) {
                r = claim_load(ctx, a, &c, &err);
                if (r == -ENOENT)
                        return 0;
                if (r < 0) {
                        claim_journal(j, bdf, id, LOG_ERR, "failed", NULL, NULL, r, NULL, err.msg);
                        *ret_outcome = CLAIM_UDEV_FAILED;
                        return 0;
                }
                snprintf(id, sizeof(id), "%04x:%04x", c.vendor, c.device);
                if (claim_mismatch(ctx, &c, &dev, why, sizeof(why))) {
                        other_card_journal(j, bdf, id, why);
                        *ret_outcome = CLAIM_UDEV_OTHER_CARD;
                        return 0;
                }
        }
        if (r == -EBUSY) {
                snprintf(msg, sizeof(msg), "%s: a pve-gpu-reset run holds the slot; it binds and pins the function itself",
                         bdf);
                claim_journal(j, bdf, id, LOG_INFO, "skipped", NULL, NULL, 0, NULL, msg);
                *ret_outcome = CLAIM_UDEV_BUSY;
                return 0;
        }
        /* Only a sibling's udev claim (or a holder never named) is waited for: nobody binds this one. */
        if (r == -ETIMEDOUT) {
                snprintf(msg, sizeof(msg), "%s: another function's claim at device add held the slot past %u ms: left "
                         "to its host driver (the VM's pre-start takes it)", bdf, lock_wait_ms);
                claim_journal(j, bdf, id, LOG_WARNING, "skipped", NULL, NULL, 0, NULL, msg);
                *ret_outcome = CLAIM_UDEV_BUSY;
                return 0;
        }
        if (r < 0) {
                claim_journal(j, bdf, id, LOG_ERR, "failed", NULL, NULL, r, NULL, err.msg);
                *ret_outcome = CLAIM_UDEV_FAILED;
                return 0;
        }
        /* The record says nothing about now: the plan's safety rules hold at a device add too. */
        if (udev_not_ours_now(ctx, acc, a, msg, sizeof(msg))) {
                claim_journal(j, bdf, id, LOG_WARNING, "skipped", NULL, NULL, 0, NULL, msg);
                *ret_outcome = CLAIM_UDEV_OTHER_CARD;
                return 0;
        }
        ac = (struct apply_ctx){ .ctx = ctx, .acc = acc, .journal = j, .phase = PHASE_MANUAL };
        r = apply_claim(&ac, a, c.pin_set ? c.pin : NULL, true, bind_timeout_ms, &res);
        if (pin_size && c.pin_set)
                snprintf(ret_pin, pin_size, "%s", claim_pin_name(&c));
        if (c.pin_set && !res.pinned && res.override_set)
                snprintf(msg, sizeof(msg), "%s: reset_method could not be pinned to %s: %s; the kernel's list stays "
                         "(the hook pins it at the VM's pre-start)", bdf, claim_pin_name(&c), strerror(-res.pin_error));
        else
                msg[0] = '\0';
        if (msg[0])
                claim_journal(j, bdf, id, LOG_WARNING, "failed", NULL, NULL, res.pin_error, claim_pin_name(&c), msg);
        if (r < 0) {
                snprintf(msg, sizeof(msg), "%s: claimed, but not given to vfio-pci: %s", bdf, res.why);
                claim_journal(j, bdf, id, LOG_ERR, "failed", res.driver_before, res.driver_after, r,
                              c.pin_set ? claim_pin_name(&c) : NULL, msg);
                *ret_outcome = CLAIM_UDEV_FAILED;
                return 0;
        }
        snprintf(msg, sizeof(msg), "%s: claimed at device add: driver_override=vfio-pci%s%s%s, %s", bdf,
                 res.pinned ? ", reset_method pinned to " : "", res.pinned ? claim_pin_name(&c) : "",
                 res.driver_before[0] && !streq(res.driver_before, "vfio-pci") ? ", host driver unbound" : "",
                 res.vfio_missing ? "unbound until vfio-pci loads" : "on vfio-pci");
        claim_journal(j, bdf, id, LOG_INFO, "ok", res.driver_before, res.driver_after, 0,
                      c.pin_set ? claim_pin_name(&c) : NULL, msg);
        *ret_outcome = CLAIM_UDEV_DONE;
        return 0;
}
