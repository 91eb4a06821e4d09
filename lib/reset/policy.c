/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The policy file: compiled-in defaults, then "defaults", then "devices" (vendor:device), then "vms"
 * (VMID). Parsed once with json-c in strict mode; a second pass over the text gives every value its
 * line (for messages) and finds duplicate keys, which json-c would otherwise keep silently (last wins). */
#include "reset/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/bdf.h"
#include "pve/vmconf.h"
#include "reset/chain.h"

#define POLICY_MAX_TIMEOUT_MS 600000u
#define POLICY_MAX_SETTLE_MS 60000u
#define POLICY_MAX_DEPTH 64 /* json-c itself stops at 32 */

static const char *const known_methods[] = {
        "device_specific", "flr", "af_flr", "pm", "bus", "slot", "remove-rescan", "power-cycle",
};

static const char *const bus_reset_names[] = {
        [POLICY_BUS_RESET_AUTO] = "auto",
        [POLICY_BUS_RESET_SUBORDINATE] = "reset_subordinate",
        [POLICY_BUS_RESET_BRIDGE] = "bridge",
};

static const char *const on_failure_names[] = {
        [POLICY_ON_FAILURE_ABORT] = "abort",
        [POLICY_ON_FAILURE_CONTINUE] = "continue",
};

enum field_kind { KIND_METHODS, KIND_BUS_RESET, KIND_BOOL, KIND_ON_FAILURE, KIND_MS, KIND_PATH };

struct field {
        const char *name;
        enum field_kind kind;
        size_t offset, size;
        unsigned min, max;
};

#define FIELD(n, k, lo, hi) \
        { #n, k, offsetof(struct policy_settings, n), sizeof(((struct policy_settings *)0)->n), lo, hi }

/* Index i is bit (1u << i) of an override's mask. */
static const struct field fields[] = {
        FIELD(methods, KIND_METHODS, 0, 0),
        FIELD(bus_reset, KIND_BUS_RESET, 0, 0),
        FIELD(keep_awake, KIND_BOOL, 0, 0),
        FIELD(aspm_off, KIND_BOOL, 0, 0),
        FIELD(reset_on_pre_start, KIND_BOOL, 0, 0),
        FIELD(reset_on_post_stop, KIND_BOOL, 0, 0),
        FIELD(on_failure, KIND_ON_FAILURE, 0, 0),
        FIELD(reset_timeout_ms, KIND_MS, 1, POLICY_MAX_TIMEOUT_MS),
        FIELD(rescan_timeout_ms, KIND_MS, 1, POLICY_MAX_TIMEOUT_MS),
        FIELD(bind_timeout_ms, KIND_MS, 1, POLICY_MAX_TIMEOUT_MS),
        FIELD(lock_timeout_ms, KIND_MS, 1, POLICY_MAX_TIMEOUT_MS),
        FIELD(settle_ms, KIND_MS, 0, POLICY_MAX_SETTLE_MS),
        FIELD(hookscript, KIND_PATH, 0, 0),
        FIELD(release_after_stop, KIND_BOOL, 0, 0),
        FIELD(release_keeps_pin, KIND_BOOL, 0, 0),
};

/* The JSON key of a field: "methods" is spelled "reset_methods" in the file. */
static const char *field_key(const struct field *f)
{
        return f->kind == KIND_METHODS ? "reset_methods" : f->name;
}

struct override {
        unsigned set; /* bit i: fields[i] given */
        struct policy_settings s;
};

struct device_override {
        unsigned vendor, device;
        struct override o;
};

struct vm_override {
        unsigned long vmid;
        struct override o;
};

struct policy {
        char *source;                     /* NULL for the compiled-in defaults */
        struct policy_settings defaults;  /* compiled-in, then the file's "defaults" */
        size_t n_devices;
        struct device_override *devices;
        size_t n_vms;
        struct vm_override *vms;
        unsigned long chain_vmid;         /* the VM whose attach state was loaded (policy_load_vm), 0 none */
        const char *chain_hookscript;     /* its chained hookscript */
        /* The strings settings point to (hookscript paths): the policy's, freed with it. */
        size_t n_strings;
        char **strings;
};

struct parser {
        const char *name;
        const char *text;
        size_t len;
        struct policy *policy;
        struct pgr_error *err;
};

static inline void json_putp(struct json_object **o)
{
        json_object_put(*o);
}

static void settings_default(struct policy_settings *s)
{
        memset(s, 0, sizeof(*s));
        for (size_t i = 0; i < ELEMENTSOF(known_methods); i++)
                strcpy(s->methods[s->n_methods++], known_methods[i]);
        s->bus_reset = POLICY_BUS_RESET_AUTO;
        s->keep_awake = true;
        s->aspm_off = true;
        s->reset_on_pre_start = true;
        s->reset_on_post_stop = true;
        s->on_failure = POLICY_ON_FAILURE_ABORT;
        s->reset_timeout_ms = 10000;
        s->rescan_timeout_ms = 10000;
        s->bind_timeout_ms = 5000;
        s->lock_timeout_ms = 60000;
        s->settle_ms = 250;
        s->hookscript = "";
        s->release_after_stop = false;
        s->release_keeps_pin = true;
}

bool policy_method_known(const char *method)
{
        for (size_t i = 0; i < ELEMENTSOF(known_methods); i++)
                if (streq(method, known_methods[i]))
                        return true;
        return false;
}

const char *policy_bus_reset_to_string(enum policy_bus_reset b)
{
        if ((unsigned)b >= ELEMENTSOF(bus_reset_names))
                return NULL;
        return bus_reset_names[b];
}

const char *policy_on_failure_to_string(enum policy_on_failure f)
{
        if ((unsigned)f >= ELEMENTSOF(on_failure_names))
                return NULL;
        return on_failure_names[f];
}

const char *policy_source(const struct policy *p)
{
        return p ? p->source : NULL;
}

/* A copy of str the policy owns (settings point to it), or NULL out of memory. */
static const char *policy_keep(struct policy *p, const char *str)
{
        char **grown, *copy;

        grown = reallocarray(p->strings, p->n_strings + 1, sizeof(*grown));
        if (!grown)
                return NULL;
        p->strings = grown;
        copy = strdup(str);
        if (!copy)
                return NULL;
        p->strings[p->n_strings++] = copy;
        return copy;
}

int policy_new_default(struct policy **ret)
{
        struct policy *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        settings_default(&p->defaults);
        *ret = p;
        return 0;
}

void policy_free(struct policy *p)
{
        if (!p)
                return;
        free(p->devices);
        free(p->vms);
        for (size_t i = 0; i < p->n_strings; i++)
                free(p->strings[i]);
        free(p->strings);
        free(p->source);
        free(p);
}

/* ---- locations ---- */

static void offset_to_linecol(const char *text, size_t len, size_t off, unsigned *ret_line, unsigned *ret_col)
{
        unsigned line = 1, col = 1;

        if (off > len)
                off = len;
        for (size_t i = 0; i < off; i++) {
                if (text[i] == '\n') {
                        line++;
                        col = 1;
                } else
                        col++;
        }
        *ret_line = line;
        *ret_col = col;
}

/* The pass over the text stores each value's offset + 1 as the json-c object's userdata. */
static size_t obj_offset(const struct parser *p, struct json_object *o)
{
        uintptr_t u = o ? (uintptr_t)json_object_get_userdata(o) : 0;

        /* Not annotated (a double still holding its source text): no location. */
        return u && u - 1 < p->len ? (size_t)u - 1 : SIZE_MAX;
}

/* "NAME:LINE: PATH: MESSAGE" (line of obj, else of fallback, else none); always -EINVAL. */
static int fail(const struct parser *p, struct json_object *obj, struct json_object *fallback, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(const struct parser *p, struct json_object *obj, struct json_object *fallback, const char *path,
                const char *fmt, ...)
{
        char msg[384];
        size_t off = obj_offset(p, obj);
        va_list ap;

        if (off == SIZE_MAX)
                off = obj_offset(p, fallback);
        va_start(ap, fmt);
        vsnprintf_ellipsis(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (off != SIZE_MAX) {
                unsigned line, col;

                offset_to_linecol(p->text, p->len, off, &line, &col);
                pgr_error_set(p->err, "%s:%u: %s: %s", p->name, line, path, msg);
        } else
                pgr_error_set(p->err, "%s: %s: %s", p->name, path, msg);
        return -EINVAL;
}

/* parent + "." + key (just key at the top), printable ASCII only; a long key is cut with "...". */
static void path_join(char *buf, size_t size, const char *parent, const char *key)
{
        const unsigned char *k = (const unsigned char *)key;
        size_t n;

        n = (size_t)snprintf(buf, size, "%s%s", parent, *parent ? "." : "");
        if (n + 4 >= size)
                return;
        for (; *k && n + 4 < size; k++)
                buf[n++] = (*k >= 0x20 && *k < 0x7f) ? (char)*k : '?';
        if (*k) {
                memcpy(buf + n, "...", 3);
                n += 3;
        }
        buf[n] = '\0';
}

/* ---- second pass: offsets and duplicate keys ---- */

static size_t skip_ws(const struct parser *p, size_t pos)
{
        while (pos < p->len && (p->text[pos] == ' ' || p->text[pos] == '\t' || p->text[pos] == '\n' ||
                                p->text[pos] == '\r'))
                pos++;
        return pos;
}

/* pos at the opening quote; returns the offset just past the closing one. */
static size_t skip_string(const struct parser *p, size_t pos)
{
        for (pos++; pos < p->len; pos++) {
                if (p->text[pos] == '\\')
                        pos++;
                else if (p->text[pos] == '"')
                        return pos + 1;
        }
        return p->len;
}

static int syntax_error(const struct parser *p, size_t off, const char *what)
{
        unsigned line, col;

        offset_to_linecol(p->text, p->len, off, &line, &col);
        pgr_error_set(p->err, "%s:%u:%u: invalid JSON: %s", p->name, line, col, what);
        return -EINVAL;
}

/* Decodes the string literal [start, end) (quotes included) the way json-c does. */
static int decode_key(const char *start, size_t n, char **ret)
{
        struct json_tokener *tok;
        struct json_object *o;
        char *s = NULL;

        if (!memchr(start, '\\', n)) {
                s = strndup(start + 1, n - 2);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, start, (int)n);
        json_tokener_free(tok);
        if (!json_object_is_type(o, json_type_string)) {
                json_object_put(o);
                return -EINVAL;
        }
        s = strdup(json_object_get_string(o));
        json_object_put(o);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int annotate(const struct parser *p, size_t *pos, struct json_object *obj, const char *path, unsigned depth);

/* i just past '{'. Records each key once; a repeated key (other than "_...") is an error. */
static int annotate_object(const struct parser *p, size_t *pos, size_t i, struct json_object *obj, const char *path,
                           unsigned depth)
{
        _cleanup_(json_putp) struct json_object *seen = json_object_new_object();
        int r;

        if (!seen)
                return -ENOMEM;
        i = skip_ws(p, i);
        if (i < p->len && p->text[i] == '}') {
                *pos = i + 1;
                return 0;
        }
        for (;;) {
                _cleanup_free_ char *key = NULL;
                struct json_object *child = NULL;
                size_t kstart = i;
                char sub[256];

                if (i < p->len && p->text[i] == '\'')
                        return syntax_error(p, i, "strings must be in double quotes");
                if (i >= p->len || p->text[i] != '"')
                        return syntax_error(p, i, "expected a key in double quotes");
                i = skip_string(p, i);
                if (i - kstart < 2 || p->text[i - 1] != '"')
                        return syntax_error(p, kstart, "unterminated key");
                r = decode_key(p->text + kstart, i - kstart, &key);
                if (r == -EINVAL)
                        return syntax_error(p, kstart, "invalid key");
                if (r < 0)
                        return r;
                path_join(sub, sizeof(sub), path, key);
                if (key[0] != '_') { /* "_..." keys are comments and may repeat */
                        if (json_object_object_get_ex(seen, key, NULL)) {
                                unsigned line, col;

                                offset_to_linecol(p->text, p->len, kstart, &line, &col);
                                pgr_error_set(p->err, "%s:%u: %s: duplicate key (JSON would silently keep only "
                                              "the last one)", p->name, line, sub);
                                return -EINVAL;
                        }
                        if (json_object_object_add(seen, key, NULL) < 0)
                                return -ENOMEM;
                }
                i = skip_ws(p, i);
                if (i >= p->len || p->text[i] != ':')
                        return syntax_error(p, i, "expected ':'");
                i++;
                if (obj)
                        json_object_object_get_ex(obj, key, &child);
                r = annotate(p, &i, child, sub, depth + 1);
                if (r < 0)
                        return r;
                i = skip_ws(p, i);
                if (i < p->len && p->text[i] == ',') {
                        i = skip_ws(p, i + 1);
                        continue;
                }
                if (i < p->len && p->text[i] == '}')
                        break;
                return syntax_error(p, i, "expected ',' or '}'");
        }
        *pos = i + 1;
        return 0;
}

/* i just past '['. */
static int annotate_array(const struct parser *p, size_t *pos, size_t i, struct json_object *obj, const char *path,
                          unsigned depth)
{
        int r;

        i = skip_ws(p, i);
        if (i < p->len && p->text[i] == ']') {
                *pos = i + 1;
                return 0;
        }
        for (size_t idx = 0;; idx++) {
                struct json_object *child = NULL;
                char sub[280];

                snprintf(sub, sizeof(sub), "%s[%zu]", path, idx);
                if (json_object_is_type(obj, json_type_array) && idx < json_object_array_length(obj))
                        child = json_object_array_get_idx(obj, idx);
                r = annotate(p, &i, child, sub, depth + 1);
                if (r < 0)
                        return r;
                i = skip_ws(p, i);
                if (i < p->len && p->text[i] == ',') {
                        i++;
                        continue;
                }
                if (i < p->len && p->text[i] == ']')
                        break;
                return syntax_error(p, i, "expected ',' or ']'");
        }
        *pos = i + 1;
        return 0;
}

/* Walks the text and the json-c tree (obj, may be NULL) side by side from *pos: stores each value's
 * offset in its json-c object and checks for duplicate keys. */
static int annotate(const struct parser *p, size_t *pos, struct json_object *obj, const char *path, unsigned depth)
{
        size_t i = skip_ws(p, *pos);

        if (depth > POLICY_MAX_DEPTH)
                return syntax_error(p, i, "nested too deeply");
        if (i >= p->len)
                return syntax_error(p, i, "unexpected end of file");
        /* set_serializer(NULL) rather than set_userdata: a parsed double keeps its source text as
         * userdata for its serializer, which must not get our offset instead. */
        if (obj)
                json_object_set_serializer(obj, NULL, (void *)(uintptr_t)(i + 1), NULL);

        switch (p->text[i]) {
        case '{':
                return annotate_object(p, pos, i + 1, obj, path, depth);
        case '[':
                return annotate_array(p, pos, i + 1, obj, path, depth);
        case '"':
                *pos = skip_string(p, i);
                return 0;
        case '\'':
                /* json-c accepts single quotes even in strict mode; JSON does not. */
                return syntax_error(p, i, "strings must be in double quotes");
        default:
                while (i < p->len && !strchr(" \t\r\n,]}", p->text[i]))
                        i++;
                *pos = i;
                return 0;
        }
}

/* ---- validation ---- */

static const char *type_name(struct json_object *o)
{
        switch (json_object_get_type(o)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "a boolean";
        case json_type_double:
                return "a number with a fraction";
        case json_type_int:
                return "an integer";
        case json_type_object:
                return "an object";
        case json_type_array:
                return "an array";
        case json_type_string:
                return "a string";
        }
        return "something else";
}

/* The string value of o, rejecting embedded NULs. NULL if o is not a string. */
static const char *string_value(struct json_object *o, bool *ret_has_nul)
{
        const char *s;

        if (!json_object_is_type(o, json_type_string))
                return NULL;
        s = json_object_get_string(o);
        *ret_has_nul = strlen(s) != (size_t)json_object_get_string_len(o);
        return s;
}

static int parse_enum(const struct parser *p, struct json_object *v, struct json_object *parent, const char *path,
                      const char *const *names, size_t n_names, int *ret)
{
        char expected[128] = "";
        const char *s;
        bool nul = false;

        for (size_t i = 0; i < n_names; i++) {
                size_t len = strlen(expected);

                snprintf(expected + len, sizeof(expected) - len, "%s\"%s\"",
                         i == 0 ? "" : i + 1 == n_names ? " or " : ", ", names[i]);
        }
        s = string_value(v, &nul);
        if (!s)
                return fail(p, v, parent, path, "expected %s, got %s", expected, type_name(v));
        for (size_t i = 0; i < n_names && !nul; i++)
                if (streq(s, names[i])) {
                        *ret = (int)i;
                        return 0;
                }
        char q[68];

        snprintf_ellipsis(q, sizeof(q), "%s", s); /* a long value quoted short, marked when cut */
        return fail(p, v, parent, path, "expected %s, not \"%s\"", expected, q);
}

static int parse_methods(const struct parser *p, struct json_object *v, struct json_object *parent,
                         const char *path, struct policy_settings *s)
{
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return fail(p, v, parent, path, "expected an array of reset methods, got %s", type_name(v));
        n = json_object_array_length(v);
        if (n == 0)
                return fail(p, v, parent, path, "must list at least one reset method");
        if (n > POLICY_MAX_METHODS)
                return fail(p, v, parent, path, "lists %zu reset methods, at most %d are allowed", n,
                            POLICY_MAX_METHODS);
        s->n_methods = 0;
        for (size_t i = 0; i < n; i++) {
                struct json_object *e = json_object_array_get_idx(v, i);
                char sub[280];
                const char *m;
                bool nul = false;

                snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                m = string_value(e, &nul);
                if (!m)
                        return fail(p, e, v, sub, "expected a reset method name, got %s", type_name(e));
                if (nul || !policy_method_known(m)) {
                        char q[36];

                        snprintf_ellipsis(q, sizeof(q), "%s", m);
                        return fail(p, e, v, sub,
                                    "unknown reset method \"%s\" (known: device_specific, flr, af_flr, pm, bus, "
                                    "slot, remove-rescan, power-cycle)", q);
                }
                for (size_t j = 0; j < s->n_methods; j++)
                        if (streq(s->methods[j], m))
                                return fail(p, e, v, sub, "\"%s\" is listed twice", m);
                strcpy(s->methods[s->n_methods++], m);
        }
        return 0;
}

static int parse_field(const struct parser *p, const struct field *f, struct json_object *v,
                       struct json_object *parent, const char *path, struct policy_settings *s)
{
        void *dst = (char *)s + f->offset;
        const char *str;
        bool nul = false;
        int r, e;

        switch (f->kind) {
        case KIND_METHODS:
                return parse_methods(p, v, parent, path, s);
        case KIND_BUS_RESET:
                r = parse_enum(p, v, parent, path, bus_reset_names, ELEMENTSOF(bus_reset_names), &e);
                if (r < 0)
                        return r;
                *(enum policy_bus_reset *)dst = (enum policy_bus_reset)e;
                return 0;
        case KIND_ON_FAILURE:
                r = parse_enum(p, v, parent, path, on_failure_names, ELEMENTSOF(on_failure_names), &e);
                if (r < 0)
                        return r;
                *(enum policy_on_failure *)dst = (enum policy_on_failure)e;
                return 0;
        case KIND_BOOL:
                if (!json_object_is_type(v, json_type_boolean))
                        return fail(p, v, parent, path, "expected true or false, got %s", type_name(v));
                *(bool *)dst = json_object_get_boolean(v);
                return 0;
        case KIND_MS: {
                int64_t ms;

                if (!json_object_is_type(v, json_type_int))
                        return fail(p, v, parent, path, "expected an integer (milliseconds, %u..%u), got %s",
                                    f->min, f->max, type_name(v));
                ms = json_object_get_int64(v); /* saturates at INT64_MAX/MIN */
                if (ms < (int64_t)f->min || ms > (int64_t)f->max)
                        return fail(p, v, parent, path, "must be between %u and %u (milliseconds), got %" PRId64,
                                    f->min, f->max, ms);
                *(unsigned *)dst = (unsigned)ms;
                return 0;
        }
        case KIND_PATH:
                str = string_value(v, &nul);
                if (!str)
                        return fail(p, v, parent, path, "expected a string (an absolute path, or \"\"), got %s",
                                    type_name(v));
                if (nul)
                        return fail(p, v, parent, path, "must not contain a NUL character");
                if (*str && str[0] != '/') {
                        char q[68];

                        snprintf_ellipsis(q, sizeof(q), "%s", str);
                        return fail(p, v, parent, path,
                                    "must be an absolute path to an executable, or \"\" for none, not \"%s\"", q);
                }
                if (strlen(str) >= PATH_MAX)
                        return fail(p, v, parent, path, "path is too long (at most %d bytes)", PATH_MAX - 1);
                for (const char *c = str; *c; c++)
                        if ((unsigned char)*c < 0x20 || *c == 0x7f)
                                return fail(p, v, parent, path, "must not contain control characters");
                str = policy_keep(p->policy, str);
                if (!str)
                        return -ENOMEM;
                *(const char **)dst = str;
                return 0;
        }
        return -EINVAL;
}

/* One settings object ("defaults", "devices.X", "vms.N"): only the keys given change s. */
static int parse_settings(const struct parser *p, struct json_object *o, struct json_object *parent,
                          const char *path, struct policy_settings *s, unsigned *ret_set)
{
        unsigned set = 0;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return fail(p, o, parent, path, "expected an object of settings, got %s", type_name(o));
        json_object_object_foreach(o, key, v) {
                const struct field *f = NULL;
                char sub[256];
                size_t i;

                if (key[0] == '_')
                        continue;
                path_join(sub, sizeof(sub), path, key);
                for (i = 0; i < ELEMENTSOF(fields); i++)
                        if (streq(key, field_key(&fields[i]))) {
                                f = &fields[i];
                                break;
                        }
                if (!f)
                        return fail(p, v, o, sub, "unknown key");
                r = parse_field(p, f, v, o, sub, s);
                if (r < 0)
                        return r;
                set |= 1u << i;
        }
        if (ret_set)
                *ret_set = set;
        return 0;
}

static int parse_devices(const struct parser *p, struct json_object *o, struct json_object *parent)
{
        struct policy *pol = p->policy;
        size_t n;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return fail(p, o, parent, "devices", "expected an object keyed by vendor:device, got %s",
                            type_name(o));
        n = (size_t)json_object_object_length(o);
        pol->devices = calloc(n ? n : 1, sizeof(*pol->devices));
        if (!pol->devices)
                return -ENOMEM;
        json_object_object_foreach(o, key, v) {
                struct device_override *d = &pol->devices[pol->n_devices];
                char sub[256];

                if (key[0] == '_')
                        continue;
                path_join(sub, sizeof(sub), "devices", key);
                if (pci_id_parse(key, &d->vendor, &d->device) < 0)
                        return fail(p, v, o, sub,
                                    "expected a PCI ID \"vendor:device\" in lower-case hex, like \"10de:2b85\"");
                r = parse_settings(p, v, o, sub, &d->o.s, &d->o.set);
                if (r < 0)
                        return r;
                pol->n_devices++;
        }
        return 0;
}

static int parse_vms(const struct parser *p, struct json_object *o, struct json_object *parent)
{
        struct policy *pol = p->policy;
        size_t n;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return fail(p, o, parent, "vms", "expected an object keyed by VMID, got %s", type_name(o));
        n = (size_t)json_object_object_length(o);
        pol->vms = calloc(n ? n : 1, sizeof(*pol->vms));
        if (!pol->vms)
                return -ENOMEM;
        json_object_object_foreach(o, key, v) {
                struct vm_override *m = &pol->vms[pol->n_vms];
                char sub[256];

                if (key[0] == '_')
                        continue;
                path_join(sub, sizeof(sub), "vms", key);
                if (vmid_parse(key, &m->vmid) < 0)
                        return fail(p, v, o, sub, "expected a VMID, digits only, %lu..%lu", VMID_MIN,
                                    VMID_MAX);
                r = parse_settings(p, v, o, sub, &m->o.s, &m->o.set);
                if (r < 0)
                        return r;
                pol->n_vms++;
        }
        return 0;
}

static int parse_top(const struct parser *p, struct json_object *root)
{
        int r;

        if (!json_object_is_type(root, json_type_object))
                return fail(p, root, NULL, "(top level)", "expected an object {\"defaults\": ..., \"devices\": ..., "
                            "\"vms\": ...}, got %s", type_name(root));
        json_object_object_foreach(root, key, v) {
                char sub[256];

                if (key[0] == '_')
                        continue;
                if (streq(key, "defaults"))
                        r = parse_settings(p, v, root, "defaults", &p->policy->defaults, NULL);
                else if (streq(key, "devices"))
                        r = parse_devices(p, v, root);
                else if (streq(key, "vms"))
                        r = parse_vms(p, v, root);
                else {
                        path_join(sub, sizeof(sub), "", key);
                        r = fail(p, v, root, sub, "unknown key (expected \"defaults\", \"devices\" or \"vms\")");
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int policy_parse(const char *json, size_t len, const char *name, struct policy **ret, struct pgr_error *err)
{
        _cleanup_(policy_freep) struct policy *pol = NULL;
        _cleanup_(json_putp) struct json_object *root = NULL;
        struct json_tokener *tok;
        struct parser p = {
                .name = name ? name : "(policy)",
                .text = json,
                .len = len,
                .err = err,
        };
        enum json_tokener_error jerr;
        size_t end, pos = 0;
        const char *nul;
        int r;

        if (len > POLICY_MAX_SIZE) {
                pgr_error_set(err, "%s: larger than %d bytes", p.name, POLICY_MAX_SIZE);
                return -EFBIG;
        }
        nul = memchr(json, '\0', len);
        if (nul)
                return syntax_error(&p, (size_t)(nul - json), "contains a NUL byte");
        if (skip_ws(&p, 0) == len) {
                pgr_error_set(err, "%s: empty file; expected a JSON object (\"{}\" means the built-in defaults)",
                              p.name);
                return -EINVAL;
        }
        if (len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0)
                return syntax_error(&p, 0, "starts with a UTF-8 byte order mark; save the file without it");

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        /* Trailing characters are checked below, to name them rather than "unexpected character". */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        root = json_tokener_parse_ex(tok, json, (int)len);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        if (jerr == json_tokener_continue) {
                /* A number at the very end ("42") waits for more digits: the terminating NUL json-c's
                 * documentation asks for ends it. Anything else is still incomplete. */
                root = json_tokener_parse_ex(tok, "", 1);
                jerr = json_tokener_get_error(tok);
                if (jerr != json_tokener_success)
                        jerr = json_tokener_continue;
                end = len;
        }
        json_tokener_free(tok);
        if (jerr == json_tokener_continue)
                return syntax_error(&p, len, "unexpected end of file (truncated?)");
        if (jerr != json_tokener_success)
                return syntax_error(&p, end, json_tokener_error_desc(jerr));
        if (!root) /* "null" */
                return syntax_error(&p, skip_ws(&p, 0), "expected an object, got null");
        if (skip_ws(&p, end) < len)
                return syntax_error(&p, skip_ws(&p, end), "unexpected data after the top-level object");

        pol = calloc(1, sizeof(*pol));
        if (!pol)
                return -ENOMEM;
        settings_default(&pol->defaults);
        p.policy = pol;

        r = annotate(&p, &pos, root, "", 0);
        if (r < 0)
                return r;
        r = parse_top(&p, root);
        if (r < 0)
                return r;
        *ret = pol;
        pol = NULL;
        return 0;
}

/* ---- loading ---- */

int policy_config_path(const struct pgr_ctx *ctx, const char *config, char *buf, size_t size,
                       struct pgr_error *err)
{
        int r;

        /* The default location lives under the root prefix, whether named or not: it is the file the
         * hook reads when Proxmox runs it. Any other --config path is the caller's, used as given. */
        if (!config || streq(config, POLICY_DEFAULT_PATH)) {
                r = pgr_path(ctx, buf, size, POLICY_DEFAULT_PATH);
                if (r < 0)
                        pgr_error_set(err, "%s%s: path too long", ctx->root, POLICY_DEFAULT_PATH);
                return r;
        }
        if (!*config || strlen(config) >= size) {
                pgr_error_set(err, "--config: invalid path \"%.64s\"", config);
                return -EINVAL;
        }
        strcpy(buf, config);
        return 0;
}

int policy_load(const struct pgr_ctx *ctx, const char *path, struct policy **ret, struct pgr_error *err)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_(policy_freep) struct policy *pol = NULL;
        char fn[PATH_MAX];
        size_t len = 0;
        int r;

        r = policy_config_path(ctx, path, fn, sizeof(fn), err);
        if (r < 0)
                return r;
        r = read_trusted_file(fn, POLICY_MAX_SIZE, &text, &len, err);
        if (r == -ENOENT && !path)
                return policy_new_default(ret);
        if (r < 0)
                return r;
        r = policy_parse(text, len, fn, &pol, err);
        if (r < 0)
                return r;
        pol->source = strdup(fn);
        if (!pol->source)
                return -ENOMEM; /* the policy parsed goes with it (pol) */
        *ret = pol;
        pol = NULL;
        return 0;
}

int policy_load_vm(const struct pgr_ctx *ctx, const char *path, unsigned long vmid, struct policy **ret,
                   struct pgr_error *err)
{
        _cleanup_(policy_freep) struct policy *pol = NULL;
        struct chain c;
        int r;

        r = policy_load(ctx, path, &pol, err);
        if (r < 0)
                return r;
        r = vmid ? chain_load(ctx, vmid, &c, err) : -ENOENT;
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0) {
                pol->chain_vmid = vmid;
                pol->chain_hookscript = policy_keep(pol, c.hookscript);
                if (!pol->chain_hookscript)
                        return -ENOMEM;
        }
        *ret = pol;
        pol = NULL;
        return 0;
}

/* ---- resolving ---- */

static void overlay(struct policy_settings *dst, const struct override *o)
{
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const struct field *f = &fields[i];

                if (!(o->set & (1u << i)))
                        continue;
                memcpy((char *)dst + f->offset, (const char *)&o->s + f->offset, f->size);
                if (f->kind == KIND_METHODS)
                        dst->n_methods = o->s.n_methods;
        }
}

void policy_resolve(const struct policy *p, unsigned long vmid, unsigned vendor, unsigned device,
                    struct policy_settings *ret)
{
        if (!p) {
                settings_default(ret);
                return;
        }
        *ret = p->defaults;
        for (size_t i = 0; i < p->n_devices; i++)
                if (p->devices[i].vendor == vendor && p->devices[i].device == device) {
                        overlay(ret, &p->devices[i].o);
                        break;
                }
        if (vmid == 0)
                return;
        for (size_t i = 0; i < p->n_vms; i++)
                if (p->vms[i].vmid == vmid) {
                        overlay(ret, &p->vms[i].o);
                        break;
                }
        /* What attach recorded replaces a vms.<vmid>.hookscript of the file (where 0.1 recorded it). */
        if (p->chain_vmid == vmid)
                ret->hookscript = p->chain_hookscript;
}

/* The override-mask bit of the field at offset. */
static unsigned field_bit(size_t offset)
{
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (fields[i].offset == offset)
                        return 1u << i;
        return 0;
}

const char *policy_vm_hookscript(const struct policy *p, unsigned long vmid)
{
        for (size_t i = 0; p && i < p->n_vms; i++)
                if (p->vms[i].vmid == vmid)
                        return p->vms[i].o.set & field_bit(offsetof(struct policy_settings, hookscript)) &&
                                               p->vms[i].o.s.hookscript[0]
                                       ? p->vms[i].o.s.hookscript
                                       : NULL;
        return NULL;
}

bool policy_chain_from_state(const struct policy *p, unsigned long vmid)
{
        return p && vmid && p->chain_vmid == vmid;
}

bool policy_method_allowed(const struct policy_settings *s, const char *method)
{
        for (size_t i = 0; i < s->n_methods && i < POLICY_MAX_METHODS; i++)
                if (streq(s->methods[i], method))
                        return true;
        return false;
}
