/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"

/* Claim from boot: what driverctl does, for exactly the functions a VM (or the admin) claimed. A claim
 * record is one file per function, /etc/pve-gpu-reset.d/claims/DDDD:BB:SS.F (under the root prefix):
 *
 *   format=2
 *   id=10de:2b85            the vendor:device claimed
 *   subsys=1458:4171        its subsystem vendor:device (the board maker's)
 *   path=pci0000:00/0000:00:01.0/0000:01:00.0
 *                           where it hung: its sysfs path below /sys/devices, i.e. the ports above it
 *   serial=0011223344556677 its PCIe Device Serial Number, when it has that capability (else no line)
 *   pin=none                the reset_method written at device add: a method, "none" (empty list:
 *                           per-function resets disabled), or "-" (left to the kernel)
 *   by=100 manual           who claimed it: VMIDs (attach / claim VMID) and "manual" (claim BDF)
 *
 * Only the card claimed is taken at device add: a card swapped into the slot, or an identical model
 * renumbered onto this address after a hardware change (another port, another maker, another serial),
 * is not. A format=1 record (older versions: id, pin and by only) still matches on vendor:device;
 * doctor says to claim again.
 *
 * The packaged udev rule (70-pve-gpu-reset.rules, before 80-drivers.rules loads a driver module by
 * modalias) tests for the file named after the device ($kernel), so an unclaimed device costs no
 * fork, and calls `pve-gpu-reset claim --udev BDF` (claim_udev) for a claimed one. One file per
 * function rather than one list: the rule's TEST finds it without running anything, a write
 * replaces one function's record atomically, and a stray file names its function. */

#define CLAIM_DIR "/etc/pve-gpu-reset.d/claims"
#define CLAIM_MAX_OWNERS 16
#define CLAIM_MAX 64                    /* records listed at most (doctor, unclaim VMID) */
#define CLAIM_OWNER_MANUAL 0UL          /* `claim BDF` */
#define CLAIM_MAX_SIZE 4096
#define CLAIM_PATH_MAX 256

struct pcidev;

struct claim {
        struct pci_addr addr;
        unsigned vendor, device;
        bool identified;        /* format 2: the identity below was recorded; format 1: vendor:device only */
        unsigned sub_vendor, sub_device;
        char path[CLAIM_PATH_MAX];
        bool has_serial;
        uint64_t serial;
        bool pin_set;           /* false: reset_method is left to the kernel ("-") */
        char pin[24];           /* "" = none */
        size_t n_owners;
        unsigned long owners[CLAIM_MAX_OWNERS]; /* VMIDs, CLAIM_OWNER_MANUAL for a claim by address */
};

/* "/etc/pve-gpu-reset.d/claims/0000:01:00.0" (no root prefix: as shown to the user). */
const char *claim_path(const struct pci_addr *a, char buf[static sizeof(CLAIM_DIR) + PCI_ADDR_STRLEN + 1]);

/* Parses a record's text (file names the function). -EINVAL (err says file:line) when malformed. */
int claim_parse(const char *text, size_t len, const struct pci_addr *a, const char *file, struct claim *ret,
                struct pgr_error *err);
/* The record of one function: -ENOENT none, -EINVAL malformed, -EPERM not root's or writable by others
 * (read_trusted_file; err says why). */
int claim_load(const struct pgr_ctx *ctx, const struct pci_addr *a, struct claim *ret, struct pgr_error *err);
/* Every record, in address order, in *ret (the caller's to free; NULL with none); a malformed one is
 * skipped and counted in ret_bad (may be NULL). -ENOBUFS past CLAIM_MAX (ret holds the first CLAIM_MAX
 * listed). No directory: 0 records. */
int claim_list(const struct pgr_ctx *ctx, struct claim **ret, size_t *ret_n, size_t *ret_bad);

/* Under claims.lock: adds owner to the record of c->addr, creating it; the id and pin are c's (the
 * newest decision wins: a re-claim after a policy change updates the pin). ret_created: no record
 * existed. -E2BIG past CLAIM_MAX_OWNERS owners. */
int claim_add(const struct pgr_ctx *ctx, const struct claim *c, unsigned long owner, bool *ret_created,
              struct pgr_error *err);
/* Under claims.lock: drops owner from the record of a (all: every owner); the file goes when no owner
 * is left. ret_left: owners still claiming it (0: the record is gone). -ENOENT: a is not claimed, or
 * not by owner. */
int claim_drop(const struct pgr_ctx *ctx, const struct pci_addr *a, unsigned long owner, bool all, size_t *ret_left,
               struct pgr_error *err);

/* The identity of the card dev (probed, present) into c: vendor:device, subsystem IDs, sysfs path, serial
 * number. 0, or a negative errno when its sysfs path cannot be read. */
int claim_identify(const struct pgr_ctx *ctx, const struct pcidev *dev, struct claim *c);
/* Whether the record c names the card dev that is there now: NULL, or why not, in words (into buf; it
 * names what differs). A format 1 record matches on vendor:device alone. */
const char *claim_mismatch(const struct pgr_ctx *ctx, const struct claim *c, const struct pcidev *dev, char *buf,
                           size_t size);

struct journal;
struct mapping_file;
struct vmconf;
/* A hook run's reconciliation: every claim the VM of conf holds on a function its config (conf, maps)
 * no longer gives for vfio-pci (driver=keep, mdev, a mapping with mdev 1, or no hostpci entry at all)
 * loses that owner, the record going with its last owner; each drop is journaled (CLAIM_DROPPED, phase).
 * A config whose mapping pci.cfg could not give (maps NULL or unreadable) reconciles nothing: what the
 * mapping gives is unknown. Returns the number dropped, or a negative errno (the records could not be
 * listed; a drop that failed is journaled). */
int claim_reconcile(const struct pgr_ctx *ctx, struct journal *j, const struct vmconf *conf,
                    const struct mapping_file *maps, const char *phase);

/* "100 manual" */
void claim_owners_format(const struct claim *c, char *buf, size_t size);
bool claim_has_owner(const struct claim *c, unsigned long owner);
/* "pm", "none" or "-" (kernel's list) */
const char *claim_pin_name(const struct claim *c);

/* What the udev entry point did. */
enum claim_udev_outcome {
        CLAIM_UDEV_NOT_CLAIMED,  /* no record: nothing touched */
        CLAIM_UDEV_OTHER_CARD,   /* the record's vendor:device is not the device's now: nothing touched */
        CLAIM_UDEV_BUSY,         /* a hook run holds the slot lock (or another udev claim held it past the wait):
                                  * the run binds and pins the function itself */
        CLAIM_UDEV_DONE,         /* override set, pinned, on vfio-pci (or unbound until vfio-pci loads) */
        CLAIM_UDEV_FAILED,       /* a write or the handover failed (journaled) */
};

struct journal;
/* How long the udev entry point waits for a sibling function's udev claim to release the slot lock:
 * well under systemd-udevd's event timeout (180 s, udev.conf event_timeout), which kills the worker, and
 * longer than a claim's own bounded steps (unbind, bind: bind_timeout_ms each). */
#define CLAIM_UDEV_LOCK_WAIT_MS 30000

/* `pve-gpu-reset claim --udev BDF`, run by the udev rule at a PCI add event (boot, rescan, `udevadm
 * trigger`): for a function claimed with the vendor:device it has now, and only then, driver_override
 * =vfio-pci, reset_method = the claim's pin, and a host driver that already holds it (built in, or
 * loaded from the initramfs before udev ran) is unbound in bounded time and vfio-pci bound
 * (apply_claim). A slot a hook run holds is left to that run at once; a sibling's udev claim is waited
 * for up to lock_wait_ms. Every action is journaled (j may be NULL). Returns 0 with ret_outcome, or a
 * negative errno for a failure outside the device. */
int claim_udev(const struct pgr_ctx *ctx, struct journal *j, const struct pci_addr *a, unsigned bind_timeout_ms,
               unsigned lock_wait_ms, enum claim_udev_outcome *ret_outcome, char *ret_pin, size_t pin_size);
