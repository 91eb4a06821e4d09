/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <sys/uio.h>
#include <syslog.h>

#include "base/context.h"
#include "log/msgid.h"

/* Structured log of every step (doc/DESIGN.md §3.8): one journal entry per action and one summary per phase,
 * SYSLOG_IDENTIFIER=pve-gpu-reset, so `journalctl -t pve-gpu-reset VMID=100` is a VM's history. */

#define JOURNAL_IDENTIFIER "pve-gpu-reset"

/* The journald socket. Deliberately NOT under the root prefix: journald is a service of the running
 * host, not part of the device/config tree that --root re-roots, and libsystemd's sd_journal_sendv()
 * always talks to this exact path. A fixture root has no journald; the journal test suite runs a real
 * journald whose socket is at this path inside a private mount namespace; the e2e guest has none. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Field names (upper case, as journald requires); history.c reads back the same names. */
#define JOURNAL_FIELD_MESSAGE       "MESSAGE"
#define JOURNAL_FIELD_MESSAGE_ID    "MESSAGE_ID"
#define JOURNAL_FIELD_PRIORITY      "PRIORITY"
#define JOURNAL_FIELD_IDENTIFIER    "SYSLOG_IDENTIFIER"
#define JOURNAL_FIELD_VMID          "VMID"
#define JOURNAL_FIELD_PHASE         "PHASE"
#define JOURNAL_FIELD_SLOT          "PCI_SLOT"
#define JOURNAL_FIELD_PCI_ID        "PCI_ID"
#define JOURNAL_FIELD_ACTION        "ACTION"
#define JOURNAL_FIELD_METHOD        "RESET_METHOD"
#define JOURNAL_FIELD_RESULT        "RESULT"
#define JOURNAL_FIELD_DURATION      "DURATION_USEC"
#define JOURNAL_FIELD_DRIVER_BEFORE "DRIVER_BEFORE"
#define JOURNAL_FIELD_DRIVER_AFTER  "DRIVER_AFTER"
#define JOURNAL_FIELD_ERRNO         "ERRNO"

/* One event. NULL (or "") strings, vmid 0, duration_usec < 0 and errno_value 0 are omitted. */
struct journal_event {
        const char *message_id;    /* from msgid.h */
        int priority;              /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO */
        unsigned long vmid;        /* 0: none (manual reset command) */
        const char *phase;         /* "pre-start", ..., "reset" for the CLI; NULL omitted */
        const char *slot;          /* "0000:01:00.0"; NULL omitted */
        const char *pci_id;        /* "10de:2204" */
        const char *action;        /* "bind-vfio" "keep-awake" "aspm-off" "reset" "bus-reset" "remove-rescan" "skip" "summary" */
        const char *method;        /* "flr", "reset_subordinate", "bridge", ... */
        const char *result;        /* "ok" | "failed" | "skipped" */
        long long duration_usec;   /* -1 omitted */
        const char *driver_before, *driver_after;
        int errno_value;           /* positive errno, 0 omitted */
        const char *message;       /* the human sentence: device, what happened, what to do */
};

/* Where entries go. $PVE_GPU_RESET_JOURNAL selects the mode (default auto). */
enum journal_mode {
        JOURNAL_MODE_AUTO,    /* journald when its socket exists, errors and warnings also on stderr
                               * (the Proxmox task log shows them); no socket: everything on stderr */
        JOURNAL_MODE_JOURNAL, /* "journal": journald only; stderr only if journald cannot be reached */
        JOURNAL_MODE_STDERR,  /* "stderr": everything on stderr, journald untouched */
        JOURNAL_MODE_BOTH,    /* "both": every entry to journald and to stderr */
};

/* "auto" | "journal" | "stderr" | "both"; -EINVAL otherwise. */
int journal_mode_from_string(const char *s, enum journal_mode *ret);

struct journal;

/* Opens the sink chosen by $PVE_GPU_RESET_JOURNAL (unset/empty: auto). Checks the real JOURNAL_SOCKET
 * (see above: not root-prefixed; ctx is accepted for symmetry with the other modules). -EINVAL for an
 * unknown mode (*ret untouched); callers may then pass NULL to journal_log(), which writes to stderr. */
int journal_open(const struct pgr_ctx *ctx, struct journal **ret);
/* Same with an explicit mode and stream for the short lines (NULL: stderr). For tests and tools. */
int journal_open_mode(enum journal_mode mode, FILE *stream, struct journal **ret);

/* Writes one event. j may be NULL (no sink could be opened): the short line goes to stderr. Nothing is
 * dropped silently: if journald refuses the entry, a note and the short line go to the stream.
 * Returns 0, -EINVAL for a malformed event (bad MESSAGE_ID, priority out of 0..7, no message: it is
 * still written, with the bad parts left out), or -errno when no sink took the entry. */
int journal_log(struct journal *j, const struct journal_event *ev);
void journal_close(struct journal *j);
static inline void journal_closep(struct journal **j)
{
        journal_close(*j);
        *j = NULL;
}

/* Building blocks, exposed for the unit tests. */

#define JOURNAL_MAX_FIELDS 16

/* The iovec array handed to sd_journal_sendv(): one "NAME=value" per field, values copied verbatim
 * (no format string ever sees a device name or message). iov[] points into buf. */
struct journal_fields {
        struct iovec iov[JOURNAL_MAX_FIELDS];
        size_t n;
        char *buf;
};

int journal_fields_build(const struct journal_event *ev, struct journal_fields *ret);
void journal_fields_done(struct journal_fields *f);

/* True when the event has a well-formed MESSAGE_ID, a priority in 0..7 and a message. */
bool journal_event_valid(const struct journal_event *ev);

/* The short one-line form for stderr / the Proxmox task log, without the trailing newline:
 *   pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr ok 123ms: message
 *   pve-gpu-reset 0000:01:00.0 reset flr failed (ETIMEDOUT) 1.0s: message      (no VMID)
 * Control characters are replaced so one event is always one line. *ret is malloc'ed. */
int journal_format_line(const struct journal_event *ev, char **ret);

/* "850us", "123ms", "12.3s", "5min 3s", "2h 5min" (fits 24 bytes with the NUL). */
void journal_format_duration(long long usec, char buf[static 24]);
