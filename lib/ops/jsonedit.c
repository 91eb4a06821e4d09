/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1 /* asprintf */
#include "ops/jsonedit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_DEPTH 64

struct member {
        size_t key_start;               /* the key's opening quote */
        size_t value_start, value_end;  /* [start, end) */
};

/* One object, and where the wanted key sits in it. */
struct object {
        size_t open, close;             /* the braces */
        size_t n;
        struct member last;
        bool found;
        struct member hit;
        bool has_prev, has_next;
        size_t prev_value_end, next_key_start;
};

static size_t skip_ws(const char *s, size_t len, size_t i)
{
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                i++;
        return i;
}

static int skip_string(const char *s, size_t len, size_t i, size_t *ret_end)
{
        if (i >= len || s[i] != '"')
                return -EINVAL;
        for (i++; i < len; i++) {
                if (s[i] == '\\')
                        i++;
                else if (s[i] == '"') {
                        *ret_end = i + 1;
                        return 0;
                } else if ((unsigned char)s[i] < 0x20)
                        return -EINVAL;
        }
        return -EINVAL;
}

static int scan_object(const char *s, size_t len, size_t i, unsigned depth, const char *key, struct object *ret);

static int skip_value(const char *s, size_t len, size_t i, unsigned depth, size_t *ret_end)
{
        struct object o;
        size_t start = i;
        int r;

        if (i >= len || depth > MAX_DEPTH)
                return -EINVAL;
        switch (s[i]) {
        case '"':
                return skip_string(s, len, i, ret_end);
        case '{':
                r = scan_object(s, len, i, depth + 1, NULL, &o);
                if (r < 0)
                        return r;
                *ret_end = o.close + 1;
                return 0;
        case '[':
                i = skip_ws(s, len, i + 1);
                if (i < len && s[i] == ']') {
                        *ret_end = i + 1;
                        return 0;
                }
                for (;;) {
                        r = skip_value(s, len, i, depth + 1, &i);
                        if (r < 0)
                                return r;
                        i = skip_ws(s, len, i);
                        if (i < len && s[i] == ']') {
                                *ret_end = i + 1;
                                return 0;
                        }
                        if (i >= len || s[i] != ',')
                                return -EINVAL;
                        i = skip_ws(s, len, i + 1);
                }
        default: /* number, true, false, null: the real parser checks them */
                while (i < len && !strchr(",}] \t\r\n", s[i]))
                        i++;
                if (i == start)
                        return -EINVAL;
                *ret_end = i;
                return 0;
        }
}

static int scan_object(const char *s, size_t len, size_t i, unsigned depth, const char *key, struct object *ret)
{
        struct object o = { .open = i };
        bool want_next = false;
        int r;

        if (i >= len || s[i] != '{' || depth > MAX_DEPTH)
                return -EINVAL;
        i = skip_ws(s, len, i + 1);
        if (i < len && s[i] == '}') {
                o.close = i;
                *ret = o;
                return 0;
        }
        for (;;) {
                struct member m;
                size_t kend;

                m.key_start = i;
                r = skip_string(s, len, i, &kend);
                if (r < 0)
                        return r;
                i = skip_ws(s, len, kend);
                if (i >= len || s[i] != ':')
                        return -EINVAL;
                m.value_start = skip_ws(s, len, i + 1);
                r = skip_value(s, len, m.value_start, depth, &m.value_end);
                if (r < 0)
                        return r;

                if (want_next) {
                        o.has_next = true;
                        o.next_key_start = m.key_start;
                        want_next = false;
                }
                if (key && !o.found && kend - m.key_start - 2 == strlen(key) &&
                    memcmp(s + m.key_start + 1, key, strlen(key)) == 0) {
                        o.found = true;
                        o.hit = m;
                        o.has_prev = o.n > 0;
                        o.prev_value_end = o.last.value_end;
                        want_next = true;
                }
                o.last = m;
                o.n++;

                i = skip_ws(s, len, m.value_end);
                if (i < len && s[i] == '}') {
                        o.close = i;
                        *ret = o;
                        return 0;
                }
                if (i >= len || s[i] != ',')
                        return -EINVAL;
                i = skip_ws(s, len, i + 1);
        }
}

/* The top-level object, checked to end the text. */
static int scan_top(const char *s, size_t len, size_t *ret_open)
{
        struct object o;
        size_t i = skip_ws(s, len, 0);
        int r;

        r = scan_object(s, len, i, 0, NULL, &o);
        if (r < 0)
                return r;
        if (skip_ws(s, len, o.close + 1) != len)
                return -EINVAL;
        *ret_open = i;
        return 0;
}

/* Walks path[0..n-1]; stops at the first missing key (*ret_level) or at the last one. */
static int walk(const char *s, size_t len, const char *const *path, size_t n, struct object *ret,
                size_t *ret_level)
{
        size_t at;
        int r;

        r = scan_top(s, len, &at);
        if (r < 0)
                return r;
        for (size_t level = 0; level < n; level++) {
                r = scan_object(s, len, at, 1, path[level], ret);
                if (r < 0)
                        return r;
                *ret_level = level;
                if (!ret->found || level == n - 1)
                        return 0;
                at = ret->hit.value_start;
                if (s[at] != '{')
                        return -EINVAL;
        }
        return -EINVAL;
}

/* Leading blanks of the line that holds pos. */
static void line_indent(const char *s, size_t len, size_t pos, const char **ret, size_t *ret_len)
{
        size_t start = pos, n = 0;

        while (start > 0 && s[start - 1] != '\n')
                start--;
        while (start + n < len && (s[start + n] == ' ' || s[start + n] == '\t'))
                n++;
        *ret = s + start;
        *ret_len = n;
}

static bool same_line(const char *s, size_t a, size_t b)
{
        return !memchr(s + a, '\n', b - a);
}

static char *quote(const char *v)
{
        size_t n = strlen(v);
        char *out = malloc(n * 6 + 3), *w = out;

        if (!out)
                return NULL;
        *w++ = '"';
        for (const char *p = v; *p; p++) {
                unsigned char c = (unsigned char)*p;

                if (c == '"' || c == '\\') {
                        *w++ = '\\';
                        *w++ = (char)c;
                } else if (c == '\n') {
                        *w++ = '\\';
                        *w++ = 'n';
                } else if (c == '\t') {
                        *w++ = '\\';
                        *w++ = 't';
                } else if (c < 0x20) {
                        w += sprintf(w, "\\u%04x", c);
                } else
                        *w++ = (char)c;
        }
        *w++ = '"';
        *w = '\0';
        return out;
}

/* "k1": {\n<in+unit>"k2": "v"\n<in>} for keys[0..n-1]; on one line when compact. */
static char *member_text(const char *const *keys, size_t n, const char *qvalue, const char *in, size_t in_len,
                         const char *unit, bool compact)
{
        _cleanup_free_ char *inner = NULL, *deeper = NULL;
        char *out;

        if (n == 1)
                return asprintf(&out, "\"%s\": %s", keys[0], qvalue) < 0 ? NULL : out;
        if (asprintf(&deeper, "%.*s%s", (int)in_len, in, unit) < 0) {
                deeper = NULL;
                return NULL;
        }
        inner = member_text(keys + 1, n - 1, qvalue, deeper, strlen(deeper), unit, compact);
        if (!inner)
                return NULL;
        if (compact)
                return asprintf(&out, "\"%s\": {%s}", keys[0], inner) < 0 ? NULL : out;
        return asprintf(&out, "\"%s\": {\n%s%s\n%.*s}", keys[0], deeper, inner, (int)in_len, in) < 0 ? NULL : out;
}

static int splice(const char *s, size_t len, size_t from, size_t to, const char *insert, char **ret)
{
        size_t ins = insert ? strlen(insert) : 0;
        char *out = malloc(len - (to - from) + ins + 1);

        if (!out)
                return -ENOMEM;
        memcpy(out, s, from);
        memcpy(out + from, insert ? insert : "", ins);
        memcpy(out + from + ins, s + to, len - to);
        out[len - (to - from) + ins] = '\0';
        *ret = out;
        return 0;
}

/* Keys are written and compared verbatim: one that would need escaping is refused. */
static bool keys_plain(const char *const *path, size_t n)
{
        for (size_t i = 0; i < n; i++)
                for (const unsigned char *c = (const unsigned char *)path[i]; *c; c++)
                        if (*c < 0x20 || *c == '"' || *c == '\\')
                                return false;
        return true;
}

int json_text_set_string(const char *text, size_t len, const char *const *path, size_t n_path, const char *value,
                         char **ret)
{
        _cleanup_free_ char *qvalue = NULL, *member = NULL, *insert = NULL, *unit_buf = NULL;
        const char *in, *open_in, *unit = "  ";
        size_t in_len, open_in_len, level = 0;
        struct object o;
        bool compact;
        int r;

        if (n_path == 0 || !keys_plain(path, n_path))
                return -EINVAL;
        r = walk(text, len, path, n_path, &o, &level);
        if (r < 0)
                return r;
        qvalue = quote(value);
        if (!qvalue)
                return -ENOMEM;
        if (o.found) /* level == n_path - 1: replace the value */
                return splice(text, len, o.hit.value_start, o.hit.value_end, qvalue, ret);

        line_indent(text, len, o.open, &open_in, &open_in_len);
        if (o.n > 0) {
                compact = same_line(text, o.open, o.last.key_start);
                line_indent(text, len, o.last.key_start, &in, &in_len);
                /* the file's own indentation step, when the member line extends the brace line */
                if (!compact && in_len > open_in_len && memcmp(in, open_in, open_in_len) == 0) {
                        unit_buf = strndup(in + open_in_len, in_len - open_in_len);
                        if (!unit_buf)
                                return -ENOMEM;
                        unit = unit_buf;
                }
        } else {
                compact = false;
                in = NULL;
                in_len = 0;
        }
        if (o.n == 0) {
                _cleanup_free_ char *ind = NULL;

                if (asprintf(&ind, "%.*s%s", (int)open_in_len, open_in, unit) < 0) {
                        ind = NULL;
                        return -ENOMEM;
                }
                member = member_text(path + level, n_path - level, qvalue, ind, strlen(ind), unit, false);
                if (!member || asprintf(&insert, "\n%s%s\n%.*s", ind, member, (int)open_in_len, open_in) < 0) {
                        insert = NULL;
                        return -ENOMEM;
                }
                return splice(text, len, o.open + 1, o.close, insert, ret);
        }
        member = member_text(path + level, n_path - level, qvalue, in, in_len, unit, compact);
        if (!member)
                return -ENOMEM;
        if (compact ? asprintf(&insert, ", %s", member) < 0
                    : asprintf(&insert, ",\n%.*s%s", (int)in_len, in, member) < 0) {
                insert = NULL;
                return -ENOMEM;
        }
        return splice(text, len, o.last.value_end, o.last.value_end, insert, ret);
}

int json_text_remove(const char *text, size_t len, const char *const *path, size_t n_path, char **ret)
{
        struct object o;
        size_t level = 0;
        int r;

        if (n_path == 0 || !keys_plain(path, n_path))
                return -EINVAL;
        r = walk(text, len, path, n_path, &o, &level);
        if (r < 0)
                return r;
        if (!o.found)
                return -ENOENT;
        if (o.has_prev) /* ',\n    "key": value' after the previous member */
                return splice(text, len, o.prev_value_end, o.hit.value_end, NULL, ret);
        if (o.has_next) /* '"key": value,\n    ' before the next one */
                return splice(text, len, o.hit.key_start, o.next_key_start, NULL, ret);
        return splice(text, len, o.open + 1, o.close, NULL, ret); /* the only member: {} */
}
