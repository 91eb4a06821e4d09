/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the unit tests (linked into every test binary). */
#define _GNU_SOURCE 1
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

int rm_rf(const char *path)
{
        return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}

const char *real_fixtures(void)
{
        const char *dir = getenv("PGR_REAL");

        if (!dir || !*dir) {
                fprintf(stderr, "PGR_REAL is not set: run the unit tests through tests/run-unit.sh\n");
                abort();
        }
        return dir;
}

void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "cannot write %s\n", path);
                abort();
        }
}
