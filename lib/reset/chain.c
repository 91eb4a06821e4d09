/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per-VM attach state under /etc/pve-gpu-reset.d (see chain.h). */
#define _GNU_SOURCE 1 /* asprintf */
#include "reset/chain.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pve/storagecfg.h"

static inline void json_putp(struct json_object **o)
{
        json_object_put(*o);
}

const char *chain_path(unsigned long vmid, char buf[static CHAIN_SHOWN_MAX])
{
        snprintf(buf, CHAIN_SHOWN_MAX, "%s/vm-%lu.json", CHAIN_DIR, vmid);
        return buf;
}

/* A string member into dst; -EINVAL (err names it) when it is not a string or does not fit. */
static int get_string(struct json_object *root, const char *name, const char *key, char *dst, size_t size,
                      struct pgr_error *err)
{
        struct json_object *v;
        const char *s;

        if (!json_object_object_get_ex(root, key, &v)) {
                pgr_error_set(err, "%s: %s: missing", name, key);
                return -EINVAL;
        }
        if (!json_object_is_type(v, json_type_string)) {
                pgr_error_set(err, "%s: %s: expected a string", name, key);
                return -EINVAL;
        }
        s = json_object_get_string(v);
        if ((size_t)json_object_get_string_len(v) != strlen(s) || strlen(s) >= size) {
                pgr_error_set(err, "%s: %s: %s", name, key, strlen(s) >= size ? "too long" : "contains a NUL");
                return -EINVAL;
        }
        for (const char *c = s; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                        pgr_error_set(err, "%s: %s: contains control characters", name, key);
                        return -EINVAL;
                }
        strcpy(dst, s);
        return 0;
}

static int get_int(struct json_object *root, const char *name, const char *key, int64_t *ret,
                   struct pgr_error *err)
{
        struct json_object *v;

        if (!json_object_object_get_ex(root, key, &v) || !json_object_is_type(v, json_type_int)) {
                pgr_error_set(err, "%s: %s: expected a number", name, key);
                return -EINVAL;
        }
        *ret = json_object_get_int64(v);
        return 0;
}

int chain_parse(const char *text, size_t len, const char *name, unsigned long vmid, struct chain *ret,
                struct pgr_error *err)
{
        _cleanup_(json_putp) struct json_object *root = NULL;
        struct json_tokener *tok;
        char sid[STORAGE_ID_MAX];
        const char *snippet;
        struct chain c = { .vmid = vmid };
        int64_t format, file_vmid;
        size_t end;
        int r;

        r = text_check(text, len, CHAIN_MAX_SIZE, name, "", err);
        if (r < 0)
                return r;
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        root = json_tokener_parse_ex(tok, text, (int)len);
        end = json_tokener_get_parse_end(tok);
        if (!root || json_tokener_get_error(tok) != json_tokener_success) {
                pgr_error_set(err, "%s: invalid JSON: %s", name,
                              json_tokener_error_desc(json_tokener_get_error(tok)));
                json_tokener_free(tok);
                return -EINVAL;
        }
        json_tokener_free(tok);
        while (end < len && strchr(" \t\r\n", text[end]))
                end++;
        if (end != len || !json_object_is_type(root, json_type_object)) {
                pgr_error_set(err, "%s: invalid JSON: expected one object", name);
                return -EINVAL;
        }
        r = get_int(root, name, "format", &format, err);
        if (r < 0)
                return r;
        if (format != CHAIN_FORMAT) {
                pgr_error_set(err, "%s: format: %lld is not %d (written by another version of pve-gpu-reset)", name,
                              (long long)format, CHAIN_FORMAT);
                return -EINVAL;
        }
        /* A file copied from another VM would chain that VM's script here. */
        r = get_int(root, name, "vmid", &file_vmid, err);
        if (r < 0)
                return r;
        if (file_vmid < 0 || (uint64_t)file_vmid != vmid) {
                pgr_error_set(err, "%s: vmid: %lld, not %lu", name, (long long)file_vmid, vmid);
                return -EINVAL;
        }
        r = get_string(root, name, "hookscript", c.hookscript, sizeof(c.hookscript), err);
        if (r < 0)
                return r;
        if (c.hookscript[0] != '/') {
                pgr_error_set(err, "%s: hookscript: must be an absolute path, not \"%.64s\"", name, c.hookscript);
                return -EINVAL;
        }
        r = get_string(root, name, "volid", c.volid, sizeof(c.volid), err);
        if (r < 0)
                return r;
        if (snippet_volid_parse(c.volid, sid, &snippet) < 0) {
                pgr_error_set(err, "%s: volid: \"%.64s\" is not a snippets volume (STORAGE:snippets/NAME)", name,
                              c.volid);
                return -EINVAL;
        }
        *ret = c;
        return 0;
}

int chain_load(const struct pgr_ctx *ctx, unsigned long vmid, struct chain *ret, struct pgr_error *err)
{
        char shown[CHAIN_SHOWN_MAX], path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        r = pgr_path(ctx, path, sizeof(path), chain_path(vmid, shown));
        if (r < 0) {
                pgr_error_set(err, "%s: path too long under the root prefix", shown);
                return r;
        }
        r = read_trusted_file(path, CHAIN_MAX_SIZE, &text, &len, err);
        if (r < 0)
                return r;
        return chain_parse(text, len, shown, vmid, ret, err);
}

int chain_save(const struct pgr_ctx *ctx, const struct chain *c, struct pgr_error *err)
{
        _cleanup_(json_putp) struct json_object *root = json_object_new_object();
        _cleanup_free_ char *text = NULL;
        char shown[CHAIN_SHOWN_MAX], path[PATH_MAX], dir[PATH_MAX], about[256];
        const char *s;
        int r;

        chain_path(c->vmid, shown);
        snprintf(about, sizeof(about), "Written by 'pve-gpu-reset attach %lu': VM %lu's previous hookscript, run "
                 "after pve-gpu-reset's own work. 'pve-gpu-reset detach %lu' gives it back and removes this file.",
                 c->vmid, c->vmid, c->vmid);
        if (!root || json_object_object_add(root, "_about", json_object_new_string(about)) < 0 ||
            json_object_object_add(root, "format", json_object_new_int(CHAIN_FORMAT)) < 0 ||
            json_object_object_add(root, "vmid", json_object_new_int64((int64_t)c->vmid)) < 0 ||
            json_object_object_add(root, "hookscript", json_object_new_string(c->hookscript)) < 0 ||
            json_object_object_add(root, "volid", json_object_new_string(c->volid)) < 0 ||
            !(s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE)) ||
            asprintf(&text, "%s\n", s) < 0) {
                text = NULL;
                pgr_error_set(err, "%s: out of memory", shown);
                return -ENOMEM;
        }
        r = pgr_path(ctx, dir, sizeof(dir), CHAIN_DIR);
        if (r == 0)
                r = pgr_path(ctx, path, sizeof(path), shown);
        if (r < 0) {
                pgr_error_set(err, "%s: path too long under the root prefix", shown);
                return r;
        }
        /* Like /etc/modprobe.d: root writes it, nothing in it is secret. */
        r = mkdir_p(dir, 0755);
        if (r < 0) {
                pgr_error_set(err, "%s: cannot create: %s", CHAIN_DIR, strerror(-r));
                return r;
        }
        r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                pgr_error_set(err, "%s: cannot write: %s", shown, strerror(-r));
        return r;
}

int chain_remove(const struct pgr_ctx *ctx, unsigned long vmid, struct pgr_error *err)
{
        char shown[CHAIN_SHOWN_MAX], path[PATH_MAX];
        int r;

        r = pgr_path(ctx, path, sizeof(path), chain_path(vmid, shown));
        if (r < 0) {
                pgr_error_set(err, "%s: path too long under the root prefix", shown);
                return r;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
                r = -errno;
                pgr_error_set(err, "%s: cannot remove: %s", shown, strerror(-r));
                return r;
        }
        return 0;
}
