/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE /* strptime, timegm */
#include "log/history.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "log/journal.h"

#define USEC_PER_SEC 1000000LL
#define USEC_PER_DAY (86400LL * USEC_PER_SEC)
#define SINCE_MAX_SPAN (1000LL * 366 * USEC_PER_DAY) /* far beyond any journal */

static const char since_forms[] =
        "expected 'YYYY-MM-DD [HH:MM[:SS]]', 'HH:MM[:SS]', 'today', 'yesterday', 'now', '@EPOCH' "
        "or a relative time like '-1h', '-30min', '-2d', '-1w'";

/* ---- --since ---- */

static const struct {
        const char *name;
        long long usec;
} units[] = {
        { "us", 1 },          { "usec", 1 },
        { "ms", 1000 },       { "msec", 1000 },
        { "s", USEC_PER_SEC }, { "sec", USEC_PER_SEC }, { "second", USEC_PER_SEC }, { "seconds", USEC_PER_SEC },
        { "m", 60 * USEC_PER_SEC }, { "min", 60 * USEC_PER_SEC }, { "minute", 60 * USEC_PER_SEC },
        { "minutes", 60 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC }, { "hr", 3600 * USEC_PER_SEC }, { "hour", 3600 * USEC_PER_SEC },
        { "hours", 3600 * USEC_PER_SEC },
        { "d", USEC_PER_DAY }, { "day", USEC_PER_DAY }, { "days", USEC_PER_DAY },
        { "w", 7 * USEC_PER_DAY }, { "week", 7 * USEC_PER_DAY }, { "weeks", 7 * USEC_PER_DAY },
        { "M", 2629800 * USEC_PER_SEC }, { "month", 2629800 * USEC_PER_SEC }, { "months", 2629800 * USEC_PER_SEC },
        { "y", 31557600 * USEC_PER_SEC }, { "year", 31557600 * USEC_PER_SEC }, { "years", 31557600 * USEC_PER_SEC },
};

/* "1h 30min", "90s", "1.5d"; a number without unit is seconds (as in systemd). */
static int parse_span(const char *s, long long *ret)
{
        long long total = 0;
        bool any = false;

        for (;;) {
                long long whole = 0, frac = 0, frac_div = 1, unit = USEC_PER_SEC;
                const char *u;
                size_t ulen;
                bool digits = false;

                while (*s == ' ')
                        s++;
                if (!*s)
                        break;
                for (; isdigit((unsigned char)*s); s++, digits = true) {
                        if (whole > SINCE_MAX_SPAN / 10)
                                return -ERANGE;
                        whole = whole * 10 + (*s - '0');
                }
                if (*s == '.') {
                        for (s++; isdigit((unsigned char)*s); s++, digits = true)
                                if (frac_div < 1000000) {
                                        frac = frac * 10 + (*s - '0');
                                        frac_div *= 10;
                                }
                }
                if (!digits)
                        return -EINVAL;
                while (*s == ' ')
                        s++;
                for (u = s; isalpha((unsigned char)*s); s++)
                        ;
                ulen = (size_t)(s - u);
                if (ulen > 0) {
                        size_t i;

                        for (i = 0; i < ELEMENTSOF(units); i++)
                                if (strlen(units[i].name) == ulen && strncmp(units[i].name, u, ulen) == 0)
                                        break;
                        if (i == ELEMENTSOF(units))
                                return -EINVAL;
                        unit = units[i].usec;
                }
                if (whole > SINCE_MAX_SPAN / unit)
                        return -ERANGE;
                /* frac * unit overflows for years: split unit so each term stays small and the sum exact */
                total += whole * unit + frac * (unit / frac_div) + frac * (unit % frac_div) / frac_div;
                if (total > SINCE_MAX_SPAN)
                        return -ERANGE;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}

static bool is_leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int year, int mon0)
{
        static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        return mon0 == 1 && is_leap(year) ? 29 : d[mon0];
}

/* Parses "HH:MM[:SS[.frac]]" at *p into tm; advances *p. */
static bool parse_clock(const char **p, struct tm *tm, long long *frac_usec)
{
        const char *end;

        end = strptime(*p, "%H:%M:%S", tm);
        if (!end) {
                tm->tm_sec = 0;
                end = strptime(*p, "%H:%M", tm);
                if (!end)
                        return false;
        }
        *frac_usec = 0;
        if (*end == '.') {
                long long div = USEC_PER_SEC;

                if (!isdigit((unsigned char)end[1]))
                        return false;
                for (end++; isdigit((unsigned char)*end); end++)
                        if (div > 1) {
                                div /= 10;
                                *frac_usec += (*end - '0') * div;
                        }
        }
        *p = end;
        return true;
}

static int tm_to_usec(struct tm *tm, bool utc, long long frac, long long *ret)
{
        time_t t;

        if (tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_mday < 1 ||
            tm->tm_mday > days_in_month(tm->tm_year + 1900, tm->tm_mon) || tm->tm_sec > 59)
                return -EINVAL;
        tm->tm_isdst = -1;
        t = utc ? timegm(tm) : mktime(tm);
        if (t == (time_t)-1)
                return -EINVAL;
        *ret = (long long)t * USEC_PER_SEC + frac;
        return 0;
}

/* Midnight of the day of now_usec, shifted by days. */
static int day_start(long long now_usec, int days, bool utc, long long *ret)
{
        time_t now = (time_t)(now_usec / USEC_PER_SEC);
        struct tm tm;

        if (!(utc ? gmtime_r(&now, &tm) : localtime_r(&now, &tm)))
                return -EINVAL;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        tm.tm_mday += days; /* mktime normalizes across month ends and DST */
        tm.tm_isdst = -1;
        now = utc ? timegm(&tm) : mktime(&tm);
        if (now == (time_t)-1)
                return -EINVAL;
        *ret = (long long)now * USEC_PER_SEC;
        return 0;
}

static int parse_absolute(const char *s, long long now_usec, bool utc, long long *ret)
{
        static const struct {
                const char *word;
                int days;
        } words[] = { { "today", 0 }, { "yesterday", -1 }, { "tomorrow", 1 } };
        struct tm tm = {};
        long long frac = 0;
        const char *p;

        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (streq(s, words[i].word))
                        return day_start(now_usec, words[i].days, utc, ret);

        p = strptime(s, "%Y-%m-%d", &tm);
        if (p) {
                /* YYYY-MM-DD, optionally followed by " HH:MM[:SS]" or "THH:MM[:SS]" */
                if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
                    !isdigit((unsigned char)s[3]) || s[4] != '-')
                        return -EINVAL;
                if (*p == ' ' || *p == 'T') {
                        p++;
                        if (!parse_clock(&p, &tm, &frac))
                                return -EINVAL;
                }
                if (*p)
                        return -EINVAL;
                return tm_to_usec(&tm, utc, frac, ret);
        }

        /* HH:MM[:SS]: today */
        {
                time_t now = (time_t)(now_usec / USEC_PER_SEC);
                struct tm today;

                if (!(utc ? gmtime_r(&now, &today) : localtime_r(&now, &today)))
                        return -EINVAL;
                p = s;
                if (!isdigit((unsigned char)*p) || !parse_clock(&p, &today, &frac) || *p)
                        return -EINVAL;
                return tm_to_usec(&today, utc, frac, ret);
        }
}

int history_parse_since(const char *s, long long now_usec, long long *ret_usec, struct pgr_error *err)
{
        char buf[80];
        char *t;
        size_t n;
        long long span, v;
        int r;

        if (!s || strlen(s) >= sizeof(buf)) {
                pgr_error_set(err, "invalid --since: %s", since_forms);
                return -EINVAL;
        }
        strcpy(buf, s);
        t = strstrip(buf);
        n = strlen(t);

        if (streq(t, "now")) {
                *ret_usec = now_usec;
                return 0;
        }
        if (t[0] == '@') {
                unsigned long secs;

                r = parse_uint(t + 1, 10, (unsigned long)(INT64_MAX / USEC_PER_SEC), &secs);
                if (r < 0)
                        goto bad;
                *ret_usec = (long long)secs * USEC_PER_SEC;
                return 0;
        }
        if (t[0] == '-' || t[0] == '+' || (n > 4 && streq(t + n - 4, " ago"))) {
                bool ago = t[0] != '+';

                if (t[0] == '-' || t[0] == '+')
                        t++;
                else
                        t[n - 4] = '\0';
                r = parse_span(t, &span);
                if (r < 0)
                        goto bad;
                v = ago ? now_usec - span : now_usec + span;
                *ret_usec = v < 0 ? 0 : v;
                return 0;
        }
        {
                bool utc = n > 4 && streq(t + n - 4, " UTC");

                if (utc)
                        t[n - 4] = '\0';
                r = parse_absolute(strstrip(t), now_usec, utc, &v);
                if (r < 0)
                        goto bad;
                *ret_usec = v < 0 ? 0 : v;
                return 0;
        }
bad:
        pgr_error_set(err, "invalid --since '%s': %s", s, since_forms);
        return -EINVAL;
}

int history_filter_init(struct history_filter *f, const char *device, const char *since, struct pgr_error *err)
{
        struct timespec ts;
        int r;

        f->has_slot = false;
        f->since_usec = 0;
        if (device) {
                r = pci_addr_parse(device, &f->slot);
                if (r < 0) {
                        pgr_error_set(err, "invalid --device '%s': expected a PCI address [DDDD:]BB:SS[.F]", device);
                        return -EINVAL;
                }
                f->has_slot = true;
        }
        if (since) {
                clock_gettime(CLOCK_REALTIME, &ts);
                r = history_parse_since(since, (long long)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000,
                                        &f->since_usec, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- reading ---- */

/* Value of FIELD in the current entry, truncated to size; "" when absent. */
static void get_field(sd_journal *j, const char *name, char *buf, size_t size)
{
        const void *data;
        size_t len, nl = strlen(name);

        buf[0] = '\0';
        if (sd_journal_get_data(j, name, &data, &len) < 0 || len <= nl + 1)
                return;
        len -= nl + 1;
        if (len >= size)
                len = size - 1;
        memcpy(buf, (const char *)data + nl + 1, len);
        buf[len] = '\0';
}

static int read_entry(sd_journal *j, struct history_entry *e)
{
        const void *data;
        size_t len, nl = strlen(JOURNAL_FIELD_MESSAGE);
        uint64_t rt;
        int r;

        memset(e, 0, sizeof(*e));
        r = sd_journal_get_realtime_usec(j, &rt);
        if (r < 0)
                return r;
        e->realtime = (long long)rt;
        get_field(j, JOURNAL_FIELD_VMID, e->vmid, sizeof(e->vmid));
        get_field(j, JOURNAL_FIELD_PHASE, e->phase, sizeof(e->phase));
        get_field(j, JOURNAL_FIELD_SLOT, e->slot, sizeof(e->slot));
        get_field(j, JOURNAL_FIELD_PCI_ID, e->pci_id, sizeof(e->pci_id));
        get_field(j, JOURNAL_FIELD_ACTION, e->action, sizeof(e->action));
        get_field(j, JOURNAL_FIELD_METHOD, e->method, sizeof(e->method));
        get_field(j, JOURNAL_FIELD_RESULT, e->result, sizeof(e->result));
        get_field(j, JOURNAL_FIELD_DURATION, e->duration, sizeof(e->duration));
        get_field(j, JOURNAL_FIELD_DRIVER_BEFORE, e->driver_before, sizeof(e->driver_before));
        get_field(j, JOURNAL_FIELD_DRIVER_AFTER, e->driver_after, sizeof(e->driver_after));
        get_field(j, JOURNAL_FIELD_ERRNO, e->err, sizeof(e->err));
        get_field(j, JOURNAL_FIELD_PRIORITY, e->priority, sizeof(e->priority));
        get_field(j, JOURNAL_FIELD_MESSAGE_ID, e->message_id, sizeof(e->message_id));
        if (sd_journal_get_data(j, JOURNAL_FIELD_MESSAGE, &data, &len) >= 0 && len > nl + 1)
                e->message = strndup((const char *)data + nl + 1, len - nl - 1);
        else
                e->message = strdup("");
        return e->message ? 0 : -ENOMEM;
}

/* Journal contents are outside input (anyone can log as pve-gpu-reset): no control characters on a tty. */
static void sanitize(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = (*s == '\n' || *s == '\t') ? ' ' : '?';
}

static bool parse_num(const char *s, unsigned long *ret)
{
        return s[0] && parse_uint(s, 10, ULONG_MAX, ret) >= 0;
}

static const char *or_dash(const char *s)
{
        return s[0] ? s : "-";
}

static void print_header(FILE *out)
{
        fprintf(out, "%-19s  %-9s  %-10s  %-12s  %-13s  %-17s  %-7s  %s\n", "TIME", "VM", "PHASE", "DEVICE",
                "ACTION", "METHOD", "RESULT", "DURATION");
}

static void print_row(FILE *out, struct history_entry *e)
{
        char when[32] = "-", dur[24] = "-";
        time_t t = (time_t)(e->realtime / USEC_PER_SEC);
        unsigned long v;
        struct tm tm;

        if (localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        if (parse_num(e->duration, &v))
                journal_format_duration((long long)v, dur);
        sanitize(e->vmid);
        sanitize(e->phase);
        sanitize(e->slot);
        sanitize(e->action);
        sanitize(e->method);
        sanitize(e->result);
        sanitize(e->message);
        fprintf(out, "%-19s  %-9s  %-10s  %-12s  %-13s  %-17s  %-7s  %s\n", when, or_dash(e->vmid), or_dash(e->phase),
                or_dash(e->slot), or_dash(e->action), or_dash(e->method), or_dash(e->result), dur);
        /* what went wrong (or why it was skipped) is the line an administrator needs; so is a warning
         * about a step that still ended ok (a link that came back narrower and was retrained) */
        if ((!streq(e->result, "ok") || (parse_num(e->priority, &v) && v <= 4)) && e->message[0])
                fprintf(out, "    %s\n", e->message);
}

static void json_add_str(struct json_object *o, const char *key, const char *value)
{
        if (value[0])
                json_object_object_add(o, key, json_object_new_string(value));
}

static void json_add_num(struct json_object *o, const char *key, const char *value)
{
        unsigned long v;

        if (parse_num(value, &v))
                json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static int print_json(FILE *out, const struct history_entry *e)
{
        struct json_object *o;
        char when[48] = "", zone[8] = "";
        time_t t = (time_t)(e->realtime / USEC_PER_SEC);
        const char *name;
        struct tm tm;
        int r = 0;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        if (localtime_r(&t, &tm)) {
                size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

                /* RFC 3339: "+01:00", strftime gives "+0100" */
                if (strftime(zone, sizeof(zone), "%z", &tm) == 5)
                        snprintf(when + n, sizeof(when) - n, ".%06lld%.3s:%s", e->realtime % USEC_PER_SEC, zone,
                                 zone + 3);
        }
        json_add_str(o, "time", when);
        json_object_object_add(o, "realtime_usec", json_object_new_int64(e->realtime));
        name = pgr_msgid_name(e->message_id);
        if (name)
                json_object_object_add(o, "event", json_object_new_string(name));
        json_add_str(o, "message_id", e->message_id);
        json_add_num(o, "priority", e->priority);
        json_add_num(o, "vmid", e->vmid);
        json_add_str(o, "phase", e->phase);
        json_add_str(o, "slot", e->slot);
        json_add_str(o, "pci_id", e->pci_id);
        json_add_str(o, "action", e->action);
        json_add_str(o, "method", e->method);
        json_add_str(o, "result", e->result);
        json_add_num(o, "duration_usec", e->duration);
        json_add_str(o, "driver_before", e->driver_before);
        json_add_str(o, "driver_after", e->driver_after);
        json_add_num(o, "errno", e->err);
        json_add_str(o, "message", e->message);
        if (fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
                r = -EIO;
        json_object_put(o);
        return r;
}

static int add_matches(sd_journal *j, const struct history_filter *f)
{
        char m[64];
        int r;

        r = sd_journal_add_match(j, JOURNAL_FIELD_IDENTIFIER "=" JOURNAL_IDENTIFIER, 0);
        if (r < 0)
                return r;
        if (f && f->vmid) {
                snprintf(m, sizeof(m), JOURNAL_FIELD_VMID "=%lu", f->vmid);
                r = sd_journal_add_match(j, m, 0);
                if (r < 0)
                        return r;
        }
        if (f && f->has_slot) {
                /* matches on the same field are OR'ed: a slot without function means all eight */
                for (int fn = 0; fn < 8; fn++) {
                        struct pci_addr a = f->slot;
                        char bdf[PCI_ADDR_STRLEN];

                        if (a.func >= 0 && fn > 0)
                                break;
                        if (a.func < 0)
                                a.func = fn;
                        snprintf(m, sizeof(m), JOURNAL_FIELD_SLOT "=%s", pci_addr_format(&a, bdf));
                        r = sd_journal_add_match(j, m, 0);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int history_read_dir(const char *journal_dir, const struct history_filter *f, history_entry_fn fn, void *userdata,
                     struct pgr_error *err)
{
        _cleanup_(sd_journal_closep) sd_journal *j = NULL; /* sd-journal.h defines the cleanup helper */
        int r;

        if (journal_dir) {
                r = sd_journal_open_directory(&j, journal_dir, 0);
                if (r < 0) {
                        pgr_error_set(err, "cannot open journal directory %s: %s", journal_dir, strerror(-r));
                        return r == -EINVAL ? -EIO : r;
                }
        } else {
                r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
                if (r < 0) {
                        pgr_error_set(err, "cannot open the system journal: %s", strerror(-r));
                        return r == -EINVAL ? -EIO : r;
                }
        }
        r = add_matches(j, f);
        if (r < 0) {
                pgr_error_set(err, "cannot filter the journal: %s", strerror(-r));
                return r == -EINVAL ? -EIO : r;
        }
        r = sd_journal_seek_tail(j);
        if (r < 0) {
                pgr_error_set(err, "cannot read the journal: %s", strerror(-r));
                return r == -EINVAL ? -EIO : r;
        }
        for (;;) {
                struct history_entry e;

                r = sd_journal_previous(j);
                if (r < 0) {
                        pgr_error_set(err, "cannot read the journal: %s", strerror(-r));
                        return r == -EINVAL ? -EIO : r;
                }
                if (r == 0)
                        break;
                r = read_entry(j, &e);
                if (r < 0) {
                        free(e.message);
                        pgr_error_set(err, "cannot read a journal entry: %s", strerror(-r));
                        return r == -EINVAL ? -EIO : r;
                }
                /* skip rather than stop: realtime order is not guaranteed across clock changes */
                if (f && f->since_usec > 0 && e.realtime < f->since_usec) {
                        free(e.message);
                        continue;
                }
                r = fn(&e, userdata, err);
                free(e.message);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* $PVE_GPU_RESET_JOURNAL_DIR, or NULL for the local system journal. */
static int journal_dir_from_env(const char **ret, struct pgr_error *err)
{
        const char *dir = getenv(HISTORY_DIR_ENV);

        *ret = NULL;
        if (!dir || !dir[0])
                return 0;
        if (dir[0] != '/') {
                pgr_error_set(err, "%s=%s: expected an absolute directory", HISTORY_DIR_ENV, dir);
                return -EINVAL;
        }
        *ret = dir;
        return 0;
}

int history_read(const struct pgr_ctx *ctx, const struct history_filter *f, history_entry_fn fn, void *userdata,
                 struct pgr_error *err)
{
        const char *dir;
        int r;

        (void)ctx; /* the journal is the running host's, not under the root prefix: see HISTORY_DIR_ENV */
        r = journal_dir_from_env(&dir, err);
        if (r < 0)
                return r;
        return history_read_dir(dir, f, fn, userdata, err);
}

struct printer {
        FILE *out;
        bool json;
        size_t count;
};

static int print_entry(struct history_entry *e, void *userdata, struct pgr_error *err)
{
        struct printer *pr = userdata;
        int r = 0;

        if (pr->json)
                r = print_json(pr->out, e);
        else {
                if (pr->count == 0)
                        print_header(pr->out);
                print_row(pr->out, e);
        }
        if (r < 0) {
                pgr_error_set(err, "cannot write the history: %s", strerror(-r));
                return r;
        }
        pr->count++;
        return 0;
}

/* After the last entry: the empty table's line, and whether everything reached out. */
static int query_done(const struct printer *pr, struct pgr_error *err)
{
        if (!pr->json && pr->count == 0)
                fputs("-- No entries --\n", pr->out);
        if (fflush(pr->out) != 0 || ferror(pr->out)) {
                pgr_error_set(err, "cannot write the history: %s", strerror(errno));
                return -EIO;
        }
        return 0;
}

int history_query_dir(const char *journal_dir, const struct history_filter *f, bool json, FILE *out,
                      struct pgr_error *err)
{
        struct printer pr = { .out = out, .json = json };
        int r = history_read_dir(journal_dir, f, print_entry, &pr, err);

        return r < 0 ? r : query_done(&pr, err);
}

int history_query(const struct pgr_ctx *ctx, const struct history_filter *f, bool json, FILE *out,
                  struct pgr_error *err)
{
        struct printer pr = { .out = out, .json = json };
        int r = history_read(ctx, f, print_entry, &pr, err);

        return r < 0 ? r : query_done(&pr, err);
}
