/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pve/storagecfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_PATH "/var/lib/vz"

/* Storage types that hold files and may carry "snippets" content (PVE::Storage plugins). */
static const char *const file_types[] = { "dir", "btrfs", "nfs", "cifs", "cephfs", "glusterfs" };
/* Of those, the ones Proxmox always treats as shared (@SHARED_STORAGE, plus GlusterFS). */
static const char *const shared_types[] = { "nfs", "cifs", "cephfs", "glusterfs" };

static bool in_list(const char *s, const char *const *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (streq(s, list[i]))
                        return true;
        return false;
}

/* pve-storage-id: ^[a-z][a-z0-9\-_.]*[a-z0-9]$, case-insensitive. */
static bool storage_id_valid(const char *s, size_t n)
{
        if (n < 2 || n >= STORAGE_ID_MAX || !isalpha((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
                        return false;
        return true;
}

static void storage_done(struct storage *s)
{
        free(s->path);
        free(s->snippets_subdir);
        free(s->nodes);
        free(s->content);
        memset(s, 0, sizeof(*s));
}

void storagecfg_free(struct storagecfg *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++)
                storage_done(&c->v[i]);
        free(c->v);
        free(c);
}

const struct storage *storagecfg_find(const struct storagecfg *c, const char *id)
{
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->v[i].id, id))
                        return &c->v[i];
        return NULL;
}

static struct storage *storagecfg_add(struct storagecfg *c)
{
        struct storage *v = realloc(c->v, (c->n + 1) * sizeof(*v));

        if (!v)
                return NULL;
        c->v = v;
        memset(&v[c->n], 0, sizeof(v[c->n]));
        return &v[c->n++];
}

/* Header: ^(\S+):\s*(\S+)\s*$ with a greedy type, as PVE::Storage::Plugin::parse_section_header.
 * line is modified; returns false when it is not a header. */
static bool parse_header(char *line, char **ret_type, char **ret_id)
{
        char *type, *id, *ws, *colon;

        if (!*line || isspace((unsigned char)*line))
                return false;
        line = strstrip(line);
        ws = strpbrk(line, " \t\v\f\r");
        if (ws) {
                /* "type: id": exactly two tokens, the first ending in ':' */
                *ws = '\0';
                id = ws + 1;
                while (isspace((unsigned char)*id))
                        id++;
                if (strpbrk(id, " \t\v\f\r"))
                        return false;
                colon = line + strlen(line) - 1;
                if (colon == line || *colon != ':')
                        return false;
                *colon = '\0';
                type = line;
        } else {
                /* "type:id": the last ':' splits, both sides non-empty */
                colon = strrchr(line, ':');
                if (!colon || colon == line || !colon[1])
                        return false;
                *colon = '\0';
                type = line;
                id = colon + 1;
        }
        *ret_type = type;
        *ret_id = id;
        return true;
}

/* Property: ^\s+(\S+)(\s+(.*\S))?\s*$. value is NULL when absent. */
static bool parse_property(char *line, char **ret_key, char **ret_value)
{
        char *key, *value = NULL, *ws;

        if (!isspace((unsigned char)*line))
                return false;
        key = strstrip(line);
        if (!*key)
                return false;
        ws = strpbrk(key, " \t\v\f\r");
        if (ws) {
                *ws = '\0';
                value = strstrip(ws + 1);
        }
        *ret_key = key;
        *ret_value = value;
        return true;
}

/* PVE::Tools::split_list: items separated by any of ",; \t". Calls fn for each; stops on true. */
static bool list_any(const char *list, bool (*fn)(const char *item, size_t n, void *userdata), void *userdata)
{
        const char *p = list;

        while (*p) {
                size_t n;

                p += strspn(p, ",; \t\n\r\v\f");
                n = strcspn(p, ",; \t\n\r\v\f");
                if (n > 0 && fn(p, n, userdata))
                        return true;
                p += n;
        }
        return false;
}

static bool item_is(const char *item, size_t n, void *userdata)
{
        const char *want = userdata;

        return strlen(want) == n && strncmp(item, want, n) == 0;
}

struct dir_override {
        char *ret;
        int r;
};

static bool item_snippets_override(const char *item, size_t n, void *userdata)
{
        struct dir_override *o = userdata;

        if (n > 9 && strncmp(item, "snippets=", 9) == 0) {
                free(o->ret);
                o->ret = strndup(item + 9, n - 9);
                if (!o->ret)
                        o->r = -ENOMEM;
                return true;
        }
        return false;
}

static int set_string(char **field, const char *value)
{
        if (*field) /* Proxmox: "duplicate attribute", the first one stays */
                return 0;
        *field = strdup(value);
        return *field ? 0 : -ENOMEM;
}

/* The keys of one section that are set already: SectionConfig dies "duplicate attribute" on a second
 * line (parse_config warns, the first one stays). */
struct seen {
        bool content, shared, disable;
};

/* A SectionConfig boolean: check_value takes a bare key as 1, then JSONSchema check_type accepts only
 * '1' and '0' (not parse_boolean's yes/on/true): false for anything else, which Proxmox drops. */
static bool section_boolean(const char *value, bool *ret)
{
        if (!value || streq(value, "1"))
                *ret = true;
        else if (streq(value, "0"))
                *ret = false;
        else
                return false;
        return true;
}

/* Applies one property. Values Proxmox would reject with a warning are ignored likewise. */
static int storage_set(struct storage *s, const char *key, const char *value, struct seen *seen)
{
        bool b;

        if (streq(key, "path")) {
                if (value && value[0] == '/')
                        return set_string(&s->path, value);
        } else if (streq(key, "content")) {
                if (value && !seen->content) {
                        char want[] = "snippets";

                        seen->content = true;
                        s->content = strdup(value);
                        if (!s->content)
                                return -ENOMEM;
                        s->snippets = in_list(s->type, file_types, ELEMENTSOF(file_types)) &&
                                      list_any(value, item_is, want);
                }
        } else if (streq(key, "content-dirs")) {
                if (value && !s->snippets_subdir) {
                        struct dir_override o = { NULL, 0 };

                        list_any(value, item_snippets_override, &o);
                        if (o.r < 0)
                                return o.r;
                        s->snippets_subdir = o.ret;
                }
        } else if (streq(key, "nodes")) {
                if (value)
                        return set_string(&s->nodes, value);
        } else if (streq(key, "shared")) {
                if (!seen->shared && section_boolean(value, &b)) {
                        seen->shared = true;
                        s->shared = s->shared || b; /* a network type is shared whatever the key says */
                }
        } else if (streq(key, "disable")) {
                if (!seen->disable && section_boolean(value, &b)) {
                        seen->disable = true;
                        s->disabled = b;
                }
        }
        return 0;
}

static int storage_set_builtin_local(struct storage *s)
{
        storage_done(s);
        strcpy(s->id, "local");
        strcpy(s->type, "dir");
        s->path = strdup(LOCAL_PATH);
        s->content = strdup("backup,images,iso,rootdir,snippets,vztmpl");
        if (!s->path || !s->content)
                return -ENOMEM;
        /* Proxmox's built-in list: backup, images, iso, rootdir, snippets, vztmpl */
        s->snippets = true;
        s->builtin = true;
        return 0;
}

/* PVE::Storage::Plugin::parse_config's fix-ups after the generic parse. */
static int storagecfg_fixup(struct storagecfg *c)
{
        struct storage *local = NULL;
        size_t i;
        int r;

        for (i = 0; i < c->n; i++)
                if (streq(c->v[i].id, "local")) {
                        local = &c->v[i];
                        break;
                }
        if (!local || !streq(local->type, "dir") || (local->path && !streq(local->path, LOCAL_PATH))) {
                struct storage builtin = { 0 };

                r = storage_set_builtin_local(&builtin);
                if (r < 0) {
                        storage_done(&builtin);
                        return r;
                }
                if (local) { /* replaced; it keeps no place in the list */
                        storage_done(local);
                        memmove(local, local + 1, (size_t)(c->v + c->n - local - 1) * sizeof(*local));
                        c->n--;
                }
                if (!storagecfg_add(c)) {
                        storage_done(&builtin);
                        return -ENOMEM;
                }
                memmove(c->v + 1, c->v, (c->n - 1) * sizeof(*c->v));
                c->v[0] = builtin;
                local = &c->v[0];
        } else if (!local->path) {
                local->path = strdup(LOCAL_PATH);
                if (!local->path)
                        return -ENOMEM;
        }
        free(local->nodes); /* no node restrictions for local storage */
        local->nodes = NULL;

        for (i = 0; i < c->n; i++)
                if (in_list(c->v[i].type, shared_types, ELEMENTSOF(shared_types)))
                        c->v[i].shared = true;
        return 0;
}

int storagecfg_parse(const char *text, size_t len, const char *filename, struct storagecfg **ret,
                     struct pgr_error *err)
{
        struct storagecfg *c;
        _cleanup_free_ char *copy = NULL;
        struct storage *cur = NULL;
        struct seen seen = {};
        bool in_section = false;
        unsigned lineno = 0;
        char *p, *next;
        int r;

        c = calloc(1, sizeof(*c));
        copy = strndup(text, len);
        if (!c || !copy) {
                free(c);
                pgr_error_set(err, "%s: out of memory", filename);
                return -ENOMEM;
        }

        for (p = copy; p; p = next) {
                char *type, *id, *key, *value;

                next = strchr(p, '\n');
                if (next)
                        *next++ = '\0';
                lineno++;

                if (p[0] == '#')
                        continue;
                if (strspn(p, " \t\r\v\f") == strlen(p)) {
                        in_section = false; /* a blank line ends a section */
                        cur = NULL;
                        continue;
                }
                if (in_section) {
                        if (cur && parse_property(p, &key, &value)) {
                                r = storage_set(cur, key, value, &seen);
                                if (r < 0)
                                        goto fail;
                        }
                        continue; /* Proxmox: "ignore config line" */
                }
                if (!parse_header(p, &type, &id))
                        continue;
                in_section = true;
                seen = (struct seen){};
                cur = NULL;
                if (!storage_id_valid(id, strlen(id)) || strlen(type) >= sizeof(cur->type) ||
                    storagecfg_find(c, id))
                        continue; /* the section is skipped, as Proxmox does */
                cur = storagecfg_add(c);
                if (!cur) {
                        r = -ENOMEM;
                        goto fail;
                }
                for (size_t i = 0; type[i]; i++)
                        cur->type[i] = (char)tolower((unsigned char)type[i]);
                strcpy(cur->id, id);
                cur->line = lineno;
        }

        r = storagecfg_fixup(c);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        storagecfg_free(c);
        pgr_error_set(err, "%s: %s", filename, strerror(-r));
        return r;
}

int storagecfg_load(const struct pgr_ctx *ctx, struct storagecfg **ret, struct pgr_error *err)
{
        _cleanup_free_ char *text = NULL;
        char path[PATH_MAX];
        size_t len = 0;
        int r;

        r = pgr_path(ctx, path, sizeof(path), STORAGECFG_PATH);
        if (r < 0) {
                pgr_error_set(err, "%s: path too long under the root prefix", STORAGECFG_PATH);
                return r;
        }
        r = read_full_file(path, STORAGECFG_MAX_SIZE, &text, &len);
        if (r == -ENOENT)
                return storagecfg_parse("", 0, STORAGECFG_PATH, ret, err);
        if (r < 0) {
                pgr_error_set(err, "%s: cannot read: %s", STORAGECFG_PATH, strerror(-r));
                return r;
        }
        return storagecfg_parse(text, len, STORAGECFG_PATH, ret, err);
}

bool storage_holds_files(const struct storage *s)
{
        return in_list(s->type, file_types, ELEMENTSOF(file_types));
}

bool storage_usable_on(const struct storage *s, const char *node)
{
        char want[256];

        if (s->disabled)
                return false;
        if (!s->nodes)
                return true;
        if (snprintf(want, sizeof(want), "%s", node) >= (int)sizeof(want))
                return false;
        return list_any(s->nodes, item_is, want);
}

/* Collapses "//" and drops a trailing '/' (keeps "/"). */
static int path_normalize(const char *in, char *buf, size_t size)
{
        size_t n = 0;

        for (const char *p = in; *p; p++) {
                if (*p == '/' && n > 0 && buf[n - 1] == '/')
                        continue;
                if (n + 1 >= size)
                        return -ENAMETOOLONG;
                buf[n++] = *p;
        }
        while (n > 1 && buf[n - 1] == '/')
                n--;
        if (size == 0)
                return -ENAMETOOLONG;
        buf[n] = '\0';
        return 0;
}

int storage_snippets_dir(const struct storage *s, char *buf, size_t size)
{
        char joined[PATH_MAX];
        int n;

        if (!s->path)
                return -ENOENT;
        n = snprintf(joined, sizeof(joined), "%s/%s", s->path, s->snippets_subdir ? s->snippets_subdir : "snippets");
        if (n < 0 || (size_t)n >= sizeof(joined))
                return -ENAMETOOLONG;
        return path_normalize(joined, buf, size);
}

int snippet_volid_parse(const char *volid, char ret_storage[STORAGE_ID_MAX], const char **ret_name)
{
        const char *colon = strchr(volid, ':'), *name;
        size_t n;

        if (!colon)
                return -EINVAL;
        n = (size_t)(colon - volid);
        if (!storage_id_valid(volid, n))
                return -EINVAL;
        if (strncmp(colon + 1, "snippets/", 9) != 0)
                return -EINVAL;
        name = colon + 10;
        if (!*name || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return -EINVAL;
        memcpy(ret_storage, volid, n);
        ret_storage[n] = '\0';
        *ret_name = name;
        return 0;
}

int storagecfg_volid_path(const struct storagecfg *c, const char *volid, char *buf, size_t size,
                          struct pgr_error *err)
{
        char sid[STORAGE_ID_MAX], dir[PATH_MAX];
        const struct storage *s;
        const char *name;
        int n, r;

        r = snippet_volid_parse(volid, sid, &name);
        if (r < 0) {
                pgr_error_set(err, "'%s' is not a snippets volume (storage:snippets/name)", volid);
                return r;
        }
        s = storagecfg_find(c, sid);
        if (!s) {
                pgr_error_set(err, "'%s': no storage '%s' in %s", volid, sid, STORAGECFG_PATH);
                return -ENOENT;
        }
        r = storage_snippets_dir(s, dir, sizeof(dir));
        if (r < 0) {
                pgr_error_set(err, "'%s': storage '%s' (type %s) has no directory", volid, sid, s->type);
                return r == -ENOENT ? -ENOENT : r;
        }
        n = snprintf(buf, size, "%s%s%s", dir, streq(dir, "/") ? "" : "/", name);
        if (n < 0 || (size_t)n >= size) {
                pgr_error_set(err, "'%s': path too long", volid);
                return -ENAMETOOLONG;
        }
        return 0;
}

static bool storage_holds(const struct storage *s, const char *dir)
{
        char sdir[PATH_MAX];

        return storage_snippets_dir(s, sdir, sizeof(sdir)) == 0 && streq(sdir, dir);
}

int storagecfg_path_volid(const struct storagecfg *c, const char *path, const char *node, char *buf,
                          size_t size)
{
        char norm[PATH_MAX], dir[PATH_MAX];
        const struct storage *found = NULL;
        const char *name;
        char *slash;
        int n, r;

        r = path_normalize(path, norm, sizeof(norm));
        if (r < 0)
                return r;
        slash = strrchr(norm, '/');
        if (!slash || !slash[1])
                return -ENOENT;
        name = slash + 1;
        /* The directory part: "/" itself when the snippet sits at the top (content-dirs snippets=/). */
        if (slash == norm)
                strcpy(dir, "/");
        else {
                memcpy(dir, norm, (size_t)(slash - norm));
                dir[slash - norm] = '\0';
        }

        /* Best: a storage Proxmox would list the snippet on, "local" first; then any with that dir. */
        for (int pass = 0; pass < 3 && !found; pass++)
                for (size_t i = 0; i < c->n && !found; i++) {
                        const struct storage *s = &c->v[i];

                        if (pass == 0 && !(streq(s->id, "local") && s->snippets && storage_usable_on(s, node)))
                                continue;
                        if (pass == 1 && !(s->snippets && storage_usable_on(s, node)))
                                continue;
                        if (storage_holds(s, dir))
                                found = s;
                }
        if (!found)
                return -ENOENT;
        n = snprintf(buf, size, "%s:snippets/%s", found->id, name);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}
