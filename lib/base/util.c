/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1 /* asprintf, mkostemp */
#include "base/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void pgr_error_set(struct pgr_error *err, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return;
        va_start(ap, fmt);
        vsnprintf_ellipsis(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
}

bool vsnprintf_ellipsis(char *buf, size_t size, const char *fmt, va_list ap)
{
        static const char mark[] = "...";
        size_t end;
        int n;

        if (size == 0)
                return false;
        n = vsnprintf(buf, size, fmt, ap);
        if (n >= 0 && (size_t)n < size)
                return true;
        if (n < 0) {
                buf[0] = '\0';
                return false;
        }
        if (size < sizeof(mark))
                return false;
        /* cut before the mark, then back over UTF-8 continuation bytes to a character's start */
        end = size - sizeof(mark);
        while (end > 0 && ((unsigned char)buf[end] & 0xc0) == 0x80)
                end--;
        memcpy(buf + end, mark, sizeof(mark));
        return false;
}

bool snprintf_ellipsis(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;
        bool fit;

        va_start(ap, fmt);
        fit = vsnprintf_ellipsis(buf, size, fmt, ap);
        va_end(ap);
        return fit;
}

int parse_uint(const char *s, int base, unsigned long max, unsigned long *ret)
{
        char *end;
        unsigned long v;

        if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, base);
        if (errno == ERANGE || v > max)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

char *strstrip(char *s)
{
        size_t n;

        while (*s && isspace((unsigned char)*s))
                s++;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* Reads from fd until EOF, or until max bytes when cut (then quietly stops there); NUL-terminated. */
static int read_fd(int fd, size_t max, bool cut, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 4096;

        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                size_t want;
                ssize_t n;

                if (len + 1 >= cap) {
                        char *nbuf;

                        if (cap > max + 1)
                                return -EFBIG;
                        nbuf = realloc(buf, cap * 2);
                        if (!nbuf)
                                return -ENOMEM;
                        buf = nbuf;
                        cap *= 2;
                }
                want = cap - len - 1;
                if (cut && want > max - len)
                        want = max - len; /* never past max: len <= max throughout */
                if (want == 0)
                        break;
                n = read(fd, buf + len, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = buf;
        buf = NULL;
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
        return read_fd(fd, max, false, ret, ret_len);
}

int read_fd_prefix(int fd, size_t max, char **ret, size_t *ret_len)
{
        return read_fd(fd, max, true, ret, ret_len);
}

/* Reads a whole file of at most max bytes; NUL-terminated. -EFBIG past max. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = -1;

        /* A directory opens, and its first read(2) fails with EISDIR: no fstat needed to say so. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max, ret, ret_len);
}

int write_all(int fd, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, data, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                len -= (size_t)n;
        }
        return 0;
}

int dir_each(int dfd, int (*cb)(const char *name, void *userdata), void *userdata)
{
        char buf[2048] __attribute__((aligned(8)));

        for (;;) {
                ssize_t n = getdents64(dfd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                for (ssize_t off = 0; off < n;) {
                        const struct dirent64 *de = (const struct dirent64 *)(void *)(buf + off);
                        int r;

                        off += de->d_reclen;
                        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
                                continue;
                        r = cb(de->d_name, userdata);
                        if (r != 0)
                                return r;
                }
        }
}

int mkdir_p(const char *path, mode_t mode)
{
        char buf[PATH_MAX];
        size_t n = strlen(path);

        if (n == 0 || n >= sizeof(buf))
                return -ENAMETOOLONG;
        /* Mostly it is there already (every run's /run/pve-gpu-reset): one system call, not one per
         * component. Only a missing parent (ENOENT) walks down from the top. */
        if (mkdir(path, mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Temp file in the same directory, then rename: readers see the old or the new file, never half. */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
        _cleanup_free_ char *tmp = NULL;
        int fd, r;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, len);
        if (r == 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

unsigned nul_line(const char *text, size_t len)
{
        const char *nul = len ? memchr(text, '\0', len) : NULL;
        unsigned line = 1;

        if (!nul)
                return 0;
        for (const char *p = text; p < nul; p++)
                line += *p == '\n';
        return line;
}

int text_check(const char *text, size_t len, size_t max, const char *filename, const char *limit_note,
               struct pgr_error *err)
{
        unsigned nul;

        if (len > max) {
                pgr_error_set(err, "%s: larger than %zu bytes (%zu MiB)%s", filename, max, max >> 20, limit_note);
                return -EFBIG;
        }
        if (len > 0 && !text)
                return -EINVAL;
        nul = nul_line(text, len);
        if (nul) {
                pgr_error_set(err, "%s:%u: NUL byte in the file", filename, nul);
                return -EINVAL;
        }
        return 0;
}

int find_program(const char *name, char *buf, size_t size)
{
        const char *path = getenv("PATH");

        if (!path || !*path)
                path = FIND_PROGRAM_DEFAULT_PATH;
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, ":");
                struct stat st;
                int len;

                if (n > 0 && p[0] == '/') { /* relative and empty entries would mean the cwd: skip */
                        len = snprintf(buf, size, "%.*s/%s", (int)n, p, name);
                        if (len > 0 && (size_t)len < size && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
                            access(buf, X_OK) == 0)
                                return 0;
                }
                p += n;
                if (*p == ':')
                        p++;
        }
        return -ENOENT;
}

long long monotonic_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sleep_usec(long long usec)
{
        struct timespec ts = { .tv_sec = usec / 1000000, .tv_nsec = (usec % 1000000) * 1000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* The first line with something on it, trimmed, control characters replaced: one line for a table. */
void text_first_line(const char *s, char *buf, size_t size)
{
        size_t n = 0;

        buf[0] = '\0';
        if (!s)
                return;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
        for (; *s && *s != '\n' && n + 1 < size; s++)
                buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
        buf[n] = '\0';
        strstrip(buf);
}

void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

const char *text_quote(const char *s, size_t n, char *buf, size_t size)
{
        bool cut;
        size_t lim, o = 0;

        if (size == 0)
                return buf;
        cut = n > size - 1;
        lim = !cut ? n : size > 4 ? size - 4 : size - 1;
        for (size_t i = 0; i < lim; i++) {
                unsigned char ch = (unsigned char)s[i];

                buf[o++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
        }
        if (cut && size > 4) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o] = '\0';
        return buf;
}

#define TRUSTED_FIX_HINT "chown root:root %s; chmod 0644 %s"

/* The directory that holds a trusted file's name: whoever may write it can remove the file or put a
 * symlink in its place to a root-owned file whose content is theirs (an ISO uploaded through the
 * Proxmox API is root:root 0644), which passes every check on the file itself. Sticky (/tmp) is fine:
 * there only a name's owner may replace it. Returns the directory's fd, or -errno with err set. */
static int open_trusted_dir(const char *path, struct pgr_error *err)
{
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX];
        struct stat st;
        int dfd, r;

        if (!slash)
                snprintf(dir, sizeof(dir), ".");
        else if (slash == path)
                snprintf(dir, sizeof(dir), "/");
        else if ((size_t)(slash - path) < sizeof(dir))
                snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        else {
                pgr_error_set(err, "%s: path too long", path);
                return -ENAMETOOLONG;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                pgr_error_set(err, "%s: cannot open: %s", path, strerror(-r));
                return r;
        }
        if (fstat(dfd, &st) < 0) {
                r = -errno;
                pgr_error_set(err, "%s: cannot stat: %s", dir, strerror(-r));
                close(dfd);
                return r;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                pgr_error_set(err, "%s: its directory %s is owned by uid %u, not root; refusing it. Run: "
                              "chown root:root %s; chmod 0755 %s", path, dir, (unsigned)st.st_uid, dir, dir);
                close(dfd);
                return -EPERM;
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
                pgr_error_set(err, "%s: writable by %s (mode %04o), and so is %s; refusing it. Run: chmod 0755 %s",
                              dir, (st.st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st.st_mode & 07777),
                              path, dir);
                close(dfd);
                return -EPERM;
        }
        return dfd;
}

int read_trusted_file(const char *path, size_t max, char **ret, size_t *ret_len, struct pgr_error *err)
{
        _cleanup_close_ int dfd = -1, fd = -1;
        const char *slash = strrchr(path, '/');
        struct stat st;
        int r;

        dfd = open_trusted_dir(path, err);
        if (dfd < 0)
                return dfd;
        /* by name within the directory just checked: a rename of an ancestor cannot swap it */
        fd = openat(dfd, slash ? slash + 1 : path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                pgr_error_set(err, "%s: cannot open: %s", path, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                pgr_error_set(err, "%s: cannot stat: %s", path, strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                pgr_error_set(err, "%s: not a regular file", path);
                return -EINVAL;
        }
        /* Another user's file could steer what a root process does. Our own uid is no other user: a
         * non-root run (a package build's tests) can only harm itself. */
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                pgr_error_set(err, "%s: owned by uid %u, not root; refusing it. Run: " TRUSTED_FIX_HINT, path,
                              (unsigned)st.st_uid, path, path);
                return -EPERM;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                pgr_error_set(err, "%s: writable by %s (mode %04o); refusing it. Run: " TRUSTED_FIX_HINT, path,
                              (st.st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st.st_mode & 07777),
                              path, path);
                return -EPERM;
        }
        if (st.st_size > 0 && (size_t)st.st_size > max) {
                pgr_error_set(err, "%s: larger than %zu bytes", path, max);
                return -EFBIG;
        }
        r = read_full_fd(fd, max, ret, ret_len);
        if (r == -EFBIG)
                pgr_error_set(err, "%s: larger than %zu bytes", path, max);
        else if (r < 0)
                pgr_error_set(err, "%s: cannot read: %s", path, strerror(-r));
        return r;
}
