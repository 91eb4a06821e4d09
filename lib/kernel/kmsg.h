/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/bdf.h"
#include "base/context.h"

/* The kernel log, read from the first source that works:
 *   1. <root>/dev/kmsg: on a host the character device, read without blocking (records
 *      "prio,seq,usec,flags;message" until EAGAIN); in a fixture a regular file holding such
 *      records or plain dmesg text;
 *   2. <root>/var/log/kern.log (rsyslog; also where fixture trees keep a captured log): dmesg
 *      ("[   12.345678] msg"), syslog ("Sep 19 16:18:02 host kernel: msg") or kmsg records; only its
 *      last 4 MiB are read;
 *   3. on the real root only: the systemd journal's kernel messages of the current boot.
 * Plain text may be mail-quoted ("> ") and wrapped: a line without a time stamp continues the line
 * before it (NVRM's multi-line messages are written that way too); a blank line ends a message.
 * Lines are matched against known messages; repeats of one kind for one device are folded into one
 * event that keeps the first and the last line. */

enum kmsg_kind {
        KMSG_FLR_NOT_READY,
        KMSG_BUS_RESET_NOT_READY,
        KMSG_RESUME_NOT_READY,
        KMSG_NOT_READY,
        KMSG_D3COLD,
        KMSG_POWER_REFUSED,
        KMSG_LINK_DOWN,
        KMSG_GROUP_NOT_OWNED,
        KMSG_CANNOT_RESET,
        KMSG_NO_IOMMU,
        KMSG_AMD_VI_OPTION,
        KMSG_ACS_VIOLATION,
        KMSG_ACS_OVERRIDE,
        KMSG_FALLEN_OFF_BUS,
        KMSG_DRIVER_INIT_FAILED,
        KMSG_XID,
        KMSG_AER_UNCORRECTABLE,
        KMSG_AER_CORRECTABLE,
        KMSG_BAR_RESERVE,
        KMSG_BAR_EFIFB,
        KMSG_BAR_ASSIGN,
        KMSG_IOMMU_FAULT,
        KMSG_ROM,
        KMSG_SOFT_LOCKUP,
        _KMSG_KIND_MAX,
};

struct kmsg_event {
        enum kmsg_kind kind;
        char slot[PCI_ADDR_STRLEN];     /* the device the line names ("" none) */
        char first_time[40];            /* "[ 2423.556570]", "Sep 19 16:18:02" or "" */
        char time[40];                  /* of the last line */
        char text[400];                 /* the last line, time stamp and prefixes removed */
        unsigned count;
};

struct kmsg_log {
        char source[PATH_MAX];          /* what was read, host path ("/dev/kmsg", "journal") or "" */
        bool available;
        size_t n_lines;                 /* messages read */
        size_t n, alloc;
        struct kmsg_event *v;
};

/* Reads the log (see above). Unavailable is not an error: log->available = false. -ENOMEM only. */
int kmsg_load(const struct pgr_ctx *ctx, struct kmsg_log **ret);
/* Adds plain text (any of the formats above) to a log, for the loader and for tests. */
int kmsg_parse_text(struct kmsg_log *log, const char *text, size_t len);
struct kmsg_log *kmsg_log_new(void);
void kmsg_log_free(struct kmsg_log *log);
static inline void kmsg_log_freep(struct kmsg_log **l) { kmsg_log_free(*l); }

const char *kmsg_kind_to_string(enum kmsg_kind k);
/* Whether a kind of message concerns the host rather than the device its line names. */
bool kmsg_kind_host_wide(enum kmsg_kind k);
/* The first event of this kind for slot (NULL: any), or NULL. */
const struct kmsg_event *kmsg_log_find(const struct kmsg_log *log, enum kmsg_kind kind, const char *slot);
