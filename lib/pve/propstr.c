/* SPDX-License-Identifier: GPL-2.0-or-later */
/* PVE::JSONSchema::parse_property_string for flat formats; see propstr.h for the rules. */
#include "pve/propstr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

bool propstr_boolean(const char *s, size_t n, int *ret)
{
        static const char *const yes[] = { "1", "on", "yes", "true" };
        static const char *const no[] = { "0", "off", "no", "false" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (n == strlen(yes[i]) && strncasecmp(s, yes[i], n) == 0) {
                        *ret = 1;
                        return true;
                }
                if (n == strlen(no[i]) && strncasecmp(s, no[i], n) == 0) {
                        *ret = 0;
                        return true;
                }
        }
        return false;
}

/* Perl's \s on a byte string: space, \t, \n, \v, \f, \r (isspace in the C locale). */
static bool all_space(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!isspace((unsigned char)s[i]))
                        return false;
        return true;
}

static ssize_t key_find(const struct propstr_key *keys, size_t n_keys, const char *k, size_t kn)
{
        for (size_t i = 0; i < n_keys; i++)
                if (strlen(keys[i].name) == kn && memcmp(keys[i].name, k, kn) == 0)
                        return (ssize_t)i;
        return -1;
}

/* Perl truth of a stored value: "0" (or a boolean parsed to 0) is false; values are never empty. */
static bool value_true(const struct propstr_key *key, const struct propstr_value *v)
{
        if (key->type == PROPSTR_BOOLEAN && propstr_boolean(v->s, v->n, &(int){ 0 }))
                return v->boolean != 0;
        return !(v->n == 1 && v->s[0] == '0');
}

int propstr_parse(const char *text, size_t n, const struct propstr_key *keys, size_t n_keys,
                  struct propstr_value *values, char *why, size_t why_size)
{
        char q[TEXT_QUOTE_MAX], qv[TEXT_QUOTE_MAX];
        ssize_t default_idx = -1;
        bool default_seen = false;
        size_t start = 0;

        for (size_t i = 0; i < n_keys; i++) {
                values[i] = (struct propstr_value){};
                if (keys[i].default_key && default_idx < 0)
                        default_idx = (ssize_t)i;
        }

        for (size_t i = 0; i <= n; i++) {
                const char *part = text + start, *eq;
                size_t pn = i - start;
                ssize_t ki;

                if (i < n && text[i] != ',')
                        continue;
                start = i + 1;
                if (all_space(part, pn))
                        continue;
                eq = memchr(part, '=', pn);
                if (!eq) { /* the default key */
                        if (default_seen || default_idx < 0) {
                                if (default_idx < 0)
                                        snprintf(why, why_size,
                                                 "value without key, but schema does not define a default key");
                                else
                                        snprintf(why, why_size, "duplicate key in comma-separated list property: %s",
                                                 keys[default_idx].name);
                                return -EINVAL;
                        }
                        default_seen = true;
                        ki = default_idx;
                        if (values[ki].set && value_true(&keys[ki], &values[ki])) {
                                snprintf(why, why_size, "duplicate key in comma-separated list property: %s",
                                         keys[ki].name);
                                return -EINVAL;
                        }
                        values[ki] = (struct propstr_value){ .set = true, .s = part, .n = pn };
                } else {
                        size_t kn = (size_t)(eq - part);

                        if (kn == 0 || kn + 1 == pn) {
                                snprintf(why, why_size, "missing key in comma-separated list property");
                                return -EINVAL;
                        }
                        text_quote(part, kn, q, sizeof(q));
                        ki = key_find(keys, n_keys, part, kn);
                        if (ki < 0) {
                                snprintf(why, why_size, "invalid key in comma-separated list property: %s", q);
                                return -EINVAL;
                        }
                        if (values[ki].set) {
                                snprintf(why, why_size, "duplicate key in comma-separated list property: %s", q);
                                return -EINVAL;
                        }
                        values[ki] = (struct propstr_value){ .set = true, .s = eq + 1, .n = pn - kn - 1 };
                }
                if (keys[ki].type == PROPSTR_BOOLEAN)
                        (void)propstr_boolean(values[ki].s, values[ki].n, &values[ki].boolean);
        }

        /* check_object: the type of every key that is set. */
        for (size_t i = 0; i < n_keys; i++) {
                int b;

                if (!values[i].set || keys[i].type != PROPSTR_BOOLEAN)
                        continue;
                if (!propstr_boolean(values[i].s, values[i].n, &b)) {
                        snprintf(why, why_size, "%s: type check ('boolean') failed - got '%s'", keys[i].name,
                                 text_quote(values[i].s, values[i].n, qv, sizeof(qv)));
                        return -EINVAL;
                }
                values[i].boolean = b;
        }
        return 0;
}
