/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "base/bdf.h"

/* The findings of one `doctor` run: each has a stable check id ("iommu", "driver", "modprobe",
 * "cmdline", "iommu-group", "reset", "pin", "power", "bar", "kernel", "kernel-log", "vm", "initramfs",
 * "sriov", "numa"), a status, the
 * device it concerns ("" host-wide), what it means and the fix (NULL when there is nothing to do).
 * A check id may appear several times (one finding per device, per VM, per kind of log message). */

enum doctor_status {
        DOCTOR_OK,
        DOCTOR_INFO,
        DOCTOR_WARN,
        DOCTOR_FAIL,
};

struct doctor_finding {
        char id[16];
        enum doctor_status status;
        char slot[PCI_ADDR_STRLEN];     /* "" host-wide */
        char *message;
        char *fix;                      /* NULL: nothing to do */
};

/* A device the report groups findings under, with the title line the human output shows. */
struct doctor_group {
        char slot[PCI_ADDR_STRLEN];
        char title[256];
};

struct doctor_report {
        unsigned long vmid;             /* 0: host-wide */
        char node[256];
        size_t n, alloc;
        struct doctor_finding *v;
        size_t n_groups, alloc_groups;
        struct doctor_group *groups;    /* in the order devices were first named */
        bool oom;                       /* an allocation failed: the report is incomplete */
};

const char *doctor_status_to_string(enum doctor_status s); /* "ok" "info" "warn" "fail" */

struct doctor_report *doctor_report_new(unsigned long vmid, const char *node);
void doctor_report_free(struct doctor_report *r);
static inline void doctor_report_freep(struct doctor_report **r) { doctor_report_free(*r); }

/* Adds a finding; slot NULL or "" for host-wide, fix NULL for none. On allocation failure the
 * report is marked (r->oom) and the finding dropped. Returns the finding or NULL. */
struct doctor_finding *doctor_add(struct doctor_report *r, const char *id, enum doctor_status status, const char *slot,
                                  const char *fix, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Names a device group (first call wins) so findings for slot print under that title. */
void doctor_group(struct doctor_report *r, const char *slot, const char *title);

/* The worst status of all findings, info counting as ok: DOCTOR_OK, DOCTOR_WARN or DOCTOR_FAIL. */
enum doctor_status doctor_report_verdict(const struct doctor_report *r);
size_t doctor_report_count(const struct doctor_report *r, enum doctor_status s);

/* First finding with this id and slot (NULL/"" host-wide; "*" any slot) whose message contains
 * needle (NULL: any), for tests and for checks that look at each other's results. */
const struct doctor_finding *doctor_report_find(const struct doctor_report *r, const char *id, const char *slot,
                                                const char *needle);

/* {"verdict":"ok|warn|fail","checks":[{"id":..,"status":..,"slot":..|null,"message":..,"fix":..|null}]}.
 * Checks are in the order the human output shows them: host-wide first, then device by device. */
int doctor_report_to_json(const struct doctor_report *r, struct json_object **ret);
/* One-line verdict, then host-wide findings, then findings grouped by device. */
void doctor_report_print(const struct doctor_report *r, FILE *out);

/* A growing string for messages and fixes built piece by piece; NULL-safe, never fails loudly: on
 * allocation failure it keeps what it has and sets oom. */
struct dstr {
        char *s;
        size_t len, cap;
        bool oom;
};
void dstr_addf(struct dstr *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *dstr_get(const struct dstr *d); /* "" when empty */
void dstr_done(struct dstr *d);
static inline void dstr_donep(struct dstr *d) { dstr_done(d); }
