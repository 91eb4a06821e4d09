/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared helpers of the libFuzzer targets (tests/fuzz/fuzz_*.c, built by tests/fuzz/run.sh).
 * Each target feeds one parser of outside input and checks what its header promises; a broken
 * promise aborts, which libFuzzer reports as a crash and keeps the input. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                              \
        do {                                                                                          \
                if (!(cond)) {                                                                        \
                        fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);     \
                        abort();                                                                      \
                }                                                                                     \
        } while (0)

/* malloc(size + 1) copy, NUL-terminated (an embedded NUL ends the C string early, as it would for
 * a string from argv or a sysfs read). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);

        if (!s)
                abort();
        if (size)
                memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

/* Exact-size copy without a terminator: a parser that takes (text, len) and reads text[len] is
 * caught by ASan (libFuzzer's own buffer is exact-size too; this is for slices of it). */
static inline char *fuzz_memdup(const uint8_t *data, size_t size)
{
        char *s = malloc(size ? size : 1);

        if (!s)
                abort();
        if (size)
                memcpy(s, data, size);
        return s;
}

/* Up to FUZZ_MAX_FIELDS NUL-separated strings; the bytes after the last separator are the rest
 * (rest/rest_size, binary, may hold NULs). Missing fields are "". One allocation (buf). */
#define FUZZ_MAX_FIELDS 16
struct fuzz_fields {
        char *buf;
        const char *f[FUZZ_MAX_FIELDS];
        const uint8_t *rest;
        size_t rest_size;
};

static inline void fuzz_fields_split(const uint8_t *data, size_t size, size_t n, struct fuzz_fields *ret)
{
        size_t pos = 0, i;

        if (n > FUZZ_MAX_FIELDS)
                abort();
        ret->buf = fuzz_strdup(data, size);
        for (i = 0; i < FUZZ_MAX_FIELDS; i++)
                ret->f[i] = "";
        for (i = 0; i < n && pos < size; i++) {
                const uint8_t *nul = memchr(data + pos, '\0', size - pos);
                size_t l = nul ? (size_t)(nul - (data + pos)) : size - pos;

                ret->f[i] = ret->buf + pos;
                pos += l + (nul ? 1 : 0);
        }
        ret->rest = data + pos;
        ret->rest_size = size - pos;
}

static inline void fuzz_fields_done(struct fuzz_fields *f)
{
        free(f->buf);
        f->buf = NULL;
}

/* A pgr_error message is a C string that fits its buffer. */
/* A PCI address as the parsers may return it: bus, slot and function in range; any 32-bit domain
 * (4 to 8 hex digits since Intel VMD, lib/base/bdf.h). */
#define FUZZ_ADDR_OK(a, min_func) \
        ((a).bus <= 0xff && (a).slot <= 0x1f && (a).func >= (min_func) && (a).func <= 7)

#define FUZZ_CHECK_ERRMSG(e) FUZZ_CHECK(memchr((e)->msg, '\0', sizeof((e)->msg)) != NULL)

/* Where targets that need files make their temp root: $FUZZ_TMPDIR (run.sh gives each target one
 * and removes it afterwards, also after a crash), else /dev/shm (fsync is free there), else
 * $TMPDIR or /tmp. */
static inline const char *fuzz_tmpdir(void)
{
        const char *t = getenv("FUZZ_TMPDIR");

        if (t && *t)
                return t;
        if (access("/dev/shm", W_OK) == 0)
                return "/dev/shm";
        t = getenv("TMPDIR");
        return t && *t ? t : "/tmp";
}
