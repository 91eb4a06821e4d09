/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log/msgid.h"

#include <string.h>

#include "base/util.h"

const struct pgr_msgid pgr_msgids[] = {
        { PGR_MSGID_RESET_DONE, "reset-done" },
        { PGR_MSGID_RESET_FAILED, "reset-failed" },
        { PGR_MSGID_DEVICE_GONE, "device-gone" },
        { PGR_MSGID_HOST_DRIVER, "host-driver" },
        { PGR_MSGID_BOUND_VFIO, "bound-vfio" },
        { PGR_MSGID_BIND_FAILED, "bind-failed" },
        { PGR_MSGID_SKIPPED_SAFETY, "skipped-safety" },
        { PGR_MSGID_SKIPPED_CONFIG, "skipped-config" },
        { PGR_MSGID_POWER, "power" },
        { PGR_MSGID_AUTOPROBE_RESTORED, "autoprobe-restored" },
        { PGR_MSGID_SETTING_RESTORED, "setting-restored" },
        { PGR_MSGID_RESET_PINNED, "reset-pinned" },
        { PGR_MSGID_RESET_UNPINNED, "reset-unpinned" },
        { PGR_MSGID_RELEASED, "released" },
        { PGR_MSGID_PHASE_OK, "phase-ok" },
        { PGR_MSGID_PHASE_FAILED, "phase-failed" },
        { PGR_MSGID_CONFIG_ERROR, "config-error" },
        { PGR_MSGID_LOCK_TIMEOUT, "lock-timeout" },
        { PGR_MSGID_CHAINED_HOOK, "chained-hook" },
        { PGR_MSGID_STATE_WRITE_FAILED, "state-write-failed" },
        { PGR_MSGID_STALE_COPY, "stale-copy" },
        { PGR_MSGID_LINK_DEGRADED, "link-degraded" },
        { PGR_MSGID_CARD_DEAD, "card-dead" },
        { PGR_MSGID_CLAIM_APPLIED, "claim-applied" },
        { PGR_MSGID_CLAIM_DROPPED, "claim-dropped" },
};

const size_t pgr_msgids_count = ELEMENTSOF(pgr_msgids);

const char *pgr_msgid_name(const char *id)
{
        if (!id)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(pgr_msgids); i++)
                if (streq(pgr_msgids[i].id, id))
                        return pgr_msgids[i].name;
        return NULL;
}

bool pgr_msgid_valid(const char *s)
{
        size_t i;

        if (!s)
                return false;
        for (i = 0; s[i]; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return i == PGR_MSGID_LEN;
}
