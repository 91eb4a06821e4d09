/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /etc/pve/mapping/pci.cfg: the grammar, its errors, and resolving a mapping against a small sysfs
 * tree the way qemu-server does at VM start. */
#define _GNU_SOURCE /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pve/mapping.h"
#include "pve/vmconf.h"
#include "reset/plan.h"
#include "reset/policy.h"
#include "testutil.h"

/* ---- helpers ---- */


static char *load_fixture(const char *name)
{
        char path[PATH_MAX];
        char *text = NULL;

        snprintf(path, sizeof(path), "%s/mapping/%s", real_fixtures(), name);
        assert_int_equal(read_full_file(path, MAPPING_MAX_SIZE, &text, NULL), 0);
        return text;
}

/* Turns a real "pvesh create /cluster/mapping/pci --id NAME [--description D] --map M ..." command
 * into the pci.cfg text Proxmox writes for it: the name line, then "\tdescription D" and one
 * "\tmap M" per --map, in order. */
static char *pvesh_to_cfg(const char *cmd)
{
        size_t cap = strlen(cmd) * 2 + 64, n = 0;
        char *out = malloc(cap);
        const char *p;

        assert_non_null(out);
        p = strstr(cmd, "--id ");
        assert_non_null(p);
        p += 5;
        while (*p == ' ')
                p++;
        while (*p && *p != ' ' && *p != '\\' && *p != '\n')
                out[n++] = *p++;
        out[n++] = '\n';
        for (p = cmd; (p = strstr(p, "--")); ) {
                const char *key = p + 2, *v;
                bool is_map = strncmp(key, "map ", 4) == 0, is_descr = strncmp(key, "description ", 12) == 0;
                char quote = 0;

                p += 2;
                if (!is_map && !is_descr)
                        continue;
                v = strchr(key, ' ') + 1;
                if (*v == '"' || *v == '\'')
                        quote = *v++;
                n += (size_t)sprintf(out + n, "\t%s ", is_map ? "map" : "description");
                while (*v && (quote ? *v != quote : (*v != ' ' && *v != '\n')))
                        out[n++] = *v++;
                out[n++] = '\n';
                p = v;
        }
        out[n] = '\0';
        return out;
}

static struct mapping_file *parse_ok(const char *text)
{
        struct pgr_error err = {};
        struct mapping_file *f = NULL;
        int r = mapping_parse(text, strlen(text), "pci.cfg", &f, &err);

        if (r < 0)
                fail_msg("unexpected error %d: %s\n--- text:\n%s", r, err.msg, text);
        assert_non_null(f);
        return f;
}

static void assert_addr(const struct pci_addr *a, const char *expect)
{
        char buf[PCI_ADDR_STRLEN];

        assert_string_equal(pci_addr_format(a, buf), expect);
}

/* ---- parsing real mappings ---- */

static void mapping_real_pci_cfg_with_tab_and_function_less_path(void **state)
{
        char *t = load_fixture("pci.cfg-rtx4000-ada-from-printf.cfg");
        struct mapping_file *f = parse_ok(t);
        const struct mapping *m;
        const struct mapping_map *mm;

        (void)state;
        assert_int_equal(f->n_mappings, 1);
        m = mapping_find(f, "nvidia-gpu");
        assert_non_null(m);
        assert_int_equal(m->line, 1);
        assert_false(m->mdev);
        assert_null(m->description);
        assert_int_equal(m->n_maps, 1);
        mm = &m->maps[0];
        assert_string_equal(mm->node, "pve");
        assert_int_equal(mm->n_paths, 1);
        assert_addr(&mm->paths[0], "0000:07:00");
        assert_int_equal(mm->paths[0].func, -1);
        assert_string_equal(mm->id, "10de:27b0");
        assert_string_equal(mm->subsystem_id, "10de:16fa");
        assert_string_equal(mm->iommugroup, "16");
        assert_int_equal(mm->line, 2);
        assert_null(mapping_find(f, "nvidia"));
        assert_null(mapping_find(f, NULL));
        mapping_file_free(f);
        free(t);
}

static void mapping_sriov_igpu_21_alternatives_on_3_nodes(void **state)
{
        char *cmd = load_fixture("pvesh-mapping-igpu-sriov-7vfs-3-nodes.sh");
        char *t = pvesh_to_cfg(cmd);
        struct mapping_file *f = parse_ok(t);
        const struct mapping *m = mapping_find(f, "igpu");

        (void)state;
        assert_non_null(m);
        assert_int_equal(m->n_maps, 21);
        for (size_t i = 0; i < 21; i++) {
                char node[8], bdf[32];

                snprintf(node, sizeof(node), "pve%zu", i / 7 + 1);
                assert_string_equal(m->maps[i].node, node);
                snprintf(bdf, sizeof(bdf), "0000:00:02.%zu", i % 7 + 1);
                assert_addr(&m->maps[i].paths[0], bdf);
                snprintf(bdf, sizeof(bdf), "%zu", 16 + i % 7);
                assert_string_equal(m->maps[i].iommugroup, bdf);
                assert_string_equal(m->maps[i].id, "8086:46a6");
                assert_string_equal(m->maps[i].subsystem_id + 5, "3024");
                assert_int_equal(m->maps[i].line, i + 2);
        }
        mapping_file_free(f);
        free(t);
        free(cmd);
}

static void mapping_pvesh_examples_with_descriptions(void **state)
{
        char *cmd, *t;
        struct mapping_file *f;
        const struct mapping *m;

        (void)state;
        cmd = load_fixture("pvesh-mapping-pci-arc-pro-b70-trimmed.txt");
        t = pvesh_to_cfg(cmd);
        f = parse_ok(t);
        m = mapping_find(f, "arc-b70");
        assert_non_null(m);
        assert_string_equal(m->description, "Intel Arc Pro B70 32GB (ASRock) - whole card, LLM VM");
        assert_addr(&m->maps[0].paths[0], "0000:53:00.0");
        assert_memory_equal(m->maps[0].subsystem_id, "1849", 4);
        assert_string_equal(m->maps[0].iommugroup, "9");
        mapping_file_free(f);
        free(t);
        free(cmd);

        cmd = load_fixture("pvesh-mapping-pci-rtx5090-path-without-function-trimmed.txt");
        t = pvesh_to_cfg(cmd);
        f = parse_ok(t);
        m = mapping_find(f, "rtx5090");
        assert_non_null(m);
        assert_string_equal(m->description, "pve-node-3 RTX 5090 43:00.0+.1");
        assert_string_equal(m->maps[0].node, "pve-node-3");
        assert_addr(&m->maps[0].paths[0], "0000:43:00");
        assert_string_equal(m->maps[0].id + 5, "2b85");
        mapping_file_free(f);
        free(t);
        free(cmd);

        cmd = load_fixture("pvesh-mapping-pci-rtx3090-two-functions-no-id-trimmed.txt");
        t = pvesh_to_cfg(cmd);
        f = parse_ok(t);
        /* $map_fmt requires id: Proxmox warns and skips both lines, the section has no map left */
        m = mapping_find(f, "rtx-3090");
        assert_non_null(m);
        assert_int_equal(m->n_maps, 0);
        assert_int_equal(f->n_warnings, 3);
        assert_string_equal(f->warnings[0], "pci.cfg:2: mapping 'rtx-3090': map without 'id'; map line ignored");
        assert_string_equal(f->warnings[2], "pci.cfg:1: mapping 'rtx-3090' has no valid map line; Proxmox ignores "
                                            "the mapping");
        mapping_file_free(f);
        free(t);
        free(cmd);
}

static void mapping_qemu_server_test_mappings_as_pci_cfg(void **state)
{
        /* run_config2command_tests.pl's $pci_map_config, written the way Proxmox writes it */
        static const char text[] =
                "someGpu\n"
                "\tmdev 1\n"
                "\tmap node=localhost,path=0000:01:00.4,id=10de:2231,iommugroup=1\n"
                "\tmap node=localhost,path=0000:01:00.5,id=10de:2231,iommugroup=1\n"
                "\tmap node=localhost,path=0000:01:00.6,id=10de:2231,iommugroup=1\n"
                "\n"
                "someNic\n"
                "\tmap node=localhost,path=0000:07:10.0,id=8086:1520,iommugroup=2\n"
                "\tmap node=localhost,path=0000:07:10.1,id=8086:1520,iommugroup=2\n"
                "\tmap node=localhost,path=0000:07:10.4,id=8086:1520,iommugroup=2\n";
        struct mapping_file *f = parse_ok(text);
        const struct mapping *gpu = mapping_find(f, "someGpu"), *nic = mapping_find(f, "someNic");

        (void)state;
        assert_int_equal(f->n_mappings, 2);
        assert_true(gpu->mdev);
        assert_false(nic->mdev);
        assert_int_equal(gpu->n_maps, 3);
        assert_int_equal(nic->n_maps, 3);
        assert_int_equal(nic->line, 7);
        assert_addr(&nic->maps[2].paths[0], "0000:07:10.4");
        mapping_file_free(f);
}

/* SectionConfig.pm parse_config on a hand-written CRLF file: '#' lines (indented or not) are skipped
 * everywhere, CR is \s so "gpu\r" is the name gpu, but "\r" lines are true and do not end the section:
 * "usb-asm4242\t\r" is an ignored line inside gpu and its map line is gpu's second alternative.
 * "mdev off" fails check_type (only 0 and 1) and is skipped. */
static void mapping_comments_spaces_crlf_and_properties(void **state)
{
        static const char text[] =
                "# written by hand\r\n"
                "gpu\r\n"
                "    # indented comment does not end the section\r\n"
                "    description RTX 3090, the whole card\r\n"
                "    live-migration-capable 0\r\n"
                "    mdev off\r\n"
                "    map id=10de:2204,node=pve1,path=0000:01:00.0;0000:01:00.1,subsystem-id=1043:87b5,"
                "iommugroup=14,description=slot 1\r\n"
                "\r\n"
                "\r\n"
                "usb-asm4242\t\r\n"
                "\tmap id=1B21:2426,node=pve1,path=0000:78:00.0,iommugroup=20\r\n";
        struct mapping_file *f = parse_ok(text);
        const struct mapping *gpu = mapping_find(f, "gpu");

        (void)state;
        assert_non_null(gpu);
        assert_null(mapping_find(f, "usb-asm4242"));
        assert_string_equal(gpu->description, "RTX 3090, the whole card");
        assert_false(gpu->live_migration_capable);
        assert_false(gpu->mdev);
        assert_int_equal(gpu->n_maps, 2);
        assert_int_equal(gpu->maps[0].n_paths, 2);
        assert_addr(&gpu->maps[0].paths[1], "0000:01:00.1");
        assert_string_equal(gpu->maps[0].description, "slot 1");
        assert_int_equal(gpu->maps[0].line, 7);
        assert_string_equal(gpu->maps[1].id, "1B21:2426");
        assert_int_equal(gpu->maps[1].line, 11);
        assert_int_equal(f->n_warnings, 4);
        assert_string_equal(f->warnings[0], "pci.cfg:6: mapping 'gpu': mdev: expected 0 or 1; line ignored");
        assert_string_equal(f->warnings[1], "pci.cfg:8: mapping 'gpu': '?' is not an indented property; line ignored");
        assert_string_equal(f->warnings[3], "pci.cfg:10: mapping 'gpu': 'usb-asm4242?" "?' is not an indented property; "
                                            "line ignored");
        mapping_file_free(f);
}

/* Everything SectionConfig.pm parse_config and JSONSchema.pm parse_property_string refuse is a
 * warning naming file:line and the mapping; the line (or the section, for a bad name) is skipped. */
static void mapping_warnings_name_file_line_and_mapping(void **state)
{
        static const struct {
                const char *text, *msg;
        } cases[] = {
                { "gpu\n\tmap node=pve,path=01:00.0,id=10de:2204\n",
                  "pci.cfg:2: mapping 'gpu': path: value does not match the regex pattern (invalid PCI ID '01:00.0': "
                  "expected dddd:bb:ss[.f], lower-case hex); map line ignored" },
                { "gpu\n\tcolor red\n", "pci.cfg:2: mapping 'gpu': unknown property 'color'; line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204,foo=1\n",
                  "pci.cfg:2: mapping 'gpu': invalid key in comma-separated list property: foo; map line ignored" },
                { "gpu\n\tmap node=pve,node=pve2,path=0000:01:00,id=10de:2204\n",
                  "pci.cfg:2: mapping 'gpu': duplicate key in comma-separated list property: node; map line ignored" },
                { "gpu\n\tmap path=0000:01:00,id=10de:2204\n",
                  "pci.cfg:2: mapping 'gpu': map without 'node'; map line ignored" },
                { "gpu\n\tmap node=pve,id=10de:2204\n", "pci.cfg:2: mapping 'gpu': map without 'path'; map line ignored" },
                { "gpu\n\tmap 0000:01:00,node=pve\n",
                  "pci.cfg:2: mapping 'gpu': value without key, but schema does not define a default key; map line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de2204\n",
                  "pci.cfg:2: mapping 'gpu': invalid id '10de2204'; map line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204,subsystem-id=0x10de:0x1\n",
                  "pci.cfg:2: mapping 'gpu': invalid subsystem-id '0x10de:0x1'; map line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204,iommugroup=1.5\n",
                  "pci.cfg:2: mapping 'gpu': invalid iommugroup '1.5'; map line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204,iommugroup=\n",
                  "pci.cfg:2: mapping 'gpu': missing key in comma-separated list property; map line ignored" },
                { "gpu\n\tmap node=-pve,path=0000:01:00,id=10de:2204\n",
                  "pci.cfg:2: mapping 'gpu': invalid node '-pve'; map line ignored" },
                { "gpu\n\tmap\n", "pci.cfg:2: mapping 'gpu': map without a value; line ignored" },
                { "1gpu\n", "pci.cfg:1: invalid mapping name '1gpu' (expected [a-z][a-z0-9_-]+); section ignored" },
                { "pci: gpu\n", "pci.cfg:1: 'pci: gpu' is not a mapping name alone on a line; line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204\nother\n",
                  "pci.cfg:3: mapping 'gpu': 'other' is not an indented property; line ignored" },
                { "\tmap node=pve,path=0000:01:00\n",
                  "pci.cfg:1: '?map node=pve,path=0000:01:00' is not a mapping name alone on a line; line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204\n\tdescription a\n\tdescription b\n",
                  "pci.cfg:4: mapping 'gpu': duplicate description; line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204\n\tmdev 1\n\tmdev 1\n",
                  "pci.cfg:4: mapping 'gpu': mdev: duplicate; line ignored" },
                { "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204\n\tmdev maybe\n",
                  "pci.cfg:3: mapping 'gpu': mdev: expected 0 or 1; line ignored" },
                { "gpu\n\tdescription x\n", "pci.cfg:1: mapping 'gpu' has no valid map line; Proxmox ignores the mapping" },
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct mapping_file *f = parse_ok(cases[i].text);

                if (f->n_warnings < 1)
                        fail_msg("no warning, expected: %s\n--- text:\n%s", cases[i].msg, cases[i].text);
                assert_string_equal(f->warnings[0], cases[i].msg);
                mapping_file_free(f);
        }
}

/* More than MAPPING_MAX_PATHS paths is valid for Proxmox: we keep the line (so the alternatives
 * stay in Proxmox's order) and refuse to touch it. */
static void mapping_path_list_limit(void **state)
{
        char text[1024] = "gpu\n\tmap node=pve,id=10de:2204,path=";

        (void)state;
        for (int i = 0; i < MAPPING_MAX_PATHS; i++)
                snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s0000:01:%02x.0", i ? ";" : "", i);
        {
                struct mapping_file *f = parse_ok(text);

                assert_int_equal(f->mappings[0].maps[0].n_paths, MAPPING_MAX_PATHS);
                assert_int_equal(f->mappings[0].maps[0].path_problem, 0);
                mapping_file_free(f);
        }
        strcat(text, ";0000:02:00.0");
        {
                struct mapping_file *f = parse_ok(text);

                assert_int_equal(f->mappings[0].maps[0].n_paths, MAPPING_MAX_PATHS);
                assert_int_equal(f->mappings[0].maps[0].path_problem, -EOPNOTSUPP);
                assert_string_equal(f->mappings[0].maps[0].path_problem_elem, "0000:02:00.0");
                mapping_file_free(f);
        }
}

/* A NUL byte is one more \S character for Perl: here it makes a map key invalid, and the line is
 * skipped like any other; only the 1 MiB limit refuses the text. */
static void mapping_nul_byte_and_size_limit(void **state)
{
        static const char text[] = "gpu\n\tmap node=pve,\0path=0000:01:00,id=10de:2204\n";
        struct pgr_error err = {};
        struct mapping_file *f = NULL;
        char *big;

        (void)state;
        assert_int_equal(mapping_parse(text, sizeof(text) - 1, "pci.cfg", &f, &err), 0);
        assert_int_equal(f->mappings[0].n_maps, 0);
        assert_string_equal(f->warnings[0], "pci.cfg:2: mapping 'gpu': invalid key in comma-separated list property: ?path; map line ignored");
        mapping_file_free(f);
        f = NULL;

        big = malloc(MAPPING_MAX_SIZE + 1);
        assert_non_null(big);
        memset(big, '#', MAPPING_MAX_SIZE + 1);
        assert_int_equal(mapping_parse(big, MAPPING_MAX_SIZE, "pci.cfg", &f, &err), 0);
        assert_int_equal(f->n_mappings, 0);
        mapping_file_free(f);
        f = NULL;
        assert_int_equal(mapping_parse(big, MAPPING_MAX_SIZE + 1, "pci.cfg", &f, &err), -EFBIG);
        assert_string_equal(err.msg, "pci.cfg: larger than 1048576 bytes (1 MiB)");
        free(big);
}

static void mapping_parse_never_reads_past_len(void **state)
{
        static const char text[] = "gpu\n\tmap node=pve,id=10de:2204,path=0000:01:00.1";
        char *exact = malloc(sizeof(text) - 1);
        struct pgr_error err = {};
        struct mapping_file *f = NULL;

        (void)state;
        assert_non_null(exact);
        memcpy(exact, text, sizeof(text) - 1);
        assert_int_equal(mapping_parse(exact, sizeof(text) - 1, "pci.cfg", &f, &err), 0);
        assert_addr(&f->mappings[0].maps[0].paths[0], "0000:01:00.1");
        mapping_file_free(f);
        f = NULL;
        /* cut before ".1": the whole slot */
        assert_int_equal(mapping_parse(exact, sizeof(text) - 3, "pci.cfg", &f, &err), 0);
        assert_addr(&f->mappings[0].maps[0].paths[0], "0000:01:00");
        mapping_file_free(f);
        free(exact);
}

/* ---- a tiny sysfs tree ---- */

struct tree {
        char dir[64];
        struct pgr_ctx ctx;
};

static void mkdirs(const char *path)
{
        char buf[PATH_MAX];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                mkdir(buf, 0755);
                *p = '/';
        }
        mkdir(buf, 0755);
}

static void put(const char *dir, const char *name, const char *value)
{
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fprintf(f, "%s\n", value);
        fclose(f);
}

/* sys/bus/pci/devices/BDF/{vendor,device,subsystem_vendor,subsystem_device} and iommu_group →
 * ../../../../kernel/iommu_groups/G; sub_vendor < 0: no subsystem files; group < 0: no IOMMU. */
static void add_dev(const struct tree *t, const char *bdf, unsigned ven, unsigned dev, int sub_ven, int sub_dev,
                    int group)
{
        char d[PATH_MAX], v[16], link[PATH_MAX + 16], target[PATH_MAX];

        snprintf(d, sizeof(d), "%s/sys/bus/pci/devices/%s", t->dir, bdf);
        mkdirs(d);
        snprintf(v, sizeof(v), "0x%04x", ven);
        put(d, "vendor", v);
        snprintf(v, sizeof(v), "0x%04x", dev);
        put(d, "device", v);
        if (sub_ven >= 0) {
                snprintf(v, sizeof(v), "0x%04x", (unsigned)sub_ven);
                put(d, "subsystem_vendor", v);
                snprintf(v, sizeof(v), "0x%04x", (unsigned)sub_dev);
                put(d, "subsystem_device", v);
        }
        if (group >= 0) {
                snprintf(target, sizeof(target), "%s/sys/kernel/iommu_groups/%d", t->dir, group);
                mkdirs(target);
                snprintf(link, sizeof(link), "%s/iommu_group", d);
                snprintf(target, sizeof(target), "../../../../kernel/iommu_groups/%d", group);
                assert_int_equal(symlink(target, link), 0);
        }
}

static int tree_setup(void **state)
{
        struct tree *t = calloc(1, sizeof(*t));

        if (!t)
                return -1;
        strcpy(t->dir, "/tmp/pgr-mapping-XXXXXX");
        if (!mkdtemp(t->dir) || pgr_ctx_init(&t->ctx, t->dir, "pve") < 0)
                return -1;
        *state = t;
        return 0;
}

static int tree_teardown(void **state)
{
        struct tree *t = *state;

        rm_rf(t->dir);
        free(t);
        return 0;
}

/* The real RTX 4000 SFF Ada mapping and its card: 07:00.0 VGA + 07:00.1 audio, group 16. */
static void add_rtx4000(const struct tree *t)
{
        add_dev(t, "0000:07:00.0", 0x10de, 0x27b0, 0x10de, 0x16fa, 16);
        add_dev(t, "0000:07:00.1", 0x10de, 0x22bc, 0x10de, 0x16fa, 16);
}

static int resolve(const struct tree *t, const char *cfg, const char *name,
                   bool (*usable)(const struct pci_addr *a, void *userdata), void *userdata,
                   struct pci_addr paths[static MAPPING_MAX_PATHS], size_t *n, struct pgr_error *err)
{
        struct mapping_file *f = parse_ok(cfg);
        int r = mapping_resolve(&t->ctx, f, name, usable, userdata, paths, n, err);

        mapping_file_free(f);
        return r;
}

static void resolve_real_mapping_whole_slot_checks_function_0(void **state)
{
        struct tree *t = *state;
        char *cfg = load_fixture("pci.cfg-rtx4000-ada-from-printf.cfg");
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_rtx4000(t);
        assert_int_equal(resolve(t, cfg, "nvidia-gpu", NULL, NULL, paths, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_addr(&paths[0], "0000:07:00"); /* as configured: the whole slot */
        free(cfg);
}

static void resolve_id_mismatch_says_hardware_changed(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_dev(t, "0000:01:00.0", 0x10de, 0x2204, 0x1043, 0x87b5, 14);
        assert_int_equal(resolve(t, "gpu\n\tmap id=10de:2206,iommugroup=14,node=pve,path=0000:01:00.0,"
                                    "subsystem-id=1043:87b5\n",
                                 "gpu", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'gpu': 0000:01:00.0 has id 10de:2204, mapping expects 10de:2206 "
                                     "(hardware probably changed)");
}

static void resolve_subsystem_and_group_mismatches(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_rtx4000(t);
        assert_int_equal(resolve(t, "g1\n\tmap id=10de:27b0,iommugroup=16,node=pve,path=0000:07:00,"
                                    "subsystem-id=10de:16fb\n",
                                 "g1", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'g1': 0000:07:00.0 has subsystem-id 10de:16fa, mapping expects "
                                     "10de:16fb (hardware probably changed)");
        assert_int_equal(resolve(t, "g1\n\tmap id=10de:27b0,iommugroup=15,node=pve,path=0000:07:00,"
                                    "subsystem-id=10de:16fa\n",
                                 "g1", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'g1': 0000:07:00.0 has iommugroup 16, mapping expects 15 (hardware "
                                     "probably changed)");
}

static void resolve_missing_properties_are_refused_like_proxmox(void **state)
{
        struct tree *t = *state;
        char *cmd = load_fixture("pvesh-mapping-pci-rtx3090-two-functions-no-id-trimmed.txt"), *cfg;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_dev(t, "0000:3c:00.0", 0x10de, 0x2204, 0x10de, 0x1454, 14);
        add_dev(t, "0000:3c:00.1", 0x10de, 0x1aef, 0x10de, 0x1454, 14);
        assert_int_equal(pgr_ctx_init(&t->ctx, t->dir, "pve12t"), 0);
        /* $map_fmt requires id: both lines are skipped (with a warning), nothing is left for the node */
        cfg = pvesh_to_cfg(cmd);
        assert_int_equal(resolve(t, cfg, "rtx-3090", NULL, NULL, paths, &n, &err), -ENOENT);
        assert_string_equal(err.msg, "PCI device mapping not found for 'rtx-3090' (no map entry for node 'pve12t')");
        free(cfg);
        free(cmd);

        /* the UHD 730 error: created without iommugroup */
        assert_int_equal(resolve(t, "gpu\n\tmap id=10de:2204,node=pve12t,path=0000:3c:00.0,subsystem-id=10de:1454\n",
                                 "gpu", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'gpu': missing expected property 'iommugroup' for device "
                                     "'0000:3c:00.0' (it is in group 14)");
        assert_int_equal(resolve(t, "gpu\n\tmap id=10de:2204,node=pve12t,path=0000:3c:00.0,iommugroup=14\n", "gpu",
                                 NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'gpu': missing expected property 'subsystem-id' for device "
                                     "'0000:3c:00.0' (it has 10de:1454)");
}

static void resolve_properties_the_device_lacks(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_dev(t, "0000:02:00.0", 0x1b21, 0x2426, -1, -1, -1); /* no subsystem ids, no IOMMU */
        assert_int_equal(resolve(t, "usb\n\tmap id=1b21:2426,node=pve,path=0000:02:00.0\n", "usb", NULL, NULL, paths,
                                 &n, &err),
                         0);
        assert_int_equal(resolve(t, "usb\n\tmap id=1b21:2426,node=pve,path=0000:02:00.0,iommugroup=3\n", "usb", NULL,
                                 NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'usb': iommugroup 3 configured, but 0000:02:00.0 has no IOMMU group");
        assert_int_equal(resolve(t, "usb\n\tmap id=1b21:2426,node=pve,path=0000:02:00.0,subsystem-id=1b21:0000\n",
                                 "usb", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'usb': subsystem-id configured, but 0000:02:00.0 has none");
}

static void resolve_device_gone_after_bus_renumbering(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 7;

        /* linuxbeast2: a new NVMe pushed the iGPU audio from 79:00.1 to 7a:00.1 */
        add_dev(t, "0000:7a:00.1", 0x1002, 0x1640, 0x1002, 0x1640, 30);
        assert_int_equal(resolve(t, "igpu-audio\n\tmap id=1002:1640,iommugroup=30,node=pve,path=0000:79:00.1,"
                                    "subsystem-id=1002:1640\n",
                                 "igpu-audio", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'igpu-audio': pci device 0000:79:00.1 not found (hardware probably "
                                     "changed)");
        assert_int_equal(n, 7); /* untouched */
}

static void resolve_unknown_mapping_or_node(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;
        char *cfg = load_fixture("pci.cfg-rtx4000-ada-from-printf.cfg");

        add_rtx4000(t);
        assert_int_equal(resolve(t, cfg, "gpu", NULL, NULL, paths, &n, &err), -ENOENT);
        assert_string_equal(err.msg, "PCI device mapping not found for 'gpu' (no such mapping in pci.cfg)");
        assert_int_equal(pgr_ctx_init(&t->ctx, t->dir, "pve2"), 0);
        assert_int_equal(resolve(t, cfg, "nvidia-gpu", NULL, NULL, paths, &n, &err), -ENOENT);
        assert_string_equal(err.msg, "PCI device mapping not found for 'nvidia-gpu' (no map entry for node 'pve2')");
        free(cfg);
}

struct busy {
        const char *taken[4];
        unsigned calls;
};

static bool not_taken(const struct pci_addr *a, void *userdata)
{
        struct busy *b = userdata;
        char buf[PCI_ADDR_STRLEN];

        b->calls++;
        pci_addr_format(a, buf);
        for (size_t i = 0; i < ELEMENTSOF(b->taken) && b->taken[i]; i++)
                if (streq(b->taken[i], buf))
                        return false;
        return true;
}

static void resolve_first_free_alternative_wins(void **state)
{
        struct tree *t = *state;
        char *cmd = load_fixture("pvesh-mapping-igpu-sriov-7vfs-3-nodes.sh"), *cfg = pvesh_to_cfg(cmd);
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        struct busy busy = { .taken = { "0000:00:02.1", "0000:00:02.2" } };
        size_t n = 0;

        for (int vf = 1; vf <= 7; vf++) {
                char bdf[32];

                snprintf(bdf, sizeof(bdf), "0000:00:02.%d", vf);
                add_dev(t, bdf, 0x8086, 0x46a6, 0x8086, 0x3024, 15 + vf);
        }
        assert_int_equal(pgr_ctx_init(&t->ctx, t->dir, "pve2"), 0);
        assert_int_equal(resolve(t, cfg, "igpu", NULL, NULL, paths, &n, &err), 0);
        assert_addr(&paths[0], "0000:00:02.1");
        assert_int_equal(resolve(t, cfg, "igpu", not_taken, &busy, paths, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_addr(&paths[0], "0000:00:02.3");
        assert_int_equal(busy.calls, 3);

        free(cfg);
        free(cmd);
}

static bool nothing_free(const struct pci_addr *a, void *userdata)
{
        (void)a;
        (*(unsigned *)userdata)++;
        return false;
}

static void resolve_all_alternatives_in_use(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        unsigned calls = 0;
        size_t n = 0;

        add_rtx4000(t);
        add_dev(t, "0000:08:00.0", 0x10de, 0x27b0, 0x10de, 0x16fa, 17);
        assert_int_equal(resolve(t, "gpu\n"
                                    "\tmap id=10de:27b0,iommugroup=16,node=pve,path=0000:07:00,subsystem-id=10de:16fa\n"
                                    "\tmap id=10de:27b0,iommugroup=17,node=pve,path=0000:08:00,subsystem-id=10de:16fa\n",
                                 "gpu", nothing_free, &calls, paths, &n, &err),
                         -EBUSY);
        assert_int_equal(calls, 2);
        assert_string_equal(err.msg, "mapping 'gpu': could not find a free device on node 'pve' (all 2 in use)");
}

static void resolve_one_changed_alternative_refuses_the_mapping(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        /* like qemu-server: every line of this node is checked before one is chosen */
        add_rtx4000(t);
        add_dev(t, "0000:08:00.0", 0x10de, 0x2204, 0x10de, 0x16fa, 17); /* a different card now */
        assert_int_equal(resolve(t, "gpu\n"
                                    "\tmap id=10de:27b0,iommugroup=16,node=pve,path=0000:07:00,subsystem-id=10de:16fa\n"
                                    "\tmap id=10de:27b0,iommugroup=17,node=pve,path=0000:08:00,subsystem-id=10de:16fa\n"
                                    "\tmap id=10de:27b0,iommugroup=17,node=other,path=0000:09:00,subsystem-id=10de:16fa\n",
                                 "gpu", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_string_equal(err.msg, "mapping 'gpu': 0000:08:00.0 has id 10de:2204, mapping expects 10de:27b0 "
                                     "(hardware probably changed)");
}

static void resolve_multi_path_line_checks_group_of_first_only(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_dev(t, "0000:01:00.0", 0x10de, 0x2204, 0x1043, 0x87b5, 14);
        add_dev(t, "0000:01:00.1", 0x10de, 0x2204, 0x1043, 0x87b5, 15);
        assert_int_equal(resolve(t, "gpu\n\tmap id=10de:2204,iommugroup=14,node=pve,path=0000:01:00.0;0000:01:00.1,"
                                    "subsystem-id=1043:87b5\n",
                                 "gpu", NULL, NULL, paths, &n, &err),
                         0);
        assert_int_equal(n, 2);
        assert_addr(&paths[1], "0000:01:00.1");
}

/* ---- Proxmox's leniency: what it only warns about must not block anything ---- */

/* The RTX 4000 mapping line of pci.cfg-rtx4000-ada-from-printf.cfg, for node pve. */
#define ADA_MAP "\tmap id=10de:27b0,iommugroup=16,node=pve,path=0000:07:00,subsystem-id=10de:16fa\n"

/* pve-common SectionConfig.pm parse_config: a value check_value() refuses (map_fmt via
 * JSONSchema.pm parse_property_string/check_object) or an unknown key is a warn()ing and that line
 * is skipped; the rest of the file still counts. Each entry below is one Proxmox accepts with a
 * warning, in sections this VM does not use and for other nodes. */
static void proxmox_skipped_lines_elsewhere_do_not_refuse_the_file(void **state)
{
        struct tree *t = *state;
        static const char cfg[] =
                "other-node\n"
                "\tmap id=10de:2204,node=pve2,path=0000:01:20.0\n" /* device 0x20: PCI_RE takes any 2 hex digits */
                "\n"
                "vmd\n"
                "\tmap id=8086:2700,node=pve,path=10000:e1:00.0,iommugroup=40\n" /* VMD domain, 5 digits */
                "\tcolor red\n" /* unknown property: "unable to parse value of 'color'" */
                "\n"
                "badmap\n"
                "\tmap node=pve,path=0000:02:00.0,id=10de2204\n" /* id pattern fails: map line skipped */
                "\tmap 0000:01:00,node=pve\n"
                "\n"
                "nvidia-gpu\n" ADA_MAP;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_rtx4000(t);
        assert_int_equal(resolve(t, cfg, "nvidia-gpu", NULL, NULL, paths, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_addr(&paths[0], "0000:07:00");
}

/* pve-guest-common Mapping/PCI.pm get_node_mapping: "warn $@ if $@" for a map line
 * parse_property_string refuses; the other lines of the mapping are still its alternatives (and
 * SectionConfig.pm parse_config already dropped it with a warning). */
static void proxmox_unparsable_map_line_is_skipped_not_fatal(void **state)
{
        struct tree *t = *state;
        static const char *const bad[] = {
                "\tmap node=pve,path=0000:08:00,foo=1\n",              /* invalid key */
                "\tmap node=pve,node=pve2,path=0000:08:00,id=10de:27b0\n", /* duplicate key */
                "\tmap node=pve,path=0000:08:00\n",                    /* id is required by $map_fmt */
                "\tmap node=pve.lan,path=0000:08:00,id=10de:27b0\n",   /* pve-node: no dots */
                "\tmap node=pve,path=0000:08:00,id=10de:27b0,iommugroup=x\n",
                "\tmap node=pve,path=0000:08:00.0 ,id=10de:27b0\n",    /* pattern is anchored, no spaces */
                "\tmap node=pve,path=0000:08:00.A,id=10de:27b0\n",     /* PCI_RE is lower case */
                "\tmap\n",                                             /* "got undefined value" */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char cfg[512];
                struct pci_addr paths[MAPPING_MAX_PATHS];
                struct pgr_error err = {};
                size_t n = 0;

                if (i == 0)
                        add_rtx4000(t);
                snprintf(cfg, sizeof(cfg), "gpu\n%s" ADA_MAP, bad[i]);
                assert_int_equal(resolve(t, cfg, "gpu", NULL, NULL, paths, &n, &err), 0);
                assert_addr(&paths[0], "0000:07:00");
        }
}

/* SectionConfig.pm parse_config: lines come from split(/\n/), so a CRLF file keeps "\r" on every
 * line; only a false line ("" or "0") ends a section ("while ($line = $nextline->())"), and "\r" or
 * "   " is true. The next name line is then an ignored line inside the section, and its map lines
 * belong to the section before it. */
static void proxmox_crlf_or_whitespace_line_does_not_end_a_section(void **state)
{
        static const char *const cfgs[] = {
                "gpu\r\n\tmap id=10de:27b0,node=pve,path=0000:07:00\r\n\r\nnic\r\n"
                "\tmap id=8086:1520,node=pve,path=0000:08:00.0\r\n",
                "gpu\n\tmap id=10de:27b0,node=pve,path=0000:07:00\n   \nnic\n\tmap id=8086:1520,node=pve,path=0000:08:00.0\n",
                "gpu\n\tmap id=10de:27b0,node=pve,path=0000:07:00\n\t\nnic\n\tmap id=8086:1520,node=pve,path=0000:08:00.0\n",
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cfgs); i++) {
                struct mapping_file *f = parse_ok(cfgs[i]);
                const struct mapping *gpu = mapping_find(f, "gpu");

                assert_non_null(gpu);
                assert_null(mapping_find(f, "nic"));
                assert_int_equal(gpu->n_maps, 2);
                assert_addr(&gpu->maps[1].paths[0], "0000:08:00.0");
                mapping_file_free(f);
        }
}

/* SectionConfig.pm parse_config: an empty line ends the section, and so does a line "0" (false in
 * Perl); a name line that is not a pve-configid skips its whole section ("skip section"); a line
 * that is no name alone ("pci: gpu") is ignored by itself. */
static void proxmox_sections_end_skip_and_ignore(void **state)
{
        static const char text[] =
                "1gpu\n"
                "\tmap id=10de:27b0,node=pve,path=0000:01:00\n"
                "nic\n" /* still inside the skipped section */
                "\n"
                "pci: usb\n"
                "\tmap id=1b21:2426,node=pve,path=0000:02:00\n"
                "gpu\n"
                "\tmap id=10de:27b0,node=pve,path=0000:07:00\n"
                "0\n"
                "nvme\n"
                "\tmap id=144d:a808,node=pve,path=0000:03:00.0\n";
        struct mapping_file *f = parse_ok(text);

        (void)state;
        assert_null(mapping_find(f, "1gpu"));
        assert_null(mapping_find(f, "nic"));
        assert_null(mapping_find(f, "usb"));
        assert_int_equal(mapping_find(f, "gpu")->n_maps, 1);
        assert_int_equal(mapping_find(f, "nvme")->n_maps, 1);
        mapping_file_free(f);
}

/* SectionConfig.pm parse_config: "$ids->{$sectionId} = $config" — a second section of the same name
 * replaces the first; one without any valid map fails check_config ("missing value for required
 * option 'map'") and is stored as undef, so get_node_mapping finds nothing. */
static void proxmox_later_section_wins_and_mapless_section_is_not_found(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_rtx4000(t);
        add_dev(t, "0000:08:00.0", 0x10de, 0x27b0, 0x10de, 0x16fa, 17);
        assert_int_equal(resolve(t, "gpu\n" ADA_MAP "\ngpu\n"
                                    "\tmap id=10de:27b0,iommugroup=17,node=pve,path=0000:08:00.0,subsystem-id=10de:16fa\n",
                                 "gpu", NULL, NULL, paths, &n, &err),
                         0);
        assert_addr(&paths[0], "0000:08:00.0");
        assert_int_equal(resolve(t, "gpu\n" ADA_MAP "\ngpu\n\tdescription gone\n", "gpu", NULL, NULL, paths, &n, &err),
                         -ENOENT);
}

/* SectionConfig.pm check_value: a boolean without a value is 1; JSONSchema.pm check_type takes only
 * '0' and '1' ("on" is refused and the line skipped); a second value is a "duplicate attribute". */
static void proxmox_boolean_properties(void **state)
{
        struct mapping_file *f;

        (void)state;
        f = parse_ok("ma\n\tmdev\n\tmap id=10de:27b0,node=pve,path=0000:07:00\n\n"
                     "mb\n\tmdev on\n\tmap id=10de:27b0,node=pve,path=0000:07:00\n\n"
                     "mc\n\tmdev 1\n\tmdev 0\n\tlive-migration-capable yes\n\tmap id=10de:27b0,node=pve,path=0000:07:00\n");
        assert_true(mapping_find(f, "ma")->mdev);
        assert_false(mapping_find(f, "mb")->mdev);
        assert_true(mapping_find(f, "mc")->mdev);
        assert_false(mapping_find(f, "mc")->live_migration_capable);
        mapping_file_free(f);
}

/* Mapping/PCI.pm assert_valid compares strings: "$vendor:$device" from sysfs with 0x stripped
 * (lower case) against the configured id as written, and int(iommu group) against iommugroup as
 * written. "10DE:27B0" or iommugroup=016 pass $map_fmt but do not match: Proxmox refuses the start. */
static void proxmox_assert_valid_compares_text(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_rtx4000(t);
        assert_int_equal(resolve(t, "gpu\n\tmap id=10DE:27B0,iommugroup=16,node=pve,path=0000:07:00,"
                                    "subsystem-id=10de:16fa\n",
                                 "gpu", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_int_equal(resolve(t, "gpu\n\tmap id=10de:27b0,iommugroup=016,node=pve,path=0000:07:00,"
                                    "subsystem-id=10de:16fa\n",
                                 "gpu", NULL, NULL, paths, &n, &err),
                         -ENODEV);
        assert_int_equal(resolve(t, "gpu\n\tmap id=10de:27b0,iommugroup=16,node=pve,path=0000:07:00,"
                                    "subsystem-id=10DE:16FA\n",
                                 "gpu", NULL, NULL, paths, &n, &err),
                         -ENODEV);
}

/* Mapping/PCI.pm assert_valid, called with the section by qemu-server PCI.pm parse_hostpci:
 * "mdev" is expected to be 1 exactly when the device has mdev_supported_types (or nvidia/). */
static void proxmox_assert_valid_checks_mdev(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        char d[PATH_MAX];
        size_t n = 0;

        add_rtx4000(t);
        assert_int_equal(resolve(t, "gpu\n\tmdev 1\n" ADA_MAP, "gpu", NULL, NULL, paths, &n, &err), -ENODEV);
        snprintf(d, sizeof(d), "%s/sys/bus/pci/devices/0000:07:00.0/mdev_supported_types", t->dir);
        mkdirs(d);
        assert_int_equal(resolve(t, "gpu\n" ADA_MAP, "gpu", NULL, NULL, paths, &n, &err), -ENODEV);
        assert_int_equal(resolve(t, "gpu\n\tmdev 1\n" ADA_MAP, "gpu", NULL, NULL, paths, &n, &err), 0);
}

/* A path Proxmox's pattern accepts but Linux never names (device 0x20, function 8, a domain with a
 * leading zero): pci_device_info finds nothing, assert_valid dies "pci device ... not found". */
static void proxmox_path_linux_cannot_have_is_not_found(void **state)
{
        struct tree *t = *state;
        /* "0000:07:00x0": $PCI_RE is built in a double-quoted string, its "\." is any character */
        static const char *const paths_cfg[] = { "0000:07:20.0", "0000:07:00.8", "00000:07:00.0", "0000:07:00x0" };

        add_rtx4000(t);
        for (size_t i = 0; i < ELEMENTSOF(paths_cfg); i++) {
                char cfg[256];
                struct pci_addr paths[MAPPING_MAX_PATHS];
                struct pgr_error err = {};
                size_t n = 0;

                snprintf(cfg, sizeof(cfg), "gpu\n" ADA_MAP "\tmap id=10de:27b0,iommugroup=16,node=pve,path=%s,"
                                           "subsystem-id=10de:16fa\n", paths_cfg[i]);
                assert_int_equal(resolve(t, cfg, "gpu", NULL, NULL, paths, &n, &err), -ENODEV);
        }
}

/* pve-guest-common Mapping/PCI.pm $PCI_RE takes a domain of 4 or more hex digits: 10000:e1:00.0 (an
 * Intel VMD domain) is a real Linux name, read with the same ID parser as hostpciN
 * (vmconf_proxmox_pci_ids_parse) and checked against sysfs like any other path. */
static void mapping_vmd_domain_path_is_a_device_like_any_other(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        size_t n = 0;

        add_dev(t, "10000:e1:00.0", 0x10de, 0x27b0, 0x10de, 0x16fa, 40);
        assert_int_equal(resolve(t, "gpu\n\tmap id=10de:27b0,iommugroup=40,node=pve,path=10000:e1:00.0,"
                                    "subsystem-id=10de:16fa\n", "gpu", NULL, NULL, paths, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_addr(&paths[0], "10000:e1:00.0");
        assert_int_equal(resolve(t, "gpu\n\tmap id=10de:27b0,node=pve,path=10000:e2:00.0\n", "gpu", NULL, NULL,
                                 paths, &n, &err), -ENODEV);
}

/* Mapping/PCI.pm $map_fmt: 'id' is ^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$ (any case), so an upper-case id is
 * read; assert_valid then compares it as text with pci_device_info's lower-case "10de:27b0" and dies
 * "'id' does not match": the start is refused, so we refuse too (a plan problem). 'path' is $PCI_RE,
 * lower-case only: an upper-case path is a map line parse_property_string refuses (warned, skipped),
 * with more than 16 paths still left alone. */
static void proxmox_upper_case_id_refuses_upper_case_path_is_skipped(void **state)
{
        struct tree *t = *state;
        struct pci_addr paths[MAPPING_MAX_PATHS];
        struct pgr_error err = {};
        struct mapping_file *f;
        size_t n = 0;

        add_rtx4000(t);
        assert_int_equal(resolve(t, "gpu\n\tmap id=10DE:27B0,iommugroup=16,node=pve,path=0000:07:00,"
                                    "subsystem-id=10de:16fa\n", "gpu", NULL, NULL, paths, &n, &err), -ENODEV);
        assert_non_null(strstr(err.msg, "has id 10de:27b0, mapping expects 10DE:27B0"));

        f = parse_ok("gpu\n\tmap id=10de:27b0,iommugroup=16,node=pve,path=0000:07:0A.0\n" ADA_MAP);
        assert_int_equal(f->mappings[0].n_maps, 1);
        assert_int_equal(f->n_warnings, 1);
        assert_non_null(strstr(f->warnings[0], "0000:07:0A.0"));
        mapping_file_free(f);
}

/* qemu-server PCI.pm choose_hostpci_devices: each hostpci line takes the first alternative none of
 * whose functions an earlier line of this VM took ($used), so two lines with the same mapping get two
 * devices, and both are this VM's to prepare. */
static void plan_two_hostpci_lines_with_one_mapping_get_two_devices(void **state)
{
        struct tree *t = *state;
        struct policy *policy = NULL;
        struct vmconf *conf = NULL;
        struct mapping_file *maps = NULL;
        struct pcidev_access *acc = NULL;
        struct plan *p = NULL;
        struct pgr_error err = {};
        struct plan_input in;
        char d[PATH_MAX];

        add_dev(t, "0000:07:00.0", 0x10de, 0x27b0, 0x10de, 0x16fa, 16);
        add_dev(t, "0000:08:00.0", 0x10de, 0x27b0, 0x10de, 0x16fa, 17);
        snprintf(d, sizeof(d), "%s/etc/pve/mapping", t->dir);
        mkdirs(d);
        put(d, "pci.cfg", "gpus\n"
                          "\tmap id=10de:27b0,iommugroup=16,node=pve,path=0000:07:00.0,subsystem-id=10de:16fa\n"
                          "\tmap id=10de:27b0,iommugroup=17,node=pve,path=0000:08:00.0,subsystem-id=10de:16fa\n");
        snprintf(d, sizeof(d), "%s/etc/pve/qemu-server", t->dir);
        mkdirs(d);
        put(d, "102.conf", "hostpci0: mapping=gpus\nhostpci1: mapping=gpus\nmemory: 1024");

        assert_int_equal(policy_new_default(&policy), 0);
        assert_int_equal(vmconf_load(&t->ctx, 102, NULL, &conf, &err), 0);
        assert_int_equal(mapping_load(&t->ctx, &maps, &err), 0);
        assert_int_equal(pcidev_access_new(&t->ctx, &acc), 0);
        in = (struct plan_input){ .ctx = &t->ctx, .acc = acc, .conf = conf, .mappings = maps, .policy = policy,
                                  .phase = PHASE_POST_STOP, .vmid = 102, .now = 1700000000 };
        assert_int_equal(plan_build(&in, &p, &err), 0);
        for (size_t i = 0; i < p->n_problems; i++)
                print_message("problem: %s\n", p->problems[i].message);
        assert_int_equal(p->n_devices, 2);
        assert_string_equal(p->devices[0].dev.bdf, "0000:07:00.0");
        assert_string_equal(p->devices[0].hostpci, "hostpci0");
        assert_string_equal(p->devices[1].dev.bdf, "0000:08:00.0");
        assert_string_equal(p->devices[1].hostpci, "hostpci1");
        plan_free(p);
        pcidev_access_free(acc);
        mapping_file_free(maps);
        vmconf_free(conf);
        policy_free(policy);
}

/* qemu-server PCI.pm choose_hostpci_devices skips mdev lines ("mdev devices must be chosen later")
 * and vm_start reserves nothing for them ("we don't reserve for mdev devices"): a vGPU parent that
 * another VM's reservation names is no reason for a plan error that could abort this start. */
static void plan_mdev_line_does_not_choose_by_reservation(void **state)
{
        struct tree *t = *state;
        struct policy *policy = NULL;
        struct vmconf *conf = NULL;
        struct mapping_file *maps = NULL;
        struct pcidev_access *acc = NULL;
        struct plan *p = NULL;
        struct pgr_error err = {};
        struct plan_input in;
        char d[PATH_MAX];

        add_dev(t, "0000:07:00.0", 0x10de, 0x27b0, 0x10de, 0x16fa, 16);
        snprintf(d, sizeof(d), "%s/sys/bus/pci/devices/0000:07:00.0/mdev_supported_types", t->dir);
        mkdirs(d);
        snprintf(d, sizeof(d), "%s/run/qemu-server", t->dir);
        mkdirs(d);
        put(d, "pci-id-reservations", "0000:07:00.0 200 time:1800000000");
        snprintf(d, sizeof(d), "%s/etc/pve/mapping", t->dir);
        mkdirs(d);
        put(d, "pci.cfg", "vgpu\n\tmdev 1\n" ADA_MAP);
        snprintf(d, sizeof(d), "%s/etc/pve/qemu-server", t->dir);
        mkdirs(d);
        put(d, "102.conf", "hostpci0: mapping=vgpu,mdev=nvidia-35\nmemory: 1024");

        assert_int_equal(policy_new_default(&policy), 0);
        assert_int_equal(vmconf_load(&t->ctx, 102, NULL, &conf, &err), 0);
        assert_int_equal(mapping_load(&t->ctx, &maps, &err), 0);
        assert_int_equal(pcidev_access_new(&t->ctx, &acc), 0);
        in = (struct plan_input){ .ctx = &t->ctx, .acc = acc, .conf = conf, .mappings = maps, .policy = policy,
                                  .phase = PHASE_PRE_START, .vmid = 102, .now = 1700000000 };
        assert_int_equal(plan_build(&in, &p, &err), 0);
        for (size_t i = 0; i < p->n_problems; i++) {
                print_message("problem: %s\n", p->problems[i].message);
                assert_null(strstr(p->problems[i].message, "free device"));
        }
        assert_int_equal(p->n_devices, 1);
        assert_int_equal(p->devices[0].actions[0].kind, ACTION_SKIP);
        plan_free(p);
        pcidev_access_free(acc);
        mapping_file_free(maps);
        vmconf_free(conf);
        policy_free(policy);
}

/* ---- loading ---- */

static void mapping_load_missing_file_is_an_empty_set(void **state)
{
        struct tree *t = *state;
        struct mapping_file *f = NULL;
        struct pgr_error err = {};

        assert_int_equal(mapping_load(&t->ctx, &f, &err), 0);
        assert_non_null(f);
        assert_int_equal(f->n_mappings, 0);
        assert_string_equal(f->path, "/etc/pve/mapping/pci.cfg");
        assert_null(mapping_find(f, "gpu"));
        mapping_file_free(f);
}

static void mapping_load_reads_pci_cfg_under_the_root(void **state)
{
        struct tree *t = *state;
        struct mapping_file *f = NULL;
        struct pgr_error err = {};
        char d[PATH_MAX];

        snprintf(d, sizeof(d), "%s/etc/pve/mapping", t->dir);
        mkdirs(d);
        put(d, "pci.cfg", "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204\n\nbad name\n");
        assert_int_equal(mapping_load(&t->ctx, &f, &err), 0);
        assert_non_null(mapping_find(f, "gpu"));
        assert_int_equal(f->n_warnings, 1);
        assert_string_equal(f->warnings[0], "/etc/pve/mapping/pci.cfg:4: 'bad name' is not a mapping name alone on a "
                                            "line; line ignored");
        mapping_file_free(f);
        put(d, "pci.cfg", "gpu\n\tmap node=pve,path=0000:01:00,id=10de:2204");
        assert_int_equal(mapping_load(&t->ctx, &f, &err), 0);
        assert_string_equal(f->path, "/etc/pve/mapping/pci.cfg");
        assert_non_null(mapping_find(f, "gpu"));
        mapping_file_free(f);
}

#define TREE_TEST(fn) cmocka_unit_test_setup_teardown(fn, tree_setup, tree_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(mapping_real_pci_cfg_with_tab_and_function_less_path),
                cmocka_unit_test(mapping_sriov_igpu_21_alternatives_on_3_nodes),
                cmocka_unit_test(mapping_pvesh_examples_with_descriptions),
                cmocka_unit_test(mapping_qemu_server_test_mappings_as_pci_cfg),
                cmocka_unit_test(mapping_comments_spaces_crlf_and_properties),
                cmocka_unit_test(mapping_warnings_name_file_line_and_mapping),
                cmocka_unit_test(mapping_path_list_limit),
                cmocka_unit_test(mapping_nul_byte_and_size_limit),
                cmocka_unit_test(mapping_parse_never_reads_past_len),
                TREE_TEST(resolve_real_mapping_whole_slot_checks_function_0),
                TREE_TEST(resolve_id_mismatch_says_hardware_changed),
                TREE_TEST(resolve_subsystem_and_group_mismatches),
                TREE_TEST(resolve_missing_properties_are_refused_like_proxmox),
                TREE_TEST(resolve_properties_the_device_lacks),
                TREE_TEST(resolve_device_gone_after_bus_renumbering),
                TREE_TEST(resolve_unknown_mapping_or_node),
                TREE_TEST(resolve_first_free_alternative_wins),
                TREE_TEST(resolve_all_alternatives_in_use),
                TREE_TEST(resolve_one_changed_alternative_refuses_the_mapping),
                TREE_TEST(resolve_multi_path_line_checks_group_of_first_only),
                TREE_TEST(proxmox_skipped_lines_elsewhere_do_not_refuse_the_file),
                TREE_TEST(proxmox_unparsable_map_line_is_skipped_not_fatal),
                cmocka_unit_test(proxmox_crlf_or_whitespace_line_does_not_end_a_section),
                cmocka_unit_test(proxmox_sections_end_skip_and_ignore),
                TREE_TEST(proxmox_later_section_wins_and_mapless_section_is_not_found),
                cmocka_unit_test(proxmox_boolean_properties),
                TREE_TEST(proxmox_assert_valid_compares_text),
                TREE_TEST(proxmox_assert_valid_checks_mdev),
                TREE_TEST(proxmox_path_linux_cannot_have_is_not_found),
                TREE_TEST(mapping_vmd_domain_path_is_a_device_like_any_other),
                TREE_TEST(proxmox_upper_case_id_refuses_upper_case_path_is_skipped),
                TREE_TEST(plan_two_hostpci_lines_with_one_mapping_get_two_devices),
                TREE_TEST(plan_mdev_line_does_not_choose_by_reservation),
                TREE_TEST(mapping_load_missing_file_is_an_empty_set),
                TREE_TEST(mapping_load_reads_pci_cfg_under_the_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
