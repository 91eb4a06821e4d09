/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What pre-start records for post-stop, under <root>/run/pve-gpu-reset, in a temp root per test. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reset/state.h"
#include "testutil.h"

struct fixture {
        char root[64];
        char dir[128]; /* <root>/run/pve-gpu-reset */
        struct pgr_ctx ctx;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        umask(0); /* so the modes we check are the ones the code asked for */
        strcpy(f->root, "/tmp/pgr-state-XXXXXX");
        assert_non_null(mkdtemp(f->root));
        snprintf(f->dir, sizeof(f->dir), "%s/run/pve-gpu-reset", f->root);
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

static void state_file(const struct fixture *f, const char *name, char *buf, size_t size)
{
        snprintf(buf, size, "%s/%s", f->dir, name);
}

/* The whole file as a string; asserts it exists. */
static void read_state(const struct fixture *f, const char *name, char *buf, size_t size)
{
        char path[PATH_MAX];
        ssize_t n;
        int fd;

        state_file(f, name, path, sizeof(path));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        n = read(fd, buf, size - 1);
        assert_true(n >= 0);
        buf[n] = '\0';
        close(fd);
}

static bool state_exists(const struct fixture *f, const char *name)
{
        char path[PATH_MAX];

        state_file(f, name, path, sizeof(path));
        return access(path, F_OK) == 0;
}

static void write_state(const struct fixture *f, const char *name, const char *data, size_t len)
{
        char path[PATH_MAX];
        int fd;

        (void)mkdir(f->root, 0755);
        snprintf(path, sizeof(path), "%s/run", f->root);
        (void)mkdir(path, 0755);
        (void)mkdir(f->dir, 0755);
        state_file(f, name, path, sizeof(path));
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        close(fd);
}

/* Entries of the state dir other than "." and "..". */
static int count_entries(const struct fixture *f)
{
        DIR *d = opendir(f->dir);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static const struct pci_addr gpu = { 0, 1, 0, 0 };
static const struct pci_addr gpu_audio = { 0, 1, 0, 1 };
static const struct pci_addr nvme = { 0x0001, 0x41, 0x1f, 7 };
#define GPU { gpu, HOSTPCI_USE_VFIO }
#define GPU_AUDIO { gpu_audio, HOSTPCI_USE_VFIO }
#define NVME_KEEP { nvme, HOSTPCI_USE_KEEP }

/* <root>/sys/bus/pci/devices/<bdf>/driver → the driver's directory, as the kernel binds; "" unbinds.
 * Every call makes the link anew, as a bind does. */
static void bind_to(const struct fixture *f, const char *bdf, const char *driver)
{
        char dir[PATH_MAX], link[PATH_MAX + 16], target[PATH_MAX];

        snprintf(dir, sizeof(dir), "%s/sys/bus/pci/devices/%s", f->root, bdf);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        snprintf(link, sizeof(link), "%s/driver", dir);
        (void)unlink(link);
        if (!driver[0])
                return;
        snprintf(target, sizeof(target), "%s/sys/bus/pci/drivers/%s", f->root, driver);
        assert_int_equal(mkdir_p(target, 0755), 0);
        assert_int_equal(symlink(target, link), 0);
}

/* A clean mark as mark_clean writes it, for a function bound to vfio-pci. */
static void mark_clean_on_vfio(const struct fixture *f, const struct pci_addr *a, unsigned long vmid, long long t)
{
        char bdf[PCI_ADDR_STRLEN];

        bind_to(f, pci_addr_format(a, bdf), "vfio-pci");
        assert_int_equal(state_mark_clean(&f->ctx, a, vmid, t), 0);
}

/* ---- vm-<vmid>.devices ---- */

static void save_writes_one_bdf_per_line_under_root(void **state)
{
        struct fixture *f = *state;
        const struct state_device devs[] = { GPU, GPU_AUDIO, NVME_KEEP };
        char text[256], path[PATH_MAX];
        struct stat st;

        assert_int_equal(state_save_vm_devices(&f->ctx, 100, devs, 3), 0);
        read_state(f, "vm-100.devices", text, sizeof(text));
        assert_string_equal(text, "format=2\n0000:01:00.0 vfio\n0000:01:00.1 vfio\n0001:41:1f.7 keep\n");

        assert_int_equal(stat(f->dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700); /* root-only: PGR_RUNTIME_DIR */
        state_file(f, "vm-100.devices", path, sizeof(path));
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(count_entries(f), 1); /* no temp file left behind */
}

static void save_then_load_round_trips(void **state)
{
        struct fixture *f = *state;
        const struct state_device devs[] = { GPU, GPU_AUDIO, NVME_KEEP };
        struct state_device got[STATE_MAX_DEVICES];
        size_t n = 0;

        assert_int_equal(state_save_vm_devices(&f->ctx, 100, devs, 3), 0);
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, STATE_MAX_DEVICES, &n), 0);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_true(pci_addr_eq(&got[i].addr, &devs[i].addr));
                assert_int_equal(got[i].use, devs[i].use);
        }
        /* Another VM's record is separate. */
        assert_int_equal(state_load_vm_devices(&f->ctx, 101, got, STATE_MAX_DEVICES, &n), -ENOENT);
}

static void save_of_empty_set_loads_as_empty(void **state)
{
        struct fixture *f = *state;
        struct state_device got[4];
        size_t n = 99;
        char text[16];

        assert_int_equal(state_save_vm_devices(&f->ctx, 100, NULL, 0), 0);
        read_state(f, "vm-100.devices", text, sizeof(text));
        assert_string_equal(text, "format=2\n");
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 4, &n), 0);
        assert_int_equal(n, 0);
}

static void save_replaces_atomically(void **state)
{
        struct fixture *f = *state;
        const struct state_device first[] = { GPU, GPU_AUDIO };
        const struct state_device second[] = { NVME_KEEP };
        char path[PATH_MAX], text[128];
        struct stat before, after;
        int fd;

        assert_int_equal(state_save_vm_devices(&f->ctx, 100, first, 2), 0);
        state_file(f, "vm-100.devices", path, sizeof(path));
        /* A reader that opened the old file keeps the old content: the new one is renamed over it. */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &before), 0);

        assert_int_equal(state_save_vm_devices(&f->ctx, 100, second, 1), 0);
        assert_int_equal(stat(path, &after), 0);
        assert_true(before.st_ino != after.st_ino);
        read_state(f, "vm-100.devices", text, sizeof(text));
        assert_string_equal(text, "format=2\n0001:41:1f.7 keep\n");
        {
                char old[128];
                ssize_t n = pread(fd, old, sizeof(old) - 1, 0);

                assert_true(n >= 0);
                old[n] = '\0';
                assert_string_equal(old, "format=2\n0000:01:00.0 vfio\n0000:01:00.1 vfio\n");
        }
        close(fd);
        assert_int_equal(count_entries(f), 1);
}

static void save_refuses_whole_slot_and_too_many(void **state)
{
        struct fixture *f = *state;
        const struct state_device slot[] = { GPU, { { 0, 2, 0, -1 }, HOSTPCI_USE_VFIO } };
        const struct state_device unknown[] = { { gpu, HOSTPCI_USE_UNKNOWN } };
        struct state_device many[STATE_MAX_DEVICES + 1];

        assert_int_equal(state_save_vm_devices(&f->ctx, 100, slot, 2), -EINVAL);
        assert_false(state_exists(f, "vm-100.devices"));
        /* pre-start always knows what the config said: "unknown" is only read back from old records. */
        assert_int_equal(state_save_vm_devices(&f->ctx, 100, unknown, 1), -EINVAL);
        assert_false(state_exists(f, "vm-100.devices"));
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = (struct state_device){ { 0, (unsigned)i, 0, 0 }, HOSTPCI_USE_VFIO };
        assert_int_equal(state_save_vm_devices(&f->ctx, 100, many, ELEMENTSOF(many)), -E2BIG);
        assert_false(state_exists(f, "vm-100.devices"));
        assert_int_equal(state_save_vm_devices(&f->ctx, 100, many, STATE_MAX_DEVICES), 0);
}

static void load_missing_dir_or_file_is_enoent(void **state)
{
        struct fixture *f = *state;
        struct state_device got[4];
        size_t n = 42;

        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 4, &n), -ENOENT); /* no dir at all */
        write_state(f, "vm-101.devices", "0000:01:00.0\n", 13);
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 4, &n), -ENOENT);
        assert_int_equal(n, 42);
}

static void load_rejects_malformed_lines(void **state)
{
        static const struct {
                const char *text;
                size_t len;
        } bad[] = {
                { "0000:01:00\n", 11 },                       /* whole slot */
                { "01:00.0\n", 8 },                           /* no domain */
                { "garbage\n", 8 },
                { "0000:01:00.0\n\n0000:01:00.1\n", 27 },     /* empty line */
                { "0000:01:00.0 \n", 14 },                    /* trailing space */
                { " 0000:01:00.0\n", 14 },
                { "0000:01:00.0\r\n", 14 },
                { "0000:01:00.8\n", 13 },
                { "0000:01:00.0\0\n", 14 },                   /* NUL inside */
                { "0000:01:00.0\n0000:01:00.1 100\n", 30 },
                { "0000:01:00.00\n", 14 },
                { "format=2\n0000:01:00.0\n", 22 },          /* format 2 without a use */
                { "format=2\n0000:01:00.0 frob\n", 27 },     /* unknown use */
                { "format=2\n0000:01:00.0 unknown\n", 30 },  /* never written */
                { "format=2\n0000:01:00.0  vfio\n", 28 },
                { "format=3\n0000:01:00.0 vfio\n", 27 },     /* a format we do not know */
                { "format=2", 8 },
        };
        struct fixture *f = *state;
        struct state_device got[4] = { { { 9, 9, 9, 9 }, HOSTPCI_USE_KEEP } };
        size_t n = 42;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                write_state(f, "vm-100.devices", bad[i].text, bad[i].len);
                if (state_load_vm_devices(&f->ctx, 100, got, 4, &n) != -EINVAL)
                        fail_msg("case %zu (\"%s\") not rejected", i, bad[i].text);
                assert_int_equal(n, 42);
                assert_int_equal(got[0].addr.domain, 9); /* untouched */
        }
}

static void load_accepts_last_line_without_newline(void **state)
{
        struct fixture *f = *state;
        struct state_device got[4];
        size_t n = 0;

        write_state(f, "vm-100.devices", "0000:01:00.0\n0000:01:00.1", 25);
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 4, &n), 0);
        assert_int_equal(n, 2);
        assert_true(pci_addr_eq(&got[1].addr, &gpu_audio));
        write_state(f, "vm-100.devices", "format=2\n0000:01:00.1 mapping-mdev", 34);
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 4, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(got[0].use, HOSTPCI_USE_MAPPING_MDEV);
}

/* A record an older version wrote (before an upgrade, while the VM ran) loads, each function with
 * use "unknown": post-stop then asks the current config (test_run.c). */
static void load_reads_format_1_records_as_unknown_use(void **state)
{
        struct fixture *f = *state;
        struct state_device got[4] = { { { 9, 9, 9, 9 }, HOSTPCI_USE_KEEP } };
        size_t n = 0;

        write_state(f, "vm-100.devices", "0000:01:00.0\n0001:41:1f.7\n", 26);
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 4, &n), 0);
        assert_int_equal(n, 2);
        assert_true(pci_addr_eq(&got[0].addr, &gpu));
        assert_true(pci_addr_eq(&got[1].addr, &nvme));
        assert_int_equal(got[0].use, HOSTPCI_USE_UNKNOWN);
        assert_int_equal(got[1].use, HOSTPCI_USE_UNKNOWN);
}

static void load_respects_max(void **state)
{
        struct fixture *f = *state;
        const struct state_device devs[] = { GPU, GPU_AUDIO, NVME_KEEP };
        struct state_device got[3] = { { { 9, 9, 9, 9 }, 0 }, { { 9, 9, 9, 9 }, 0 }, { { 9, 9, 9, 9 }, 0 } };
        size_t n = 42;

        assert_int_equal(state_save_vm_devices(&f->ctx, 100, devs, 3), 0);
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 2, &n), -E2BIG);
        assert_int_equal(n, 42);
        assert_int_equal(got[0].addr.domain, 9);
        assert_int_equal(got[2].addr.domain, 9); /* never written past max */
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 3, &n), 0);
        assert_int_equal(n, 3);
}

static void forget_removes_record_and_is_idempotent(void **state)
{
        struct fixture *f = *state;
        const struct state_device devs[] = { GPU };
        struct state_device got[1];
        size_t n;

        assert_int_equal(state_forget_vm(&f->ctx, 100), 0); /* nothing recorded, no dir: fine */
        assert_int_equal(state_save_vm_devices(&f->ctx, 100, devs, 1), 0);
        assert_int_equal(state_save_vm_devices(&f->ctx, 101, devs, 1), 0);
        assert_int_equal(state_forget_vm(&f->ctx, 100), 0);
        assert_false(state_exists(f, "vm-100.devices"));
        assert_true(state_exists(f, "vm-101.devices"));
        assert_int_equal(state_load_vm_devices(&f->ctx, 100, got, 1, &n), -ENOENT);
        assert_int_equal(state_forget_vm(&f->ctx, 100), 0);
}

static void unwritable_state_dir_is_an_error(void **state)
{
        struct fixture *f = *state;
        const struct state_device devs[] = { GPU };
        char path[PATH_MAX];
        int fd;

        /* <root>/run is a file: the directory cannot be made. */
        snprintf(path, sizeof(path), "%s/run", f->root);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
        assert_true(state_save_vm_devices(&f->ctx, 100, devs, 1) < 0);
        assert_true(state_mark_clean(&f->ctx, &gpu, 100, 5) < 0);
        assert_true(state_autoprobe_guard_set(&f->ctx) < 0);
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
        assert_true(state_autoprobe_guard_pid(&f->ctx) < 0); /* ENOTDIR: not "no guard" */
}

/* ---- clean marks ---- */

static void mark_clean_writes_vmid_time_and_bind_fingerprint(void **state)
{
        struct fixture *f = *state;
        char text[128], path[PATH_MAX];
        struct stat st;
        unsigned long long ino;
        long long sec;
        long nsec;
        unsigned long vmid;
        long long t;

        mark_clean_on_vfio(f, &gpu, 100, 1700000000LL);
        read_state(f, "clean-0000:01:00.0", text, sizeof(text));
        assert_int_equal(sscanf(text, "format=2 vmid=%lu time=%lld bind=%llu-%lld.%ld", &vmid, &t, &ino, &sec, &nsec), 5);
        assert_int_equal(vmid, 100);
        assert_int_equal(t, 1700000000LL);
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/driver", f->root);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(ino, (unsigned long long)st.st_ino);
        assert_int_equal(sec, (long long)st.st_ctim.tv_sec);
        assert_int_equal(nsec, st.st_ctim.tv_nsec);
        assert_false(state_exists(f, "clean-0000:01:00.1"));
        assert_int_equal(count_entries(f), 1);
}

/* Only a function on vfio-pci can be left clean: on another driver, or none, it is not ours. */
static void mark_clean_refuses_a_function_not_on_vfio(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(state_mark_clean(&f->ctx, &gpu, 100, 5), -EUCLEAN); /* no device dir at all */
        bind_to(f, "0000:01:00.0", "nvme");
        assert_int_equal(state_mark_clean(&f->ctx, &gpu, 100, 5), -EUCLEAN);
        bind_to(f, "0000:01:00.0", "");
        assert_int_equal(state_mark_clean(&f->ctx, &gpu, 100, 5), -EUCLEAN);
        assert_false(state_exists(f, "clean-0000:01:00.0"));
}

static void is_clean_compares_mark_time_with_since(void **state)
{
        struct fixture *f = *state;

        assert_false(state_is_clean(&f->ctx, &gpu, -1)); /* no mark, no dir */
        mark_clean_on_vfio(f, &gpu, 100, 1000);
        assert_true(state_is_clean(&f->ctx, &gpu, -1));
        assert_true(state_is_clean(&f->ctx, &gpu, 0));
        assert_true(state_is_clean(&f->ctx, &gpu, 999));
        assert_false(state_is_clean(&f->ctx, &gpu, 1000)); /* strictly newer */
        assert_false(state_is_clean(&f->ctx, &gpu, 1001));
        assert_false(state_is_clean(&f->ctx, &gpu_audio, -1)); /* per function */
}

/* The mark holds only while the card stayed bound to vfio-pci since: another driver now, no
 * driver, or a new bind (even to vfio-pci again) since the reset all void it. */
static void is_clean_needs_the_same_vfio_binding(void **state)
{
        struct fixture *f = *state;

        mark_clean_on_vfio(f, &gpu, 100, 1000);
        assert_true(state_is_clean(&f->ctx, &gpu, -1));
        bind_to(f, "0000:01:00.0", "nvidia");
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
        bind_to(f, "0000:01:00.0", "");
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
        bind_to(f, "0000:01:00.0", "vfio-pci"); /* back, but a new bind: someone had it */
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
}

static void mark_used_records_the_use_and_removes_the_mark(void **state)
{
        struct fixture *f = *state;
        char text[64];

        assert_int_equal(state_mark_used(&f->ctx, &gpu, 100, 900), 0); /* nothing to remove */
        mark_clean_on_vfio(f, &gpu, 100, 1000);
        mark_clean_on_vfio(f, &gpu_audio, 100, 1000);
        assert_false(state_exists(f, "used-0000:01:00.0")); /* the clean mark retired it */
        assert_int_equal(state_mark_used(&f->ctx, &gpu, 200, 1100), 0);
        read_state(f, "used-0000:01:00.0", text, sizeof(text));
        assert_string_equal(text, "vmid=200 time=1100\n");
        assert_false(state_exists(f, "clean-0000:01:00.0"));
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
        assert_true(state_is_clean(&f->ctx, &gpu_audio, -1));
}

/* A use that was never cleaned after (post-stop skipped on a migration source) outweighs a clean
 * mark that should have been removed but was not: the used mark must be strictly older. */
static void used_mark_as_new_as_the_clean_mark_voids_it(void **state)
{
        struct fixture *f = *state;
        char mark[128];

        mark_clean_on_vfio(f, &gpu, 100, 1000);
        read_state(f, "clean-0000:01:00.0", mark, sizeof(mark));
        write_state(f, "used-0000:01:00.0", "vmid=200 time=999\n", 18);
        assert_true(state_is_clean(&f->ctx, &gpu, -1)); /* a leftover from before the reset */
        write_state(f, "used-0000:01:00.0", "vmid=200 time=1000\n", 19);
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
        write_state(f, "used-0000:01:00.0", "vmid=200 time=2000\n", 19);
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
        write_state(f, "used-0000:01:00.0", "garbage\n", 8); /* unreadable: dirty */
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
}

/* qemu-server 9.1.13+ (commit 7d48d8ba): post-stop runs from QemuServer.pm vm_stop_cleanup only once
 * per stop (/run/qemu-server/<vmid>.cleanup, RunState.pm cleanup_flag_exists) and never on a
 * live-migration source (QemuMigrate.pm passes skip_hookscript): a card can be used and never
 * cleaned. Its used mark, with no clean mark after it, keeps it dirty for the next pre-start. */
static void stop_flow_9_1_13_use_never_cleaned_is_dirty_at_next_pre_start(void **state)
{
        struct fixture *f = *state;

        mark_clean_on_vfio(f, &gpu, 100, 1000);
        assert_true(state_is_clean(&f->ctx, &gpu, -1));
        assert_int_equal(state_mark_used(&f->ctx, &gpu, 200, 1100), 0); /* VM 200's pre-start */
        /* VM 200 migrated away: no post-stop here, so no clean mark follows */
        assert_false(state_is_clean(&f->ctx, &gpu, -1));
        assert_false(state_is_clean(&f->ctx, &gpu, 500));
}

static void mark_clean_replaces_older_mark(void **state)
{
        struct fixture *f = *state;
        char text[128];

        mark_clean_on_vfio(f, &gpu, 100, 1000);
        assert_int_equal(state_mark_clean(&f->ctx, &gpu, 200, 2000), 0);
        read_state(f, "clean-0000:01:00.0", text, sizeof(text));
        assert_non_null(strstr(text, "vmid=200 time=2000 bind="));
        assert_true(state_is_clean(&f->ctx, &gpu, 1500));
        assert_int_equal(count_entries(f), 1);
}

static void malformed_mark_is_not_clean(void **state)
{
        static const char *const bad[] = {
                "", "garbage\n", "vmid=100\n", "vmid=100 time=\n", "vmid=100 time=5 extra\n",
                "vmid=100 time=5\n\n", "time=5 vmid=100\n",
                "vmid=100 time=5\n",                       /* format 1: nothing proves continuity */
                "format=2 vmid=100 time=5\n", "format=2 vmid=100 time=5 bind=\n",
                "format=2 vmid=100 time=5 bind=1-2.3 x\n", "format=3 vmid=100 time=5 bind=1-2.3\n",
        };
        struct fixture *f = *state;
        char good[128];

        mark_clean_on_vfio(f, &gpu, 100, 5);
        read_state(f, "clean-0000:01:00.0", good, sizeof(good));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                write_state(f, "clean-0000:01:00.0", bad[i], strlen(bad[i]));
                if (state_is_clean(&f->ctx, &gpu, -1))
                        fail_msg("case %zu (\"%s\") taken as clean", i, bad[i]);
        }
        write_state(f, "clean-0000:01:00.0", good, strlen(good) - 1); /* no newline: fine */
        assert_true(state_is_clean(&f->ctx, &gpu, 4));
}

static void marks_need_a_function(void **state)
{
        struct fixture *f = *state;
        const struct pci_addr slot = { 0, 1, 0, -1 };

        assert_int_equal(state_mark_clean(&f->ctx, &slot, 100, 1000), -EINVAL);
        assert_int_equal(state_mark_used(&f->ctx, &slot, 100, 1000), -EINVAL);
        assert_false(state_is_clean(&f->ctx, &slot, -1));
        assert_false(state_exists(f, "clean-0000:01:00"));
        assert_false(state_exists(f, "used-0000:01:00"));
}

/* ---- drivers_autoprobe guard ---- */

static void autoprobe_guard_records_our_pid(void **state)
{
        struct fixture *f = *state;
        char text[32], expect[32];

        assert_int_equal(state_autoprobe_guard_pid(&f->ctx), 0); /* none, no dir */
        assert_int_equal(state_autoprobe_guard_set(&f->ctx), 0);
        read_state(f, "autoprobe-off", text, sizeof(text));
        snprintf(expect, sizeof(expect), "pid=%d\n", (int)getpid());
        assert_string_equal(text, expect);
        assert_int_equal(state_autoprobe_guard_pid(&f->ctx), (long)getpid());

        assert_int_equal(state_autoprobe_guard_clear(&f->ctx), 0);
        assert_false(state_exists(f, "autoprobe-off"));
        assert_int_equal(state_autoprobe_guard_pid(&f->ctx), 0);
        assert_int_equal(state_autoprobe_guard_clear(&f->ctx), 0);
}

static void autoprobe_guard_left_by_a_crashed_run_is_read_back(void **state)
{
        struct fixture *f = *state;

        write_state(f, "autoprobe-off", "pid=31337\n", 10);
        assert_int_equal(state_autoprobe_guard_pid(&f->ctx), 31337);
        write_state(f, "autoprobe-off", "pid=31337", 9);
        assert_int_equal(state_autoprobe_guard_pid(&f->ctx), 31337);
}

static void malformed_autoprobe_guard_is_an_error_not_absent(void **state)
{
        static const char *const bad[] = {
                "", "pid=\n", "pid=abc\n", "pid=0\n", "pid=-5\n", "31337\n", "pid=12 x\n", "pid=1\n\n",
                "pid=99999999999999\n",
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                write_state(f, "autoprobe-off", bad[i], strlen(bad[i]));
                if (state_autoprobe_guard_pid(&f->ctx) != -EINVAL)
                        fail_msg("case %zu (\"%s\") not rejected", i, bad[i]);
        }
        write_state(f, "autoprobe-off", "pid=1\0x\n", 8);
        assert_int_equal(state_autoprobe_guard_pid(&f->ctx), -EINVAL);
}

/* A root prefix deep in the file system (--root of a CI checkout, a mounted image): the error keeps
 * what it says after the path, the reason and the fix, instead of stopping inside the path. */
static void symlinked_runtime_dir_under_a_long_root_keeps_the_whole_message(void **state)
{
        struct fixture *f = *state;
        char deep[2048], run[2200], link[2300];
        struct pgr_error err = {};
        struct pgr_ctx ctx;
        size_t n;

        n = (size_t)snprintf(deep, sizeof(deep), "%s", f->root);
        for (int i = 0; i < 12; i++)
                n += (size_t)snprintf(deep + n, sizeof(deep) - n, "/%s", "a-directory-name-forty-characters-long-x");
        assert_int_equal(mkdir_p(deep, 0755), 0);
        snprintf(run, sizeof(run), "%s/run", deep);
        assert_int_equal(mkdir(run, 0755), 0);
        snprintf(link, sizeof(link), "%s/pve-gpu-reset", run);
        assert_int_equal(symlink("/tmp", link), 0);
        assert_int_equal(pgr_ctx_init(&ctx, deep, "pve"), 0);
        assert_int_equal(pgr_runtime_dir_open(&ctx, NULL, 0, &err), -ELOOP);
        if (!strstr(err.msg, "is a symlink; refusing (remove it, it is recreated on the next run)"))
                fail_msg("message cut: ...%s", err.msg + (strlen(err.msg) > 80 ? strlen(err.msg) - 80 : 0));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(save_writes_one_bdf_per_line_under_root, setup, teardown),
                cmocka_unit_test_setup_teardown(save_then_load_round_trips, setup, teardown),
                cmocka_unit_test_setup_teardown(save_of_empty_set_loads_as_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(save_replaces_atomically, setup, teardown),
                cmocka_unit_test_setup_teardown(save_refuses_whole_slot_and_too_many, setup, teardown),
                cmocka_unit_test_setup_teardown(load_missing_dir_or_file_is_enoent, setup, teardown),
                cmocka_unit_test_setup_teardown(load_rejects_malformed_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(load_accepts_last_line_without_newline, setup, teardown),
                cmocka_unit_test_setup_teardown(load_reads_format_1_records_as_unknown_use, setup, teardown),
                cmocka_unit_test_setup_teardown(load_respects_max, setup, teardown),
                cmocka_unit_test_setup_teardown(forget_removes_record_and_is_idempotent, setup, teardown),
                cmocka_unit_test_setup_teardown(unwritable_state_dir_is_an_error, setup, teardown),
                cmocka_unit_test_setup_teardown(mark_clean_writes_vmid_time_and_bind_fingerprint, setup, teardown),
                cmocka_unit_test_setup_teardown(mark_clean_refuses_a_function_not_on_vfio, setup, teardown),
                cmocka_unit_test_setup_teardown(is_clean_compares_mark_time_with_since, setup, teardown),
                cmocka_unit_test_setup_teardown(is_clean_needs_the_same_vfio_binding, setup, teardown),
                cmocka_unit_test_setup_teardown(mark_used_records_the_use_and_removes_the_mark, setup, teardown),
                cmocka_unit_test_setup_teardown(used_mark_as_new_as_the_clean_mark_voids_it, setup, teardown),
                cmocka_unit_test_setup_teardown(stop_flow_9_1_13_use_never_cleaned_is_dirty_at_next_pre_start, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(mark_clean_replaces_older_mark, setup, teardown),
                cmocka_unit_test_setup_teardown(malformed_mark_is_not_clean, setup, teardown),
                cmocka_unit_test_setup_teardown(marks_need_a_function, setup, teardown),
                cmocka_unit_test_setup_teardown(autoprobe_guard_records_our_pid, setup, teardown),
                cmocka_unit_test_setup_teardown(autoprobe_guard_left_by_a_crashed_run_is_read_back, setup, teardown),
                cmocka_unit_test_setup_teardown(malformed_autoprobe_guard_is_an_error_not_absent, setup, teardown),
                cmocka_unit_test_setup_teardown(symlinked_runtime_dir_under_a_long_root_keeps_the_whole_message, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
