/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

/* Cleanup helpers in the style of systemd: every early return frees. */
static inline void freep(void *p) { free(*(void **)p); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_(f) __attribute__((cleanup(f)))
/* For a helper with big buffers (paths, messages) that its caller must not inline: inlined, they sit
 * in the caller's frame for the whole call below it, and every 4 KiB of stack the hook touches is a
 * page fault of every run (tests/bench/analysis.md). */
#define _noinline_ __attribute__((noinline))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)

/* An error message for the edge (hook/CLI) to print once: the library fills it, never prints.
 * It names the object (file:line, JSON key, argument, device). Room for a whole path under the
 * root prefix and what is said about it; a longer one ends in "..." (snprintf_ellipsis). */
struct pgr_error {
        char msg[4096 + 1024];
};

void pgr_error_set(struct pgr_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* snprintf into a fixed buffer, where a text too long for it ends in "..." (never inside a UTF-8
 * character) so that a reader sees it was cut. True when the whole text fit. */
bool snprintf_ellipsis(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool vsnprintf_ellipsis(char *buf, size_t size, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* Parsing helpers that reject trailing garbage and overflow. */
int parse_uint(const char *s, int base, unsigned long max, unsigned long *ret);
char *strstrip(char *s); /* trims ASCII whitespace in place */
/* Copies s for an error message: control and non-ASCII bytes become '?', long text ends in "...". */
#define TEXT_QUOTE_MAX 128
const char *text_quote(const char *s, size_t n, char *buf, size_t size);
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len);
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* The same, but past max bytes it stops there without an error (a log's tail). */
int read_fd_prefix(int fd, size_t max, char **ret, size_t *ret_len);
int write_all(int fd, const char *data, size_t len); /* loops over short writes and EINTR */
/* Every entry of the open directory dfd but "." and "..", read with getdents64(2) into a buffer on the
 * stack: what readdir(3) gives, without opendir's 32 KiB allocation and its fstat (directory listings
 * are most of a hook run's system calls). cb returns 0 to go on, anything else stops the walk and is
 * returned. dfd stays open and the caller's; -errno when the directory cannot be read. */
int dir_each(int dfd, int (*cb)(const char *name, void *userdata), void *userdata);
int mkdir_p(const char *path, mode_t mode);           /* every missing component; EEXIST is fine */
/* Temp file in the same directory, fsync, rename: readers see the old or the new file, never half. */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode);
/* An executable regular file called name in an absolute $PATH entry (unset or empty $PATH:
 * FIND_PROGRAM_DEFAULT_PATH); relative and empty entries are skipped, they would mean the cwd.
 * The full path goes to buf. -ENOENT when there is none. */
#define FIND_PROGRAM_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
int find_program(const char *name, char *buf, size_t size);
/* The first line of s with something on it, trimmed, control characters replaced: one line for a
 * table or a message ("" when there is none). */
void text_first_line(const char *s, char *buf, size_t size);
/* CLOCK_MONOTONIC in microseconds: every duration and deadline. */
long long monotonic_usec(void);
/* Sleeps the whole time, across signals. */
void sleep_usec(long long usec);
/* The 1-based line of the first NUL byte in text, 0 when there is none. */
unsigned nul_line(const char *text, size_t len);
/* Frees the n strings of v, then v. */
void strv_free(char **v, size_t n);
/* What every config reader checks first: at most max bytes (limit_note ends that message) and no
 * NUL byte (the message names its line). 0, -EFBIG or -EINVAL. */
int text_check(const char *text, size_t len, size_t max, const char *filename, const char *limit_note,
               struct pgr_error *err);
/* A file root acts on (a policy, a chained hookscript's record): opened once, checked on that fd
 * (fstat) and read whole. -EPERM when it or the directory holding its name is owned by another uid
 * than 0 or ours, or group/world-writable (the directory may be sticky; err says the chown/chmod that
 * fixes it), -EINVAL not a regular file, -EFBIG past max, -ENOENT and
 * other open errors as they are (err: "PATH: cannot open: ..."). */
int read_trusted_file(const char *path, size_t max, char **ret, size_t *ret_len, struct pgr_error *err);
