/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"

#define RESERVATIONS_MAX_SIZE (1024 * 1024)

/* Proxmox's /run/qemu-server/pci-id-reservations: "DDDD:BB:SS.F VMID time:EPOCH" (reserved until
 * EPOCH, while a VM starts) or "DDDD:BB:SS.F VMID pid:PID" (held by a running QEMU). */
struct reservation {
        struct pci_addr addr;
        unsigned long vmid;
        long long expires;   /* time: form, else -1 */
        long pid;            /* pid: form, else -1 */
};

struct reservations {
        size_t n;
        struct reservation *items;
};

/* Tolerant of junk lines (Proxmox is the writer; a bad line is skipped and counted), strict on bounds. */
int reservations_parse(const char *text, size_t len, struct reservations *ret, size_t *ret_bad_lines);
/* Reads the file under the root prefix, under Proxmox's flock on "...reservations.lock" (shared,
 * waiting up to RESERVATIONS_LOCK_TIMEOUT_MS). Missing file: empty set. When the lock cannot be
 * had (timeout, no lock file) the file is read anyway: Proxmox replaces it by rename
 * (file_set_contents), so an unlocked read still sees one whole version. */
#define RESERVATIONS_LOCK_TIMEOUT_MS 5000
int reservations_load(const struct pgr_ctx *ctx, struct reservations *ret);
/* The same, with the lock wait chosen by the caller, and what happened: ret_bad_lines (lines skipped),
 * ret_locked (false: read without Proxmox's lock). Either may be NULL. */
int reservations_load_full(const struct pgr_ctx *ctx, unsigned lock_timeout_ms, struct reservations *ret,
                           size_t *ret_bad_lines, bool *ret_locked);
void reservations_done(struct reservations *r);

/* The VM (other than vmid) that holds a live reservation for addr, or 0. A pid entry is live while
 * <root>/proc/PID exists; a time entry until its epoch (now given by the caller), inclusive.
 * Stricter than Proxmox (which also checks that PID is that VM's QEMU): in doubt, in use.
 * addr or an entry without function (func < 0) matches every function of the slot. */
unsigned long reservations_holder(const struct pgr_ctx *ctx, const struct reservations *r,
                                  const struct pci_addr *addr, unsigned long vmid, long long now);

/* Pid of a process (not ourselves) that holds /dev/vfio/<group> open, found by scanning
 * <root>/proc/ * /fd for links to "/dev/vfio/<group>" (the target as the kernel shows it, not
 * root-prefixed); the lowest such pid, 0 if none or no <root>/proc; negative errno on error.
 * Processes that vanish or cannot be read are skipped. */
long vfio_group_holder(const struct pgr_ctx *ctx, int group);

/* Pids (not ourselves) with an fd linking to a path that starts with prefix (e.g. "/dev/nvidia"), in
 * <root>/proc directory order; -ENOBUFS when more than max (ret holds max). Unreadable processes are
 * skipped; no <root>/proc: none. */
int proc_fd_holders(const struct pgr_ctx *ctx, const char *prefix, long *ret, size_t max, size_t *ret_n);
/* <root>/proc/PID/comm, newline stripped. */
int proc_comm(const struct pgr_ctx *ctx, long pid, char *buf, size_t size);
/* A process (not ourselves) whose comm is comm: its pid, 0 if none, or a negative errno. */
long proc_find_comm(const struct pgr_ctx *ctx, const char *comm);
