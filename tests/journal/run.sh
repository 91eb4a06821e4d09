#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Journal suite (doc/DESIGN.md §2.4, §3.8, §6): a real systemd-journald in a private mount namespace, read back
# with journalctl and with the history reader.
#
#   tests/journal/run.sh BUILDDIR        (as root; the last line is "journal: N passed, N failed")
#
# The script re-executes itself under `unshare --mount`, mounts tmpfs on /run/systemd and /run/log
# (and on /var/log/journal if the host has one, so the host's persistent journal is never written),
# and starts /lib/systemd/systemd-journald in the background: it creates its own sockets there, at the
# real /run/systemd/journal/socket, which is where sd_journal_sendv() and lib/log/journal.c look (the
# journal is deliberately not under --root). Nothing outside the namespace is touched. No systemd
# as PID 1 is needed.
#
# Each case is a function case_NAME, run in a subshell with a fresh scratch directory ($t); it
# starts a fresh journald with fresh_journald (or none with no_journald), and fails with die/expect_*.
# Add a case: write case_foo() and list it in CASES. Until the hook's main program is wired, the
# events come from tests/journal/emit.c (built here against BUILDDIR/libpgr.a); a case that runs the
# real hook would look like:
#   case_hook_post_stop() {
#           fresh_journald
#           PVE_GPU_RESET_ROOT=$fixtures/rtx3090 "$bin" 100 post-stop 2>"$t/err" || die "hook failed"
#           sync_journal
#           jexport VMID=100 >"$t/exp"
#           expect_has "$t/exp" "ACTION=reset"
#   }
set -u

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${1:-build}

if [ -z "${PGR_JOURNAL_NS:-}" ]; then
        if [ "$(id -u)" != 0 ]; then
                echo "journal: needs root (mounts tmpfs on /run/systemd and /run/log in a private mount namespace)"
                echo "journal: 0 passed, 1 failed"
                exit 1
        fi
        mkdir -p "$builddir" || exit 1
        builddir=$(cd "$builddir" && pwd)
        PGR_JOURNAL_NS=1 exec unshare --mount --propagation private /bin/sh "$0" "$builddir"
        echo "journal: cannot unshare the mount namespace"
        echo "journal: 0 passed, 1 failed"
        exit 1
fi

CASES="fields_round_trip priorities_follow_the_event errors_and_warnings_also_on_stderr
       device_names_are_data_not_formats catalog_explains_every_message_id
       mode_stderr_bypasses_journald mode_both_writes_both bad_mode_still_logs_to_stderr
       history_newest_first_with_vmid_and_device_filters history_since history_json_lines
       history_table history_shows_power_cycle_link_and_dead_card history_reads_the_system_journal_by_default history_bad_filters_exit_2
       no_journald_everything_on_stderr dead_journald_falls_back_to_stderr cli_history_matches
       hook_post_stop_journals_every_action hook_failure_goes_to_journal_and_task_log
       config_warning_is_journaled reset_command_journals_without_vmid mapping_warning_is_journaled
       verify_reports_the_hooks_resets_per_cycle"

scratch=$(mktemp -d /tmp/pgr-journal.XXXXXX) || exit 1
emit=$builddir/tests/journal-emit
bin=$builddir/pve-gpu-reset
catalog=$srcdir/conf/pve-gpu-reset.catalog
jpid=
journald=
for p in /lib/systemd/systemd-journald /usr/lib/systemd/systemd-journald; do
        [ -x "$p" ] && journald=$p && break
done

# ---- helpers (used inside cases; die/expect_* end the case) ----

die() {
        echo "$*"
        exit 1
}

# expect_has FILE LINE: FILE holds exactly this line
expect_has() {
        grep -Fxq -- "$2" "$1" && return 0
        echo "expected the line: $2"
        echo "--- $(basename "$1"):"
        cat "$1"
        exit 1
}

# expect_lacks FILE TEXT: TEXT is nowhere in FILE
expect_lacks() {
        grep -Fq -- "$2" "$1" || return 0
        echo "did not expect: $2"
        echo "--- $(basename "$1"):"
        cat "$1"
        exit 1
}

# expect_text FILE TEXT: FILE is exactly TEXT (plus a final newline)
expect_text() {
        printf '%s\n' "$2" >"$1.expected"
        diff -u "$1.expected" "$1" >"$1.diff" && return 0
        echo "--- expected vs. $(basename "$1"):"
        cat "$1.diff"
        exit 1
}

expect_empty() {
        [ -s "$1" ] || return 0
        echo "expected $(basename "$1") to be empty, got:"
        cat "$1"
        exit 1
}

expect_status() { # expect_status GOT WANT WHAT
        [ "$1" = "$2" ] || die "$3: exit status $1, expected $2"
}

# msgid NAME: the id of PGR_MSGID_NAME in lib/log/msgid.h
msgid() {
        sed -n "s/^#define PGR_MSGID_$1 *\"\([0-9a-f]\{32\}\)\".*/\1/p" "$srcdir/lib/log/msgid.h"
}

all_msgids() {
        sed -n 's/^#define PGR_MSGID_[A-Z_]* *"\([0-9a-f]\{32\}\)".*/\1/p' "$srcdir/lib/log/msgid.h"
}

mount_run() {
        mount -t tmpfs -o mode=0755 pgr-journal /run/systemd &&
                mount -t tmpfs -o mode=0755 pgr-journal /run/log
}

start_journald() {
        _tries=0
        "$journald" >>"$t/journald.log" 2>&1 &
        jpid=$!
        until [ -S /run/systemd/journal/socket ]; do
                kill -0 "$jpid" 2>/dev/null || die "systemd-journald exited: $(cat "$t/journald.log")"
                _tries=$((_tries + 1))
                [ "$_tries" -le 200 ] || die "systemd-journald did not create /run/systemd/journal/socket"
                sleep 0.05
        done
}

stop_journald() {
        if [ -n "$jpid" ]; then
                kill "$jpid" 2>/dev/null
                wait "$jpid" 2>/dev/null
                jpid=
        fi
}

# A journald with an empty journal; stopped when the case ends.
fresh_journald() {
        stop_journald
        umount /run/log /run/systemd 2>/dev/null
        mount_run || die "cannot mount tmpfs on /run/systemd, /run/log"
        start_journald
}

# No journald and no socket, as in a fixture test or the e2e guest.
no_journald() {
        stop_journald
        umount /run/log /run/systemd 2>/dev/null
        mount_run || die "cannot mount tmpfs on /run/systemd, /run/log"
}

# Everything sent so far is in the journal files.
sync_journal() {
        journalctl --sync || die "journalctl --sync failed"
}

# Our entries in export format (FIELD=value lines); extra arguments are journalctl matches.
jexport() {
        journalctl -D /run/log/journal -t pve-gpu-reset -o export --no-pager "$@"
}

jcount() {
        jexport | grep -c '^__CURSOR='
}

history() {
        PVE_GPU_RESET_JOURNAL_DIR=/run/log/journal "$emit" history "$@"
}

# The history of three VM runs and a manual reset, oldest first.
seed_history() {
        "$emit" log id=host-driver priority=5 vmid=100 phase=pre-start slot=0000:01:00.0 pci_id=10de:2204 \
                action=bind-vfio result=ok duration=52000 before=nvidia after=vfio-pci \
                "message=0000:01:00.0 was bound to nvidia, moved to vfio-pci" || die "emit failed"
        "$emit" log id=reset-done priority=5 vmid=100 phase=pre-start slot=0000:01:00.0 pci_id=10de:2204 \
                action=reset method=flr result=ok duration=123456 before=vfio-pci after=vfio-pci \
                "message=0000:01:00.0 reset with flr" || die "emit failed"
        "$emit" log id=reset-failed priority=3 vmid=100 phase=pre-start slot=0000:01:00.1 pci_id=10de:1aef \
                action=reset method=bus result=failed duration=1500000 errno=25 \
                "message=0000:01:00.1: bus reset failed: the audio function shares the bus" 2>/dev/null || die "emit failed"
        "$emit" log id=phase-failed priority=3 vmid=100 phase=pre-start action=summary result=failed duration=2100000 \
                "message=VM 100 pre-start: 1 device(s) ok, 1 failed, 0 skipped" 2>/dev/null || die "emit failed"
        "$emit" log id=skipped-safety priority=4 vmid=101 phase=post-stop slot=0000:02:00.0 pci_id=1002:73bf \
                action=skip result=skipped "message=0000:02:00.0 is reserved by VM 102" 2>/dev/null || die "emit failed"
        "$emit" log id=reset-done priority=5 phase=reset slot=0000:01:00.0 pci_id=10de:2204 action=bus-reset \
                method=reset_subordinate result=ok duration=410000 "message=0000:01:00 reset through its bridge" || die "emit failed"
        sync_journal
}

# ---- cases ----

case_fields_round_trip() {
        fresh_journald
        "$emit" log id=reset-done priority=5 vmid=100 phase=post-stop slot=0000:01:00.0 pci_id=10de:2204 \
                action=reset method=flr result=ok duration=123456 before=vfio-pci after=vfio-pci errno=0 \
                "message=0000:01:00.0 (10de:2204) reset with flr" 2>"$t/err"
        expect_status $? 0 "emit"
        expect_empty "$t/err" # a notice goes to the journal only
        "$emit" log id=reset-failed priority=3 vmid=100 phase=post-stop slot=0000:01:00.1 action=reset method=bus \
                result=failed errno=25 "message=bus reset failed" 2>/dev/null
        sync_journal
        jexport MESSAGE_ID="$(msgid RESET_DONE)" >"$t/exp"
        [ "$(grep -c '^__CURSOR=' "$t/exp")" = 1 ] || die "expected one entry, got: $(cat "$t/exp")"
        for l in SYSLOG_IDENTIFIER=pve-gpu-reset "MESSAGE=0000:01:00.0 (10de:2204) reset with flr" \
                MESSAGE_ID="$(msgid RESET_DONE)" PRIORITY=5 VMID=100 PHASE=post-stop PCI_SLOT=0000:01:00.0 \
                PCI_ID=10de:2204 ACTION=reset RESET_METHOD=flr RESULT=ok DURATION_USEC=123456 \
                DRIVER_BEFORE=vfio-pci DRIVER_AFTER=vfio-pci; do
                expect_has "$t/exp" "$l"
        done
        expect_lacks "$t/exp" "ERRNO=" # errno 0 is omitted
        jexport MESSAGE_ID="$(msgid RESET_FAILED)" >"$t/exp2"
        expect_has "$t/exp2" "ERRNO=25"
        expect_has "$t/exp2" "PRIORITY=3"
        expect_lacks "$t/exp2" "DURATION_USEC=" # not given: omitted
        expect_lacks "$t/exp2" "PCI_ID="
}

case_priorities_follow_the_event() {
        fresh_journald
        for p in 3 4 5 6; do
                "$emit" log id=power priority=$p vmid=100 slot=0000:01:00.0 action=keep-awake result=ok \
                        "message=priority $p" 2>/dev/null || die "emit failed"
        done
        sync_journal
        journalctl -D /run/log/journal -t pve-gpu-reset -p err -o cat >"$t/err"
        expect_text "$t/err" "priority 3"
        journalctl -D /run/log/journal -t pve-gpu-reset -p warning -o cat >"$t/warning"
        expect_text "$t/warning" "priority 3
priority 4"
        journalctl -D /run/log/journal -t pve-gpu-reset -p info -o cat >"$t/info"
        expect_text "$t/info" "priority 3
priority 4
priority 5
priority 6"
}

case_errors_and_warnings_also_on_stderr() {
        fresh_journald
        for p in 3 4 5 6; do
                "$emit" log id=reset-failed priority=$p vmid=100 slot=0000:01:00.0 action=reset method=flr \
                        result=failed "message=priority $p" 2>"$t/stderr.$p"
                expect_status $? 0 "emit priority $p"
        done
        expect_text "$t/stderr.3" "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr failed: priority 3"
        expect_text "$t/stderr.4" "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr failed: priority 4"
        expect_empty "$t/stderr.5"
        expect_empty "$t/stderr.6"
        sync_journal
        [ "$(jcount)" = 4 ] || die "expected 4 entries in the journal, got $(jcount)"
}

case_device_names_are_data_not_formats() {
        fresh_journald
        "$emit" log id=bound-vfio priority=5 vmid=100 slot='%s%n%x' before='%%n' \
                "message=card %n%s said $(printf 'line one\nline two')" 2>"$t/err" || die "emit failed"
        expect_empty "$t/err"
        sync_journal
        jexport >"$t/exp"
        expect_has "$t/exp" 'PCI_SLOT=%s%n%x'
        expect_has "$t/exp" 'DRIVER_BEFORE=%%n'
        journalctl -D /run/log/journal -t pve-gpu-reset -o json --no-pager >"$t/json"
        grep -Fq '"MESSAGE":"card %n%s said line one\nline two"' "$t/json" || die "MESSAGE changed: $(cat "$t/json")"
        # the stderr form stays one line
        PVE_GPU_RESET_JOURNAL=stderr "$emit" log id=bound-vfio vmid=100 slot=0000:01:00.0 \
                "message=$(printf 'line one\nline two')" 2>"$t/err2"
        expect_text "$t/err2" "pve-gpu-reset[VMID 100] 0000:01:00.0: line one line two"
}

case_catalog_explains_every_message_id() {
        root=$t/catalog-root
        mkdir -p "$root/usr/lib/systemd/catalog" || die "mkdir"
        cp "$catalog" "$root/usr/lib/systemd/catalog/" || die "no $catalog"
        journalctl --root="$root" --update-catalog 2>"$t/update.err" || die "--update-catalog failed: $(cat "$t/update.err")"
        expect_empty "$t/update.err" # journalctl warns about malformed entries here
        journalctl --root="$root" --list-catalog >"$t/list"
        n=0
        for id in $(all_msgids); do
                grep -q "^$id pve-gpu-reset: " "$t/list" || die "$id (lib/log/msgid.h) is not in --list-catalog: $(cat "$t/list")"
                n=$((n + 1))
        done
        [ "$n" -ge 15 ] || die "only $n ids found in lib/log/msgid.h"
        [ "$(wc -l <"$t/list")" = "$n" ] || die "--list-catalog has other entries than lib/log/msgid.h: $(cat "$t/list")"

        # every id the code writes is explained: log one entry per id, then compare
        fresh_journald
        for id in $(all_msgids); do
                "$emit" log id="$id" priority=6 vmid=100 phase=pre-start slot=0000:01:00.0 "message=entry $id" ||
                        die "emit $id"
        done
        sync_journal
        jexport | sed -n 's/^MESSAGE_ID=//p' | sort -u >"$t/written"
        [ "$(wc -l <"$t/written")" = "$n" ] || die "expected $n distinct MESSAGE_IDs in the journal"
        while read -r id; do
                grep -q "^$id " "$t/list" || die "MESSAGE_ID $id written but not in the catalog"
        done <"$t/written"

        # journalctl -x reads /var/lib/systemd/catalog/database (a tmpfs in this namespace)
        cp "$root/var/lib/systemd/catalog/database" /var/lib/systemd/catalog/database || die "cannot install the catalog database"
        "$emit" log id=host-driver priority=5 vmid=100 phase=pre-start slot=0000:01:00.0 pci_id=10de:2204 \
                action=bind-vfio result=ok before=nvidia after=vfio-pci "message=moved" || die "emit"
        sync_journal
        journalctl -D /run/log/journal -x -t pve-gpu-reset --no-pager MESSAGE_ID="$(msgid HOST_DRIVER)" \
                PCI_ID=10de:2204 >"$t/x"
        grep -Fq "Subject: Host driver nvidia had 0000:01:00.0, moved to vfio-pci" "$t/x" || die "no catalog text: $(cat "$t/x")"
        grep -Fq "options vfio-pci ids=10de:2204" "$t/x" || die "fields not substituted: $(cat "$t/x")"
        grep -Fq "softdep nvidia pre: vfio-pci" "$t/x" || die "fields not substituted: $(cat "$t/x")"
        grep -Fq "Defined-By: pve-gpu-reset" "$t/x" || die "no Defined-By: $(cat "$t/x")"
}

case_mode_stderr_bypasses_journald() {
        fresh_journald
        PVE_GPU_RESET_JOURNAL=stderr "$emit" log id=power priority=6 vmid=100 slot=0000:01:00.0 \
                action=keep-awake result=ok "message=stays awake" 2>"$t/err"
        expect_status $? 0 "emit"
        expect_text "$t/err" "pve-gpu-reset[VMID 100] 0000:01:00.0 keep-awake ok: stays awake"
        sync_journal
        [ "$(jcount)" = 0 ] || die "stderr mode wrote to the journal"
}

case_mode_both_writes_both() {
        fresh_journald
        PVE_GPU_RESET_JOURNAL=both "$emit" log id=power priority=6 vmid=100 slot=0000:01:00.0 \
                action=aspm-off result=ok "message=aspm off" 2>"$t/err"
        expect_status $? 0 "emit"
        expect_text "$t/err" "pve-gpu-reset[VMID 100] 0000:01:00.0 aspm-off ok: aspm off"
        sync_journal
        [ "$(jcount)" = 1 ] || die "both mode did not write to the journal"
}

case_bad_mode_still_logs_to_stderr() {
        fresh_journald
        PVE_GPU_RESET_JOURNAL=syslog "$emit" log id=power priority=6 vmid=100 action=keep-awake result=ok \
                "message=still here" 2>"$t/err"
        expect_status $? 0 "emit"
        expect_text "$t/err" "pve-gpu-reset: journal unavailable (Invalid argument); logging to stderr
pve-gpu-reset[VMID 100] keep-awake ok: still here"
}

case_history_newest_first_with_vmid_and_device_filters() {
        fresh_journald
        seed_history
        history >"$t/all" || die "history failed"
        awk 'NR > 1 && !/^    / { print $3, $4, $5, $6, $7 }' "$t/all" >"$t/all.cols"
        expect_text "$t/all.cols" "- reset 0000:01:00.0 bus-reset reset_subordinate
101 post-stop 0000:02:00.0 skip -
100 pre-start - summary -
100 pre-start 0000:01:00.1 reset bus
100 pre-start 0000:01:00.0 reset flr
100 pre-start 0000:01:00.0 bind-vfio -"
        history --vmid 100 | awk 'NR > 1 && !/^    / { print $3, $5, $6 }' >"$t/vm100"
        expect_text "$t/vm100" "100 - summary
100 0000:01:00.1 reset
100 0000:01:00.0 reset
100 0000:01:00.0 bind-vfio"
        # a slot without function: every function of the card, manual resets included
        history --device 01:00 | awk 'NR > 1 && !/^    / { print $3, $5, $6 }' >"$t/slot"
        expect_text "$t/slot" "- 0000:01:00.0 bus-reset
100 0000:01:00.1 reset
100 0000:01:00.0 reset
100 0000:01:00.0 bind-vfio"
        history --device 0000:01:00.1 | awk 'NR > 1 && !/^    / { print $5, $7 }' >"$t/fn1"
        expect_text "$t/fn1" "0000:01:00.1 bus"
        history --vmid 101 --device 01:00.0 >"$t/none"
        expect_status $? 0 "history with no match"
        expect_text "$t/none" "-- No entries --"
}

case_history_since() {
        fresh_journald
        "$emit" log id=reset-done priority=5 vmid=100 slot=0000:01:00.0 action=reset method=flr result=ok "message=A" ||
                die "emit"
        sync_journal
        t0=$(date +%s)
        # the next entry must fall in a later second than A; poll the clock (no fixed sleep)
        while [ "$(date +%s)" -le "$t0" ]; do sleep 0.05; done
        t1=$((t0 + 1))
        "$emit" log id=reset-done priority=5 vmid=100 slot=0000:01:00.0 action=reset method=flr result=ok "message=B" ||
                die "emit"
        sync_journal
        history --since "@$t1" --json | sed -n 's/.*"message":"\([^"]*\)".*/\1/p' >"$t/epoch"
        expect_text "$t/epoch" "B"
        history --since "$(date -d "@$t1" '+%Y-%m-%d %H:%M:%S')" --json | sed -n 's/.*"message":"\([^"]*\)".*/\1/p' >"$t/local"
        expect_text "$t/local" "B"
        TZ=UTC0 history --since "$(date -u -d "@$t1" '+%Y-%m-%d %H:%M:%S') UTC" --json |
                sed -n 's/.*"message":"\([^"]*\)".*/\1/p' >"$t/utc"
        expect_text "$t/utc" "B"
        history --since -1h --json | sed -n 's/.*"message":"\([^"]*\)".*/\1/p' >"$t/hour"
        expect_text "$t/hour" "B
A"
        history --since yesterday --json | sed -n 's/.*"message":"\([^"]*\)".*/\1/p' >"$t/yesterday"
        expect_text "$t/yesterday" "B
A"
        history --since 2000-01-01 --json | sed -n 's/.*"message":"\([^"]*\)".*/\1/p' >"$t/2000"
        expect_text "$t/2000" "B
A"
        history --since tomorrow >"$t/tomorrow"
        expect_text "$t/tomorrow" "-- No entries --"
}

case_history_json_lines() {
        fresh_journald
        seed_history
        history --vmid 100 --json >"$t/json" || die "history --json failed"
        # times vary; everything else is exact
        grep -c '^{"time":"[0-9-]*T[0-9:]*\.[0-9]\{6\}[+-][0-9][0-9]:[0-9][0-9]","realtime_usec":[0-9]*,' "$t/json" >"$t/n"
        expect_text "$t/n" "4"
        sed 's/^{"time":"[^"]*","realtime_usec":[0-9]*,/{/' "$t/json" >"$t/stripped"
        expect_text "$t/stripped" '{"event":"phase-failed","message_id":"'"$(msgid PHASE_FAILED)"'","priority":3,"vmid":100,"phase":"pre-start","action":"summary","result":"failed","duration_usec":2100000,"message":"VM 100 pre-start: 1 device(s) ok, 1 failed, 0 skipped"}
{"event":"reset-failed","message_id":"'"$(msgid RESET_FAILED)"'","priority":3,"vmid":100,"phase":"pre-start","slot":"0000:01:00.1","pci_id":"10de:1aef","action":"reset","method":"bus","result":"failed","duration_usec":1500000,"errno":25,"message":"0000:01:00.1: bus reset failed: the audio function shares the bus"}
{"event":"reset-done","message_id":"'"$(msgid RESET_DONE)"'","priority":5,"vmid":100,"phase":"pre-start","slot":"0000:01:00.0","pci_id":"10de:2204","action":"reset","method":"flr","result":"ok","duration_usec":123456,"driver_before":"vfio-pci","driver_after":"vfio-pci","message":"0000:01:00.0 reset with flr"}
{"event":"host-driver","message_id":"'"$(msgid HOST_DRIVER)"'","priority":5,"vmid":100,"phase":"pre-start","slot":"0000:01:00.0","pci_id":"10de:2204","action":"bind-vfio","result":"ok","duration_usec":52000,"driver_before":"nvidia","driver_after":"vfio-pci","message":"0000:01:00.0 was bound to nvidia, moved to vfio-pci"}'
        if command -v jq >/dev/null 2>&1; then
                jq -e . "$t/json" >/dev/null || die "history --json is not valid JSON: $(cat "$t/json")"
        fi
}

case_history_table() {
        fresh_journald
        seed_history
        history --vmid 100 >"$t/table" || die "history failed"
        # local times vary; the rest is exact: newest first, and under a row that did not end "ok"
        # the sentence that says why
        sed 's/^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]  /YYYY-MM-DD hh:mm:ss  /' \
                "$t/table" >"$t/rows"
        expect_text "$t/rows" "TIME                 VM         PHASE       DEVICE        ACTION         METHOD             RESULT   DURATION
YYYY-MM-DD hh:mm:ss  100        pre-start   -             summary        -                  failed   2.1s
    VM 100 pre-start: 1 device(s) ok, 1 failed, 0 skipped
YYYY-MM-DD hh:mm:ss  100        pre-start   0000:01:00.1  reset          bus                failed   1.5s
    0000:01:00.1: bus reset failed: the audio function shares the bus
YYYY-MM-DD hh:mm:ss  100        pre-start   0000:01:00.0  reset          flr                ok       123ms
YYYY-MM-DD hh:mm:ss  100        pre-start   0000:01:00.0  bind-vfio      -                  ok       52ms"
        history --vmid 101 >"$t/skip"
        sed 's/^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]  /YYYY-MM-DD hh:mm:ss  /' \
                "$t/skip" >"$t/skip.rows"
        expect_text "$t/skip.rows" "TIME                 VM         PHASE       DEVICE        ACTION         METHOD             RESULT   DURATION
YYYY-MM-DD hh:mm:ss  101        post-stop   0000:02:00.0  skip           -                  skipped  -
    0000:02:00.0 is reserved by VM 102"
}

# Issue 16: the power-cycle rung, a link that came back narrower (a warning whose step ended ok:
# its sentence is shown too) and the dead-card line, in the table and as JSON events.
case_history_shows_power_cycle_link_and_dead_card() {
        fresh_journald
        "$emit" log id=reset-done priority=5 vmid=100 phase=post-stop slot=0000:01:00.0 pci_id=10de:2b85 \
                action=power-cycle result=ok duration=2500000 before=vfio-pci after=vfio-pci \
                "message=0000:01:00.0: power-cycle done, back on vfio-pci" || die "emit failed"
        "$emit" log id=link-degraded priority=4 vmid=100 phase=post-stop slot=0000:01:00.0 pci_id=10de:2b85 \
                action=link result=ok "message=0000:01:00.0: link x8 at 32.0 GT/s after the reset, was x16 at 32.0 GT/s (max x16 at 32.0 GT/s); retrained through port 0000:00:01.0: x16 at 32.0 GT/s again" 2>/dev/null || die "emit failed"
        "$emit" log id=card-dead priority=3 vmid=101 phase=pre-start slot=0000:02:00.0 pci_id=10de:2204 \
                action=dead result=failed errno=19 "message=0000:02:00.0 (10de:2204) is dead: gone from the bus; tried remove-rescan, power-cycle; only a host power cycle helps" 2>/dev/null || die "emit failed"
        sync_journal
        history >"$t/table" || die "history failed"
        sed 's/^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]  /YYYY-MM-DD hh:mm:ss  /' \
                "$t/table" >"$t/rows"
        expect_text "$t/rows" "TIME                 VM         PHASE       DEVICE        ACTION         METHOD             RESULT   DURATION
YYYY-MM-DD hh:mm:ss  101        pre-start   0000:02:00.0  dead           -                  failed   -
    0000:02:00.0 (10de:2204) is dead: gone from the bus; tried remove-rescan, power-cycle; only a host power cycle helps
YYYY-MM-DD hh:mm:ss  100        post-stop   0000:01:00.0  link           -                  ok       -
    0000:01:00.0: link x8 at 32.0 GT/s after the reset, was x16 at 32.0 GT/s (max x16 at 32.0 GT/s); retrained through port 0000:00:01.0: x16 at 32.0 GT/s again
YYYY-MM-DD hh:mm:ss  100        post-stop   0000:01:00.0  power-cycle    -                  ok       2.5s"
        history --json >"$t/json" || die "history --json failed"
        for needle in '"event":"card-dead"' '"event":"link-degraded"' '"action":"power-cycle"'; do
                grep -Fq -- "$needle" "$t/json" || die "history --json lacks $needle: $(cat "$t/json")"
        done
}

case_history_reads_the_system_journal_by_default() {
        fresh_journald
        seed_history
        history --vmid 100 --json >"$t/dir"
        env -u PVE_GPU_RESET_JOURNAL_DIR "$emit" history --vmid 100 --json >"$t/system" || die "history failed"
        diff -u "$t/dir" "$t/system" || die "the system journal differs from -D /run/log/journal"
        [ -s "$t/system" ] || die "no entries read from the system journal"
        # --root does not move the journal: it is the host's (lib/log/history.h)
        PVE_GPU_RESET_ROOT=$t "$emit" history --vmid 100 --json >"$t/rooted" || die "history failed"
        diff -u "$t/dir" "$t/rooted" || die "the root prefix changed where the journal is read"
}

case_history_bad_filters_exit_2() {
        fresh_journald
        history --since bogus >"$t/out" 2>"$t/err"
        expect_status $? 2 "history --since bogus"
        grep -Fq "pve-gpu-reset: invalid --since 'bogus': expected" "$t/err" || die "no message: $(cat "$t/err")"
        expect_empty "$t/out"
        history --device gpu0 >"$t/out" 2>"$t/err"
        expect_status $? 2 "history --device gpu0"
        expect_text "$t/err" "pve-gpu-reset: invalid --device 'gpu0': expected a PCI address [DDDD:]BB:SS[.F]"
        PVE_GPU_RESET_JOURNAL_DIR=/nonexistent/journal "$emit" history >"$t/out" 2>"$t/err"
        expect_status $? 1 "history on a missing journal directory"
        grep -Fq "/nonexistent/journal" "$t/err" || die "message does not name the directory: $(cat "$t/err")"
}

case_no_journald_everything_on_stderr() {
        no_journald
        [ ! -e /run/systemd/journal/socket ] || die "a socket is left"
        "$emit" log id=reset-done priority=6 vmid=100 slot=0000:01:00.0 action=reset method=flr result=ok \
                duration=123000 "message=done" 2>"$t/info"
        expect_status $? 0 "emit info without journald"
        "$emit" log id=reset-failed priority=3 vmid=100 slot=0000:01:00.0 action=reset method=flr result=failed \
                errno=110 "message=timed out" 2>"$t/err"
        expect_status $? 0 "emit error without journald"
        expect_text "$t/info" "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr ok 123ms: done"
        expect_text "$t/err" "pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr failed (ETIMEDOUT): timed out"
        # asked for the journal explicitly: say once why it is not used
        PVE_GPU_RESET_JOURNAL=journal "$emit" log id=power vmid=100 action=keep-awake result=ok "message=awake" 2>"$t/j"
        expect_status $? 0 "emit in journal mode without journald"
        expect_text "$t/j" "pve-gpu-reset: no journald socket (/run/systemd/journal/socket); logging to stderr
pve-gpu-reset[VMID 100] keep-awake ok: awake"
        # no journal files anywhere: an empty history, not an error
        env -u PVE_GPU_RESET_JOURNAL_DIR "$emit" history >"$t/history" 2>&1
        expect_status $? 0 "history without any journal"
        expect_text "$t/history" "-- No entries --"
}

case_dead_journald_falls_back_to_stderr() {
        fresh_journald
        stop_journald
        [ -S /run/systemd/journal/socket ] || die "journald removed its socket; cannot test a dead journald"
        "$emit" log id=reset-done priority=6 vmid=100 slot=0000:01:00.0 action=reset method=flr result=ok \
                "message=done" 2>"$t/err"
        expect_status $? 0 "emit with a dead journald"
        expect_text "$t/err" "pve-gpu-reset: cannot write to the journal (Connection refused); logging to stderr
pve-gpu-reset[VMID 100] 0000:01:00.0 reset flr ok: done"
}

# The CLI renders the same history as the library; skipped until the binary is built.
case_cli_history_matches() {
        [ -x "$bin" ] || { echo "skip: no $bin"; exit 77; }
        fresh_journald
        seed_history
        history --device 01:00 --json >"$t/lib"
        PVE_GPU_RESET_JOURNAL_DIR=/run/log/journal "$bin" history --device 01:00 --json >"$t/cli" 2>"$t/err"
        expect_status $? 0 "pve-gpu-reset history: $(cat "$t/err")"
        diff -u "$t/lib" "$t/cli" || die "pve-gpu-reset history differs from the library"
        PVE_GPU_RESET_JOURNAL_DIR=/run/log/journal "$bin" history --since bogus >/dev/null 2>&1
        expect_status $? 2 "pve-gpu-reset history --since bogus"
}

# ---- the real hook and reset command against fixture roots ----

fixture_root() { # a fresh copy of a fixture host
        rm -rf "$t/root"
        cp -a "$builddir/fixtures/$1" "$t/root" || die "no fixture $1 (make fixtures)"
        echo "$t/root"
}

case_hook_post_stop_journals_every_action() {
        [ -x "$bin" ] || { echo "skip: no $bin"; exit 77; }
        fresh_journald
        root=$(fixture_root gpu-audio-rootport)
        "$bin" --root "$root" 100 post-stop 2>"$t/err"
        expect_status $? 0 "hook post-stop: $(cat "$t/err")"
        sync_journal
        jexport VMID=100 ACTION=bus-reset PCI_SLOT=0000:01:00.0 >"$t/exp"
        for f in SYSLOG_IDENTIFIER=pve-gpu-reset VMID=100 PHASE=post-stop PCI_SLOT=0000:01:00.0 PCI_ID=10de:0a65 \
                 ACTION=bus-reset RESET_METHOD=reset_subordinate RESULT=ok DRIVER_BEFORE=vfio-pci \
                 DRIVER_AFTER=vfio-pci PRIORITY=5 MESSAGE_ID=0bf7d0405cd643a8903089cd0e9f3091; do
                expect_has "$t/exp" "$f"
        done
        grep -q '^DURATION_USEC=[0-9][0-9]*$' "$t/exp" || die "no DURATION_USEC in the reset entry"
        jexport VMID=100 ACTION=keep-awake >"$t/exp"
        expect_has "$t/exp" "PCI_SLOT=0000:01:00.0"
        jexport VMID=100 ACTION=summary PHASE=post-stop >"$t/exp"
        expect_has "$t/exp" "RESULT=ok"
        expect_has "$t/exp" "MESSAGE_ID=0f0ab458e67e48d096adaabd1154d606"
        # every id the hook wrote is in the catalog
        for id in $(jexport VMID=100 | sed -n 's/^MESSAGE_ID=//p' | sort -u); do
                grep -q "^-- $id" "$catalog" || die "MESSAGE_ID $id is not in the catalog"
        done
        # with journald running, a successful run keeps the task log quiet
        expect_empty "$t/err"
        PVE_GPU_RESET_JOURNAL_DIR=/run/log/journal "$bin" history --vmid 100 >"$t/hist" 2>&1
        grep -q "0000:01:00.0 *bus-reset *reset_subordinate *ok" "$t/hist" || die "history misses the reset: $(cat "$t/hist")"
}

# verify (lib/reset/verify.c) with tests/cli/qm-standin as qm, which runs the real hook at pre-start and
# post-stop as Proxmox would: each cycle reports the resets the hook journaled in that cycle.
case_verify_reports_the_hooks_resets_per_cycle() {
        [ -x "$bin" ] || { echo "skip: no $bin"; exit 77; }
        fresh_journald
        root=$(fixture_root gpu-audio-rootport)
        mkdir -p "$t/bin" "$t/qm"
        ln -s "$srcdir/tests/cli/qm-standin" "$t/bin/qm"
        PATH=$t/bin:$PATH QM_STANDIN_DIR=$t/qm QM_STANDIN_HOOK=$bin QM_STANDIN_ROOT=$root \
                PVE_GPU_RESET_JOURNAL_DIR=/run/log/journal \
                timeout 120 "$bin" --root "$root" verify 100 --cycles 2 --json >"$t/json" 2>"$t/err"
        expect_status $? 0 "verify: $(cat "$t/err" "$t/json" "$t/qm/hook.log" 2>/dev/null)"
        # cycle 1: pre-start resets (no clean mark yet), post-stop resets; cycle 2: the clean mark
        # spares pre-start, post-stop resets. Each a bus reset of 01:00 through its root port, journaled
        # for each of its two functions.
        jq -r '.cycles[] | "\(.cycle) \(.journal) \([.resets[] | "\(.phase) \(.slot) \(.action) \(.method) \(.result)"] | join(", "))"' \
                "$t/json" >"$t/resets" || die "verify --json is not what jq reads: $(cat "$t/json")"
        expect_text "$t/resets" "1 null pre-start 0000:01:00.0 bus-reset reset_subordinate ok, pre-start 0000:01:00.1 bus-reset reset_subordinate ok, post-stop 0000:01:00.0 bus-reset reset_subordinate ok, post-stop 0000:01:00.1 bus-reset reset_subordinate ok
2 null post-stop 0000:01:00.0 bus-reset reset_subordinate ok, post-stop 0000:01:00.1 bus-reset reset_subordinate ok"
        jq -e 'all(.cycles[].resets[]; .duration_usec >= 0) and all(.cycles[]; .hook_journaled)' "$t/json" >/dev/null ||
                die "a reset without duration, or a cycle without the hook's summary: $(cat "$t/json")"
        PATH=$t/bin:$PATH QM_STANDIN_DIR=$t/qm QM_STANDIN_HOOK=$bin QM_STANDIN_ROOT=$root \
                PVE_GPU_RESET_JOURNAL_DIR=/run/log/journal \
                timeout 120 "$bin" --root "$root" verify 100 --cycles 1 >"$t/table" 2>"$t/err"
        expect_status $? 0 "verify table: $(cat "$t/err" "$t/table")"
        grep -Eq '^1 +pass .* 2$' "$t/table" || die "no row with post-stop's two resets: $(cat "$t/table")"
        grep -Eq '^    post-stop 0000:01:00.0 bus-reset reset_subordinate ok [0-9.]+(us|ms|s)$' "$t/table" ||
                die "no reset line with its duration: $(cat "$t/table")"
}

case_hook_failure_goes_to_journal_and_task_log() {
        [ -x "$bin" ] || { echo "skip: no $bin"; exit 77; }
        fresh_journald
        root=$(fixture_root plx-shared-bridge)
        "$bin" --root "$root" 100 post-stop 2>"$t/err"
        expect_status $? 1 "post-stop on a card with no safe reset"
        sync_journal
        jexport VMID=100 ACTION=skip >"$t/exp"
        expect_has "$t/exp" "RESULT=skipped"
        expect_has "$t/exp" "MESSAGE_ID=920894808d3a41579ab7e13e022d43c7"
        jexport VMID=100 ACTION=summary >"$t/exp"
        expect_has "$t/exp" "RESULT=failed"
        expect_has "$t/exp" "PRIORITY=3"
        grep -q "0000:04:00.0" "$t/err" || die "the task log line does not name the device: $(cat "$t/err")"
}

# qemu-server QemuServer.pm parse_vm_config drops a hostpci value it cannot parse with a warning and
# starts the VM without it: the hook goes on too (exit 0) and journals the warning with file:line.
case_config_warning_is_journaled() {
        [ -x "$bin" ] || { echo "skip: no $bin"; exit 77; }
        fresh_journald
        root=$(fixture_root gpu-audio-rootport)
        printf 'hostpci0: 01:00,foo=1\n' >"$root/etc/pve/qemu-server/120.conf"
        "$bin" --root "$root" 120 pre-start 2>"$t/err"
        expect_status $? 0 "pre-start with a hostpci line Proxmox drops"
        grep -q "120.conf:1" "$t/err" || die "stderr (the task log) does not name file:line"
        sync_journal
        jexport VMID=120 >"$t/exp"
        expect_has "$t/exp" "MESSAGE_ID=4c8edc5e256e44fb8bfdc3b0bcda2950"
        expect_has "$t/exp" "PRIORITY=4"
        expect_has "$t/exp" "PHASE=pre-start"
        grep -q "120.conf:1" "$t/exp" || die "the journal entry does not name file:line"
}

# pve-common SectionConfig.pm parse_config warns about a pci.cfg line it skips and goes on: so does
# the hook, on stderr (the task log) and in the journal, and the phase still runs.
case_mapping_warning_is_journaled() {
        [ -x "$bin" ] || { echo "skip: no $bin"; exit 77; }
        fresh_journald
        root=$(fixture_root mapping)
        cfg=$root/etc/pve/mapping/pci.cfg
        printf '\tcolor red\n' >>"$cfg"
        "$bin" --root "$root" 100 post-stop 2>"$t/err"
        expect_status $? 0 "post-stop with a skipped pci.cfg line"
        grep -q "pci.cfg:3: mapping 'nvidia-gpu': unknown property 'color'; line ignored" "$t/err" ||
                die "the warning is not on stderr: $(cat "$t/err")"
        sync_journal
        jexport VMID=100 >"$t/exp"
        expect_has "$t/exp" "MESSAGE=/etc/pve/mapping/pci.cfg:3: mapping 'nvidia-gpu': unknown property 'color'; line ignored"
        expect_has "$t/exp" "PRIORITY=4"
}

case_reset_command_journals_without_vmid() {
        [ -x "$bin" ] || { echo "skip: no $bin"; exit 77; }
        fresh_journald
        root=$(fixture_root gpu-audio-rootport)
        "$bin" --root "$root" reset 01:00.0 01:00.1 --method reset_subordinate 2>"$t/err"
        expect_status $? 0 "reset command: $(cat "$t/err")"
        sync_journal
        jexport PHASE=reset ACTION=bus-reset >"$t/exp"
        expect_has "$t/exp" "RESET_METHOD=reset_subordinate"
        expect_has "$t/exp" "PCI_SLOT=0000:01:00.0"
        expect_lacks "$t/exp" "VMID="
        PVE_GPU_RESET_JOURNAL_DIR=/run/log/journal "$bin" history --device 0000:01:00.0 --json >"$t/hist"
        grep -q '"action":"bus-reset"' "$t/hist" || die "history --device misses the reset: $(cat "$t/hist")"
}

# ---- runner ----

setup() {
        [ -n "$journald" ] || return 1
        mkdir -p /run/systemd /run/log
        mount_run || return 1
        # the host's persistent journal must never be written by our journald
        if [ -d /var/log/journal ]; then
                mount -t tmpfs -o mode=0755 pgr-journal /var/log/journal || return 1
        fi
        # journalctl -x reads the catalog database only from this path
        if [ -d /var/lib/systemd/catalog ]; then
                mount -t tmpfs -o mode=0755 pgr-journal /var/lib/systemd/catalog || return 1
        elif [ -d /var/lib/systemd ]; then
                mount -t tmpfs -o mode=0755 pgr-journal /var/lib/systemd && mkdir /var/lib/systemd/catalog || return 1
        fi
        return 0
}

build_emit() {
        cflags="-O2 -g -std=gnu11 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                -Wwrite-strings -Wvla -Wcast-qual -Werror -D_FORTIFY_SOURCE=2 -I$srcdir/lib
                $(pkg-config --cflags libpci json-c libsystemd libkmod)"
        libs=$(pkg-config --libs libpci json-c libsystemd libkmod)
        mkdir -p "$builddir/tests" || return 1
        # libpgr.a when it is up to date with lib/, else the few modules the driver needs
        if [ -f "$builddir/libpgr.a" ] && [ -z "$(find "$srcdir/lib" -name '*.[ch]' -newer "$builddir/libpgr.a")" ]; then
                # shellcheck disable=SC2086
                cc $cflags -o "$emit" "$srcdir/tests/journal/emit.c" "$builddir/libpgr.a" $libs
        else
                # shellcheck disable=SC2086
                cc $cflags -o "$emit" "$srcdir/tests/journal/emit.c" "$srcdir/lib/base/util.c" "$srcdir/lib/base/bdf.c" \
                        "$srcdir/lib/base/context.c" "$srcdir/lib/log/msgid.c" "$srcdir/lib/log/journal.c" "$srcdir/lib/log/history.c" $libs
        fi
}

passed=0 failed=0
if ! build_emit >"$scratch/build.log" 2>&1; then
        cat "$scratch/build.log"
        echo "FAIL: building tests/journal/emit.c"
        failed=1
elif ! setup; then
        echo "FAIL: cannot run systemd-journald here (${journald:-no systemd-journald binary}; mounts in a private namespace)"
        failed=1
else
        for c in $CASES; do
                t=$scratch/$c
                mkdir -p "$t"
                (
                        trap stop_journald EXIT
                        trap 'exit 130' INT TERM
                        "case_$c"
                ) >"$t/log" 2>&1
                rc=$?
                if [ $rc -eq 0 ]; then
                        passed=$((passed + 1))
                        echo "ok: $c"
                elif [ $rc -eq 77 ]; then
                        echo "skip: $c ($(tail -1 "$t/log"))"
                else
                        failed=$((failed + 1))
                        sed 's/^/    /' "$t/log"
                        echo "FAIL: $c"
                fi
        done
fi
rm -rf "$scratch"
echo "journal: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
