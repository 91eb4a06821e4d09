/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The `modprobe` check: what modprobe.d, /etc/modules and the kernel command line make of the
 * host drivers and vfio-pci, read the way kmod reads them (libkmod-config.c). */
#define _GNU_SOURCE 1 /* asprintf */
#include "doctor/doctor_modprobe.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "kernel/kmodinfo.h"
#include "kernel/sysfs.h"

#define MODPROBE_FILE_MAX (256 * 1024)

static int add(struct modprobe_conf *c, enum modprobe_kind kind, const char *module, size_t module_len,
               const char *value, size_t value_len, const char *file, unsigned line)
{
        struct modprobe_entry *e;

        if (c->n == c->alloc) {
                size_t alloc = c->alloc ? c->alloc * 2 : 32;
                struct modprobe_entry *v = realloc(c->v, alloc * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                c->v = v;
                c->alloc = alloc;
        }
        e = &c->v[c->n++];
        memset(e, 0, sizeof(*e));
        e->kind = kind;
        module_name_normalize(e->module, sizeof(e->module), module, module_len);
        if (value)
                snprintf(e->value, sizeof(e->value), "%.*s", (int)value_len, value);
        snprintf(e->file, sizeof(e->file), "%s", file);
        e->line = line;
        return 0;
}

/* Splits s in place on blanks: the next token, or NULL. */
static char *next_token(char **s)
{
        char *p = *s, *t;

        while (*p == ' ' || *p == '\t')
                p++;
        if (!*p) {
                *s = p;
                return NULL;
        }
        t = p;
        while (*p && *p != ' ' && *p != '\t')
                p++;
        if (*p)
                *p++ = '\0';
        *s = p;
        return t;
}

/* The command of an install line (split in place) when it is one that does nothing (/bin/false, true...):
 * modprobe M then runs it instead of loading M. NULL otherwise. */
static char *never_loads(char *command)
{
        static const char *const never[] = { "/bin/false", "/bin/true", "/usr/bin/false", "/usr/bin/true", "false", "true" };
        char *cmd = next_token(&command);

        if (!cmd || next_token(&command))
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(never); i++)
                if (streq(cmd, never[i]))
                        return cmd;
        return NULL;
}

static int parse_line(struct modprobe_conf *c, char *line, const char *file, unsigned lineno)
{
        char *rest = line, *cmd, *mod, *tok;
        int r = 0;

        cmd = next_token(&rest);
        if (!cmd || cmd[0] == '#')
                return 0;
        mod = next_token(&rest);
        if (!mod)
                return 0;
        if (streq(cmd, "blacklist"))
                return add(c, MODPROBE_BLACKLIST, mod, strlen(mod), NULL, 0, file, lineno);
        if (streq(cmd, "install")) {
                tok = never_loads(rest);
                return tok ? add(c, MODPROBE_INSTALL_FALSE, mod, strlen(mod), tok, strlen(tok), file, lineno) : 0;
        }
        if (streq(cmd, "options")) {
                if (!module_name_eq(mod, "vfio_pci"))
                        return 0;
                while (r >= 0 && (tok = next_token(&rest)))
                        if (strncmp(tok, "ids=", 4) == 0)
                                r = add(c, MODPROBE_VFIO_IDS, "vfio_pci", 8, tok + 4, strlen(tok + 4), file, lineno);
                        else if (strncmp(tok, "reset_method=", 13) == 0)
                                r = add(c, MODPROBE_VFIO_RESET_METHOD, "vfio_pci", 8, tok, strlen(tok), file, lineno);
                return r;
        }
        if (streq(cmd, "softdep")) {
                bool pre = false;

                while (r >= 0 && (tok = next_token(&rest))) {
                        if (streq(tok, "pre:"))
                                pre = true;
                        else if (streq(tok, "post:"))
                                pre = false;
                        else if (pre && module_name_eq(tok, "vfio_pci"))
                                r = add(c, MODPROBE_SOFTDEP_VFIO, mod, strlen(mod), NULL, 0, file, lineno);
                        else if (strncmp(tok, "pre:", 4) == 0 && module_name_eq(tok + 4, "vfio_pci"))
                                /* kmod takes "pre:" only as a word of its own: this line does nothing */
                                r = add(c, MODPROBE_SOFTDEP_BROKEN, mod, strlen(mod), tok, strlen(tok), file, lineno);
                }
                return r;
        }
        return 0;
}

int modprobe_conf_parse(struct modprobe_conf *c, const char *text, const char *file)
{
        _cleanup_free_ char *buf = strdup(text);
        char *p, *line;
        unsigned lineno = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        p = buf;
        while (*p) {
                unsigned start = ++lineno;
                char *w;

                /* A logical line: physical lines joined where one ends in '\'. */
                line = w = p;
                for (;;) {
                        if (*p == '\0')
                                break;
                        if (*p == '\\' && p[1] == '\n') {
                                p += 2;
                                lineno++;
                                continue;
                        }
                        if (*p == '\n') {
                                p++;
                                break;
                        }
                        *w++ = *p++;
                }
                *w = '\0';
                r = parse_line(c, line, file, start);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void note_mtime(const struct pgr_ctx *ctx, struct modprobe_conf *c, const char *abs)
{
        char path[PATH_MAX];
        struct stat st;

        if (pgr_path(ctx, path, sizeof(path), abs) < 0 || stat(path, &st) < 0)
                return;
        if (st.st_mtime > c->newest_mtime) {
                c->newest_mtime = st.st_mtime;
                snprintf(c->newest_file, sizeof(c->newest_file), "%s", abs);
        }
}

/* Whether a file the initramfs copies matters for passthrough: it names vfio, or the entries it
 * added (from index first on) blacklist a GPU driver. */
static bool concerns_passthrough(const struct modprobe_conf *c, size_t first, const char *text)
{
        static const char *const gpu_drivers[] = { "nouveau", "nvidia", "nvidiafb", "nvidia_drm", "nvidia_modeset",
                                                   "amdgpu", "radeon", "i915", "xe" };

        if (strcasestr(text, "vfio"))
                return true;
        for (size_t i = first; i < c->n; i++)
                if (c->v[i].kind == MODPROBE_BLACKLIST || c->v[i].kind == MODPROBE_INSTALL_FALSE)
                        for (size_t g = 0; g < ELEMENTSOF(gpu_drivers); g++)
                                if (module_name_eq(c->v[i].module, gpu_drivers[g]))
                                        return true;
        return false;
}

/* The *.conf files of dirs, a name in an earlier directory hiding it in later ones, in name order;
 * each as "<dir>/<name>" (host path). */
static int list_conf_files(const struct pgr_ctx *ctx, const char *const *dirs, size_t n_dirs, char ***ret,
                           size_t *ret_n)
{
        char **v = NULL;
        size_t n = 0, alloc = 0;

        for (size_t d = 0; d < n_dirs; d++) {
                char path[PATH_MAX];
                DIR *dir;
                struct dirent *de;

                if (pgr_path(ctx, path, sizeof(path), dirs[d]) < 0)
                        continue;
                dir = opendir(path);
                if (!dir)
                        continue;
                while ((de = readdir(dir))) {
                        size_t len = strlen(de->d_name);
                        bool dup = false;
                        char *s;

                        if (de->d_name[0] == '.' || len < 6 || !streq(de->d_name + len - 5, ".conf"))
                                continue;
                        for (size_t i = 0; i < n && !dup; i++)
                                dup = streq(strrchr(v[i], '/') + 1, de->d_name);
                        if (dup)
                                continue;
                        if (n == alloc) {
                                char **nv = realloc(v, (alloc ? alloc * 2 : 16) * sizeof(*v));

                                if (!nv)
                                        goto oom;
                                v = nv;
                                alloc = alloc ? alloc * 2 : 16;
                        }
                        if (asprintf(&s, "%s/%s", dirs[d], de->d_name) < 0)
                                goto oom;
                        v[n++] = s;
                        continue;
oom:
                        closedir(dir);
                        strv_free(v, n);
                        return -ENOMEM;
                }
                closedir(dir);
        }
        /* kmod sorts by file name, not by path */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(strrchr(v[j - 1], '/'), strrchr(v[j], '/')) > 0; j--) {
                        char *t = v[j];

                        v[j] = v[j - 1];
                        v[j - 1] = t;
                }
        *ret = v;
        *ret_n = n;
        return 0;
}

typedef int (*parse_fn)(struct modprobe_conf *c, const char *text, const char *file);

/* Reads one file (host path) into c with parse and notes it when it concerns passthrough: 0, 1 when
 * unreadable (skipped, as kmod skips it), -ENOMEM. */
static int parse_file(const struct pgr_ctx *ctx, struct modprobe_conf *c, const char *file, parse_fn parse)
{
        _cleanup_free_ char *text = NULL;
        size_t first = c->n;
        int r;

        if (pgr_read_file(ctx, file, MODPROBE_FILE_MAX, &text, NULL) < 0)
                return 1;
        r = parse(c, text, file);
        if (r >= 0 && concerns_passthrough(c, first, text))
                note_mtime(ctx, c, file);
        return r < 0 ? r : 0;
}

/* The *.conf files of dirs in kmod's order, each through parse_file; ret_read (may be NULL) counts
 * the files read. */
static int parse_conf_dirs(const struct pgr_ctx *ctx, struct modprobe_conf *c, const char *const *dirs, size_t n_dirs,
                           parse_fn parse, size_t *ret_read)
{
        char **files = NULL;
        size_t n = 0;
        int r;

        r = list_conf_files(ctx, dirs, n_dirs, &files, &n);
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = parse_file(ctx, c, files[i], parse);
                if (r == 0 && ret_read)
                        (*ret_read)++;
        }
        strv_free(files, n);
        return r < 0 ? r : 0;
}

/* The hand scan of the files libkmod reads, for what libkmod cannot tell: the file and line each entry
 * is written on (the fixes name them), the lines kmod parses to nothing (softdep "pre:vfio-pci"), and
 * which file changed last (the initramfs check). */
static int locate_modprobe_d(const struct pgr_ctx *ctx, struct modprobe_conf *c)
{
        size_t n_dirs;
        const char *const *dirs = kmodinfo_config_dirs(&n_dirs);

        return parse_conf_dirs(ctx, c, dirs, n_dirs, modprobe_conf_parse, &c->n_files);
}

/* What modprobe acts on is what libkmod parsed; each entry gets the place the scan found it at. */
struct effective {
        const struct modprobe_conf *located;
        bool *taken;
        struct modprobe_conf *out;
};

static int take(struct effective *e, enum modprobe_kind kind, const char *module, const char *value)
{
        const struct modprobe_conf *l = e->located;

        for (size_t i = 0; i < l->n; i++)
                if (!e->taken[i] && l->v[i].kind == kind && module_name_eq(l->v[i].module, module) &&
                    (!value || streq(l->v[i].value, value))) {
                        e->taken[i] = true;
                        return add(e->out, kind, module, strlen(module), value, value ? strlen(value) : 0, l->v[i].file,
                                   l->v[i].line);
                }
        /* libkmod has it, the scan did not find the line: no place to name */
        return add(e->out, kind, module, strlen(module), value, value ? strlen(value) : 0, "", 0);
}

static int take_blacklist(const char *module, const char *value, void *userdata)
{
        (void)value;
        return take(userdata, MODPROBE_BLACKLIST, module, NULL);
}

static int take_install(const char *module, const char *command, void *userdata)
{
        _cleanup_free_ char *buf = strdup(command);
        const char *cmd;

        if (!buf)
                return -ENOMEM;
        cmd = never_loads(buf);
        return cmd ? take(userdata, MODPROBE_INSTALL_FALSE, module, cmd) : 0;
}

static int take_options(const char *module, const char *options, void *userdata)
{
        _cleanup_free_ char *buf = NULL;
        char *rest, *tok;
        int r = 0;

        if (!module_name_eq(module, "vfio_pci"))
                return 0;
        buf = strdup(options);
        if (!buf)
                return -ENOMEM;
        rest = buf;
        while (r >= 0 && (tok = next_token(&rest)))
                if (strncmp(tok, "ids=", 4) == 0)
                        r = take(userdata, MODPROBE_VFIO_IDS, "vfio_pci", tok + 4);
                else if (strncmp(tok, "reset_method=", 13) == 0)
                        r = take(userdata, MODPROBE_VFIO_RESET_METHOD, "vfio_pci", tok);
        return r;
}

/* libkmod gives a softdep as "pre: a b post: c", where kmod 30 writes "post:" over the blank after the
 * last pre module ("pre: a bpost: c", libkmod-config.c softdep_to_char): that suffix ends the pre list. */
static int take_softdep(const char *module, const char *deps, void *userdata)
{
        _cleanup_free_ char *buf = strdup(deps);
        char *rest = buf, *tok;
        bool pre = false;

        if (!buf)
                return -ENOMEM;
        while ((tok = next_token(&rest))) {
                size_t len = strlen(tok);
                bool post_follows = len > 5 && streq(tok + len - 5, "post:");

                if (streq(tok, "pre:") || streq(tok, "post:")) {
                        pre = streq(tok, "pre:");
                        continue;
                }
                if (post_follows)
                        tok[len - 5] = '\0';
                if (pre && module_name_eq(tok, "vfio_pci"))
                        return take(userdata, MODPROBE_SOFTDEP_VFIO, module, NULL);
                if (post_follows)
                        pre = false;
        }
        return 0;
}

static int take_effective(const struct kmodinfo *km, const struct modprobe_conf *located, struct modprobe_conf *c)
{
        static const struct {
                enum kmodinfo_config kind;
                kmodinfo_config_fn fn;
        } kinds[] = {
                { KMODINFO_BLACKLIST, take_blacklist },
                { KMODINFO_INSTALL, take_install },
                { KMODINFO_OPTIONS, take_options },
                { KMODINFO_SOFTDEP, take_softdep },
        };
        _cleanup_free_ bool *taken = calloc(located->n ? located->n : 1, sizeof(*taken));
        struct effective e = { .located = located, .taken = taken, .out = c };
        int r = 0;

        if (!taken)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(kinds) && r >= 0; i++)
                r = kmodinfo_config_foreach(km, kinds[i].kind, kinds[i].fn, &e);
        /* the lint: a softdep line kmod parses to nothing, unless another line makes the softdep */
        for (size_t i = 0; i < located->n && r >= 0; i++) {
                const struct modprobe_entry *l = &located->v[i];

                if (l->kind == MODPROBE_SOFTDEP_BROKEN && !modprobe_conf_find(c, MODPROBE_SOFTDEP_VFIO, l->module))
                        r = add(c, l->kind, l->module, strlen(l->module), l->value, strlen(l->value), l->file, l->line);
        }
        return r;
}

/* /etc/modules (Debian) and modules-load.d: one module per line, '#' and ';' comments. */
static int parse_modules_list(struct modprobe_conf *c, const char *text, const char *file)
{
        unsigned lineno = 0;

        for (const char *p = text; *p;) {
                const char *eol = strchr(p, '\n'), *s = p, *e;
                size_t len;

                if (!eol)
                        eol = p + strlen(p);
                lineno++;
                while (s < eol && isspace((unsigned char)*s))
                        s++;
                e = s;
                while (e < eol && !isspace((unsigned char)*e))
                        e++;
                len = (size_t)(e - s);
                if (len && *s != '#' && *s != ';') {
                        int r = add(c, MODPROBE_LOAD, s, len, NULL, 0, file, lineno);

                        if (r < 0)
                                return r;
                }
                p = *eol ? eol + 1 : eol;
        }
        return 0;
}

static int load_modules_lists(const struct pgr_ctx *ctx, struct modprobe_conf *c)
{
        static const char *const dirs[] = { "/etc/modules-load.d", "/run/modules-load.d",
                                            "/usr/local/lib/modules-load.d", "/usr/lib/modules-load.d",
                                            "/lib/modules-load.d" };
        int r;

        r = parse_file(ctx, c, "/etc/modules", parse_modules_list);
        if (r < 0)
                return r;
        return parse_conf_dirs(ctx, c, dirs, ELEMENTSOF(dirs), parse_modules_list, NULL);
}

/* Module options and blacklists on the kernel command line, as kmod reads them. */
static int parse_cmdline(struct modprobe_conf *c, const char *cmdline)
{
        _cleanup_free_ char *buf = strdup(cmdline);
        char *rest, *tok;
        int r = 0;

        if (!buf)
                return -ENOMEM;
        rest = buf;
        while (r >= 0 && (tok = next_token(&rest))) {
                char *eq = strchr(tok, '='), *dot = strchr(tok, '.');
                bool blacklist = false;

                if (!eq)
                        continue;
                if (strncmp(tok, "modprobe.blacklist=", 19) == 0 || strncmp(tok, "module_blacklist=", 17) == 0)
                        blacklist = true;
                if (blacklist) {
                        for (char *m = eq + 1, *comma; r >= 0 && *m; m = comma ? comma + 1 : m + strlen(m)) {
                                comma = strchr(m, ',');
                                size_t len = comma ? (size_t)(comma - m) : strlen(m);

                                if (len)
                                        r = add(c, MODPROBE_BLACKLIST, m, len, tok, (size_t)(eq - tok), "/proc/cmdline", 0);
                        }
                        continue;
                }
                if (dot && dot < eq) {
                        char mod[64];

                        module_name_normalize(mod, sizeof(mod), tok, (size_t)(dot - tok));
                        if (streq(mod, "vfio_pci") && (size_t)(eq - dot - 1) == 3 && strncmp(dot + 1, "ids", 3) == 0)
                                r = add(c, MODPROBE_VFIO_IDS, "vfio_pci", 8, eq + 1, strlen(eq + 1), "/proc/cmdline", 0);
                        else if (streq(mod, "vfio_pci") && (size_t)(eq - dot - 1) == 12 &&
                                 strncmp(dot + 1, "reset_method", 12) == 0)
                                r = add(c, MODPROBE_VFIO_RESET_METHOD, "vfio_pci", 8, dot + 1, strlen(dot + 1),
                                        "/proc/cmdline", 0);
                }
        }
        return r;
}

int modprobe_conf_load(const struct pgr_ctx *ctx, const struct kmodinfo *km, const char *cmdline,
                       struct modprobe_conf **ret)
{
        _cleanup_(modprobe_conf_freep) struct modprobe_conf *located = calloc(1, sizeof(*located));
        struct modprobe_conf *c = calloc(1, sizeof(*c));
        int r;

        if (!c || !located) {
                free(c);
                return -ENOMEM;
        }
        r = locate_modprobe_d(ctx, located);
        if (r >= 0)
                r = take_effective(km, located, c);
        c->n_files = located->n_files;
        c->newest_mtime = located->newest_mtime;
        snprintf(c->newest_file, sizeof(c->newest_file), "%s", located->newest_file);
        if (r >= 0)
                r = load_modules_lists(ctx, c);
        /* By hand: libkmod reads the kernel command line from "/proc/cmdline" of the machine it runs on
         * (not the root's), and knows nothing of the kernel's own module_blacklist=. */
        if (r >= 0 && cmdline)
                r = parse_cmdline(c, cmdline);
        if (r < 0) {
                modprobe_conf_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void modprobe_conf_free(struct modprobe_conf *c)
{
        if (!c)
                return;
        free(c->v);
        free(c);
}

const struct modprobe_entry *modprobe_conf_find(const struct modprobe_conf *c, enum modprobe_kind kind,
                                                const char *module)
{
        for (size_t i = 0; i < c->n; i++)
                if (c->v[i].kind == kind && (!module || module_name_eq(c->v[i].module, module)))
                        return &c->v[i];
        return NULL;
}

const struct modprobe_entry *modprobe_conf_blacklisted(const struct modprobe_conf *c, const char *module)
{
        const struct modprobe_entry *e = modprobe_conf_find(c, MODPROBE_BLACKLIST, module);

        return e ? e : modprobe_conf_find(c, MODPROBE_INSTALL_FALSE, module);
}

const struct modprobe_entry *modprobe_conf_vfio_ids(const struct modprobe_conf *c, size_t *ret_count)
{
        const struct modprobe_entry *last = NULL;
        size_t n = 0;

        for (size_t i = 0; i < c->n; i++)
                if (c->v[i].kind == MODPROBE_VFIO_IDS) {
                        last = &c->v[i];
                        n++;
                }
        if (ret_count)
                *ret_count = n;
        return last;
}

bool modprobe_ids_has(const char *ids, unsigned vendor, unsigned device)
{
        for (const char *p = ids; *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                unsigned v, d;
                char item[64];

                snprintf(item, sizeof(item), "%.*s", (int)(len < sizeof(item) ? len : sizeof(item) - 1), p);
                if (sscanf(item, "%x:%x", &v, &d) == 2 && v == vendor && d == device)
                        return true;
                p = comma ? comma + 1 : p + len;
        }
        return false;
}

static bool on_cmdline(const struct modprobe_entry *e)
{
        return streq(e->file, "/proc/cmdline");
}

static const char *where(const struct modprobe_entry *e, char *buf, size_t size)
{
        if (e->line)
                snprintf(buf, size, "%s:%u", e->file, e->line);
        else if (on_cmdline(e))
                snprintf(buf, size, "the kernel command line");
        else
                snprintf(buf, size, "modprobe's configuration");
        return buf;
}

/* A host driver that can bind a function of the set, and whether the fix is a blacklist (nouveau:
 * a passthrough host has no use for it, NVIDIA's own driver or none drives the host's display) or a
 * softdep (the host may need the driver for another card: vfio-pci loads first and claims its ids). */
struct host_driver {
        char module[64];
        bool blacklist;
};

static void add_host_driver(struct host_driver *seen, size_t *n_seen, size_t max, const char *module)
{
        char m[64];

        module_name_normalize(m, sizeof(m), module, strlen(module));
        if (streq(m, "vfio_pci") || !*m)
                return;
        for (size_t i = 0; i < *n_seen; i++)
                if (streq(seen[i].module, m))
                        return;
        if (*n_seen < max) {
                snprintf(seen[*n_seen].module, sizeof(seen[*n_seen].module), "%s", m);
                seen[(*n_seen)++].blacklist = streq(m, "nouveau");
        }
}

/* The modules whose aliases match the function's modalias (what modprobe loads for it at boot, lspci
 * -k's "Kernel modules"), and the module of the driver bound to it now. */
static int host_drivers_for(const struct pgr_ctx *ctx, const struct kmodinfo *km, const struct doctor_device *d,
                            struct host_driver *seen, size_t *n_seen, size_t max)
{
        char modalias[256], module[64];
        char **mods = NULL;
        size_t n = 0;
        int r = 0;

        if (sysfs_dev_read(ctx, &d->dev.addr, "modalias", modalias, sizeof(modalias)) == 0)
                r = kmodinfo_modalias_modules(km, modalias, &mods, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                add_host_driver(seen, n_seen, max, mods[i]);
        strv_free(mods, n);
        if (d->dev.driver[0])
                add_host_driver(seen, n_seen, max, kmodinfo_driver_module(ctx, d->dev.driver, module, sizeof(module)));
        return 0;
}

/* A function claimed from boot is given to vfio-pci by the udev rule at device add: ids=, a softdep
 * or a blacklist (which would hit every card of that id or driver) are not what it needs. */
static bool wanted_on_vfio(const struct doctor_device *d)
{
        return d->dev.present && !d->untouched && d->dev.header_type != 1 && !d->claimed;
}

static void check_ids(const struct modprobe_conf *c, const struct doctor_devices *set, bool host_driver_around,
                      struct doctor_report *rep, bool *problem)
{
        struct dstr missing = {}, merged = {}, listed = {}, fix = {};
        size_t count = 0, n_needed = 0, n_missing = 0;
        const struct modprobe_entry *eff = modprobe_conf_vfio_ids(c, &count);
        char at[300];

        if (eff)
                dstr_addf(&merged, "%s", eff->value);
        for (size_t i = 0; i < set->n; i++) {
                const struct doctor_device *d = &set->v[i];
                char id[16];
                bool dup = false;

                if (!wanted_on_vfio(d))
                        continue;
                for (size_t j = 0; j < i && !dup; j++)
                        dup = wanted_on_vfio(&set->v[j]) && set->v[j].dev.vendor == d->dev.vendor &&
                              set->v[j].dev.device == d->dev.device;
                if (dup)
                        continue;
                n_needed++;
                doctor_device_id(d, id);
                dstr_addf(&listed, "%s%s", listed.len ? "," : "", id);
                if (eff && modprobe_ids_has(eff->value, d->dev.vendor, d->dev.device))
                        continue;
                dstr_addf(&missing, "%s%s (%s)", missing.len ? ", " : "", id, d->dev.bdf);
                n_missing++;
                if (eff)
                        dstr_addf(&merged, ",%s", id);
        }
        if (n_needed == 0)
                goto out;
        if (!eff) {
                *problem = true;
                dstr_addf(&fix, "echo \"options vfio-pci ids=%s\" >> /etc/modprobe.d/vfio.conf && update-initramfs -u -k all, "
                          "then reboot", dstr_get(&listed));
                doctor_add(rep, "modprobe", host_driver_around ? DOCTOR_WARN : DOCTOR_INFO, NULL, dstr_get(&fix),
                           "no 'options vfio-pci ids=' in /etc/modprobe.d: at boot %s; Proxmox binds the card only when the VM starts",
                           host_driver_around ? "a host driver can claim the card first"
                                              : "nothing claims the card for vfio-pci");
                goto out;
        }
        if (missing.len) {
                const struct modprobe_entry *earlier = NULL;

                *problem = true;
                for (size_t i = 0; i < c->n && !earlier; i++)
                        if (c->v[i].kind == MODPROBE_VFIO_IDS && &c->v[i] != eff)
                                earlier = &c->v[i];
                if (eff->line)
                        dstr_addf(&fix, "in %s replace line %u with: options vfio-pci ids=%s (keep the line's other "
                                  "options), then update-initramfs -u -k all and reboot",
                                  eff->file, eff->line, dstr_get(&merged));
                else if (on_cmdline(eff))
                        dstr_addf(&fix, "set vfio-pci.ids=%s on the kernel command line (/etc/default/grub or "
                                  "/etc/kernel/cmdline), then update-grub or proxmox-boot-tool refresh, and reboot",
                                  dstr_get(&merged));
                else
                        dstr_addf(&fix, "make the line of /etc/modprobe.d that has it: options vfio-pci ids=%s, then "
                                  "update-initramfs -u -k all and reboot", dstr_get(&merged));
                doctor_add(rep, "modprobe", DOCTOR_FAIL, NULL, dstr_get(&fix),
                           "vfio-pci ids=%s (%s%s) does not list %s: at boot the host driver keeps %s%s",
                           eff->value, where(eff, at, sizeof(at)), count > 1 ? ", the one that takes effect" : "",
                           dstr_get(&missing), n_missing > 1 ? "these functions" : "this function",
                           count > 1 ? "; other ids= lines do not count, only the last one given applies" : "");
                (void)earlier;
        }
        if (count > 1) {
                struct dstr all = {};

                for (size_t i = 0; i < c->n; i++)
                        if (c->v[i].kind == MODPROBE_VFIO_IDS)
                                dstr_addf(&all, "%s%s", all.len ? ", " : "", where(&c->v[i], at, sizeof(at)));
                *problem = true;
                dstr_done(&fix);
                dstr_addf(&fix, "merge them into one line: options vfio-pci ids=%s in /etc/modprobe.d/vfio.conf, delete the "
                          "others, then update-initramfs -u -k all", dstr_get(&merged));
                doctor_add(rep, "modprobe", DOCTOR_WARN, NULL, dstr_get(&fix),
                           "vfio-pci ids= is given %zu times (%s): only the last one (%s) takes effect", count,
                           dstr_get(&all), where(eff, at, sizeof(at)));
                dstr_done(&all);
        }
out:
        dstr_done(&missing);
        dstr_done(&merged);
        dstr_done(&listed);
        dstr_done(&fix);
}

void doctor_check_modprobe(const struct pgr_ctx *ctx, const struct modprobe_conf *c, const struct doctor_devices *set,
                           const struct modprobe_kernel *k, struct doctor_report *rep)
{
        struct host_driver seen[16];
        size_t n_seen = 0;
        bool problem = false, host_driver_around = false, any_softdep = false;
        struct dstr good = {};
        char at[300];

        /* The host drivers that matter: those that could bind a function of the set. */
        for (size_t i = 0; i < set->n; i++)
                if (wanted_on_vfio(&set->v[i]) &&
                    host_drivers_for(ctx, k->modules, &set->v[i], seen, &n_seen, ELEMENTSOF(seen)) < 0)
                        rep->oom = true;
        for (size_t s = 0; s < n_seen; s++) {
                const struct modprobe_entry *bl = modprobe_conf_blacklisted(c, seen[s].module),
                                            *sd = modprobe_conf_find(c, MODPROBE_SOFTDEP_VFIO, seen[s].module);
                char fix[512];

                if (sd)
                        any_softdep = true;
                if (!bl && !sd)
                        host_driver_around = true;
                if (bl) {
                        dstr_addf(&good, "%s%s blacklisted (%s)", good.len ? "; " : "", seen[s].module,
                                  where(bl, at, sizeof(at)));
                        continue;
                }
                if (sd) {
                        dstr_addf(&good, "%s'softdep %s pre: vfio-pci' (%s)", good.len ? "; " : "", seen[s].module,
                                  where(sd, at, sizeof(at)));
                        continue;
                }
                problem = true;
                if (seen[s].blacklist) {
                        snprintf(fix, sizeof(fix), "echo \"blacklist %.63s\" >> /etc/modprobe.d/blacklist.conf && "
                                 "update-initramfs -u -k all, then reboot", seen[s].module);
                        doctor_add(rep, "modprobe", DOCTOR_WARN, NULL, fix,
                                   "%s is not blacklisted: it can claim the card at boot before vfio-pci, and a "
                                   "passthrough host has no use for it", seen[s].module);
                } else {
                        snprintf(fix, sizeof(fix), "echo \"softdep %.63s pre: vfio-pci\" >> /etc/modprobe.d/vfio.conf && "
                                 "update-initramfs -u -k all, then reboot", seen[s].module);
                        doctor_add(rep, "modprobe", DOCTOR_WARN, NULL, fix,
                                   "no 'softdep %s pre: vfio-pci': when %s loads at boot it can claim the card before "
                                   "vfio-pci does (a softdep loads vfio-pci first, so vfio-pci's ids= win)",
                                   seen[s].module, seen[s].module);
                }
        }
        check_ids(c, set, host_driver_around, rep, &problem);

        for (size_t i = 0; i < c->n; i++) {
                const struct modprobe_entry *e = &c->v[i];
                char fix[512];

                if (e->kind != MODPROBE_SOFTDEP_BROKEN)
                        continue;
                problem = true;
                snprintf(fix, sizeof(fix), "in %s line %u write 'pre: vfio-pci' (a space after 'pre:'), then "
                         "update-initramfs -u -k all", e->file, e->line);
                doctor_add(rep, "modprobe", DOCTOR_WARN, NULL, fix,
                           "'softdep %s %s' (%s) does nothing: modprobe only knows 'pre:' as a word of its own, so "
                           "vfio-pci is not loaded before %s", e->module, e->value, where(e, at, sizeof(at)), e->module);
        }

        /* ids= only matter once vfio-pci is loaded: at boot that takes /etc/modules or a softdep. */
        if (modprobe_conf_vfio_ids(c, NULL) && !modprobe_conf_find(c, MODPROBE_LOAD, "vfio_pci") && !any_softdep &&
            host_driver_around) {
                problem = true;
                doctor_add(rep, "modprobe", DOCTOR_WARN, NULL,
                           "printf 'vfio\\nvfio_iommu_type1\\nvfio_pci\\n' >> /etc/modules && update-initramfs -u -k all",
                           "vfio-pci is not loaded at boot (not in /etc/modules or /etc/modules-load.d, no softdep): its "
                           "ids= apply only after a host driver had its chance");
        }
        if (k->major > 6 || (k->major == 6 && k->minor >= 2)) {
                const struct modprobe_entry *e = modprobe_conf_find(c, MODPROBE_LOAD, "vfio_virqfd");

                if (e) {
                        char fix[512];

                        snprintf(fix, sizeof(fix), "delete line %u (vfio_virqfd) from %s", e->line, e->file);
                        doctor_add(rep, "modprobe", DOCTOR_INFO, NULL, fix,
                                   "%s lists vfio_virqfd, which is part of vfio since Linux 6.2: harmless, but boot "
                                   "logs 'Failed to find module'", where(e, at, sizeof(at)));
                }
        }
        for (size_t i = 0; i < c->n; i++) {
                const struct modprobe_entry *e = &c->v[i];
                char fix[1536];

                if (e->kind != MODPROBE_VFIO_RESET_METHOD)
                        continue;
                problem = true;
                if (e->line)
                        snprintf(fix, sizeof(fix), "delete %s from %s line %u (then update-initramfs -u -k all); the reset "
                                 "method is chosen per device: the hook pins each function's reset_method while a VM "
                                 "owns it (reset_methods in /etc/pve-gpu-reset.json)", e->value, e->file, e->line);
                else if (!on_cmdline(e))
                        snprintf(fix, sizeof(fix), "delete %s from the 'options vfio-pci' line of /etc/modprobe.d (then "
                                 "update-initramfs -u -k all); the reset method is chosen per device: the hook pins each "
                                 "function's reset_method while a VM owns it (reset_methods in /etc/pve-gpu-reset.json)",
                                 e->value);
                else
                        snprintf(fix, sizeof(fix), "remove vfio-pci.%s from the kernel command line; the reset method is "
                                 "chosen per device: the hook pins each function's reset_method while a VM owns it "
                                 "(reset_methods in /etc/pve-gpu-reset.json)", e->value);
                doctor_add(rep, "modprobe", DOCTOR_WARN, NULL, fix,
                           "'%s' for vfio-pci (%s) does nothing: vfio-pci has no reset_method parameter (modprobe "
                           "passes it, the module ignores it with \"unknown parameter\"), so the kernel keeps its own "
                           "reset order", e->value, where(e, at, sizeof(at)));
        }
        if (!problem) {
                const struct modprobe_entry *ids = modprobe_conf_vfio_ids(c, NULL);

                if (ids)
                        dstr_addf(&good, "%svfio-pci ids=%s (%s) lists every function", good.len ? "; " : "", ids->value,
                                  where(ids, at, sizeof(at)));
                doctor_add(rep, "modprobe", DOCTOR_OK, NULL, NULL, "%s",
                           good.len ? dstr_get(&good) : "nothing in modprobe.d concerns these devices");
        }
        dstr_done(&good);
}

void doctor_check_initramfs(const struct pgr_ctx *ctx, const struct modprobe_conf *c, const char *release,
                            bool proxmox_boot_tool, struct doctor_report *rep)
{
        char initrd[PATH_MAX], abs[PATH_MAX], fix[256], when[64];
        struct stat st;
        struct tm tm;

        if (!release || !*release || !c->newest_mtime)
                return;
        snprintf(abs, sizeof(abs), "/boot/initrd.img-%s", release);
        if (pgr_path(ctx, initrd, sizeof(initrd), abs) < 0 || stat(initrd, &st) < 0)
                return;
        if (st.st_mtime >= c->newest_mtime) {
                doctor_add(rep, "initramfs", DOCTOR_OK, NULL, NULL, "%s is newer than %s (the newest vfio setting)", abs,
                           c->newest_file);
                return;
        }
        snprintf(fix, sizeof(fix), "update-initramfs -u -k all%s, then reboot",
                 proxmox_boot_tool ? " && proxmox-boot-tool refresh" : "");
        if (gmtime_r(&st.st_mtime, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
        else
                snprintf(when, sizeof(when), "?");
        doctor_add(rep, "initramfs", DOCTOR_WARN, NULL, fix,
                   "%s changed after %s was built (%s): vfio-pci and the GPU drivers load from the initramfs, which "
                   "still has the old settings%s", c->newest_file, abs, when,
                   proxmox_boot_tool ? "; this host boots through proxmox-boot-tool, whose ESPs get the new initramfs "
                                       "only with a refresh" : "");
}
