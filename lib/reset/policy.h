/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/context.h"
#include "base/util.h"

#define POLICY_DEFAULT_PATH "/etc/pve-gpu-reset.json"
#define POLICY_MAX_SIZE (256 * 1024)
#define POLICY_MAX_METHODS 8

/* Rungs of the reset ladder a policy may allow, in the order it wants them tried:
 * kernel methods "device_specific" "flr" "af_flr" "pm" "bus", then "slot" (reset through the parent
 * bridge), "remove-rescan" and "power-cycle" (the slot's hotplug power off and on). */
enum policy_on_failure { POLICY_ON_FAILURE_ABORT, POLICY_ON_FAILURE_CONTINUE };
enum policy_bus_reset { POLICY_BUS_RESET_AUTO, POLICY_BUS_RESET_SUBORDINATE, POLICY_BUS_RESET_BRIDGE };

/* The effective settings for one device of one VM. */
struct policy_settings {
        size_t n_methods;
        char methods[POLICY_MAX_METHODS][16];
        enum policy_bus_reset bus_reset;        /* how "slot" is done */
        bool keep_awake;                        /* d3cold_allowed=0, power/control=on */
        bool aspm_off;
        bool reset_on_pre_start;                /* false: pre-start only prepares */
        bool reset_on_post_stop;
        enum policy_on_failure on_failure;      /* pre-start: abort (exit 1) or continue */
        unsigned reset_timeout_ms;              /* device back after a reset */
        unsigned rescan_timeout_ms;             /* device back after a rescan */
        unsigned bind_timeout_ms;               /* driver link after drivers_probe */
        unsigned lock_timeout_ms;
        unsigned settle_ms;                     /* between remove and rescan, and after a bus reset */
        /* Chained hookscript, "" for none: a string of the policy's (valid while it lives), not a copy,
         * so that the settings every plan device carries stay small. */
        const char *hookscript;
        bool release_after_stop;                /* post-stop: hand the function back to its host driver */
        bool release_keeps_pin;                 /* ...with our reset_method pin (false: the kernel's list) */
};

struct policy; /* opaque */

/* The policy file (conf/pve-gpu-reset.json documents every key):
 *   {"defaults": {SETTINGS}, "devices": {"vvvv:dddd": {SETTINGS}}, "vms": {"VMID": {SETTINGS}}}
 * SETTINGS keys: reset_methods (array of the rungs above, 1..POLICY_MAX_METHODS, no repeats), bus_reset
 * ("auto": reset_subordinate if the bridge has it, else Bridge Control; "reset_subordinate"; "bridge"),
 * keep_awake, aspm_off, reset_on_pre_start, reset_on_post_stop (booleans), on_failure ("abort" |
 * "continue"), reset_timeout_ms, rescan_timeout_ms, bind_timeout_ms, lock_timeout_ms (1..600000),
 * settle_ms (0..60000), hookscript (absolute path or ""), release_after_stop, release_keeps_pin (booleans). Device keys are lower-case hex "10de:2b85";
 * VMID keys are digits, 100..999999999, no leading zero. Keys starting with '_' are comments, ignored
 * at every level (they may repeat); every other key is checked. Duplicate keys are an error (json-c
 * would keep the last one silently). Strict JSON: no comments, no single quotes, nothing after the
 * top-level object. Messages: "FILE:LINE: key.path: what is wrong", "FILE:LINE:COL: invalid JSON: ...". */

/* Compiled-in defaults only. */
int policy_new_default(struct policy **ret);
/* Parses JSON text; name is for messages. Unknown keys and wrong types: -EINVAL, err names the key
 * path ("vms.100.on_failure: expected \"abort\" or \"continue\""). */
int policy_parse(const char *json, size_t len, const char *name, struct policy **ret, struct pgr_error *err);
/* The one place a policy path is resolved (policy_load, attach/detach through it): config NULL or the
 * literal POLICY_DEFAULT_PATH is POLICY_DEFAULT_PATH under the root prefix (the file the hook reads);
 * any other --config path is used as given, not under the root prefix. -EINVAL for "" or too long. */
int policy_config_path(const struct pgr_ctx *ctx, const char *config, char *buf, size_t size,
                       struct pgr_error *err);
/* path NULL: POLICY_DEFAULT_PATH under the root prefix, which may be absent (defaults, return 0).
 * A path given explicitly (--config) must exist (-ENOENT); where it is looked for: policy_config_path.
 * The file is opened once and checked with fstat on that fd: -EPERM if not owned by uid 0 or
 * group/world-writable (err says what to run), -EINVAL if not a regular file, -EFBIG past
 * POLICY_MAX_SIZE (read_trusted_file). It is read once: the returned policy never changes if the file
 * is replaced later. */
int policy_load(const struct pgr_ctx *ctx, const char *path, struct policy **ret, struct pgr_error *err);
/* policy_load, then VM vmid's attach state (chain.h, /etc/pve-gpu-reset.d/vm-<vmid>.json): its
 * hookscript replaces the file's vms.<vmid>.hookscript in policy_resolve for that VM. No state file:
 * the file's key stands (0.1's attach recorded chains there). A state file that cannot be used fails
 * like the policy file (-EINVAL, -EPERM; err names it). vmid 0: policy_load. */
int policy_load_vm(const struct pgr_ctx *ctx, const char *path, unsigned long vmid, struct policy **ret,
                   struct pgr_error *err);
void policy_free(struct policy *p);
static inline void policy_freep(struct policy **p) { policy_free(*p); }

/* defaults, then the "devices" entry for vendor:device, then the "vms" entry for vmid (vmid 0: none);
 * each entry replaces only the keys it gives. p NULL: the compiled-in defaults. */
void policy_resolve(const struct policy *p, unsigned long vmid, unsigned vendor, unsigned device,
                    struct policy_settings *ret);
bool policy_method_allowed(const struct policy_settings *s, const char *method);

/* True for a name of the ladder ("flr", "slot", "remove-rescan"...). */
bool policy_method_known(const char *method);
const char *policy_bus_reset_to_string(enum policy_bus_reset b);     /* "auto" "reset_subordinate" "bridge" */
const char *policy_on_failure_to_string(enum policy_on_failure f);   /* "abort" "continue" */
/* The policy file's own vms.<vmid>.hookscript (not the attach state), NULL when it has none. */
const char *policy_vm_hookscript(const struct policy *p, unsigned long vmid);
/* vmid's chained hookscript comes from its attach state file (policy_load_vm found one). */
bool policy_chain_from_state(const struct policy *p, unsigned long vmid);
/* The file the policy came from (root prefix included), NULL for the compiled-in defaults. */
const char *policy_source(const struct policy *p);
