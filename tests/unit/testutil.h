/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* rm -rf: removes path and everything below it without following symlinks; 0 or -errno. */
int rm_rf(const char *path);
