/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* Smallest-change edits of JSON text, for files people read and dpkg compares (the policy is a
 * conffile): everything outside the edited member - layout, blank lines, key order - is kept byte
 * for byte. The text must be strict JSON whose top level is an object; path names nested object
 * members from the top ({"vms", "100", "hookscript"}). Results are malloc'ed and NUL-terminated.
 * Callers should check the result with a real parser: keys are compared byte for byte, so a key
 * written with escapes ("vm\u0073") is not found. */

/* Sets the member at path to the string value, replacing the old value or adding the member and
 * any missing objects on the way (indented like their neighbours). -EINVAL: malformed text, or a
 * value on the way that is not an object. */
int json_text_set_string(const char *text, size_t len, const char *const *path, size_t n_path, const char *value,
                         char **ret);
/* Removes the member at path with its comma. -ENOENT when it is not there (*ret untouched). */
int json_text_remove(const char *text, size_t len, const char *const *path, size_t n_path, char **ret);
