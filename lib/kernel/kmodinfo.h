/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/context.h"

/* What modprobe knows about kernel modules, asked of libkmod (the library modprobe, depmod and lspci
 * -k use) with every path under the root prefix: the module indexes of /lib/modules/<release>
 * (modules.dep, modules.alias, modules.builtin: the .bin files depmod writes) and the configuration
 * of the modprobe.d directories. Module names compare with '-' = '_', as kmod compares them. */

struct kmodinfo;

/* The library kmodinfo_new loads when it is first needed (dlopen, not linked: see kmodinfo.c). */
#define KMODINFO_LIBRARY "libkmod.so.2"

/* release: the kernel whose /lib/modules/<release> to read ("" or NULL: unknown, only the
 * configuration is read). -ENOMEM; -ENAMETOOLONG when the root prefix leaves no room for a path;
 * -ELIBACC when KMODINFO_LIBRARY cannot be loaded or lacks a function used (libkmod older than 30).
 * An index libkmod cannot open is kmodinfo_index_error(), not an error. */
int kmodinfo_new(const struct pgr_ctx *ctx, const char *release, struct kmodinfo **ret);
/* The same with another library name (tests: a missing or an unfit library). */
int kmodinfo_new_with(const struct pgr_ctx *ctx, const char *release, const char *library, struct kmodinfo **ret);
void kmodinfo_free(struct kmodinfo *k);
static inline void kmodinfo_freep(struct kmodinfo **k) { kmodinfo_free(*k); }

/* 0 when libkmod opened the module indexes; else a negative errno (-ENOENT: no such directory or no
 * modules.dep.bin: depmod never ran for this kernel). */
int kmodinfo_index_error(const struct kmodinfo *k);
/* "/lib/modules/<release>" (host path, "/lib/modules/<release>" literally when the release is unknown). */
const char *kmodinfo_module_dir(const struct kmodinfo *k);

/* Installed for that kernel: listed in modules.dep or modules.builtin. False when the indexes are
 * unreadable (see kmodinfo_index_error). */
bool kmodinfo_installed(const struct kmodinfo *k, const char *module);

/* The modules whose aliases match a device's modalias ("pci:v000010DEd00001E07sv...", the device's
 * sysfs modalias), in libkmod's lookup order, each once; what lspci -k lists as "Kernel modules".
 * Free *ret with strv_free(). */
int kmodinfo_modalias_modules(const struct kmodinfo *k, const char *modalias, char ***ret, size_t *ret_n);

/* The modprobe.d configuration libkmod acts on, one callback per entry in kmod's order (files in
 * name order, a name in an earlier directory hiding it in later ones, lines in file order):
 *   KMODINFO_BLACKLIST  module, NULL            KMODINFO_OPTIONS  module, "ids=... disable_vga=1"
 *   KMODINFO_SOFTDEP    module, "pre: a post: b" KMODINFO_INSTALL  module, "/bin/false"
 * Without the entries libkmod takes from the kernel command line: it reads /proc/cmdline of the
 * machine it runs on, not the root's. fn returns < 0 to stop; that value is returned. */
enum kmodinfo_config { KMODINFO_BLACKLIST, KMODINFO_OPTIONS, KMODINFO_SOFTDEP, KMODINFO_INSTALL, _KMODINFO_CONFIG_MAX };
typedef int (*kmodinfo_config_fn)(const char *module, const char *value, void *userdata);
int kmodinfo_config_foreach(const struct kmodinfo *k, enum kmodinfo_config kind, kmodinfo_config_fn fn, void *userdata);

/* The modprobe.d directories (host paths) in kmod's order: what kmodinfo_new hands libkmod. */
const char *const *kmodinfo_config_dirs(size_t *ret_n);

/* Loaded into the running kernel: /sys/module/<m>, or a line of /proc/modules. */
bool kmodinfo_loaded(const struct pgr_ctx *ctx, const char *module);

/* The module a bound PCI driver belongs to: the driver's sysfs module link
 * (/sys/bus/pci/drivers/<driver>/module), else the driver name itself (most PCI drivers are named
 * after their module). buf gets the normalized name. */
const char *kmodinfo_driver_module(const struct pgr_ctx *ctx, const char *driver, char *buf, size_t size);

/* Module names as kmod compares them: '-' and '_' are the same character. */
void module_name_normalize(char *dst, size_t size, const char *src, size_t n);
bool module_name_eqn(const char *a, size_t a_len, const char *b);
bool module_name_eq(const char *a, const char *b);
