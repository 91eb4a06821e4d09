/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The files under <root>/run/pve-gpu-reset/ that a crashed or foreign writer may have left: the
 * same bytes are written as vm-100.devices, clean- and used-0000:01:00.0 and autoprobe-off of a temp root,
 * then read back by state_load_vm_devices, state_is_clean and state_autoprobe_guard_pid. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reset/state.h"

static struct pgr_ctx ctx;
static char dir[PATH_MAX];

static void cleanup(void)
{
        static const char *const names[] = { "vm-100.devices", "clean-0000:01:00.0", "used-0000:01:00.0",
                                             "autoprobe-off" };
        char p[PATH_MAX + 64];

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
                unlink(p);
        }
        rmdir(dir);
        snprintf(p, sizeof(p), "%s/run", ctx.root);
        rmdir(p);
        rmdir(ctx.root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *tmp = fuzz_tmpdir();
        char root[PATH_MAX], p[PATH_MAX + 16];

        (void)argc;
        (void)argv;
        snprintf(root, sizeof(root), "%s/pgr-fuzz-state.XXXXXX", tmp);
        FUZZ_CHECK(mkdtemp(root));
        FUZZ_CHECK(pgr_ctx_init(&ctx, root, "pve") == 0);
        snprintf(p, sizeof(p), "%s/run", root);
        FUZZ_CHECK(mkdir(p, 0755) == 0);
        snprintf(dir, sizeof(dir), "%s/run/pve-gpu-reset", root);
        FUZZ_CHECK(mkdir(dir, 0755) == 0);
        atexit(cleanup);
        return 0;
}

static void put(const char *name, const uint8_t *data, size_t size)
{
        char p[PATH_MAX + 64];
        int fd;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
        close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct state_device got[STATE_MAX_DEVICES], sentinel[STATE_MAX_DEVICES];
        struct pci_addr a = { 0, 1, 0, 0 };
        size_t n = 9999;
        long pid;
        int r;

        if (size > 64 * 1024)
                return 0;
        put("vm-100.devices", data, size);
        put("clean-0000:01:00.0", data, size);
        put("used-0000:01:00.0", data, size);
        put("autoprobe-off", data, size);

        for (size_t max = 2; max <= STATE_MAX_DEVICES; max += STATE_MAX_DEVICES - 2) {
                memset(got, 0x5a, sizeof(got));
                memcpy(sentinel, got, sizeof(got));
                n = 9999;
                r = state_load_vm_devices(&ctx, 100, got, max, &n);
                if (r < 0) {
                        FUZZ_CHECK(r == -EINVAL || r == -E2BIG || r == -EFBIG || r == -ENOMEM);
                        FUZZ_CHECK(n == 9999 && memcmp(got, sentinel, sizeof(got)) == 0);
                        continue;
                }
                FUZZ_CHECK(n <= max);
                FUZZ_CHECK(memcmp(got + n, sentinel + n, (STATE_MAX_DEVICES - n) * sizeof(got[0])) == 0);
                for (size_t i = 0; i < n; i++)
                        FUZZ_CHECK(FUZZ_ADDR_OK(got[i].addr, 0) && (unsigned)got[i].use < _HOSTPCI_USE_MAX);
                /* what was loaded saves and loads back the same */
                if (n > 0) {
                        struct state_device again[STATE_MAX_DEVICES];
                        size_t n2 = 0;

                        /* A format-1 record loads as "unknown", which is never written. */
                        for (size_t i = 0; i < n; i++)
                                if (got[i].use == HOSTPCI_USE_UNKNOWN)
                                        got[i].use = HOSTPCI_USE_VFIO;
                        FUZZ_CHECK(state_save_vm_devices(&ctx, 100, got, n) == 0);
                        FUZZ_CHECK(state_load_vm_devices(&ctx, 100, again, STATE_MAX_DEVICES, &n2) == 0);
                        FUZZ_CHECK(n2 == n && memcmp(again, got, n * sizeof(got[0])) == 0);
                        put("vm-100.devices", data, size);
                }
        }

        (void)state_is_clean(&ctx, &a, -1);
        (void)state_is_clean(&ctx, &a, 1700000000);

        pid = state_autoprobe_guard_pid(&ctx);
        FUZZ_CHECK(pid == -EINVAL || pid == -EFBIG || pid == -ENOMEM || (pid > 0 && pid <= INT_MAX));
        return 0;
}
