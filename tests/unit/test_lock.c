/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Slot and bus locks under <root>/run/pve-gpu-reset (root-only, not /run/lock), in a temp root per test. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "testutil.h"

struct fixture {
        char root[64];
        struct pgr_ctx ctx;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        umask(0); /* so the modes we check are the ones the code asked for */
        strcpy(f->root, "/tmp/pgr-lock-XXXXXX");
        assert_non_null(mkdtemp(f->root));
        assert_int_equal(pgr_ctx_init(&f->ctx, f->root, "pve"), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        rm_rf(f->root);
        free(f);
        umask(022);
        return 0;
}

static void read_text(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        assert_true(fd >= 0);
        n = read(fd, buf, size - 1);
        assert_true(n >= 0);
        buf[n] = '\0';
        close(fd);
}

static void path_in(const struct fixture *f, char *buf, size_t size, const char *abs)
{
        snprintf(buf, size, "%s%s", f->root, abs);
}

/* The file a held lock is on (the lock keeps only its fd). */
static const char *held_path(const struct pgr_lock *l, char buf[static PATH_MAX])
{
        char link[64];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", l->fd);
        n = readlink(link, buf, PATH_MAX - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        return buf;
}

static const struct pci_addr gpu = { .domain = 0, .bus = 1, .slot = 0, .func = 0 };
static const struct pci_addr gpu_audio = { .domain = 0, .bus = 1, .slot = 0, .func = 1 };
static const struct pci_addr other_card = { .domain = 0, .bus = 2, .slot = 0, .func = 0 };

static void slot_lock_creates_dir_and_file_with_holder_line(void **state)
{
        char held[PATH_MAX];
        struct fixture *f = *state;
        struct pgr_lock l = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char path[PATH_MAX], text[256], expect_prefix[128];
        struct stat st;
        long long since, before = time(NULL), after;

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "post-stop", 1000, &l, &err), 0);
        after = time(NULL);
        assert_true(l.fd >= 0);
        path_in(f, path, sizeof(path), "/run/pve-gpu-reset/slot-0000:01:00.lock");
        assert_string_equal(held_path(&l, held), path);

        path_in(f, path, sizeof(path), "/run/pve-gpu-reset");
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(stat(held_path(&l, held), &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);

        read_text(held_path(&l, held), text, sizeof(text));
        snprintf(expect_prefix, sizeof(expect_prefix), "pid=%d vmid=100 what=post-stop since=", (int)getpid());
        assert_memory_equal(text, expect_prefix, strlen(expect_prefix));
        assert_int_equal(sscanf(text + strlen(expect_prefix), "%lld", &since), 1);
        assert_true(since >= before && since <= after);
        assert_int_equal(text[strlen(text) - 1], '\n');
        assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1); /* exactly one line */
        lock_release(&l);
}

static void second_lock_on_same_slot_times_out_naming_holder(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock a = PGR_LOCK_INIT, b = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char expect[PATH_MAX + 128];

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "post-stop", 1000, &a, &err), 0);
        /* flock locks belong to the open file description: a second open in this process conflicts. */
        assert_int_equal(lock_slot(&f->ctx, &gpu, 200, "pre-start", 30, &b, &err), -ETIMEDOUT);
        assert_int_equal(b.fd, -1);
        snprintf(expect, sizeof(expect), "lock %s/run/pve-gpu-reset/slot-0000:01:00.lock held by pid %d "
                 "(vmid=100 what=post-stop) for ", f->root, (int)getpid());
        assert_memory_equal(err.msg, expect, strlen(expect));
        assert_non_null(strstr(err.msg, " s; waited 30 ms"));
        lock_release(&a);
}

static void timeout_message_says_how_long_the_holder_has_had_it(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock a = PGR_LOCK_INIT, b = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char line[128], *p;
        long long since = (long long)time(NULL) - 12, before, after, held;
        int n;

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "post-stop", 0, &a, &err), 0);
        /* Pretend another run has held it for 12 s: rewrite the holder line. */
        n = snprintf(line, sizeof(line), "pid=1234 vmid=100 what=post-stop since=%lld\n", since);
        assert_int_equal(ftruncate(a.fd, 0), 0);
        assert_int_equal(pwrite(a.fd, line, (size_t)n, 0), n);

        before = time(NULL);
        assert_int_equal(lock_slot(&f->ctx, &gpu, 0, "reset", 0, &b, &err), -ETIMEDOUT);
        after = time(NULL);
        p = strstr(err.msg, "held by pid 1234 (vmid=100 what=post-stop) for ");
        assert_non_null(p);
        assert_int_equal(sscanf(p + strlen("held by pid 1234 (vmid=100 what=post-stop) for "), "%lld", &held), 1);
        assert_true(held >= before - since && held <= after - since);
        assert_non_null(strstr(err.msg, " s; waited 0 ms"));
        lock_release(&a);
}

static void function_is_ignored_audio_function_shares_the_slot_lock(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock a = PGR_LOCK_INIT, b = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        struct pci_addr whole_slot = { .bus = 1, .func = -1 };

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "post-stop", 0, &a, &err), 0);
        assert_int_equal(lock_slot(&f->ctx, &gpu_audio, 100, "post-stop", 20, &b, &err), -ETIMEDOUT);
        assert_int_equal(lock_slot(&f->ctx, &whole_slot, 100, "post-stop", 0, &b, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "slot-0000:01:00.lock held by pid"));
        lock_release(&a);
}

static void other_slot_and_bus_lock_are_independent(void **state)
{
        char held[PATH_MAX];
        struct fixture *f = *state;
        struct pgr_lock a = PGR_LOCK_INIT, b = PGR_LOCK_INIT, bus = PGR_LOCK_INIT, bus2 = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char path[PATH_MAX], text[256], expect[64];

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "post-stop", 0, &a, &err), 0);
        assert_int_equal(lock_slot(&f->ctx, &other_card, 101, "post-stop", 0, &b, &err), 0);
        assert_string_equal(strrchr(held_path(&b, held), '/'), "/slot-0000:02:00.lock");
        assert_int_equal(lock_bus(&f->ctx, 100, "remove-rescan", 0, &bus, &err), 0);
        path_in(f, path, sizeof(path), "/run/pve-gpu-reset/bus.lock");
        assert_string_equal(held_path(&bus, held), path);
        read_text(path, text, sizeof(text));
        snprintf(expect, sizeof(expect), "pid=%d vmid=100 what=remove-rescan since=", (int)getpid());
        assert_memory_equal(text, expect, strlen(expect));

        /* The bus lock is one lock: a second taker waits. */
        assert_int_equal(lock_bus(&f->ctx, 101, "bus-reset", 10, &bus2, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "bus.lock held by pid"));
        assert_non_null(strstr(err.msg, "(vmid=100 what=remove-rescan)"));
        lock_release(&bus);
        lock_release(&b);
        lock_release(&a);
}

static void release_then_reacquire_records_new_holder(void **state)
{
        char held[PATH_MAX];
        char apath[PATH_MAX];
        struct fixture *f = *state;
        struct pgr_lock a = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char text[256], expect[64];

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "post-stop", 0, &a, &err), 0);
        snprintf(apath, sizeof(apath), "%s", held_path(&a, held));
        lock_release(&a);
        assert_int_equal(a.fd, -1);
        read_text(apath, text, sizeof(text));
        assert_string_equal(text, ""); /* released: no stale holder line */
        lock_release(&a);                /* twice is harmless */

        assert_int_equal(lock_slot(&f->ctx, &gpu, 200, "pre-start", 0, &a, &err), 0);
        read_text(held_path(&a, held), text, sizeof(text));
        snprintf(expect, sizeof(expect), "pid=%d vmid=200 what=pre-start since=", (int)getpid());
        assert_memory_equal(text, expect, strlen(expect));
        assert_null(strstr(text, "post-stop"));
        lock_release(&a);
}

static void cleanup_attribute_releases(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock b = PGR_LOCK_INIT;
        struct pgr_error err = { "" };

        {
                _cleanup_(lock_releasep) struct pgr_lock a = PGR_LOCK_INIT;

                assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "post-stop", 0, &a, &err), 0);
        }
        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "post-stop", 0, &b, &err), 0);
        lock_release(&b);
}

static void killed_holder_releases_the_lock(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock l = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        int p[2], status;
        char c, expect[64];
        pid_t child;

        assert_int_equal(pipe(p), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                struct pgr_lock cl = PGR_LOCK_INIT;

                close(p[0]);
                alarm(60); /* never outlive a failed test */
                if (lock_slot(&f->ctx, &gpu, 300, "post-stop", 1000, &cl, NULL) < 0)
                        _exit(1);
                (void)!write(p[1], "L", 1);
                for (;;)
                        pause();
        }
        close(p[1]);
        assert_int_equal(read(p[0], &c, 1), 1); /* the child holds it now */
        close(p[0]);

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "pre-start", 20, &l, &err), -ETIMEDOUT);
        snprintf(expect, sizeof(expect), "held by pid %d (vmid=300 what=post-stop)", (int)child);
        assert_non_null(strstr(err.msg, expect));

        assert_int_equal(kill(child, SIGKILL), 0);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* The kernel dropped the flock with the process: no wait needed. */
        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "pre-start", 0, &l, &err), 0);
        lock_release(&l);
}

static void unreadable_holder_line_still_times_out_cleanly(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock l = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char dir[PATH_MAX], path[PATH_MAX];
        int fd;

        /* An older or foreign holder that wrote nothing we understand. */
        path_in(f, dir, sizeof(dir), "/run");
        assert_int_equal(mkdir(dir, 0755), 0);
        path_in(f, dir, sizeof(dir), "/run/pve-gpu-reset");
        assert_int_equal(mkdir(dir, 0755), 0);
        path_in(f, path, sizeof(path), "/run/pve-gpu-reset/bus.lock");
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "garbage", 7), 7);
        assert_int_equal(flock(fd, LOCK_EX), 0);

        assert_int_equal(lock_bus(&f->ctx, 100, "rescan", 0, &l, &err), -ETIMEDOUT);
        assert_int_equal(l.fd, -1);
        assert_non_null(strstr(err.msg, "bus.lock held by another process (holder unknown); waited 0 ms"));
        close(fd);
        assert_int_equal(lock_bus(&f->ctx, 100, "rescan", 0, &l, &err), 0);
        lock_release(&l);
}

static void what_with_spaces_is_kept_on_one_word(void **state)
{
        char held[PATH_MAX];
        struct fixture *f = *state;
        struct pgr_lock a = PGR_LOCK_INIT, b = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char text[256], expect[80];

        assert_int_equal(lock_slot(&f->ctx, &gpu, 0, "manual reset\nx", 0, &a, &err), 0);
        read_text(held_path(&a, held), text, sizeof(text));
        snprintf(expect, sizeof(expect), "pid=%d vmid=0 what=manual_reset_x since=", (int)getpid());
        assert_memory_equal(text, expect, strlen(expect));
        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "pre-start", 0, &b, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "(vmid=0 what=manual_reset_x)"));
        lock_release(&a);

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, NULL, 0, &a, &err), 0);
        read_text(held_path(&a, held), text, sizeof(text));
        assert_non_null(strstr(text, " what=- since="));
        lock_release(&a);
}

static void planted_symlink_lock_dir_is_refused(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock l = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char dir[PATH_MAX], elsewhere[PATH_MAX];

        path_in(f, dir, sizeof(dir), "/run");
        assert_int_equal(mkdir(dir, 0755), 0);
        path_in(f, elsewhere, sizeof(elsewhere), "/elsewhere");
        assert_int_equal(mkdir(elsewhere, 0755), 0);
        path_in(f, dir, sizeof(dir), "/run/pve-gpu-reset");
        assert_int_equal(symlink(elsewhere, dir), 0);

        assert_true(lock_slot(&f->ctx, &gpu, 100, "post-stop", 0, &l, &err) < 0);
        assert_int_equal(l.fd, -1);
        assert_non_null(strstr(err.msg, "runtime directory"));
        assert_non_null(strstr(err.msg, "/run/pve-gpu-reset"));
}

static void world_writable_lock_dir_is_refused(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock l = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char dir[PATH_MAX], expect[PATH_MAX + 32];

        path_in(f, dir, sizeof(dir), "/run");
        assert_int_equal(mkdir(dir, 0755), 0);
        path_in(f, dir, sizeof(dir), "/run/pve-gpu-reset");
        assert_int_equal(mkdir(dir, 0777), 0);

        assert_int_equal(lock_bus(&f->ctx, 100, "rescan", 0, &l, &err), -EPERM);
        snprintf(expect, sizeof(expect), "runtime directory %s is not owned", dir);
        assert_non_null(strstr(err.msg, expect));
        assert_non_null(strstr(err.msg, "group/world-writable; refusing"));

        assert_int_equal(chmod(dir, 0775), 0); /* group-writable is no better */
        assert_int_equal(lock_bus(&f->ctx, 100, "rescan", 0, &l, &err), -EPERM);
        assert_int_equal(l.fd, -1);
        assert_int_equal(chmod(dir, 0755), 0); /* ours, as an older version made it: accepted */
        assert_int_equal(lock_bus(&f->ctx, 100, "rescan", 0, &l, &err), 0);
        lock_release(&l);
        {
                struct stat st;

                assert_int_equal(stat(dir, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0700); /* and root-only from then on */
        }
}

static void symlinked_lock_file_is_not_followed(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock l = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char dir[PATH_MAX], path[PATH_MAX], victim[PATH_MAX], text[64];
        int fd;

        path_in(f, dir, sizeof(dir), "/run");
        assert_int_equal(mkdir(dir, 0755), 0);
        path_in(f, dir, sizeof(dir), "/run/pve-gpu-reset");
        assert_int_equal(mkdir(dir, 0755), 0);
        path_in(f, victim, sizeof(victim), "/victim");
        fd = open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "keep", 4), 4);
        close(fd);
        path_in(f, path, sizeof(path), "/run/pve-gpu-reset/bus.lock");
        assert_int_equal(symlink(victim, path), 0);

        assert_int_equal(lock_bus(&f->ctx, 100, "rescan", 0, &l, &err), -ELOOP);
        assert_non_null(strstr(err.msg, "cannot open lock"));
        read_text(victim, text, sizeof(text));
        assert_string_equal(text, "keep");
}

/* /run/lock is 1777: any local user could create /run/lock/pve-gpu-reset first, and every start would
 * then be refused forever. Locks live in /run/pve-gpu-reset, which only root can create. */
static void squatted_run_lock_dir_does_not_block_locking(void **state)
{
        char held[PATH_MAX];
        struct fixture *f = *state;
        struct pgr_lock l = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char dir[PATH_MAX], expect[PATH_MAX];

        path_in(f, dir, sizeof(dir), "/run");
        assert_int_equal(mkdir(dir, 0755), 0);
        path_in(f, dir, sizeof(dir), "/run/lock");
        assert_int_equal(mkdir(dir, 01777), 0);
        path_in(f, dir, sizeof(dir), "/run/lock/pve-gpu-reset");
        assert_int_equal(mkdir(dir, 0777), 0);
        if (geteuid() == 0)
                assert_int_equal(chown(dir, 65534, 65534), 0); /* "nobody" got there first */

        assert_int_equal(lock_slot(&f->ctx, &gpu, 100, "pre-start", 0, &l, &err), 0);
        path_in(f, expect, sizeof(expect), "/run/pve-gpu-reset/slot-0000:01:00.lock");
        assert_string_equal(held_path(&l, held), expect);
        lock_release(&l);
}

static void runtime_dir_of_another_owner_or_not_a_dir_is_refused(void **state)
{
        struct fixture *f = *state;
        struct pgr_lock l = PGR_LOCK_INIT;
        struct pgr_error err = { "" };
        char dir[PATH_MAX];
        int fd;

        path_in(f, dir, sizeof(dir), "/run");
        assert_int_equal(mkdir(dir, 0755), 0);
        path_in(f, dir, sizeof(dir), "/run/pve-gpu-reset");
        fd = open(dir, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_true(lock_bus(&f->ctx, 100, "rescan", 0, &l, &err) < 0);
        assert_int_equal(l.fd, -1);
        assert_non_null(strstr(err.msg, "/run/pve-gpu-reset"));
        assert_non_null(strstr(err.msg, "not a directory"));

        if (geteuid() != 0)
                return; /* chown needs root */
        assert_int_equal(unlink(dir), 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(chown(dir, 65534, 65534), 0);
        assert_int_equal(lock_bus(&f->ctx, 100, "rescan", 0, &l, &err), -EPERM);
        assert_non_null(strstr(err.msg, "is not owned by uid 0"));
}

static void flock_timeout_helper_shared_and_exclusive(void **state)
{
        struct fixture *f = *state;
        char path[PATH_MAX];
        int a, b, c;

        path_in(f, path, sizeof(path), "/lockfile");
        a = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        b = open(path, O_RDONLY | O_CLOEXEC);
        c = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(a >= 0 && b >= 0 && c >= 0);
        assert_int_equal(lock_flock_timeout(b, LOCK_SH, 0), 0);
        assert_int_equal(lock_flock_timeout(c, LOCK_SH, 0), 0); /* readers share */
        assert_int_equal(lock_flock_timeout(a, LOCK_EX, 15), -ETIMEDOUT);
        close(b);
        close(c);
        assert_int_equal(lock_flock_timeout(a, LOCK_EX, 0), 0);
        assert_int_equal(lock_flock_timeout(a, LOCK_UN, 0), -EINVAL);
        assert_int_equal(lock_flock_timeout(-1, LOCK_EX, 0), -EINVAL);
        close(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(slot_lock_creates_dir_and_file_with_holder_line, setup, teardown),
                cmocka_unit_test_setup_teardown(second_lock_on_same_slot_times_out_naming_holder, setup, teardown),
                cmocka_unit_test_setup_teardown(timeout_message_says_how_long_the_holder_has_had_it, setup, teardown),
                cmocka_unit_test_setup_teardown(function_is_ignored_audio_function_shares_the_slot_lock, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(other_slot_and_bus_lock_are_independent, setup, teardown),
                cmocka_unit_test_setup_teardown(release_then_reacquire_records_new_holder, setup, teardown),
                cmocka_unit_test_setup_teardown(cleanup_attribute_releases, setup, teardown),
                cmocka_unit_test_setup_teardown(killed_holder_releases_the_lock, setup, teardown),
                cmocka_unit_test_setup_teardown(unreadable_holder_line_still_times_out_cleanly, setup, teardown),
                cmocka_unit_test_setup_teardown(what_with_spaces_is_kept_on_one_word, setup, teardown),
                cmocka_unit_test_setup_teardown(planted_symlink_lock_dir_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(world_writable_lock_dir_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(symlinked_lock_file_is_not_followed, setup, teardown),
                cmocka_unit_test_setup_teardown(squatted_run_lock_dir_does_not_block_locking, setup, teardown),
                cmocka_unit_test_setup_teardown(runtime_dir_of_another_owner_or_not_a_dir_is_refused, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(flock_timeout_helper_shared_and_exclusive, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
