/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel log as facts: known messages about PCI devices, from /dev/kmsg, kern.log or the journal,
 * each classified and tied to the device it names. What they mean and what to do is doctor's
 * (doctor/doctor_kmsg.c); the hook reads the same facts for its dead-card line (reset/apply.c). */
#define _GNU_SOURCE 1 /* strcasestr */
#include "kernel/kmsg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>

#include "base/util.h"

#define KMSG_TAIL_MAX (4 * 1024 * 1024)
#define KMSG_JOURNAL_MAX 100000

/* What a kind is called and whether it concerns the host rather than the device a line names. */
static const struct {
        const char *name;
        bool host_wide;
} kinds[_KMSG_KIND_MAX] = {
        [KMSG_FLR_NOT_READY] = { "flr-not-ready", false },
        [KMSG_BUS_RESET_NOT_READY] = { "bus-reset-not-ready", false },
        [KMSG_RESUME_NOT_READY] = { "resume-not-ready", false },
        [KMSG_NOT_READY] = { "not-ready", false },
        [KMSG_D3COLD] = { "d3cold", false },
        [KMSG_POWER_REFUSED] = { "power-refused", false },
        [KMSG_LINK_DOWN] = { "link-down", false },
        [KMSG_GROUP_NOT_OWNED] = { "group-not-owned", false },
        [KMSG_CANNOT_RESET] = { "cannot-reset", false },
        [KMSG_NO_IOMMU] = { "no-iommu", true },
        [KMSG_AMD_VI_OPTION] = { "amd-vi-option", true },
        [KMSG_ACS_VIOLATION] = { "acs-violation", false },
        [KMSG_ACS_OVERRIDE] = { "acs-override", true },
        [KMSG_FALLEN_OFF_BUS] = { "fallen-off-bus", false },
        [KMSG_DRIVER_INIT_FAILED] = { "driver-init-failed", false },
        [KMSG_XID] = { "xid", false },
        [KMSG_AER_UNCORRECTABLE] = { "aer-uncorrectable", false },
        [KMSG_AER_CORRECTABLE] = { "aer-correctable", false },
        [KMSG_BAR_RESERVE] = { "bar-reserve", false },
        [KMSG_BAR_EFIFB] = { "bar-efifb", false },
        [KMSG_BAR_ASSIGN] = { "bar-assign", false },
        [KMSG_IOMMU_FAULT] = { "iommu-fault", false },
        [KMSG_ROM] = { "rom", false },
        [KMSG_SOFT_LOCKUP] = { "soft-lockup", true },
};

const char *kmsg_kind_to_string(enum kmsg_kind k)
{
        return (size_t)k < ELEMENTSOF(kinds) ? kinds[k].name : "unknown";
}

bool kmsg_kind_host_wide(enum kmsg_kind k)
{
        return (size_t)k < ELEMENTSOF(kinds) && kinds[k].host_wide;
}

static int classify(const char *m)
{
        if (strstr(m, "not ready")) {
                if (strstr(m, "after FLR"))
                        return KMSG_FLR_NOT_READY;
                if (strstr(m, "after bus reset"))
                        return KMSG_BUS_RESET_NOT_READY;
                if (strstr(m, "after resume"))
                        return KMSG_RESUME_NOT_READY;
                if (strstr(m, "ms after"))
                        return KMSG_NOT_READY;
        }
        if (strstr(m, "Unable to change power state from D3cold"))
                return KMSG_D3COLD;
        if (strstr(m, "Refused to change power state"))
                return KMSG_POWER_REFUSED;
        if (strstr(m, "Data Link Layer Link Active not set"))
                return KMSG_LINK_DOWN;
        if (strstr(m, "depends on group") && strstr(m, "not owned"))
                return KMSG_GROUP_NOT_OWNED;
        if (strcasestr(m, "cannot reset device") || strstr(m, "failed to reset") ||
            strstr(m, "Inappropriate ioctl for device"))
                return KMSG_CANNOT_RESET;
        if (strcasestr(m, "no IOMMU groups found") || strstr(m, "no iommu_group found") || strstr(m, "DMAR: IOMMU disabled") ||
            strstr(m, "no IOMMU?"))
                return KMSG_NO_IOMMU;
        if (strstr(m, "AMD-Vi: Unknown option"))
                return KMSG_AMD_VI_OPTION;
        if (strstr(m, "ACSViol"))
                return KMSG_ACS_VIOLATION;
        if (strstr(m, "ACS overrides enabled"))
                return KMSG_ACS_OVERRIDE;
        if (strstr(m, "fallen off the bus"))
                return KMSG_FALLEN_OFF_BUS;
        if (strstr(m, "RmInitAdapter failed") || strstr(m, "Fatal error during GPU init"))
                return KMSG_DRIVER_INIT_FAILED;
        if (strstr(m, "NVRM: Xid"))
                return KMSG_XID;
        if (strstr(m, "severity=Uncorrect") || (strstr(m, "AER:") && (strstr(m, "Uncorrect") || strstr(m, "recovery failed"))))
                return KMSG_AER_UNCORRECTABLE;
        if (strstr(m, "severity=Correct") || (strstr(m, "AER:") && strstr(m, "Correct")))
                return KMSG_AER_CORRECTABLE;
        if (strstr(m, "BAR") && strstr(m, "can't reserve"))
                return KMSG_BAR_RESERVE;
        if (strstr(m, "assigned to efifb"))
                return KMSG_BAR_EFIFB;
        if (strstr(m, "BAR") && (strstr(m, "can't assign") || strstr(m, "failed to assign")))
                return KMSG_BAR_ASSIGN;
        if (strstr(m, "DMAR: [DMA") || strstr(m, "PTE Read access is not set") || strstr(m, "PTE Write access is not set") ||
            strstr(m, "IO_PAGE_FAULT"))
                return KMSG_IOMMU_FAULT;
        if (strstr(m, "Invalid PCI ROM header signature"))
                return KMSG_ROM;
        if (strstr(m, "soft lockup"))
                return KMSG_SOFT_LOCKUP;
        return -1;
}

static bool is_hex(char c)
{
        return isxdigit((unsigned char)c);
}

/* The first full PCI address in the message (DDDD:BB:DD.F), or NVRM's "PCI:DDDD:BB:DD". */
static bool find_slot(const char *m, char slot[static PCI_ADDR_STRLEN])
{
        for (const char *p = m; *p; p++) {
                struct pci_addr a;
                char buf[16];

                bool nvrm = p >= m + 4 && strncmp(p - 4, "PCI:", 4) == 0;

                /* Inside a longer hex run or address; NVRM's "PCI:" prefix ends in ':' too. */
                if (p > m && (is_hex(p[-1]) || (p[-1] == ':' && !nvrm)))
                        continue;
                if (!(is_hex(p[0]) && is_hex(p[1]) && is_hex(p[2]) && is_hex(p[3]) && p[4] == ':' && is_hex(p[5]) &&
                      is_hex(p[6]) && p[7] == ':' && is_hex(p[8]) && is_hex(p[9])))
                        continue;
                if (p[10] == '.' && p[11] >= '0' && p[11] <= '7' && !is_hex(p[12]))
                        snprintf(buf, sizeof(buf), "%.12s", p);
                else if (nvrm && !is_hex(p[10]) && p[10] != '.')
                        snprintf(buf, sizeof(buf), "%.10s.0", p);
                else
                        continue;
                if (pci_addr_parse_full(buf, &a) == 0) {
                        pci_addr_format(&a, slot);
                        return true;
                }
        }
        /* DMAR faults name the requester without domain: "Request device [00:02.0]" */
        for (const char *p = strstr(m, "device ["); p; p = strstr(p + 1, "device [")) {
                struct pci_addr a;
                char buf[16];

                p += 8;
                if (is_hex(p[0]) && is_hex(p[1]) && p[2] == ':' && is_hex(p[3]) && is_hex(p[4]) && p[5] == '.' &&
                    p[6] >= '0' && p[6] <= '7' && p[7] == ']') {
                        snprintf(buf, sizeof(buf), "0000:%.7s", p);
                        if (pci_addr_parse_full(buf, &a) == 0) {
                                pci_addr_format(&a, slot);
                                return true;
                        }
                }
        }
        return false;
}

struct kmsg_log *kmsg_log_new(void)
{
        return calloc(1, sizeof(struct kmsg_log));
}

void kmsg_log_free(struct kmsg_log *log)
{
        if (!log)
                return;
        free(log->v);
        free(log);
}

static int add_message(struct kmsg_log *log, const char *time, const char *msg)
{
        struct kmsg_event *e = NULL;
        char slot[PCI_ADDR_STRLEN] = "";
        int kind;

        log->n_lines++;
        kind = classify(msg);
        if (kind < 0)
                return 0;
        if (!kinds[kind].host_wide)
                find_slot(msg, slot);
        for (size_t i = 0; i < log->n && !e; i++)
                if (log->v[i].kind == (enum kmsg_kind)kind && streq(log->v[i].slot, slot))
                        e = &log->v[i];
        if (!e) {
                if (log->n == log->alloc) {
                        size_t alloc = log->alloc ? log->alloc * 2 : 16;
                        struct kmsg_event *v = realloc(log->v, alloc * sizeof(*v));

                        if (!v)
                                return -ENOMEM;
                        log->v = v;
                        log->alloc = alloc;
                }
                e = &log->v[log->n++];
                memset(e, 0, sizeof(*e));
                e->kind = (enum kmsg_kind)kind;
                snprintf(e->slot, sizeof(e->slot), "%s", slot);
                snprintf(e->first_time, sizeof(e->first_time), "%s", time);
        }
        e->count++;
        snprintf(e->time, sizeof(e->time), "%s", time);
        snprintf(e->text, sizeof(e->text), "%s", msg);
        return 0;
}

/* One message being assembled from continuation lines. */
struct pending {
        bool active;
        bool kmsg;              /* a /dev/kmsg record: its " KEY=value" lines are metadata */
        char time[40];
        char text[2048];
        size_t len;
};

static int flush(struct kmsg_log *log, struct pending *p)
{
        int r = 0;

        if (p->active && p->len)
                r = add_message(log, p->time, p->text);
        p->active = false;
        p->len = 0;
        p->text[0] = '\0';
        p->time[0] = '\0';
        return r;
}

static void append(struct pending *p, const char *s, size_t n)
{
        if (p->len && p->len + 1 < sizeof(p->text))
                p->text[p->len++] = ' ';
        if (n > sizeof(p->text) - 1 - p->len)
                n = sizeof(p->text) - 1 - p->len;
        memcpy(p->text + p->len, s, n);
        p->len += n;
        p->text[p->len] = '\0';
}

static const char *skip_blanks(const char *s, const char *end)
{
        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        return s;
}

/* "[  123.456789]" → its length, 0 if not one. */
static size_t bracket_time(const char *s, const char *end)
{
        const char *p = s + 1;
        bool digit = false, dot = false;

        if (s >= end || *s != '[')
                return 0;
        while (p < end && *p == ' ')
                p++;
        for (; p < end && (isdigit((unsigned char)*p) || *p == '.'); p++) {
                if (*p == '.')
                        dot = true;
                else
                        digit = true;
        }
        if (p >= end || *p != ']' || !digit || !dot)
                return 0;
        return (size_t)(p - s) + 1;
}

/* "Sep 19 16:18:02 host ident: " or "2024-09-22T09:59:09[.frac][+zone] host ident: " → the length of
 * the prefix, the time in time. */
static size_t syslog_prefix(const char *s, const char *end, char *time, size_t time_size)
{
        const char *p = s, *t_end;
        size_t n = (size_t)(end - s);

        if (n >= 16 && isupper((unsigned char)s[0]) && islower((unsigned char)s[1]) && islower((unsigned char)s[2]) &&
            s[3] == ' ' && (isdigit((unsigned char)s[4]) || s[4] == ' ') && isdigit((unsigned char)s[5]) && s[6] == ' ' &&
            isdigit((unsigned char)s[7]) && isdigit((unsigned char)s[8]) && s[9] == ':' && s[12] == ':' && s[15] == ' ')
                t_end = s + 15;
        else if (n >= 20 && isdigit((unsigned char)s[0]) && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':') {
                t_end = s + 19;
                while (t_end < end && *t_end != ' ')
                        t_end++;
        } else
                return 0;
        p = t_end + 1;
        /* host */
        while (p < end && *p != ' ' && *p != ':')
                p++;
        if (p >= end || *p != ' ')
                return 0;
        p++;
        /* ident, up to ": " */
        while (p < end && *p != ' ' && *p != ':')
                p++;
        if (p >= end || *p != ':')
                return 0;
        p++;
        snprintf(time, time_size, "%.*s", (int)(t_end - s), s);
        return (size_t)(p - s);
}

/* "prio,seq,usec,flags;" → its length and the time, 0 if not one. */
static size_t kmsg_prefix(const char *s, const char *end, char *time, size_t time_size)
{
        unsigned long long usec = 0;
        const char *p = s;
        int field = 0;

        for (; p < end && *p != ';'; p++) {
                if (*p == ',') {
                        field++;
                        continue;
                }
                if (field < 3 && !isdigit((unsigned char)*p))
                        return 0;
                if (field == 2)
                        usec = usec * 10 + (unsigned long long)(*p - '0');
        }
        /* flags, then optional ",caller=T42" and the like (CONFIG_PRINTK_CALLER) */
        if (p >= end || field < 3 || p == s)
                return 0;
        snprintf(time, time_size, "[%5llu.%06llu]", usec / 1000000, usec % 1000000);
        return (size_t)(p - s) + 1;
}

static int parse_line(struct kmsg_log *log, struct pending *pend, const char *s, const char *end)
{
        char time[40] = "";
        size_t n;
        int r;

        /* mail quotes */
        for (;;) {
                const char *q = skip_blanks(s, end);

                if (q < end && *q == '>' && (q + 1 == end || q[1] == ' ' || q[1] == '>'))
                        s = q + 1 + (q + 1 < end && q[1] == ' ');
                else
                        break;
        }
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
        if (s == end)
                return flush(log, pend);
        if (pend->kmsg && (*s == ' ' || *s == '\t'))
                return 0; /* a kmsg record's KEY=value metadata */
        n = kmsg_prefix(s, end, time, sizeof(time));
        if (n) {
                r = flush(log, pend);
                if (r < 0)
                        return r;
                pend->active = true;
                pend->kmsg = true;
                snprintf(pend->time, sizeof(pend->time), "%s", time);
                append(pend, s + n, (size_t)(end - s - n));
                return 0;
        }
        n = syslog_prefix(s, end, time, sizeof(time));
        if (n)
                s = skip_blanks(s + n, end);
        if ((n = bracket_time(s, end))) {
                if (!time[0])
                        snprintf(time, sizeof(time), "%.*s", (int)n, s);
                s = skip_blanks(s + n, end);
        }
        if (time[0]) {
                r = flush(log, pend);
                if (r < 0)
                        return r;
                pend->active = true;
                pend->kmsg = false;
                snprintf(pend->time, sizeof(pend->time), "%s", time);
                append(pend, s, (size_t)(end - s));
                return 0;
        }
        /* No time stamp: continues a time-stamped message before it (mail-wrapped, or NVRM's indented
         * continuation lines), else stands alone ("kernel: msg" as journalctl -o cat shows it). */
        s = skip_blanks(s, end);
        if (pend->active && pend->time[0]) {
                append(pend, s, (size_t)(end - s));
                return 0;
        }
        r = flush(log, pend);
        if (r < 0)
                return r;
        if ((size_t)(end - s) > 8 && strncmp(s, "kernel: ", 8) == 0)
                s += 8;
        pend->active = true;
        pend->kmsg = false;
        append(pend, s, (size_t)(end - s));
        return 0;
}

int kmsg_parse_text(struct kmsg_log *log, const char *text, size_t len)
{
        struct pending *pend = calloc(1, sizeof(*pend));
        const char *p = text, *end = text + len;
        int r = 0;

        if (!pend)
                return -ENOMEM;
        while (p < end && r >= 0) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));

                if (!eol)
                        eol = end;
                r = parse_line(log, pend, p, eol);
                p = eol + 1;
        }
        if (r >= 0)
                r = flush(log, pend);
        free(pend);
        return r;
}

static int read_tail(int fd, char **ret, size_t *ret_len)
{
        struct stat st;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        off_t start = 0;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size > KMSG_TAIL_MAX)
                start = st.st_size - KMSG_TAIL_MAX;
        if (start && lseek(fd, start, SEEK_SET) < 0)
                return -errno;
        r = read_fd_prefix(fd, KMSG_TAIL_MAX, &buf, &len);
        if (r < 0)
                return r;
        if (start) {
                /* the first line is cut: drop it */
                char *nl = memchr(buf, '\n', len);
                size_t skip = nl ? (size_t)(nl - buf) + 1 : len;

                memmove(buf, buf + skip, len - skip + 1);
                len -= skip;
        }
        *ret = buf;
        buf = NULL;
        *ret_len = len;
        return 0;
}

/* /dev/kmsg as the kernel offers it: one record per read(), non-blocking until EAGAIN. */
static int read_kmsg_device(struct kmsg_log *log, int fd)
{
        char buf[8192];
        size_t records = 0;

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                int r;

                if (n < 0) {
                        if (errno == EINTR || errno == EPIPE) /* EPIPE: records were overwritten */
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return records ? 0 : -errno;
                }
                if (n == 0)
                        break;
                r = kmsg_parse_text(log, buf, (size_t)n);
                if (r < 0)
                        return r;
                records++;
        }
        return 0;
}

static int try_file(const struct pgr_ctx *ctx, struct kmsg_log *log, const char *abs)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
        char path[PATH_MAX];
        struct stat st;
        size_t len = 0;
        int r;

        r = pgr_path(ctx, path, sizeof(path), abs);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISCHR(st.st_mode))
                r = read_kmsg_device(log, fd);
        else if (S_ISREG(st.st_mode)) {
                r = read_tail(fd, &text, &len);
                if (r >= 0)
                        r = kmsg_parse_text(log, text, len);
        } else
                r = -EINVAL;
        if (r < 0)
                return r;
        snprintf(log->source, sizeof(log->source), "%s", abs);
        log->available = true;
        return 0;
}

/* The journal's kernel messages of this boot: for hosts where /dev/kmsg is not readable
 * (dmesg_restrict) and rsyslog is not installed. Real root only. */
static int try_journal(struct kmsg_log *log)
{
        sd_journal *j = NULL;
        sd_id128_t boot;
        char match[64], sboot[SD_ID128_STRING_MAX];
        size_t n = 0;
        int r;

        r = sd_id128_get_boot(&boot);
        if (r < 0)
                return r;
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0)
                return r;
        snprintf(match, sizeof(match), "_BOOT_ID=%s", sd_id128_to_string(boot, sboot));
        r = sd_journal_add_match(j, "_TRANSPORT=kernel", 0);
        if (r >= 0)
                r = sd_journal_add_match(j, match, 0);
        if (r >= 0)
                r = sd_journal_seek_head(j);
        while (r >= 0 && n < KMSG_JOURNAL_MAX && sd_journal_next(j) > 0) {
                const void *data;
                size_t len;
                uint64_t usec;
                char time[40] = "", msg[2048];

                if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0 || len < 8)
                        continue;
                if (sd_journal_get_monotonic_usec(j, &usec, NULL) >= 0)
                        snprintf(time, sizeof(time), "[%5llu.%06llu]", (unsigned long long)(usec / 1000000),
                                 (unsigned long long)(usec % 1000000));
                snprintf(msg, sizeof(msg), "%.*s", (int)(len - 8), (const char *)data + 8);
                r = add_message(log, time, msg);
                n++;
        }
        sd_journal_close(j);
        if (r < 0)
                return r;
        if (n == 0)
                return -ENOENT;
        snprintf(log->source, sizeof(log->source), "journal (kernel messages of this boot)");
        log->available = true;
        return 0;
}

int kmsg_load(const struct pgr_ctx *ctx, struct kmsg_log **ret)
{
        struct kmsg_log *log = kmsg_log_new();
        int r;

        if (!log)
                return -ENOMEM;
        r = try_file(ctx, log, "/dev/kmsg");
        if (r < 0 && r != -ENOMEM) {
                log->n = log->n_lines = 0;
                r = try_file(ctx, log, "/var/log/kern.log");
        }
        if (r < 0 && r != -ENOMEM && !ctx->root[0]) {
                log->n = log->n_lines = 0;
                r = try_journal(log);
        }
        if (r == -ENOMEM) {
                kmsg_log_free(log);
                return r;
        }
        *ret = log;
        return 0;
}

const struct kmsg_event *kmsg_log_find(const struct kmsg_log *log, enum kmsg_kind kind, const char *slot)
{
        for (size_t i = 0; i < log->n; i++)
                if (log->v[i].kind == kind && (!slot || streq(log->v[i].slot, slot)))
                        return &log->v[i];
        return NULL;
}
