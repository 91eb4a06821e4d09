/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1 /* pipe2, mkostemp, asprintf */
#include "ops/attach.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/lock.h"
#include "log/msgid.h"
#include "pve/vmconf.h"
#include "reset/chain.h"
#include "reset/policy.h"

#define SELF_MAX_SIZE (64 * 1024 * 1024)
#define QM_OUTPUT_MAX 400
/* Another attach/detach holds the lock for one qm set (about a second); a whole cluster's worth of
 * parallel attaches waits its turn, a hung qm does not make us wait forever. */
#define ATTACH_LOCK_TIMEOUT_MS (120 * 1000)

/* ---- qm ---------------------------------------------------------------------------------- */

/* Before anything changes: without qm nothing can be finished. */
static int check_qm(unsigned long vmid, const char *opt, const char *value, struct pgr_error *err)
{
        char qm[PATH_MAX];

        if (find_program("qm", qm, sizeof(qm)) == 0)
                return 0;
        pgr_error_set(err, "qm not found on $PATH (%s); is this a Proxmox VE node? To do it by hand: qm set %lu %s %s",
                      getenv("PATH") ? getenv("PATH") : FIND_PROGRAM_DEFAULT_PATH, vmid, opt, value);
        return -ENOEXEC;
}

/* Keeps the output on one line for the error message. */
static void flatten(char *s)
{
        char *w = s;

        for (char *r = strstrip(s); *r; r++) {
                if (*r == '\n') {
                        if (w > s && w[-1] != ' ') {
                                *w++ = ';';
                                *w++ = ' ';
                        }
                } else if (*r != '\r')
                        *w++ = *r;
        }
        *w = '\0';
        strstrip(s);
}

/* Runs `qm set VMID opt [value]`, no shell; its output (stdout+stderr) goes into err on failure. */
static int run_qm_set(unsigned long vmid, const char *opt, const char *value, struct pgr_error *err)
{
        char qm[PATH_MAX], vmidstr[24], out[QM_OUTPUT_MAX + 1] = "", cmdline[PATH_MAX + 64];
        const char *argv[] = { "qm", "set", vmidstr, opt, value, NULL };
        size_t out_len = 0;
        int pipefd[2], status, r;
        pid_t pid;

        snprintf(vmidstr, sizeof(vmidstr), "%lu", vmid);
        snprintf(cmdline, sizeof(cmdline), "qm set %s %s%s%s", vmidstr, opt, value ? " " : "", value ? value : "");
        if (find_program("qm", qm, sizeof(qm)) < 0) {
                pgr_error_set(err, "qm not found on $PATH (%s); is this a Proxmox VE node? To do it by hand: %s",
                              getenv("PATH") ? getenv("PATH") : FIND_PROGRAM_DEFAULT_PATH, cmdline);
                return -ENOEXEC;
        }
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                r = -errno;
                pgr_error_set(err, "%s: pipe: %s", cmdline, strerror(-r));
                return r;
        }
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                pgr_error_set(err, "%s: fork: %s", cmdline, strerror(-r));
                return r;
        }
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0 ||
                    dup2(pipefd[1], STDERR_FILENO) < 0)
                        _exit(127);
                execv(qm, (char *const *)(uintptr_t)argv);
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                char buf[512];
                ssize_t n = read(pipefd[0], buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (out_len < QM_OUTPUT_MAX) {
                        size_t take = (size_t)n < QM_OUTPUT_MAX - out_len ? (size_t)n : QM_OUTPUT_MAX - out_len;

                        memcpy(out + out_len, buf, take);
                        out_len += take;
                }
        }
        close(pipefd[0]);
        out[out_len] = '\0';
        for (;;) {
                if (waitpid(pid, &status, 0) >= 0)
                        break;
                if (errno != EINTR) {
                        r = -errno;
                        pgr_error_set(err, "%s: waitpid: %s", cmdline, strerror(-r));
                        return r;
                }
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        flatten(out);
        if (WIFEXITED(status))
                pgr_error_set(err, "%s failed (exit status %d)%s%s", cmdline, WEXITSTATUS(status), *out ? ": " : "",
                              out);
        else
                pgr_error_set(err, "%s killed by signal %d%s%s", cmdline, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                              *out ? ": " : "", out);
        return -EIO;
}

/* ---- the snippet ------------------------------------------------------------------------------- */

static int place_symlink(const char *dest, const char *target)
{
        char buf[PATH_MAX], tmp[PATH_MAX];
        struct stat st, self;
        ssize_t n;

        if (lstat(dest, &st) == 0) {
                if (S_ISLNK(st.st_mode)) {
                        n = readlink(dest, buf, sizeof(buf) - 1);
                        if (n >= 0) {
                                buf[n] = '\0';
                                if (streq(buf, target))
                                        return 0;
                        }
                } else if (S_ISDIR(st.st_mode))
                        return -EISDIR;
                else if (stat(target, &self) == 0 && st.st_dev == self.st_dev && st.st_ino == self.st_ino)
                        return 0; /* the binary itself lives there */
        } else if (errno != ENOENT)
                return -errno;

        if (snprintf(tmp, sizeof(tmp), "%s.new.%ld", dest, (long)getpid()) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        (void)unlink(tmp);
        if (symlink(target, tmp) < 0)
                return -errno;
        if (rename(tmp, dest) < 0) {
                int r = -errno;

                (void)unlink(tmp);
                return r;
        }
        return 0;
}

static int place_copy(const char *dest, const char *self_path)
{
        _cleanup_free_ char *self = NULL, *cur = NULL;
        size_t self_len = 0, cur_len = 0;
        struct stat st;
        int r;

        r = read_full_file(self_path, SELF_MAX_SIZE, &self, &self_len);
        if (r < 0)
                return r;
        if (lstat(dest, &st) == 0) {
                if (S_ISDIR(st.st_mode))
                        return -EISDIR;
                if (S_ISREG(st.st_mode) && (st.st_mode & 0111) &&
                    read_full_file(dest, SELF_MAX_SIZE, &cur, &cur_len) == 0 && cur_len == self_len &&
                    memcmp(cur, self, self_len) == 0)
                        return 0;
        } else if (errno != ENOENT)
                return -errno;
        return write_file_atomic(dest, self, self_len, 0755);
}

/* Puts the snippet on storage s; fills ret->storage, volid, snippet, copied. */
static int place_snippet(const struct pgr_ctx *ctx, const struct storage *s, const char *self_path,
                         struct attach_result *ret, struct pgr_error *err)
{
        char dir[PATH_MAX], full[PATH_MAX], fullbase[PATH_MAX];
        struct stat st;
        int r;

        r = storage_snippets_dir(s, dir, sizeof(dir));
        if (r < 0) {
                pgr_error_set(err, "storage '%s' (type %s) has no path in %s", s->id, s->type, STORAGECFG_PATH);
                return -EINVAL;
        }
        snprintf(ret->storage, sizeof(ret->storage), "%s", s->id);
        snprintf(ret->volid, sizeof(ret->volid), "%s:snippets/%s", s->id, HOOK_SNIPPET_NAME);
        if (snprintf(ret->snippet, sizeof(ret->snippet), "%s/%s", dir, HOOK_SNIPPET_NAME) >=
            (int)sizeof(ret->snippet)) {
                pgr_error_set(err, "%s: path too long", dir);
                return -ENAMETOOLONG;
        }
        ret->copied = s->shared || !(streq(s->type, "dir") || streq(s->type, "btrfs"));

        r = pgr_path(ctx, fullbase, sizeof(fullbase), s->path);
        if (r == 0)
                r = pgr_path(ctx, full, sizeof(full), dir);
        if (r < 0) {
                pgr_error_set(err, "%s: path too long under the root prefix", dir);
                return r;
        }
        /* A network storage's path is its mount point: never create it, or we write to the local disk. */
        if (ret->copied && (stat(fullbase, &st) < 0 || !S_ISDIR(st.st_mode))) {
                pgr_error_set(err, "storage '%s' is not mounted at %s; activate it (pvesm status) and retry",
                              s->id, s->path);
                return -ENXIO;
        }
        r = mkdir_p(full, 0755);
        if (r < 0) {
                pgr_error_set(err, "%s: cannot create: %s", dir, strerror(-r));
                return r;
        }
        r = pgr_path(ctx, full, sizeof(full), ret->snippet);
        if (r < 0) {
                pgr_error_set(err, "%s: path too long under the root prefix", ret->snippet);
                return r;
        }
        r = ret->copied ? place_copy(full, self_path) : place_symlink(full, self_path);
        if (r < 0) {
                pgr_error_set(err, "%s: cannot %s %s: %s", ret->snippet, ret->copied ? "copy" : "link to",
                              self_path, strerror(-r));
                return r;
        }
        return 0;
}

/* ---- choosing the storage -------------------------------------------------------------------- */

static void enable_hint(const struct storage *s, char *buf, size_t size)
{
        if (s && s->content && *s->content)
                snprintf(buf, size, "pvesm set %s --content %s,snippets", s->id, s->content);
        else
                snprintf(buf, size, "pvesm set %s --content snippets", s ? s->id : "local");
}

static bool storage_fits(const struct storage *s, const char *node)
{
        return s->snippets && s->path && storage_usable_on(s, node);
}

static int pick_storage(const struct pgr_ctx *ctx, const struct storagecfg *cfg, const char *want,
                        const struct storage **ret, struct pgr_error *err)
{
        const struct storage *s;
        char hint[512];

        if (want) {
                s = storagecfg_find(cfg, want);
                if (!s) {
                        pgr_error_set(err, "--storage %s: no such storage in %s", want, STORAGECFG_PATH);
                        return -EINVAL;
                }
                if (!storage_holds_files(s)) {
                        pgr_error_set(err, "--storage %s: storage '%s' (type %s, %s:%u) cannot hold snippets; use "
                                      "a directory storage (dir, nfs, cifs, cephfs...)", want, s->id, s->type,
                                      STORAGECFG_PATH, s->line);
                        return -EINVAL;
                }
                if (!s->snippets) {
                        enable_hint(s, hint, sizeof(hint));
                        pgr_error_set(err, "--storage %s: storage '%s' (type %s, %s:%u) does not have 'snippets' "
                                      "in its content (%s); enable it: %s", want, s->id, s->type, STORAGECFG_PATH,
                                      s->line, s->content ? s->content : "default", hint);
                        return -EINVAL;
                }
                if (s->disabled) {
                        pgr_error_set(err, "--storage %s: storage is disabled (%s:%u); enable it: pvesm set %s "
                                      "--disable 0", want, STORAGECFG_PATH, s->line, s->id);
                        return -EINVAL;
                }
                if (!storage_usable_on(s, ctx->node)) {
                        pgr_error_set(err, "--storage %s: storage is not available on node '%s' (nodes %s)", want,
                                      ctx->node, s->nodes);
                        return -EINVAL;
                }
                if (!s->path) {
                        pgr_error_set(err, "--storage %s: storage type %s has no directory for snippets", want,
                                      s->type);
                        return -EINVAL;
                }
                *ret = s;
                return 0;
        }
        s = storagecfg_find(cfg, "local");
        if (s && storage_fits(s, ctx->node)) {
                *ret = s;
                return 0;
        }
        for (size_t i = 0; i < cfg->n; i++)
                if (storage_fits(&cfg->v[i], ctx->node)) {
                        *ret = &cfg->v[i];
                        return 0;
                }
        enable_hint(storagecfg_find(cfg, "local"), hint, sizeof(hint));
        pgr_error_set(err, "no storage with 'snippets' content in %s usable on node '%s'; enable it: %s",
                      STORAGECFG_PATH, ctx->node, hint);
        return -EINVAL;
}

/* ---- attach / detach ------------------------------------------------------------------------- */

static bool is_ours(const char *hookscript, char sid[STORAGE_ID_MAX])
{
        const char *name;

        return hookscript && snippet_volid_parse(hookscript, sid, &name) == 0 && streq(name, HOOK_SNIPPET_NAME);
}

static bool is_self(const struct pgr_ctx *ctx, const struct storagecfg *cfg, const char *volid,
                    const struct stat *self)
{
        char path[PATH_MAX], full[PATH_MAX];
        struct pgr_error e;
        struct stat st;

        return storagecfg_volid_path(cfg, volid, path, sizeof(path), &e) == 0 &&
               pgr_path(ctx, full, sizeof(full), path) == 0 && stat(full, &st) == 0 && st.st_dev == self->st_dev &&
               st.st_ino == self->st_ino;
}

static int check_vmid(unsigned long vmid, struct pgr_error *err)
{
        if (vmid < VMID_MIN || vmid > VMID_MAX) {
                pgr_error_set(err, "VMID %lu: must be %lu..%lu", vmid, VMID_MIN, VMID_MAX);
                return -EINVAL;
        }
        return 0;
}

static int self_binary(const char *given, char *buf, size_t size, struct pgr_error *err)
{
        ssize_t n;

        if (given) {
                if (given[0] != '/' || snprintf(buf, size, "%s", given) >= (int)size) {
                        pgr_error_set(err, "%s: the binary's path must be absolute", given);
                        return -EINVAL;
                }
                return 0;
        }
        n = readlink("/proc/self/exe", buf, size - 1);
        if (n < 0) {
                int r = -errno;

                pgr_error_set(err, "/proc/self/exe: %s; cannot tell where this binary is installed", strerror(-r));
                return r;
        }
        buf[n] = '\0';
        return 0;
}

/* attach changes the VM's attach state before qm set (the hook Proxmox may run right after must find
 * it); when qm fails the state goes back to what it was: the file as it was loaded, or none. A file
 * that could not be parsed is not put back: the VM's hookscript did not change, so nothing reads it
 * until the next attach, which writes it anew. */
static int chain_undo(const struct pgr_ctx *ctx, unsigned long vmid, const struct chain *old)
{
        struct pgr_error e;

        return old ? chain_save(ctx, old, &e) : chain_remove(ctx, vmid, &e);
}

int attach_vm_opts(const struct pgr_ctx *ctx, unsigned long vmid, const struct attach_options *o,
                   struct attach_result *ret, struct pgr_error *err)
{
        const char *storage = o->storage;
        char self_path[PATH_MAX];
        _cleanup_(vmconf_freep) struct vmconf *conf = NULL;
        _cleanup_(storagecfg_freep) struct storagecfg *cfg = NULL;
        _cleanup_(lock_releasep) struct pgr_lock lock = PGR_LOCK_INIT;
        struct attach_result res;
        const struct storage *s = NULL;
        char cur_sid[STORAGE_ID_MAX];
        struct chain old, next = { .vmid = vmid };
        struct pgr_error e2;
        bool ours, had_old = false;
        struct stat st;
        int r;

        memset(&res, 0, sizeof(res));
        r = check_vmid(vmid, err);
        if (r < 0)
                return r;
        r = self_binary(o->self_path, self_path, sizeof(self_path), err);
        if (r < 0)
                return r;
        /* From the first read of the VM config to the last write of its attach state: one
         * attach/detach at a time, or a parallel one's qm set and state write interleave with ours. */
        r = lock_attach(ctx, vmid, "attach", ATTACH_LOCK_TIMEOUT_MS, &lock, err);
        if (r < 0)
                return r;
        if (stat(self_path, &st) < 0 || !S_ISREG(st.st_mode) || access(self_path, X_OK) < 0) {
                pgr_error_set(err, "%s: not an executable file; the hookscript must point at the installed binary",
                              self_path);
                return -ENOEXEC;
        }
        r = vmconf_load(ctx, vmid, NULL, &conf, err);
        if (r < 0)
                return r;
        r = storagecfg_load(ctx, &cfg, err);
        if (r < 0)
                return r;
        res.no_hostpci = true;
        for (size_t i = 0; i < VMCONF_MAX_HOSTPCI; i++)
                if (conf->hostpci[i].present)
                        res.no_hostpci = false;

        ours = is_ours(conf->hookscript, cur_sid);
        if (ours && (!storage || streq(storage, cur_sid))) {
                s = storagecfg_find(cfg, cur_sid);
                if (s && s->path)
                        res.already = true;
        }
        snprintf(res.target, sizeof(res.target), "%s", self_path);
        if (res.already) {
                r = place_snippet(ctx, s, self_path, &res, err); /* repairs a snippet that went missing */
                if (r < 0)
                        return r;
                if (ret)
                        *ret = res;
                return 0;
        }

        /* Everything that can refuse comes before the first change. */
        r = pick_storage(ctx, cfg, storage, &s, err);
        if (r < 0)
                return r;
        snprintf(res.volid, sizeof(res.volid), "%s:snippets/%s", s->id, HOOK_SNIPPET_NAME);
        r = check_qm(vmid, "--hookscript", res.volid, err);
        if (r < 0)
                return r;
        /* Another hookscript: keep it running, chained from ours (unless it is this binary under
         * another name, which would make the hook run itself forever). */
        if (conf->hookscript && !ours && !is_self(ctx, cfg, conf->hookscript, &st)) {
                r = storagecfg_volid_path(cfg, conf->hookscript, res.chained, sizeof(res.chained), &e2);
                if (r < 0) {
                        pgr_error_set(err, "VM %lu: its hookscript %s cannot be chained: %s; remove it first "
                                      "(qm set %lu --delete hookscript) or fix it", vmid, conf->hookscript, e2.msg,
                                      vmid);
                        return -EINVAL;
                }
                snprintf(res.chained_volid, sizeof(res.chained_volid), "%s", conf->hookscript);
                snprintf(next.hookscript, sizeof(next.hookscript), "%s", res.chained);
                snprintf(next.volid, sizeof(next.volid), "%s", res.chained_volid);
        }
        /* Ours on another storage (--storage moves it): the chain recorded then stays. */
        if (!ours) {
                r = chain_load(ctx, vmid, &old, &e2);
                if (r < 0 && r != -ENOENT && r != -EINVAL) {
                        *err = e2;
                        return r;
                }
                had_old = r == 0;
        }

        r = place_snippet(ctx, s, self_path, &res, err);
        if (r < 0)
                return r;
        /* Nothing to chain: a state file left from an attach whose hookscript was since removed by
         * hand (not by detach) would chain a script this VM no longer has. */
        if (!ours) {
                r = next.hookscript[0] ? chain_save(ctx, &next, err) : chain_remove(ctx, vmid, err);
                if (r < 0)
                        return r;
        }
        r = run_qm_set(vmid, "--hookscript", res.volid, err);
        if (r < 0) {
                if (!ours)
                        (void)chain_undo(ctx, vmid, had_old ? &old : NULL);
                return r;
        }
        if (ret)
                *ret = res;
        return 0;
}

/* The chain detach gives back: the VM's attach state, else a vms.<vmid>.hookscript that 0.1's attach
 * wrote into the policy file (read as the hook reads it: policy_config_path). ret->chained "" none. */
static int detach_find_chain(const struct pgr_ctx *ctx, unsigned long vmid, const char *policy_path,
                             const struct storagecfg *cfg, struct attach_result *ret, struct pgr_error *err)
{
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct chain c;
        const char *legacy;
        int r;

        r = chain_load(ctx, vmid, &c, err);
        if (r == 0) {
                snprintf(ret->chained, sizeof(ret->chained), "%s", c.hookscript);
                snprintf(ret->chained_volid, sizeof(ret->chained_volid), "%s", c.volid);
                return 0;
        }
        if (r != -ENOENT)
                return r;
        r = policy_load(ctx, policy_path, &p, err);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        legacy = policy_vm_hookscript(p, vmid);
        if (!legacy)
                return 0;
        snprintf(ret->chained, sizeof(ret->chained), "%s", legacy);
        snprintf(ret->chained_in, sizeof(ret->chained_in), "%s", policy_source(p));
        r = storagecfg_path_volid(cfg, legacy, ctx->node, ret->chained_volid, sizeof(ret->chained_volid));
        if (r < 0) {
                pgr_error_set(err, "%s: vms.%lu.hookscript %s is not in the snippets directory of any storage, so "
                              "Proxmox cannot run it as the VM's hookscript; move it there and update the key, or "
                              "remove the key, then detach again", policy_source(p), vmid, legacy);
                return -EINVAL;
        }
        return 0;
}

int detach_vm_opts(const struct pgr_ctx *ctx, unsigned long vmid, const struct attach_options *o,
                   struct attach_result *ret, struct pgr_error *err)
{
        _cleanup_(vmconf_freep) struct vmconf *conf = NULL;
        _cleanup_(storagecfg_freep) struct storagecfg *cfg = NULL;
        _cleanup_(lock_releasep) struct pgr_lock lock = PGR_LOCK_INIT;
        struct attach_result res;
        struct pgr_error e2;
        char cur_sid[STORAGE_ID_MAX];
        int r;

        memset(&res, 0, sizeof(res));
        r = check_vmid(vmid, err);
        if (r < 0)
                return r;
        r = lock_attach(ctx, vmid, "detach", ATTACH_LOCK_TIMEOUT_MS, &lock, err);
        if (r < 0)
                return r;
        r = vmconf_load(ctx, vmid, NULL, &conf, err);
        if (r < 0)
                return r;
        if (!is_ours(conf->hookscript, cur_sid)) {
                res.already = true;
                if (ret)
                        *ret = res;
                return 0;
        }
        r = check_qm(vmid, "--delete", "hookscript", err);
        if (r < 0)
                return r;
        r = storagecfg_load(ctx, &cfg, err);
        if (r < 0)
                return r;
        snprintf(res.storage, sizeof(res.storage), "%s", cur_sid);
        snprintf(res.volid, sizeof(res.volid), "%s", conf->hookscript);
        if (storagecfg_volid_path(cfg, conf->hookscript, res.snippet, sizeof(res.snippet), &e2) < 0)
                res.snippet[0] = '\0';

        r = detach_find_chain(ctx, vmid, o->policy_path, cfg, &res, err);
        if (r < 0)
                return r;
        if (res.chained[0])
                r = run_qm_set(vmid, "--hookscript", res.chained_volid, err);
        else
                r = run_qm_set(vmid, "--delete", "hookscript", err);
        if (r < 0)
                return r;
        /* The policy file is the admin's: a 0.1 entry there stays (res.chained_in says where). */
        r = chain_remove(ctx, vmid, err);
        if (r < 0)
                return r;
        if (ret)
                *ret = res;
        return 0;
}

/* ---- copies on shared storages: refresh, and the hook's staleness check -------------------------- */

/* Every binary that links this file carries this line, so a copy is recognised, with its version,
 * without running it. sizeof(BINARY_MARKER_PREFIX) is all the search code uses, so the prefix is in
 * the binary once, followed by the version. */
#define BINARY_MARKER_PREFIX "PVE-GPU-RESET-BINARY-MARKER version="
__attribute__((used)) static const char binary_marker[] = BINARY_MARKER_PREFIX PGR_VERSION "\n";

/* Builds from before the marker: an ELF file that holds one of our journal message ids (128 random
 * bits each, in every build since the first) is one of ours, of an unknown, older version. */
static bool is_legacy_build(const char *data, size_t len)
{
        return len >= 4 && memcmp(data, "\177ELF", 4) == 0 &&
               memmem(data, len, PGR_MSGID_CHAINED_HOOK, PGR_MSGID_LEN) != NULL;
}

/* true when data is a pve-gpu-reset binary; ret_version gets its version ("" for a legacy build). */
static bool binary_identify(const char *data, size_t len, char ret_version[ATTACH_VERSION_MAX])
{
        const size_t plen = sizeof(BINARY_MARKER_PREFIX) - 1;
        const char *p = data, *end = data + len;

        ret_version[0] = '\0';
        while ((p = memmem(p, (size_t)(end - p), binary_marker, plen))) {
                const char *v = p + plen;
                size_t n = 0;

                while (v + n < end && n < ATTACH_VERSION_MAX - 1 &&
                       (isalnum((unsigned char)v[n]) || (v[n] != '\0' && strchr(".~+-:", v[n]))))
                        n++;
                if (n > 0 && v + n < end && v[n] == '\n') {
                        memcpy(ret_version, v, n);
                        ret_version[n] = '\0';
                        return true;
                }
                p = v;
        }
        return is_legacy_build(data, len);
}

/* Debian-like order for what the Makefile's VERSION holds: digit runs compare as numbers, other
 * characters by value, a shorter string first; "" (a legacy build) before every version. */
static int version_compare(const char *a, const char *b)
{
        size_t i = 0, j = 0;

        while (a[i] || b[j]) {
                if (isdigit((unsigned char)a[i]) && isdigit((unsigned char)b[j])) {
                        size_t si, sj, ni, nj;
                        int c;

                        while (a[i] == '0' && isdigit((unsigned char)a[i + 1]))
                                i++;
                        while (b[j] == '0' && isdigit((unsigned char)b[j + 1]))
                                j++;
                        for (si = i; isdigit((unsigned char)a[i]); i++)
                                ;
                        for (sj = j; isdigit((unsigned char)b[j]); j++)
                                ;
                        ni = i - si;
                        nj = j - sj;
                        if (ni != nj)
                                return ni < nj ? -1 : 1;
                        c = memcmp(a + si, b + sj, ni);
                        if (c)
                                return c < 0 ? -1 : 1;
                        continue;
                }
                if (a[i] != b[j])
                        return (unsigned char)a[i] < (unsigned char)b[j] ? -1 : 1;
                i++;
                j++;
        }
        return 0;
}

static int refresh_one(const char *full, const char *self, size_t self_len, const struct stat *self_st,
                       struct attach_refresh_item *it)
{
        _cleanup_free_ char *cur = NULL;
        size_t cur_len = 0;
        struct stat st;
        int r;

        if (lstat(full, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode)) {
                it->state = ATTACH_REFRESH_LINK; /* points at the installed binary: always current */
                return 0;
        }
        if (!S_ISREG(st.st_mode)) {
                it->state = ATTACH_REFRESH_FOREIGN;
                return 0;
        }
        if (st.st_dev == self_st->st_dev && st.st_ino == self_st->st_ino) {
                it->state = ATTACH_REFRESH_CURRENT;
                return 0;
        }
        r = read_full_file(full, SELF_MAX_SIZE, &cur, &cur_len);
        if (r == -EFBIG) {
                it->state = ATTACH_REFRESH_FOREIGN; /* larger than any build of ours */
                return 0;
        }
        if (r < 0) {
                it->state = ATTACH_REFRESH_FAILED;
                it->error = -r;
                return 0;
        }
        if (!binary_identify(cur, cur_len, it->version)) {
                it->state = ATTACH_REFRESH_FOREIGN;
                return 0;
        }
        if (cur_len == self_len && memcmp(cur, self, self_len) == 0) {
                it->state = ATTACH_REFRESH_CURRENT;
                return 0;
        }
        if (version_compare(it->version, PGR_VERSION) > 0) {
                it->state = ATTACH_REFRESH_NEWER; /* never a downgrade */
                return 0;
        }
        r = write_file_atomic(full, self, self_len, 0755);
        it->state = r < 0 ? ATTACH_REFRESH_FAILED : ATTACH_REFRESH_DONE;
        it->error = r < 0 ? -r : 0;
        return 0;
}

int attach_refresh(const struct pgr_ctx *ctx, const char *self_given, struct attach_refresh_item *ret, size_t max,
                   size_t *ret_n, struct pgr_error *err)
{
        _cleanup_(storagecfg_freep) struct storagecfg *cfg = NULL;
        _cleanup_(lock_releasep) struct pgr_lock lock = PGR_LOCK_INIT;
        _cleanup_free_ char *self = NULL;
        char self_path[PATH_MAX];
        size_t self_len = 0, n = 0;
        struct stat self_st;
        int r;

        r = self_binary(self_given, self_path, sizeof(self_path), err);
        if (r < 0)
                return r;
        if (stat(self_path, &self_st) < 0) {
                r = -errno;
                pgr_error_set(err, "%s: %s", self_path, strerror(-r));
                return r;
        }
        r = read_full_file(self_path, SELF_MAX_SIZE, &self, &self_len);
        if (r < 0) {
                pgr_error_set(err, "%s: cannot read: %s", self_path, strerror(-r));
                return r;
        }
        r = lock_attach(ctx, 0, "refresh", ATTACH_LOCK_TIMEOUT_MS, &lock, err);
        if (r < 0)
                return r;
        r = storagecfg_load(ctx, &cfg, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < cfg->n; i++) {
                const struct storage *s = &cfg->v[i];
                struct attach_refresh_item it = { .state = ATTACH_REFRESH_FAILED };
                char dir[PATH_MAX], full[PATH_MAX];
                bool seen = false;

                if (storage_snippets_dir(s, dir, sizeof(dir)) < 0 ||
                    snprintf(it.snippet, sizeof(it.snippet), "%s/%s", dir, HOOK_SNIPPET_NAME) >= (int)sizeof(it.snippet) ||
                    pgr_path(ctx, full, sizeof(full), it.snippet) < 0)
                        continue;
                for (size_t k = 0; k < n && k < max; k++)
                        seen |= streq(ret[k].snippet, it.snippet); /* two storage ids, one directory */
                if (seen)
                        continue;
                snprintf(it.volid, sizeof(it.volid), "%s:snippets/%s", s->id, HOOK_SNIPPET_NAME);
                r = refresh_one(full, self, self_len, &self_st, &it);
                if (r == -ENOENT || r == -ENOTDIR)
                        continue; /* not there, or the storage is not mounted here: nothing to refresh */
                if (r < 0)
                        it.error = -r;
                if (n < max)
                        ret[n] = it;
                n++;
        }
        *ret_n = n;
        return 0;
}

bool attach_is_pgr_binary(const char *path)
{
        _cleanup_free_ char *data = NULL;
        char version[ATTACH_VERSION_MAX];
        size_t len = 0;

        return read_full_file(path, SELF_MAX_SIZE, &data, &len) == 0 && binary_identify(data, len, version);
}

int attach_stale_copy(const struct pgr_ctx *ctx, char *ret_installed, size_t size,
                      char ret_version[ATTACH_VERSION_MAX])
{
        _cleanup_free_ char *data = NULL;
        struct stat self_st, inst_st;
        size_t len = 0;

        if (pgr_path(ctx, ret_installed, size, ATTACH_INSTALLED_PATH) < 0 || stat(ret_installed, &inst_st) < 0 ||
            stat("/proc/self/exe", &self_st) < 0)
                return 0;
        if (inst_st.st_dev == self_st.st_dev && inst_st.st_ino == self_st.st_ino)
                return 0; /* this is the installed binary (a symlinked snippet, or /usr/sbin itself) */
        if (read_full_file(ret_installed, SELF_MAX_SIZE, &data, &len) < 0 ||
            !binary_identify(data, len, ret_version))
                return 0;
        return version_compare(ret_version, PGR_VERSION) > 0;
}
