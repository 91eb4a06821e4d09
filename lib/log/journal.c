/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE /* strerrorname_np, open_memstream */
#include "log/journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "base/util.h"

struct journal {
        enum journal_mode mode;
        bool socket;      /* journald's socket existed at open time */
        bool noted;       /* the "journald unreachable, using stderr" note was printed */
        FILE *stream;     /* short lines: stderr, i.e. the Proxmox task log */
};

int journal_mode_from_string(const char *s, enum journal_mode *ret)
{
        static const char *const names[] = {
                [JOURNAL_MODE_AUTO] = "auto",
                [JOURNAL_MODE_JOURNAL] = "journal",
                [JOURNAL_MODE_STDERR] = "stderr",
                [JOURNAL_MODE_BOTH] = "both",
        };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i])) {
                        *ret = (enum journal_mode)i;
                        return 0;
                }
        return -EINVAL;
}

static bool priority_valid(int p)
{
        return p >= LOG_EMERG && p <= LOG_DEBUG;
}

static int effective_priority(const struct journal_event *ev)
{
        return priority_valid(ev->priority) ? ev->priority : LOG_NOTICE;
}

bool journal_event_valid(const struct journal_event *ev)
{
        return pgr_msgid_valid(ev->message_id) && priority_valid(ev->priority) && ev->message && ev->message[0];
}

struct field {
        const char *name;
        const char *value;
};

static void add_field(struct field *fields, size_t *n, const char *name, const char *value)
{
        if (!value || !value[0] || *n >= JOURNAL_MAX_FIELDS)
                return;
        fields[(*n)++] = (struct field){ name, value };
}

int journal_fields_build(const struct journal_event *ev, struct journal_fields *ret)
{
        struct field fields[JOURNAL_MAX_FIELDS];
        char prio[8], vmid[24], duration[24], err[16];
        size_t n = 0, total = 0;
        char *buf, *p;

        add_field(fields, &n, JOURNAL_FIELD_IDENTIFIER, JOURNAL_IDENTIFIER);
        add_field(fields, &n, JOURNAL_FIELD_MESSAGE, ev->message && ev->message[0] ? ev->message : "(no message)");
        if (pgr_msgid_valid(ev->message_id))
                add_field(fields, &n, JOURNAL_FIELD_MESSAGE_ID, ev->message_id);
        snprintf(prio, sizeof(prio), "%d", effective_priority(ev));
        add_field(fields, &n, JOURNAL_FIELD_PRIORITY, prio);
        if (ev->vmid) {
                snprintf(vmid, sizeof(vmid), "%lu", ev->vmid);
                add_field(fields, &n, JOURNAL_FIELD_VMID, vmid);
        }
        add_field(fields, &n, JOURNAL_FIELD_PHASE, ev->phase);
        add_field(fields, &n, JOURNAL_FIELD_SLOT, ev->slot);
        add_field(fields, &n, JOURNAL_FIELD_PCI_ID, ev->pci_id);
        add_field(fields, &n, JOURNAL_FIELD_ACTION, ev->action);
        add_field(fields, &n, JOURNAL_FIELD_METHOD, ev->method);
        add_field(fields, &n, JOURNAL_FIELD_RESULT, ev->result);
        if (ev->duration_usec >= 0) {
                snprintf(duration, sizeof(duration), "%lld", ev->duration_usec);
                add_field(fields, &n, JOURNAL_FIELD_DURATION, duration);
        }
        add_field(fields, &n, JOURNAL_FIELD_DRIVER_BEFORE, ev->driver_before);
        add_field(fields, &n, JOURNAL_FIELD_DRIVER_AFTER, ev->driver_after);
        if (ev->errno_value > 0) {
                snprintf(err, sizeof(err), "%d", ev->errno_value);
                add_field(fields, &n, JOURNAL_FIELD_ERRNO, err);
        }

        for (size_t i = 0; i < n; i++)
                total += strlen(fields[i].name) + 1 + strlen(fields[i].value);
        buf = malloc(total);
        if (!buf)
                return -ENOMEM;
        p = buf;
        memset(ret, 0, sizeof(*ret));
        for (size_t i = 0; i < n; i++) {
                size_t ln = strlen(fields[i].name), lv = strlen(fields[i].value);

                ret->iov[i].iov_base = p;
                memcpy(p, fields[i].name, ln);
                p[ln] = '=';
                memcpy(p + ln + 1, fields[i].value, lv);
                ret->iov[i].iov_len = ln + 1 + lv;
                p += ln + 1 + lv;
        }
        ret->n = n;
        ret->buf = buf;
        return 0;
}

void journal_fields_done(struct journal_fields *f)
{
        free(f->buf);
        f->buf = NULL;
        f->n = 0;
}

void journal_format_duration(long long usec, char buf[static 24])
{
        if (usec < 0)
                usec = 0;
        if (usec < 1000)
                snprintf(buf, 24, "%lldus", usec);
        else if (usec < 1000000)
                snprintf(buf, 24, "%lldms", usec / 1000);
        else if (usec < 60000000)
                snprintf(buf, 24, "%lld.%llds", usec / 1000000, usec / 100000 % 10);
        else if (usec < 3600000000LL)
                snprintf(buf, 24, "%lldmin %llds", usec / 60000000, usec / 1000000 % 60);
        else
                snprintf(buf, 24, "%lldh %lldmin", usec / 3600000000LL, usec / 60000000 % 60);
}

/* One event is one line in the task log: tabs and newlines become spaces, other control characters '?'. */
static void put_sanitized(FILE *f, const char *s)
{
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c == '\n' || c == '\r' || c == '\t')
                        c = ' ';
                else if (c < 0x20 || c == 0x7f)
                        c = '?';
                fputc(c, f);
        }
}

static void put_word(FILE *f, const char *s)
{
        if (!s || !s[0])
                return;
        fputc(' ', f);
        put_sanitized(f, s);
}

int journal_format_line(const struct journal_event *ev, char **ret)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs(JOURNAL_IDENTIFIER, f);
        if (ev->vmid)
                fprintf(f, "[VMID %lu]", ev->vmid);
        put_word(f, ev->slot);
        put_word(f, ev->action);
        put_word(f, ev->method);
        /* "skip skipped" says nothing twice */
        if (!(ev->action && ev->result && streq(ev->action, "skip") && streq(ev->result, "skipped")))
                put_word(f, ev->result);
        if (ev->errno_value > 0) {
                const char *name = strerrorname_np(ev->errno_value);

                if (name)
                        fprintf(f, " (%s)", name);
                else
                        fprintf(f, " (errno %d)", ev->errno_value);
        }
        if (ev->duration_usec >= 0) {
                char d[24];

                journal_format_duration(ev->duration_usec, d);
                put_word(f, d);
        }
        fputs(": ", f);
        put_sanitized(f, ev->message && ev->message[0] ? ev->message : "(no message)");
        if (ferror(f)) {
                fclose(f);
                free(buf);
                return -ENOMEM;
        }
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

static bool journald_socket_exists(void)
{
        struct stat st;

        return stat(JOURNAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode);
}

int journal_open_mode(enum journal_mode mode, FILE *stream, struct journal **ret)
{
        struct journal *j;

        if (mode < JOURNAL_MODE_AUTO || mode > JOURNAL_MODE_BOTH)
                return -EINVAL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->mode = mode;
        j->stream = stream ? stream : stderr;
        j->socket = mode != JOURNAL_MODE_STDERR && journald_socket_exists();
        *ret = j;
        return 0;
}

int journal_open(const struct pgr_ctx *ctx, struct journal **ret)
{
        const char *s = getenv("PVE_GPU_RESET_JOURNAL");
        enum journal_mode mode = JOURNAL_MODE_AUTO;
        int r;

        (void)ctx; /* the journal is a host service, not under the root prefix: see JOURNAL_SOCKET */
        if (s && s[0]) {
                r = journal_mode_from_string(s, &mode);
                if (r < 0)
                        return r;
        }
        return journal_open_mode(mode, NULL, ret);
}

static int write_line(FILE *stream, const struct journal_event *ev)
{
        _cleanup_free_ char *line = NULL;
        size_t len;
        int r;

        r = journal_format_line(ev, &line);
        if (r < 0)
                return r;
        /* One fwrite of line + "\n" (the terminating NUL's place): stderr is unbuffered, and printf to
         * an unbuffered stream formats through an 8 KiB buffer on the stack (two pages touched). */
        len = strlen(line);
        line[len] = '\n';
        if (fwrite(line, 1, len + 1, stream) != len + 1 || fflush(stream) != 0)
                return -EIO;
        return 0;
}

/* Said once per run: why the entries now arrive on stderr instead of the journal. */
static void note(struct journal *j, const char *why, const char *detail)
{
        if (j->noted)
                return;
        j->noted = true;
        fprintf(j->stream, "pve-gpu-reset: %s (%s); logging to stderr\n", why, detail);
}

int journal_log(struct journal *j, const struct journal_event *ev)
{
        bool to_journal, to_stream, delivered = false;
        int r = 0;

        if (!ev)
                return -EINVAL;
        if (!j)
                return write_line(stderr, ev) < 0 ? -EIO : journal_event_valid(ev) ? 0 : -EINVAL;

        to_journal = j->mode != JOURNAL_MODE_STDERR && j->socket;
        to_stream = !to_journal || j->mode == JOURNAL_MODE_BOTH ||
                    (j->mode == JOURNAL_MODE_AUTO && effective_priority(ev) <= LOG_WARNING);

        if (to_journal) {
                struct journal_fields f;

                r = journal_fields_build(ev, &f);
                if (r >= 0) {
                        r = sd_journal_sendv(f.iov, (int)f.n);
                        journal_fields_done(&f);
                }
                if (r < 0) {
                        note(j, "cannot write to the journal", strerror(-r));
                        to_stream = true;
                } else
                        delivered = true;
        } else if (j->mode == JOURNAL_MODE_JOURNAL || j->mode == JOURNAL_MODE_BOTH)
                note(j, "no journald socket", JOURNAL_SOCKET);

        if (to_stream) {
                int k = write_line(j->stream, ev);

                if (k < 0 && !delivered)
                        return r < 0 ? r : k;
        }
        return journal_event_valid(ev) ? 0 : -EINVAL;
}

void journal_close(struct journal *j)
{
        free(j);
}
