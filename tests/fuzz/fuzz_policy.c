/* SPDX-License-Identifier: GPL-2.0-or-later */
/* policy_parse: /etc/pve-gpu-reset.json as exact-size bytes. An accepted policy resolves, for the
 * defaults and for every "devices"/"vms" entry, to settings inside the documented ranges. */
#include "fuzz.h"

#include <errno.h>
#include <limits.h>
#include <json-c/json.h>

#include "reset/policy.h"

static void check_settings(const struct policy_settings *s)
{
        FUZZ_CHECK(s->n_methods >= 1 && s->n_methods <= POLICY_MAX_METHODS);
        for (size_t i = 0; i < s->n_methods; i++) {
                FUZZ_CHECK(memchr(s->methods[i], '\0', sizeof(s->methods[i])));
                FUZZ_CHECK(policy_method_known(s->methods[i]));
                FUZZ_CHECK(policy_method_allowed(s, s->methods[i]));
                for (size_t j = 0; j < i; j++)
                        FUZZ_CHECK(!streq(s->methods[i], s->methods[j]));
        }
        FUZZ_CHECK(policy_bus_reset_to_string(s->bus_reset));
        FUZZ_CHECK(policy_on_failure_to_string(s->on_failure));
        FUZZ_CHECK(s->reset_timeout_ms >= 1 && s->reset_timeout_ms <= 600000);
        FUZZ_CHECK(s->rescan_timeout_ms >= 1 && s->rescan_timeout_ms <= 600000);
        FUZZ_CHECK(s->bind_timeout_ms >= 1 && s->bind_timeout_ms <= 600000);
        FUZZ_CHECK(s->lock_timeout_ms >= 1 && s->lock_timeout_ms <= 600000);
        FUZZ_CHECK(s->settle_ms <= 60000);
        /* a string of the policy's (policy_settings.hookscript points into it), shorter than PATH_MAX */
        FUZZ_CHECK(s->hookscript && strnlen(s->hookscript, PATH_MAX) < PATH_MAX);
        FUZZ_CHECK(s->hookscript[0] == '\0' || s->hookscript[0] == '/');
}

/* The keys of "devices" and "vms", read with json-c, to resolve each of them. */
static void resolve_all(const struct policy *p, const uint8_t *data, size_t size)
{
        struct policy_settings s;
        struct json_tokener *tok;
        struct json_object *root, *o;

        policy_resolve(p, 0, 0, 0, &s);
        check_settings(&s);
        policy_resolve(p, 100, 0x10de, 0x2b85, &s);
        check_settings(&s);

        tok = json_tokener_new_ex(128);
        if (!tok)
                return;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        root = json_tokener_parse_ex(tok, (const char *)data, (int)size);
        json_tokener_free(tok);
        if (!root)
                return;
        if (json_object_object_get_ex(root, "devices", &o) && json_object_is_type(o, json_type_object)) {
                json_object_object_foreach(o, key, val) {
                        unsigned v, d;

                        (void)val;
                        if (sscanf(key, "%4x:%4x", &v, &d) != 2)
                                continue;
                        policy_resolve(p, 0, v, d, &s);
                        check_settings(&s);
                }
        }
        if (json_object_object_get_ex(root, "vms", &o) && json_object_is_type(o, json_type_object)) {
                json_object_object_foreach(o, key, val) {
                        (void)val;
                        policy_resolve(p, strtoul(key, NULL, 10), 0x10de, 0x2204, &s);
                        check_settings(&s);
                }
        }
        json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct policy *p = NULL;
        struct pgr_error err = {};
        int r;

        if (size > INT32_MAX)
                return 0;
        r = policy_parse((const char *)data, size, "fuzz.json", &p, &err);
        FUZZ_CHECK_ERRMSG(&err);
        if (r < 0) {
                FUZZ_CHECK(p == NULL);
                FUZZ_CHECK(r == -EINVAL || r == -EFBIG || r == -ENOMEM);
                if (r == -EINVAL)
                        FUZZ_CHECK(strncmp(err.msg, "fuzz.json", 9) == 0);
                return 0;
        }
        FUZZ_CHECK(p);
        resolve_all(p, data, size);
        policy_free(p);
        return 0;
}
