/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/bench/timeit.c — a tiny process timing driver for the benchmarks (no hyperfine: no shell
 * between us and the program, fewer moving parts, and each child's peak RSS straight from wait4()).
 * Runs on the host (B1) and inside the e2e guest (B2, B3).
 *
 *   timeit [-n RUNS] [-w WARMUP] [-P] CASE [::: CASE]...
 *   CASE = -c NAME [-f SRC DST]... [-e VAR=VALUE]... [-o FILE] -- PROG [ARG]...
 *
 * Sequential mode (default): every case runs RUNS times after WARMUP untimed runs; the cases are
 * interleaved round-robin with a rotating start, so a slow drift of the machine (frequency, other
 * load) hits all of them alike. The wall time of one run is CLOCK_MONOTONIC from just before fork()
 * to wait4() returning.
 * Parallel mode (-P): a batch starts every case at once (one fork after the other, no waiting) and
 * waits for all; a case's time runs from the start of the batch to its exit, the batch's from its
 * start to the last exit. RUNS batches (WARMUP is ignored).
 *
 * -f copies SRC over DST before every run (untimed): restores state a run consumes, e.g. the "clean"
 * marks a no-op pre-start removes. -e sets an environment variable for the child. The child's stdin
 * is /dev/null; its stdout and stderr go to /dev/null, or are appended to FILE with -o.
 *
 * Output, one line per case (and in parallel mode one more, NAME "batch"):
 *   TIMEIT NAME runs=N median_us=.. p10_us=.. p90_us=.. iqr_us=.. min_us=.. max_us=.. user_us=.. sys_us=..
 *          rss_kb=.. rss_max_kb=.. fails=N
 * user_us and sys_us are the medians of the child's CPU time (ru_utime, ru_stime; tick-granular on
 * some kernels), rss_kb is the median and rss_max_kb the largest ru_maxrss (KiB) over the runs; fails counts runs
 * that did not exit 0. Exit status 0; 2 for bad usage; 1 when a run could not be started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CASES 32
#define MAX_COPIES 8
#define MAX_ENV 8

struct tcase {
        const char *name;
        char **argv;
        const char *copy_src[MAX_COPIES], *copy_dst[MAX_COPIES];
        int n_copies;
        char *env[MAX_ENV];
        int n_env;
        const char *out;
        double *wall_us, *user_us, *sys_us;
        long *rss_kb;
        int fails;
        pid_t pid; /* parallel mode: the running child */
};

static double now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int copy_file(const char *src, const char *dst)
{
        char buf[8192];
        ssize_t n;
        int in, out, r = 0;

        in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) {
                r = -errno;
                close(in);
                return r;
        }
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, (size_t)n) != n) {
                        r = -EIO;
                        break;
                }
        if (n < 0)
                r = -errno;
        close(in);
        close(out);
        return r;
}

static int prepare(const struct tcase *c)
{
        for (int i = 0; i < c->n_copies; i++)
                if (copy_file(c->copy_src[i], c->copy_dst[i]) < 0) {
                        fprintf(stderr, "timeit: %s: cannot copy %s to %s\n", c->name, c->copy_src[i], c->copy_dst[i]);
                        return -EIO;
                }
        return 0;
}

/* Forks and execs c; the child's output goes to devnull or c->out. */
static pid_t start(const struct tcase *c, int devnull)
{
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        dup2(devnull, 0);
        if (c->out) {
                int fd = open(c->out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

                if (fd < 0)
                        _exit(126);
                dup2(fd, 1);
                dup2(fd, 2);
        } else {
                dup2(devnull, 1);
                dup2(devnull, 2);
        }
        for (int i = 0; i < c->n_env; i++)
                putenv(c->env[i]);
        execv(c->argv[0], c->argv);
        _exit(127);
}

static void record(struct tcase *c, int run, double us, const struct rusage *ru, int status)
{
        if (run < 0)
                return;
        c->wall_us[run] = us;
        c->user_us[run] = (double)ru->ru_utime.tv_sec * 1e6 + (double)ru->ru_utime.tv_usec;
        c->sys_us[run] = (double)ru->ru_stime.tv_sec * 1e6 + (double)ru->ru_stime.tv_usec;
        c->rss_kb[run] = ru->ru_maxrss;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                c->fails++;
}

static int run_sequential(struct tcase *cases, int n_cases, int runs, int warmup, int devnull)
{
        for (int r = -warmup; r < runs; r++)
                for (int k = 0; k < n_cases; k++) {
                        /* rotate the order so no case always follows the same one */
                        struct tcase *c = &cases[(k + (r < 0 ? 0 : r)) % n_cases];
                        struct rusage ru;
                        double t0;
                        pid_t pid;
                        int status;

                        if (prepare(c) < 0)
                                return -EIO;
                        t0 = now_us();
                        pid = start(c, devnull);
                        if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) {
                                fprintf(stderr, "timeit: %s: cannot run %s: %m\n", c->name, c->argv[0]);
                                return -errno;
                        }
                        record(c, r, now_us() - t0, &ru, status);
                }
        return 0;
}

static int run_parallel(struct tcase *cases, int n_cases, int runs, int devnull, double *batch_us)
{
        for (int r = 0; r < runs; r++) {
                int left = n_cases;
                double t0;

                for (int k = 0; k < n_cases; k++)
                        if (prepare(&cases[k]) < 0)
                                return -EIO;
                t0 = now_us();
                for (int k = 0; k < n_cases; k++) {
                        cases[k].pid = start(&cases[k], devnull);
                        if (cases[k].pid < 0) {
                                fprintf(stderr, "timeit: %s: cannot fork: %m\n", cases[k].name);
                                return -errno;
                        }
                }
                while (left > 0) {
                        struct rusage ru;
                        int status;
                        pid_t pid = wait4(-1, &status, 0, &ru);
                        double t = now_us() - t0;

                        if (pid < 0)
                                return -errno;
                        for (int k = 0; k < n_cases; k++)
                                if (cases[k].pid == pid) {
                                        record(&cases[k], r, t, &ru, status);
                                        cases[k].pid = 0;
                                        left--;
                                }
                        batch_us[r] = t;
                }
        }
        return 0;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b)
{
        long x = *(const long *)a, y = *(const long *)b;

        return (x > y) - (x < y);
}

/* Quantile of sorted v[0..n) by linear interpolation. */
static double quantile(const double *v, int n, double q)
{
        double pos = q * (n - 1);
        int i = (int)pos;

        if (i + 1 >= n)
                return v[n - 1];
        return v[i] + (v[i + 1] - v[i]) * (pos - i);
}

static void report(const char *name, double *us, double *user, double *sys, long *rss, int runs, int fails)
{
        qsort(us, (size_t)runs, sizeof(double), cmp_double);
        if (user)
                qsort(user, (size_t)runs, sizeof(double), cmp_double);
        if (sys)
                qsort(sys, (size_t)runs, sizeof(double), cmp_double);
        if (rss)
                qsort(rss, (size_t)runs, sizeof(long), cmp_long);
        printf("TIMEIT %s runs=%d median_us=%.0f p10_us=%.0f p90_us=%.0f iqr_us=%.0f min_us=%.0f max_us=%.0f "
               "user_us=%.0f sys_us=%.0f rss_kb=%ld rss_max_kb=%ld fails=%d\n",
               name, runs, quantile(us, runs, 0.5), quantile(us, runs, 0.1), quantile(us, runs, 0.9),
               quantile(us, runs, 0.75) - quantile(us, runs, 0.25), us[0], us[runs - 1],
               user ? quantile(user, runs, 0.5) : 0.0, sys ? quantile(sys, runs, 0.5) : 0.0, rss ? rss[runs / 2] : 0L,
               rss ? rss[runs - 1] : 0L, fails);
}

static int usage(void)
{
        fputs("usage: timeit [-n RUNS] [-w WARMUP] [-P] -c NAME [-f SRC DST]... [-e VAR=VAL]... [-o FILE] -- PROG [ARG]...\n"
              "              [::: -c NAME ...]\n",
              stderr);
        return 2;
}

int main(int argc, char **argv)
{
        struct tcase cases[MAX_CASES] = {};
        int n_cases = 0, runs = 200, warmup = 10, devnull, i = 1, r;
        bool parallel = false;
        double *batch_us = NULL;

        while (i < argc && strcmp(argv[i], "-c") != 0) {
                if (strcmp(argv[i], "-P") == 0) {
                        parallel = true;
                        i++;
                        continue;
                }
                if (i + 1 >= argc)
                        return usage();
                if (strcmp(argv[i], "-n") == 0)
                        runs = atoi(argv[i + 1]);
                else if (strcmp(argv[i], "-w") == 0)
                        warmup = atoi(argv[i + 1]);
                else
                        return usage();
                i += 2;
        }
        if (runs < 1 || warmup < 0)
                return usage();
        while (i < argc) {
                struct tcase *c;

                if (strcmp(argv[i], "-c") != 0 || i + 1 >= argc || n_cases == MAX_CASES)
                        return usage();
                c = &cases[n_cases++];
                c->name = argv[i + 1];
                i += 2;
                while (i < argc && strcmp(argv[i], "--") != 0) {
                        if (i + 1 >= argc)
                                return usage();
                        if (strcmp(argv[i], "-f") == 0 && c->n_copies < MAX_COPIES && i + 2 < argc) {
                                c->copy_src[c->n_copies] = argv[i + 1];
                                c->copy_dst[c->n_copies++] = argv[i + 2];
                                i++;
                        } else if (strcmp(argv[i], "-e") == 0 && c->n_env < MAX_ENV && strchr(argv[i + 1], '=')) {
                                c->env[c->n_env++] = argv[i + 1];
                        } else if (strcmp(argv[i], "-o") == 0) {
                                c->out = argv[i + 1];
                        } else {
                                return usage();
                        }
                        i += 2;
                }
                if (i + 1 >= argc)
                        return usage();
                c->argv = &argv[++i];
                while (i < argc && strcmp(argv[i], ":::") != 0)
                        i++;
                if (i < argc)
                        argv[i++] = NULL; /* ends this case's argv */
                c->wall_us = calloc((size_t)runs, sizeof(double));
                c->user_us = calloc((size_t)runs, sizeof(double));
                c->sys_us = calloc((size_t)runs, sizeof(double));
                c->rss_kb = calloc((size_t)runs, sizeof(long));
                if (!c->wall_us || !c->user_us || !c->sys_us || !c->rss_kb)
                        return 1;
        }
        if (n_cases == 0)
                return usage();
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0)
                return 1;
        fflush(stdout);

        if (parallel) {
                batch_us = calloc((size_t)runs, sizeof(double));
                if (!batch_us)
                        return 1;
                r = run_parallel(cases, n_cases, runs, devnull, batch_us);
        } else {
                r = run_sequential(cases, n_cases, runs, warmup, devnull);
        }
        if (r < 0)
                return 1;

        for (int k = 0; k < n_cases; k++) {
                report(cases[k].name, cases[k].wall_us, cases[k].user_us, cases[k].sys_us, cases[k].rss_kb, runs,
                       cases[k].fails);
                free(cases[k].wall_us);
                free(cases[k].user_us);
                free(cases[k].sys_us);
                free(cases[k].rss_kb);
        }
        if (batch_us) {
                report("batch", batch_us, NULL, NULL, NULL, runs, 0);
                free(batch_us);
        }
        close(devnull);
        return 0;
}
