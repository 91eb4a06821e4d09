/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Running another program as the tool needs it: no shell, bounded, output captured, nothing of ours
 * inherited. Used for qm (verify) and modprobe (a start must load vfio-pci as Proxmox would). */
#define _GNU_SOURCE 1 /* pipe2, close_range */
#include "base/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

#define CMD_OUTPUT_MAX (1024 * 1024)   /* nvidia-smi -q is ~20 KiB; the rest is read and dropped */
#define CMD_REAP_GRACE_MSEC 5000       /* after SIGKILL: a process stuck in D state is left behind */

struct capture {
        int fd;
        char *buf;
        size_t len;
};

/* Reads what is there: 1 data (kept up to CMD_OUTPUT_MAX, the rest dropped), 0 nothing yet, -1 at
 * EOF or error (the fd is then closed). */
static int capture_read(struct capture *c)
{
        char tmp[4096];
        ssize_t n = read(c->fd, tmp, sizeof(tmp));

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0) {
                close(c->fd);
                c->fd = -1;
                return -1;
        }
        if (c->len < CMD_OUTPUT_MAX) {
                size_t take = (size_t)n < CMD_OUTPUT_MAX - c->len ? (size_t)n : CMD_OUTPUT_MAX - c->len;

                memcpy(c->buf + c->len, tmp, take);
                c->len += take;
                c->buf[c->len] = '\0';
        }
        return 1;
}

static int reap(pid_t pid, int *status, long long grace_msec)
{
        for (long long waited = 0;; waited += 10) {
                pid_t r = waitpid(pid, status, WNOHANG);

                if (r == pid)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (waited >= grace_msec)
                        return -ETIME;
                sleep_usec(10000);
        }
}

void spawn_result_done(struct spawn_result *c)
{
        free(c->out);
        free(c->err);
        c->out = c->err = NULL;
}

static int spawn_run_child(const char *const *argv, unsigned timeout_msec, struct spawn_result *c)
{
        char path[PATH_MAX];
        struct capture cap[2] = { { .fd = -1 }, { .fd = -1 } };
        int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, status = 0, r;
        long long deadline;
        pid_t pid;

        memset(c, 0, sizeof(*c));
        c->status = -1;
        c->out = calloc(1, CMD_OUTPUT_MAX + 1);
        c->err = calloc(1, CMD_OUTPUT_MAX + 1);
        if (!c->out || !c->err) {
                spawn_result_done(c);
                return -ENOMEM;
        }
        if (strchr(argv[0], '/')) {
                if ((size_t)snprintf(path, sizeof(path), "%s", argv[0]) >= sizeof(path) || access(path, X_OK) < 0) {
                        snprintf(c->error, sizeof(c->error), "%s: not an executable file", argv[0]);
                        return -ENOENT;
                }
        } else if (find_program(argv[0], path, sizeof(path)) < 0) {
                snprintf(c->error, sizeof(c->error), "%s not found on $PATH", argv[0]);
                return -ENOENT;
        }
        if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                snprintf(c->error, sizeof(c->error), "pipe: %s", strerror(-r));
                goto fail;
        }
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                snprintf(c->error, sizeof(c->error), "fork: %s", strerror(-r));
                goto fail;
        }
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

                /* its own process group, so a timeout kills what it started too */
                setpgid(0, 0);
                if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(out_pipe[1], STDOUT_FILENO) < 0 ||
                    dup2(err_pipe[1], STDERR_FILENO) < 0)
                        _exit(127);
                /* a lock of ours (flock lives while any descriptor of the open file does) must not
                 * stay held by a child we gave up on */
                (void)close_range(3, ~0U, 0);
                execv(path, (char *const *)(uintptr_t)argv);
                _exit(127);
        }
        setpgid(pid, pid); /* either this or the child's call wins the race; both mean the same */
        close(out_pipe[1]);
        close(err_pipe[1]);
        cap[0] = (struct capture){ .fd = out_pipe[0], .buf = c->out };
        cap[1] = (struct capture){ .fd = err_pipe[0], .buf = c->err };
        deadline = monotonic_usec() + (long long)timeout_msec * 1000;
        for (;;) {
                struct pollfd pfd[2];
                nfds_t n = 0;
                long long left = deadline - monotonic_usec();
                pid_t w;

                w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        /* what it left in the pipes; a daemon it started may keep them open: no waiting */
                        for (int i = 0; i < 2; i++)
                                if (cap[i].fd >= 0 && fcntl(cap[i].fd, F_SETFL, O_NONBLOCK) == 0)
                                        while (capture_read(&cap[i]) > 0)
                                                ;
                        c->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                        break;
                }
                if (left <= 0) {
                        c->timed_out = true;
                        kill(-pid, SIGKILL);
                        kill(pid, SIGKILL);
                        if (reap(pid, &status, CMD_REAP_GRACE_MSEC) == 0)
                                c->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                        break;
                }
                for (int i = 0; i < 2; i++)
                        if (cap[i].fd >= 0)
                                pfd[n++] = (struct pollfd){ .fd = cap[i].fd, .events = POLLIN };
                /* short ticks: the child's exit is noticed even while something else holds the pipes */
                if (poll(pfd, n, left > 100000 ? 100 : (int)(left / 1000) + 1) > 0)
                        for (nfds_t k = 0; k < n; k++)
                                if (pfd[k].revents)
                                        for (int i = 0; i < 2; i++)
                                                if (cap[i].fd == pfd[k].fd)
                                                        capture_read(&cap[i]);
                if (n == 0)
                        sleep_usec(10000);
        }
        for (int i = 0; i < 2; i++)
                if (cap[i].fd >= 0)
                        close(cap[i].fd);
        return 0;
fail:
        for (int i = 0; i < 2; i++) {
                if (out_pipe[i] >= 0)
                        close(out_pipe[i]);
                if (err_pipe[i] >= 0)
                        close(err_pipe[i]);
        }
        return r;
}

/* SIGCHLD at its default while the child runs: an ignored one (inherited across execve from whoever
 * ran us) has the kernel reap the child itself, and waitpid() fails with ECHILD: a command that
 * finished would be waited for until its timeout and taken for one that hung. */
int spawn_run(const char *const *argv, unsigned timeout_msec, struct spawn_result *c)
{
        struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
        int r;

        if (sigaction(SIGCHLD, &dfl, &old) < 0) {
                memset(c, 0, sizeof(*c));
                c->status = -1;
                return -errno;
        }
        r = spawn_run_child(argv, timeout_msec, c);
        (void)sigaction(SIGCHLD, &old, NULL);
        return r;
}
