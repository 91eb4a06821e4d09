/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "base/bdf.h"
#include "base/context.h"
#include "base/util.h"

/* `pve-gpu-reset history`: the journal entries journal.c wrote (SYSLOG_IDENTIFIER=pve-gpu-reset),
 * newest first, as a table or as JSON lines. The same entries as `journalctl -t pve-gpu-reset VMID=N`. */

/* Where the journal is read: $PVE_GPU_RESET_JOURNAL_DIR (a directory of *.journal files, e.g. a
 * copied /var/log/journal/<machine-id> or the journal test suite's /run/log/journal), else the local
 * system journal. Like the writer (journal.h, JOURNAL_SOCKET) this is NOT under the root prefix: the
 * journal belongs to the running host, and entries written while --root pointed at a fixture tree
 * went to that host journal too. */
#define HISTORY_DIR_ENV "PVE_GPU_RESET_JOURNAL_DIR"

struct history_filter {
        unsigned long vmid;     /* 0: every VM (and manual resets) */
        bool has_slot;
        struct pci_addr slot;   /* func < 0: every function of the slot */
        long long since_usec;   /* CLOCK_REALTIME microseconds; 0: no limit */
};

/* Fills slot and since_usec from the --device and --since arguments (NULL: no filter); leaves vmid
 * alone. Bad input: -EINVAL and a message naming the argument (the caller exits 2). */
int history_filter_init(struct history_filter *f, const char *device, const char *since, struct pgr_error *err);

/* --since, as journalctl understands it as far as reasonable, in local time unless it ends in " UTC":
 *   "2026-11-24 10:00:00", "2026-11-24 10:00", "2026-11-24", "2026-11-24T10:00:00", "10:00[:00]" (today),
 *   "now", "today", "yesterday", "tomorrow", "@1795530319" (seconds since the epoch),
 *   "-1h", "-30min", "-2d", "-90s", "-1w", "-1h 30min", "2 days ago", "+5min".
 * now_usec is the reference for relative forms and "today". */
int history_parse_since(const char *s, long long now_usec, long long *ret_usec, struct pgr_error *err);

/* One entry as journal.c wrote it: each field verbatim ("" when absent), truncated to its buffer. */
struct history_entry {
        long long realtime;     /* CLOCK_REALTIME microseconds */
        char vmid[24], phase[32], slot[32], pci_id[32], action[32], method[40], result[16];
        char duration[24], driver_before[64], driver_after[64], err[16], priority[8], message_id[40];
        char *message;          /* owned by the reader: valid during the callback only */
};

/* Called for each matching entry, newest first; a negative return stops the reading and is returned
 * (the callback fills err). */
typedef int (*history_entry_fn)(struct history_entry *e, void *userdata, struct pgr_error *err);

/* The reader behind history_query: same journal choice ($PVE_GPU_RESET_JOURNAL_DIR), same filter, same
 * errors; each entry goes to fn. */
int history_read(const struct pgr_ctx *ctx, const struct history_filter *f, history_entry_fn fn, void *userdata,
                 struct pgr_error *err);
int history_read_dir(const char *journal_dir, const struct history_filter *f, history_entry_fn fn, void *userdata,
                     struct pgr_error *err);

/* Prints the matching entries, newest first. ctx is accepted for symmetry; see HISTORY_DIR_ENV.
 * -EINVAL (with err) for a bad $PVE_GPU_RESET_JOURNAL_DIR, other -errno when the journal cannot be read. */
int history_query(const struct pgr_ctx *ctx, const struct history_filter *f, bool json, FILE *out,
                  struct pgr_error *err);
/* Same on one directory of journal files (NULL: the local system journal). */
int history_query_dir(const char *journal_dir, const struct history_filter *f, bool json, FILE *out,
                      struct pgr_error *err);
