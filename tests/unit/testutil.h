/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* rm -rf: removes path and everything below it without following symlinks; 0 or -errno. */
int rm_rf(const char *path);

/* The repository's real fixture data (tests/fixtures/real, from $PGR_REAL as tests/run-unit.sh sets it);
 * aborts when unset, so a test can never pass by silently reading nothing. */
const char *real_fixtures(void);
