/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* rm -rf: removes path and everything below it without following symlinks; 0 or -errno. */
int rm_rf(const char *path);

/* The repository's real fixture data (tests/fixtures/real, from $PGR_REAL as tests/run-unit.sh sets it);
 * aborts when unset, so a test can never pass by silently reading nothing. */
const char *real_fixtures(void);

/* Writes text to path (created or truncated); aborts when it cannot, so a test never runs on a
 * fixture it did not set up. */
void write_text(const char *path, const char *text);
