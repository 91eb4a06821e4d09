/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reset engine on fixture trees, with the fake kernel (tests/unit/fakekernel.c) reacting to the
 * writes: every rung, the fall to the next rung, a fault at each step, a card that vanishes, a host
 * driver that wins the rescan race, and the drivers_autoprobe recovery after a killed run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reset/apply.h"
#include "fakekernel.h"
#include "base/lock.h"
#include "kernel/sysfs.h"
#include "pve/reservations.h"
#include "reset/state.h"
#include "testutil.h"

struct rig {
        struct pgr_ctx ctx;
        struct fakekernel fk;
        struct policy *policy;
        struct vmconf *conf;
        struct mapping_file *maps;
        struct pcidev_access *acc;
        struct journal *journal;
        FILE *log;
        char *logbuf;
        size_t loglen;
        struct plan *plan;
        struct apply_result res;
        int r;
};

/* The fixture trees are a fresh copy per test binary; every test here gets its own copy again. */
static void copy_host(const char *host, char *root, size_t size)
{
        char cmd[8192];
        static int n;

        snprintf(root, size, "%s/apply-%d-%d", getenv("PGR_FIXTURES"), (int)getpid(), n++);
        snprintf(cmd, sizeof(cmd), "cp -a '%s/%s' '%s'", getenv("PGR_FIXTURES"), host, root);
        assert_int_equal(system(cmd), 0);
}

static void rig_plan(struct rig *g, unsigned long vmid, enum phase phase)
{
        struct pgr_error err = {};
        struct plan_input in = { .ctx = &g->ctx, .acc = g->acc, .conf = g->conf, .mappings = g->maps,
                                 .policy = g->policy, .phase = phase, .vmid = vmid, .now = 1700000000 };

        plan_free(g->plan);
        g->plan = NULL;
        assert_int_equal(plan_build(&in, &g->plan, &err), 0);
}

static void rig_up(struct rig *g, const char *host, unsigned long vmid, enum phase phase, const char *policy_json)
{
        char root[4096];
        struct pgr_error err = {};

        memset(g, 0, sizeof(*g));
        copy_host(host, root, sizeof(root));
        assert_int_equal(pgr_ctx_init(&g->ctx, root, NULL), 0);
        fk_init(&g->fk, &g->ctx, root);
        if (!policy_json) /* fast timeouts: the fake kernel answers at once or never */
                policy_json = "{\"defaults\": {\"settle_ms\": 0, \"reset_timeout_ms\": 200, \"rescan_timeout_ms\": 200, "
                              "\"bind_timeout_ms\": 200}}";
        assert_int_equal(policy_parse(policy_json, strlen(policy_json), "t.json", &g->policy, &err), 0);
        assert_int_equal(vmconf_load(&g->ctx, vmid, NULL, &g->conf, &err), 0);
        assert_int_equal(mapping_load(&g->ctx, &g->maps, &err), 0);
        assert_int_equal(pcidev_access_new(&g->ctx, &g->acc), 0);
        pcidev_access_skip_names(g->acc);
        g->log = open_memstream(&g->logbuf, &g->loglen);
        assert_int_equal(journal_open_mode(JOURNAL_MODE_STDERR, g->log, &g->journal), 0);
        rig_plan(g, vmid, phase);
}

static int rig_apply(struct rig *g)
{
        struct pgr_error err = {};
        struct apply_ctx a = { .ctx = &g->ctx, .acc = g->acc, .journal = g->journal, .vmid = g->plan->vmid,
                               .phase = g->plan->phase, .lock_timeout_ms = 500 };

        g->r = apply_plan(&a, g->plan, &g->res, &err);
        fflush(g->log);
        return g->r;
}

static bool logged(struct rig *g, const char *needle)
{
        fflush(g->log);
        return g->logbuf && strstr(g->logbuf, needle);
}

static void rig_down(struct rig *g)
{
        journal_close(g->journal);
        fclose(g->log);
        free(g->logbuf);
        plan_free(g->plan);
        pcidev_access_free(g->acc);
        vmconf_free(g->conf);
        mapping_file_free(g->maps);
        policy_free(g->policy);
        fk_done(&g->fk); /* reaps a delayed power-on still writing into the tree */
        assert_int_equal(rm_rf(g->fk.root), 0);
}

static const char *driver(struct rig *g, const char *bdf)
{
        static char buf[64];

        return fk_driver(&g->fk, bdf, buf, sizeof(buf));
}

static const char *autoprobe(struct rig *g)
{
        static char buf[16];

        return fk_cat(&g->fk, "sys/bus/pci/drivers_autoprobe", buf, sizeof(buf));
}

/* Every lock file under the root names no holder (a released lock is emptied). */
static void assert_no_lock_held(struct rig *g)
{
        static const char *const names[] = { "bus.lock", "slot-0000:01:00.lock", "slot-0000:02:00.lock" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char rel[128], buf[128];

                snprintf(rel, sizeof(rel), "run/pve-gpu-reset/%s", names[i]);
                assert_null(strstr(fk_cat(&g->fk, rel, buf, sizeof(buf)), "pid="));
        }
}

static int access_under_root(struct rig *g, const char *rel)
{
        char path[4200];

        snprintf(path, sizeof(path), "%s/%s", g->fk.root, rel);
        return access(path, F_OK);
}

static void slot_reset_runs_once_for_the_whole_gpu_slot(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(rig_apply(&g), 0);
        assert_int_equal(fk_count(&g.fk, "0000:00:01.0/reset_subordinate", "1"), 1);
        assert_int_equal(fk_count(&g.fk, "/reset", NULL), 0); /* the stale per-function bus method: never */
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_string_equal(driver(&g, "0000:01:00.1"), "vfio-pci");
        assert_true(logged(&g, "0000:01:00.1 bus-reset reset_subordinate ok"));
        assert_true(logged(&g, "done once for the whole slot"));
        assert_int_equal(g.res.n_failed, 0);
        assert_no_lock_held(&g);
        rig_down(&g);
}

static void failed_slot_reset_falls_to_remove_and_rescan(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        fk_fail(&g.fk, "reset_subordinate", NULL, EIO, -1);
        assert_int_equal(rig_apply(&g), 0);
        assert_true(logged(&g, "bus-reset reset_subordinate failed"));
        assert_true(logged(&g, "0000:01:00.0 remove-rescan ok"));
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/remove", "1"), 1);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.1/remove", "1"), 1);
        assert_int_equal(fk_count(&g.fk, "sys/class/pci_bus/0000:01/rescan", "1"), 1);
        assert_int_equal(fk_count(&g.fk, "sys/bus/pci/rescan", NULL), 0); /* never the global rescan */
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_string_equal(driver(&g, "0000:01:00.1"), "vfio-pci");
        assert_string_equal(autoprobe(&g), "1");
        rig_down(&g);
}

static void flr_enotty_falls_to_the_slot_reset(void **state)
{
        struct rig g;
        char buf[64];

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        fk_fail(&g.fk, "0000:02:00.0/reset", NULL, ENOTTY, -1);
        assert_int_equal(rig_apply(&g), 0);
        assert_true(logged(&g, "0000:02:00.0 reset flr failed"));
        assert_true(logged(&g, "ENOTTY"));
        assert_true(logged(&g, "0000:02:00.0 bus-reset reset_subordinate ok"));
        /* reset_method no longer goes back to the kernel's list ("flr bus", where FLR comes first again
         * for Proxmox, vfio-pci and QEMU): after the failed try it holds the pin (flr, what the plan
         * chose), then follows the rung that worked, the slot: pinned to none. The record is dropped;
         * the kernel's list stays recorded apart for later plans. */
        assert_int_equal(fk_count(&g.fk, "0000:02:00.0/reset_method", "flr bus"), 0);
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:02:00.0/reset_method", buf, sizeof(buf)), "");
        assert_true(logged(&g, "0000:02:00.0: reset_method pinned to none"));
        assert_int_equal(access_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:02:00.0"), -1);
        assert_string_equal(fk_cat(&g.fk, "run/pve-gpu-reset/kernel-reset_method-0000:02:00.0", buf, sizeof(buf)),
                            "flr bus");
        rig_down(&g);
}

static void host_driver_that_wins_the_rescan_is_displaced(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_PRE_START,
               "{\"defaults\": {\"reset_methods\": [\"remove-rescan\"], \"settle_ms\": 0, \"rescan_timeout_ms\": 200, "
               "\"bind_timeout_ms\": 200}}");
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        assert_int_equal(rig_apply(&g), 0);
        /* After the rescan the kernel gave it back to nvidia (drivers_autoprobe cannot stop that). */
        assert_true(fk_count(&g.fk, "0000:01:00.0/driver/unbind", NULL) >= 2);
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_string_equal(driver(&g, "0000:01:00.1"), "vfio-pci");
        assert_true(logged(&g, "moved from host driver to vfio-pci"));
        assert_string_equal(autoprobe(&g), "1");
        rig_down(&g);
}

static void card_that_never_comes_back_fails_and_restores_autoprobe(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP,
               "{\"defaults\": {\"reset_methods\": [\"remove-rescan\"], \"settle_ms\": 0, \"rescan_timeout_ms\": 100}}");
        fk_dead(&g.fk, "0000:01:00.0");
        assert_int_equal(rig_apply(&g), -EIO);
        assert_int_equal(g.res.n_failed, 1);
        assert_non_null(strstr(g.res.first_failure, "0000:01:00.0"));
        assert_non_null(strstr(g.res.first_failure, "did not come back"));
        assert_string_equal(autoprobe(&g), "1");
        assert_true(logged(&g, "remove-rescan failed"));
        assert_no_lock_held(&g);
        rig_down(&g);
}

static void foreign_device_below_the_bridge_is_never_written(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "plx-shared-bridge", 100, PHASE_POST_STOP, NULL);
        (void)rig_apply(&g);
        for (int i = 0; i < g.fk.sh->n_log; i++) {
                assert_null(strstr(g.fk.sh->log[i], "0000:04:00.1"));
                assert_null(strstr(g.fk.sh->log[i], "0000:03:08.0"));
                assert_null(strstr(g.fk.sh->log[i], "/remove"));
                assert_null(strstr(g.fk.sh->log[i], "rescan"));
                /* No reset of anything; the VM's own GPU (no usable reset here) has its reset_method
                 * pinned to none, so nobody else resets it with the stale "bus" either. */
                if (!strstr(g.fk.sh->log[i], "0000:04:00.0/reset_method="))
                        assert_null(strstr(g.fk.sh->log[i], "reset"));
        }
        assert_string_equal(driver(&g, "0000:04:00.1"), "snd_hda_intel");
        rig_down(&g);
}

/* The pin: after the reset, reset_method holds the method the ladder chose (read back), not the
 * kernel's list with FLR first that Proxmox's write to reset, vfio-pci and QEMU would use next. */
static void kernel_method_that_worked_is_pinned_and_read_back(void **state)
{
        struct rig g;
        char buf[64];

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(rig_apply(&g), 0);
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:02:00.0/reset_method", buf, sizeof(buf)), "flr");
        assert_true(logged(&g, "0000:02:00.0: reset_method pinned to flr"));
        assert_int_equal(access_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:02:00.0"), -1);
        assert_string_equal(fk_cat(&g.fk, "run/pve-gpu-reset/kernel-reset_method-0000:02:00.0", buf, sizeof(buf)),
                            "flr bus");
        /* The next plan still chooses from the kernel's list, not from the pin. */
        rig_plan(&g, 100, PHASE_PRE_START);
        assert_int_equal(g.plan->devices[0].dev.n_reset_methods, 2);
        assert_string_equal(g.plan->devices[0].dev.reset_methods[1], "bus");
        rig_down(&g);
}

/* A pin that does not take (the kernel refuses the write) is a warning with the fix, not a failed
 * device: the card was reset and is usable, and Proxmox would start the VM. */
static void pin_that_does_not_take_is_a_warning(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        fk_fail(&g.fk, "0000:01:00.0/reset_method", NULL, EINVAL, -1);
        assert_int_equal(rig_apply(&g), 0);
        assert_int_equal(g.res.n_failed, 0);
        assert_true(logged(&g, "0000:01:00.0: reset_method could not be pinned to none (per-function resets disabled): Invalid argument"));
        assert_true(logged(&g, "set it by hand: echo  > /sys/bus/pci/devices/0000:01:00.0/reset_method"));
        rig_down(&g);
}

/* Slot reset first: pinned to none, every per-function reset disabled. Proxmox's write of 1 to reset
 * right after pre-start (qemu-server PVE/QemuServer/PCI.pm prepare_pci_device, pci_dev_reset) then
 * fails with ENOTTY, which qemu-server >= 8.2.6 only warns about, instead of an FLR. */
static void slot_reset_pins_none_and_proxmox_reset_write_fails(void **state)
{
        struct rig g;
        char buf[64];
        struct pci_addr gpu = { .domain = 0, .bus = 1, .slot = 0, .func = 0 };

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_PRE_START, NULL);
        assert_int_equal(rig_apply(&g), 0);
        assert_true(logged(&g, "0000:01:00.0 bus-reset reset_subordinate ok"));
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:01:00.0/reset_method", buf, sizeof(buf)), "");
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", "\n"), 1); /* sysfs drops an empty write */
        assert_true(logged(&g, "0000:01:00.0: reset_method pinned to none (per-function resets disabled)"));
        assert_int_equal(sysfs_dev_write(&g.ctx, &gpu, "reset", "1"), -ENOTTY);
        rig_down(&g);
}

/* The next run finds the pin in place and writes nothing (a read shows it, as the read back of a
 * write would); one who set reset_method by hand in between gets the pin written again. */
static void pin_in_place_is_read_not_written_again(void **state)
{
        struct rig g;
        char buf[64];
        struct pci_addr gpu = { .domain = 0, .bus = 1, .slot = 0, .func = 0 };

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(rig_apply(&g), 0);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", "\n"), 1);
        rig_plan(&g, 100, PHASE_POST_STOP);
        assert_int_equal(rig_apply(&g), 0);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", "\n"), 1);
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:01:00.0/reset_method", buf, sizeof(buf)), "");
        assert_int_equal(sysfs_dev_write(&g.ctx, &gpu, "reset_method", "default"), 0);
        assert_string_not_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:01:00.0/reset_method", buf, sizeof(buf)), "");
        rig_plan(&g, 100, PHASE_POST_STOP);
        assert_int_equal(rig_apply(&g), 0);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", "\n"), 2);
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:01:00.0/reset_method", buf, sizeof(buf)), "");
        rig_down(&g);
}

/* A remove+rescan makes the kernel forget reset_method: every function of the slot is pinned again
 * right after the rescan that brought it back, not only at the end of its own turn. */
static void pin_is_set_again_after_every_rescan(void **state)
{
        struct rig g;
        char buf[64];

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP,
               "{\"defaults\": {\"reset_methods\": [\"remove-rescan\"], \"settle_ms\": 0, \"rescan_timeout_ms\": 200, "
               "\"bind_timeout_ms\": 200}}");
        assert_int_equal(rig_apply(&g), 0);
        for (int f = 0; f < 1; f++) { /* .1 has no reset_method attribute: nothing to pin */
                char remove[64], pin[64];
                int last_remove = -1, first_pin_after = -1;

                snprintf(remove, sizeof(remove), "0000:01:00.%d/remove=", f);
                snprintf(pin, sizeof(pin), "0000:01:00.%d/reset_method=", f);
                for (int i = 0; i < g.fk.sh->n_log; i++)
                        if (strstr(g.fk.sh->log[i], remove))
                                last_remove = i;
                for (int i = last_remove + 1; i < g.fk.sh->n_log && first_pin_after < 0; i++)
                        if (strstr(g.fk.sh->log[i], pin))
                                first_pin_after = i;
                assert_true(last_remove >= 0);
                assert_true(first_pin_after > last_remove);
                snprintf(remove, sizeof(remove), "sys/bus/pci/devices/0000:01:00.%d/reset_method", f);
                assert_string_equal(fk_cat(&g.fk, remove, buf, sizeof(buf)), "");
        }
        /* .0 is pinned by the rescan of its own ladder before its turn ends; the end of its turn finds
         * the pin in place (read, not written again): one write. */
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", "\n"), 1);
        rig_down(&g);
}

static void keep_and_mdev_devices_see_no_write(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "keep-mdev", 100, PHASE_PRE_START, NULL);
        assert_int_equal(rig_apply(&g), 0);
        for (int i = 0; i < g.fk.sh->n_log; i++)
                assert_null(strstr(g.fk.sh->log[i], "sys/bus/pci/devices/"));
        assert_int_equal(g.res.n_skipped, 3);
        rig_down(&g);
}

/* Just before drivers_autoprobe goes back to 1, the guard file becomes something unlink(2) cannot
 * remove (a directory): the run must say so, naming the file. */
static int guard_turns_into_a_directory(struct fakekernel *fk, const char *rel, const char *value)
{
        char path[2048];

        if (strcmp(rel, "sys/bus/pci/drivers_autoprobe") != 0 || strcmp(value, "1") != 0)
                return 0;
        snprintf(path, sizeof(path), "%s/run/pve-gpu-reset/autoprobe-off", fk->root);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0755), 0);
        return 0;
}

static void autoprobe_guard_that_cannot_be_removed_is_journalled(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        fk_fail(&g.fk, "reset_subordinate", NULL, EIO, -1);
        g.fk.before_write = guard_turns_into_a_directory;
        assert_int_equal(rig_apply(&g), 0);
        assert_string_equal(autoprobe(&g), "1");
        assert_true(logged(&g, "/run/pve-gpu-reset/autoprobe-off"));
        rig_down(&g);
}

/* A device apply skips is counted once, as skipped: not also as ok (the summary said "1 ok, 1
 * skipped" of one refused card). */
static void skipped_device_counts_once(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "keep-mdev", 100, PHASE_PRE_START, NULL);
        assert_int_equal(rig_apply(&g), 0);
        assert_int_equal(g.res.n_ok, 0);
        assert_int_equal(g.res.n_skipped, 3);
        assert_int_equal(g.res.n_failed, 0);
        rig_down(&g);

        /* 04:00.0 has no usable reset: skipped for safety, nothing else. */
        rig_up(&g, "plx-shared-bridge", 100, PHASE_POST_STOP, NULL);
        (void)rig_apply(&g);
        assert_int_equal(g.res.n_ok + g.res.n_skipped + g.res.n_failed, 1);
        assert_int_equal(g.res.n_skipped, 1);
        rig_down(&g);
}

static void autoprobe_left_at_zero_by_a_killed_run_is_restored(void **state)
{
        struct rig g;
        struct pgr_error err = {};
        struct apply_ctx a;
        char path[4200];
        FILE *f;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_PRE_START, NULL);
        a = (struct apply_ctx){ .ctx = &g.ctx, .acc = g.acc, .journal = g.journal, .vmid = 100,
                                .phase = PHASE_PRE_START, .lock_timeout_ms = 500 };
        assert_int_equal(apply_recover_autoprobe(&a, &err), 0); /* nothing to do */
        assert_int_equal(state_autoprobe_guard_set(&g.ctx), 0);
        snprintf(path, sizeof(path), "%s/run/pve-gpu-reset/autoprobe-off", g.fk.root);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs("pid=999999\n", f); /* a run that no longer exists */
        fclose(f);
        snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers_autoprobe", g.fk.root);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs("0\n", f);
        fclose(f);
        assert_int_equal(apply_recover_autoprobe(&a, &err), 1);
        assert_string_equal(autoprobe(&g), "1");
        assert_int_equal(state_autoprobe_guard_pid(&g.ctx), 0);
        assert_true(logged(&g, "drivers_autoprobe was left at 0"));
        rig_down(&g);
}

/* A run killed with SIGKILL inside the window left the guard naming its pid, and that pid now belongs
 * to another, live process (pids are reused). Liveness of the pid proves nothing: the writer is dead
 * because nobody holds the window's lock, so drivers_autoprobe is restored. */
static void autoprobe_guard_whose_pid_was_reused_is_still_recovered(void **state)
{
        struct rig g;
        struct pgr_error err = {};
        struct apply_ctx a;
        char path[4200];

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_PRE_START, NULL);
        a = (struct apply_ctx){ .ctx = &g.ctx, .acc = g.acc, .journal = g.journal, .vmid = 100,
                                .phase = PHASE_PRE_START, .lock_timeout_ms = 500 };
        assert_int_equal(state_autoprobe_guard_set(&g.ctx), 0);
        snprintf(path, sizeof(path), "%s/run/pve-gpu-reset/autoprobe-off", g.fk.root);
        write_text(path, "pid=4242\n");
        snprintf(path, sizeof(path), "%s/proc", g.fk.root);
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        snprintf(path, sizeof(path), "%s/proc/4242", g.fk.root); /* pid 4242 is alive: someone else now */
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers_autoprobe", g.fk.root);
        write_text(path, "0\n");
        assert_int_equal(apply_recover_autoprobe(&a, &err), 1);
        assert_string_equal(autoprobe(&g), "1");
        assert_int_equal(state_autoprobe_guard_pid(&g.ctx), 0);
        rig_down(&g);
}

/* A run inside its window (it holds the window's lock) is left alone, whatever its guard says; a guard
 * nobody can parse, with the lock free, is stale and recovered. */
static void autoprobe_guard_of_a_live_window_is_left_alone(void **state)
{
        struct rig g;
        struct pgr_error err = {};
        struct pgr_lock live = PGR_LOCK_INIT;
        struct apply_ctx a;
        char path[4200];

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_PRE_START, NULL);
        a = (struct apply_ctx){ .ctx = &g.ctx, .acc = g.acc, .journal = g.journal, .vmid = 100,
                                .phase = PHASE_PRE_START, .lock_timeout_ms = 500 };
        assert_int_equal(lock_autoprobe(&g.ctx, 200, "autoprobe-off", 0, &live, &err), 0);
        assert_int_equal(state_autoprobe_guard_set(&g.ctx), 0);
        snprintf(path, sizeof(path), "%s/run/pve-gpu-reset/autoprobe-off", g.fk.root);
        write_text(path, "pid=999999\n"); /* no such pid, yet its window is open */
        snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers_autoprobe", g.fk.root);
        write_text(path, "0\n");
        assert_int_equal(apply_recover_autoprobe(&a, &err), 0);
        assert_string_equal(autoprobe(&g), "0");
        assert_int_equal(state_autoprobe_guard_pid(&g.ctx), 999999);
        lock_release(&live);

        snprintf(path, sizeof(path), "%s/run/pve-gpu-reset/autoprobe-off", g.fk.root);
        write_text(path, "garbage");
        assert_int_equal(apply_recover_autoprobe(&a, &err), 1);
        assert_string_equal(autoprobe(&g), "1");
        assert_int_equal(state_autoprobe_guard_pid(&g.ctx), 0);
        rig_down(&g);
}

/* A fault at every step of every rung: a clear outcome, autoprobe back at 1, no lock held, and no
 * write outside the VM's functions and their bridge. */
static void every_step_fault_leaves_the_host_consistent(void **state)
{
        static const char *const steps[] = {
                "reset_subordinate", "0000:01:00.0/remove", "0000:01:00.1/remove", "pci_bus/0000:01/rescan",
                "driver_override", "drivers_probe", "drivers_autoprobe", "d3cold_allowed", "power/control",
                "l0s_aspm", "driver/unbind",
        };
        static const int errors[] = { EINVAL, ENOTTY, EBUSY, EACCES };

        (void)state;
        for (size_t s = 0; s < ELEMENTSOF(steps); s++)
                for (size_t e = 0; e < ELEMENTSOF(errors); e++) {
                        struct rig g;

                        rig_up(&g, "host-driver", 100, PHASE_PRE_START, NULL);
                        fk_fail(&g.fk, steps[s], NULL, errors[e], -1);
                        (void)rig_apply(&g);
                        assert_true(g.r == 0 || g.r == -EIO);
                        if (g.r < 0)
                                assert_true(g.res.first_failure[0] != '\0');
                        assert_string_equal(autoprobe(&g), "1");
                        assert_no_lock_held(&g);
                        for (int i = 0; i < g.fk.sh->n_log; i++) {
                                const char *w = g.fk.sh->log[i];

                                if (strncmp(w, "sys/bus/pci/devices/", 20) == 0)
                                        assert_true(strncmp(w + 20, "0000:01:00.", 11) == 0 ||
                                                    strncmp(w + 20, "0000:00:01.0/", 13) == 0);
                        }
                        rig_down(&g);
                }
}

static bool present(struct rig *g, const char *bdf)
{
        char path[4200];

        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s", g->fk.root, bdf);
        return access(path, F_OK) == 0;
}

/* Config space reads all 0xff from now on, as when a device falls off the bus. */
static void kill_config(struct rig *g, const char *bdf)
{
        char path[4200], ff[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/config", g->fk.root, bdf);
        memset(ff, 0xff, sizeof(ff));
        f = fopen(path, "r+e");
        assert_non_null(f);
        assert_int_equal(fwrite(ff, 1, sizeof(ff), f), sizeof(ff));
        assert_int_equal(fclose(f), 0);
}

/* Issue #7: .0 was removed, then the remove of .1 failed; the rescan must still run, or .0 stays
 * gone until a reboot. */
static void failed_second_remove_still_rescans_the_first(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP,
               "{\"defaults\": {\"reset_methods\": [\"remove-rescan\"], \"settle_ms\": 0, \"rescan_timeout_ms\": 200, "
               "\"reset_timeout_ms\": 200, \"bind_timeout_ms\": 200}}");
        fk_fail(&g.fk, "0000:01:00.1/remove", NULL, EBUSY, -1);
        assert_int_equal(rig_apply(&g), -EIO);
        assert_true(fk_count(&g.fk, "0000:01:00.0/remove", "1") >= 1);
        assert_true(present(&g, "0000:01:00.0"));
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_true(logged(&g, "remove of 0000:01:00.1 failed"));
        assert_string_equal(autoprobe(&g), "1");
        rig_down(&g);
}

/* The same on the bridge rung: what was removed before a failed remove or a failed secondary bus
 * reset comes back through the rescan. */
static void failed_bridge_reset_still_rescans_what_it_removed(void **state)
{
        static const char *const faults[] = { "0000:01:00.1/remove", "bridge config space" };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(faults); i++) {
                struct rig g;

                rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP,
                       "{\"defaults\": {\"reset_methods\": [\"slot\"], \"bus_reset\": \"bridge\", \"settle_ms\": 0, "
                       "\"rescan_timeout_ms\": 200, \"reset_timeout_ms\": 200, \"bind_timeout_ms\": 200}}");
                if (i == 0)
                        fk_fail(&g.fk, faults[i], NULL, EIO, -1);
                else /* the Bridge Control write goes through libpci: a bridge that stopped answering */
                        kill_config(&g, "0000:00:01.0");
                (void)rig_apply(&g);
                assert_true(present(&g, "0000:01:00.0"));
                assert_true(present(&g, "0000:01:00.1"));
                assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
                assert_string_equal(autoprobe(&g), "1");
                rig_down(&g);
        }
}

/* The GeForce with USB-C passed as .0;.1: the slot reset covers .2 and .3 of the same IOMMU group. */
static void collateral_functions_of_the_group_get_the_slot_reset(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 101, PHASE_POST_STOP, NULL);
        assert_int_equal(rig_apply(&g), 0);
        assert_int_equal(fk_count(&g.fk, "0000:00:03.0/reset_subordinate", "1"), 1);
        assert_true(logged(&g, "0000:03:00.1 bus-reset reset_subordinate ok"));
        assert_int_equal(g.res.n_failed, 0);
        rig_down(&g);
}

static void mkdir_under_root(struct rig *g, const char *rel)
{
        char cmd[4300];

        snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", g->fk.root, rel);
        assert_int_equal(system(cmd), 0);
}

static void write_under_root(struct rig *g, const char *rel, const char *text)
{
        char path[4200];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", g->fk.root, rel);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

/* Issue #4: the plan found the card free; while this run waited for its slot locks VM 101 reserved
 * it (or opened its IOMMU group). Under the locks the check is redone: nothing of 01:00.0 is
 * touched, the slot reset that would cover it is refused too, and the phase fails saying why. */
static void device_that_became_foreign_during_the_lock_wait_is_not_touched(void **state)
{
        (void)state;
        for (int k = 0; k < 2; k++) {
                struct rig g;

                rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
                if (k == 0) {
                        mkdir_under_root(&g, "run/qemu-server");
                        write_under_root(&g, "run/qemu-server/pci-id-reservations", "0000:01:00.0 101 time:4000000000\n");
                } else {
                        char link[4200];

                        mkdir_under_root(&g, "proc/4242/fd");
                        snprintf(link, sizeof(link), "%s/proc/4242/fd/7", g.fk.root);
                        assert_int_equal(symlink("/dev/vfio/13", link), 0);
                }
                assert_int_equal(rig_apply(&g), -EIO);
                for (int i = 0; i < g.fk.sh->n_log; i++) {
                        assert_null(strstr(g.fk.sh->log[i], "0000:01:00.0"));
                        assert_null(strstr(g.fk.sh->log[i], "reset_subordinate"));
                        assert_null(strstr(g.fk.sh->log[i], "/remove"));
                }
                assert_true(logged(&g, k == 0 ? "reserved by VM 101" : "held open by pid 4242"));
                assert_true(g.res.n_failed >= 1);
                assert_non_null(strstr(g.res.first_failure, "0000:01:00.0"));
                assert_no_lock_held(&g);
                rig_down(&g);
        }
}

/* Attack review: the check a slot-wide rung makes under the locks (plan_may_cover, from check_covered)
 * took the IOMMU group numbers the plan read; a remove+rescan earlier in the run renumbers them (both
 * Debian kernels), so a process that opened the function's new group was not seen. Read again. */
static void cover_check_reads_the_group_the_function_has_now(void **state)
{
        struct rig g;
        struct reservations reserved = {};
        struct foreign_check fc;
        struct pci_addr audio = { .domain = 0, .bus = 1, .slot = 0, .func = 1 };
        char link[4200], why[256];
        bool collateral;

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_POST_STOP, NULL);
        fc = (struct foreign_check){ .ctx = &g.ctx, .res = &reserved, .vmid = 100, .now = 1700000000 };
        assert_true(plan_may_cover(&fc, g.plan, &audio, &collateral, why, sizeof(why)));
        /* As a rescan leaves it: .1 in group 7 now, which pid 4242 holds open. */
        mkdir_under_root(&g, "sys/kernel/iommu_groups/7/devices");
        snprintf(link, sizeof(link), "%s/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.1/iommu_group", g.fk.root);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(symlink("../../../../kernel/iommu_groups/7", link), 0);
        mkdir_under_root(&g, "proc/4242/fd");
        snprintf(link, sizeof(link), "%s/proc/4242/fd/9", g.fk.root);
        assert_int_equal(symlink("/dev/vfio/7", link), 0);
        fc.n_groups = 0;
        assert_false(plan_may_cover(&fc, g.plan, &audio, &collateral, why, sizeof(why)));
        assert_non_null(strstr(why, "4242"));
        rig_down(&g);
}

/* ...and a slot reset whose cover gained another VM's function (collateral .3, reserved by VM 102 after
 * the plan) is refused under the lock: every function it covers is checked again. */
static void slot_reset_over_a_function_that_became_foreign_is_refused(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 101, PHASE_POST_STOP, NULL);
        mkdir_under_root(&g, "run/qemu-server");
        write_under_root(&g, "run/qemu-server/pci-id-reservations", "0000:03:00.3 102 time:4000000000\n");
        assert_int_equal(rig_apply(&g), -EIO);
        assert_int_equal(fk_count(&g.fk, "reset_subordinate", NULL), 0);
        assert_int_equal(fk_count(&g.fk, "/remove", NULL), 0);
        assert_true(logged(&g, "0000:03:00.3 is reserved by VM 102 (pci-id-reservations): not ours to reset"));
        rig_down(&g);
}

static int killed_at_reset(struct fakekernel *fk, const char *rel, const char *value)
{
        (void)fk;
        (void)value;
        if (strlen(rel) > 6 && streq(rel + strlen(rel) - 6, "/reset"))
                raise(SIGKILL); /* the hook killed between narrowing reset_method and restoring it */
        return 0;
}

/* Runs the apply in a child that the fake kernel kills at its first "reset" write. */
static void apply_killed_at_reset(struct rig *g)
{
        pid_t pid;
        int status;

        fflush(g->log);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                g->fk.before_write = killed_at_reset;
                (void)rig_apply(g);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Issue #6: a run killed between narrowing reset_method to "flr" and writing it back leaves "flr"
 * until a reboot. The next plan must still see the function's real list ("flr bus"). */
static void reset_method_narrowed_by_a_killed_run_is_not_taken_as_the_truth(void **state)
{
        struct rig g;
        char buf[64];
        const struct plan_device *gpu;

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        apply_killed_at_reset(&g);
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:02:00.0/reset_method", buf, sizeof(buf)), "flr");
        rig_plan(&g, 100, PHASE_POST_STOP);
        gpu = &g.plan->devices[0];
        assert_string_equal(gpu->dev.bdf, "0000:02:00.0");
        assert_int_equal(gpu->dev.n_reset_methods, 2);
        assert_string_equal(gpu->dev.reset_methods[1], "bus");
        rig_down(&g);
}

/* ...and the next run writes back before it reads any fact, journaling it, what an uninterrupted
 * run leaves: the pin (flr here, the ladder's first rung), no longer the kernel's full list. */
static void next_run_restores_a_reset_method_left_narrowed(void **state)
{
        struct rig g;
        struct pgr_error err = {};
        struct apply_ctx a;
        char buf[64];

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        apply_killed_at_reset(&g);
        a = (struct apply_ctx){ .ctx = &g.ctx, .acc = g.acc, .journal = g.journal, .vmid = 101,
                                .phase = PHASE_PRE_START, .lock_timeout_ms = 500 };
        /* The killed run recorded the pin, not the kernel's list (which has a record of its own). */
        assert_string_equal(fk_cat(&g.fk, "run/pve-gpu-reset/restore-reset_method-0000:02:00.0", buf, sizeof(buf)), "flr");
        assert_string_equal(fk_cat(&g.fk, "run/pve-gpu-reset/kernel-reset_method-0000:02:00.0", buf, sizeof(buf)),
                            "flr bus");
        assert_int_equal(apply_recover_settings(&a, &err), 1);
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:02:00.0/reset_method", buf, sizeof(buf)), "flr");
        assert_int_equal(access_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:02:00.0"), -1);
        assert_true(logged(&g, "0000:02:00.0: reset_method was left narrowed by a run that did not finish; restored to 'flr'"));
        assert_int_equal(apply_recover_settings(&a, &err), 0); /* nothing left */
        /* A slot locked by a live run is that run's to restore: its record is left alone. */
        {
                struct pgr_lock held = PGR_LOCK_INIT;
                struct pci_addr f = { .domain = 0, .bus = 2, .slot = 0, .func = 0 }, s = f;

                s.func = -1;
                assert_int_equal(state_setting_save(&g.ctx, &f, "reset_method", "flr bus"), 0);
                assert_int_equal(lock_slot(&g.ctx, &s, 100, "post-stop", 0, &held, &err), 0);
                pid_t pid = fork();
                int status;

                assert_true(pid >= 0);
                if (pid == 0) /* another process: flock(2) locks are per open file */
                        _exit(apply_recover_settings(&a, &err) == 0 &&
                              access_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:02:00.0") == 0 ? 0 : 1);
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                lock_release(&held);
        }
        rig_down(&g);
}

/* The kernel as the attack review modelled it: nvidia's remove waits for every /dev/nvidia* user,
 * inside device_release_driver_internal with the device's lock held; control_store (power/control),
 * a reset of the device and pci_reset_bus (every device on the bus) take that lock too and block
 * behind it. The marker file tells the parent that the child holds the lock. */
static int unbind_blocks(struct fakekernel *fk, const char *rel, const char *value)
{
        char marker[4200];

        (void)value;
        snprintf(marker, sizeof(marker), "%s/unbind-stuck", fk->root);
        if (strstr(rel, "0000:01:00.0/driver/unbind")) {
                int fd = open(marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

                if (fd >= 0)
                        close(fd);
                for (;;)
                        pause();
        }
        if (access(marker, F_OK) == 0 && strstr(rel, "0000:01:00.") &&
            (strstr(rel, "power/control") || strstr(rel, "/reset") || strstr(rel, "/remove")))
                for (;;)
                        pause(); /* blocked on the device lock: only the test's alarm ends this */
        return 0;
}

/* A host driver's unbind that never returns must not hang the VM start: after bind_timeout_ms the
 * device fails, naming who holds /dev/nvidia* open and nvidia-persistenced. */
static void host_driver_unbind_that_blocks_fails_in_bounded_time(void **state)
{
        struct rig g;
        char link[4200];
        time_t t0;

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_PRE_START, NULL);
        mkdir_under_root(&g, "proc/2345/fd");
        write_under_root(&g, "proc/2345/comm", "nvidia-persistenced\n");
        snprintf(link, sizeof(link), "%s/proc/2345/fd/3", g.fk.root);
        assert_int_equal(symlink("/dev/nvidiactl", link), 0);
        mkdir_under_root(&g, "proc/3456/fd");
        write_under_root(&g, "proc/3456/comm", "Xorg\n");
        snprintf(link, sizeof(link), "%s/proc/3456/fd/9", g.fk.root);
        assert_int_equal(symlink("/dev/nvidia0", link), 0);
        g.fk.before_write = unbind_blocks;
        t0 = time(NULL);
        alarm(20); /* a hang fails the test instead of stalling the suite */
        assert_int_equal(rig_apply(&g), -EIO);
        alarm(0);
        assert_true(time(NULL) - t0 < 10);
        assert_true(logged(&g, "did not finish within 200 ms"));
        assert_true(logged(&g, "pid 2345 (nvidia-persistenced)"));
        assert_true(logged(&g, "pid 3456 (Xorg)"));
        assert_non_null(strstr(g.res.first_failure, "0000:01:00.0"));
        /* Nothing more is touched once an unbind is stuck: not the card (keep-awake would block on its
         * lock) and not its sibling (a slot reset locks every device on the bus). */
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/power/control", NULL), 0);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.1/", NULL), 0);
        assert_string_equal(autoprobe(&g), "1");
        assert_no_lock_held(&g);
        rig_down(&g);
}

/* Index of the first write of the fake kernel whose "<path>=<value>" contains needle, -1 when none. */
static int first_write(const struct rig *g, const char *needle)
{
        for (int i = 0; i < g->fk.sh->n_log; i++)
                if (strstr(g->fk.sh->log[i], needle))
                        return i;
        return -1;
}

/* A slot reset resets every function below the bridge, whatever driver holds it; the kernel tells a
 * driver only through its reset_prepare/reset_done (pci_dev_save_and_disable), which snd_hda_intel and
 * the GPU drivers do not have. So a function of the VM still on its host driver (the HDMI audio beside
 * an nvidia GPU, e2e vfio-noflr.sh: the e1000e) must leave it before any function of the VM is reset,
 * not after its sibling's slot reset. */
static void every_function_leaves_its_host_driver_before_the_slot_reset(void **state)
{
        struct rig g;
        int reset_at, unbind_at, bind_at;

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_PRE_START, NULL);
        assert_int_equal(rig_apply(&g), 0);
        reset_at = first_write(&g, "0000:00:01.0/reset_subordinate=1");
        unbind_at = first_write(&g, "0000:01:00.1/driver/unbind=");
        bind_at = first_write(&g, "drivers_probe=0000:01:00.1");
        assert_true(reset_at >= 0);
        assert_true(unbind_at >= 0);
        assert_true(bind_at >= 0);
        assert_true(unbind_at < reset_at);
        assert_true(bind_at < reset_at);
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_string_equal(driver(&g, "0000:01:00.1"), "vfio-pci");
        assert_int_equal(fk_count(&g.fk, "0000:00:01.0/reset_subordinate", "1"), 1);
        assert_int_equal(g.res.n_failed, 0);
        rig_down(&g);
}

/* Issue #7, the mapping path: a mapping= device that fell off the bus gets the same one rescan at
 * pre-start as a raw hostpci (run.c execute: apply_rescan_missing, then plan again). */
static void missing_mapping_device_is_rescanned_at_pre_start(void **state)
{
        struct rig g;
        struct pgr_error err = {};
        struct apply_ctx a;
        char path[4200];

        (void)state;
        rig_up(&g, "mapping", 100, PHASE_PRE_START, NULL);
        assert_int_equal(g.plan->n_devices, 2);
        for (int f = 0; f < 2; f++) {
                snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:07:00.%d/remove", g.fk.root, f);
                assert_int_equal(g.ctx.ops->write(g.ctx.ops_userdata, path, "1"), 0);
        }
        rig_plan(&g, 100, PHASE_PRE_START);
        assert_true(plan_has_errors(g.plan));
        a = (struct apply_ctx){ .ctx = &g.ctx, .acc = g.acc, .journal = g.journal, .vmid = 100,
                                .phase = PHASE_PRE_START, .lock_timeout_ms = 500 };
        assert_int_equal(apply_rescan_missing(&a, g.plan, &err), 0);
        assert_int_equal(fk_count(&g.fk, "sys/class/pci_bus/0000:07/rescan", "1"), 1);
        rig_plan(&g, 100, PHASE_PRE_START);
        assert_int_equal(g.plan->n_devices, 2);
        assert_true(g.plan->devices[0].dev.present && g.plan->devices[1].dev.present);
        assert_false(plan_has_errors(g.plan));
        assert_string_equal(driver(&g, "0000:07:00.0"), "vfio-pci");
        rig_down(&g);
}

static int reserve_84_on_first_83_write(struct fakekernel *fk, const char *rel, const char *value)
{
        char path[1200];
        FILE *f;

        (void)value;
        if (!strstr(rel, "0000:83:00.") || fk->userdata)
                return 0;
        fk->userdata = fk; /* once */
        snprintf(path, sizeof(path), "%s/run/qemu-server/pci-id-reservations", fk->root);
        f = fopen(path, "we");
        if (f) {
                fputs("0000:84:00.0 105 time:4000000000\n", f);
                fclose(f);
        }
        return 0;
}

/* The check is redone before each device, not once for the run: VM 105 reserves 84:00.0 while this
 * run works on 83:00 (its first slot); 84:00 is then left alone. */
static void reservation_made_while_an_earlier_device_was_reset_is_honoured(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 102, PHASE_POST_STOP, NULL);
        mkdir_under_root(&g, "run/qemu-server");
        g.fk.before_write = reserve_84_on_first_83_write;
        assert_int_equal(rig_apply(&g), -EIO);
        assert_true(fk_count(&g.fk, "0000:83:00.0/reset", NULL) + fk_count(&g.fk, "0000:80:02.0/reset_subordinate", NULL) >= 1);
        assert_int_equal(fk_count(&g.fk, "0000:84:00.0/", NULL), 0);
        assert_int_equal(fk_count(&g.fk, "0000:80:03.0/reset_subordinate", NULL), 0);
        assert_true(logged(&g, "0000:84:00.0: skipped: reserved by VM 105"));
        rig_down(&g);
}

/* The kernel probes each method written to reset_method (reset_method_store): once 02:00.0 has
 * siblings on its bus, pci_parent_bus_reset's probe fails, so writing back its list "flr bus" is
 * refused (the attack review's finding; the real 6.12 listing in tests/fixtures/real/sysfs-reference
 * shows such lists). */
static int kernel_probes_reset_method(struct fakekernel *fk, const char *rel, const char *value)
{
        (void)fk;
        if (strstr(rel, "0000:02:00.0/reset_method") && strstr(value, "bus"))
                return -EINVAL;
        return 0;
}

/* The FLR that worked stays a success (it is not retried as another rung), nothing is left narrowed
 * and no record is left behind. Under the pin the value written back is the pin ("flr", which the
 * kernel takes); a list it refuses falls back to "default" (restore_reset_method). */
static void restore_refused_by_the_kernel_falls_back_to_default(void **state)
{
        struct rig g;
        char buf[64];

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        g.fk.before_write = kernel_probes_reset_method;
        (void)rig_apply(&g);
        assert_true(logged(&g, "0000:02:00.0 reset flr ok"));
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/devices/0000:02:00.0/reset_method", buf, sizeof(buf)), "flr");
        assert_int_equal(access_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:02:00.0"), -1);
        assert_false(logged(&g, "0000:02:00.0 reset flr failed"));
        rig_down(&g);

        /* A record of a list the kernel now refuses (a run killed before the pin existed) */
        rig_up(&g, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        g.fk.before_write = kernel_probes_reset_method;
        mkdir_under_root(&g, "run/pve-gpu-reset");
        write_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:02:00.0", "flr bus\n");
        {
                struct pgr_error err = {};
                struct apply_ctx a = { .ctx = &g.ctx, .acc = g.acc, .journal = g.journal, .vmid = 100,
                                       .phase = PHASE_PRE_START, .lock_timeout_ms = 500 };

                assert_true(apply_recover_settings(&a, &err) >= 0);
        }
        assert_int_equal(fk_count(&g.fk, "0000:02:00.0/reset_method", "default"), 1);
        assert_int_equal(access_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:02:00.0"), -1);
        rig_down(&g);
}

/* qemu-server 9.1.13+ (commit 7d48d8ba) runs post-stop from QemuServer.pm vm_stop_cleanup, after
 * cleanup_pci_devices has already called PCI.pm remove_pci_reservation($vmid): when our post-stop
 * runs, this VM's reservation is gone and another VM may have reserved the card meanwhile (its
 * pre-start ran between). The reservation of the other VM is what counts: the card is left alone. */
static void post_stop_after_our_reservation_was_released_honours_another_vms_reservation(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "rtx2080ti-4func", 102, PHASE_POST_STOP, NULL);
        mkdir_under_root(&g, "run/qemu-server");
        /* no line of VM 102 left */
        write_under_root(&g, "run/qemu-server/pci-id-reservations", "0000:83:00.0 105 time:4000000000\n");
        rig_apply(&g);
        assert_int_equal(fk_count(&g.fk, "0000:83:00.0/", NULL), 0);
        assert_int_equal(fk_count(&g.fk, "0000:80:02.0/reset_subordinate", NULL), 0);
        assert_true(logged(&g, "0000:83:00.0: skipped: reserved by VM 105"));
        rig_down(&g);
}

/* IOMMU groups renumber across remove + rescan (Debian's 6.1 and 6.12 kernels) and every mapping
 * records one: pve-guest-common Mapping/PCI.pm assert_valid then dies "'iommugroup' does not match"
 * and qemu-server refuses the start. When remove+rescan was the only way and the group of a mapped
 * function changed, the device fails with one line naming the mapping, both groups and the fix. */
static void remove_rescan_that_renumbers_a_mapped_group_fails_with_the_fix(void **state)
{
        static const char policy[] = "{\"defaults\": {\"settle_ms\": 0, \"reset_timeout_ms\": 200, "
                                     "\"rescan_timeout_ms\": 200, \"bind_timeout_ms\": 200, "
                                     "\"reset_methods\": [\"remove-rescan\"]}}";
        struct rig g;

        (void)state;
        rig_up(&g, "mapping", 100, PHASE_POST_STOP, policy);
        assert_int_equal(rig_apply(&g), 0); /* the group stays: fine */
        rig_down(&g);

        rig_up(&g, "mapping", 100, PHASE_POST_STOP, policy);
        fk_renumber_group_on_rescan(&g.fk, "0000:07:00.0", 17);
        fk_renumber_group_on_rescan(&g.fk, "0000:07:00.1", 17);
        assert_int_equal(rig_apply(&g), -EIO);
        assert_int_equal(fk_count(&g.fk, "0000:07:00.0/remove", NULL), 1); /* no second try */
        assert_non_null(strstr(g.res.first_failure, "mapping 'nvidia-gpu': the remove+rescan moved 0000:07:00.0 from "
                                                    "IOMMU group 16 to 17"));
        assert_non_null(strstr(g.res.first_failure, "pvesh set /cluster/mapping/pci/nvidia-gpu --map "
                                                    "'...,iommugroup=17,...'"));
        assert_non_null(strstr(g.res.first_failure, "Resource Mappings"));
        rig_down(&g);
}

/* Proxmox puts no length limit on a mapping's name (pve-common JSONSchema.pm pve_verify_configid:
 * [a-z][a-z0-9_-]+): the fix names the whole mapping, or the command it gives edits another one. */
static void renumbered_group_fix_names_a_long_mapping_whole(void **state)
{
        static const char policy[] = "{\"defaults\": {\"settle_ms\": 0, \"reset_timeout_ms\": 200, "
                                     "\"rescan_timeout_ms\": 200, \"bind_timeout_ms\": 200, "
                                     "\"reset_methods\": [\"remove-rescan\"]}}";
        char name[201], conf[512], cfg[512], want[400];
        struct pgr_error err = {};
        struct rig g;

        (void)state;
        memset(name, 'g', sizeof(name) - 1);
        memcpy(name, "nvidia-", 7);
        name[sizeof(name) - 1] = '\0';
        rig_up(&g, "mapping", 100, PHASE_POST_STOP, policy);
        snprintf(conf, sizeof(conf), "hostpci0: mapping=%s,pcie=1,x-vga=1\nmachine: q35\nmemory: 16384\n", name);
        snprintf(cfg, sizeof(cfg), "%s\n\tmap id=10de:27b0,iommugroup=16,node=pve,path=0000:07:00,subsystem-id=10de:16fa\n",
                 name);
        write_under_root(&g, "etc/pve/qemu-server/100.conf", conf);
        write_under_root(&g, "etc/pve/mapping/pci.cfg", cfg);
        vmconf_free(g.conf);
        mapping_file_free(g.maps);
        assert_int_equal(vmconf_load(&g.ctx, 100, NULL, &g.conf, &err), 0);
        assert_int_equal(mapping_load(&g.ctx, &g.maps, &err), 0);
        rig_plan(&g, 100, PHASE_POST_STOP);
        fk_renumber_group_on_rescan(&g.fk, "0000:07:00.0", 17);
        fk_renumber_group_on_rescan(&g.fk, "0000:07:00.1", 17);
        assert_int_equal(rig_apply(&g), -EIO);
        snprintf(want, sizeof(want), "pvesh set /cluster/mapping/pci/%s --map '...,iommugroup=17,...'", name);
        if (!strstr(g.res.first_failure, want))
                fail_msg("no whole fix in: %s", g.res.first_failure);
        assert_non_null(strstr(g.res.first_failure, "Resource Mappings"));
        rig_down(&g);
}

/* Attack review of the pin: a function that could not be moved to vfio-pci (here vfio-pci is not
 * loaded) stays its host driver's: no pin, no power setting goes on it. */
static void function_left_on_its_host_driver_gets_no_pin_and_no_power_setting(void **state)
{
        struct rig g;
        char cmd[4400];

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_PRE_START, NULL);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/sys/bus/pci/drivers/vfio-pci'", g.fk.root);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(rig_apply(&g), -EIO);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", NULL), 0);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/power/control", NULL), 0);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/d3cold_allowed", NULL), 0);
        rig_down(&g);
}

/* pve-common SysFSTools.pm pci_dev_bind_to_vfio: qemu-server runs "/sbin/modprobe vfio-pci" when
 * /sys/bus/pci/drivers/vfio-pci is missing, then binds. A host without vfio-pci in /etc/modules starts
 * its VMs; the hook, running first, must not abort that start: it loads the module the same way. */
static void write_modprobe(struct rig *g, const char *body)
{
        char text[8192];

        mkdir_under_root(g, "sbin");
        snprintf(text, sizeof(text), "#!/bin/sh\necho \"$@\" >>'%s/modprobe.args'\n%s\n", g->fk.root, body);
        write_under_root(g, "sbin/modprobe", text);
        {
                char path[4200];

                snprintf(path, sizeof(path), "%s/sbin/modprobe", g->fk.root);
                assert_int_equal(chmod(path, 0755), 0);
        }
}

static void missing_vfio_pci_is_loaded_with_modprobe_as_proxmox_does(void **state)
{
        struct rig g;
        char cmd[4400], buf[64];

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_PRE_START, NULL);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/sys/bus/pci/drivers/vfio-pci'", g.fk.root);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s/sys/bus/pci/drivers/vfio-pci'", g.fk.root);
        write_modprobe(&g, cmd);
        assert_int_equal(rig_apply(&g), 0);
        assert_string_equal(fk_cat(&g.fk, "modprobe.args", buf, sizeof(buf)), "vfio-pci");
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        rig_down(&g);
}

static void modprobe_that_fails_is_named_in_the_failure(void **state)
{
        struct rig g;
        char cmd[4400];

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_PRE_START, NULL);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/sys/bus/pci/drivers/vfio-pci'", g.fk.root);
        assert_int_equal(system(cmd), 0);
        write_modprobe(&g, "echo 'modprobe: FATAL: Module vfio-pci not found in directory /lib/modules/6.8.12-4-pve' >&2\nexit 1");
        assert_int_equal(rig_apply(&g), -EIO);
        assert_true(logged(&g, "'modprobe vfio-pci' failed (exit status 1): modprobe: FATAL: Module vfio-pci not found"));
        assert_true(logged(&g, "add vfio-pci to /etc/modules"));
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/driver/unbind", NULL), 0);
        rig_down(&g);
}

/* drivers_probe succeeds when no driver takes the device (the kernel's drivers_probe_store): vfio-pci's
 * probe failing is a failure to bind with its own words, not the "unbind did not finish" of a stuck
 * host driver nor an empty reason. */
static void vfio_pci_that_does_not_take_the_function_says_so(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_PRE_START, NULL);
        snprintf(g.fk.probe_fails, sizeof(g.fk.probe_fails), "vfio-pci");
        assert_int_equal(rig_apply(&g), -EIO);
        assert_true(logged(&g, "vfio-pci did not take it within 200 ms"));
        assert_string_equal(g.res.first_failure[0] ? "set" : "", "set");
        assert_non_null(strstr(g.res.first_failure, "vfio-pci did not take it"));
        rig_down(&g);
}

/* ...and the record a killed run left (its pin none) is not put back on a function a host driver
 * holds now: it gets the kernel's own list. */
static void recovery_gives_a_host_driver_function_the_kernels_list(void **state)
{
        struct rig g;
        struct pgr_error err = {};
        struct apply_ctx a;

        (void)state;
        rig_up(&g, "host-driver", 100, PHASE_PRE_START, NULL);
        mkdir_under_root(&g, "run/pve-gpu-reset");
        write_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:01:00.0", "\n");
        a = (struct apply_ctx){ .ctx = &g.ctx, .acc = g.acc, .journal = g.journal, .vmid = 101,
                                .phase = PHASE_PRE_START, .lock_timeout_ms = 500 };
        assert_true(apply_recover_settings(&a, &err) >= 0);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", "default"), 1);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", "\n"), 0);
        assert_int_equal(access_under_root(&g, "run/pve-gpu-reset/restore-reset_method-0000:01:00.0"), -1);
        rig_down(&g);
}


/* Issue 16: the gpu-audio-rootport card behind a hotplug slot (pciehp: slots/1/power). The plan is made
 * again once the power file exists. */
static void rig_hotplug_slot(struct rig *g, const char *policy_json)
{
        rig_up(g, "gpu-audio-rootport", 100, PHASE_POST_STOP, policy_json);
        write_under_root(g, "sys/bus/pci/slots/1/power", "1\n");
        rig_plan(g, 100, PHASE_POST_STOP);
}

#define POWER_CYCLE_POLICY                                                                                             \
        "{\"defaults\": {\"reset_methods\": [\"slot\", \"remove-rescan\", \"power-cycle\"], \"settle_ms\": 0, "          \
        "\"reset_timeout_ms\": 300, \"rescan_timeout_ms\": 2000, \"bind_timeout_ms\": 300}}"

/* Slot reset and remove+rescan fail; powering the slot off and on brings the card back after a
 * delay (a child of the fake kernel plays pciehp), bound to vfio-pci, pinned to none. */
static void power_cycle_brings_back_a_card_the_other_rungs_could_not_reset(void **state)
{
        struct rig g;
        char buf[64];

        (void)state;
        rig_hotplug_slot(&g, POWER_CYCLE_POLICY);
        fk_fail(&g.fk, "reset_subordinate", NULL, EIO, -1);
        fk_fail(&g.fk, "0000:01:00.0/remove", NULL, EIO, -1);
        g.fk.power_on_delay_ms = 150;
        assert_int_equal(rig_apply(&g), 0);
        assert_true(logged(&g, "remove-rescan failed"));
        assert_int_equal(fk_count(&g.fk, "sys/bus/pci/slots/1/power", "0"), 1);
        assert_int_equal(fk_count(&g.fk, "sys/bus/pci/slots/1/power", "1"), 1);
        assert_true(logged(&g, "0000:01:00.0 power-cycle ok"));
        assert_true(logged(&g, "done once for the whole slot")); /* .1 came back with it */
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_string_equal(driver(&g, "0000:01:00.1"), "vfio-pci");
        assert_string_equal(fk_cat(&g.fk, "sys/bus/pci/slots/1/power", buf, sizeof(buf)), "1");
        assert_true(logged(&g, "0000:01:00.0: reset_method pinned to none"));
        assert_string_equal(autoprobe(&g), "1");
        assert_int_equal(fk_count(&g.fk, "sys/bus/pci/rescan", NULL), 0);
        assert_no_lock_held(&g);
        rig_down(&g);
}

/* The slot powers on but the card never shows up again: bounded by rescan_timeout_ms, and one line
 * says which card, what was tried, that only a host power cycle helps, and the kernel's own words. */
static void card_that_never_returns_from_a_power_cycle_is_called_dead(void **state)
{
        struct rig g;
        long long t0;

        (void)state;
        rig_hotplug_slot(&g, "{\"defaults\": {\"reset_methods\": [\"slot\", \"remove-rescan\", \"power-cycle\"], "
                             "\"settle_ms\": 0, \"reset_timeout_ms\": 200, \"rescan_timeout_ms\": 300, "
                             "\"bind_timeout_ms\": 200}}");
        mkdir_under_root(&g, "var/log");
        write_under_root(&g, "var/log/kern.log",
                         "[ 1843.308145] NVRM: Xid (PCI:0000:01:00): 79, pid=2112, name=kvm, GPU has fallen off the bus.\n");
        fk_fail(&g.fk, "reset_subordinate", NULL, EIO, -1);
        fk_fail(&g.fk, "0000:01:00.0/remove", NULL, EIO, -1);
        fk_dead(&g.fk, "0000:01:00.0");
        fk_dead(&g.fk, "0000:01:00.1");
        t0 = (long long)time(NULL);
        assert_int_equal(rig_apply(&g), -EIO);
        assert_true((long long)time(NULL) - t0 < 5);
        assert_int_equal(fk_count(&g.fk, "sys/bus/pci/slots/1/power", "1"), 1);
        assert_true(logged(&g, "power-cycle failed"));
        assert_non_null(strstr(g.res.first_failure, "0000:01:00.0"));
        assert_non_null(strstr(g.res.first_failure, "tried bus-reset reset_subordinate, remove-rescan, power-cycle"));
        assert_non_null(strstr(g.res.first_failure, "only a host power cycle"));
        assert_non_null(strstr(g.res.first_failure, "the kernel said: [ 1843.308145] \"NVRM: Xid (PCI:0000:01:00): 79"));
        assert_true(logged(&g, "only a host power cycle"));
        assert_string_equal(autoprobe(&g), "1");
        assert_no_lock_held(&g);
        rig_down(&g);
}

/* What QEMU does (e2e vanish.sh): power-on fails with ENODEV. Said as a power cycle that failed. */
static void power_on_refused_by_the_slot_is_a_failed_power_cycle(void **state)
{
        struct rig g;

        (void)state;
        rig_hotplug_slot(&g, POWER_CYCLE_POLICY);
        fk_fail(&g.fk, "reset_subordinate", NULL, EIO, -1);
        fk_fail(&g.fk, "0000:01:00.0/remove", NULL, EIO, -1);
        g.fk.power_on = FK_POWER_ON_ENODEV;
        assert_int_equal(rig_apply(&g), -EIO);
        assert_true(logged(&g, "power-cycle failed: slot 1 did not power on: No such device"));
        assert_non_null(strstr(g.res.first_failure, "only a host power cycle"));
        assert_string_equal(autoprobe(&g), "1");
        rig_down(&g);
}

/* A function below the slot's port that is another VM's (01:00.1 reserved by VM 102): no power cycle
 * in the plan; and when the reservation appears after the plan, none under the lock either. */
static void power_cycle_is_never_made_over_a_foreign_function(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, POWER_CYCLE_POLICY);
        write_under_root(&g, "sys/bus/pci/slots/1/power", "1\n");
        mkdir_under_root(&g, "run/qemu-server");
        write_under_root(&g, "run/qemu-server/pci-id-reservations", "0000:01:00.1 102 time:4000000000\n");
        rig_plan(&g, 100, PHASE_POST_STOP);
        for (size_t i = 0; i < g.plan->n_devices; i++)
                for (size_t j = 0; j < g.plan->devices[i].n_ladder; j++)
                        assert_int_not_equal(g.plan->devices[i].ladder[j].kind, ACTION_POWER_CYCLE);
        assert_true(plan_has_errors(g.plan)); /* 01:00.0: no usable reset */
        (void)rig_apply(&g);
        assert_int_equal(fk_count(&g.fk, "slots/1/power", NULL), 0);
        rig_down(&g);

        rig_hotplug_slot(&g, POWER_CYCLE_POLICY);
        fk_fail(&g.fk, "reset_subordinate", NULL, EIO, -1);
        fk_fail(&g.fk, "0000:01:00.0/remove", NULL, EIO, -1);
        mkdir_under_root(&g, "run/qemu-server");
        write_under_root(&g, "run/qemu-server/pci-id-reservations", "0000:01:00.1 102 time:4000000000\n");
        assert_int_equal(rig_apply(&g), -EIO);
        assert_true(logged(&g, "power-cycle failed: 0000:01:00.1 is reserved by VM 102"));
        assert_int_equal(fk_count(&g.fk, "slots/1/power", NULL), 0);
        assert_int_equal(fk_count(&g.fk, "0000:01:00.1/remove", NULL), 0);
        rig_down(&g);
}

static void set_link(struct rig *g, const char *bdf, const char *width, const char *speed)
{
        char rel[256];

        snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/current_link_width", bdf);
        write_under_root(g, rel, width);
        snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/current_link_speed", bdf);
        write_under_root(g, rel, speed);
        snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/max_link_width", bdf);
        write_under_root(g, rel, "16\n");
        snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/max_link_speed", bdf);
        write_under_root(g, rel, "5.0 GT/s PCIe\n");
}

/* The RTX 5090 report: x16 before, x8 after the reset. */
static int link_narrows_on_slot_reset(struct fakekernel *fk, const char *rel, const char *value)
{
        char path[4200];
        FILE *f;

        (void)value;
        if (!strstr(rel, "reset_subordinate"))
                return 0;
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/current_link_width", fk->root);
        f = fopen(path, "we");
        if (!f)
                return -EIO;
        fputs("8\n", f);
        return fclose(f) == 0 ? 0 : -EIO;
}

static size_t read_config_file(struct rig *g, const char *bdf, unsigned char *buf, size_t size)
{
        char path[4200];
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/config", g->fk.root, bdf);
        f = fopen(path, "re");
        assert_non_null(f);
        n = fread(buf, 1, size, f);
        fclose(f);
        return n;
}

/* A link that comes back narrower after the reset: a warning naming both widths, one retrain through
 * the parent root port's Link Control (bit 5, the only bit that changes in its config space), a
 * record for doctor, and the device still counts as usable. */
static void link_that_comes_back_narrower_is_reported_and_retrained(void **state)
{
        unsigned char before[4096], after[4096];
        size_t n_before, n_after, n_diff = 0;
        struct rig g;
        char buf[128];

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        set_link(&g, "0000:01:00.0", "16\n", "5.0 GT/s PCIe\n");
        rig_plan(&g, 100, PHASE_POST_STOP);
        g.fk.before_write = link_narrows_on_slot_reset;
        n_before = read_config_file(&g, "0000:00:01.0", before, sizeof(before));
        assert_int_equal(rig_apply(&g), 0);
        assert_true(logged(&g, "0000:01:00.0: link x8 at 5.0 GT/s after the reset, was x16 at 5.0 GT/s"));
        assert_true(logged(&g, "retrain"));
        assert_true(logged(&g, "still x8"));
        n_after = read_config_file(&g, "0000:00:01.0", after, sizeof(after));
        assert_int_equal(n_before, n_after);
        for (size_t i = 0; i < n_after; i++)
                if (before[i] != after[i]) {
                        n_diff++;
                        assert_int_equal(after[i] & ~before[i], 0x20); /* Retrain Link */
                }
        assert_int_equal(n_diff, 1);
        assert_non_null(strstr(fk_cat(&g.fk, "run/pve-gpu-reset/link-0000:01:00.0", buf, sizeof(buf)), "width=16"));
        assert_int_equal(g.res.n_failed, 0);
        rig_down(&g);
}

/* A link as wide as before: no warning, no retrain, the record says what it was. */
static void link_as_before_is_recorded_and_left_alone(void **state)
{
        unsigned char before[4096], after[4096];
        size_t n;
        struct rig g;
        char buf[128];

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        set_link(&g, "0000:01:00.0", "16\n", "5.0 GT/s PCIe\n");
        rig_plan(&g, 100, PHASE_POST_STOP);
        n = read_config_file(&g, "0000:00:01.0", before, sizeof(before));
        assert_int_equal(rig_apply(&g), 0);
        assert_false(logged(&g, "retrain"));
        assert_int_equal(read_config_file(&g, "0000:00:01.0", after, sizeof(after)), n);
        assert_memory_equal(before, after, n);
        assert_non_null(strstr(fk_cat(&g.fk, "run/pve-gpu-reset/link-0000:01:00.0", buf, sizeof(buf)), "width=16"));
        rig_down(&g);
}

static int card_falls_off_on_slot_reset(struct fakekernel *fk, const char *rel, const char *value)
{
        (void)value;
        if (strstr(rel, "reset_subordinate"))
                fk_config_all_ones(fk, "0000:01:00.0");
        return 0;
}

/* After the slot reset the card reads all ones (0xffff): waited for within reset_timeout_ms, then the
 * next rung; when none brings it back, the dead-card line. */
static void card_reading_all_ones_after_the_reset_is_called_dead(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        g.fk.before_write = card_falls_off_on_slot_reset;
        assert_int_equal(rig_apply(&g), -EIO);
        assert_true(logged(&g, "config space reads all ones"));
        assert_non_null(strstr(g.res.first_failure, "0000:01:00.0 (10de:0a65)"));
        assert_non_null(strstr(g.res.first_failure, "reads all ones"));
        assert_non_null(strstr(g.res.first_failure, "tried bus-reset reset_subordinate, remove-rescan"));
        assert_non_null(strstr(g.res.first_failure, "only a host power cycle"));
        assert_string_equal(autoprobe(&g), "1");
        rig_down(&g);
}


/* pre-start finds the card missing because its hotplug slot is powered off (e2e vanish.sh 4a). The
 * VM's config gives the whole slot, so whatever the slot holds is the VM's: one rescan (which finds
 * nothing on a slot without power), then the slot is switched on. power_on says what the slot does. */
static void rig_slot_switched_off(struct rig *g, unsigned long vmid, enum fk_power_on power_on)
{
        struct apply_ctx a;
        struct pgr_error err = {};
        char path[4200];

        rig_up(g, "gpu-audio-rootport", vmid, PHASE_PRE_START, NULL);
        write_under_root(g, "sys/bus/pci/slots/1/power", "1\n");
        snprintf(path, sizeof(path), "%s/sys/bus/pci/slots/1/power", g->fk.root);
        assert_int_equal(g->ctx.ops->write(g->ctx.ops_userdata, path, "0"), 0);
        assert_int_equal(access_under_root(g, "sys/bus/pci/devices/0000:01:00.0"), -1);
        g->fk.power_on = power_on;
        g->fk.sh->n_log = 0;
        rig_plan(g, vmid, PHASE_PRE_START);
        assert_true(plan_has_errors(g->plan));
        a = (struct apply_ctx){ .ctx = &g->ctx, .acc = g->acc, .journal = g->journal, .vmid = vmid,
                                .phase = PHASE_PRE_START, .lock_timeout_ms = 500 };
        g->r = apply_rescan_missing(&a, g->plan, &err);
        fflush(g->log);
}

static void missing_card_in_a_switched_off_slot_is_powered_on_at_pre_start(void **state)
{
        struct rig g;

        (void)state;
        rig_slot_switched_off(&g, 100, FK_POWER_ON_RETURNS);
        assert_int_equal(g.r, 0);
        assert_int_equal(fk_count(&g.fk, "sys/class/pci_bus/0000:01/rescan", "1"), 1);
        assert_int_equal(fk_count(&g.fk, "sys/bus/pci/slots/1/power", "1"), 1);
        assert_true(logged(&g, "slot 1 was powered off; switched on"));
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_string_equal(autoprobe(&g), "1");
        rig_plan(&g, 100, PHASE_PRE_START);
        assert_true(g.plan->devices[0].dev.present);
        assert_int_equal(g.plan->n_devices, 2); /* .1 came back with it */
        assert_no_lock_held(&g);
        rig_down(&g);
}

/* QEMU completes an unplug when the guest powers a slot off, and power-on then fails with ENODEV. */
static void missing_card_whose_slot_does_not_power_on_is_said_so(void **state)
{
        struct rig g;

        (void)state;
        rig_slot_switched_off(&g, 100, FK_POWER_ON_ENODEV);
        assert_int_equal(g.r, -ENODEV);
        assert_true(logged(&g, "slot 1 was powered off: a power cycle was tried and failed: it did not power on: "
                               "No such device; only a host power cycle helps"));
        assert_string_equal(autoprobe(&g), "1");
        rig_down(&g);
}

/* VM 101 gives only 01:00.0: the slot may hold functions that are not its own, so its power is not
 * switched on for it. */
static void switched_off_slot_is_not_powered_on_for_one_function(void **state)
{
        struct rig g;

        (void)state;
        rig_slot_switched_off(&g, 101, FK_POWER_ON_RETURNS);
        assert_true(g.r < 0);
        assert_int_equal(fk_count(&g.fk, "slots/1/power", NULL), 0);
        rig_down(&g);
}


static int card_slow_after_slot_reset(struct fakekernel *fk, const char *rel, const char *value)
{
        (void)value;
        if (strstr(rel, "reset_subordinate"))
                fk_not_ready_for(fk, "0000:01:00.0", 6);
        return 0;
}

/* A card still initialising after the reset reads all ones for a while (the kernel's pci_dev_wait
 * waits that out): the rung waits too and then succeeds, nothing is called dead. */
static void card_that_reads_all_ones_for_a_while_is_waited_for(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        g.fk.before_write = card_slow_after_slot_reset;
        assert_int_equal(rig_apply(&g), 0);
        assert_true(logged(&g, "0000:01:00.0 bus-reset reset_subordinate ok"));
        assert_false(logged(&g, "reads all ones"));
        assert_int_equal(g.fk.devs[0].not_ready_reads + g.fk.devs[1].not_ready_reads + g.fk.devs[2].not_ready_reads +
                                 g.fk.devs[3].not_ready_reads + g.fk.devs[4].not_ready_reads,
                         0); /* every all-ones read was consumed by the poll */
        rig_down(&g);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(function_left_on_its_host_driver_gets_no_pin_and_no_power_setting),
                cmocka_unit_test(missing_vfio_pci_is_loaded_with_modprobe_as_proxmox_does),
                cmocka_unit_test(modprobe_that_fails_is_named_in_the_failure),
                cmocka_unit_test(vfio_pci_that_does_not_take_the_function_says_so),
                cmocka_unit_test(recovery_gives_a_host_driver_function_the_kernels_list),
                cmocka_unit_test(restore_refused_by_the_kernel_falls_back_to_default),
                cmocka_unit_test(slot_reset_runs_once_for_the_whole_gpu_slot),
                cmocka_unit_test(failed_slot_reset_falls_to_remove_and_rescan),
                cmocka_unit_test(flr_enotty_falls_to_the_slot_reset),
                cmocka_unit_test(host_driver_that_wins_the_rescan_is_displaced),
                cmocka_unit_test(card_that_never_comes_back_fails_and_restores_autoprobe),
                cmocka_unit_test(foreign_device_below_the_bridge_is_never_written),
                cmocka_unit_test(keep_and_mdev_devices_see_no_write),
                cmocka_unit_test(kernel_method_that_worked_is_pinned_and_read_back),
                cmocka_unit_test(pin_that_does_not_take_is_a_warning),
                cmocka_unit_test(slot_reset_pins_none_and_proxmox_reset_write_fails),
                cmocka_unit_test(pin_is_set_again_after_every_rescan),
                cmocka_unit_test(pin_in_place_is_read_not_written_again),
                cmocka_unit_test(skipped_device_counts_once),
                cmocka_unit_test(autoprobe_guard_that_cannot_be_removed_is_journalled),
                cmocka_unit_test(autoprobe_left_at_zero_by_a_killed_run_is_restored),
                cmocka_unit_test(autoprobe_guard_whose_pid_was_reused_is_still_recovered),
                cmocka_unit_test(autoprobe_guard_of_a_live_window_is_left_alone),
                cmocka_unit_test(every_step_fault_leaves_the_host_consistent),
                cmocka_unit_test(failed_second_remove_still_rescans_the_first),
                cmocka_unit_test(missing_mapping_device_is_rescanned_at_pre_start),
                cmocka_unit_test(cover_check_reads_the_group_the_function_has_now),
                cmocka_unit_test(collateral_functions_of_the_group_get_the_slot_reset),
                cmocka_unit_test(device_that_became_foreign_during_the_lock_wait_is_not_touched),
                cmocka_unit_test(slot_reset_over_a_function_that_became_foreign_is_refused),
                cmocka_unit_test(reservation_made_while_an_earlier_device_was_reset_is_honoured),
                cmocka_unit_test(reset_method_narrowed_by_a_killed_run_is_not_taken_as_the_truth),
                cmocka_unit_test(next_run_restores_a_reset_method_left_narrowed),
                cmocka_unit_test(host_driver_unbind_that_blocks_fails_in_bounded_time),
                cmocka_unit_test(every_function_leaves_its_host_driver_before_the_slot_reset),
                cmocka_unit_test(failed_bridge_reset_still_rescans_what_it_removed),
                cmocka_unit_test(post_stop_after_our_reservation_was_released_honours_another_vms_reservation),
                cmocka_unit_test(remove_rescan_that_renumbers_a_mapped_group_fails_with_the_fix),
                cmocka_unit_test(renumbered_group_fix_names_a_long_mapping_whole),
                cmocka_unit_test(power_cycle_brings_back_a_card_the_other_rungs_could_not_reset),
                cmocka_unit_test(card_that_never_returns_from_a_power_cycle_is_called_dead),
                cmocka_unit_test(power_on_refused_by_the_slot_is_a_failed_power_cycle),
                cmocka_unit_test(power_cycle_is_never_made_over_a_foreign_function),
                cmocka_unit_test(link_that_comes_back_narrower_is_reported_and_retrained),
                cmocka_unit_test(link_as_before_is_recorded_and_left_alone),
                cmocka_unit_test(card_reading_all_ones_after_the_reset_is_called_dead),
                cmocka_unit_test(card_that_reads_all_ones_for_a_while_is_waited_for),
                cmocka_unit_test(missing_card_in_a_switched_off_slot_is_powered_on_at_pre_start),
                cmocka_unit_test(missing_card_whose_slot_does_not_power_on_is_said_so),
                cmocka_unit_test(switched_off_slot_is_not_powered_on_for_one_function),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
