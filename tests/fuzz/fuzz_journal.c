/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal writer with outside strings in every field (driver names from sysfs links, messages
 * quoting config text): journal_format_line must give exactly one printable line, the journald
 * fields must be "NAME=value" with the value verbatim. Input: 12 header bytes (priority, vmid,
 * errno, duration), then NUL-separated message_id, phase, slot, pci_id, action, method, result,
 * driver_before, driver_after, message. Nothing is sent to journald (stderr mode, /dev/null). */
#include "fuzz.h"

#include <errno.h>
#include <limits.h>

#include "base/util.h"
#include "log/journal.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        devnull = fopen("/dev/null", "we");
        FUZZ_CHECK(devnull);
        return 0;
}

static void check_fields(const struct journal_event *ev)
{
        struct journal_fields jf;
        bool has_message = false;

        if (journal_fields_build(ev, &jf) < 0)
                return;
        FUZZ_CHECK(jf.n >= 2 && jf.n <= JOURNAL_MAX_FIELDS);
        for (size_t i = 0; i < jf.n; i++) {
                const char *p = jf.iov[i].iov_base, *eq = memchr(p, '=', jf.iov[i].iov_len);

                FUZZ_CHECK(eq && eq > p);
                for (const char *c = p; c < eq; c++)
                        FUZZ_CHECK((*c >= 'A' && *c <= 'Z') || *c == '_' || (*c >= '0' && *c <= '9'));
                if ((size_t)(eq - p) == 7 && memcmp(p, "MESSAGE", 7) == 0) {
                        const char *want = ev->message && ev->message[0] ? ev->message : "(no message)";

                        has_message = true;
                        FUZZ_CHECK(jf.iov[i].iov_len - 8 == strlen(want) && memcmp(eq + 1, want, strlen(want)) == 0);
                }
        }
        FUZZ_CHECK(has_message);
        journal_fields_done(&jf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_fields f;
        struct journal_event ev = {};
        struct journal *j = NULL;
        _cleanup_free_ char *line = NULL;
        uint32_t vmid, dur;
        char d[24];
        int r;

        if (size < 12)
                return 0;
        ev.priority = (int8_t)data[0];
        memcpy(&vmid, data + 1, 4);
        ev.vmid = vmid;
        ev.errno_value = (int8_t)data[5] * 3;
        memcpy(&dur, data + 6, 4);
        ev.duration_usec = data[10] & 1 ? -1 : (long long)dur * (data[11] | 1);
        fuzz_fields_split(data + 12, size - 12, 10, &f);
        ev.message_id = f.f[0];
        ev.phase = f.f[1];
        ev.slot = f.f[2];
        ev.pci_id = f.f[3];
        ev.action = f.f[4];
        ev.method = f.f[5];
        ev.result = f.f[6];
        ev.driver_before = f.f[7];
        ev.driver_after = f.f[8];
        ev.message = data[10] & 2 ? NULL : f.f[9];

        r = journal_format_line(&ev, &line);
        FUZZ_CHECK(r == 0 || r == -ENOMEM);
        if (r == 0) {
                FUZZ_CHECK(strncmp(line, JOURNAL_IDENTIFIER, strlen(JOURNAL_IDENTIFIER)) == 0);
                for (const char *c = line; *c; c++)
                        FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
        }
        check_fields(&ev);
        (void)journal_event_valid(&ev);
        journal_format_duration(ev.duration_usec, d);
        FUZZ_CHECK(memchr(d, '\0', sizeof(d)));

        FUZZ_CHECK(journal_open_mode(JOURNAL_MODE_STDERR, devnull, &j) == 0);
        r = journal_log(j, &ev);
        FUZZ_CHECK(r == 0 || r == -EINVAL);
        FUZZ_CHECK((r == 0) == journal_event_valid(&ev));
        journal_close(j);
        fuzz_fields_done(&f);
        return 0;
}
