/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"

/* flock(2) locks under <root>/run/pve-gpu-reset/ (PGR_RUNTIME_DIR): one per slot
 * ("slot-0000:01:00.lock") so two hooks never work on one card at once, and one for bus-wide
 * operations ("bus.lock": remove/rescan, bus resets, drivers_autoprobe). The lock file holds
 * "pid=N vmid=M what=..." of the holder, so a timeout can name who has it. Locks die with the
 * process (SIGKILL leaves none held). */
/* Only the fd: a run holds up to a plan's worth of these (apply_slot_locks), zeroed on the stack of
 * every hook run; a path kept here made that 257 KiB, 60 page faults of memset per set. */
struct pgr_lock {
        int fd;
};
#define PGR_LOCK_INIT { .fd = -1 }

/* Waits up to timeout_ms; -ETIMEDOUT with err naming the holder ("lock PATH held by pid N (vmid=M
 * what=W) for S s; waited T ms"). vmid 0: manual command. what is stored as one word (blanks → '_').
 * The directory must be ours and not group/world-writable (-EPERM, see pgr_runtime_dir_open)
 * and the lock file is never a symlink (-ELOOP). Other errors fill err too. */
int lock_slot(const struct pgr_ctx *ctx, const struct pci_addr *slot, unsigned long vmid, const char *what,
              unsigned timeout_ms, struct pgr_lock *ret, struct pgr_error *err);
/* The what= word of the slot lock's holder line, read without taking the lock: who works on the slot
 * now. -ENODATA: no holder written (free, or taken a moment ago), -ENOENT: no lock file. */
int lock_slot_holder(const struct pgr_ctx *ctx, const struct pci_addr *slot, char *ret_what, size_t size);
int lock_bus(const struct pgr_ctx *ctx, unsigned long vmid, const char *what, unsigned timeout_ms,
             struct pgr_lock *ret, struct pgr_error *err);
/* "autoprobe.lock", held for the whole drivers_autoprobe=0 window (inside the bus lock). Recovery
 * tries it with timeout 0: held means the run that wrote the guard is alive; free means it died
 * (a pid can be reused by another process, a flock cannot outlive its holder). */
int lock_autoprobe(const struct pgr_ctx *ctx, unsigned long vmid, const char *what, unsigned timeout_ms,
                   struct pgr_lock *ret, struct pgr_error *err);
/* "attach.lock": attach and detach hold it around their whole read-modify-write of the policy file
 * and the VM config (qm set included), so parallel runs never lose each other's chained hookscript. */
int lock_attach(const struct pgr_ctx *ctx, unsigned long vmid, const char *what, unsigned timeout_ms,
                struct pgr_lock *ret, struct pgr_error *err);
/* "claims.lock": claim, unclaim (and attach/detach through them) hold it around their read-modify-write
 * of a claim record under /etc/pve-gpu-reset.d/claims, so parallel runs never lose each other's owner. */
int lock_claims(const struct pgr_ctx *ctx, unsigned long vmid, const char *what, unsigned timeout_ms,
                struct pgr_lock *ret, struct pgr_error *err);
/* Clears the holder line and closes (which drops the flock). Safe on PGR_LOCK_INIT and twice. */
void lock_release(struct pgr_lock *l);
static inline void lock_releasep(struct pgr_lock *l) { lock_release(l); }

/* flock(fd, op | LOCK_NB) retried with a backoff (1 ms, doubling, capped at 50 ms) until timeout_ms
 * have passed (0: one try). op is LOCK_SH or LOCK_EX. 0, -ETIMEDOUT, or another negative errno.
 * Also used for Proxmox's reservation lock. */
int lock_flock_timeout(int fd, int op, unsigned timeout_ms);
