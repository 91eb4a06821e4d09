/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

/* An external command's outcome: run without a shell, killed (with its process group) at the timeout. */
struct spawn_result {
        int status;                     /* exit status, 128+signal when killed, -1 did not run */
        bool timed_out;
        char *out, *err;                /* captured stdout and stderr, NUL-terminated (never NULL after run) */
        char error[128];                /* why it did not run (not found, fork failed), "" */
};

/* argv[0] is looked up on $PATH unless it holds a '/' (then it is used as given). stdin is /dev/null;
 * the child keeps no descriptor of ours beyond 0-2 (no lock of ours outlives us in a stuck child).
 * Returns 0 when it ran (whatever its status), -ENOENT when argv[0] is not found, other -errno for
 * pipe/fork failures (ret->error says which); -ENOMEM. ret is always initialised: spawn_result_done. */
int spawn_run(const char *const *argv, unsigned timeout_msec, struct spawn_result *ret);
void spawn_result_done(struct spawn_result *r);
static inline void spawn_result_donep(struct spawn_result *r) { spawn_result_done(r); }
