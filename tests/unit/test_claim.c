/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Claim from boot on fixture trees with the fake kernel: the claim records (owners, parse errors),
 * the udev entry point (claim --udev: only a claimed function with the claimed vendor:device, never
 * a slot a hook run holds; driver_override, pin, bounded handover of a host driver), and the claim /
 * unclaim commands (attach/detach run them): no host driver unbound by hand, keep/mdev never claimed,
 * detach keeps the claims other owners still hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "reset/apply.h"
#include "reset/claim.h"
#include "fakekernel.h"
#include "base/lock.h"
#include "kernel/sysfs.h"
#include "log/journal.h"
#include "ops/run.h"
#include "testutil.h"

struct rig {
        struct pgr_ctx ctx;
        struct fakekernel fk;
        struct journal *journal;
        FILE *log;
        char *logbuf;
        size_t loglen;
};

static void rig_up(struct rig *g, const char *host)
{
        char root[4096], cmd[8192];
        static int n;

        memset(g, 0, sizeof(*g));
        snprintf(root, sizeof(root), "%s/claim-%d-%d", getenv("PGR_FIXTURES"), (int)getpid(), n++);
        snprintf(cmd, sizeof(cmd), "cp -a '%s/%s' '%s'", getenv("PGR_FIXTURES"), host, root);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(pgr_ctx_init(&g->ctx, root, NULL), 0);
        fk_init(&g->fk, &g->ctx, root);
        g->log = open_memstream(&g->logbuf, &g->loglen);
        assert_int_equal(journal_open_mode(JOURNAL_MODE_STDERR, g->log, &g->journal), 0);
}

static void rig_down(struct rig *g)
{
        journal_close(g->journal);
        fclose(g->log);
        free(g->logbuf);
        assert_int_equal(rm_rf(g->fk.root), 0);
        fk_done(&g->fk);
}

/* The claim and unclaim commands' library calls (src/cmd-claim.c prints their items). */
static struct run_claim_result claim_res;
static struct run_unclaim_result unclaim_res;

static int claim_cmd(struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *addrs, size_t n,
                     const struct run_options *o)
{
        return run_claim(ctx, vmid, addrs, n, o, &claim_res);
}

static int unclaim_cmd(struct pgr_ctx *ctx, unsigned long vmid, const struct pci_addr *addrs, size_t n,
                       const struct run_options *o)
{
        return run_unclaim(ctx, vmid, addrs, n, o, &unclaim_res);
}

static bool logged(struct rig *g, const char *needle)
{
        fflush(g->log);
        return g->logbuf && strstr(g->logbuf, needle);
}

static const char *driver(struct rig *g, const char *bdf)
{
        static char buf[64];

        return fk_driver(&g->fk, bdf, buf, sizeof(buf));
}

static const char *attr(struct rig *g, const char *bdf, const char *name)
{
        static char buf[128];
        char rel[256];

        snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/%s", bdf, name);
        return fk_cat(&g->fk, rel, buf, sizeof(buf));
}

static bool exists(struct rig *g, const char *rel)
{
        char path[4200];

        snprintf(path, sizeof(path), "%s/%s", g->fk.root, rel);
        return access(path, F_OK) == 0;
}

static struct pci_addr addr(const char *bdf)
{
        struct pci_addr a;

        assert_int_equal(pci_addr_parse_full(bdf, &a), 0);
        return a;
}

/* A record as the claim command writes it. */
static void put_claim(struct rig *g, const char *bdf, unsigned vendor, unsigned device, const char *pin,
                      unsigned long owner)
{
        struct claim c = { .addr = addr(bdf), .vendor = vendor, .device = device, .pin_set = pin != NULL };
        struct pgr_error err = {};
        bool created;

        if (pin)
                snprintf(c.pin, sizeof(c.pin), "%s", pin);
        assert_int_equal(claim_add(&g->ctx, &c, owner, &created, &err), 0);
}

static enum claim_udev_outcome udev(struct rig *g, const char *bdf)
{
        enum claim_udev_outcome out;
        struct pci_addr a = addr(bdf);
        char pin[24];

        assert_int_equal(claim_udev(&g->ctx, g->journal, &a, 200, 2000, &out, pin, sizeof(pin)), 0);
        return out;
}

static void owners_are_added_once_and_dropped_one_by_one(void **state)
{
        struct rig g;
        struct claim c;
        struct pgr_error err = {};
        struct pci_addr a = addr("0000:01:00.0");
        char owners[64], text[512];
        size_t left;

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 101);
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", CLAIM_OWNER_MANUAL);
        assert_int_equal(claim_load(&g.ctx, &a, &c, &err), 0);
        claim_owners_format(&c, owners, sizeof(owners));
        assert_string_equal(owners, "100 101 manual");
        assert_string_equal(claim_pin_name(&c), "none");
        assert_string_equal(fk_cat(&g.fk, "etc/pve-gpu-reset.d/claims/0000:01:00.0", text, sizeof(text)) + strlen(text) -
                                    strlen("by=100 101 manual"), "by=100 101 manual");
        assert_int_equal(claim_drop(&g.ctx, &a, 100, false, &left, &err), 0);
        assert_int_equal(left, 2);
        assert_int_equal(claim_drop(&g.ctx, &a, 100, false, &left, &err), -ENOENT);
        assert_int_equal(claim_drop(&g.ctx, &a, 0, true, &left, &err), 0);
        assert_int_equal(left, 0);
        assert_false(exists(&g, "etc/pve-gpu-reset.d/claims/0000:01:00.0"));
        assert_int_equal(claim_load(&g.ctx, &a, &c, &err), -ENOENT);
        assert_int_equal(g.fk.sh->n_log, 0); /* records only: nothing in sysfs */
        rig_down(&g);
}

static void malformed_record_is_refused_naming_its_line(void **state)
{
        static const char *const bad[] = {
                "format=1\nid=10de:2b85\npin=none\nby=100\nby=101\n",  /* a key twice */
                "format=1\nid=10de:2b85\npin=$(reboot)\nby=100\n",     /* a pin no kernel method has */
                "format=1\nid=10de:2b8\npin=flr\nby=100\n",            /* short id */
                "format=3\nid=10de:2b85\npin=flr\nby=100\n",           /* unknown format */
                "format=2\nid=10de:2b85\npin=flr\nby=100\n",           /* format 2 without the card's identity */
                "format=1\nid=10de:2b85\nsubsys=1462:360a\npath=pci0000:00/0000:00:01.0/0000:01:00.0\npin=flr\nby=100\n",
                "format=2\nid=10de:2b85\nsubsys=1462:360a\npath=pci0000:00/../../etc\npin=flr\nby=100\n",
                "format=2\nid=10de:2b85\nsubsys=1462:360a\npath=pci0000:00/0000:00:01.0\nserial=12\npin=flr\nby=100\n",
                "format=1\nid=10de:2b85\npin=flr\nby=99\n",            /* not a VMID */
                "format=1\nid=10de:2b85\npin=flr\n",                   /* no owner */
        };
        struct pci_addr a = addr("0000:01:00.0");
        struct pgr_error err = {};
        struct claim c;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(claim_parse(bad[i], strlen(bad[i]), &a, "f", &c, &err), -EINVAL);
        assert_int_equal(claim_parse(bad[0], strlen(bad[0]), &a, "f", &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "f:5:"));
        assert_int_equal(claim_parse("format=1\nid=10de:2B85\npin=-\nby=manual 100\n", 42, &a, "f", &c, &err), 0);
        assert_int_equal(c.device, 0x2b85);
        assert_false(c.pin_set);
        assert_false(c.identified);
        {
                static const char v2[] = "format=2\nid=10de:2b85\nsubsys=1462:360a\npath=pci0000:00/0000:00:01.0/0000:01:00.0\n"
                                         "serial=0011223344556677\npin=none\nby=100\n";

                assert_int_equal(claim_parse(v2, strlen(v2), &a, "f", &c, &err), 0);
                assert_true(c.identified);
                assert_int_equal(c.sub_device, 0x360a);
                assert_string_equal(c.path, "pci0000:00/0000:00:01.0/0000:01:00.0");
                assert_true(c.has_serial);
                assert_true(c.serial == 0x0011223344556677ULL);
        }
}

/* Attack review: a claimed SR-IOV PF whose VFs are enabled (sriov-nvme) was unbound from nvme at the
 * add event (vfio-pci refuses such a PF: it would end with no driver, its VFs without their PF). The
 * plan's rules hold at a device add too. */
static void udev_leaves_a_pf_with_enabled_vfs_alone(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "sriov-nvme");
        put_claim(&g, "0000:2e:00.0", 0x144d, 0xa826, "", 100);
        assert_int_not_equal(udev(&g, "0000:2e:00.0"), CLAIM_UDEV_DONE);
        assert_string_equal(driver(&g, "0000:2e:00.0"), "nvme");
        assert_int_equal(fk_count(&g.fk, "0000:2e:00.0/", NULL), 0);
        rig_down(&g);
}

/* Attack review: a claimed VF that VM 200 has reserved (it runs with it) got its reset_method rewritten
 * by an add event. Left alone now. */
static void udev_leaves_a_function_another_vm_reserved_alone(void **state)
{
        struct rig g;
        char path[PATH_MAX + 64];

        (void)state;
        rig_up(&g, "sriov-nvme");
        (void)!snprintf(path, sizeof(path), "%.3000s/run/qemu-server", g.ctx.root);
        assert_int_equal(mkdir_p(path, 0755), 0);
        (void)!snprintf(path, sizeof(path), "%.3000s/run/qemu-server/pci-id-reservations", g.ctx.root);
        write_text(path, "0000:2e:04.0 200 time:4000000000\n");
        put_claim(&g, "0000:2e:04.0", 0x144d, 0xa826, "", 100);
        assert_int_not_equal(udev(&g, "0000:2e:04.0"), CLAIM_UDEV_DONE);
        assert_int_equal(fk_count(&g.fk, "0000:2e:04.0/", NULL), 0);
        rig_down(&g);
}

/* The boot case the rule exists for: a host driver (built in, or loaded from the initramfs) holds the
 * claimed GPU when udev gets to it. It ends on vfio-pci with driver_override set and its pin (none:
 * written as "\n", the kernel's empty list), and the kernel's own list is recorded for later plans. */
static void udev_hands_a_claimed_function_from_its_host_driver_to_vfio_with_the_pin(void **state)
{
        struct rig g;
        char buf[64];

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_DONE);
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_string_equal(attr(&g, "0000:01:00.0", "driver_override"), "vfio-pci");
        assert_string_equal(attr(&g, "0000:01:00.0", "reset_method"), "");
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/reset_method", "\n"), 1);
        assert_string_equal(fk_cat(&g.fk, "run/pve-gpu-reset/kernel-reset_method-0000:01:00.0", buf, sizeof(buf)), "bus");
        assert_true(logged(&g, "claimed at device add: driver_override=vfio-pci, reset_method pinned to none, host "
                               "driver unbound, on vfio-pci"));
        /* The other function of the card is not claimed: untouched. */
        assert_string_equal(driver(&g, "0000:01:00.1"), "snd_hda_intel");
        assert_int_equal(fk_count(&g.fk, "0000:01:00.1/", NULL), 0);
        /* The lock it took is released. */
        assert_null(strstr(fk_cat(&g.fk, "run/pve-gpu-reset/slot-0000:01:00.lock", buf, sizeof(buf)), "pid="));
        rig_down(&g);
}

static void udev_never_writes_to_an_unclaimed_function(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.1", 0x10de, 0x10ef, NULL, 100);
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_NOT_CLAIMED);
        assert_int_equal(g.fk.sh->n_log, 0);
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        rig_down(&g);
}

/* The card in the slot was swapped: the claim was for another vendor:device. Nothing is written. */
static void udev_leaves_a_different_card_in_a_claimed_slot_alone(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x2b85, "", 100);
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_OTHER_CARD);
        assert_int_equal(g.fk.sh->n_log, 0);
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        assert_true(logged(&g, "claimed as 10de:2b85, but the device there is 10de:1b06: left alone"));
        rig_down(&g);
}

/* Attack review: a record named the card by vendor:device only, so an identical GPU model renumbered
 * onto a claimed address after a hardware change (another slot, another board maker's card) was taken
 * from its host driver at boot. The record names the card: its subsystem IDs, where it hangs (its
 * sysfs path: which port) and its PCIe Device Serial Number when it has one. Here another maker's
 * board of the same GPU (subsystem ID differs) sits at the claimed address. */
static void udev_leaves_an_identical_model_from_another_maker_alone(void **state)
{
        struct rig g;
        struct run_options o = {};
        char path[4200];

        (void)state;
        rig_up(&g, "host-driver");
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        /* the kernel shows the IDs twice: the attribute and the modalias (which the probe reads) */
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/subsystem_device", g.fk.root);
        write_text(path, "0x3609\n");
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/modalias", g.fk.root);
        write_text(path, "pci:v000010DEd00001B06sv00001462sd00003609bc03sc00i00\n");
        g.fk.sh->n_log = 0;
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_OTHER_CARD);
        assert_int_equal(g.fk.sh->n_log, 0);
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        assert_true(logged(&g, "subsystem 1462:360a, but the card there is subsystem 1462:3609"));
        rig_down(&g);
}

/* The same model from the same maker, but on another port than the one it was claimed on: what a
 * renumbering after a card was added or moved looks like (the record says where the claimed one hung). */
static void udev_leaves_a_card_that_hangs_off_another_port_alone(void **state)
{
        struct rig g;
        struct run_options o = {};
        char path[4200], text[1024], *p;

        (void)state;
        rig_up(&g, "host-driver");
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        fk_cat(&g.fk, "etc/pve-gpu-reset.d/claims/0000:01:00.0", text, sizeof(text));
        p = strstr(text, "path=pci0000:00/0000:00:01.0/0000:01:00.0");
        assert_non_null(p);
        p[strlen("path=pci0000:00/0000:00:0")] = '3';
        snprintf(path, sizeof(path), "%s/etc/pve-gpu-reset.d/claims/0000:01:00.0", g.fk.root);
        strcat(text, "\n");
        write_text(path, text);
        g.fk.sh->n_log = 0;
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_OTHER_CARD);
        assert_int_equal(g.fk.sh->n_log, 0);
        assert_true(logged(&g, "0000:00:03.0"));
        rig_down(&g);
}

/* Gives 0000:01:00.0 a 4 KiB config space with a Device Serial Number capability at 0x100. */
static void give_serial(struct rig *g, uint32_t lo, uint32_t hi)
{
        char path[4200];
        unsigned char cfg[4096];
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/config", g->fk.root);
        f = fopen(path, "rb");
        assert_non_null(f);
        memset(cfg, 0, sizeof(cfg));
        n = fread(cfg, 1, sizeof(cfg), f);
        fclose(f);
        assert_true(n >= 256);
        /* Extended capability header: ID 0003h (DSN), version 1, no next; then the serial, low dword first. */
        cfg[0x100] = 0x03, cfg[0x101] = 0x00, cfg[0x102] = 0x01, cfg[0x103] = 0x00;
        for (int i = 0; i < 4; i++) {
                cfg[0x104 + i] = (unsigned char)(lo >> (8 * i));
                cfg[0x108 + i] = (unsigned char)(hi >> (8 * i));
        }
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(cfg, 1, sizeof(cfg), f), sizeof(cfg));
        fclose(f);
}

/* Same model, maker and port, another card: its serial number tells them apart. */
static void udev_leaves_a_card_with_another_serial_number_alone(void **state)
{
        struct rig g;
        struct run_options o = {};
        char text[1024];

        (void)state;
        rig_up(&g, "host-driver");
        give_serial(&g, 0x44556677, 0x00112233);
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        assert_non_null(strstr(fk_cat(&g.fk, "etc/pve-gpu-reset.d/claims/0000:01:00.0", text, sizeof(text)),
                               "serial=0011223344556677"));
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_DONE); /* the claimed card itself */
        give_serial(&g, 0x44556678, 0x00112233);
        g.fk.sh->n_log = 0;
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_OTHER_CARD);
        assert_int_equal(g.fk.sh->n_log, 0);
        assert_true(logged(&g, "serial number 00-11-22-33-44-55-66-78"));
        rig_down(&g);
}

/* Another process takes the slot lock of bdf as `what` (a hook run, or a sibling's claim at device add:
 * flock is per open file) and holds it ms milliseconds, 0 = until killed; then, with unclaim set, it
 * unclaims that function, as `pve-gpu-reset unclaim` would, and exits 2 when that fails. Returns once
 * the lock is held. */
static pid_t hold_slot_elsewhere(struct rig *g, const char *bdf, unsigned long vmid, const char *what, long ms,
                                 const char *unclaim)
{
        int fds[2];
        pid_t pid;
        char c;

        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct pgr_lock held = PGR_LOCK_INIT;
                struct pgr_error err = {};
                struct pci_addr a = addr(bdf);
                struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };
                size_t left;

                close(fds[0]);
                if (lock_slot(&g->ctx, &a, vmid, what, 0, &held, &err) < 0)
                        _exit(1);
                (void)!write(fds[1], "x", 1);
                if (ms == 0)
                        pause();
                nanosleep(&ts, NULL);
                if (unclaim) {
                        a = addr(unclaim);
                        _exit(claim_drop(&g->ctx, &a, 0, true, &left, &err) < 0 ? 2 : 0);
                }
                _exit(0);
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], &c, 1), 1);
        close(fds[0]);
        return pid;
}

/* A hook run's remove+rescan makes an add event for a function it is about to bind and pin itself:
 * the udev entry point must not cross it (the run may have narrowed reset_method for its reset). */
static void udev_leaves_a_slot_a_hook_run_holds(void **state)
{
        struct rig g;
        time_t t0;
        pid_t pid;
        int status;

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        pid = hold_slot_elsewhere(&g, "0000:01:00.0", 100, "post-stop", 0, NULL);
        t0 = time(NULL);
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_BUSY);
        assert_true(time(NULL) - t0 < 2); /* at once: the hook's wait (2 s here) is for a sibling's claim only */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        assert_int_equal(g.fk.sh->n_log, 0);
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        rig_down(&g);
}

/* At boot udev handles the add events of a card's functions in parallel (their devpaths are siblings,
 * not parent and child), and both take the one slot lock: the function whose claim finds its sibling's
 * claim holding it waits (bounded) and is claimed too; before, it was left "to a hook run" that did not
 * exist, and stayed on its host driver. */
static void udev_waits_for_a_siblings_claim_and_then_claims(void **state)
{
        struct rig g;
        pid_t pid;
        int status;

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        pid = hold_slot_elsewhere(&g, "0000:01:00.1", 0, "udev-claim", 300, NULL);
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_DONE);
        waitpid(pid, &status, 0);
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        rig_down(&g);
}

/* Attack review: claim --udev read the record, then waited (up to 30 s) for a sibling's udev claim, and
 * then acted on what it had read. An unclaim (or a hook run's reconciliation) in that wait removed the
 * record, yet the function was taken from its host driver all the same. The record is read again
 * under the slot lock. */
static void udev_rereads_the_record_after_waiting_for_a_sibling(void **state)
{
        struct rig g;
        pid_t pid;
        int status;

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        /* 'pve-gpu-reset unclaim 0000:01:00.0' while the add event of .0 waits for .1's claim */
        pid = hold_slot_elsewhere(&g, "0000:01:00.1", 0, "udev-claim", 300, "0000:01:00.0");
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_NOT_CLAIMED);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        assert_int_equal(fk_count(&g.fk, "0000:01:00.0/", NULL), 0);
        rig_down(&g);
}

/* Attack review: a udev claim that waited in vain for a sibling's udev claim (a card of many functions,
 * each unbind up to bind_timeout_ms) said "a pve-gpu-reset run holds the slot; it binds and pins the
 * function itself": no run did, and the function stayed with its host driver until the VM's pre-start.
 * It says so, at warning level (stderr, which udev logs). */
static void udev_that_waited_in_vain_for_a_sibling_says_so(void **state)
{
        struct rig g;
        struct pci_addr a = addr("0000:01:00.0");
        enum claim_udev_outcome out;
        char pin[24];
        pid_t pid;
        int status;

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        pid = hold_slot_elsewhere(&g, "0000:01:00.1", 0, "udev-claim", 900, NULL);
        assert_int_equal(claim_udev(&g.ctx, g.journal, &a, 200, 200, &out, pin, sizeof(pin)), 0);
        assert_int_equal(out, CLAIM_UDEV_BUSY);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        assert_false(logged(&g, "it binds and pins the function itself"));
        assert_true(logged(&g, "another function's claim at device add held the slot past 200 ms: left to its host "
                               "driver"));
        rig_down(&g);
}

/* Leaves the stack below the caller full of 'x': what an uninitialized buffer of the next call holds. */
static void __attribute__((noinline)) dirty_stack(void)
{
        volatile char junk[16384];

        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = 'x';
}

/* Attack review: claim_mismatch printed its path buffer when pcidev_sysfs_path failed (the function
 * gone from sysfs between the probe and the check: a surprise removal, a remove+rescan), and that
 * function leaves the buffer untouched on error: stack bytes in the journal, read past the buffer. */
static void mismatch_says_where_when_the_sysfs_path_is_gone(void **state)
{
        _cleanup_(pcidev_access_freep) struct pcidev_access *acc = NULL;
        struct rig g;
        struct pcidev dev;
        struct claim c = {};
        struct pci_addr a = addr("0000:01:00.0");
        const char *why;
        char buf[1024], path[4200];

        (void)state;
        rig_up(&g, "host-driver");
        assert_int_equal(pcidev_access_new(&g.ctx, &acc), 0);
        assert_int_equal(pcidev_probe(acc, &a, &dev), 0);
        assert_int_equal(claim_identify(&g.ctx, &dev, &c), 0);
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0", g.fk.root);
        assert_int_equal(unlink(path), 0);
        dirty_stack();
        why = claim_mismatch(&g.ctx, &c, &dev, buf, sizeof(buf));
        assert_non_null(why);
        assert_non_null(strstr(why, "but the card there hangs at /sys/devices/? (another port"));
        rig_down(&g);
}

/* vfio-pci not loaded yet (early boot): the host driver is still unbound and driver_override set, so
 * nothing but vfio-pci can take the function; the rule then loads vfio-pci, which binds it. */
static void udev_without_vfio_pci_leaves_the_function_unbound_and_reserved(void **state)
{
        struct rig g;
        char path[4200];

        (void)state;
        rig_up(&g, "host-driver");
        snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers/vfio-pci", g.fk.root);
        assert_int_equal(rm_rf(path), 0);
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_DONE);
        assert_string_equal(driver(&g, "0000:01:00.0"), "");
        assert_string_equal(attr(&g, "0000:01:00.0", "driver_override"), "vfio-pci");
        assert_int_equal(fk_count(&g.fk, "sys/bus/pci/drivers_probe", NULL), 0);
        assert_true(logged(&g, "unbound until vfio-pci loads"));
        rig_down(&g);
}

/* A pin the kernel refuses (a method this kernel does not offer) leaves its list and says so; the
 * function is still given to vfio-pci. */
static void udev_pin_the_kernel_refuses_is_a_warning_not_a_lost_claim(void **state)
{
        struct rig g;

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "flr", 100);
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_DONE);
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_string_equal(attr(&g, "0000:01:00.0", "reset_method"), "bus");
        assert_true(logged(&g, "reset_method could not be pinned to flr: Invalid argument"));
        rig_down(&g);
}

/* `claim VMID` on a card a host driver holds now: recorded with the plan's pin for the next boot,
 * and nothing is unbound or written in sysfs. */
static void claim_command_records_the_plan_pin_and_unbinds_nothing(void **state)
{
        struct rig g;
        struct run_options o = {};
        struct claim c;
        struct pgr_error err = {};
        struct pci_addr gpu = addr("0000:01:00.0"), audio = addr("0000:01:00.1");

        (void)state;
        rig_up(&g, "host-driver");
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        assert_int_equal(claim_load(&g.ctx, &gpu, &c, &err), 0);
        assert_int_equal(c.vendor, 0x10de);
        assert_string_equal(claim_pin_name(&c), "none"); /* a GPU slot: the slot reset is the safe one */
        assert_true(claim_has_owner(&c, 100));
        assert_int_equal(claim_load(&g.ctx, &audio, &c, &err), 0);
        assert_string_equal(claim_pin_name(&c), "-"); /* no reset_method on that function */
        assert_int_equal(g.fk.sh->n_log, 0);
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        assert_string_equal(driver(&g, "0000:01:00.1"), "snd_hda_intel");
        /* what the command says, as data (src/cmd-claim.c words it) */
        assert_int_equal(claim_res.n, 2);
        assert_int_equal(claim_res.items[0].outcome, RUN_CLAIM_CLAIMED);
        assert_int_equal(claim_res.items[0].now, RUN_CLAIM_NOW_HOST_DRIVER);
        assert_string_equal(claim_res.items[0].driver, "nvidia");
        assert_string_equal(claim_res.items[0].pin, "none");
        assert_true(claim_res.items[0].created);
        rig_down(&g);
}

/* --dry-run: the same decisions, no record, no write. */
static void claim_dry_run_writes_nothing(void **state)
{
        struct rig g;
        struct run_options o = { .dry_run = true };

        (void)state;
        rig_up(&g, "gpu-audio-rootport");
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        assert_false(exists(&g, "etc/pve-gpu-reset.d"));
        assert_false(exists(&g, "run/pve-gpu-reset/slot-0000:01:00.lock"));
        assert_int_equal(g.fk.sh->n_log, 0);
        rig_down(&g);
}

/* A function on vfio-pci (or unbound) is claimed and pinned now as well. */
static void claim_command_pins_a_function_already_on_vfio_now(void **state)
{
        struct rig g;
        struct run_options o = {};

        (void)state;
        rig_up(&g, "gpu-audio-rootport");
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        assert_true(exists(&g, "etc/pve-gpu-reset.d/claims/0000:01:00.0"));
        assert_string_equal(attr(&g, "0000:01:00.0", "driver_override"), "vfio-pci");
        assert_string_equal(attr(&g, "0000:01:00.0", "reset_method"), "");
        assert_string_equal(driver(&g, "0000:01:00.0"), "vfio-pci");
        assert_int_equal(fk_count(&g.fk, "/driver/unbind", NULL), 0);
        rig_down(&g);
}

/* driver=keep and mdev functions are never claimed, by VM (keep-mdev VM 100) or by address when any
 * VM gives them so. */
static void keep_and_mdev_functions_are_never_claimed(void **state)
{
        struct rig g;
        struct run_options o = {};
        struct pci_addr slot = { .domain = 0, .bus = 1, .slot = 0, .func = -1 };

        (void)state;
        rig_up(&g, "keep-mdev");
        (void)claim_cmd(&g.ctx, 100, NULL, 0, &o);
        (void)claim_cmd(&g.ctx, 0, &slot, 1, &o);
        assert_false(exists(&g, "etc/pve-gpu-reset.d/claims/0000:01:00.0"));
        assert_false(exists(&g, "etc/pve-gpu-reset.d/claims/0000:00:02.0"));
        assert_int_equal(g.fk.sh->n_log, 0);
        rig_down(&g);
}

/* detach (unclaim VMID) drops only that VM: a function a manual claim (or another VM) still holds
 * stays claimed. unclaim BDF removes the claim whoever holds it. */
static void detach_keeps_what_another_owner_still_claims(void **state)
{
        struct rig g;
        struct run_options o = {};
        struct pci_addr gpu = addr("0000:01:00.0");
        struct claim c;
        struct pgr_error err = {};

        (void)state;
        rig_up(&g, "host-driver");
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        assert_int_equal(claim_cmd(&g.ctx, 0, &gpu, 1, &o), 0);
        assert_int_equal(unclaim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        assert_int_equal(unclaim_res.n, 2);
        assert_int_equal(unclaim_res.items[0].outcome, RUN_UNCLAIM_KEPT_BY_OTHERS);
        assert_string_equal(unclaim_res.items[0].owners, "manual");
        assert_int_equal(unclaim_res.items[1].outcome, RUN_UNCLAIM_REMOVED);
        assert_int_equal(claim_load(&g.ctx, &gpu, &c, &err), 0);
        assert_false(claim_has_owner(&c, 100));
        assert_true(claim_has_owner(&c, CLAIM_OWNER_MANUAL));
        assert_false(exists(&g, "etc/pve-gpu-reset.d/claims/0000:01:00.1"));
        assert_int_equal(unclaim_cmd(&g.ctx, 0, &gpu, 1, &o), 0);
        assert_false(exists(&g, "etc/pve-gpu-reset.d/claims/0000:01:00.0"));
        rig_down(&g);
}

static void install_rule(struct rig *g)
{
        char path[4200];

        snprintf(path, sizeof(path), "%s/usr/lib/udev/rules.d", g->fk.root);
        assert_int_equal(mkdir_p(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/usr/lib/udev/rules.d/70-pve-gpu-reset.rules", g->fk.root);
        write_text(path, "# the packaged rule\n");
}

static const struct doctor_finding *doctor_claim(struct rig *g, const char *bdf, struct doctor_report **rep)
{
        struct pgr_error err = {};

        doctor_report_free(*rep);
        *rep = NULL;
        assert_int_equal(doctor_collect(&g->ctx, 100, NULL, rep, &err), 0);
        return doctor_report_find(*rep, "claim", bdf, NULL);
}

/* doctor: claimed and as the claim makes it (ok); the live state disagrees (warn, with the trigger
 * that replays boot); not claimed (info, fix claim); the rule masked (warn); another card (warn). */
static void doctor_shows_the_claim_and_warns_when_live_state_disagrees(void **state)
{
        struct rig g;
        struct run_options o = {};
        struct doctor_report *rep = NULL;
        const struct doctor_finding *f;
        char path[4200];

        (void)state;
        rig_up(&g, "gpu-audio-rootport");
        install_rule(&g);
        f = doctor_claim(&g, "0000:01:00.0", &rep);
        assert_non_null(f);
        assert_int_equal(f->status, DOCTOR_INFO);
        assert_non_null(strstr(f->fix, "pve-gpu-reset claim 100"));
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        f = doctor_claim(&g, "0000:01:00.0", &rep);
        assert_int_equal(f->status, DOCTOR_OK);
        assert_non_null(strstr(f->message, "claimed from boot (by 100)"));
        /* Someone cleared driver_override: what boot makes is not what is there. */
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:01:00.0/driver_override", g.fk.root);
        write_text(path, "(null)\n");
        f = doctor_claim(&g, "0000:01:00.0", &rep);
        assert_int_equal(f->status, DOCTOR_WARN);
        assert_non_null(strstr(f->message, "live state disagrees"));
        assert_non_null(strstr(f->fix, "udevadm trigger --action=add /sys/bus/pci/devices/0000:01:00.0"));
        /* The rule masked by an /etc override: the claim does nothing at boot. */
        snprintf(path, sizeof(path), "%s/etc/udev/rules.d", g.fk.root);
        assert_int_equal(mkdir_p(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/etc/udev/rules.d/70-pve-gpu-reset.rules", g.fk.root);
        assert_int_equal(symlink("/dev/null", path), 0);
        f = doctor_claim(&g, "0000:01:00.1", &rep);
        assert_int_equal(f->status, DOCTOR_WARN);
        assert_non_null(strstr(f->message, "masked"));
        unlink(path);
        /* A claim for another card. */
        put_claim(&g, "0000:01:00.1", 0x10de, 0x2b85, NULL, 100);
        f = doctor_claim(&g, "0000:01:00.1", &rep);
        assert_int_equal(f->status, DOCTOR_WARN);
        assert_non_null(strstr(f->message, "claimed as 10de:2b85"));
        doctor_report_free(rep);
        rig_down(&g);
}

/* A record an older version wrote (format 1: vendor:device only) still works at boot, but would take an
 * identical card renumbered onto its address: doctor says to claim again, which records the card. */
static void doctor_asks_to_claim_again_a_record_without_the_cards_identity(void **state)
{
        struct rig g;
        struct run_options o = {};
        struct doctor_report *rep = NULL;
        const struct doctor_finding *f;
        char path[4200];

        (void)state;
        rig_up(&g, "gpu-audio-rootport");
        install_rule(&g);
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        snprintf(path, sizeof(path), "%s/etc/pve-gpu-reset.d/claims/0000:01:00.0", g.fk.root);
        write_text(path, "format=1\nid=10de:0a65\npin=none\nby=100\n");
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_DONE); /* still matches on vendor:device */
        f = doctor_claim(&g, "0000:01:00.0", &rep);
        assert_int_equal(f->status, DOCTOR_WARN);
        assert_non_null(strstr(f->message, "by an older version, by vendor:device alone"));
        assert_non_null(strstr(f->fix, "pve-gpu-reset claim 100"));
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        f = doctor_claim(&g, "0000:01:00.0", &rep);
        assert_int_equal(f->status, DOCTOR_OK);
        doctor_report_free(rep);
        rig_down(&g);
}

/* Attack review: records are not tied to the VM configs. doctor (host-wide) names a stale one: claimed by
 * a VM that does not exist on this node, or by a VM whose config no longer gives the function for
 * vfio-pci (the VM's next hook run drops the latter; nothing drops the former but unclaim). */
static void doctor_names_stale_claims(void **state)
{
        struct rig g;
        struct doctor_report *rep = NULL;
        struct pgr_error err = {};
        const struct doctor_finding *f;
        char path[4200];

        (void)state;
        rig_up(&g, "gpu-audio-rootport");
        install_rule(&g);
        put_claim(&g, "0000:01:00.0", 0x10de, 0x0a65, "", 100);
        put_claim(&g, "0000:01:00.1", 0x10de, 0x0be3, NULL, 999);
        snprintf(path, sizeof(path), "%s/etc/pve/qemu-server/100.conf", g.fk.root);
        write_text(path, "memory: 2048\nhostpci0: 01:00.0,pcie=1,driver=keep\n");
        assert_int_equal(doctor_collect(&g.ctx, 0, NULL, &rep, &err), 0);
        f = doctor_report_find(rep, "claim", "0000:01:00.1", "VM 999");
        assert_non_null(f);
        assert_int_equal(f->status, DOCTOR_WARN);
        assert_non_null(strstr(f->message, "VM 999, which has no config on node pve"));
        assert_non_null(strstr(f->fix, "pve-gpu-reset unclaim 999"));
        f = doctor_report_find(rep, "claim", "0000:01:00.0", "VM 100");
        assert_non_null(f);
        assert_int_equal(f->status, DOCTOR_WARN);
        assert_non_null(strstr(f->message, "gives it with driver=keep"));
        doctor_report_free(rep);
        rig_down(&g);
}

/* A claimed card needs no ids=, softdep or blacklist (which would hit every card of that id or
 * driver): doctor stops asking for them, and for a claimed card still on its host driver names the
 * trigger that replays boot. Unclaimed, the first fix it offers is the claim. */
static void doctor_prefers_the_claim_to_ids_and_softdeps(void **state)
{
        struct rig g;
        struct run_options o = {};
        struct doctor_report *rep = NULL;
        const struct doctor_finding *f;

        (void)state;
        rig_up(&g, "host-driver");
        install_rule(&g);
        (void)doctor_claim(&g, "0000:01:00.0", &rep);
        assert_non_null(doctor_report_find(rep, "modprobe", NULL, "no 'options vfio-pci ids='"));
        f = doctor_report_find(rep, "driver", "0000:01:00.0", NULL);
        assert_non_null(strstr(f->fix, "pve-gpu-reset claim 100 (vfio-pci gets exactly these functions at boot"));
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        (void)doctor_claim(&g, "0000:01:00.0", &rep);
        assert_null(doctor_report_find(rep, "modprobe", NULL, "no 'options vfio-pci ids='"));
        assert_null(doctor_report_find(rep, "modprobe", NULL, "softdep nvidia"));
        f = doctor_report_find(rep, "driver", "0000:01:00.0", NULL);
        assert_int_equal(f->status, DOCTOR_WARN);
        assert_non_null(strstr(f->fix, "udevadm trigger --action=add /sys/bus/pci/devices/0000:01:00.0"));
        doctor_report_free(rep);
        rig_down(&g);
}

/* A function of the VM with no usable reset under its policy is still the VM's (pinned to none), not
 * someone else's: claim gives it to vfio-pci and pins it now like any other. */
static void claim_of_a_function_without_usable_reset_still_applies_now(void **state)
{
        struct rig g;
        struct run_options o = {};
        char path[4200];

        (void)state;
        rig_up(&g, "gpu-audio-rootport");
        snprintf(path, sizeof(path), "%s/etc/pve-gpu-reset.json", g.fk.root);
        write_text(path, "{\"defaults\": {\"reset_methods\": [\"flr\"]}}\n");
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(claim_cmd(&g.ctx, 100, NULL, 0, &o), 0);
        assert_string_equal(attr(&g, "0000:01:00.0", "driver_override"), "vfio-pci");
        assert_string_equal(attr(&g, "0000:01:00.0", "reset_method"), "");
        rig_down(&g);
}

/* Attack review: the attach state (chain.c) is read with the policy's trust checks, but a claim record,
 * which makes udev (root) take a function from its host driver at every boot, was read as it was: a
 * record another user can rewrite (group/world-writable) steered udev all the same. It is refused like
 * a state file: nothing written near the device, the reason journaled; unclaim still removes it. */
static void udev_refuses_a_record_others_can_write(void **state)
{
        struct rig g;
        struct claim c;
        struct pgr_error err = {};
        struct pci_addr a = addr("0000:01:00.0");
        struct run_options o = {};
        char path[4200];

        (void)state;
        rig_up(&g, "host-driver");
        put_claim(&g, "0000:01:00.0", 0x10de, 0x1b06, "", 100);
        snprintf(path, sizeof(path), "%s/etc/pve-gpu-reset.d/claims/0000:01:00.0", g.fk.root);
        assert_int_equal(chmod(path, 0666), 0);
        assert_int_equal(claim_load(&g.ctx, &a, &c, &err), -EPERM);
        assert_int_equal(udev(&g, "0000:01:00.0"), CLAIM_UDEV_FAILED);
        assert_int_equal(g.fk.sh->n_log, 0);
        assert_string_equal(driver(&g, "0000:01:00.0"), "nvidia");
        assert_true(logged(&g, "writable by others"));
        assert_int_equal(unclaim_cmd(&g.ctx, 0, &a, 1, &o), 0);
        assert_int_equal(unclaim_res.n, 1);
        assert_int_equal(unclaim_res.items[0].outcome, RUN_UNCLAIM_MALFORMED_REMOVED);
        assert_int_equal(access(path, F_OK), -1);
        rig_down(&g);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(owners_are_added_once_and_dropped_one_by_one),
                cmocka_unit_test(malformed_record_is_refused_naming_its_line),
                cmocka_unit_test(udev_hands_a_claimed_function_from_its_host_driver_to_vfio_with_the_pin),
                cmocka_unit_test(udev_never_writes_to_an_unclaimed_function),
                cmocka_unit_test(udev_refuses_a_record_others_can_write),
                cmocka_unit_test(udev_leaves_a_pf_with_enabled_vfs_alone),
                cmocka_unit_test(udev_leaves_a_function_another_vm_reserved_alone),
                cmocka_unit_test(udev_leaves_a_different_card_in_a_claimed_slot_alone),
                cmocka_unit_test(udev_leaves_an_identical_model_from_another_maker_alone),
                cmocka_unit_test(udev_leaves_a_card_that_hangs_off_another_port_alone),
                cmocka_unit_test(udev_leaves_a_card_with_another_serial_number_alone),
                cmocka_unit_test(udev_leaves_a_slot_a_hook_run_holds),
                cmocka_unit_test(udev_waits_for_a_siblings_claim_and_then_claims),
                cmocka_unit_test(mismatch_says_where_when_the_sysfs_path_is_gone),
                cmocka_unit_test(udev_rereads_the_record_after_waiting_for_a_sibling),
                cmocka_unit_test(udev_that_waited_in_vain_for_a_sibling_says_so),
                cmocka_unit_test(udev_without_vfio_pci_leaves_the_function_unbound_and_reserved),
                cmocka_unit_test(udev_pin_the_kernel_refuses_is_a_warning_not_a_lost_claim),
                cmocka_unit_test(claim_command_records_the_plan_pin_and_unbinds_nothing),
                cmocka_unit_test(claim_dry_run_writes_nothing),
                cmocka_unit_test(claim_command_pins_a_function_already_on_vfio_now),
                cmocka_unit_test(keep_and_mdev_functions_are_never_claimed),
                cmocka_unit_test(detach_keeps_what_another_owner_still_claims),
                cmocka_unit_test(doctor_shows_the_claim_and_warns_when_live_state_disagrees),
                cmocka_unit_test(doctor_prefers_the_claim_to_ids_and_softdeps),
                cmocka_unit_test(doctor_names_stale_claims),
                cmocka_unit_test(doctor_asks_to_claim_again_a_record_without_the_cards_identity),
                cmocka_unit_test(claim_of_a_function_without_usable_reset_still_applies_now),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
