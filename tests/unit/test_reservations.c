/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Proxmox's pci-id-reservations (format as written by qemu-server's PVE/QemuServer/PCI.pm:
 * "$pci_id $vmid pid:$pid" / "$pci_id $vmid time:$time"), and who holds /dev/vfio/<group> open. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pve/reservations.h"
#include "testutil.h"

struct fixture {
        char root[64];
        struct pgr_ctx ctx;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->root, "/tmp/pgr-resv-XXXXXX");
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
        return 0;
}

/* mkdir -p of root + rel. */
static void mkdirs(const struct fixture *f, const char *rel)
{
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s%s", f->root, rel);
        for (char *p = path + strlen(f->root) + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        (void)mkdir(path, 0755);
                        *p = '/';
                }
        (void)mkdir(path, 0755);
}

static void write_file(const struct fixture *f, const char *rel, const char *data, size_t len)
{
        char path[PATH_MAX];
        int fd;

        snprintf(path, sizeof(path), "%s%s", f->root, rel);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        close(fd);
}

static void link_fd(const struct fixture *f, long pid, int fdnum, const char *target)
{
        char rel[64], path[PATH_MAX];

        snprintf(rel, sizeof(rel), "/proc/%ld/fd", pid);
        mkdirs(f, rel);
        snprintf(path, sizeof(path), "%s/proc/%ld/fd/%d", f->root, pid, fdnum);
        assert_int_equal(symlink(target, path), 0);
}

static struct pci_addr A(unsigned bus, unsigned slot, int func)
{
        return (struct pci_addr){ .domain = 0, .bus = bus, .slot = slot, .func = func };
}

/* Parses exactly len bytes from a heap copy without a terminating NUL, so ASan sees any overread. */
static int parse_exact(const char *s, size_t len, struct reservations *ret, size_t *bad)
{
        char *copy = malloc(len ? len : 1);
        int r;

        assert_non_null(copy);
        memcpy(copy, s, len);
        r = reservations_parse(copy, len, ret, bad);
        free(copy);
        return r;
}

/* ---- parser ---- */

static void parses_lines_as_qemu_server_writes_them(void **state)
{
        static const char text[] = "0000:01:00.0 100 pid:4242\n"
                                   "0000:01:00.1 100 pid:4242\n"
                                   "0000:41:00.0 205 time:1700000065\n";
        struct reservations r = {};
        size_t bad = 99;

        (void)state;
        assert_int_equal(parse_exact(text, strlen(text), &r, &bad), 0);
        assert_int_equal(bad, 0);
        assert_int_equal(r.n, 3);
        assert_true(pci_addr_eq(&r.items[0].addr, &(struct pci_addr){ 0, 1, 0, 0 }));
        assert_int_equal(r.items[0].vmid, 100);
        assert_int_equal(r.items[0].pid, 4242);
        assert_int_equal(r.items[0].expires, -1);
        assert_int_equal(r.items[1].addr.func, 1);
        assert_true(pci_addr_eq(&r.items[2].addr, &(struct pci_addr){ 0, 0x41, 0, 0 }));
        assert_int_equal(r.items[2].vmid, 205);
        assert_int_equal(r.items[2].pid, -1);
        assert_int_equal(r.items[2].expires, 1700000065LL);
        reservations_done(&r);
        assert_int_equal(r.n, 0);
        assert_null(r.items);
        reservations_done(&r); /* twice is harmless */
}

static void junk_lines_are_skipped_and_counted(void **state)
{
        static const char text[] = "garbage\n"
                                   "0000:01:00.0 100 pid:\n"                     /* no number */
                                   "0000:01:00.0 abc pid:1\n"                    /* vmid not digits */
                                   "0000:01:00.0 100 foo:1\n"                    /* unknown kind */
                                   "0000:01:00.0  100 pid:1\n"                   /* two separators */
                                   "0000:01:00.0 100 pid:1 \n"                   /* trailing space */
                                   "0000:01:00.0 100 pid:1\r\n"                  /* CRLF: qemu-server skips it too */
                                   "0000:01:00.0 100 pid:1 extra\n"
                                   "0000:01:00.0 100 time:-5\n"
                                   "0000:01:00.0 100 pid:99999999999999999999\n" /* overflow */
                                   "0000:01:00.0 0 pid:1\n"                      /* no VM 0 */
                                   "0000:01:20.0 100 pid:1\n"                    /* slot > 0x1f */
                                   "0000:01:00.8 100 pid:1\n"                    /* function > 7 */
                                   "0000:01:00.0 100\n"
                                   "0000:01:00.0\n"
                                   "\n"
                                   "   \n"                                      /* blank: not junk */
                                   "0000:02:00.0 300 pid:77\n";
        struct reservations r = {};
        size_t bad = 0;

        (void)state;
        assert_int_equal(parse_exact(text, strlen(text), &r, &bad), 0);
        assert_int_equal(bad, 15);
        assert_int_equal(r.n, 1);
        assert_true(pci_addr_eq(&r.items[0].addr, &(struct pci_addr){ 0, 2, 0, 0 }));
        assert_int_equal(r.items[0].vmid, 300);
        assert_int_equal(r.items[0].pid, 77);
        reservations_done(&r);
}

static void short_ids_and_tab_separator_are_accepted_like_qemu_server(void **state)
{
        /* qemu-server's $PCIRE: domain and function optional; \s is any one whitespace. */
        static const char text[] = "01:00 100 pid:5\n0000:0A:1f.7\t101\ttime:10";
        struct reservations r = {};
        size_t bad = 0;

        (void)state;
        assert_int_equal(parse_exact(text, strlen(text), &r, &bad), 0);
        assert_int_equal(bad, 0);
        assert_int_equal(r.n, 2);
        assert_int_equal(r.items[0].addr.domain, 0);
        assert_int_equal(r.items[0].addr.bus, 1);
        assert_int_equal(r.items[0].addr.func, -1); /* whole slot */
        assert_int_equal(r.items[1].addr.bus, 0x0a);
        assert_int_equal(r.items[1].addr.slot, 0x1f);
        assert_int_equal(r.items[1].addr.func, 7);
        assert_int_equal(r.items[1].expires, 10); /* last line without newline */
        reservations_done(&r);
}

static void parser_stops_at_len_not_at_nul(void **state)
{
        static const char text[] = "0000:01:00.0 100 pid:12345\n0000:02:00.0 200 pid:1\n";
        struct reservations r = {};
        size_t bad = 0;

        (void)state;
        /* Cut in the middle of the first pid: "pid:12". */
        assert_int_equal(parse_exact(text, strlen("0000:01:00.0 100 pid:12"), &r, &bad), 0);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.items[0].pid, 12);
        reservations_done(&r);

        /* Cut mid-address: the fragment is junk, nothing else is seen. */
        assert_int_equal(parse_exact(text, 7, &r, &bad), 0);
        assert_int_equal(r.n, 0);
        assert_int_equal(bad, 1);
        reservations_done(&r);
}

static void embedded_nul_makes_a_line_junk_not_a_terminator(void **state)
{
        static const char text[] = "0000:01:00.0 100 pid:1\0junk\n0000:02:00.0 200 pid:2\n";
        struct reservations r = {};
        size_t bad = 0;

        (void)state;
        assert_int_equal(parse_exact(text, sizeof(text) - 1, &r, &bad), 0);
        assert_int_equal(bad, 1);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.items[0].vmid, 200);
        reservations_done(&r);
}

static void empty_and_oversized_input(void **state)
{
        struct reservations r = {};
        size_t bad = 99;
        char *big, *longline;

        (void)state;
        assert_int_equal(reservations_parse(NULL, 0, &r, &bad), 0);
        assert_int_equal(r.n, 0);
        assert_int_equal(bad, 0);
        assert_int_equal(reservations_parse(NULL, 5, &r, &bad), -EINVAL);

        big = malloc(RESERVATIONS_MAX_SIZE + 1);
        assert_non_null(big);
        memset(big, '\n', RESERVATIONS_MAX_SIZE + 1);
        r.n = 42; /* untouched on failure */
        assert_int_equal(reservations_parse(big, RESERVATIONS_MAX_SIZE + 1, &r, &bad), -EFBIG);
        assert_int_equal(r.n, 42);
        r.n = 0;
        assert_int_equal(reservations_parse(big, RESERVATIONS_MAX_SIZE, &r, &bad), 0);
        assert_int_equal(r.n, 0);
        free(big);

        /* A very long line is one junk line, not a crash. */
        longline = malloc(10000);
        assert_non_null(longline);
        memset(longline, '7', 10000);
        memcpy(longline, "0000:01:00.0 100 pid:", 21);
        assert_int_equal(parse_exact(longline, 10000, &r, &bad), 0);
        assert_int_equal(r.n, 0);
        assert_int_equal(bad, 1);
        free(longline);
}

/* ---- load ---- */

static void missing_file_is_an_empty_set(void **state)
{
        struct fixture *f = *state;
        struct reservations r = { .n = 7 };
        size_t bad = 99;
        bool locked = true;

        assert_int_equal(reservations_load_full(&f->ctx, 0, &r, &bad, &locked), 0);
        assert_int_equal(r.n, 0);
        assert_null(r.items);
        assert_int_equal(bad, 0);
        assert_false(locked); /* no lock file either */
        assert_int_equal(reservations_load(&f->ctx, &r), 0);
        assert_int_equal(r.n, 0);
}

static void loads_from_root_prefix_under_proxmox_lock(void **state)
{
        static const char text[] = "0000:01:00.0 100 pid:4242\njunk\n";
        struct fixture *f = *state;
        struct reservations r = {};
        char lockpath[PATH_MAX];
        size_t bad = 0;
        bool locked = false;
        int fd;

        mkdirs(f, "/run/qemu-server");
        write_file(f, "/run/qemu-server/pci-id-reservations", text, strlen(text));
        write_file(f, "/run/qemu-server/pci-id-reservations.lock", "", 0);

        assert_int_equal(reservations_load_full(&f->ctx, 1000, &r, &bad, &locked), 0);
        assert_true(locked);
        assert_int_equal(bad, 1);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.items[0].pid, 4242);
        reservations_done(&r);

        /* Another reader holding it shared does not stop us. */
        snprintf(lockpath, sizeof(lockpath), "%s/run/qemu-server/pci-id-reservations.lock", f->root);
        fd = open(lockpath, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_SH), 0);
        assert_int_equal(reservations_load_full(&f->ctx, 0, &r, NULL, &locked), 0);
        assert_true(locked);
        reservations_done(&r);
        close(fd);
}

static void writer_holding_the_lock_does_not_block_forever(void **state)
{
        static const char text[] = "0000:01:00.0 100 time:1700000000\n";
        struct fixture *f = *state;
        struct reservations r = {};
        char lockpath[PATH_MAX];
        bool locked = true;
        int fd;

        mkdirs(f, "/run/qemu-server");
        write_file(f, "/run/qemu-server/pci-id-reservations", text, strlen(text));
        snprintf(lockpath, sizeof(lockpath), "%s/run/qemu-server/pci-id-reservations.lock", f->root);
        fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX), 0); /* as qemu-server's lock_file does */

        assert_int_equal(reservations_load_full(&f->ctx, 20, &r, NULL, &locked), 0);
        assert_false(locked); /* read anyway, and says so */
        assert_int_equal(r.n, 1);
        assert_int_equal(r.items[0].expires, 1700000000LL);
        reservations_done(&r);
        close(fd);
}

static void oversized_file_is_refused(void **state)
{
        struct fixture *f = *state;
        struct reservations r = {};
        char *big = malloc(RESERVATIONS_MAX_SIZE + 10);

        assert_non_null(big);
        memset(big, '\n', RESERVATIONS_MAX_SIZE + 10);
        mkdirs(f, "/run/qemu-server");
        write_file(f, "/run/qemu-server/pci-id-reservations", big, RESERVATIONS_MAX_SIZE + 10);
        free(big);
        assert_int_equal(reservations_load(&f->ctx, &r), -EFBIG);
        assert_int_equal(r.n, 0);
        assert_null(r.items);
}

/* ---- holder ---- */

static void holder_pid_entry_is_live_while_proc_pid_exists(void **state)
{
        static const char text[] = "0000:01:00.0 100 pid:4242\n0000:02:00.0 101 pid:4343\n";
        struct fixture *f = *state;
        struct reservations r = {};
        struct pci_addr gpu = A(1, 0, 0), other = A(2, 0, 0);

        mkdirs(f, "/proc/4242");
        assert_int_equal(reservations_parse(text, strlen(text), &r, NULL), 0);
        assert_int_equal(reservations_holder(&f->ctx, &r, &gpu, 200, 0), 100);
        /* Our own reservation is not "another VM". */
        assert_int_equal(reservations_holder(&f->ctx, &r, &gpu, 100, 0), 0);
        /* pid 4343 is gone (no <root>/proc/4343): a leftover, not in use. */
        assert_int_equal(reservations_holder(&f->ctx, &r, &other, 200, 0), 0);
        mkdirs(f, "/proc/4343");
        assert_int_equal(reservations_holder(&f->ctx, &r, &other, 200, 0), 101);
        reservations_done(&r);
}

static void holder_time_entry_is_live_until_its_epoch(void **state)
{
        static const char text[] = "0000:01:00.0 100 time:1000\n";
        struct fixture *f = *state;
        struct reservations r = {};
        struct pci_addr gpu = A(1, 0, 0);

        assert_int_equal(reservations_parse(text, strlen(text), &r, NULL), 0);
        assert_int_equal(reservations_holder(&f->ctx, &r, &gpu, 200, 999), 100);
        assert_int_equal(reservations_holder(&f->ctx, &r, &gpu, 200, 1000), 100);
        assert_int_equal(reservations_holder(&f->ctx, &r, &gpu, 200, 1001), 0);
        reservations_done(&r);
}

static void holder_matches_by_function_or_whole_slot(void **state)
{
        static const char text[] = "0000:01:00.1 100 time:1000\n"
                                   "03:00 101 time:1000\n"
                                   "0001:01:00.0 102 time:1000\n";
        struct fixture *f = *state;
        struct reservations r = {};
        struct pci_addr gpu = A(1, 0, 0), audio = A(1, 0, 1), slot1 = A(1, 0, -1), card3 = A(3, 0, 2),
                        next_slot = A(1, 1, 1), dom1 = { 1, 1, 0, 0 };

        assert_int_equal(reservations_parse(text, strlen(text), &r, NULL), 0);
        assert_int_equal(reservations_holder(&f->ctx, &r, &gpu, 200, 0), 0);  /* .1 reserved, .0 not */
        assert_int_equal(reservations_holder(&f->ctx, &r, &audio, 200, 0), 100);
        assert_int_equal(reservations_holder(&f->ctx, &r, &slot1, 200, 0), 100); /* any function of it */
        assert_int_equal(reservations_holder(&f->ctx, &r, &card3, 200, 0), 101); /* slot entry */
        assert_int_equal(reservations_holder(&f->ctx, &r, &next_slot, 200, 0), 0);
        assert_int_equal(reservations_holder(&f->ctx, &r, &dom1, 200, 0), 102);
        /* vmid 0 (a manual command) is nobody's: every live entry counts. */
        assert_int_equal(reservations_holder(&f->ctx, &r, &audio, 0, 0), 100);
        assert_int_equal(reservations_holder(&f->ctx, NULL, &audio, 0, 0), 0);
        reservations_done(&r);
}

static void holder_skips_dead_entry_and_finds_live_one_for_same_device(void **state)
{
        static const char text[] = "0000:01:00.0 100 time:5\n0000:01:00.0 101 pid:4242\n";
        struct fixture *f = *state;
        struct reservations r = {};
        struct pci_addr gpu = A(1, 0, 0);

        mkdirs(f, "/proc/4242");
        assert_int_equal(reservations_parse(text, strlen(text), &r, NULL), 0);
        assert_int_equal(reservations_holder(&f->ctx, &r, &gpu, 200, 1000), 101);
        reservations_done(&r);
}

/* ---- /dev/vfio/<group> holders ---- */

static void vfio_holder_found_by_fd_link(void **state)
{
        struct fixture *f = *state;

        link_fd(f, 1, 0, "/dev/null");
        link_fd(f, 1234, 0, "/dev/null");
        link_fd(f, 1234, 1, "socket:[12345]");
        link_fd(f, 1234, 17, "/dev/vfio/14");
        link_fd(f, 2000, 3, "/dev/vfio/vfio");
        assert_int_equal(vfio_group_holder(&f->ctx, 14), 1234);
        assert_int_equal(vfio_group_holder(&f->ctx, 15), 0);
        assert_int_equal(vfio_group_holder(&f->ctx, 1), 0); /* "/dev/vfio/14" is not group 1 */
}

static void vfio_holder_ignores_prefix_lookalikes_and_root_prefixed_targets(void **state)
{
        struct fixture *f = *state;
        char prefixed[PATH_MAX];

        link_fd(f, 500, 3, "/dev/vfio/140");
        link_fd(f, 501, 3, "/dev/vfio/14 (deleted)");
        snprintf(prefixed, sizeof(prefixed), "%s/dev/vfio/14", f->root);
        link_fd(f, 502, 3, prefixed); /* the kernel never shows our root prefix */
        assert_int_equal(vfio_group_holder(&f->ctx, 14), 0);
        assert_int_equal(vfio_group_holder(&f->ctx, 140), 500);
}

static void vfio_holder_skips_ourselves(void **state)
{
        struct fixture *f = *state;

        link_fd(f, (long)getpid(), 9, "/dev/vfio/14");
        assert_int_equal(vfio_group_holder(&f->ctx, 14), 0);
        link_fd(f, 99999, 9, "/dev/vfio/14");
        assert_int_equal(vfio_group_holder(&f->ctx, 14), 99999);
}

static void vfio_holder_skips_unreadable_and_non_process_entries(void **state)
{
        struct fixture *f = *state;

        mkdirs(f, "/proc/300");                           /* vanished: no fd dir */
        mkdirs(f, "/proc/301");
        write_file(f, "/proc/301/fd", "not a dir", 9);    /* unreadable */
        mkdirs(f, "/proc/sys/fd");                        /* not a pid */
        link_fd(f, 0, 1, "/dev/vfio/14");                 /* pid 0 is no process */
        mkdirs(f, "/proc/self");
        link_fd(f, 302, 4, "/dev/vfio/14");
        assert_int_equal(vfio_group_holder(&f->ctx, 14), 302);
}

static void vfio_holder_reports_lowest_pid_when_several(void **state)
{
        struct fixture *f = *state;

        link_fd(f, 9000, 3, "/dev/vfio/14");
        link_fd(f, 800, 3, "/dev/vfio/14");
        link_fd(f, 70000, 3, "/dev/vfio/14");
        assert_int_equal(vfio_group_holder(&f->ctx, 14), 800);
}

static void vfio_holder_without_proc_or_with_bad_group(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(vfio_group_holder(&f->ctx, 14), 0); /* fixture tree without /proc */
        assert_int_equal(vfio_group_holder(&f->ctx, -1), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parses_lines_as_qemu_server_writes_them),
                cmocka_unit_test(junk_lines_are_skipped_and_counted),
                cmocka_unit_test(short_ids_and_tab_separator_are_accepted_like_qemu_server),
                cmocka_unit_test(parser_stops_at_len_not_at_nul),
                cmocka_unit_test(embedded_nul_makes_a_line_junk_not_a_terminator),
                cmocka_unit_test(empty_and_oversized_input),
                cmocka_unit_test_setup_teardown(missing_file_is_an_empty_set, setup, teardown),
                cmocka_unit_test_setup_teardown(loads_from_root_prefix_under_proxmox_lock, setup, teardown),
                cmocka_unit_test_setup_teardown(writer_holding_the_lock_does_not_block_forever, setup, teardown),
                cmocka_unit_test_setup_teardown(oversized_file_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(holder_pid_entry_is_live_while_proc_pid_exists, setup, teardown),
                cmocka_unit_test_setup_teardown(holder_time_entry_is_live_until_its_epoch, setup, teardown),
                cmocka_unit_test_setup_teardown(holder_matches_by_function_or_whole_slot, setup, teardown),
                cmocka_unit_test_setup_teardown(holder_skips_dead_entry_and_finds_live_one_for_same_device, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(vfio_holder_found_by_fd_link, setup, teardown),
                cmocka_unit_test_setup_teardown(vfio_holder_ignores_prefix_lookalikes_and_root_prefixed_targets,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(vfio_holder_skips_ourselves, setup, teardown),
                cmocka_unit_test_setup_teardown(vfio_holder_skips_unreadable_and_non_process_entries, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(vfio_holder_reports_lowest_pid_when_several, setup, teardown),
                cmocka_unit_test_setup_teardown(vfio_holder_without_proc_or_with_bad_group, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
