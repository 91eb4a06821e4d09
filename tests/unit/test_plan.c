/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Plan decisions on fixture trees built from real lspci dumps (tests/fixtures/hosts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reset/plan.h"
#include "reset/policy.h"
#include "testutil.h"

struct fixture {
        struct pgr_ctx ctx;
        struct policy *policy;
        struct vmconf *conf;
        struct mapping_file *maps;
        struct pcidev_access *acc;
        struct plan *plan;
};

static void load(struct fixture *f, const char *host, unsigned long vmid, enum phase phase, const char *policy_json)
{
        char root[4096];
        struct pgr_error err = {};
        struct plan_input in;

        memset(f, 0, sizeof(*f));
        snprintf(root, sizeof(root), "%s/%s", getenv("PGR_FIXTURES"), host);
        assert_int_equal(pgr_ctx_init(&f->ctx, root, NULL), 0);
        if (policy_json)
                assert_int_equal(policy_parse(policy_json, strlen(policy_json), "test.json", &f->policy, &err), 0);
        else
                assert_int_equal(policy_new_default(&f->policy), 0);
        assert_int_equal(vmconf_load(&f->ctx, vmid, NULL, &f->conf, &err), 0);
        assert_int_equal(mapping_load(&f->ctx, &f->maps, &err), 0);
        assert_int_equal(pcidev_access_new(&f->ctx, &f->acc), 0);
        in = (struct plan_input){ .ctx = &f->ctx, .acc = f->acc, .conf = f->conf, .mappings = f->maps,
                                  .policy = f->policy, .phase = phase, .vmid = vmid, .now = 1700000000 };
        assert_int_equal(plan_build(&in, &f->plan, &err), 0);
}

static void unload(struct fixture *f)
{
        plan_free(f->plan);
        pcidev_access_free(f->acc);
        mapping_file_free(f->maps);
        vmconf_free(f->conf);
        policy_free(f->policy);
}

static const struct plan_device none;

static const struct plan_device *dev(const struct fixture *f, const char *bdf)
{
        for (size_t i = 0; i < f->plan->n_devices; i++)
                if (streq(f->plan->devices[i].dev.bdf, bdf))
                        return &f->plan->devices[i];
        fail_msg("%s not in the plan", bdf);
        return &none; /* not reached: fail_msg ends the test */
}

static const struct plan_action no_action = { .kind = _ACTION_MAX };

/* The device's action of that kind, or a placeholder of kind _ACTION_MAX (so a test can read it). */
static const struct plan_action *find(const struct plan_device *d, enum plan_action_kind kind)
{
        for (size_t i = 0; i < d->n_actions; i++)
                if (d->actions[i].kind == kind)
                        return &d->actions[i];
        return &no_action;
}

static bool has(const struct plan_device *d, enum plan_action_kind kind)
{
        return find(d, kind) != &no_action;
}

static bool has_kernel_bus_reset(const struct plan_device *d)
{
        for (size_t i = 0; i < d->n_ladder; i++)
                if (d->ladder[i].kind == ACTION_RESET && streq(d->ladder[i].method, "bus"))
                        return true;
        return false;
}

static void functionless_gpu_slot_expands_to_every_function(void **state)
{
        struct fixture f;

        (void)state;
        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(f.plan->n_devices, 2);
        assert_string_equal(f.plan->devices[0].dev.bdf, "0000:01:00.0");
        assert_string_equal(f.plan->devices[1].dev.bdf, "0000:01:00.1");
        assert_string_equal(f.plan->devices[0].hostpci, "hostpci0");
        assert_string_equal(f.plan->devices[1].hostpci, "hostpci0");
        unload(&f);
}

static void gpu_with_audio_sibling_never_gets_per_function_bus_reset(void **state)
{
        static const char *const hosts[] = { "gpu-audio-rootport", "quadro-noflr", "qemu-guest-6.1", "qemu-guest-6.12" };

        (void)state;
        for (size_t h = 0; h < ELEMENTSOF(hosts); h++) {
                struct fixture f;
                const struct plan_device *vga;

                load(&f, hosts[h], 100, PHASE_POST_STOP, NULL);
                vga = &f.plan->devices[0];
                assert_true(pcidev_has_method(&vga->dev, "bus")); /* the kernel lists it... */
                assert_false(has_kernel_bus_reset(vga));           /* ...and we never use it */
                assert_true(has(vga, ACTION_BUS_RESET));      /* a slot reset instead */
                unload(&f);
        }
}

static void slot_reset_prefers_reset_subordinate_and_falls_back_to_remove_rescan(void **state)
{
        struct fixture f;
        const struct plan_device *d;

        (void)state;
        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        d = dev(&f, "0000:01:00.0");
        assert_true(has(d, ACTION_BUS_RESET));
        assert_string_equal(find(d, ACTION_BUS_RESET)->method, "reset_subordinate");
        assert_int_equal(d->n_ladder, 2);
        assert_int_equal(d->ladder[1].kind, ACTION_REMOVE_RESCAN);
        unload(&f);

        /* Without reset_subordinate (quadro-noflr's root port) the Bridge Control register is used. */
        load(&f, "quadro-noflr", 100, PHASE_POST_STOP, NULL);
        assert_string_equal(find(dev(&f, "0000:01:00.0"), ACTION_BUS_RESET)->method, "bridge");
        unload(&f);

        /* Policy can force the Bridge Control path even where the kernel has reset_subordinate. */
        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, "{\"defaults\": {\"bus_reset\": \"bridge\"}}");
        assert_string_equal(find(dev(&f, "0000:01:00.0"), ACTION_BUS_RESET)->method, "bridge");
        unload(&f);
}

static void flr_capable_gpu_uses_flr_first(void **state)
{
        struct fixture f;
        const struct plan_device *d;

        (void)state;
        load(&f, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(f.plan->n_devices, 4);
        d = dev(&f, "0000:02:00.0");
        assert_true(has(d, ACTION_RESET));
        assert_string_equal(find(d, ACTION_RESET)->method, "flr");
        assert_int_equal(d->ladder[1].kind, ACTION_BUS_RESET);
        /* The USB and UCSI functions sit on host drivers: moved to vfio-pci first. */
        assert_true(has(dev(&f, "0000:02:00.2"), ACTION_BIND_VFIO));
        assert_true(has(dev(&f, "0000:02:00.3"), ACTION_BIND_VFIO));
        assert_false(has(dev(&f, "0000:02:00.0"), ACTION_BIND_VFIO));
        unload(&f);
}

static void policy_order_is_respected(void **state)
{
        struct fixture f;

        (void)state;
        /* A Blackwell-style rule: never FLR, slot reset first. */
        load(&f, "rtx2080ti-4func", 100, PHASE_POST_STOP,
             "{\"devices\": {\"10de:1e07\": {\"reset_methods\": [\"slot\", \"remove-rescan\"]}}}");
        assert_false(has(dev(&f, "0000:02:00.0"), ACTION_RESET));
        assert_string_equal(find(dev(&f, "0000:02:00.0"), ACTION_BUS_RESET)->method, "reset_subordinate");
        unload(&f);
}

/* pve-guest-common Mapping/PCI.pm assert_valid compares the map's iommugroup with the device's group
 * at start, and IOMMU groups renumber across remove + rescan (Debian's 6.1 and 6.12 kernels): for a
 * function that came from a mapping the rungs that keep the device come first, remove+rescan last,
 * whatever the policy's order. A function given by host= keeps the policy's order. */
static void mapped_function_tries_remove_rescan_last(void **state)
{
        static const char policy[] = "{\"devices\": {\"10de:27b0\": {\"reset_methods\": [\"remove-rescan\", \"flr\", "
                                     "\"slot\"]}}}";
        struct fixture f;
        const struct plan_device *d;

        (void)state;
        load(&f, "mapping", 100, PHASE_POST_STOP, policy);
        d = dev(&f, "0000:07:00.0");
        assert_string_equal(d->mapping, "nvidia-gpu");
        assert_int_equal(d->n_ladder, 3);
        assert_int_equal(d->ladder[0].kind, ACTION_RESET);
        assert_string_equal(d->ladder[0].method, "flr");
        assert_int_equal(d->ladder[1].kind, ACTION_BUS_RESET);
        assert_string_equal(d->ladder[1].method, "reset_subordinate");
        assert_int_equal(d->ladder[2].kind, ACTION_REMOVE_RESCAN);
        assert_non_null(strstr(d->ladder[2].reason, "IOMMU group mapping nvidia-gpu records"));
        unload(&f);

        load(&f, "rtx2080ti-4func", 100, PHASE_POST_STOP,
             "{\"devices\": {\"10de:1e07\": {\"reset_methods\": [\"remove-rescan\", \"slot\"]}}}");
        d = dev(&f, "0000:02:00.0");
        assert_null(d->mapping);
        assert_int_equal(d->ladder[0].kind, ACTION_REMOVE_RESCAN);
        unload(&f);
}

static void foreign_function_on_the_bridge_blocks_slot_reset_and_removal(void **state)
{
        struct fixture f;
        const struct plan_device *d;
        const struct plan_action *skip;

        (void)state;
        load(&f, "plx-shared-bridge", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(f.plan->n_devices, 1);
        d = dev(&f, "0000:04:00.0");
        assert_int_equal(d->n_ladder, 0);
        skip = find(d, ACTION_SKIP);
        assert_int_equal(skip->kind, ACTION_SKIP);
        assert_non_null(strstr(skip->reason, "0000:04:00.1 below bridge"));
        assert_true(skip->for_safety);
        assert_true(plan_has_errors(f.plan));
        unload(&f);
}

static void driver_keep_and_mdev_are_skipped_with_a_reason(void **state)
{
        struct fixture f;
        const struct plan_action *a;

        (void)state;
        load(&f, "keep-mdev", 100, PHASE_POST_STOP, NULL);
        a = find(dev(&f, "0000:00:02.0"), ACTION_SKIP);
        assert_int_equal(a->kind, ACTION_SKIP);
        assert_non_null(strstr(a->reason, "mdev"));
        assert_int_equal(dev(&f, "0000:00:02.0")->n_actions, 1);
        a = find(dev(&f, "0000:01:00.0"), ACTION_SKIP);
        assert_int_equal(a->kind, ACTION_SKIP);
        assert_non_null(strstr(a->reason, "driver=keep"));
        assert_int_equal(dev(&f, "0000:01:00.1")->n_actions, 1);
        assert_false(plan_has_errors(f.plan));
        unload(&f);
}

/* Builds the plan of post-stop from a recorded set (override), with or without what the record
 * says about each function (uses NULL: a record from before format 2). */
static void load_recorded(struct fixture *f, const char *host, const struct pci_addr *set, const enum hostpci_use *uses,
                          size_t n)
{
        struct pgr_error err = {};
        struct plan_input in;

        plan_free(f->plan);
        f->plan = NULL;
        in = (struct plan_input){ .ctx = &f->ctx, .acc = f->acc, .conf = f->conf, .mappings = f->maps,
                                  .policy = f->policy, .phase = PHASE_POST_STOP, .vmid = 100, .now = 1700000000,
                                  .override = set, .n_override = n, .override_use = uses };
        (void)host;
        assert_int_equal(plan_build(&in, &f->plan, &err), 0);
}

/* The recorded set goes through the same rule as the config: keep and mdev functions are skipped
 * whether the record says so, or (an old record) only the current config does. */
static void recorded_set_skips_keep_and_mdev_like_the_config(void **state)
{
        static const struct pci_addr set[] = { { 0, 0, 2, 0 }, { 0, 1, 0, 0 }, { 0, 1, 0, 1 } };
        static const enum hostpci_use said[] = { HOSTPCI_USE_MDEV, HOSTPCI_USE_KEEP, HOSTPCI_USE_KEEP };
        static const enum hostpci_use old[] = { HOSTPCI_USE_UNKNOWN, HOSTPCI_USE_UNKNOWN, HOSTPCI_USE_UNKNOWN };
        const enum hostpci_use *const variants[] = { said, old };
        struct fixture f;

        (void)state;
        load(&f, "keep-mdev", 100, PHASE_POST_STOP, NULL);
        for (size_t v = 0; v < ELEMENTSOF(variants); v++) {
                load_recorded(&f, "keep-mdev", set, variants[v], ELEMENTSOF(set));
                assert_int_equal(f.plan->n_devices, 3);
                assert_non_null(strstr(find(dev(&f, "0000:00:02.0"), ACTION_SKIP)->reason, "mdev"));
                assert_non_null(strstr(find(dev(&f, "0000:01:00.0"), ACTION_SKIP)->reason, "driver=keep"));
                assert_non_null(strstr(find(dev(&f, "0000:01:00.1"), ACTION_SKIP)->reason, "driver=keep"));
                for (size_t i = 0; i < f.plan->n_devices; i++)
                        assert_int_equal(f.plan->devices[i].n_actions, 1);
                assert_string_equal(dev(&f, "0000:01:00.0")->hostpci, "hostpci1");
                assert_false(plan_has_errors(f.plan));
        }
        unload(&f);
}

/* The record wins over a config edited since: the function was given with driver=keep when the VM
 * started, so its stop does not reset it even though the config now says otherwise. */
static void recorded_keep_wins_over_an_edited_config(void **state)
{
        static const struct pci_addr set[] = { { 0, 1, 0, 0 } };
        static const enum hostpci_use said[] = { HOSTPCI_USE_KEEP };
        struct fixture f;

        (void)state;
        load(&f, "keep-mdev", 101, PHASE_POST_STOP, NULL); /* VM 101 gives 01:00 without keep */
        load_recorded(&f, "keep-mdev", set, said, 1);
        assert_int_equal(dev(&f, "0000:01:00.0")->n_actions, 1);
        assert_non_null(strstr(find(dev(&f, "0000:01:00.0"), ACTION_SKIP)->reason, "driver=keep"));
        unload(&f);
}

/* What pre-start records carries the use of each function. */
static void recorded_devices_carry_what_the_config_said(void **state)
{
        struct fixture f;
        struct state_device devs[8];
        size_t n;

        (void)state;
        load(&f, "keep-mdev", 100, PHASE_PRE_START, NULL);
        n = plan_recorded_devices(f.plan, devs, ELEMENTSOF(devs));
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++) {
                char b[PCI_ADDR_STRLEN];

                pci_addr_format(&devs[i].addr, b);
                assert_int_equal(devs[i].use, streq(b, "0000:00:02.0") ? HOSTPCI_USE_MDEV : HOSTPCI_USE_KEEP);
        }
        unload(&f);
        load(&f, "gpu-audio-rootport", 100, PHASE_PRE_START, NULL);
        n = plan_recorded_devices(f.plan, devs, ELEMENTSOF(devs));
        assert_int_equal(n, 2);
        assert_int_equal(devs[0].use, HOSTPCI_USE_VFIO);
        unload(&f);
}

static void mapping_resolves_to_this_nodes_path(void **state)
{
        struct fixture f;

        (void)state;
        load(&f, "mapping", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(f.plan->n_devices, 2); /* path=0000:07:00 without function: both functions */
        assert_string_equal(f.plan->devices[0].dev.bdf, "0000:07:00.0");
        assert_string_equal(f.plan->devices[0].hostpci, "hostpci0");
        assert_false(plan_has_errors(f.plan));
        unload(&f);
}

static void unknown_mapping_is_a_problem_not_a_crash(void **state)
{
        struct fixture f;

        (void)state;
        load(&f, "mapping", 101, PHASE_POST_STOP, NULL);
        assert_true(plan_has_errors(f.plan));
        assert_non_null(strstr(f.plan->problems[0].message, "hostpci"));
        unload(&f);
}

static void host_driver_is_moved_to_vfio_and_kept_awake_before_start(void **state)
{
        struct fixture f;
        const struct plan_device *d;

        (void)state;
        load(&f, "host-driver", 100, PHASE_PRE_START, NULL);
        d = dev(&f, "0000:01:00.0");
        assert_int_equal(d->actions[0].kind, ACTION_BIND_VFIO);
        assert_non_null(strstr(d->actions[0].reason, "nvidia"));
        assert_int_equal(d->actions[1].kind, ACTION_KEEP_AWAKE); /* binding turns runtime PM on */
        assert_int_equal(dev(&f, "0000:01:00.1")->actions[0].kind, ACTION_BIND_VFIO);
        unload(&f);
}

static void post_start_and_pre_stop_do_nothing(void **state)
{
        static const enum phase phases[] = { PHASE_POST_START, PHASE_PRE_STOP };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(phases); i++) {
                struct fixture f;

                load(&f, "host-driver", 100, phases[i], NULL);
                assert_int_equal(f.plan->n_devices, 2);
                for (size_t j = 0; j < f.plan->n_devices; j++)
                        assert_int_equal(f.plan->devices[j].n_actions, 0);
                unload(&f);
        }
}

static void dead_card_is_reported(void **state)
{
        struct fixture f;
        bool warned = false;

        (void)state;
        load(&f, "dead-gpu", 100, PHASE_POST_STOP, NULL);
        for (size_t i = 0; i < f.plan->n_problems; i++)
                warned |= strstr(f.plan->problems[i].message, "0xff") != NULL;
        assert_true(warned);
        unload(&f);
}

/* The pin follows the ladder's first rung: a kernel method that works is pinned; a slot reset or a
 * remove+rescan first pins none (per-function resets disabled). */
static void pin_follows_the_ladders_first_rung(void **state)
{
        struct fixture f;
        const struct plan_device *d;

        (void)state;
        load(&f, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        d = dev(&f, "0000:02:00.0");
        assert_true(d->pin_set);
        assert_string_equal(d->pin, "flr");
        assert_non_null(strstr(d->pin_reason, "flr: the first method of the policy's order"));
        unload(&f);

        /* The stale "bus" of a function that shares its bus is no method: the slot reset is first. */
        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        d = dev(&f, "0000:01:00.0");
        assert_true(d->pin_set);
        assert_string_equal(d->pin, "");
        assert_string_equal(d->pin_rung, "slot reset");
        unload(&f);

        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, "{\"defaults\": {\"reset_methods\": [\"remove-rescan\"]}}");
        assert_string_equal(dev(&f, "0000:01:00.0")->pin_rung, "remove+rescan");
        unload(&f);

        /* The shipped policy's entry for GB202 (RTX PRO 6000 / 5090: FLR leaves it unresponsive) puts
         * the slot first: its FLR is never pinned although the kernel lists it first. */
        load(&f, "doctor-blackwell", 100, PHASE_PRE_START,
             "{\"devices\": {\"10de:2b85\": {\"reset_methods\": [\"slot\", \"remove-rescan\"]}}}");
        d = dev(&f, "0000:43:00.0");
        assert_string_equal(d->dev.reset_methods[0], "flr");
        assert_true(d->pin_set);
        assert_string_equal(d->pin, "");
        assert_string_equal(d->pin_rung, "slot reset");
        unload(&f);
}

/* A function that needs no reset this time (here the policy asks none at pre-start; the same holds
 * for one left clean by the last post-stop) is still the VM's: pinned all the same. */
static void function_without_a_reset_is_pinned_all_the_same(void **state)
{
        struct fixture f;
        const struct plan_device *d;

        (void)state;
        load(&f, "rtx2080ti-4func", 100, PHASE_PRE_START, "{\"defaults\": {\"reset_on_pre_start\": false}}");
        d = dev(&f, "0000:02:00.0");
        assert_false(d->needs_reset);
        assert_int_equal(d->n_ladder, 0);
        assert_true(d->pin_set);
        assert_string_equal(d->pin, "flr");
        unload(&f);
}

/* Never pinned: driver=keep, mdev (not the VM's to set), and the other phases. */
static void keep_mdev_and_other_phases_are_never_pinned(void **state)
{
        struct fixture f;

        (void)state;
        load(&f, "keep-mdev", 100, PHASE_PRE_START, NULL);
        for (size_t i = 0; i < f.plan->n_devices; i++)
                assert_false(f.plan->devices[i].pin_set);
        unload(&f);
        load(&f, "rtx2080ti-4func", 100, PHASE_POST_START, NULL);
        for (size_t i = 0; i < f.plan->n_devices; i++)
                assert_false(f.plan->devices[i].pin_set);
        unload(&f);
}

static void pin_shows_in_text_and_json(void **state)
{
        struct fixture f;
        struct json_object *j = NULL, *pin;
        char *text = NULL;
        size_t len = 0;
        FILE *out;

        (void)state;
        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        out = open_memstream(&text, &len);
        plan_print(f.plan, false, out);
        fclose(out);
        assert_non_null(strstr(text, "pin: none (slot reset)\n"));
        assert_null(strstr(text, "per-function resets are disabled"));
        free(text);
        out = open_memstream(&text, &len);
        plan_print(f.plan, true, out);
        fclose(out);
        assert_non_null(strstr(text, "per-function resets are disabled"));
        free(text);
        assert_int_equal(plan_to_json(f.plan, &j), 0);
        pin = json_object_object_get(json_object_array_get_idx(json_object_object_get(j, "devices"), 0), "pin");
        assert_string_equal(json_object_get_string(json_object_object_get(pin, "method")), "none");
        assert_non_null(strstr(json_object_get_string(json_object_object_get(pin, "reason")), "slot reset"));
        json_object_put(j);
        unload(&f);

        load(&f, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        out = open_memstream(&text, &len);
        plan_print(f.plan, false, out);
        fclose(out);
        assert_non_null(strstr(text, "pin: flr\n"));
        free(text);
        unload(&f);
}

/* qemu-server before 8.2.6 dies when its write to reset fails: a pin to none would abort every start,
 * so it is not made, and the plan says why. The die is in PVE/QemuServer/PCI.pm prepare_pci_device
 * from commit acd4b777 "pci: refactor pci device preparation" (2021) until 458b487b; before that it
 * was inline in PVE/QemuServer.pm vm_start (qemu-server 7.0 and older). rel is the file that has it. */
static void assert_no_pin_to_none_with_the_die_in(const char *rel)
{
        struct fixture f;
        char dir[4096], path[4200];
        const char *parts[] = { "usr", "usr/share", "usr/share/perl5", "usr/share/perl5/PVE",
                                "usr/share/perl5/PVE/QemuServer" };
        FILE *fp;
        bool warned = false;

        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
                snprintf(dir, sizeof(dir), "%s/gpu-audio-rootport/%s", getenv("PGR_FIXTURES"), parts[i]);
                (void)mkdir(dir, 0755);
        }
        snprintf(path, sizeof(path), "%s/gpu-audio-rootport/usr/share/perl5/PVE/%s", getenv("PGR_FIXTURES"), rel);
        assert_non_null(fp = fopen(path, "we"));
        fputs("        die \"can't reset PCI device '$pciid'\\n\"\n"
              "            if $info->{has_fl_reset} && !PVE::SysFSTools::pci_dev_reset($info);\n", fp);
        fclose(fp);
        load(&f, "gpu-audio-rootport", 100, PHASE_PRE_START, NULL);
        assert_false(dev(&f, "0000:01:00.0")->pin_set);
        for (size_t i = 0; i < f.plan->n_problems; i++)
                warned |= strstr(f.plan->problems[i].message, "not pinned to none (slot reset): this qemu-server") != NULL;
        assert_true(warned);
        unload(&f);
        assert_int_equal(unlink(path), 0);
        /* A kernel method is still pinned there: the write to reset then succeeds. */
        load(&f, "rtx2080ti-4func", 100, PHASE_PRE_START, NULL);
        assert_string_equal(dev(&f, "0000:02:00.0")->pin, "flr");
        unload(&f);
}

static void no_pin_to_none_where_proxmox_dies_on_a_failed_reset(void **state)
{
        (void)state;
        assert_no_pin_to_none_with_the_die_in("QemuServer/PCI.pm");
}

static void no_pin_to_none_where_an_older_qemu_server_dies_in_vm_start(void **state)
{
        (void)state;
        assert_no_pin_to_none_with_the_die_in("QemuServer.pm");
}

static void json_has_the_documented_shape(void **state)
{
        struct fixture f;
        struct json_object *j = NULL, *devs, *d0, *acts;

        (void)state;
        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(plan_to_json(f.plan, &j), 0);
        assert_int_equal(json_object_get_int(json_object_object_get(j, "vmid")), 100);
        assert_string_equal(json_object_get_string(json_object_object_get(j, "phase")), "post-stop");
        assert_string_equal(json_object_get_string(json_object_object_get(j, "node")), "pve");
        devs = json_object_object_get(j, "devices");
        assert_int_equal(json_object_array_length(devs), 2);
        d0 = json_object_array_get_idx(devs, 0);
        assert_string_equal(json_object_get_string(json_object_object_get(d0, "slot")), "0000:01:00.0");
        assert_string_equal(json_object_get_string(json_object_object_get(d0, "id")), "10de:0a65");
        assert_string_equal(json_object_get_string(json_object_object_get(d0, "class")), "0300");
        assert_string_equal(json_object_get_string(json_object_object_get(d0, "driver")), "vfio-pci");
        assert_int_equal(json_object_get_int(json_object_object_get(d0, "iommu_group")), 13);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(json_object_object_get(d0, "reset_methods"), 0)), "bus");
        acts = json_object_object_get(d0, "actions");
        assert_true(json_object_array_length(acts) >= 1);
        assert_non_null(json_object_object_get(j, "problems"));
        json_object_put(j);
        unload(&f);
}

static void pending_and_snapshot_sections_change_nothing(void **state)
{
        char root[4096], path[4200];
        struct fixture f;
        FILE *fp;

        (void)state;
        snprintf(root, sizeof(root), "%s/gpu-audio-rootport", getenv("PGR_FIXTURES"));
        snprintf(path, sizeof(path), "%s/etc/pve/qemu-server/150.conf", root);
        fp = fopen(path, "we");
        assert_non_null(fp);
        fputs("hostpci0: 01:00.0\nmemory: 2048\n\n[PENDING]\nhostpci1: 02:00.0\n\n[snap1]\nhostpci0: 02:00\n", fp);
        fclose(fp);
        load(&f, "gpu-audio-rootport", 150, PHASE_POST_STOP, NULL);
        assert_int_equal(f.plan->n_devices, 1);
        assert_string_equal(f.plan->devices[0].dev.bdf, "0000:01:00.0");
        unload(&f);
}

static bool ladder_has(const struct plan_device *d, enum plan_action_kind kind)
{
        for (size_t i = 0; i < d->n_ladder; i++)
                if (d->ladder[i].kind == kind)
                        return true;
        return false;
}

/* A GeForce with USB-C passed as .0;.1: .2 and .3 are in the same IOMMU group (41), which Proxmox
 * binds to vfio-pci as a whole when the VM starts (pve-common SysFSTools.pm pci_dev_group_bind_to_vfio,
 * from qemu-server PVE/QemuServer/PCI.pm): collateral, not foreign. The slot reset covers them. */
static void same_iommu_group_functions_are_collateral_of_a_slot_reset(void **state)
{
        struct fixture f;
        const struct plan_device *audio;
        const struct plan_action *bus;

        (void)state;
        load(&f, "rtx2080ti-4func", 101, PHASE_POST_STOP, NULL);
        assert_int_equal(f.plan->n_devices, 2);
        audio = dev(&f, "0000:03:00.1");
        assert_false(has(audio, ACTION_SKIP));
        bus = find(audio, ACTION_BUS_RESET);
        assert_int_equal(bus->kind, ACTION_BUS_RESET);
        assert_non_null(strstr(bus->reason, "0000:03:00.2, 0000:03:00.3"));
        assert_non_null(strstr(bus->reason, "same IOMMU group"));
        assert_true(ladder_has(dev(&f, "0000:03:00.0"), ACTION_BUS_RESET));
        assert_false(plan_has_errors(f.plan));
        unload(&f);
}

/* ...unless another VM reserved one of them: then it is that VM's, and no slot reset covers it. */
static void reserved_collateral_function_blocks_the_slot_reset(void **state)
{
        struct fixture f;
        char path[4200];
        FILE *out;

        (void)state;
        snprintf(path, sizeof(path), "%s/rtx2080ti-4func/run", getenv("PGR_FIXTURES"));
        (void)mkdir(path, 0755);
        strcat(path, "/qemu-server");
        (void)mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/rtx2080ti-4func/run/qemu-server/pci-id-reservations", getenv("PGR_FIXTURES"));
        out = fopen(path, "we");
        assert_non_null(out);
        fputs("0000:03:00.3 102 time:1700000100\n", out);
        assert_int_equal(fclose(out), 0);
        load(&f, "rtx2080ti-4func", 101, PHASE_POST_STOP, NULL);
        assert_int_equal(unlink(path), 0);
        assert_false(ladder_has(dev(&f, "0000:03:00.0"), ACTION_BUS_RESET));
        assert_false(ladder_has(dev(&f, "0000:03:00.1"), ACTION_BUS_RESET));
        assert_non_null(strstr(find(dev(&f, "0000:03:00.1"), ACTION_SKIP)->reason,
                               "0000:03:00.3 below bridge 0000:00:03.0 is reserved by VM 102"));
        unload(&f);
}

/* Issue #11: 65 functions below the root port, the walk keeps 64. Whichever were cut, the slot reset
 * must be refused: a list that is not complete cannot show that every function is this VM's. */
static void more_functions_below_a_bridge_than_listed_count_as_foreign(void **state)
{
        struct fixture f;

        (void)state;
        load(&f, "wide-bus", 300, PHASE_POST_STOP, NULL);
        assert_int_equal(f.plan->n_devices, 64);
        for (size_t i = 0; i < f.plan->n_devices; i++) {
                const struct plan_device *d = &f.plan->devices[i];

                assert_false(ladder_has(d, ACTION_BUS_RESET));
                assert_true(ladder_has(d, ACTION_REMOVE_RESCAN));
        }
        assert_non_null(strstr(find(&f.plan->devices[0], ACTION_REMOVE_RESCAN)->reason, "cannot list every function"));
        unload(&f);
}

/* A group function on a host driver (02:00.2 on xhci_hcd, as before the first start: Proxmox binds the
 * group only after pre-start; or given back to the host after a run) is in use by the host: a slot
 * reset under its driver could take the host down with it. Not collateral, in any phase. (e2e found it:
 * the foreign e1000 behind a PCI bridge shares the display's group, and post-stop reset its bus.) */
static void group_function_on_a_host_driver_blocks_the_slot_reset(void **state)
{
        static const enum phase phases[] = { PHASE_MANUAL, PHASE_POST_STOP, PHASE_PRE_START };
        struct fixture f;
        struct pci_addr ids[2];

        (void)state;
        load(&f, "rtx2080ti-4func", 100, PHASE_POST_STOP, NULL);
        assert_int_equal(pci_addr_parse("0000:02:00.0", &ids[0]), 0);
        assert_int_equal(pci_addr_parse("0000:02:00.1", &ids[1]), 0);
        for (size_t i = 0; i < ELEMENTSOF(phases); i++) {
                struct pgr_error err = {};
                struct plan *p = NULL;
                struct plan_input in = { .ctx = &f.ctx, .acc = f.acc, .policy = f.policy, .phase = phases[i],
                                         .override = ids, .n_override = 2, .now = 1700000000,
                                         .vmid = phases[i] == PHASE_MANUAL ? 0 : 100 };

                assert_int_equal(plan_build(&in, &p, &err), 0);
                assert_false(ladder_has(&p->devices[1], ACTION_BUS_RESET));
                assert_false(ladder_has(&p->devices[1], ACTION_REMOVE_RESCAN));
                assert_non_null(strstr(find(&p->devices[1], ACTION_SKIP)->reason, "is bound to host driver xhci_hcd"));
                plan_free(p);
        }
        unload(&f);
}

/* A VF alone in its ARI "slot" (03:01.0, PF 03:00.0): removing it loses it until sriov_numvfs is
 * written again (a rescan does not enumerate VFs, drivers/pci/iov.c creates them), so the ladder
 * stops at its FLR. */
static void virtual_function_is_never_removed(void **state)
{
        struct fixture f;
        const struct plan_device *d;

        (void)state;
        load(&f, "doctor-sriov", 102, PHASE_POST_STOP, NULL);
        d = dev(&f, "0000:03:01.0");
        assert_int_equal(d->n_ladder, 1);
        assert_int_equal(d->ladder[0].kind, ACTION_RESET);
        assert_string_equal(d->ladder[0].method, "flr");
        assert_false(has(d, ACTION_REMOVE_RESCAN));
        assert_false(has(d, ACTION_BUS_RESET));
        unload(&f);
}

/* The policy puts every wider rung first; the kernel lists "flr bus" for a VF in a hotplug slot
 * (seen on 6.12, e2e sriov.sh), where "bus" is a slot reset (drivers/pci/pci.c
 * pci_dev_reset_slot_function: a VF is not multifunction and has the slot). */
#define WIDEST_FIRST "{\"defaults\": {\"reset_methods\": [\"bus\", \"slot\", \"remove-rescan\", \"pm\", \"flr\"]}}"

static bool warned_about(const struct plan *p, const char *text)
{
        for (size_t i = 0; i < p->n_problems; i++)
                if (strstr(p->problems[i].message, text))
                        return true;
        return false;
}

/* A VF (sriov-nvme: the Samsung PM174X's VF 2e:04.0) gets its own FLR and nothing else, pinned to
 * it, even in VM 103 which is given the PF and every sibling VF too: a slot reset or a bridge SBR
 * resets the PF, and a PF reset takes its VFs down (QEMU's nvme disables them); a power cycle
 * the same. Its config space reads FFFFh as Vendor/Device ID (SR-IOV spec), which is no sign of a
 * dead card. */
static void virtual_function_gets_only_its_flr(void **state)
{
        static const unsigned long vms[] = { 100, 103 };

        (void)state;
        for (size_t v = 0; v < ELEMENTSOF(vms); v++) {
                struct fixture f;
                const struct plan_device *d;

                load(&f, "sriov-nvme", vms[v], PHASE_POST_STOP, WIDEST_FIRST);
                d = dev(&f, "0000:2e:04.0");
                assert_string_equal(d->dev.physfn, "0000:2e:00.0");
                assert_true(d->dev.config_readable);
                assert_int_equal(d->n_ladder, 1);
                assert_int_equal(d->ladder[0].kind, ACTION_RESET);
                assert_string_equal(d->ladder[0].method, "flr");
                assert_true(d->pin_set);
                assert_string_equal(d->pin, "flr");
                assert_false(warned_about(f.plan, "0xff"));
                unload(&f);
        }
}

/* A VF's link/ ASPM files are its PF's link (drivers/pci/pcie/aspm.c pcie_aspm_get_link): turning
 * ASPM off through the VF would change the link of the PF and every sibling. */
static void virtual_function_gets_no_aspm_write(void **state)
{
        struct fixture f;
        const struct plan_device *d;

        (void)state;
        load(&f, "sriov-nvme", 100, PHASE_PRE_START, NULL);
        d = dev(&f, "0000:2e:04.0");
        assert_true(d->dev.n_link_aspm > 0);
        assert_true(d->policy.aspm_off);
        assert_false(has(d, ACTION_ASPM_OFF));
        unload(&f);
}

/* The reset command's --method cannot widen it either. */
static void virtual_function_refuses_a_forced_slot_reset(void **state)
{
        static const char *const methods[] = { "reset_subordinate", "bridge", "remove-rescan", "bus" };
        struct fixture f;
        struct pci_addr vf;

        (void)state;
        load(&f, "sriov-nvme", 103, PHASE_POST_STOP, NULL);
        assert_int_equal(pci_addr_parse("0000:2e:04.2", &vf), 0);
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                struct pgr_error err = {};
                struct plan *p = NULL;
                struct plan_input in = { .ctx = &f.ctx, .acc = f.acc, .policy = f.policy, .phase = PHASE_MANUAL,
                                         .override = &vf, .n_override = 1, .now = 1700000000,
                                         .forced_method = methods[i] };

                assert_int_equal(plan_build(&in, &p, &err), 0);
                assert_int_equal(p->devices[0].n_ladder, 0);
                assert_true(has(&p->devices[0], ACTION_SKIP));
                assert_non_null(strstr(find(&p->devices[0], ACTION_SKIP)->reason, "virtual function of 0000:2e:00.0"));
                assert_true(plan_has_errors(p));
                plan_free(p);
        }
        unload(&f);
}

/* A PF whose VFs are enabled (VM 102, and VM 103 that has its VFs too): vfio-pci refuses to bind
 * it (drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_register_device: "Cannot bind to PF with
 * SR-IOV enabled", -EBUSY), unbinding its driver leaves the VFs (drivers/pci/pci-driver.c
 * pci_device_remove -> pci_iov_remove: "driver left SR-IOV enabled after remove"; e2e sriov.sh:
 * the nvme PF ended with no driver at all), and any reset of it resets every VF. Left alone,
 * with a warning: Proxmox decides the start (never aborted for it); the reset command refuses. */
static void pf_with_enabled_vfs_is_left_alone(void **state)
{
        static const unsigned long vms[] = { 102, 103 };
        static const enum phase phases[] = { PHASE_PRE_START, PHASE_POST_STOP };

        (void)state;
        for (size_t v = 0; v < ELEMENTSOF(vms); v++)
                for (size_t i = 0; i < ELEMENTSOF(phases); i++) {
                        struct fixture f;
                        const struct plan_device *d;

                        load(&f, "sriov-nvme", vms[v], phases[i], NULL);
                        d = dev(&f, "0000:2e:00.0");
                        assert_true(has(d, ACTION_SKIP));
                        assert_non_null(strstr(find(d, ACTION_SKIP)->reason, "3 VFs enabled"));
                        assert_false(has(d, ACTION_BIND_VFIO));
                        assert_false(has(d, ACTION_RESET));
                        assert_false(has(d, ACTION_BUS_RESET));
                        assert_false(d->pin_set);
                        assert_true(warned_about(f.plan, "3 VFs enabled"));
                        assert_false(plan_has_errors(f.plan));
                        unload(&f);
                }
        {
                struct fixture f;
                struct pgr_error err = {};
                struct plan *p = NULL;
                struct pci_addr pf;

                load(&f, "sriov-nvme", 102, PHASE_POST_STOP, NULL);
                assert_int_equal(pci_addr_parse("0000:2e:00.0", &pf), 0);
                struct plan_input in = { .ctx = &f.ctx, .acc = f.acc, .policy = f.policy, .phase = PHASE_MANUAL,
                                         .override = &pf, .n_override = 1, .now = 1700000000 };

                assert_int_equal(plan_build(&in, &p, &err), 0);
                assert_true(has(&p->devices[0], ACTION_SKIP));
                assert_true(plan_has_errors(p));
                plan_free(p);
                unload(&f);
        }
}

/* NVIDIA vGPU on kernels >= 6.8: a VF with nvidia/current_vgpu_type is Proxmox's to manage
 * (qemu-server PCI.pm choose_hostpci_devices -> Mdev.pm create_nvidia_device sets its type,
 * prepare_pci_device neither binds nor resets it). With mdev=nvidia-N it is skipped as an mdev
 * line; given without mdev= it is skipped all the same, because of what it is. */
static void nvidia_vgpu_function_is_left_to_proxmox(void **state)
{
        static const struct {
                unsigned long vmid;
                const char *bdf, *reason;
        } cases[] = {
                { 200, "0000:c1:00.4", "mediated device" },
                { 201, "0000:c1:00.5", "NVIDIA vGPU" },
        };
        static const enum phase phases[] = { PHASE_PRE_START, PHASE_POST_STOP };

        (void)state;
        for (size_t c = 0; c < ELEMENTSOF(cases); c++)
                for (size_t i = 0; i < ELEMENTSOF(phases); i++) {
                        struct fixture f;
                        const struct plan_device *d;

                        load(&f, "nvidia-vgpu", cases[c].vmid, phases[i], NULL);
                        d = dev(&f, cases[c].bdf);
                        assert_int_equal(d->n_actions, 1);
                        assert_int_equal(d->actions[0].kind, ACTION_SKIP);
                        assert_non_null(strstr(d->actions[0].reason, cases[c].reason));
                        assert_false(d->pin_set);
                        unload(&f);
                }
}

/* Writes rel under the fixture host's tree (the trees are shared by the tests of this binary: the
 * caller removes what it wrote). */
static void host_file(const char *host, const char *rel, const char *text)
{
        char path[8192], cmd[8300];

        snprintf(path, sizeof(path), "%s/%s/%s", getenv("PGR_FIXTURES"), host, rel);
        snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
        assert_int_equal(system(cmd), 0);
        write_text(path, text);
}

static void host_rm(const char *host, const char *rel)
{
        char cmd[8300];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s/%s'", getenv("PGR_FIXTURES"), host, rel);
        assert_int_equal(system(cmd), 0);
}

static const struct plan_action *ladder_find(const struct plan_device *d, enum plan_action_kind kind)
{
        for (size_t i = 0; i < d->n_ladder; i++)
                if (d->ladder[i].kind == kind)
                        return &d->ladder[i];
        return NULL;
}

/* Issue 16: a hotplug slot with a power control (pciehp) gives the card a last rung, after
 * remove+rescan; without the power attribute there is none. */
static void hotplug_slot_power_is_the_last_rung(void **state)
{
        struct fixture f;
        const struct plan_action *pc;

        (void)state;
        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        assert_null(ladder_find(&f.plan->devices[0], ACTION_POWER_CYCLE));
        unload(&f);

        host_file("gpu-audio-rootport", "sys/bus/pci/slots/1/power", "1\n");
        load(&f, "gpu-audio-rootport", 100, PHASE_POST_STOP, NULL);
        for (size_t i = 0; i < 2; i++) {
                const struct plan_device *d = &f.plan->devices[i];

                pc = ladder_find(d, ACTION_POWER_CYCLE);
                assert_non_null(pc);
                assert_ptr_equal(pc, &d->ladder[d->n_ladder - 1]);
                assert_non_null(strstr(pc->reason, "slot 1 powered off and on"));
        }
        unload(&f);
        host_rm("gpu-audio-rootport", "sys/bus/pci/slots/1/power");
}

/* A VF in a hotplug slot (ARI: VF 03:00.2 shares "slot" 03:00 with its PF): never a power cycle, which
 * would take the PF and every sibling VF down and bring no VF back. */
static void virtual_function_never_gets_a_power_cycle(void **state)
{
        struct fixture f;

        (void)state;
        host_file("doctor-sriov", "sys/bus/pci/slots/9/address", "0000:03:00\n");
        host_file("doctor-sriov", "sys/bus/pci/slots/9/power", "1\n");
        host_file("doctor-sriov", "etc/pve/nodes/pve1/qemu-server/103.conf", "hostpci0: 0000:03:00.2,pcie=1\n");
        load(&f, "doctor-sriov", 103, PHASE_POST_STOP,
             "{\"defaults\": {\"reset_methods\": [\"flr\", \"remove-rescan\", \"power-cycle\"]}}");
        assert_int_equal(f.plan->n_devices, 1);
        assert_true(f.plan->devices[0].dev.slot_power);
        assert_string_equal(f.plan->devices[0].dev.physfn, "0000:03:00.0");
        assert_null(ladder_find(&f.plan->devices[0], ACTION_POWER_CYCLE));
        assert_non_null(strstr(f.plan->devices[0].actions[f.plan->devices[0].n_actions - 1].reason,
                               "a virtual function of 0000:03:00.0 gets only its own FLR"));
        unload(&f);
        host_rm("doctor-sriov", "sys/bus/pci/slots/9");
        host_rm("doctor-sriov", "etc/pve/nodes/pve1/qemu-server/103.conf");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(functionless_gpu_slot_expands_to_every_function),
                cmocka_unit_test(gpu_with_audio_sibling_never_gets_per_function_bus_reset),
                cmocka_unit_test(slot_reset_prefers_reset_subordinate_and_falls_back_to_remove_rescan),
                cmocka_unit_test(flr_capable_gpu_uses_flr_first),
                cmocka_unit_test(policy_order_is_respected),
                cmocka_unit_test(mapped_function_tries_remove_rescan_last),
                cmocka_unit_test(foreign_function_on_the_bridge_blocks_slot_reset_and_removal),
                cmocka_unit_test(same_iommu_group_functions_are_collateral_of_a_slot_reset),
                cmocka_unit_test(reserved_collateral_function_blocks_the_slot_reset),
                cmocka_unit_test(group_function_on_a_host_driver_blocks_the_slot_reset),
                cmocka_unit_test(pin_follows_the_ladders_first_rung),
                cmocka_unit_test(function_without_a_reset_is_pinned_all_the_same),
                cmocka_unit_test(keep_mdev_and_other_phases_are_never_pinned),
                cmocka_unit_test(pin_shows_in_text_and_json),
                cmocka_unit_test(no_pin_to_none_where_proxmox_dies_on_a_failed_reset),
                cmocka_unit_test(no_pin_to_none_where_an_older_qemu_server_dies_in_vm_start),
                cmocka_unit_test(more_functions_below_a_bridge_than_listed_count_as_foreign),
                cmocka_unit_test(virtual_function_is_never_removed),
                cmocka_unit_test(virtual_function_gets_only_its_flr),
                cmocka_unit_test(virtual_function_gets_no_aspm_write),
                cmocka_unit_test(virtual_function_refuses_a_forced_slot_reset),
                cmocka_unit_test(pf_with_enabled_vfs_is_left_alone),
                cmocka_unit_test(nvidia_vgpu_function_is_left_to_proxmox),
                cmocka_unit_test(driver_keep_and_mdev_are_skipped_with_a_reason),
                cmocka_unit_test(recorded_set_skips_keep_and_mdev_like_the_config),
                cmocka_unit_test(recorded_keep_wins_over_an_edited_config),
                cmocka_unit_test(recorded_devices_carry_what_the_config_said),
                cmocka_unit_test(mapping_resolves_to_this_nodes_path),
                cmocka_unit_test(unknown_mapping_is_a_problem_not_a_crash),
                cmocka_unit_test(host_driver_is_moved_to_vfio_and_kept_awake_before_start),
                cmocka_unit_test(post_start_and_pre_stop_do_nothing),
                cmocka_unit_test(dead_card_is_reported),
                cmocka_unit_test(json_has_the_documented_shape),
                cmocka_unit_test(pending_and_snapshot_sections_change_nothing),
                cmocka_unit_test(hotplug_slot_power_is_the_last_rung),
                cmocka_unit_test(virtual_function_never_gets_a_power_cycle),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
