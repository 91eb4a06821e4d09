/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Module knowledge through libkmod, as pciutils' ls-kernel.c asks it (kmod_new, kmod_load_resources,
 * kmod_module_new_from_lookup on the device's modalias), with the root prefix on every path libkmod
 * takes as a parameter. What libkmod reads at a fixed path is not asked of it (see each place).
 *
 * libkmod is dlopen'd here, not linked: only doctor needs it, and linked it made every hook run map
 * and relocate libkmod and what it pulls in (libcrypto, libzstd, liblzma): ~3,500 relocations and
 * ~4.6 M instructions before main, 3.4x the start-up of the rest (tests/bench, B1 floor-kmod). As
 * systemd does for its optional libraries (src/shared/dlopen-*, DLSYM_PROTOTYPE), the prototypes
 * come from <libkmod.h> (pkg-config libkmod), so every pointer has the header's type. The Debian
 * package names libkmod2 in Depends by hand: dpkg-shlibdeps does not see a dlopen'd library. */
#define _GNU_SOURCE 1 /* strchrnul */
#include "kernel/kmodinfo.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libkmod.h>

#include "base/util.h"
#include "kernel/sysfs.h"

/* The directories kmod reads, in its order (kmod 30's defaults: libkmod.c default_config_paths, plus
 * /usr/lib/modprobe.d that later kmod reads and that a merged /usr makes the same as /lib's). */
static const char *const config_dirs[] = { "/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d",
                                           "/usr/lib/modprobe.d", "/lib/modprobe.d" };

const char *const *kmodinfo_config_dirs(size_t *ret_n)
{
        *ret_n = ELEMENTSOF(config_dirs);
        return config_dirs;
}

/* Every libkmod function used, resolved by kmod_api_open. */
#define KMOD_SYMBOLS(X)                                                                                          \
        X(kmod_new) X(kmod_unref) X(kmod_set_log_fn) X(kmod_load_resources) X(kmod_config_get_blacklists)       \
        X(kmod_config_get_options) X(kmod_config_get_softdeps) X(kmod_config_get_install_commands)              \
        X(kmod_config_iter_next) X(kmod_config_iter_free_iter) X(kmod_config_iter_get_key)                      \
        X(kmod_config_iter_get_value) X(kmod_module_new_from_name_lookup) X(kmod_module_new_from_lookup)        \
        X(kmod_module_get_module) X(kmod_module_get_name) X(kmod_module_unref) X(kmod_module_unref_list)        \
        X(kmod_list_next)

struct kmod_api {
        void *dl;
#define KMOD_API_FIELD(sym) typeof(&sym) sym;
        KMOD_SYMBOLS(KMOD_API_FIELD)
#undef KMOD_API_FIELD
};

/* dlopen(library) and every symbol of KMOD_SYMBOLS, or -ELIBACC with nothing held. RTLD_NODELETE as
 * systemd's dlopen_many_sym_or_warn: libcrypto, which libkmod loads, must not be unmapped under its
 * own exit handlers. */
static int kmod_api_open(const char *library, struct kmod_api *api)
{
        *api = (struct kmod_api){};
        api->dl = dlopen(library, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!api->dl)
                return -ELIBACC;
#define KMOD_API_RESOLVE(sym)                                                                                    \
        if (!(api->sym = (typeof(&sym))dlsym(api->dl, #sym))) {                                               \
                dlclose(api->dl);                                                                              \
                *api = (struct kmod_api){};                                                                     \
                return -ELIBACC;                                                                               \
        }
        KMOD_SYMBOLS(KMOD_API_RESOLVE)
#undef KMOD_API_RESOLVE
        return 0;
}

static void kmod_api_close(struct kmod_api *api)
{
        if (api->dl)
                dlclose(api->dl);
        *api = (struct kmod_api){};
}

struct kmodinfo {
        struct kmod_api api;
        struct kmod_ctx *kmod;
        int index_error;
        char module_dir[PATH_MAX];              /* host path */
        /* entries libkmod appended from the kernel command line of the machine we run on (it opens
         * "/proc/cmdline" itself: libkmod-config.c kmod_config_parse_kcmdline), per kind: the last
         * ones of each list, since libkmod parses the command line after every file */
        size_t n_cmdline[_KMODINFO_CONFIG_MAX];
};

/* libkmod logs to stderr by default; what it would say (a dependency path missing in a fixture
 * tree, an unknown command in a modprobe.d file) is ours to report or not. */
static void log_nothing(void *data, int priority, const char *file, int line, const char *fn, const char *format,
                        va_list args)
{
        (void)data, (void)priority, (void)file, (void)line, (void)fn, (void)format, (void)args;
}

static struct kmod_config_iter *config_iter(const struct kmod_api *api, const struct kmod_ctx *kmod,
                                            enum kmodinfo_config kind)
{
        switch (kind) {
        case KMODINFO_BLACKLIST:
                return api->kmod_config_get_blacklists(kmod);
        case KMODINFO_OPTIONS:
                return api->kmod_config_get_options(kmod);
        case KMODINFO_SOFTDEP:
                return api->kmod_config_get_softdeps(kmod);
        case KMODINFO_INSTALL:
                return api->kmod_config_get_install_commands(kmod);
        case _KMODINFO_CONFIG_MAX:
                break;
        }
        return NULL;
}

static size_t config_count(const struct kmod_api *api, const struct kmod_ctx *kmod, enum kmodinfo_config kind)
{
        struct kmod_config_iter *it = config_iter(api, kmod, kind);
        size_t n = 0;

        while (it && api->kmod_config_iter_next(it))
                n++;
        api->kmod_config_iter_free_iter(it);
        return n;
}

static struct kmod_ctx *kmod_open(const struct kmod_api *api, const char *dir, const char *const *config_paths)
{
        struct kmod_ctx *kmod = api->kmod_new(dir, config_paths);

        if (kmod)
                api->kmod_set_log_fn(kmod, log_nothing, NULL);
        return kmod;
}

int kmodinfo_new(const struct pgr_ctx *ctx, const char *release, struct kmodinfo **ret)
{
        return kmodinfo_new_with(ctx, release, KMODINFO_LIBRARY, ret);
}

int kmodinfo_new_with(const struct pgr_ctx *ctx, const char *release, const char *library, struct kmodinfo **ret)
{
        _cleanup_free_ struct kmodinfo *k = calloc(1, sizeof(*k));
        char paths[ELEMENTSOF(config_dirs)][PATH_MAX], dir[PATH_MAX];
        const char *config_paths[ELEMENTSOF(config_dirs) + 1] = {}, *const no_config[] = { NULL };
        bool known = release && *release && !strchr(release, '/');
        struct kmod_ctx *cmdline_only;
        size_t n = 0;
        int r;

        if (!k)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(config_dirs); i++) {
                r = pgr_path(ctx, paths[i], sizeof(paths[i]), config_dirs[i]);
                if (r < 0)
                        return r;
                config_paths[n++] = paths[i];
        }
        /* never NULL: libkmod would take the running kernel's directory of the machine we run on; an
         * unknown release gets "<release>", a directory with no index, and still the configuration */
        snprintf(k->module_dir, sizeof(k->module_dir), "/lib/modules/%s", known ? release : "<release>");
        r = pgr_path(ctx, dir, sizeof(dir), k->module_dir);
        if (r < 0)
                return r;
        r = kmod_api_open(library, &k->api);
        if (r < 0)
                return r;
        k->kmod = kmod_open(&k->api, dir, config_paths);
        cmdline_only = kmod_open(&k->api, dir, no_config);
        if (!k->kmod || !cmdline_only) {
                k->api.kmod_unref(k->kmod);
                k->api.kmod_unref(cmdline_only);
                kmod_api_close(&k->api);
                return -ENOMEM;
        }
        for (enum kmodinfo_config kind = 0; kind < _KMODINFO_CONFIG_MAX; kind++)
                k->n_cmdline[kind] = config_count(&k->api, cmdline_only, kind);
        k->api.kmod_unref(cmdline_only);
        /* libkmod opens every index or none; it returns -errno of the one that failed (-ENOENT: none) */
        k->index_error = k->api.kmod_load_resources(k->kmod);
        if (k->index_error > 0)
                k->index_error = -EIO;
        *ret = k;
        k = NULL;
        return 0;
}

void kmodinfo_free(struct kmodinfo *k)
{
        if (!k)
                return;
        k->api.kmod_unref(k->kmod);
        kmod_api_close(&k->api);
        free(k);
}

int kmodinfo_index_error(const struct kmodinfo *k)
{
        return k->index_error;
}

const char *kmodinfo_module_dir(const struct kmodinfo *k)
{
        return k->module_dir;
}

bool kmodinfo_installed(const struct kmodinfo *k, const char *module)
{
        struct kmod_module *mod = NULL;
        char name[PATH_MAX];

        if (k->index_error < 0)
                return false;
        module_name_normalize(name, sizeof(name), module, strlen(module));
        /* modules.dep, then modules.builtin (libkmod-module.c kmod_module_new_from_name_lookup) */
        if (k->api.kmod_module_new_from_name_lookup(k->kmod, name, &mod) < 0 || !mod)
                return false;
        k->api.kmod_module_unref(mod);
        return true;
}

int kmodinfo_modalias_modules(const struct kmodinfo *k, const char *modalias, char ***ret, size_t *ret_n)
{
        struct kmod_list *list = NULL, *l;
        char **v = NULL;
        size_t n = 0;
        int r = 0;

        *ret = NULL;
        *ret_n = 0;
        if (k->index_error < 0 || !modalias || !*modalias)
                return 0;
        r = k->api.kmod_module_new_from_lookup(k->kmod, modalias, &list);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        /* kmod_list_foreach, through the resolved kmod_list_next */
        for (l = list; l; l = k->api.kmod_list_next(list, l)) {
                struct kmod_module *mod = k->api.kmod_module_get_module(l);
                const char *name = mod ? k->api.kmod_module_get_name(mod) : NULL;
                bool dup = false;
                char **nv;

                for (size_t i = 0; name && i < n && !dup; i++)
                        dup = streq(v[i], name);
                if (name && !dup) {
                        nv = realloc(v, (n + 1) * sizeof(*v));
                        if (nv)
                                v = nv;
                        if (!nv || !(v[n] = strdup(name)))
                                r = -ENOMEM;
                        else
                                n++;
                }
                k->api.kmod_module_unref(mod);
                if (r < 0)
                        break;
        }
        k->api.kmod_module_unref_list(list);
        if (r < 0) {
                strv_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int kmodinfo_config_foreach(const struct kmodinfo *k, enum kmodinfo_config kind, kmodinfo_config_fn fn, void *userdata)
{
        size_t total = config_count(&k->api, k->kmod, kind), from_files, i = 0;
        struct kmod_config_iter *it;
        int r = 0;

        from_files = total >= k->n_cmdline[kind] ? total - k->n_cmdline[kind] : 0;
        it = config_iter(&k->api, k->kmod, kind);
        if (!it)
                return total ? -ENOMEM : 0;
        while (r >= 0 && i++ < from_files && k->api.kmod_config_iter_next(it))
                r = fn(k->api.kmod_config_iter_get_key(it),
                       kind == KMODINFO_BLACKLIST ? NULL : k->api.kmod_config_iter_get_value(it), userdata);
        k->api.kmod_config_iter_free_iter(it);
        return r;
}

/* By hand, under the root prefix: libkmod reads "/sys/module/<m>/initstate" and "/proc/modules" of
 * the machine it runs on (libkmod-module.c kmod_module_get_initstate, kmod_module_new_from_loaded). */
bool kmodinfo_loaded(const struct pgr_ctx *ctx, const char *module)
{
        _cleanup_free_ char *modules = NULL;
        char abs[PATH_MAX], name[256];

        module_name_normalize(name, sizeof(name), module, strlen(module));
        snprintf(abs, sizeof(abs), "/sys/module/%s", name);
        if (pgr_exists(ctx, abs))
                return true;
        /* "vendor_reset 114688 0 - Live 0x0000000000000000 (OE)" */
        if (pgr_read_file(ctx, "/proc/modules", 1024 * 1024, &modules, NULL) < 0)
                return false;
        for (const char *p = modules; *p;) {
                const char *eol = strchrnul(p, '\n'), *sp = memchr(p, ' ', (size_t)(eol - p));

                if (sp && module_name_eqn(p, (size_t)(sp - p), name))
                        return true;
                p = *eol ? eol + 1 : eol;
        }
        return false;
}

const char *kmodinfo_driver_module(const struct pgr_ctx *ctx, const char *driver, char *buf, size_t size)
{
        char abs[PATH_MAX], target[PATH_MAX];
        const char *base = driver;

        snprintf(abs, sizeof(abs), "/sys/bus/pci/drivers/%s/module", driver);
        if (*driver && !strchr(driver, '/') && sysfs_link(ctx, abs, target, sizeof(target)) == 0)
                base = target;
        module_name_normalize(buf, size, base, strlen(base));
        return buf;
}

void module_name_normalize(char *dst, size_t size, const char *src, size_t n)
{
        size_t i;

        if (size == 0)
                return;
        for (i = 0; i + 1 < size && i < n && src[i]; i++)
                dst[i] = src[i] == '-' ? '_' : src[i];
        dst[i] = '\0';
}

bool module_name_eqn(const char *a, size_t a_len, const char *b)
{
        size_t i;

        for (i = 0; i < a_len && a[i] && b[i]; i++)
                if ((a[i] == '-' ? '_' : a[i]) != (b[i] == '-' ? '_' : b[i]))
                        return false;
        return (i == a_len || !a[i]) && !b[i];
}

bool module_name_eq(const char *a, const char *b)
{
        return module_name_eqn(a, SIZE_MAX, b);
}
