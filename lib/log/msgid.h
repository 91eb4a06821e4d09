/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* MESSAGE_ID of every kind of event pve-gpu-reset writes to the journal: 32 lower-case hex digits,
 * generated once with `systemd-id128 new` and fixed forever (users filter on them, the catalog
 * conf/pve-gpu-reset.catalog explains each one: `journalctl -x MESSAGE_ID=...`). Never reuse or change
 * one; add a new id (and its catalog entry and pgr_msgids[] row) for a new kind of event. */

/* A kernel reset method or a slot reset brought the function back (RESET_METHOD says which). */
#define PGR_MSGID_RESET_DONE         "0bf7d0405cd643a8903089cd0e9f3091"
/* Every rung of the reset ladder that applied failed; the card may still hold the last guest's state. */
#define PGR_MSGID_RESET_FAILED       "a0cfc5f2f74b4d40aca291cf6af5b21b"
/* The device vanished (or stayed missing) and a rescan did not bring it back. */
#define PGR_MSGID_DEVICE_GONE        "afe13f9a852a440b848289b3028b8245"
/* A host driver (nvidia, nouveau, amdgpu, snd_hda_intel...) had the card; it was moved to vfio-pci. */
#define PGR_MSGID_HOST_DRIVER        "66bae232661144ceb3b7f3f438a82cb2"
/* An unbound function was bound to vfio-pci (driver_override + drivers_probe). */
#define PGR_MSGID_BOUND_VFIO         "b83aad9f70884852b58682d8a744fdf8"
/* Binding to vfio-pci failed (vfio-pci not loaded, device busy, driver refused). */
#define PGR_MSGID_BIND_FAILED        "e6eb8a2681884881b1d0e85edbeea173"
/* Left alone for safety: foreign device, reserved by or open in another VM, foreign device on the bus. */
#define PGR_MSGID_SKIPPED_SAFETY     "920894808d3a41579ab7e13e022d43c7"
/* Left alone because the configuration says so: driver=keep, mdev (vGPU/SR-IOV), policy. */
#define PGR_MSGID_SKIPPED_CONFIG     "2a98e8d9fee14b0dab4a82ef396d9f0f"
/* Keep-awake (d3cold_allowed=0, power/control=on) or ASPM-off applied to a function or its link. */
#define PGR_MSGID_POWER              "9dd1336e1cdc416f9ef15030c2559e06"
/* /sys/bus/pci/drivers_autoprobe was found at 0 (an earlier run crashed mid-reset) and set back to 1. */
#define PGR_MSGID_AUTOPROBE_RESTORED "fa46d6afef5541ba8cb531fd9f218fc5"
/* A sysfs setting a killed run had changed for a moment (a function's reset_method, narrowed to one
 * method around a reset) was set back to what an uninterrupted run leaves. */
#define PGR_MSGID_SETTING_RESTORED   "13afe95f111c43859f95c8fff626b00a"
/* A function the VM owns had its reset_method pinned to the method its ladder chose (or to none:
 * per-function resets disabled, the slot is the safe reset), so that Proxmox, vfio-pci and QEMU reset
 * it that way too. */
#define PGR_MSGID_RESET_PINNED       "d5ab39ef86c540ae810515e88cf8f0c6"
/* A pin of ours removed from a function that is no longer a VM's: the kernel's reset_method list is back. */
/* A function handed back to its host driver after post-stop (policy release_after_stop). */
#define PGR_MSGID_RELEASED           "64c4a960563d424f9a1cf3b19ea3f342"
#define PGR_MSGID_RESET_UNPINNED     "6c08c98929c64661a9d7aa1da24ac874"
/* One phase finished, every device in a good state. */
#define PGR_MSGID_PHASE_OK           "0f0ab458e67e48d096adaabd1154d606"
/* One phase finished with at least one device failed. */
#define PGR_MSGID_PHASE_FAILED       "47828e0337cf4507952164d7383389d4"
/* The VM config, a mapping or /etc/pve-gpu-reset.json could not be used; nothing was touched. */
#define PGR_MSGID_CONFIG_ERROR       "4c8edc5e256e44fb8bfdc3b0bcda2950"
/* A device or bus lock under /run/pve-gpu-reset/ was not obtained in time. */
#define PGR_MSGID_LOCK_TIMEOUT       "6538447d46b64d038c05a5fc5de7be8b"
/* The VM's own (chained) hookscript ran; RESULT says whether it succeeded. */
#define PGR_MSGID_CHAINED_HOOK       "2872e3d24b654f56b26b78fdb4c770ab"
/* A file under /run/pve-gpu-reset/ (device record, clean or used mark) could not be written. */
#define PGR_MSGID_STATE_WRITE_FAILED "6d2b558e92214785b001b8322205c988"
/* The hook runs as a copy of the binary (on a shared storage) older than the installed one. */
#define PGR_MSGID_STALE_COPY         "ad542deadde14fd0a9c8bc7abfa8e57e"
/* A claimed function (claim / attach) was handed to vfio-pci at device add by the udev rule, before a
 * host driver module could bind it: driver_override, its pinned reset_method, a host driver unbound. */
#define PGR_MSGID_CLAIM_APPLIED      "6027cfb452db418f92ada6dea1320063"
/* A VM's claim of a function was dropped because its config no longer gives the function for vfio-pci
 * (driver=keep, mdev, or not at all): at boot the function stays with its host driver. */
#define PGR_MSGID_CLAIM_DROPPED      "532a28edcc2d476191c127b684f20450"

/* After a reset the card's PCIe link came back narrower or slower than before (current_link_width/speed
 * against the value before the reset and the one recorded when it was last whole); one retrain was tried
 * where the port allows it. */
#define PGR_MSGID_LINK_DEGRADED      "9ac407b51bbe4a54bee5962597f7b891"
/* A card reads all ones or is gone, and no rung of the ladder (power cycle included, where the slot has
 * one) brought it back: only a host power cycle helps. */
#define PGR_MSGID_CARD_DEAD          "847e6513ee134dd798d256e2da15f6da"

#define PGR_MSGID_LEN 32

/* Every id once, with a short stable name (used by `history --json` as "event", and by tests to
 * iterate: the catalog must hold exactly these ids). */
struct pgr_msgid {
        const char *id;
        const char *name;
};

extern const struct pgr_msgid pgr_msgids[];
extern const size_t pgr_msgids_count;

/* The short name of a known id, or NULL. */
const char *pgr_msgid_name(const char *id);
/* True when s is 32 lower-case hex digits (the only form journald and the catalog accept). */
bool pgr_msgid_valid(const char *s);
