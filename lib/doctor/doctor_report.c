/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The findings of a doctor run: collection, verdict, the human report and --json. */
#define _GNU_SOURCE 1 /* vasprintf */
#include "doctor/doctor_report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static const char *const status_names[] = {
        [DOCTOR_OK] = "ok",
        [DOCTOR_INFO] = "info",
        [DOCTOR_WARN] = "warn",
        [DOCTOR_FAIL] = "fail",
};

const char *doctor_status_to_string(enum doctor_status s)
{
        return (size_t)s < ELEMENTSOF(status_names) ? status_names[s] : "unknown";
}

void dstr_addf(struct dstr *d, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (d->oom)
                return;
        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (d->len + (size_t)n + 1 > d->cap) {
                size_t cap = d->cap ? d->cap : 128;
                char *s;

                while (d->len + (size_t)n + 1 > cap)
                        cap *= 2;
                s = realloc(d->s, cap);
                if (!s) {
                        d->oom = true;
                        return;
                }
                d->s = s;
                d->cap = cap;
        }
        va_start(ap, fmt);
        vsnprintf(d->s + d->len, d->cap - d->len, fmt, ap);
        va_end(ap);
        d->len += (size_t)n;
}

const char *dstr_get(const struct dstr *d)
{
        return d->s ? d->s : "";
}

void dstr_done(struct dstr *d)
{
        free(d->s);
        memset(d, 0, sizeof(*d));
}

struct doctor_report *doctor_report_new(unsigned long vmid, const char *node)
{
        struct doctor_report *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        r->vmid = vmid;
        snprintf(r->node, sizeof(r->node), "%s", node ? node : "");
        return r;
}

void doctor_report_free(struct doctor_report *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n; i++) {
                free(r->v[i].message);
                free(r->v[i].fix);
        }
        free(r->v);
        free(r->groups);
        free(r);
}

struct doctor_finding *doctor_add(struct doctor_report *r, const char *id, enum doctor_status status, const char *slot,
                                  const char *fix, const char *fmt, ...)
{
        struct doctor_finding *f;
        char *msg = NULL;
        va_list ap;
        int n;

        if (r->n == r->alloc) {
                size_t alloc = r->alloc ? r->alloc * 2 : 32;
                struct doctor_finding *v = realloc(r->v, alloc * sizeof(*v));

                if (!v) {
                        r->oom = true;
                        return NULL;
                }
                r->v = v;
                r->alloc = alloc;
        }
        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0) {
                r->oom = true;
                return NULL;
        }
        f = &r->v[r->n];
        memset(f, 0, sizeof(*f));
        snprintf(f->id, sizeof(f->id), "%s", id);
        f->status = status;
        snprintf(f->slot, sizeof(f->slot), "%s", slot ? slot : "");
        f->message = msg;
        if (fix && *fix) {
                f->fix = strdup(fix);
                if (!f->fix) {
                        free(msg);
                        r->oom = true;
                        return NULL;
                }
        }
        r->n++;
        if (f->slot[0])
                doctor_group(r, f->slot, NULL);
        return f;
}

void doctor_group(struct doctor_report *r, const char *slot, const char *title)
{
        struct doctor_group *g;

        for (size_t i = 0; i < r->n_groups; i++)
                if (streq(r->groups[i].slot, slot)) {
                        if (title && !r->groups[i].title[0])
                                snprintf(r->groups[i].title, sizeof(r->groups[i].title), "%s", title);
                        return;
                }
        if (r->n_groups == r->alloc_groups) {
                size_t alloc = r->alloc_groups ? r->alloc_groups * 2 : 8;
                struct doctor_group *v = realloc(r->groups, alloc * sizeof(*v));

                if (!v) {
                        r->oom = true;
                        return;
                }
                r->groups = v;
                r->alloc_groups = alloc;
        }
        g = &r->groups[r->n_groups++];
        snprintf(g->slot, sizeof(g->slot), "%s", slot);
        snprintf(g->title, sizeof(g->title), "%s", title ? title : "");
}

enum doctor_status doctor_report_verdict(const struct doctor_report *r)
{
        enum doctor_status v = DOCTOR_OK;

        for (size_t i = 0; i < r->n; i++)
                if (r->v[i].status > v && r->v[i].status != DOCTOR_INFO)
                        v = r->v[i].status;
        return v;
}

size_t doctor_report_count(const struct doctor_report *r, enum doctor_status s)
{
        size_t n = 0;

        for (size_t i = 0; i < r->n; i++)
                n += r->v[i].status == s;
        return n;
}

const struct doctor_finding *doctor_report_find(const struct doctor_report *r, const char *id, const char *slot,
                                                const char *needle)
{
        if (!slot)
                slot = "";
        for (size_t i = 0; i < r->n; i++) {
                const struct doctor_finding *f = &r->v[i];

                if (!streq(f->id, id))
                        continue;
                if (!streq(slot, "*") && !streq(f->slot, slot))
                        continue;
                if (needle && !strstr(f->message, needle))
                        continue;
                return f;
        }
        return NULL;
}

/* Calls fn for every finding in output order: host-wide first, then group by group. */
static void for_each_in_order(const struct doctor_report *r, void (*fn)(const struct doctor_report *r, size_t group,
                                                                        const struct doctor_finding *f, void *u),
                              void *u)
{
        for (size_t i = 0; i < r->n; i++)
                if (!r->v[i].slot[0])
                        fn(r, (size_t)-1, &r->v[i], u);
        for (size_t g = 0; g < r->n_groups; g++)
                for (size_t i = 0; i < r->n; i++)
                        if (streq(r->v[i].slot, r->groups[g].slot))
                                fn(r, g, &r->v[i], u);
}

static void json_one(const struct doctor_report *r, size_t group, const struct doctor_finding *f, void *u)
{
        struct json_object *checks = u, *o = json_object_new_object();

        (void)r;
        (void)group;
        if (!o)
                return;
        json_object_object_add(o, "id", json_object_new_string(f->id));
        json_object_object_add(o, "status", json_object_new_string(doctor_status_to_string(f->status)));
        json_object_object_add(o, "slot", f->slot[0] ? json_object_new_string(f->slot) : NULL);
        json_object_object_add(o, "message", json_object_new_string(f->message));
        json_object_object_add(o, "fix", f->fix ? json_object_new_string(f->fix) : NULL);
        json_object_array_add(checks, o);
}

int doctor_report_to_json(const struct doctor_report *r, struct json_object **ret)
{
        struct json_object *root = json_object_new_object(), *checks = json_object_new_array();

        if (!root || !checks) {
                json_object_put(root);
                json_object_put(checks);
                return -ENOMEM;
        }
        json_object_object_add(root, "verdict", json_object_new_string(doctor_status_to_string(doctor_report_verdict(r))));
        for_each_in_order(r, json_one, checks);
        json_object_object_add(root, "checks", checks);
        if ((size_t)json_object_array_length(checks) != r->n) {
                json_object_put(root);
                return -ENOMEM;
        }
        *ret = root;
        return 0;
}

struct print_state {
        FILE *out;
        size_t last_group;
        bool started;
};

/* Continuation lines of a long message or fix keep the indentation of the first. */
static void print_indented(FILE *out, const char *prefix, const char *text, const char *indent)
{
        fputs(prefix, out);
        for (const char *p = text; *p; p++) {
                fputc(*p, out);
                if (*p == '\n' && p[1])
                        fputs(indent, out);
        }
        fputc('\n', out);
}

static void print_one(const struct doctor_report *r, size_t group, const struct doctor_finding *f, void *u)
{
        static const char *const tags[] = {
                [DOCTOR_OK] = "  ok ", [DOCTOR_INFO] = " info", [DOCTOR_WARN] = " WARN", [DOCTOR_FAIL] = " FAIL",
        };
        struct print_state *st = u;
        char prefix[64];

        if (!st->started || group != st->last_group) {
                if (group == (size_t)-1)
                        fprintf(st->out, "\nHost\n");
                else
                        fprintf(st->out, "\n%s%s%s\n", r->groups[group].slot, r->groups[group].title[0] ? "  " : "",
                                r->groups[group].title);
                st->started = true;
                st->last_group = group;
        }
        snprintf(prefix, sizeof(prefix), "  [%s] %s: ", tags[f->status], f->id);
        print_indented(st->out, prefix, f->message, "            ");
        if (f->fix)
                print_indented(st->out, "          fix: ", f->fix, "               ");
}

void doctor_report_print(const struct doctor_report *r, FILE *out)
{
        enum doctor_status v = doctor_report_verdict(r);
        size_t n_fail = doctor_report_count(r, DOCTOR_FAIL), n_warn = doctor_report_count(r, DOCTOR_WARN);
        struct print_state st = { .out = out };
        char scope[320];

        if (r->vmid)
                snprintf(scope, sizeof(scope), "VM %lu on node %s", r->vmid, r->node);
        else
                snprintf(scope, sizeof(scope), "node %s", r->node);
        if (v == DOCTOR_OK)
                fprintf(out, "verdict: ok - nothing to fix (%s, %zu checks)\n", scope, r->n);
        else
                fprintf(out, "verdict: %s - %zu failed, %zu warning%s (%s)\n", v == DOCTOR_FAIL ? "FAIL" : "WARN", n_fail,
                        n_warn, n_warn == 1 ? "" : "s", scope);
        for_each_in_order(r, print_one, &st);
}
