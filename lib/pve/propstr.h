/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Proxmox property strings ("01:00.0,pcie=1,x-vga=on") parsed exactly like pve-common's
 * PVE::JSONSchema::parse_property_string followed by its check_object type check, for flat formats
 * (no aliases, no nested formats). Shared by vmconf.c (hostpciN) and, later, mapping.c.
 *
 * What Proxmox does, and so what this does (pve-common src/PVE/JSONSchema.pm):
 * - the text is split at every ',' (split /,/); a part that is empty or all whitespace is skipped;
 * - a part "KEY=VALUE" (/^([^=]+)=(.+)$/: KEY is up to the first '=', VALUE is non-empty and may
 *   contain '=') sets KEY; nothing is trimmed (" pcie=1" has the key " pcie");
 * - a part without '=' is the value of the default key; a second such part, or one after an
 *   explicit KEY=VALUE of the default key whose value is true in Perl's sense, is a duplicate;
 * - a part with '=' that is not KEY=VALUE ("=x", "k=") is "missing key";
 * - a key given twice is a duplicate, a key the format does not have is invalid;
 * - a boolean key takes parse_boolean's spellings (1|on|yes|true|0|off|no|false, any case), any
 *   other value fails check_object's type check.
 * Patterns, enums and formats of string keys are the caller's to check (they differ per key). */

enum propstr_type {
        PROPSTR_STRING = 0,
        PROPSTR_BOOLEAN,
};

struct propstr_key {
        const char *name;
        enum propstr_type type;
        bool default_key; /* at most one key of a format */
};

/* The value of one key: a slice of the parsed text (not NUL-terminated). */
struct propstr_value {
        bool set;
        const char *s;
        size_t n;
        int boolean; /* PROPSTR_BOOLEAN: 0 or 1 once parsed */
};

/* Parses text (n bytes, never read past n) against keys[0..n_keys); values[i] belongs to keys[i]
 * and is cleared first. 0, or -EINVAL with Proxmox's reason in why (the key or value quoted,
 * control bytes shown as '?'). values may hold partial results on error. */
int propstr_parse(const char *text, size_t n, const struct propstr_key *keys, size_t n_keys,
                  struct propstr_value *values, char *why, size_t why_size);

/* pve-common parse_boolean: 1|on|yes|true → 1, 0|off|no|false → 0 (any case); false otherwise. */
bool propstr_boolean(const char *s, size_t n, int *ret);
